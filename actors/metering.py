"""Metering data (specification 3.16): which measurands to read, how to report them, and when.

Pure code: no trio, no I/O, no clock reads; times are passed in. A connector actor

- parses the measurand lists of the configuration keys (9.1: ``MeterValuesSampledData``,
  ``MeterValuesAlignedData``, ``StopTxnSampledData``, ``StopTxnAlignedData``) with :func:`parse_measurands`;
- sleeps until :func:`next_sample_time` (every ``MeterValueSampleInterval`` seconds from the start of the
  transaction, 3.16.1) and :func:`next_clock_aligned` (every ``ClockAlignedDataInterval`` seconds from
  midnight UTC, 3.16.2);
- reads its meter through :func:`build_meter_value`, once for the union of the lists that concern that
  instant, and sends :func:`select` of it in MeterValues.req (4.7);
- hands the same MeterValue to its :class:`TransactionData`, which keeps what StopTransaction.req's
  ``transactionData`` should carry (4.10, 3.16.5).

Reported values follow one rule, :func:`format_value`: the value rounded half-up to the resolution of its
measurand (:data:`RESOLUTION`): whole Wh/varh for energy and whole RPM; 0.01 for current, frequency and
power factor; 0.1 for the rest (power, voltage, temperature, SoC). Trailing zeros are dropped, so ``230.0``
becomes ``"230"``; never an exponent, never ``"-0"``.
"""

import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal

import attrs

from actors.configuration import split_csl
from actors.ocpp import (
    Location,
    Measurand,
    MeterValue,
    Phase,
    ReadingContext,
    SampledValue,
    UnitOfMeasure,
    ValueFormat,
)

__all__ = [
    "MAX_TRANSACTION_DATA_VALUES",
    "RESOLUTION",
    "UNITS",
    "MeasurandItem",
    "Reading",
    "TransactionData",
    "build_meter_value",
    "format_value",
    "next_clock_aligned",
    "next_sample_time",
    "parse_measurands",
    "register_reading_wh",
    "register_wh",
    "select",
]


# --- what to read -----------------------------------------------------------------------------------------


@attrs.frozen
class MeasurandItem:
    """One item of a measurand list (9.1.17): a measurand, optionally for one phase (``Voltage.L1``)."""

    measurand: Measurand
    phase: Phase | None = None

    def __str__(self) -> str:
        return str(self.measurand) if self.phase is None else f"{self.measurand}.{self.phase}"

    def matches(self, value: SampledValue) -> bool:
        """Whether ``value`` is of this item; an item without a phase covers all phases (3.16.3)."""
        measurand = value.measurand or Measurand.ENERGY_ACTIVE_IMPORT_REGISTER  # the default (7.31)
        return measurand == self.measurand and (self.phase is None or value.phase == self.phase)


_MEASURANDS = {str(measurand): measurand for measurand in Measurand}
_PHASES = {str(phase): phase for phase in Phase}


def parse_measurands(csl: str) -> list[MeasurandItem]:
    """The items of a measurand list as configured, in order, duplicates included.

    Raises ``ValueError`` on an unknown item: configuration validation (3.16.4) rejects those, so one here
    is a bug.
    """
    return [_parse_item(item) for item in split_csl(csl)]


def _parse_item(item: str) -> MeasurandItem:
    if item in _MEASURANDS:  # no measurand ends in a phase's name, so a whole match is never a phase
        return MeasurandItem(_MEASURANDS[item])
    name, _, phase = item.rpartition(".")
    if name in _MEASURANDS and phase in _PHASES:
        return MeasurandItem(_MEASURANDS[name], _PHASES[phase])
    raise ValueError(f"not a measurand, optionally with a phase: {item!r}")


# --- how to report it -------------------------------------------------------------------------------------

_WH, _VARH, _W, _VAR = UnitOfMeasure.WH, UnitOfMeasure.VARH, UnitOfMeasure.W, UnitOfMeasure.VAR
_A, _V, _CELSIUS, _PERCENT = UnitOfMeasure.A, UnitOfMeasure.V, UnitOfMeasure.CELSIUS, UnitOfMeasure.PERCENT

_REPORTED_AS: dict[Measurand, tuple[UnitOfMeasure | None, int]] = {
    # measurand: (unit, decimal places)
    Measurand.ENERGY_ACTIVE_EXPORT_REGISTER: (_WH, 0),
    Measurand.ENERGY_ACTIVE_IMPORT_REGISTER: (_WH, 0),
    Measurand.ENERGY_REACTIVE_EXPORT_REGISTER: (_VARH, 0),
    Measurand.ENERGY_REACTIVE_IMPORT_REGISTER: (_VARH, 0),
    Measurand.ENERGY_ACTIVE_EXPORT_INTERVAL: (_WH, 0),
    Measurand.ENERGY_ACTIVE_IMPORT_INTERVAL: (_WH, 0),
    Measurand.ENERGY_REACTIVE_EXPORT_INTERVAL: (_VARH, 0),
    Measurand.ENERGY_REACTIVE_IMPORT_INTERVAL: (_VARH, 0),
    Measurand.POWER_ACTIVE_EXPORT: (_W, 1),
    Measurand.POWER_ACTIVE_IMPORT: (_W, 1),
    Measurand.POWER_OFFERED: (_W, 1),
    Measurand.POWER_REACTIVE_EXPORT: (_VAR, 1),
    Measurand.POWER_REACTIVE_IMPORT: (_VAR, 1),
    Measurand.POWER_FACTOR: (None, 2),  # dimensionless
    Measurand.CURRENT_EXPORT: (_A, 2),
    Measurand.CURRENT_IMPORT: (_A, 2),
    Measurand.CURRENT_OFFERED: (_A, 2),
    Measurand.VOLTAGE: (_V, 1),
    Measurand.FREQUENCY: (None, 2),  # Hz, for which 1.6's UnitOfMeasure (7.45) has no value (7.31)
    Measurand.TEMPERATURE: (_CELSIUS, 1),
    Measurand.SOC: (_PERCENT, 1),
    Measurand.RPM: (None, 0),  # 7.45 has no unit for revolutions per minute
}

UNITS: dict[Measurand, UnitOfMeasure | None] = {
    measurand: unit for measurand, (unit, _) in _REPORTED_AS.items()
}
"""The unit each measurand is reported in (7.31, 7.45): base units (Wh, varh, W, var), never kWh or kW."""

RESOLUTION: dict[Measurand, int] = {measurand: places for measurand, (_, places) in _REPORTED_AS.items()}
"""The decimal places each measurand is reported with (see :func:`format_value`)."""

_DEFAULT_LOCATIONS = {Measurand.SOC: Location.EV, Measurand.TEMPERATURE: Location.BODY}
_DECIMALS = Context(prec=400, rounding=ROUND_HALF_UP)  # enough digits for any finite float


@attrs.frozen
class Reading:
    """What the meter reports for one item: a finite value in the measurand's unit (:data:`UNITS`).

    ``location`` is where it was measured (7.30); ``None`` means the usual place for the measurand: the EV
    for SoC, the charge point's body for Temperature, the connector (Outlet) for everything else.
    """

    value: float = attrs.field(validator=lambda _instance, _attribute, value: _check_finite(value))
    location: Location | None = None


def _check_finite(value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"a meter reading must be a finite number, not {value}")


def format_value(measurand: Measurand, value: float) -> str:
    """A reading as SampledValue's decimal ``value`` (7.43), without float noise.

    Rounded half-up (away from zero) to :data:`RESOLUTION` decimal places, starting from the shortest
    decimal that reads back as the same float (``repr``), so ``0.1 + 0.2`` is ``"0.3"`` and ``2.675`` with
    two places is ``"2.68"``. Trailing zeros are dropped; no exponent; zero is ``"0"``.
    """
    _check_finite(value)
    places = Decimal(1).scaleb(-RESOLUTION[measurand])
    rounded = Decimal(repr(float(value))).quantize(places, context=_DECIMALS)
    if rounded.is_zero():
        return "0"
    return format(rounded.normalize(_DECIMALS), "f")


_ENERGY_REGISTER = MeasurandItem(Measurand.ENERGY_ACTIVE_IMPORT_REGISTER)


def register_reading_wh(meter_values: Iterable[MeterValue]) -> float | None:
    """The last reading of the meter's whole energy register (Energy.Active.Import.Register of no phase, not
    measured at the EV or in the body) in ``meter_values``, in Wh; ``None`` if there is none."""
    reading = None
    for meter_value in meter_values:
        for value in meter_value.sampled_value:
            if (
                _ENERGY_REGISTER.matches(value)
                and value.phase is None
                and value.location not in (Location.EV, Location.BODY)
                and value.format != ValueFormat.SIGNED_DATA
            ):
                try:
                    number = float(value.value)
                except ValueError:
                    continue
                reading = number * 1000 if value.unit == UnitOfMeasure.KWH else number
    return reading


def register_wh(energy_wh: float) -> int:
    """An energy register as the integer Wh of meterStart/meterStop (6.45, 6.49).

    The same rounding as the register's SampledValue, so that a transaction's meterStop equals its
    Transaction.End register value and the next transaction's meterStart (7.31).
    """
    return int(format_value(Measurand.ENERGY_ACTIVE_IMPORT_REGISTER, energy_wh))


def build_meter_value(
    timestamp: datetime,
    items: Iterable[MeasurandItem],
    context: ReadingContext,
    read: Callable[[MeasurandItem], Reading | None],
) -> MeterValue | None:
    """The values of ``items`` read at ``timestamp``, as one MeterValue (7.33, 7.43; 4.7).

    Each distinct item is read once, in first-seen order; the items the meter cannot read (``read`` returns
    ``None``) are left out, and ``None`` is returned if none is left. Every field of each SampledValue is
    given explicitly, defaults included: measurand, phase (if the item has one), unit (:data:`UNITS`),
    location, ``context`` and format Raw; the value follows :func:`format_value`.
    """
    sampled: list[SampledValue] = []
    for item in dict.fromkeys(items):
        reading = read(item)
        if reading is None:
            continue
        location = reading.location or _DEFAULT_LOCATIONS.get(item.measurand, Location.OUTLET)
        sampled.append(
            SampledValue(
                value=format_value(item.measurand, reading.value),
                context=context,
                format=ValueFormat.RAW,
                measurand=item.measurand,
                phase=item.phase,
                location=location,
                unit=UNITS[item.measurand],
            )
        )
    return MeterValue(timestamp=timestamp, sampled_value=tuple(sampled)) if sampled else None


def select(meter_value: MeterValue, items: Iterable[MeasurandItem]) -> MeterValue | None:
    """The part of ``meter_value`` that ``items`` ask for (see :meth:`MeasurandItem.matches`), or ``None``."""
    wanted = tuple(items)
    kept = tuple(value for value in meter_value.sampled_value if any(item.matches(value) for item in wanted))
    if not kept:
        return None
    return (
        meter_value
        if len(kept) == len(meter_value.sampled_value)
        else attrs.evolve(meter_value, sampled_value=kept)
    )


# --- when to read it --------------------------------------------------------------------------------------

_DAY = timedelta(days=1)


def next_sample_time(transaction_start: float, interval: int, now: float) -> float:
    """When the next sampled values are due, on trio's clock (3.16.1, 9.1.19): ``math.inf`` if never.

    Samples are taken every ``interval`` (``MeterValueSampleInterval``) seconds from the start of the
    transaction: the first grid instant ``transaction_start + k * interval`` (k >= 1) strictly after
    ``now``. An interval of 0 means no sampled data.
    """
    if interval < 0:
        raise ValueError(f"MeterValueSampleInterval cannot be negative: {interval}")
    if interval == 0:
        return math.inf
    steps = max(1, math.floor((now - transaction_start) / interval) + 1)
    # The division may be off by one step either way near a grid instant; settle it by comparison.
    while steps > 1 and transaction_start + (steps - 1) * interval > now:
        steps -= 1
    while transaction_start + steps * interval <= now:
        steps += 1
    return transaction_start + steps * interval


def next_clock_aligned(now_wall: datetime, interval: int) -> datetime | None:
    """The next clock-aligned instant strictly after ``now_wall``, in UTC (3.16.2, 9.1.5); ``None`` if off.

    The day is split into intervals of ``interval`` (``ClockAlignedDataInterval``) seconds starting at
    00:00:00 UTC; the series restarts at each midnight, so an interval that does not divide a day ends the
    day with a shorter one (7 s: ..., 23:59:47, 23:59:54, 00:00:00). An interval of 0 means no clock-aligned
    data. ``now_wall`` must be timezone-aware.
    """
    if interval < 0:
        raise ValueError(f"ClockAlignedDataInterval cannot be negative: {interval}")
    if now_wall.tzinfo is None:
        raise ValueError("the wall-clock time must be timezone-aware")
    if interval == 0:
        return None
    now = now_wall.astimezone(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    step = timedelta(seconds=interval)
    return min(midnight + ((now - midnight) // step + 1) * step, midnight + _DAY)


# --- what StopTransaction carries ---------------------------------------------------------------------------

MAX_TRANSACTION_DATA_VALUES = 200
"""The most MeterValues a StopTransaction.req carries by default: Begin, End and the 198 latest in between.

About 25 kB of JSON with a few measurands; a day of 15-minute clock-aligned values fits.
"""

_PINNED = frozenset({ReadingContext.TRANSACTION_BEGIN, ReadingContext.TRANSACTION_END})


@attrs.define
class TransactionData:
    """The MeterValues of one transaction for StopTransaction.req's ``transactionData`` (4.10, 3.16).

    Owned by the connector that runs the transaction. It keeps, in the order they were added:

    - the Transaction.Begin and Transaction.End values (any MeterValue whose values have that context,
      given to either method), reduced to the items of either list; a later one replaces an earlier one;
    - the sampled values reduced to ``sampled_items`` (``StopTxnSampledData``, 3.16.1) and the clock-aligned
      values reduced to ``aligned_items`` (``StopTxnAlignedData``, 3.16.2).

    At most ``max_values`` MeterValues are kept: when the values in between Begin and End exceed
    ``max_values - 2``, the oldest of them are dropped (counted in ``dropped``); Begin and End never are.
    """

    sampled_items: Sequence[MeasurandItem]
    aligned_items: Sequence[MeasurandItem]
    max_values: int = attrs.field(default=MAX_TRANSACTION_DATA_VALUES, validator=attrs.validators.ge(2))
    dropped: int = attrs.field(default=0, init=False)
    """How many values in between were dropped to stay within ``max_values``."""
    _begin: MeterValue | None = attrs.field(default=None, init=False)
    _end: MeterValue | None = attrs.field(default=None, init=False)
    _between: deque[MeterValue] = attrs.field(init=False)

    @_between.default
    def _empty(self) -> deque[MeterValue]:
        return deque()

    def add_sampled(self, meter_value: MeterValue) -> None:
        """Keep the ``StopTxnSampledData`` part of sampled values (or the Begin/End values)."""
        self._add(meter_value, self.sampled_items)

    def add_aligned(self, meter_value: MeterValue) -> None:
        """Keep the ``StopTxnAlignedData`` part of clock-aligned values (or the Begin/End values)."""
        self._add(meter_value, self.aligned_items)

    def _add(self, meter_value: MeterValue, items: Sequence[MeasurandItem]) -> None:
        contexts = {value.context for value in meter_value.sampled_value}
        if contexts & _PINNED:
            kept = select(meter_value, (*self.sampled_items, *self.aligned_items))
            if ReadingContext.TRANSACTION_BEGIN in contexts:
                self._begin = kept
            else:
                self._end = kept
            return
        kept = select(meter_value, items)
        if kept is None:
            return
        self._between.append(kept)
        while len(self._between) > self.max_values - 2:
            self._between.popleft()
            self.dropped += 1

    def values(self) -> tuple[MeterValue, ...] | None:
        """The ``transactionData`` to send: Begin, the values in between, End; ``None`` if empty (3.16.5)."""
        kept = (self._begin, *self._between, self._end)
        result = tuple(value for value in kept if value is not None)
        return result or None
