"""KeepAlive: WebSocket pings and Heartbeats of one connection, both from one task, in virtual time."""

import math
from collections.abc import Awaitable, Callable

import attrs
import trio
import trio.testing

from actors.charge_point import configuration_keys
from actors.configuration import Configuration
from actors.keep_alive import KeepAlive


@attrs.define
class FakeLink:
    """What the keep-alive uses of a Link: when we last sent, and closing (which ends the connection)."""

    scope: trio.CancelScope
    last_sent: float = 0.0
    closed: str | None = None
    busy: bool = False

    async def close(self, reason: str) -> None:
        await trio.lowlevel.checkpoint()
        self.closed = reason
        self.scope.cancel()


@attrs.define
class FakeConnection:
    """Pongs come back after ``pong_delay`` seconds (never if infinite); what runs meanwhile is cut short at
    the pong timeout unless the pong comes in time."""

    pong_delay: float = 1.0
    pings: list[float] = attrs.Factory(list)

    async def ping(
        self, *, pong_timeout: float, meanwhile: Callable[[], Awaitable[object]] | None = None
    ) -> bool:
        sent_at = trio.current_time()
        self.pings.append(sent_at)
        with trio.move_on_after(pong_timeout) as waiting:
            if self.pong_delay <= pong_timeout:
                waiting.deadline = math.inf
            if meanwhile is not None:
                await meanwhile()
            await trio.sleep_until(sent_at + self.pong_delay)
            return True
        return False


@attrs.define
class Peer:
    """The other end: the connection, the link, and the Heartbeats sent (answered after ``answer_delay``)."""

    connection: FakeConnection
    link: FakeLink
    answer_delay: float = 2.0
    heartbeats: list[float] = attrs.Factory(list)

    async def heartbeat(self) -> None:
        self.heartbeats.append(trio.current_time())
        self.link.last_sent = trio.current_time()
        await trio.sleep(self.answer_delay)


class TaskSpawns(trio.abc.Instrument):
    def __init__(self) -> None:
        self.spawned = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned += 1


def configuration(ping: int = 60, heartbeat: int = 100) -> Configuration:
    values = {"WebSocketPingInterval": str(ping), "HeartbeatInterval": str(heartbeat)}
    return Configuration(configuration_keys(1, ()), values)


def keep_alive(peer: Peer, settings: Configuration) -> KeepAlive:
    return KeepAlive(
        peer.link,  # type: ignore[arg-type]  # the part of a Link it uses
        peer.connection,  # type: ignore[arg-type]
        settings,
        pong_timeout=10,
        heartbeat=peer.heartbeat,
    )


def new_peer(scope: trio.CancelScope, pong_delay: float = 1.0, answer_delay: float = 2.0) -> Peer:
    return Peer(FakeConnection(pong_delay), FakeLink(scope), answer_delay)


async def test_pings_from_the_start_heartbeats_once_started_all_in_one_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A ping 60 s after the last pong, from the connection's start; a Heartbeat after 100 s without a
    message of ours, once started, when the ping interval starts again too (at our last message); and not
    one task started for any of them."""
    spawns = TaskSpawns()
    with trio.CancelScope() as scope:
        peer = new_peer(scope)
        alive = keep_alive(peer, configuration())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(alive.run)
            await trio.sleep(150)
            assert peer.connection.pings == [60, 121]
            assert peer.heartbeats == [], "not started: the charge point is not registered yet"
            peer.link.last_sent = 140  # the registration's last message
            trio.lowlevel.add_instrument(spawns)
            alive.start_heartbeats()
            await trio.sleep(500 - 150)
            trio.lowlevel.remove_instrument(spawns)
            assert peer.connection.pings == [60, 121, 200, 261, 322, 383, 444]
            assert peer.heartbeats == [240, 340, 440]
            assert spawns.spawned == 0
            nursery.cancel_scope.cancel()


async def test_no_pong_in_time_closes_the_link(autojump_clock: trio.testing.MockClock) -> None:
    with trio.CancelScope() as scope:
        peer = new_peer(scope, pong_delay=math.inf)
        await keep_alive(peer, configuration()).run()
    assert peer.link.closed == "no pong within 10 s"
    assert trio.current_time() == 70
    assert peer.connection.pings == [60]


async def test_a_configuration_change_starts_the_ping_interval_again_and_is_read_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    settings = configuration(ping=60, heartbeat=300)
    with trio.CancelScope() as scope:
        peer = new_peer(scope, pong_delay=0, answer_delay=0)
        alive = keep_alive(peer, settings)
        alive.start_heartbeats()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(alive.run)
            await trio.sleep(50)
            alive.configuration_changed()  # any key: the ping interval starts again
            await trio.sleep(70)
            assert peer.connection.pings == [110]
            settings.set("HeartbeatInterval", "100")
            alive.configuration_changed()
            await trio.testing.wait_all_tasks_blocked()
            assert peer.heartbeats == [120], "silent for 120 s: due at once"
            settings.set("WebSocketPingInterval", "0")
            settings.set("HeartbeatInterval", "0")
            alive.configuration_changed()
            await trio.sleep(24 * 3600)
            assert (peer.connection.pings, peer.heartbeats) == ([110], [120])
            settings.set("WebSocketPingInterval", "30")
            alive.configuration_changed()
            await trio.sleep(31)
            assert peer.connection.pings[-1] == 120 + 24 * 3600 + 30
            nursery.cancel_scope.cancel()


async def test_when_both_are_due_the_heartbeat_goes_right_behind_the_ping_and_may_outlast_the_pong_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Both due at 60: the ping and the Heartbeat at once; the pong is in at 65, so the Heartbeat may take its
    answer's 70 s. The next ping and Heartbeat, due at 120, go once that answer is in, at 130."""
    with trio.CancelScope() as scope:
        peer = new_peer(scope, pong_delay=5, answer_delay=70)
        alive = keep_alive(peer, configuration(ping=60, heartbeat=60))
        alive.start_heartbeats()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(alive.run)
            await trio.sleep(141)
            assert peer.connection.pings == [60, 130]
            assert peer.heartbeats == [60, 130]
            assert peer.link.closed is None
            nursery.cancel_scope.cancel()


async def test_no_pong_in_time_cuts_the_heartbeat_sent_with_the_ping_and_closes_the_link(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.CancelScope() as scope:
        peer = new_peer(scope, pong_delay=math.inf, answer_delay=30)
        alive = keep_alive(peer, configuration(ping=60, heartbeat=60))
        alive.start_heartbeats()
        await alive.run()
    assert (peer.connection.pings, peer.heartbeats) == ([60], [60])
    assert peer.link.closed == "no pong within 10 s"
    assert trio.current_time() == 70


async def test_with_equal_intervals_the_ping_and_the_heartbeat_go_together(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Connected at 0, the registration's last message at 5, Heartbeats from 6: the ping interval starts again
    at 5 with the Heartbeat interval, and after each Heartbeat sent with a ping at that Heartbeat, so both
    stay due together: one wake a minute for both."""
    with trio.CancelScope() as scope:
        peer = new_peer(scope, pong_delay=1, answer_delay=2)
        alive = keep_alive(peer, configuration(ping=60, heartbeat=60))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(alive.run)
            await trio.sleep(6)
            peer.link.last_sent = 5
            alive.start_heartbeats()
            await trio.sleep(200 - 6)
            assert peer.connection.pings == [65, 125, 185]
            assert peer.heartbeats == [65, 125, 185]
            nursery.cancel_scope.cancel()


async def test_while_another_call_is_under_way_the_ping_goes_alone_and_the_heartbeat_after_its_pong(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The ping goes out with the Heartbeat's CALL only when that CALL is sent at once."""
    with trio.CancelScope() as scope:
        peer = new_peer(scope, pong_delay=1, answer_delay=2)
        alive = keep_alive(peer, configuration(ping=60, heartbeat=60))
        alive.start_heartbeats()
        peer.link.busy = True
        async with trio.open_nursery() as nursery:
            nursery.start_soon(alive.run)
            await trio.sleep(62)
            assert (peer.connection.pings, peer.heartbeats) == ([60], [61])
            nursery.cancel_scope.cancel()
