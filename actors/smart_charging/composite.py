"""The Composite Schedule (spec 3.13.2, 3.13.3, 5.7, 7.12): which profiles prevail, how purposes combine, and
how the result is reported in whole seconds.

At any instant, within each purpose the valid profile with a period in force and the highest stackLevel
prevails (3.13.2). A connector's limit is the least of the prevailing ChargePointMaxProfile and, for its
transaction, the prevailing TxProfile, or else the prevailing TxDefaultProfile (3.13.1, 3.13.3).

Where the specification leaves room, this charge point decides so:

- A connector's TxDefaultProfile of some stack level replaces connector 0's TxDefaultProfile of the same
  level for that connector only (3.13.1 "replaced only for that specific connector", read with the
  replacement rule of 3.13.2); connector 0's profiles of other levels still apply to it.
- A TxProfile overrules the TxDefaultProfiles while one of its periods is in force; before its schedule
  starts or after its ``duration`` the TxDefaultProfiles apply again.
- Limits in A and W are converted with the connector's voltage and number of phases, the latter being the
  least of the period's ``numberPhases`` (3 if absent, 7.12) and the phases the connector has. For the
  charge point as a whole (connector 0) the voltage is that of its first connector and the phases the
  most any connector has.
- The reported schedule includes the local limit: a connector's own maximum power. Connector 0 reports the
  most the charge point may draw from the grid: the sum of its connectors' limits (each as if charging),
  capped by the ChargePointMaxProfile.
- Reported limits are rounded down to one decimal (7.14), and period starts fall on whole seconds from the
  whole second at or before the request: a second in which the limit changes reports the least limit of
  that second. So the reported schedule never allows more than the profiles do.
- Without a requested unit, the schedule is reported in A if every profile that applies is in A, else W.
"""

import itertools
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import attrs

from actors.ocpp import (
    ChargingProfile,
    ChargingProfilePurposeType,
    ChargingRateUnitType,
    ChargingSchedulePeriod,
)
from actors.smart_charging.profiles import InstalledProfile
from actors.smart_charging.schedule import Span, Step, refine, spans

__all__ = [
    "Limit",
    "Outlet",
    "applicable",
    "charge_point_limits",
    "connector_limits",
    "convert",
    "default_unit",
    "grid_limits",
    "local_limit",
    "own_limits",
    "prevailing",
    "reported_periods",
    "round_down",
    "with_local_limit",
]

Purpose = ChargingProfilePurposeType
T = TypeVar("T")
A, W = ChargingRateUnitType.A, ChargingRateUnitType.W
DEFAULT_PHASES = 3
"""7.12: "if numberPhases in a ChargingSchedulePeriod is absent, 3 SHALL be assumed"."""


@attrs.frozen
class Outlet:
    """What smart charging knows of a connector, or (as connector 0) of the charge point's grid connection."""

    connector_id: int
    voltage: float = 230.0
    phases: int = 3
    max_power_w: float = math.inf
    transaction: int | None = None
    """The local id of the transaction running on the connector, if any."""
    started: datetime | None = None
    """When that transaction started."""


@attrs.frozen
class Limit:
    """A limit in some unit, with the phases it was given for and the EV's least efficient rate, if known."""

    limit: float
    number_phases: int | None = None
    min_charging_rate: float | None = None


def convert(
    value: float, unit: ChargingRateUnitType, to: ChargingRateUnitType, phases: int, outlet: Outlet
) -> float:
    """``value`` in ``unit`` as ``to``: A per phase <-> W in total (7.12), over ``phases`` at most."""
    if unit is to:
        return value
    volt_amperes = outlet.voltage * max(1, min(phases, outlet.phases))
    return value * volt_amperes if to is W else value / volt_amperes


def _limit(span: Span, to: ChargingRateUnitType, outlet: Outlet) -> Limit:
    phases = span.number_phases or DEFAULT_PHASES
    minimum = span.min_charging_rate
    return Limit(
        convert(span.limit, span.unit, to, phases, outlet),
        span.number_phases,
        None if minimum is None else convert(minimum, span.unit, to, phases, outlet),
    )


def round_down(value: float) -> float:
    """``value`` rounded down to one decimal (a tolerance of 1e-6 absorbs the error of float arithmetic)."""
    return round(math.floor(value * 10 + 1e-6) / 10, 1)


def prevailing(
    profiles: Sequence[ChargingProfile], start: datetime, end: datetime, *, relative_start: datetime
) -> list[Step[Span | None]]:
    """The span of the prevailing profile (highest stack level with a period in force) over ``[start, end)``,
    ``None`` where none of ``profiles`` limits charging."""
    found = sorted(
        (span for profile in profiles for span in spans(profile, start, end, relative_start=relative_start)),
        key=lambda span: span.start,
    )
    boundaries = sorted({start, end} | {span.start for span in found} | {span.end for span in found})
    steps: list[Step[Span | None]] = []
    for left, right in itertools.pairwise(boundaries):
        covering = [span for span in found if span.start <= left < span.end]
        best = max(covering, key=lambda span: span.stack_level, default=None)
        if steps and steps[-1].value == best:
            steps[-1] = Step(steps[-1].start, right, best)
        else:
            steps.append(Step(left, right, best))
    return steps


@attrs.frozen
class Applicable:
    """The profiles that apply to one connector, by purpose."""

    charge_point_max: tuple[ChargingProfile, ...]
    tx: tuple[ChargingProfile, ...]
    tx_default: tuple[ChargingProfile, ...]


def applicable(installed: Iterable[InstalledProfile], outlet: Outlet) -> Applicable:
    """The profiles of each purpose that apply to ``outlet``'s connector now."""
    profiles = tuple(installed)
    own_defaults = [
        item.profile
        for item in profiles
        if item.purpose is Purpose.TX_DEFAULT_PROFILE and item.connector_id == outlet.connector_id
    ]
    own_levels = {profile.stack_level for profile in own_defaults}
    shared_defaults = [
        item.profile
        for item in profiles
        if item.purpose is Purpose.TX_DEFAULT_PROFILE
        and item.connector_id == 0
        and outlet.connector_id != 0
        and item.stack_level not in own_levels
    ]
    return Applicable(
        charge_point_max=tuple(
            item.profile for item in profiles if item.purpose is Purpose.CHARGE_POINT_MAX_PROFILE
        ),
        tx=tuple(
            item.profile
            for item in profiles
            if item.purpose is Purpose.TX_PROFILE
            and item.connector_id == outlet.connector_id
            and outlet.transaction is not None
            and item.transaction == outlet.transaction
        ),
        tx_default=(*own_defaults, *shared_defaults),
    )


def charge_point_limits(
    installed: Iterable[InstalledProfile], start: datetime, end: datetime
) -> list[Step[Span | None]]:
    """The prevailing ChargePointMaxProfile over ``[start, end)`` (a relative one counts from ``start``)."""
    profiles = [item.profile for item in installed if item.purpose is Purpose.CHARGE_POINT_MAX_PROFILE]
    return prevailing(profiles, start, end, relative_start=start)


def own_limits(
    installed: Iterable[InstalledProfile], outlet: Outlet, start: datetime, end: datetime
) -> list[Step[Span | None]]:
    """The connector's transaction limit over ``[start, end)``: the prevailing TxProfile where one is in
    force, else the prevailing TxDefaultProfile (relative ones count from the transaction's start)."""
    profiles = applicable(installed, outlet)
    relative_start = outlet.started or start
    tx = prevailing(profiles.tx, start, end, relative_start=relative_start)
    default = prevailing(profiles.tx_default, start, end, relative_start=relative_start)
    return _merged(
        Step(step.start, step.end, step.value[0] if step.value[0] is not None else step.value[1])
        for step in refine(start, end, tx, default)
    )


def connector_limits(
    installed: Iterable[InstalledProfile],
    outlet: Outlet,
    start: datetime,
    end: datetime,
    unit: ChargingRateUnitType,
) -> list[Step[Limit | None]]:
    """The Composite Schedule of a connector from its profiles alone, in ``unit``: the least of the
    ChargePointMaxProfile and its transaction limit; ``None`` where no profile limits it."""
    profiles = tuple(installed)
    maximum = charge_point_limits(profiles, start, end)
    own = own_limits(profiles, outlet, start, end)
    steps: list[Step[Limit | None]] = []
    for step in refine(start, end, maximum, own):
        limits = [_limit(span, unit, outlet) for span in step.value if span is not None]
        least = min(limits, key=lambda limit: limit.limit, default=None)
        if least is not None and step.value[1] is not None:
            least = attrs.evolve(
                least, min_charging_rate=_limit(step.value[1], unit, outlet).min_charging_rate
            )
        steps.append(Step(step.start, step.end, least))
    return _merged(steps)


def local_limit(outlet: Outlet, unit: ChargingRateUnitType) -> float:
    """The connector's own maximum in ``unit``."""
    return convert(outlet.max_power_w, W, unit, outlet.phases, outlet)


def with_local_limit(
    steps: Iterable[Step[Limit | None]], outlet: Outlet, unit: ChargingRateUnitType
) -> list[Step[Limit]]:
    """``steps`` capped by the connector's own maximum, which also applies where no profile does."""
    ceiling = local_limit(outlet, unit)
    capped = []
    for step in steps:
        value = step.value
        if value is None or value.limit > ceiling:
            value = Limit(ceiling, value.number_phases if value else None)
        capped.append(Step(step.start, step.end, value))
    return _merged(capped)


def grid_limits(
    installed: Iterable[InstalledProfile],
    outlets: Sequence[Outlet],
    grid: Outlet,
    start: datetime,
    end: datetime,
    unit: ChargingRateUnitType,
) -> list[Step[Limit]]:
    """The most the charge point may draw (connector 0, 5.7): the sum of its connectors' limits, each
    capped by its own maximum, at most the ChargePointMaxProfile."""
    profiles = tuple(installed)
    per_connector: list[list[Step[Limit | None]]] = []
    for outlet in outlets:
        own = [
            Step(step.start, step.end, None if step.value is None else _limit(step.value, unit, outlet))
            for step in own_limits(profiles, outlet, start, end)
        ]
        capped: list[Step[Limit | None]] = [
            Step(step.start, step.end, step.value) for step in with_local_limit(own, outlet, unit)
        ]
        per_connector.append(capped)
    maximum: list[Step[Limit | None]] = [
        Step(step.start, step.end, None if step.value is None else _limit(step.value, unit, grid))
        for step in charge_point_limits(profiles, start, end)
    ]
    steps = []
    for step in refine(start, end, maximum, *per_connector):
        cap, *limits = step.value
        total = Limit(sum(limit.limit for limit in limits if limit is not None))
        if cap is not None and cap.limit < total.limit:
            total = cap
        steps.append(Step(step.start, step.end, total))
    return _merged(steps)


def _merged(steps: Iterable[Step[T]]) -> list[Step[T]]:
    """``steps`` with neighbours of equal value joined."""
    joined: list[Step[T]] = []
    for step in steps:
        if joined and joined[-1].value == step.value:
            joined[-1] = Step(joined[-1].start, step.end, step.value)
        else:
            joined.append(step)
    return joined


def default_unit(profiles: Iterable[InstalledProfile]) -> ChargingRateUnitType:
    """The unit to report in when none is asked for: A if every profile is in A, else W."""
    units = {item.profile.charging_schedule.charging_rate_unit for item in profiles}
    return A if units == {A} else W


def reported_periods(
    steps: Sequence[Step[Limit]], origin: datetime, duration: int
) -> tuple[ChargingSchedulePeriod, ...]:
    """The periods of a reported schedule of ``duration`` seconds from ``origin`` (a whole second): a second
    in which the limit changes gets the least limit of that second, so nothing more is ever reported
    allowed than the steps allow. Adjacent equal periods are merged."""
    pieces: list[tuple[int, int, Limit]] = []
    fractional: set[int] = set()
    for step in steps:
        left = (step.start - origin) / timedelta(seconds=1)
        right = (step.end - origin) / timedelta(seconds=1)
        whole_left, whole_right = math.ceil(left), math.floor(right)
        if whole_left < whole_right:
            pieces.append((whole_left, whole_right, step.value))
        fractional |= {math.floor(edge) for edge in (left, right) if edge != math.floor(edge)}
    for second in fractional:
        overlapping = [
            step.value
            for step in steps
            if (step.start - origin) / timedelta(seconds=1) < second + 1
            and (step.end - origin) / timedelta(seconds=1) > second
        ]
        pieces.append((second, second + 1, min(overlapping, key=lambda limit: limit.limit)))
    periods: list[ChargingSchedulePeriod] = []
    for begin, _, value in sorted(pieces, key=lambda piece: piece[0]):
        if begin < 0 or begin >= duration:
            continue
        period = ChargingSchedulePeriod(
            start_period=begin, limit=round_down(value.limit), number_phases=value.number_phases
        )
        if periods and (periods[-1].limit, periods[-1].number_phases) == (period.limit, period.number_phases):
            continue
        periods.append(period)
    return tuple(periods)
