"""The timers that keep a connection alive: WebSocket pings and Heartbeats, in one task.

A WebSocket ping every ``WebSocketPingInterval`` seconds tells a dead connection from a quiet one: no pong
within the pong timeout closes the link. A Heartbeat after ``HeartbeatInterval`` seconds without a message of
ours (spec 4.6) tells the Central System that the charge point lives, and brings back its time; Heartbeats
begin once the charge point is registered and has reported its statuses. Both timers are idle nearly all the
time, and a charge point keeps a connection for hours: a task parked for each costs memory at thousands of
charge points per process, and a task started for each round costs idle CPU. So one task sleeps until the
earlier of the two is due and does it itself; it sleeps on an :class:`~actors.alarm.Alarm`, so that the
sleeps of thousands of charge points end with a few wakes of one task rather than a cancellation each.

When both are due, the Heartbeat goes right behind the ping, without waiting for the pong, in one write with
it: the pong and the Heartbeat's answer come back together, one wake and one round trip for both. (Unless
another CALL of ours is under way, when the Heartbeat would have to wait its turn: then the ping goes alone.)
A pong that does not come within the pong timeout cuts the Heartbeat short and closes the link, as a ping
alone would. The ping interval then starts again at the Heartbeat, and when Heartbeats begin it starts again
at our last message, so that with equal intervals (60 s each by default) both stay due together: one wake a
minute instead of two.

Done by one task, each waits for the other: a ping that falls due while a Heartbeat waits for its answer goes
once the answer is in, and a Heartbeat that falls due while a ping alone waits for its pong goes once the pong
is in. A configuration change starts the ping interval again and has both look at their intervals again.
"""

import math
from collections.abc import Awaitable, Callable

import trio

from actors.alarm import Alarm
from actors.configuration import Configuration
from actors.connection import Connection
from actors.link import Link

__all__ = ["KeepAlive"]


class KeepAlive:
    """Pings and Heartbeats for one connection; :meth:`run` is the task that sends them."""

    __slots__ = (
        "_alarm",
        "_configuration",
        "_connection",
        "_heartbeat",
        "_heartbeat_interval",
        "_heartbeats",
        "_link",
        "_ping_from",
        "_ping_interval",
        "_pong_timeout",
    )

    def __init__(
        self,
        link: Link,
        connection: Connection,
        configuration: Configuration,
        *,
        pong_timeout: float,
        heartbeat: Callable[[], Awaitable[None]],
    ) -> None:
        """``heartbeat`` sends one Heartbeat on ``link`` and takes in its answer."""
        self._link = link
        self._connection = connection
        self._configuration = configuration
        self._pong_timeout = pong_timeout
        self._heartbeat = heartbeat
        self._heartbeats = False
        self._ping_from = trio.current_time()
        """When the ping interval began: at the connection, the last pong (or its timeout), the Heartbeat sent
        with the last ping, the start of the Heartbeats, a configuration change."""
        self._ping_interval = 0
        self._heartbeat_interval = 0
        self._read_intervals()
        self._alarm = Alarm()

    def start_heartbeats(self) -> None:
        """The charge point is registered and has reported its statuses: Heartbeats from now on."""
        self._heartbeats = True
        self._ping_from = max(self._ping_from, self._link.last_sent)
        self._wake()

    def configuration_changed(self) -> None:
        """The configuration changed: the ping interval starts again, and both intervals are read again."""
        self._ping_from = trio.current_time()
        self._read_intervals()
        self._wake()

    async def run(self) -> None:
        """Ping and send Heartbeats, whichever is due, until cancelled with the connection."""
        while True:
            await self._sleep_until(min(self._ping_at(), self._heartbeat_at()))
            now = trio.current_time()
            if now >= self._ping_at():
                # the ping goes out with the Heartbeat's CALL: only if that is sent at once
                await self._ping(with_heartbeat=now >= self._heartbeat_at() and not self._link.busy)
            elif now >= self._heartbeat_at():
                await self._heartbeat()

    def _read_intervals(self) -> None:
        self._ping_interval = self._configuration.integer("WebSocketPingInterval")
        self._heartbeat_interval = self._configuration.integer("HeartbeatInterval")

    def _ping_at(self) -> float:
        interval = self._ping_interval
        return self._ping_from + interval if interval > 0 else math.inf

    def _heartbeat_at(self) -> float:
        interval = self._heartbeat_interval
        return self._link.last_sent + interval if self._heartbeats and interval > 0 else math.inf

    async def _ping(self, *, with_heartbeat: bool) -> None:
        """The ping, and the Heartbeat right behind it if that is due too (its answer and the pong come back
        together); then the ping interval starts again: at the Heartbeat, so that with equal intervals both
        stay due together, else at the pong."""
        heartbeat = self._heartbeat if with_heartbeat else None
        if not await self._connection.ping(pong_timeout=self._pong_timeout, meanwhile=heartbeat):
            await self._link.close(f"no pong within {self._pong_timeout:g} s")
        self._ping_from = self._link.last_sent if with_heartbeat else trio.current_time()

    async def _sleep_until(self, deadline: float) -> None:
        """Sleep until ``deadline`` (trio time, up to an alarm's tick later) or a wake, whichever is first."""
        if deadline <= trio.current_time():
            return  # due already (the Heartbeat right after a ping alone): no timer; both wait for I/O
        await self._alarm.sleep_until(deadline)

    def _wake(self) -> None:
        """Have :meth:`run` look again at what is due (if it sleeps; otherwise it looks once it is done)."""
        self._alarm.ring()
