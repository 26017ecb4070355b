"""What SetChargingProfile, ClearChargingProfile and a RemoteStartTransaction's profile do to the installed
profiles (spec 3.13.1, 3.13.2, 5.5, 5.11, 5.16, 6.13, 7.8, 9.4), and how the ChargePointMaxProfile is shared
among connectors (3.13.3), as table tests of pure functions."""

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from actors.ocpp import (
    ChargingProfile,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ChargingSchedule,
    ChargingSchedulePeriod,
    ClearChargingProfileRequest,
    ClearChargingProfileStatus,
    RecurrencyKindType,
)
from actors.smart_charging.profiles import (
    InstalledProfile,
    ProfileLimits,
    RunningTransaction,
    clear_charging_profiles,
    end_transaction,
    install_for_transaction,
    remote_start_profile_status,
    set_charging_profile,
)
from actors.smart_charging.sharing import Claim, share

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
A, W = ChargingRateUnitType.A, ChargingRateUnitType.W
CP_MAX = ChargingProfilePurposeType.CHARGE_POINT_MAX_PROFILE
TX_DEFAULT = ChargingProfilePurposeType.TX_DEFAULT_PROFILE
TX = ChargingProfilePurposeType.TX_PROFILE
LIMITS = ProfileLimits(max_stack_level=10, max_periods=5, max_installed=4, units=frozenset({A, W}))
RUNNING = RunningTransaction(local_id=-1, transaction_id=101)


def make(
    profile_id: int = 1,
    purpose: ChargingProfilePurposeType = TX_DEFAULT,
    stack_level: int = 0,
    *,
    transaction_id: int | None = None,
    periods: tuple[tuple[int, float], ...] = ((0, 16.0),),
    unit: ChargingRateUnitType = A,
    **changes: object,
) -> ChargingProfile:
    charging_profile = ChargingProfile(
        charging_profile_id=profile_id,
        stack_level=stack_level,
        charging_profile_purpose=purpose,
        charging_profile_kind=ChargingProfileKindType.ABSOLUTE,
        transaction_id=transaction_id,
        charging_schedule=ChargingSchedule(
            charging_rate_unit=unit,
            charging_schedule_period=tuple(
                ChargingSchedulePeriod(start_period=begin, limit=limit) for begin, limit in periods
            ),
            start_schedule=NOW,
        ),
    )
    return attrs.evolve(charging_profile, **changes)  # type: ignore[arg-type]


def set_on(
    connector_id: int,
    charging_profile: ChargingProfile,
    installed: tuple[InstalledProfile, ...] = (),
    *,
    running: RunningTransaction | None = None,
    limits: ProfileLimits = LIMITS,
) -> ChargingProfileStatus:
    change = set_charging_profile(
        installed, connector_id, charging_profile, connectors=2, running=running, limits=limits, now=NOW
    )
    return ChargingProfileStatus.ACCEPTED if change.accepted else ChargingProfileStatus.REJECTED


ACCEPTED, REJECTED = ChargingProfileStatus.ACCEPTED, ChargingProfileStatus.REJECTED


@pytest.mark.parametrize(
    ("connector_id", "charging_profile", "running", "expected"),
    [
        # 3.13.1: ChargePointMaxProfile only at connector 0
        (0, make(purpose=CP_MAX), None, ACCEPTED),
        (1, make(purpose=CP_MAX), None, REJECTED),
        # TxDefaultProfile at connector 0 or at one connector, with or without a transaction
        (0, make(), None, ACCEPTED),
        (2, make(), None, ACCEPTED),
        (1, make(), RUNNING, ACCEPTED),
        (3, make(), None, REJECTED),  # no connector 3
        (1, make(transaction_id=101), RUNNING, REJECTED),  # 7.8: transactionId only for a TxProfile
        # TxProfile: only at a connector with a transaction (TC_058_1), of that transactionId (TC_058_2)
        (1, make(purpose=TX, transaction_id=101), RUNNING, ACCEPTED),
        (1, make(purpose=TX), RUNNING, ACCEPTED),  # without transactionId: the running one
        (1, make(purpose=TX, transaction_id=101), None, REJECTED),
        (1, make(purpose=TX), None, REJECTED),
        (1, make(purpose=TX, transaction_id=999), RUNNING, REJECTED),
        (1, make(purpose=TX, transaction_id=101), RunningTransaction(-1, None), REJECTED),  # id not known yet
        (0, make(purpose=TX), RUNNING, REJECTED),  # 3.13.1: TxProfile only at a connector > 0
        # the schedule itself (7.13, 7.14, 9.4)
        (1, make(stack_level=10), None, ACCEPTED),
        (1, make(stack_level=11), None, REJECTED),  # ChargeProfileMaxStackLevel
        (1, make(periods=tuple((60 * n, 16.0) for n in range(5))), None, ACCEPTED),
        (
            1,
            make(periods=tuple((60 * n, 16.0) for n in range(6))),
            None,
            REJECTED,
        ),  # ChargingScheduleMaxPeriods
        (1, make(periods=((10, 16.0),)), None, REJECTED),  # the first period starts at 0
        (1, make(periods=((0, 16.0), (60, 8.0), (60, 6.0))), None, REJECTED),  # starts increase
        (1, make(periods=((0, -1.0),)), None, REJECTED),
        (1, make(valid_from=NOW, valid_to=NOW), None, REJECTED),
        (
            1,
            make(charging_profile_kind=ChargingProfileKindType.RECURRING),
            None,
            REJECTED,
        ),  # no recurrencyKind
        (
            1,
            make(
                charging_profile_kind=ChargingProfileKindType.RECURRING,
                recurrency_kind=RecurrencyKindType.DAILY,
            ),
            None,
            ACCEPTED,
        ),
    ],
)
def test_set_charging_profile_purpose_rules(
    connector_id: int,
    charging_profile: ChargingProfile,
    running: RunningTransaction | None,
    expected: ChargingProfileStatus,
) -> None:
    assert set_on(connector_id, charging_profile, running=running) is expected


def test_a_unit_the_charge_point_does_not_allow_is_rejected() -> None:
    current_only = attrs.evolve(LIMITS, units=frozenset({A}))
    assert set_on(1, make(unit=A), limits=current_only) is ACCEPTED
    assert set_on(1, make(unit=W), limits=current_only) is REJECTED


def installed(
    *items: tuple[int, ChargingProfile] | tuple[int, ChargingProfile, int],
) -> tuple[InstalledProfile, ...]:
    return tuple(InstalledProfile(*item) for item in items)


@pytest.mark.parametrize(
    ("before", "connector_id", "new", "after"),
    [
        # the same chargingProfileId replaces, wherever it was
        (installed((1, make(1))), 1, make(1, stack_level=2), {1: 1}),
        (installed((1, make(1))), 0, make(1, purpose=CP_MAX), {1: 0}),
        # the same stackLevel and purpose replaces, on the same connector (3.13.2, 5.16.3)
        (installed((1, make(1))), 1, make(2), {2: 1}),
        (installed((1, make(1))), 2, make(2), {1: 1, 2: 2}),
        (installed((0, make(1))), 1, make(2), {1: 0, 2: 1}),  # connector 0's stays (3.13.1)
        # another level or purpose stacks next to it
        (installed((1, make(1))), 1, make(2, stack_level=1), {1: 1, 2: 1}),
        (installed((0, make(1, purpose=CP_MAX))), 0, make(2), {1: 0, 2: 0}),
        # a profile whose validTo has passed is forgotten
        (installed((1, make(1, valid_to=NOW))), 1, make(2, stack_level=1), {2: 1}),
    ],
)
def test_replacement_by_id_or_by_stack_level_and_purpose(
    before: tuple[InstalledProfile, ...], connector_id: int, new: ChargingProfile, after: dict[int, int]
) -> None:
    change = set_charging_profile(
        before, connector_id, new, connectors=2, running=None, limits=LIMITS, now=NOW
    )
    assert change.accepted
    assert {item.id: item.connector_id for item in change.profiles} == after
    assert change.removed == {item.id for item in before} - after.keys()
    assert change.added == InstalledProfile(connector_id, new)


def test_max_charging_profiles_installed_counts_what_remains_after_replacement() -> None:
    full = installed(*((1, make(n, stack_level=n)) for n in range(4)))
    assert set_on(1, make(9, stack_level=9), full) is REJECTED
    assert set_on(1, make(9, stack_level=3), full) is ACCEPTED  # replaces level 3


def test_a_tx_profile_belongs_to_the_running_transaction() -> None:
    change = set_charging_profile(
        (), 1, make(5, TX, transaction_id=101), connectors=2, running=RUNNING, limits=LIMITS, now=NOW
    )
    assert change.added == InstalledProfile(1, make(5, TX, transaction_id=101), transaction=-1)


def test_a_remote_start_profile_is_a_tx_profile_without_transaction_id() -> None:
    # 5.16.2; TC_059 and TC_060
    assert remote_start_profile_status(make(purpose=TX), LIMITS) is ACCEPTED
    assert remote_start_profile_status(make(purpose=TX_DEFAULT), LIMITS) is REJECTED
    assert remote_start_profile_status(make(purpose=CP_MAX), LIMITS) is REJECTED
    assert remote_start_profile_status(make(purpose=TX, transaction_id=101), LIMITS) is REJECTED
    assert remote_start_profile_status(make(purpose=TX, stack_level=11), LIMITS) is REJECTED


def test_the_remote_start_profile_replaces_by_stack_level_and_a_later_one_with_the_transaction_id_too() -> (
    None
):
    started = install_for_transaction((), 1, make(5, TX), -1, limits=LIMITS, now=NOW)
    assert started.profiles == (InstalledProfile(1, make(5, TX), -1),)
    running = RunningTransaction(-1, 101)
    same_level = set_charging_profile(
        started.profiles,
        1,
        make(6, TX, transaction_id=101),
        connectors=2,
        running=running,
        limits=LIMITS,
        now=NOW,
    )
    assert [item.id for item in same_level.profiles] == [6]  # 5.16.2: replaced
    other_level = set_charging_profile(
        started.profiles,
        1,
        make(6, TX, 1, transaction_id=101),
        connectors=2,
        running=running,
        limits=LIMITS,
        now=NOW,
    )
    assert [item.id for item in other_level.profiles] == [5, 6]  # installed next to it


def test_the_end_of_a_transaction_takes_its_tx_profiles_only() -> None:
    profiles = installed((1, make(1, TX), -1), (2, make(2, TX), -2), (1, make(3)))
    change = end_transaction(profiles, -1)
    assert [item.id for item in change.profiles] == [2, 3]
    assert change.removed == {1}


CLEAR_SET = installed(
    (0, make(1, CP_MAX)),
    (0, make(2, TX_DEFAULT)),
    (1, make(3, TX_DEFAULT)),
    (1, make(4, TX_DEFAULT, 1)),
    (1, make(5, TX), -1),
)


@pytest.mark.parametrize(
    ("request_", "status", "remaining"),
    [
        (ClearChargingProfileRequest(id=3), ClearChargingProfileStatus.ACCEPTED, [1, 2, 4, 5]),
        (ClearChargingProfileRequest(id=9), ClearChargingProfileStatus.UNKNOWN, [1, 2, 3, 4, 5]),
        # an id clears that profile only, whatever else is said (6.13)
        (
            ClearChargingProfileRequest(id=3, connector_id=0),
            ClearChargingProfileStatus.ACCEPTED,
            [1, 2, 4, 5],
        ),
        (ClearChargingProfileRequest(connector_id=0), ClearChargingProfileStatus.ACCEPTED, [3, 4, 5]),
        (ClearChargingProfileRequest(connector_id=2), ClearChargingProfileStatus.UNKNOWN, [1, 2, 3, 4, 5]),
        (
            ClearChargingProfileRequest(charging_profile_purpose=TX_DEFAULT),
            ClearChargingProfileStatus.ACCEPTED,
            [1, 5],
        ),
        (
            ClearChargingProfileRequest(connector_id=1, charging_profile_purpose=TX_DEFAULT, stack_level=1),
            ClearChargingProfileStatus.ACCEPTED,
            [1, 2, 3, 5],
        ),
        (ClearChargingProfileRequest(stack_level=0), ClearChargingProfileStatus.ACCEPTED, [4]),
        (
            ClearChargingProfileRequest(charging_profile_purpose=CP_MAX, stack_level=1),
            ClearChargingProfileStatus.UNKNOWN,
            [1, 2, 3, 4, 5],
        ),
        (ClearChargingProfileRequest(), ClearChargingProfileStatus.ACCEPTED, []),
    ],
)
def test_clear_charging_profile_by_id_or_by_criteria(
    request_: ClearChargingProfileRequest, status: ClearChargingProfileStatus, remaining: list[int]
) -> None:
    answer, change = clear_charging_profiles(CLEAR_SET, request_)
    assert answer is status
    assert [item.id for item in change.profiles] == remaining
    assert change.removed == {1, 2, 3, 4, 5} - set(remaining)


# --- sharing the ChargePointMaxProfile ----------------------------------------------------------------------

EARLY, LATE = NOW, NOW + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("maximum", "claims", "offered"),
    [
        # no ChargePointMaxProfile: each its own limit
        (None, [Claim(1, 11000, since=EARLY), Claim(2, 22000)], {1: 11000, 2: 22000}),
        # equal parts among the charging connectors
        (16000, [Claim(1, 22000, since=EARLY), Claim(2, 22000, since=LATE)], {1: 8000, 2: 8000}),
        # one that needs less leaves the rest to the other
        (16000, [Claim(1, 3000, since=EARLY), Claim(2, 22000, since=LATE)], {1: 3000, 2: 13000}),
        # an idle connector is offered what is left, up to its own limit
        (16000, [Claim(1, 10000, since=EARLY), Claim(2, 22000)], {1: 10000, 2: 6000}),
        (16000, [Claim(1, 22000, since=EARLY), Claim(2, 22000)], {1: 16000, 2: 0}),
        # minChargingRate: the transaction that began last pauses if the first would get less than its minimum
        (
            10000,
            [Claim(1, 22000, minimum_w=6000, since=EARLY), Claim(2, 22000, since=LATE)],
            {1: 10000, 2: 0},
        ),
        (
            12000,
            [Claim(1, 22000, minimum_w=6000, since=EARLY), Claim(2, 22000, minimum_w=6000, since=LATE)],
            {1: 6000, 2: 6000},
        ),
        # nothing at all
        (0, [Claim(1, 22000, since=EARLY), Claim(2, 22000)], {1: 0, 2: 0}),
    ],
)
def test_sharing_the_charge_point_max_profile(
    maximum: float | None, claims: list[Claim], offered: dict[int, float]
) -> None:
    assert share(maximum, claims) == pytest.approx(offered)
    if maximum is not None:
        charging = [claim.connector_id for claim in claims if claim.since is not None]
        assert sum(share(maximum, claims)[number] for number in charging) <= maximum + 1e-9
