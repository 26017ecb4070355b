"""Long sleeps of many tasks, woken together by one task of trio's: cheaper than a cancel scope each.

In trio every sleep is a cancel scope, and its end a cancellation: an exception raised in the sleeping task
and caught again. A charge point's keep-alive task sleeps about a minute between pings and Heartbeats, so a
fleet of thousands of charge points ends such a sleep a few hundred times a second (about 70 µs of CPU each
in ``benchmarks/alarm.py``, against under 20 µs for an alarm). An :class:`Alarm` parks its task with trio's
low-level ``wait_task_rescheduled``, its deadline in a heap of its run's :class:`_AlarmClock`, whose one
system task sleeps until the earliest deadline and then wakes every task whose deadline has come with
``reschedule``.

Deadlines are rounded up to :data:`TICK`, so that the sleepers due within one tick share one wake of that
task: an alarm rings up to a tick late, never early. Cancelling a sleeping task works as for any trio sleep.
:meth:`Alarm.ring` ends a sleep early: a CALL waits for its answer on an alarm that the reader rings (the
answer timeout, nearly never reached, is the deadline), cheaper than an event inside a cancel scope.
"""

import heapq
import itertools
import math
from collections.abc import Callable
from typing import Protocol

import trio

__all__ = ["TICK", "Alarm", "Countdown"]

TICK = 1 / 16
"""Seconds: the deadlines of alarms are rounded up to a multiple of this (a binary fraction, so whole
seconds stay exact)."""


class Alarm:
    """Sleeps of one task at a time: :meth:`sleep_until` a deadline, or until :meth:`ring` wakes it early."""

    __slots__ = ("_number", "_task")

    def __init__(self) -> None:
        self._task: trio.lowlevel.Task | None = None
        self._number = 0
        """The number of the sleep's entry in the heap of deadlines (0: none)."""

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until ``deadline`` (trio time, rounded up to :data:`TICK`) or :meth:`ring`, whichever is
        first; a checkpoint, cancellable like ``trio.sleep_until``."""
        deadline = _on_tick(deadline)
        if deadline <= trio.current_time():
            await trio.lowlevel.checkpoint()
            return
        await trio.lowlevel.checkpoint_if_cancelled()
        self._task = trio.lowlevel.current_task()
        if deadline < math.inf:
            self._number = _clock().add(deadline, self)
        try:
            await trio.lowlevel.wait_task_rescheduled(self._abort)
        finally:
            self._task = None
            self._number = 0

    def ring(self) -> None:
        """Wake the task that sleeps (if one does) now."""
        task = self._task
        if task is not None:
            self._task = None
            self._number = 0  # its entry stays in the heap, dropped when it comes to the top
            trio.lowlevel.reschedule(task)

    def _ring_entry(self, number: int) -> None:
        if number == self._number:
            self.ring()

    def _abort(self, _: object) -> trio.lowlevel.Abort:
        self._task = None  # trio reschedules it with the cancellation: a ring now must not
        self._number = 0
        return trio.lowlevel.Abort.SUCCEEDED


class Countdown:
    """Calls a function when a deadline comes (rounded up to :data:`TICK`), unless stopped first.

    A timeout that nearly never runs out, without a task or a cancel scope of its own: starting it costs a
    push on the alarms' heap, stopping it nothing (its entry is dropped when it comes to the top). The
    function runs in the alarms' task: it must not block or raise (cancel a scope, ring an alarm).
    """

    __slots__ = ("_expire", "_number")

    def __init__(self, expire: Callable[[], object]) -> None:
        self._expire = expire
        self._number = 0
        """The number of the running countdown's entry in the heap of deadlines (0: not running)."""

    @property
    def running(self) -> bool:
        """Whether the countdown was started and has neither run out nor been stopped."""
        return self._number != 0

    def start(self, deadline: float) -> None:
        """Run out at ``deadline`` (trio time, up to a tick later), in place of any earlier start."""
        self._number = _clock().add(_on_tick(deadline), self)

    def stop(self) -> None:
        """Do not run out (no effect if it is not running)."""
        self._number = 0

    def _ring_entry(self, number: int) -> None:
        if number == self._number:
            self._number = 0
            self._expire()


class _Entry(Protocol):
    def _ring_entry(self, number: int) -> None: ...


def _on_tick(deadline: float) -> float:
    """``deadline`` rounded up to a multiple of :data:`TICK`."""
    return math.ceil(deadline / TICK) * TICK if math.isfinite(deadline) else deadline


class _AlarmClock:
    """The deadlines of one trio run's alarms, and the system task that rings them."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Entry]] = []
        self._numbers = itertools.count(1)
        self._sleep: trio.CancelScope | None = None
        """The ringing task's sleep, until the earliest deadline known when it began."""
        trio.lowlevel.spawn_system_task(self._ring_when_due, name="actors.alarm")

    def add(self, deadline: float, entry: _Entry) -> int:
        """Ring ``entry`` (an alarm or a countdown) at ``deadline``; the number of this entry."""
        number = next(self._numbers)
        heapq.heappush(self._heap, (deadline, number, entry))
        sleep = self._sleep
        if sleep is not None and deadline < sleep.deadline:
            sleep.deadline = deadline
        return number

    async def _ring_when_due(self) -> None:
        heap = self._heap
        while True:
            with trio.CancelScope(deadline=heap[0][0] if heap else math.inf) as sleep:
                self._sleep = sleep
                await trio.sleep_forever()
            self._sleep = None
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                _, number, entry = heapq.heappop(heap)
                entry._ring_entry(number)


_CLOCK: trio.lowlevel.RunVar[_AlarmClock] = trio.lowlevel.RunVar("actors.alarm")


def _clock() -> _AlarmClock:
    try:
        return _CLOCK.get()
    except LookupError:
        clock = _AlarmClock()
        _CLOCK.set(clock)
        return clock
