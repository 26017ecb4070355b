"""The maths of smart charging, without sockets or clocks: one profile over time (spec 7.8, 7.13, 7.14),
stacking and combining purposes into the Composite Schedule (3.13.2, 3.13.3), units (7.12), whole-second
reports (5.7).

The property test checks the Composite Schedule at every second of random windows against a brute-force
evaluator written here from the specification, independently of ``actors.smart_charging``.
"""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.ocpp import (
    ChargingProfile,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingRateUnitType,
    ChargingSchedule,
    ChargingSchedulePeriod,
    RecurrencyKindType,
)
from actors.smart_charging.composite import (
    Limit,
    Outlet,
    connector_limits,
    grid_limits,
    reported_periods,
    round_down,
    with_local_limit,
)
from actors.smart_charging.profiles import InstalledProfile
from actors.smart_charging.schedule import Step, spans

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
A, W = ChargingRateUnitType.A, ChargingRateUnitType.W
Kind, Purpose = ChargingProfileKindType, ChargingProfilePurposeType
CP_MAX, TX_DEFAULT, TX = Purpose.CHARGE_POINT_MAX_PROFILE, Purpose.TX_DEFAULT_PROFILE, Purpose.TX_PROFILE
HOUR = 3600


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def profile(
    periods: list[tuple[int, float]],
    *,
    purpose: Purpose = TX_DEFAULT,
    stack_level: int = 0,
    kind: Kind = Kind.ABSOLUTE,
    start: datetime | None = T0,
    duration: int | None = None,
    unit: ChargingRateUnitType = A,
    recurrency: RecurrencyKindType | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    profile_id: int = 1,
    number_phases: int | None = None,
    min_charging_rate: float | None = None,
) -> ChargingProfile:
    return ChargingProfile(
        charging_profile_id=profile_id,
        stack_level=stack_level,
        charging_profile_purpose=purpose,
        charging_profile_kind=kind,
        recurrency_kind=recurrency,
        valid_from=valid_from,
        valid_to=valid_to,
        charging_schedule=ChargingSchedule(
            charging_rate_unit=unit,
            charging_schedule_period=tuple(
                ChargingSchedulePeriod(start_period=begin, limit=limit, number_phases=number_phases)
                for begin, limit in periods
            ),
            duration=duration,
            start_schedule=None if kind is Kind.RELATIVE else start,
            min_charging_rate=min_charging_rate,
        ),
    )


def values(steps: list[Step[Limit | None]]) -> list[tuple[float, float | None]]:
    """The steps as (seconds from T0, limit)."""
    return [
        ((step.start - T0).total_seconds(), None if step.value is None else step.value.limit)
        for step in steps
    ]


# --- one profile -------------------------------------------------------------------------------------------


def test_the_daily_profile_of_the_specification_example_limits_from_8_to_20() -> None:
    # 3.13.7: a daily TxDefaultProfile, 11 kW, 6 kW between 08:00 and 20:00, from 2013-01-01
    daily = profile(
        [(0, 11000), (28800, 6000), (72000, 11000)],
        kind=Kind.RECURRING,
        recurrency=RecurrencyKindType.DAILY,
        start=datetime(2013, 1, 1, tzinfo=UTC),
        duration=86400,
        unit=W,
        number_phases=3,
    )
    midnight = datetime(2026, 11, 21, tzinfo=UTC)
    found = spans(daily, midnight, midnight + timedelta(days=2), relative_start=midnight)
    assert [(span.start.hour, span.end - span.start, span.limit) for span in found] == [
        (0, timedelta(hours=8), 11000),
        (8, timedelta(hours=12), 6000),
        (20, timedelta(hours=4), 11000),
        (0, timedelta(hours=8), 11000),
        (8, timedelta(hours=12), 6000),
        (20, timedelta(hours=4), 11000),
    ]


def test_a_weekly_profile_starts_again_after_seven_days_and_never_before_its_start() -> None:
    weekly = profile(
        [(0, 0), (2 * 86400, 32)],
        kind=Kind.RECURRING,
        recurrency=RecurrencyKindType.WEEKLY,
        start=at(0),
        duration=3 * 86400,
    )
    found = spans(weekly, at(-86400), at(15 * 86400), relative_start=at(0))
    assert [((span.start - T0).days, (span.end - T0).days, span.limit) for span in found] == [
        (0, 2, 0),
        (2, 3, 32),
        (7, 9, 0),
        (9, 10, 32),
        (14, 15, 0),  # cut by the window
    ]


def test_a_recurring_duration_longer_than_the_recurrence_is_cut_short_by_the_next_occurrence() -> None:
    daily = profile(
        [(0, 10), (80000, 20)],
        kind=Kind.RECURRING,
        recurrency=RecurrencyKindType.DAILY,
        start=at(0),
        duration=100_000,
    )
    found = spans(daily, at(0), at(2 * 86400), relative_start=at(0))
    assert [((span.start - T0).total_seconds(), span.limit) for span in found] == [
        (0, 10),
        (80000, 20),
        (86400, 10),
        (86400 + 80000, 20),
    ]
    assert found[1].end == at(86400)


def test_validity_duration_and_the_last_period_that_goes_on() -> None:
    absolute = profile([(0, 10), (100, 16)], start=at(0), valid_from=at(50), valid_to=at(500))
    assert [
        (span.start, span.end, span.limit) for span in spans(absolute, at(0), at(1000), relative_start=at(0))
    ] == [
        (at(50), at(100), 10),
        (at(100), at(500), 16),  # validTo ends it
    ]
    ends = profile([(0, 10), (100, 16)], start=at(0), duration=150)
    assert [(span.end, span.limit) for span in spans(ends, at(0), at(1000), relative_start=at(0))] == [
        (at(100), 10),
        (at(150), 16),
    ]
    future = profile([(0, 10)], start=at(300))
    assert [(span.start, span.end) for span in spans(future, at(0), at(1000), relative_start=at(0))] == [
        (at(300), at(1000))
    ]


def test_a_relative_profile_counts_from_the_relative_start_and_ignores_its_start_schedule() -> None:
    relative = profile([(0, 6), (60, 10)], kind=Kind.RELATIVE, duration=120)
    assert [(span.start, span.limit) for span in spans(relative, at(0), at(1000), relative_start=at(30))] == [
        (at(30), 6),
        (at(90), 10),
    ]
    without_start = profile([(0, 6)], start=None, duration=10)  # Absolute without startSchedule: relative
    assert [(span.start, span.end) for span in spans(without_start, at(0), at(99), relative_start=at(5))] == [
        (at(5), at(15))
    ]


# --- stacking and purposes ---------------------------------------------------------------------------------

ONE = Outlet(1, voltage=230, phases=3, max_power_w=22080, transaction=7, started=at(-600))


def installed(
    connector_id: int, charging_profile: ChargingProfile, transaction: int | None = None
) -> InstalledProfile:
    return InstalledProfile(connector_id, charging_profile, transaction)


def test_stacking_the_higher_level_prevails_while_in_force_then_the_lower_one_again() -> None:
    # in the manner of TC_072: level 0 for 400 s (6, 8, 10 A), level 1 for its first 150 s (10 A)
    profiles = [
        installed(1, profile([(0, 6), (100, 8), (200, 10)], duration=400, profile_id=1)),
        installed(1, profile([(0, 10)], stack_level=1, duration=150, profile_id=2)),
    ]
    assert values(connector_limits(profiles, ONE, at(0), at(400), A)) == [(0, 10), (150, 8), (200, 10)]


def test_the_composite_is_the_least_of_charge_point_max_and_the_transaction_limit() -> None:
    profiles = [
        installed(0, profile([(0, 10)], purpose=CP_MAX, duration=86400, profile_id=1)),
        installed(1, profile([(0, 6), (100, 12)], profile_id=2)),  # TxDefaultProfile
        installed(1, profile([(0, 8), (200, 16)], purpose=TX, start=at(50), duration=250, profile_id=3), 7),
    ]
    # TxDefault 6 until the TxProfile begins at 50; TxProfile 8, then 16 capped by 10; after 300 TxDefault 12,
    # capped by 10
    assert values(connector_limits(profiles, ONE, at(0), at(400), A)) == [(0, 6), (50, 8), (250, 10)]


def test_a_tx_profile_of_another_transaction_does_not_apply() -> None:
    other = [installed(1, profile([(0, 8)], purpose=TX, profile_id=3), 8)]
    assert values(connector_limits(other, ONE, at(0), at(10), A)) == [(0, None)]


def test_a_connectors_tx_default_profile_replaces_connector_0s_of_the_same_level_only() -> None:
    profiles = [
        installed(0, profile([(0, 16)], profile_id=1)),
        installed(0, profile([(0, 10)], stack_level=1, duration=100, profile_id=2)),
        installed(1, profile([(0, 8)], stack_level=1, duration=50, profile_id=3)),
    ]
    two = Outlet(2, transaction=None)
    assert values(connector_limits(profiles, ONE, at(0), at(200), A)) == [(0, 8), (50, 16)]
    assert values(connector_limits(profiles, two, at(0), at(200), A)) == [(0, 10), (100, 16)]


def test_limits_in_w_and_a_convert_with_voltage_and_the_fewest_phases() -> None:
    in_w = [installed(1, profile([(0, 6900)], unit=W, profile_id=1))]  # 3 phases assumed: 10 A at 230 V
    assert values(connector_limits(in_w, ONE, at(0), at(10), A)) == [(0, pytest.approx(10.0))]
    single = Outlet(1, voltage=230, phases=1)
    assert values(connector_limits(in_w, single, at(0), at(10), A)) == [(0, pytest.approx(30.0))]
    one_phase = [installed(1, profile([(0, 16)], number_phases=1, profile_id=1))]
    assert values(connector_limits(one_phase, ONE, at(0), at(10), W)) == [(0, pytest.approx(3680.0))]


def test_the_local_limit_applies_where_no_profile_does_and_caps_the_others() -> None:
    profiles = [installed(1, profile([(0, 40), (100, 6)], duration=200, profile_id=1))]
    capped = with_local_limit(connector_limits(profiles, ONE, at(0), at(300), A), ONE, A)
    assert [(round((step.start - T0).total_seconds()), round(step.value.limit, 3)) for step in capped] == [
        (0, 32.0),  # 22080 W at 3 x 230 V
        (100, 6.0),
        (200, 32.0),
    ]


def test_connector_0_reports_the_sum_of_the_connectors_capped_by_charge_point_max() -> None:
    outlets = [Outlet(1, max_power_w=22080), Outlet(2, max_power_w=11040)]
    profiles = [
        installed(0, profile([(0, 40), (60, 20)], purpose=CP_MAX, profile_id=1)),
        installed(1, profile([(0, 10)], duration=30, profile_id=2)),
    ]
    grid = Outlet(0)
    steps = grid_limits(profiles, outlets, grid, at(0), at(100), A)
    assert [((step.start - T0).total_seconds(), round(step.value.limit, 3)) for step in steps] == [
        (0, 26.0),  # 10 + 16
        (30, 40.0),  # 32 + 16 = 48, capped by 40
        (60, 20.0),
    ]


# --- reporting in whole seconds ----------------------------------------------------------------------------


def test_reported_periods_start_at_whole_seconds_and_take_the_least_limit_of_a_second() -> None:
    origin = T0
    start = at(0.4)
    steps = [
        Step(start, at(10.5), Limit(16.0)),
        Step(at(10.5), at(20.25), Limit(6.05)),
        Step(at(20.25), at(30.4), Limit(32.0)),
    ]
    periods = reported_periods(steps, origin, 30)
    assert [(period.start_period, period.limit) for period in periods] == [(0, 16.0), (10, 6.0), (21, 32.0)]


def test_round_down_never_rounds_up_and_absorbs_float_error() -> None:
    assert round_down(16.1 * 230 * 3) == 11109.0
    assert round_down(11000 / 690) == 15.9
    assert round_down(6.7) == 6.7


# --- the property ------------------------------------------------------------------------------------------

WINDOW = 1200
TRANSACTION = 7


def brute_limit(
    charging_profile: ChargingProfile, t: datetime, relative_start: datetime
) -> tuple[float, int | None] | None:
    """One profile's limit at ``t`` from the text of 7.8, 7.13 and 7.14, or None if it says nothing."""
    if charging_profile.valid_from is not None and t < charging_profile.valid_from:
        return None
    if charging_profile.valid_to is not None and t >= charging_profile.valid_to:
        return None
    schedule = charging_profile.charging_schedule
    kind = charging_profile.charging_profile_kind
    base = (
        schedule.start_schedule if kind is not Kind.RELATIVE and schedule.start_schedule else relative_start
    )
    elapsed = (t - base).total_seconds()
    if elapsed < 0:
        return None
    if kind is Kind.RECURRING:
        elapsed %= 86400 if charging_profile.recurrency_kind is RecurrencyKindType.DAILY else 7 * 86400
    if schedule.duration is not None and elapsed >= schedule.duration:
        return None
    chosen = None
    for period in schedule.charging_schedule_period:
        if period.start_period <= elapsed:
            chosen = period
    assert chosen is not None
    return chosen.limit, chosen.number_phases


def brute_in(limit: tuple[float, int | None], unit: ChargingRateUnitType, to: ChargingRateUnitType) -> float:
    value, phases = limit
    if unit == to:
        return value
    volt_amperes = 230.0 * min(phases if phases is not None else 3, 3)
    return value * volt_amperes if to == W else value / volt_amperes


def brute_composite(
    profiles: list[InstalledProfile], t: datetime, unit: ChargingRateUnitType
) -> tuple[float | None, list[float]]:
    """The least of the prevailing limits of connector 1 at ``t``, and those prevailing limits."""

    def best(candidates: list[InstalledProfile], relative_start: datetime) -> float | None:
        in_force = [
            (
                item.profile.stack_level,
                brute_in(limit, item.profile.charging_schedule.charging_rate_unit, unit),
            )
            for item in candidates
            if (limit := brute_limit(item.profile, t, relative_start)) is not None
        ]
        return max(in_force)[1] if in_force else None

    maximum = best(
        [item for item in profiles if item.profile.charging_profile_purpose == CP_MAX], WINDOW_START
    )
    tx = best(
        [
            item
            for item in profiles
            if item.profile.charging_profile_purpose == TX
            and item.connector_id == 1
            and item.transaction == TRANSACTION
        ],
        STARTED,
    )
    own_levels = {
        item.profile.stack_level
        for item in profiles
        if item.profile.charging_profile_purpose == TX_DEFAULT and item.connector_id == 1
    }
    default = best(
        [
            item
            for item in profiles
            if item.profile.charging_profile_purpose == TX_DEFAULT
            and (
                item.connector_id == 1
                or (item.connector_id == 0 and item.profile.stack_level not in own_levels)
            )
        ],
        STARTED,
    )
    prevailing = [limit for limit in (maximum, tx if tx is not None else default) if limit is not None]
    return (min(prevailing) if prevailing else None), prevailing


WINDOW_START = at(0)
STARTED = at(-300)
OUTLET = Outlet(1, voltage=230, phases=3, max_power_w=22080, transaction=TRANSACTION, started=STARTED)


@st.composite
def random_profiles(draw: st.DrawFn) -> list[InstalledProfile]:
    chosen: dict[tuple[int, Purpose, int], InstalledProfile] = {}
    for number in range(draw(st.integers(1, 6))):
        purpose = draw(st.sampled_from([CP_MAX, TX_DEFAULT, TX]))
        connector_id = 0 if purpose is CP_MAX else 1 if purpose is TX else draw(st.sampled_from([0, 1, 2]))
        kind = draw(st.sampled_from(list(Kind)))
        starts = sorted(draw(st.sets(st.integers(1, 900), max_size=3)))
        periods = [(begin, draw(st.integers(0, 640)) / 10) for begin in [0, *starts]]
        if kind is Kind.RECURRING:  # starting yesterday or a week ago, so that it recurs within the window
            recurrency = draw(st.sampled_from(list(RecurrencyKindType)))
            days = 1 if recurrency is RecurrencyKindType.DAILY else 7
            start = at(-days * 86400 + draw(st.integers(-600, WINDOW)))
        else:
            recurrency = None
            start = draw(st.none() | st.integers(-900, WINDOW).map(at))
        valid_from = draw(st.none() | st.integers(-100, WINDOW).map(at))
        valid_to = draw(st.none() | st.integers(0, WINDOW + 100).map(at))
        if valid_from is not None and valid_to is not None and valid_to <= valid_from:
            valid_to = None
        item = InstalledProfile(
            connector_id,
            profile(
                periods,
                purpose=purpose,
                stack_level=draw(st.integers(0, 3)),
                kind=kind,
                start=start,
                duration=draw(st.none() | st.integers(1, 1500)),
                unit=draw(st.sampled_from([A, W])) if draw(st.booleans()) else A,
                recurrency=recurrency,
                valid_from=valid_from,
                valid_to=valid_to,
                profile_id=number,
                number_phases=draw(st.sampled_from([None, 1, 3])),
            ),
            transaction=draw(st.sampled_from([TRANSACTION, 8])) if purpose is TX else None,
        )
        chosen[(connector_id, purpose, item.stack_level)] = item  # one per connector, purpose and level
    return list(chosen.values())


@given(random_profiles(), st.sampled_from([A, W]))
def test_the_composite_schedule_is_the_least_of_the_prevailing_limits_at_every_second(
    profiles: list[InstalledProfile], unit: ChargingRateUnitType
) -> None:
    steps = connector_limits(profiles, OUTLET, WINDOW_START, at(WINDOW), unit)
    assert steps[0].start == WINDOW_START
    assert steps[-1].end == at(WINDOW)
    assert all(earlier.end == later.start for earlier, later in itertools.pairwise(steps))
    reported = reported_periods(with_local_limit(steps, OUTLET, unit), WINDOW_START, WINDOW)
    assert reported[0].start_period == 0
    ceiling = 22080.0 if unit is W else 22080.0 / 690
    index = 0
    for second in range(WINDOW):
        t = at(second)
        while steps[index].end <= t:
            index += 1
        value = steps[index].value
        expected, prevailing = brute_composite(profiles, t, unit)
        if expected is None:
            assert value is None, f"at {second} s"
            continue
        assert value is not None, f"at {second} s"
        assert value.limit == pytest.approx(expected, rel=1e-9), f"at {second} s"
        for limit in prevailing:
            assert value.limit <= limit + 1e-9
        period = [period for period in reported if period.start_period <= second][-1]
        assert period.limit == round_down(min(expected, ceiling)), f"reported at {second} s"


@given(random_profiles())
def test_the_reported_schedule_never_allows_more_than_the_profiles_when_the_request_is_not_on_a_whole_second(
    profiles: list[InstalledProfile],
) -> None:
    now = at(0.6)
    steps = with_local_limit(connector_limits(profiles, OUTLET, now, at(WINDOW), A), OUTLET, A)
    reported = reported_periods(steps, WINDOW_START, WINDOW)
    for tenth in range(6, WINDOW * 10):
        t = at(tenth / 10)
        period = [period for period in reported if period.start_period <= tenth / 10][-1]
        (step,) = [step for step in steps if step.start <= t < step.end]
        assert period.limit <= step.value.limit + 1e-9, f"at {tenth / 10} s"
