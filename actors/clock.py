"""Wall-clock time of a charge point, driven by trio's clock.

Timers use trio directly; wall-clock timestamps (for messages, clock-aligned data) come from one
:class:`WallClock` per charge point, which the Central System's ``currentTime`` keeps in step. Because it is
built on ``trio.current_time()``, a test's ``MockClock`` moves it too.
"""

from datetime import UTC, datetime, timedelta

import trio


class WallClock:
    """Wall-clock time as an offset from trio's clock; set it to the Central System's time when told."""

    def __init__(self, now: datetime | None = None) -> None:
        self._reference_wall = (now or datetime.now(UTC)).astimezone(UTC)
        self._reference_trio = trio.current_time()

    def now(self) -> datetime:
        """The current wall-clock time, aware, in UTC."""
        elapsed = trio.current_time() - self._reference_trio
        return self._reference_wall + timedelta(seconds=elapsed)

    def synchronise(self, now: datetime) -> None:
        """Take ``now`` as the current time (from BootNotification or Heartbeat answers)."""
        self._reference_wall = now.astimezone(UTC)
        self._reference_trio = trio.current_time()
