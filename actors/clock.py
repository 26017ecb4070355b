"""Wall-clock time of a charge point, driven by trio's clock.

Timers use trio directly; wall-clock timestamps (for messages, clock-aligned data) come from one
:class:`WallClock` per charge point, which the Central System's ``currentTime`` keeps in step. Because it is
built on ``trio.current_time()``, a test's ``MockClock`` moves it too.
"""

from datetime import UTC, datetime, timedelta

import trio


class WallClock:
    """Wall-clock time as an offset from trio's clock; set it to the Central System's time when told."""

    __slots__ = ("_reference_posix", "_reference_trio", "_reference_wall")

    def __init__(self, now: datetime | None = None) -> None:
        self._reference_wall = (now or datetime.now(UTC)).astimezone(UTC)
        self._reference_posix = self._reference_wall.timestamp()
        self._reference_trio = trio.current_time()

    def now(self) -> datetime:
        """The current wall-clock time, aware, in UTC."""
        elapsed = trio.current_time() - self._reference_trio
        return self._reference_wall + timedelta(seconds=elapsed)

    def timestamp(self) -> float:
        """The current wall-clock time in POSIX seconds: :meth:`now` for a stamp on every message, where a
        ``datetime`` would cost more to make and to keep."""
        return self._reference_posix + (trio.current_time() - self._reference_trio)

    def synchronise(self, now: datetime, *, round_trip: float = 0.0) -> None:
        """Follow the Central System's time ``now`` (of a BootNotification or Heartbeat answer), which it read
        at some moment of the ``round_trip`` seconds our CALL took: the true time is between ``now`` and
        ``now + round_trip``. A clock that reads outside that span is set to its nearer end; one inside is
        left alone, so that an answer that was slow to come back does not set the clock back (which would
        make the timestamps of transaction messages go backwards)."""
        earliest_posix = now.timestamp()
        if earliest_posix < self.timestamp() < earliest_posix + round_trip:
            return  # well inside (the usual answer): no datetime arithmetic
        earliest = now.astimezone(UTC)
        latest = earliest + timedelta(seconds=max(0.0, round_trip))
        self._reference_wall = min(max(self.now(), earliest), latest)
        self._reference_trio = trio.current_time()
        self._reference_posix = self._reference_wall.timestamp()
