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

import trio

__all__ = ["TICK", "Alarm"]

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
        if math.isfinite(deadline):
            deadline = math.ceil(deadline / TICK) * TICK
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


class _AlarmClock:
    """The deadlines of one trio run's alarms, and the system task that rings them."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Alarm]] = []
        self._numbers = itertools.count(1)
        self._sleep: trio.CancelScope | None = None
        """The ringing task's sleep, until the earliest deadline known when it began."""
        trio.lowlevel.spawn_system_task(self._ring_when_due, name="actors.alarm")

    def add(self, deadline: float, alarm: Alarm) -> int:
        """Ring ``alarm`` at ``deadline``; the number of this entry."""
        number = next(self._numbers)
        heapq.heappush(self._heap, (deadline, number, alarm))
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
                _, number, alarm = heapq.heappop(heap)
                alarm._ring_entry(number)


_CLOCK: trio.lowlevel.RunVar[_AlarmClock] = trio.lowlevel.RunVar("actors.alarm")


def _clock() -> _AlarmClock:
    try:
        return _CLOCK.get()
    except LookupError:
        clock = _AlarmClock()
        _CLOCK.set(clock)
        return clock
