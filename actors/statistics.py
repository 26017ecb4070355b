"""What a fleet's charge points did, counted cheaply: our CALLs per action and the charge points' lives.

One :class:`Statistics` is shared by every charge point of a process (10,000 of them in a big fleet), so what
it does per CALL is a dictionary look-up, a few integer increments and one histogram bucket; nothing is
allocated per CALL and no sample is kept. It is pure: the callers pass the times (trio's clock) in.

- :class:`Statistics` ``.action(name)`` gives the :class:`ActionCounts` of one action, which the
  :class:`~actors.link.Link` feeds: sent, answered after *t* seconds, answered with a CALLERROR code, not
  answered in time, or lost with the connection.
- :class:`ChargePointCounters`, one small object per charge point (:meth:`Statistics.charge_point`), counts
  what happened to that charge point (reconnects, time offline, offline-queue depth, sessions, energy) and
  keeps the fleet's totals of the same up to date, so that a live view reads them without walking the fleet.

**Answer times** go into :class:`AnswerTimes`, a histogram with log-scale buckets: 8 per doubling
(:data:`BUCKETS_PER_DOUBLING`) between :data:`SMALLEST` (2**-13 s, 0.12 ms) and :data:`LARGEST` (2**13 s,
2.3 h), one bucket below (from 0) and one above; each holds the times in (lower, upper]. A percentile is the
geometric middle of the bucket holding it, never more than the largest time seen: within a factor 2**(1/16)
of the true value (**±4.4 %**), or at most 0.12 ms for the bottom bucket. The count, the exact maximum and
the sum (whole microseconds) are kept beside the buckets. Histograms of the same layout merge exactly by
adding their buckets.
"""

import math
from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "BUCKETS_PER_DOUBLING",
    "BUCKET_COUNT",
    "LARGEST",
    "RESOLUTION",
    "SMALLEST",
    "ActionCounts",
    "AnswerTimes",
    "ChargePointCounters",
    "Statistics",
    "bucket_bounds",
    "bucket_of",
    "percentile_of_buckets",
]

BUCKETS_PER_DOUBLING = 8
SMALLEST_EXPONENT = -13
LARGEST_EXPONENT = 13
SMALLEST = 2.0**SMALLEST_EXPONENT
"""The upper bound of the bottom bucket, seconds (0.12 ms)."""
LARGEST = 2.0**LARGEST_EXPONENT
"""The lower bound of the top bucket, seconds (8192 s)."""
BUCKET_COUNT = (LARGEST_EXPONENT - SMALLEST_EXPONENT) * BUCKETS_PER_DOUBLING + 2
"""Buckets of a histogram: [0, SMALLEST], 208 log-scale ones, (LARGEST, inf)."""
RESOLUTION = 2.0 ** (1 / (2 * BUCKETS_PER_DOUBLING)) - 1
"""The relative error of a percentile taken from the buckets (0.044)."""

_TOP = BUCKET_COUNT - 1


def bucket_of(seconds: float) -> int:
    """The bucket of an answer time: 0 up to :data:`SMALLEST`, the last above :data:`LARGEST`.

    Bucket ``i`` holds the times in (lower, upper] of :func:`bucket_bounds`; the powers of two among the
    bounds are placed exactly (a time of 0.5 s is in the bucket that ends at 0.5 s, as Prometheus's ``le``).
    """
    if seconds <= SMALLEST:
        return 0
    # log2 of a power of two is exact, and so is the rest for it: it lands on the upper bound of its bucket
    index = math.ceil((math.log2(seconds) - SMALLEST_EXPONENT) * BUCKETS_PER_DOUBLING)
    return index if index < _TOP else _TOP


def bucket_bounds(index: int) -> tuple[float, float]:
    """The bounds, seconds, of bucket ``index``: it holds (lower, upper] (bucket 0: [0, upper])."""
    if index == 0:
        return 0.0, SMALLEST
    lower = SMALLEST * 2.0 ** ((index - 1) / BUCKETS_PER_DOUBLING)
    if index == _TOP:
        return lower, math.inf
    return lower, SMALLEST * 2.0 ** (index / BUCKETS_PER_DOUBLING)


def percentile_of_buckets(buckets: Sequence[int], fraction: float, maximum: float) -> float | None:
    """The ``fraction`` (0 < fraction <= 1) percentile of the samples counted in ``buckets``; ``None`` if
    there are none. The sample at rank ceil(fraction * count) lies in some bucket; the estimate is the
    bucket's geometric middle (half its upper bound for the bottom bucket), at most ``maximum``."""
    count = sum(buckets)
    if count == 0:
        return None
    rank = max(1, math.ceil(fraction * count))
    seen = 0
    for index, in_bucket in enumerate(buckets):
        seen += in_bucket
        if seen >= rank:
            lower, upper = bucket_bounds(index)
            middle = upper / 2 if index == 0 else lower if index == _TOP else math.sqrt(lower * upper)
            return min(middle, maximum)
    raise AssertionError("unreachable: the ranks add up")  # pragma: no cover


@attrs.define(slots=True, eq=True)
class AnswerTimes:
    """A histogram of answer times with log-scale buckets (see the module's documentation)."""

    buckets: list[int] = attrs.Factory(lambda: [0] * BUCKET_COUNT)
    count: int = 0
    maximum: float = 0.0
    """The largest time seen, exact."""
    sum_us: int = 0
    """The sum of the times, whole microseconds (an integer, so that merging is exact)."""

    def add(self, seconds: float) -> None:
        """Count one answer time."""
        self.buckets[bucket_of(seconds)] += 1
        self.count += 1
        self.sum_us += round(seconds * 1_000_000)
        if seconds > self.maximum:
            self.maximum = seconds

    def merge(self, other: "AnswerTimes") -> None:
        """Add ``other``'s samples to these."""
        self.buckets = [mine + theirs for mine, theirs in zip(self.buckets, other.buckets, strict=True)]
        self.count += other.count
        self.sum_us += other.sum_us
        self.maximum = max(self.maximum, other.maximum)

    def percentile(self, fraction: float) -> float | None:
        """The ``fraction`` percentile (0.5: the median), within :data:`RESOLUTION`; ``None`` if empty."""
        return percentile_of_buckets(self.buckets, fraction, self.maximum)


@attrs.define(slots=True, eq=True)
class ActionCounts:
    """What became of our CALLs of one action.

    Every CALL sent ends as exactly one of answered, errors, timeouts and lost (or is still in flight).
    """

    sent: int = 0
    answered: int = 0
    """Answered with a CALLRESULT."""
    errors: dict[str, int] = attrs.Factory(dict)
    """Answered with a CALLERROR (or an answer that breaks the protocol), by error code."""
    timeouts: int = 0
    """Not answered within the answer timeout."""
    lost: int = 0
    """Not answered because the connection was lost, or the charge point stopped, first."""
    times: AnswerTimes = attrs.Factory(AnswerTimes)
    """The answer times of the CALLRESULTs and CALLERRORs."""

    def answer(self, seconds: float) -> None:
        """A CALLRESULT came after ``seconds``."""
        self.answered += 1
        self.times.add(seconds)

    def error(self, code: str, seconds: float) -> None:
        """A CALLERROR with ``code`` (or an answer that breaks the protocol) came after ``seconds``."""
        self.errors[code] = self.errors.get(code, 0) + 1
        self.times.add(seconds)

    def merge(self, other: "ActionCounts") -> None:
        """Add ``other``'s counts to these."""
        self.sent += other.sent
        self.answered += other.answered
        for code, count in other.errors.items():
            self.errors[code] = self.errors.get(code, 0) + count
        self.timeouts += other.timeouts
        self.lost += other.lost
        self.times.merge(other.times)

    @property
    def error_count(self) -> int:
        """CALLERRORs of every code."""
        return sum(self.errors.values())


@attrs.define(slots=True, eq=False)
class ChargePointCounters:
    """What happened to one charge point; every change also updates the fleet's totals in ``fleet``."""

    fleet: "Statistics" = attrs.field(repr=False)
    connections: int = 0
    """Connections opened."""
    reconnects: int = 0
    """Connections opened after the first one (after a lost connection, a reboot or a power cut)."""
    offline_seconds: float = 0.0
    """Time without a connection since it first powered on, up to :attr:`offline_since`."""
    offline_since: float | None = None
    """When the present time without a connection began (trio time), ``None`` while connected."""
    is_connected: bool = False
    is_accepted: bool = False
    queue_depth: int = 0
    """Transaction-related messages waiting in the offline queue (a counter kept by the outbox: exact again
    whenever the queue empties; it can overstate while the queue overflows its bound)."""
    queue_high_water: int = 0
    """The largest :attr:`queue_depth` seen."""
    sessions_started: int = 0
    sessions_stopped: int = 0
    energy_wh: int = 0
    """Energy delivered by the sessions started by this process: meterStop - meterStart of the stopped ones,
    and of the running ones up to the energy register of their last MeterValues."""
    open_sessions: dict[int, int] | None = None
    """The energy register counted so far (from meterStart on) of the running sessions, by local transaction
    id; ``None`` until the first session."""

    def powered_on(self, now: float) -> None:
        """The charge point powers on (again): without a connection from now, if it was not already."""
        if self.offline_since is None and not self.is_connected:
            self.offline_since = now

    def connected(self, now: float) -> None:
        """A connection was opened."""
        if self.connections:
            self.reconnects += 1
            self.fleet.reconnects += 1
        self.connections += 1
        if self.offline_since is not None:
            self.offline_seconds += now - self.offline_since
            self.offline_since = None
        if not self.is_connected:
            self.is_connected = True
            self.fleet.connected += 1

    def accepted(self) -> None:
        """The Central System accepted the charge point on this connection (it may send everything now)."""
        if self.is_connected and not self.is_accepted:
            self.is_accepted = True
            self.fleet.accepted += 1

    def disconnected(self, now: float) -> None:
        """The connection ended."""
        if self.is_accepted:
            self.is_accepted = False
            self.fleet.accepted -= 1
        if self.is_connected:
            self.is_connected = False
            self.fleet.connected -= 1
        if self.offline_since is None:
            self.offline_since = now

    def left(self, now: float) -> None:
        """The charge point left the fleet (it stopped for good): its time offline stops counting."""
        if self.offline_since is not None:
            self.offline_seconds += now - self.offline_since
            self.offline_since = None

    def offline_until(self, now: float) -> float:
        """Seconds without a connection, counting the present spell up to ``now``."""
        ongoing = now - self.offline_since if self.offline_since is not None else 0.0
        return self.offline_seconds + ongoing

    def queue_is(self, depth: int) -> None:
        """The offline queue holds ``depth`` messages now."""
        fleet = self.fleet
        fleet.queue_depth += depth - self.queue_depth
        self.queue_depth = depth
        if depth > self.queue_high_water:
            self.queue_high_water = depth
            if depth > fleet.queue_high_water:
                fleet.queue_high_water = depth

    def session_started(self, local_transaction: int | None, meter_start: int) -> None:
        """A StartTransaction was queued."""
        self.sessions_started += 1
        self.fleet.sessions_started += 1
        if local_transaction is not None:
            if self.open_sessions is None:
                self.open_sessions = {}
            if local_transaction not in self.open_sessions:
                self.fleet.sessions_running += 1
            self.open_sessions[local_transaction] = meter_start

    def session_metered(self, local_transaction: int | None, register_wh: float) -> None:
        """A MeterValues of a session was queued with the energy register at ``register_wh``: what the session
        delivered since it was last counted counts now (if its StartTransaction was seen)."""
        sessions = self.open_sessions
        if sessions is not None and local_transaction in sessions:
            counted, register = sessions[local_transaction], int(register_wh)
            if register > counted:
                sessions[local_transaction] = register
                self._delivered(register - counted)

    def session_stopped(self, local_transaction: int | None, meter_stop: int) -> None:
        """A StopTransaction was queued; the rest of its energy counts if its StartTransaction was seen."""
        self.sessions_stopped += 1
        self.fleet.sessions_stopped += 1
        sessions = self.open_sessions
        if sessions is not None and local_transaction in sessions:
            self._delivered(max(0, meter_stop - sessions.pop(local_transaction)))
            self.fleet.sessions_running -= 1

    def _delivered(self, energy_wh: int) -> None:
        self.energy_wh += energy_wh
        self.fleet.energy_wh += energy_wh


class Statistics:
    """The counts of a whole fleet (or of one charge point): CALLs per action, and per charge point."""

    def __init__(self) -> None:
        self.actions: dict[str, ActionCounts] = {}
        """By action, in the order first sent."""
        self.charge_points: dict[str, ChargePointCounters] = {}
        # Totals of the charge points' counters, kept up to date by them.
        self.connected = 0
        self.accepted = 0
        self.reconnects = 0
        self.queue_depth = 0
        self.queue_high_water = 0
        self.sessions_started = 0
        self.sessions_stopped = 0
        self.sessions_running = 0
        self.energy_wh = 0

    def action(self, action: str) -> ActionCounts:
        """The counts of ``action`` (made at its first CALL)."""
        counts = self.actions.get(action)
        if counts is None:
            counts = self.actions[str(action)] = ActionCounts()
        return counts

    def charge_point(self, charge_point_id: str) -> ChargePointCounters:
        """The counters of one charge point (made the first time; the same object after that)."""
        counters = self.charge_points.get(charge_point_id)
        if counters is None:
            counters = self.charge_points[charge_point_id] = ChargePointCounters(self)
        return counters

    def totals(self, actions: Iterable[str] | None = None) -> ActionCounts:
        """The counts of ``actions`` (default: all) added up."""
        total = ActionCounts()
        for name in self.actions if actions is None else actions:
            if name in self.actions:
                total.merge(self.actions[name])
        return total
