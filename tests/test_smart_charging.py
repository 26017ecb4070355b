"""The Smart Charging profile of a charge point against a scripted Central System, in virtual time (spec 3.13,
5.5, 5.7, 5.11, 5.16), in the manner of the official compliance test cases TC_056, TC_057, TC_058_1,
TC_058_2, TC_082, TC_066, TC_067, TC_072, TC_059 and TC_060: exact messages, exact times, and what the
simulated EVs draw.

The connectors are 3-phase at 230 V with at most 22 kW (31.8 A, rounded down), so 1 A is 690 W.
"""

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
import trio
import trio.testing
from scripted_csms import ScriptedCsms
from test_connector import Csms, Site, bring_up
from test_offline_queue import Station, start_charging

from actors.ocpp import (
    AuthorizeRequest,
    ChargePointStatus,
    ChargingProfile,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ChargingSchedule,
    ChargingSchedulePeriod,
    ClearChargingProfileRequest,
    ClearChargingProfileResponse,
    ClearChargingProfileStatus,
    GetCompositeScheduleRequest,
    GetCompositeScheduleResponse,
    GetCompositeScheduleStatus,
    Measurand,
    MeterValuesRequest,
    Reason,
    RecurrencyKindType,
    RemoteStartStopStatus,
    RemoteStartTransactionRequest,
    RemoteStartTransactionResponse,
    SetChargingProfileRequest,
    SetChargingProfileResponse,
    StartTransactionRequest,
    StopTransactionRequest,
)
from fleet.simulated import EvModel, SimulatedConnector

S = ChargePointStatus
A, W = ChargingRateUnitType.A, ChargingRateUnitType.W
Kind = ChargingProfileKindType
CP_MAX = ChargingProfilePurposeType.CHARGE_POINT_MAX_PROFILE
TX_DEFAULT = ChargingProfilePurposeType.TX_DEFAULT_PROFILE
TX = ChargingProfilePurposeType.TX_PROFILE
ACCEPTED, REJECTED = ChargingProfileStatus.ACCEPTED, ChargingProfileStatus.REJECTED
EV = EvModel(max_power_w=11_000, battery_wh=100_000)
OFFERED = "Power.Offered,Current.Offered,Power.Active.Import"
LOCAL_LIMIT_A = 31.8  # 22000 W / 690 W per A, rounded down


class RecordingConnector(SimulatedConnector):
    """A simulated connector that remembers every offered limit, with its trio time."""

    def __init__(self) -> None:
        super().__init__()
        self.offers: list[tuple[float, float]] = []

    def offer(self, limit_w: float) -> None:
        super().offer(limit_w)
        self.offers.append((trio.current_time(), limit_w))


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedCsms]:
    async with trio.open_nursery() as nursery:
        yield ScriptedCsms(nursery)
        nursery.cancel_scope.cancel()


def charging_profile(
    profile_id: int,
    purpose: ChargingProfilePurposeType,
    periods: list[tuple[int, float]],
    *,
    stack_level: int = 0,
    kind: Kind = Kind.ABSOLUTE,
    start: datetime | None = None,
    duration: int | None = None,
    unit: ChargingRateUnitType = A,
    transaction_id: int | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    recurrency: RecurrencyKindType | None = None,
) -> ChargingProfile:
    return ChargingProfile(
        charging_profile_id=profile_id,
        recurrency_kind=recurrency,
        stack_level=stack_level,
        charging_profile_purpose=purpose,
        charging_profile_kind=kind,
        transaction_id=transaction_id,
        valid_from=valid_from,
        valid_to=valid_to,
        charging_schedule=ChargingSchedule(
            charging_rate_unit=unit,
            charging_schedule_period=tuple(
                ChargingSchedulePeriod(start_period=begin, limit=limit, number_phases=3)
                for begin, limit in periods
            ),
            duration=duration,
            start_schedule=start,
        ),
    )


async def set_profile(csms: Csms, connector_id: int, profile: ChargingProfile) -> ChargingProfileStatus:
    answer = await csms.call(
        SetChargingProfileRequest(connector_id=connector_id, cs_charging_profiles=profile)
    )
    assert isinstance(answer, SetChargingProfileResponse)
    return answer.status


async def composite(
    csms: Csms, connector_id: int, duration: int, unit: ChargingRateUnitType | None = A
) -> GetCompositeScheduleResponse:
    request = GetCompositeScheduleRequest(
        connector_id=connector_id, duration=duration, charging_rate_unit=unit
    )
    answer = await csms.call(request)
    assert isinstance(answer, GetCompositeScheduleResponse)
    return answer


def expected_schedule(
    connector_id: int,
    at: datetime,
    duration: int,
    periods: list[tuple[int, float]],
    unit: ChargingRateUnitType = A,
) -> GetCompositeScheduleResponse:
    """The GetCompositeSchedule.conf of 6.22 for ``periods`` from ``at``."""
    return GetCompositeScheduleResponse(
        status=GetCompositeScheduleStatus.ACCEPTED,
        connector_id=connector_id,
        schedule_start=at,
        charging_schedule=ChargingSchedule(
            charging_rate_unit=unit,
            charging_schedule_period=tuple(
                ChargingSchedulePeriod(start_period=begin, limit=limit, number_phases=3 if phases else None)
                for begin, limit, phases in [(*period, period[1] != LOCAL_LIMIT_A) for period in periods]
            ),
            duration=duration,
            start_schedule=at,
        ),
    )


def readings(request: MeterValuesRequest) -> dict[Measurand | None, str]:
    (meter_value,) = request.meter_value
    return {value.measurand: value.value for value in meter_value.sampled_value}


def now(site: Site) -> datetime:
    return site.charge_point.clock.now()


async def start_session(site: Site, plug: SimulatedConnector | None = None) -> float:
    """Plug in and present TAG-1 at connector 1 (or ``plug``); the trio time StartTransaction arrived."""
    plug = plug or site.plugs[0]
    plug.plug_in(EV)
    plug.present_id_tag("TAG-1")
    await site.csms.expect(AuthorizeRequest)
    start = await site.csms.expect(StartTransactionRequest)
    return start.time


# --- TC_056, TC_057, TC_058, TC_082: central smart charging ------------------------------------------------


async def test_tc_056_a_tx_default_profile_limits_the_next_transaction(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, MeterValuesSampledData=OFFERED)
        default = charging_profile(1, TX_DEFAULT, [(0, 6)], start=now(site))
        assert await set_profile(site.csms, 1, default) is ACCEPTED
        started = await start_session(site)
        sample = await site.csms.expect(MeterValuesRequest)
        assert sample.time == started + 60
        assert readings(sample.request) == {
            Measurand.POWER_OFFERED: "4140",  # 6 A x 3 phases x 230 V (7.12)
            Measurand.CURRENT_OFFERED: "6",
            Measurand.POWER_ACTIVE_IMPORT: "4140",  # the EV could take 11 kW
        }
        assert site.csms.statuses_of(1) == [S.PREPARING, S.CHARGING]
        assert site.plugs[0].energy_wh() == pytest.approx(4140 * 60 / 3600)
        nursery.cancel_scope.cancel()


async def test_tc_057_a_tx_profile_limits_the_running_transaction_from_its_start_schedule(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        plugs = [RecordingConnector(), RecordingConnector()]
        site = await bring_up(nursery, scripted, plugs=plugs, MeterValueSampleInterval="0")
        started = await start_session(site)
        await trio.sleep(10)
        begin = now(site)
        tx = charging_profile(
            2,
            TX,
            [(0, 10), (120, 16)],
            start=begin,
            duration=300,
            transaction_id=101,
            valid_from=begin,
            valid_to=begin + timedelta(seconds=600),
        )
        assert await set_profile(site.csms, 1, tx) is ACCEPTED
        answered = trio.current_time()
        await trio.sleep(400)
        assert plugs[0].offers == [
            (0.0, 22000.0),  # the connector's own maximum, from the power-on
            (answered, 6900.0),
            (answered + 120, 11040.0),
            (answered + 300, 22000.0),  # the duration is over: no limit but its own
        ]
        assert started < answered
        nursery.cancel_scope.cancel()


async def test_tc_058_1_a_tx_profile_without_a_transaction_is_rejected(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        tx = charging_profile(1, TX, [(0, 10)], transaction_id=1, start=now(site))
        assert await set_profile(site.csms, 1, tx) is REJECTED
        assert site.charge_point.smart_charging.installed == ()
        nursery.cancel_scope.cancel()


async def test_tc_058_2_a_tx_profile_of_another_transaction_is_rejected(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        await start_session(site)
        tx = charging_profile(1, TX, [(0, 10)], transaction_id=102, start=now(site))
        assert await set_profile(site.csms, 1, tx) is REJECTED
        assert site.plugs[0].read(Measurand.POWER_OFFERED, None) == 22000
        nursery.cancel_scope.cancel()


async def test_tc_082_a_tx_default_profile_set_during_a_transaction_applies_to_it_at_once(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, MeterValuesSampledData=OFFERED)
        started = await start_session(site)
        first = await site.csms.expect(MeterValuesRequest)
        assert readings(first.request)[Measurand.POWER_OFFERED] == "22000"
        default = charging_profile(1, TX_DEFAULT, [(0, 8)], start=now(site))
        assert await set_profile(site.csms, 0, default) is ACCEPTED  # connector 0: for every connector
        assert site.plugs[0].read(Measurand.POWER_OFFERED, None) == 5520
        second = await site.csms.expect(MeterValuesRequest)
        assert second.time == started + 120
        assert readings(second.request) == {
            Measurand.POWER_OFFERED: "5520",
            Measurand.CURRENT_OFFERED: "8",
            Measurand.POWER_ACTIVE_IMPORT: "5520",
        }
        expected = expected_schedule(1, now(site), 300, [(0, 8)])
        assert await composite(site.csms, 1, 300) == expected
        nursery.cancel_scope.cancel()


# --- TC_066, TC_067, TC_072: the Composite Schedule ---------------------------------------------------------


async def test_tc_066_the_composite_schedule_of_three_purposes(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        await start_session(site)
        begin = now(site)
        assert (
            await set_profile(
                site.csms, 0, charging_profile(1, CP_MAX, [(0, 10)], start=begin, duration=86400)
            )
            is ACCEPTED
        )
        default = charging_profile(2, TX_DEFAULT, [(0, 6), (200, 12)], start=begin)
        assert await set_profile(site.csms, 1, default) is ACCEPTED
        tx = charging_profile(
            3, TX, [(0, 8), (100, 16)], start=begin + timedelta(seconds=100), duration=150, transaction_id=101
        )
        assert await set_profile(site.csms, 1, tx) is ACCEPTED
        # TxDefaultProfile 6 A until the TxProfile starts at 100 s (8 A, then 16 A from 200 s, capped at 10 A
        # by the ChargePointMaxProfile); after its 150 s the TxDefaultProfile again: 12 A, capped at 10 A
        assert await composite(site.csms, 1, 400) == expected_schedule(
            1, begin, 400, [(0, 6), (100, 8), (200, 10)]
        )
        # the charge point as a whole: connector 1's limit and connector 2's 22 kW, at most 10 A (6900 W)
        grid = await composite(site.csms, 0, 400, W)
        assert grid == expected_schedule(0, begin, 400, [(0, 6900.0)], W)
        assert await composite(site.csms, 3, 400) == GetCompositeScheduleResponse(
            status=GetCompositeScheduleStatus.REJECTED
        )
        nursery.cancel_scope.cancel()


async def test_tc_067_clear_charging_profile_by_id_by_criteria_and_all(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms = site.csms
        begin = now(site)
        default = charging_profile(
            1, TX_DEFAULT, [(0, 6), (60, 8), (200, 10)], stack_level=1, start=begin, duration=400
        )
        limited = expected_schedule(1, begin, 400, [(0, 6), (60, 8), (200, 10)])
        unlimited = expected_schedule(1, begin, 400, [(0, LOCAL_LIMIT_A)])
        clears = [
            ClearChargingProfileRequest(id=1),
            ClearChargingProfileRequest(connector_id=1, charging_profile_purpose=TX_DEFAULT, stack_level=1),
            ClearChargingProfileRequest(),
        ]
        for clear in clears:
            assert await set_profile(csms, 1, default) is ACCEPTED
            assert await composite(csms, 1, 400) == limited
            assert await csms.call(clear) == ClearChargingProfileResponse(
                status=ClearChargingProfileStatus.ACCEPTED
            )
            assert await composite(csms, 1, 400) == unlimited
        assert await csms.call(clears[0]) == ClearChargingProfileResponse(
            status=ClearChargingProfileStatus.UNKNOWN
        )
        nursery.cancel_scope.cancel()


async def test_tc_072_stacked_tx_default_profiles(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        begin = now(site)
        validity = {"valid_from": begin, "valid_to": begin + timedelta(seconds=401)}
        lower = charging_profile(
            1, TX_DEFAULT, [(0, 6), (100, 8), (200, 10)], start=begin, duration=400, **validity
        )
        higher = charging_profile(
            2, TX_DEFAULT, [(0, 12)], stack_level=1, start=begin, duration=150, **validity
        )
        assert await set_profile(site.csms, 1, lower) is ACCEPTED
        assert await set_profile(site.csms, 1, higher) is ACCEPTED
        # the higher stack level for its 150 s, then the lower one again (3.13.2)
        expected = expected_schedule(1, begin, 400, [(0, 12), (150, 8), (200, 10)])
        assert await composite(site.csms, 1, 400) == expected
        nursery.cancel_scope.cancel()


# --- TC_059, TC_060: RemoteStartTransaction with a charging profile -----------------------------------------


async def test_tc_059_remote_start_with_a_tx_profile_applies_it_to_the_transaction(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, MeterValueSampleInterval="0")
        plug, csms = site.plugs[0], site.csms
        plug.plug_in(EV)
        await trio.sleep(5)
        remote = charging_profile(5, TX, [(0, 6), (120, 10)], kind=Kind.RELATIVE)
        answer = await csms.call(
            RemoteStartTransactionRequest(id_tag="APP-1", connector_id=1, charging_profile=remote)
        )
        assert answer == RemoteStartTransactionResponse(status=RemoteStartStopStatus.ACCEPTED)
        start = await csms.expect(StartTransactionRequest)  # AuthorizeRemoteTxRequests false: no Authorize
        assert (start.request.connector_id, start.request.id_tag) == (1, "APP-1")
        await trio.sleep(20)
        # relative to the start of the transaction: 6 A for 100 s more, then 10 A
        assert await composite(csms, 1, 300) == expected_schedule(1, now(site), 300, [(0, 6), (100, 10)])
        assert plug.read(Measurand.POWER_OFFERED, None) == 4140
        # 5.16.2: the same stack level with the transaction's id replaces it
        again = charging_profile(6, TX, [(0, 16)], kind=Kind.RELATIVE, transaction_id=101)
        assert await set_profile(csms, 1, again) is ACCEPTED
        assert [item.id for item in site.charge_point.smart_charging.installed] == [6]
        assert plug.read(Measurand.POWER_OFFERED, None) == 11040
        # the TxProfile ends with its transaction (3.13.1)
        plug.present_id_tag("APP-1")
        stop = await csms.expect(StopTransactionRequest)
        assert stop.request.reason is Reason.LOCAL
        assert site.charge_point.smart_charging.installed == ()
        assert plug.read(Measurand.POWER_OFFERED, None) == 22000
        await csms.wait_status(1, S.FINISHING)
        assert csms.statuses_of(1) == [S.PREPARING, S.CHARGING, S.FINISHING]
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "remote",
    [
        charging_profile(5, TX_DEFAULT, [(0, 6)], kind=Kind.RELATIVE),  # TC_060: not a TxProfile
        charging_profile(5, CP_MAX, [(0, 6)], kind=Kind.RELATIVE),
        charging_profile(5, TX, [(0, 6)], kind=Kind.RELATIVE, transaction_id=101),  # 5.16.2: no transactionId
        charging_profile(5, TX, [(0, 6)], kind=Kind.RELATIVE, stack_level=11),  # ChargeProfileMaxStackLevel
    ],
)
async def test_tc_060_remote_start_with_an_unfit_profile_is_rejected_and_starts_nothing(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms, remote: ChargingProfile
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        site.plugs[0].plug_in(EV)
        answer = await site.csms.call(
            RemoteStartTransactionRequest(id_tag="APP-1", connector_id=1, charging_profile=remote)
        )
        assert answer == RemoteStartTransactionResponse(status=RemoteStartStopStatus.REJECTED)
        await trio.sleep(30)
        assert site.charge_point.connectors[1].transaction is None
        assert site.csms.statuses_of(1) == [S.PREPARING]
        assert site.charge_point.smart_charging.installed == ()
        nursery.cancel_scope.cancel()


# --- the offered power --------------------------------------------------------------------------------------


async def test_the_offer_changes_exactly_at_a_period_boundary_and_a_recurring_profile_starts_again(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        plugs = [RecordingConnector(), RecordingConnector()]
        site = await bring_up(nursery, scripted, plugs=plugs, MeterValueSampleInterval="0")
        boot = trio.current_time()
        daily = charging_profile(
            1,
            TX_DEFAULT,
            [(0, 16), (600, 6)],
            kind=Kind.RECURRING,
            recurrency=RecurrencyKindType.DAILY,
            start=now(site),
            duration=1800,
        )
        assert await set_profile(site.csms, 0, daily) is ACCEPTED
        await trio.sleep(86400 + 1800 + 60)
        day = 86400
        expected = [(0.0, 22000.0)]
        for start in (boot, boot + day):
            expected += [(start, 11040.0), (start + 600, 4140.0), (start + 1800, 22000.0)]
        assert plugs[0].offers == expected
        assert plugs[1].offers == expected
        nursery.cancel_scope.cancel()


async def test_an_offer_of_nothing_suspends_the_transaction_until_the_limit_rises(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, MeterValueSampleInterval="0")
        default = charging_profile(1, TX_DEFAULT, [(0, 0), (120, 16)], start=now(site))
        assert await set_profile(site.csms, 1, default) is ACCEPTED
        started = await start_session(site)
        charging = await site.csms.wait_status(1, S.CHARGING)
        assert charging - started == 120
        assert site.csms.statuses_of(1) == [S.PREPARING, S.SUSPENDED_EVSE, S.CHARGING]
        assert site.plugs[0].energy_wh() == 0
        nursery.cancel_scope.cancel()


async def test_a_limited_ev_draws_at_most_the_limit_over_an_hour(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, MeterValueSampleInterval="0")
        default = charging_profile(1, TX_DEFAULT, [(0, 6900)], unit=W, start=now(site))
        assert await set_profile(site.csms, 1, default) is ACCEPTED
        await start_session(site)
        before = site.plugs[0].energy_wh()
        await trio.sleep(3600)
        drawn = site.plugs[0].energy_wh() - before
        assert drawn == pytest.approx(6900, rel=1e-9), "6.9 kW for an hour, though the EV takes 11 kW"
        nursery.cancel_scope.cancel()


async def test_the_charge_point_max_profile_is_shared_by_the_charging_connectors(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, MeterValueSampleInterval="0")
        one, two = site.plugs
        maximum = charging_profile(1, CP_MAX, [(0, 16)], start=now(site))  # 11040 W for both together
        assert await set_profile(site.csms, 0, maximum) is ACCEPTED
        await start_session(site, one)
        offered = (one.read(Measurand.POWER_OFFERED, None), two.read(Measurand.POWER_OFFERED, None))
        assert offered == (11040, 0), (
            "all to the one transaction: its EV's 11 kW is not known to the charge point"
        )
        await trio.sleep(600)
        await start_session(site, two)
        assert one.read(Measurand.POWER_OFFERED, None) == two.read(Measurand.POWER_OFFERED, None) == 5520
        first = one.energy_wh() + two.energy_wh()
        await trio.sleep(1800)
        together = one.energy_wh() + two.energy_wh() - first
        assert together == pytest.approx(11040 / 2, rel=1e-9), "16 A x 690 W/A for half an hour, shared"
        one.present_id_tag("TAG-1")
        await site.csms.expect(StopTransactionRequest)
        assert two.read(Measurand.POWER_OFFERED, None) == 11040  # all of it again
        nursery.cancel_scope.cancel()


# --- across reboots -----------------------------------------------------------------------------------------


async def test_profiles_survive_a_power_cut_but_the_transactions_tx_profile_does_not(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted)
        csms = await station.power_on()
        await csms.online()
        assert station.charge_point is not None
        begin = station.wall()
        await set_profile(csms, 0, charging_profile(1, CP_MAX, [(0, 20)], start=begin))
        await set_profile(csms, 0, charging_profile(2, TX_DEFAULT, [(0, 16)], start=begin))
        await start_charging(csms, station.plugs[0])
        await set_profile(csms, 1, charging_profile(3, TX, [(0, 10)], start=begin, transaction_id=101))
        assert [item.id for item in station.charge_point.smart_charging.installed] == [1, 2, 3]
        station.cut_power()
        await trio.sleep(60)
        csms = await station.power_on()
        stop = await csms.expect(StopTransactionRequest)
        assert stop.request.reason is Reason.POWER_LOSS
        await csms.online()
        assert [item.id for item in station.charge_point.smart_charging.installed] == [1, 2]
        assert sorted(await station.state.load_charging_profiles()) == [1, 2]
        assert station.plugs[1].read(Measurand.POWER_OFFERED, None) == 11040  # 16 A by the TxDefaultProfile
        nursery.cancel_scope.cancel()
