"""Local faults: the storage refuses writes (a read-only database file, a full disk), in virtual time, and
once with a real SQLite file. What ``actors/storage_health.py`` promises: connector 0 Faulted with
InternalError (spec 4.9, 7.6), the Central System's CALLs answered, no transaction started that could not be
recorded, the messages of running transactions held in order and sent once, no actor dying, and NoError
again once writes succeed."""

import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import trio
import trio.testing
from failing_storage import READS, REFUSAL, WRITES, SwitchableState, protocol_methods
from scripted_csms import ScriptedCsms
from test_offline_queue import EV, FailingCsms, Station, start_charging
from test_smart_charging import charging_profile

from actors.ocpp import (
    AuthorizationData,
    AuthorizationStatus,
    AuthorizeRequest,
    AvailabilityStatus,
    AvailabilityType,
    CancelReservationRequest,
    ChangeAvailabilityRequest,
    ChangeConfigurationRequest,
    ChargePointErrorCode,
    ChargePointStatus,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ClearCacheRequest,
    ClearCacheStatus,
    ClearChargingProfileRequest,
    ConfigurationStatus,
    ErrorCode,
    ErrorReceived,
    GetConfigurationRequest,
    GetLocalListVersionRequest,
    HeartbeatRequest,
    HeartbeatResponse,
    IdTagInfo,
    MeterValuesRequest,
    MeterValuesResponse,
    Reason,
    RemoteStartStopStatus,
    RemoteStartTransactionRequest,
    ReservationStatus,
    ReserveNowRequest,
    SendLocalListRequest,
    SetChargingProfileRequest,
    StopTransactionRequest,
    UpdateStatus,
    UpdateType,
)
from actors.storage_health import STORAGE_RETRY_INTERVAL, Condition, charge_point_condition
from fleet.simulated import SimulatedConnector
from storage import open_database

S = ChargePointStatus
E = ChargePointErrorCode
FAULTED_INFO = f"storage: {REFUSAL}"


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedCsms]:
    async with trio.open_nursery() as nursery:
        yield ScriptedCsms(nursery)
        nursery.cancel_scope.cancel()


def test_the_double_refuses_every_write_of_the_storage_interface() -> None:
    assert protocol_methods() == READS | WRITES
    assert not READS & WRITES


@pytest.mark.parametrize(
    ("operative", "fault", "condition"),
    [
        (True, None, Condition(S.AVAILABLE, E.NO_ERROR)),
        (False, None, Condition(S.UNAVAILABLE, E.NO_ERROR)),
        (True, "disk full", Condition(S.FAULTED, E.INTERNAL_ERROR, "storage: disk full")),
        (False, "disk full", Condition(S.FAULTED, E.INTERNAL_ERROR, "storage: disk full")),
        (True, "x" * 60, Condition(S.FAULTED, E.INTERNAL_ERROR, "storage: " + "x" * 41)),  # CiString50
    ],
)
def test_connector_zero_is_faulted_with_internal_error_while_the_storage_fails(
    operative: bool, fault: str | None, condition: Condition
) -> None:
    """Spec 4.9: connector 0 is Available, Unavailable or Faulted; 7.6: InternalError."""
    assert charge_point_condition(operative=operative, storage_fault=fault) == condition


def reports_of_connector_zero(csms: FailingCsms) -> list[tuple[S, E, str | None]]:
    return [(r.status, r.error_code, r.info) for r in csms.status_requests if r.connector_id == 0]


def forget_statuses(csms: FailingCsms) -> None:
    csms.statuses.clear()
    csms.status_times.clear()
    csms.status_requests.clear()


async def record_relay(plug: SimulatedConnector, switches: list[bool]) -> None:
    while True:
        await plug.relay_changed.wait()
        switches.append(plug.relay_closed)


async def heartbeat(csms: FailingCsms, station: Station) -> float:
    """The next CALL is a Heartbeat (so nothing else came before it); its time."""
    received = await csms.expect(HeartbeatRequest, HeartbeatResponse(current_time=station.wall()))
    return received.time


async def test_while_writes_fail_nothing_starts_the_central_system_is_answered_then_it_recovers(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    failing = SwitchableState()
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted, state=failing.state)
        csms = await station.power_on()
        await csms.online()
        plug = station.plugs[0]
        switches: list[bool] = []
        nursery.start_soon(record_relay, plug, switches)
        reserve = ReserveNowRequest(
            connector_id=2, expiry_date=station.wall() + timedelta(hours=2), id_tag="TAG-9", reservation_id=7
        )
        assert (await csms.call(reserve)).status is ReservationStatus.ACCEPTED
        profile = charging_profile(5, ChargingProfilePurposeType.TX_DEFAULT_PROFILE, [(0, 16.0)])
        installed = await csms.call(SetChargingProfileRequest(connector_id=0, cs_charging_profiles=profile))
        assert installed.status is ChargingProfileStatus.ACCEPTED
        await csms.wait_status(2, S.RESERVED)
        forget_statuses(csms)

        failing.refusing = True
        plug.plug_in(EV)
        plug.present_id_tag("TAG-1")
        faulted_at = await csms.wait_status(0, S.FAULTED)
        assert reports_of_connector_zero(csms) == [(S.FAULTED, E.INTERNAL_ERROR, FAULTED_INFO)]
        assert station.charge_point is not None
        assert station.charge_point.status is S.FAULTED

        # The Central System's CALLs are answered, saying what could not be done.
        change = ChangeConfigurationRequest(key="MeterValueSampleInterval", value="30")
        assert (await csms.call(change)).status is ConfigurationStatus.REJECTED
        kept = await csms.call(GetConfigurationRequest(key=("MeterValueSampleInterval",)))
        assert [key.value for key in kept.configuration_key] == ["60"]
        remote = RemoteStartTransactionRequest(id_tag="TAG-2", connector_id=1)
        assert (await csms.call(remote)).status is RemoteStartStopStatus.REJECTED
        again = ReserveNowRequest(
            connector_id=1, expiry_date=station.wall() + timedelta(hours=1), id_tag="TAG-3", reservation_id=8
        )
        assert (await csms.call(again)).status is ReservationStatus.FAULTED  # 5.13: connector 0 is Faulted
        assert (await csms.call(ClearCacheRequest())).status is ClearCacheStatus.REJECTED
        accepted = IdTagInfo(status=AuthorizationStatus.ACCEPTED)
        listed = (AuthorizationData(id_tag="TAG-4", id_tag_info=accepted),)
        local_list = SendLocalListRequest(
            list_version=3, update_type=UpdateType.FULL, local_authorization_list=listed
        )
        assert (await csms.call(local_list)).status is UpdateStatus.FAILED
        assert (await csms.call(GetLocalListVersionRequest())).list_version == 0
        other = charging_profile(6, ChargingProfilePurposeType.TX_DEFAULT_PROFILE, [(0, 10.0)], stack_level=1)
        refused = await csms.call(SetChargingProfileRequest(connector_id=0, cs_charging_profiles=other))
        assert refused.status is ChargingProfileStatus.REJECTED
        availability = ChangeAvailabilityRequest(connector_id=2, type=AvailabilityType.INOPERATIVE)
        assert (await csms.call(availability)).status is AvailabilityStatus.REJECTED
        for request in (CancelReservationRequest(reservation_id=7), ClearChargingProfileRequest(id=5)):
            error = await csms.call_event(request)
            assert isinstance(error, ErrorReceived), error
            assert error.code is ErrorCode.INTERNAL_ERROR
        # It keeps its heartbeat; nothing else was sent meanwhile: no Authorize, no StartTransaction.
        await heartbeat(csms, station)
        assert switches == [], "the relay never closed"
        assert plug.energy_wh() == 0
        assert station.charge_point.smart_charging.installed[0].profile == profile
        assert [r.reservation_id for r in station.charge_point.reservations.reservations] == [7]
        assert set(failing.refused) >= {"cache_get", "check_writable", "save_configuration"}

        # Writes succeed again: NoError at the next check, then charging as usual.
        failing.refusing = False
        recovered = trio.current_time()
        recovered_at = await csms.wait_status(0, S.AVAILABLE)
        assert 0 < recovered_at - recovered <= STORAGE_RETRY_INTERVAL
        assert reports_of_connector_zero(csms) == [
            (S.FAULTED, E.INTERNAL_ERROR, FAULTED_INFO),
            (S.AVAILABLE, E.NO_ERROR, None),
        ]
        assert faulted_at < recovered_at
        plug.unplug()
        start = await start_charging(csms, plug)
        assert start.request.connector_id == 1
        await csms.wait_status(1, S.CHARGING)
        assert switches == [True]
        assert station.charge_point.boots == 1
        nursery.cancel_scope.cancel()


async def test_a_running_transaction_stops_and_its_messages_wait_in_order_until_they_are_kept(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """Nothing queued is lost and nothing sent twice: the samples and the stop made while writes fail are
    held, and leave in order, with the Central System's id, once they are kept."""
    failing = SwitchableState()
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted, state=failing.state)
        csms = await station.power_on()
        await csms.online()
        plug = station.plugs[0]
        start = await start_charging(csms, plug)
        await trio.testing.wait_all_tasks_blocked()  # the answer has arrived
        forget_statuses(csms)
        failing.refusing = True
        await trio.sleep(150)  # two samples are due meanwhile, at 60 s and 120 s
        plug.present_id_tag("TAG-1")
        await csms.wait_status(1, S.FINISHING)
        assert not plug.relay_closed, "the transaction is over: the relay opens"
        assert station.charge_point is not None
        await heartbeat(csms, station)  # nothing of the transaction left meanwhile
        assert reports_of_connector_zero(csms) == [(S.FAULTED, E.INTERNAL_ERROR, FAULTED_INFO)]

        failing.refusing = False
        samples = [await csms.expect(MeterValuesRequest) for _ in range(2)]
        stop = await csms.expect(StopTransactionRequest)
        started = start.request.timestamp
        assert [sample.request.transaction_id for sample in samples] == [101, 101]
        times = [sample.request.meter_value[0].timestamp for sample in samples]
        assert times == [started + timedelta(seconds=60), started + timedelta(seconds=120)]
        assert (stop.request.transaction_id, stop.request.reason) == (101, Reason.LOCAL)
        assert stop.request.timestamp == started + timedelta(seconds=150)
        await csms.wait_status(0, S.AVAILABLE)
        await heartbeat(csms, station)  # and nothing was sent twice
        assert await failing.inner.depth() == 0
        assert await failing.inner.load_transactions() == {}
        assert station.charge_point.outbox_counts.delivered == 4  # start, 2 samples, stop
        assert station.charge_point.boots == 1
        nursery.cancel_scope.cancel()


async def test_a_message_answered_while_writes_fail_is_not_sent_again(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """The answer cannot take the message out of the queue: the outbox writes that again until it is kept,
    sending nothing meanwhile, and then goes on with the next message."""
    failing = SwitchableState()
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted, state=failing.state)
        csms = await station.power_on()
        await csms.online()
        plug = station.plugs[0]
        await start_charging(csms, plug)
        in_flight = await csms.take(MeterValuesRequest)
        failing.refusing = True
        answer = csms.connection.session.result(in_flight.unique_id, MeterValuesResponse())
        await csms.connection.websocket.send_message(answer)
        await csms.wait_status(0, S.FAULTED)
        await trio.sleep(95)  # the sample of 120 s is held
        failing.refusing = False
        flipped = trio.current_time()
        following = await csms.expect(MeterValuesRequest)
        assert following.request.meter_value[0].timestamp - in_flight.request.meter_value[0].timestamp == (
            timedelta(seconds=60)
        )
        assert 0 < following.time - flipped <= STORAGE_RETRY_INTERVAL
        plug.present_id_tag("TAG-1")
        stop = await csms.expect(StopTransactionRequest)
        assert stop.request.transaction_id == 101
        await heartbeat(csms, station)
        assert await failing.inner.depth() == 0
        nursery.cancel_scope.cancel()


async def test_a_stop_held_at_a_power_cut_is_made_again_with_power_loss_from_the_kept_record(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """What is held in memory goes with the power; the transaction's record, still kept, stops it."""
    failing = SwitchableState()
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted, state=failing.state)
        csms = await station.power_on()
        await csms.online()
        plug = station.plugs[0]
        start = await start_charging(csms, plug)
        await trio.testing.wait_all_tasks_blocked()
        failing.refusing = True
        await trio.sleep(30)
        plug.present_id_tag("TAG-1")
        await csms.wait_status(1, S.FINISHING)
        station.cut_power()
        failing.refusing = False
        csms = await station.power_on()
        stop = await csms.expect(StopTransactionRequest)
        assert (stop.request.transaction_id, stop.request.reason) == (101, Reason.POWER_LOSS)
        assert stop.request.timestamp == start.request.timestamp  # the last kept reading: the start's
        assert stop.request.meter_stop == start.request.meter_start
        await csms.online()
        await trio.testing.wait_all_tasks_blocked()
        assert await failing.inner.depth() == 0
        assert await failing.inner.load_transactions() == {}
        nursery.cancel_scope.cancel()


# --- a real SQLite file -----------------------------------------------------------------------------------

_WRITES = frozenset({sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE})


def refuse_writes(connection: sqlite3.Connection) -> None:
    """Make the writer connection refuse every change, as a read-only database does (SQLite's authorizer:
    statements are prepared again, and each INSERT, UPDATE or DELETE fails with "not authorized")."""
    connection.set_authorizer(
        lambda action, *_: sqlite3.SQLITE_DENY if action in _WRITES else sqlite3.SQLITE_OK
    )


def take_writes(connection: sqlite3.Connection) -> None:
    connection.set_authorizer(None)


@pytest.fixture
def fast_clock() -> trio.testing.MockClock:
    """Virtual time 50 times faster than real time, while SQLite's threads work in real time."""
    return trio.testing.MockClock(rate=50)


async def test_a_real_database_that_refuses_writes_faults_then_recovers(
    fast_clock: trio.testing.MockClock, scripted: ScriptedCsms, tmp_path: Path
) -> None:
    """The same with the SQLite database of ``ocpp-fleet run``. Not with chmod: a file already open keeps
    its write permission, and root writes whatever the mode; the writer connection is told to refuse
    changes instead (through the database's own write API, as a job on the writer thread)."""
    async with await open_database(tmp_path / "fleet.db") as database, trio.open_nursery() as nursery:
        station = Station(nursery, scripted, state=database.charge_point("CP-1"))
        with trio.fail_after(300):  # virtual seconds: 6 s of real time
            csms = await station.power_on()
            await csms.online()
            forget_statuses(csms)
            await database.write(refuse_writes)
            plug = station.plugs[0]
            plug.plug_in(EV)
            plug.present_id_tag("TAG-1")
            await csms.expect(AuthorizeRequest)  # unknown idTag: the lookup wrote nothing, the answer fails
            await csms.wait_status(0, S.FAULTED)
            assert reports_of_connector_zero(csms) == [
                (S.FAULTED, E.INTERNAL_ERROR, "storage: not authorized")
            ]
            change = ChangeConfigurationRequest(key="MeterValueSampleInterval", value="30")
            assert (await csms.call(change)).status is ConfigurationStatus.REJECTED
            assert not plug.relay_closed

            await database.write(take_writes)
            await csms.wait_status(0, S.AVAILABLE)
            assert reports_of_connector_zero(csms)[-1] == (S.AVAILABLE, E.NO_ERROR, None)
            plug.unplug()
            start = await start_charging(csms, plug)
            assert start.request.connector_id == 1
            await csms.wait_status(1, S.CHARGING)
            assert plug.relay_closed
        kept = await database.charge_point("CP-1").load_configuration()
        assert kept["MeterValueSampleInterval"] == "60", "the change refused was not kept"
        nursery.cancel_scope.cancel()
