"""Transaction-related messages through the persistent offline queue, in virtual time: retries (spec 3.7.1),
offline transactions (3.7, 4.8), power cuts and reboots (4.10, 5.2), in the manner of the official compliance
test cases TC_032, TC_034, TC_036, TC_037 and TC_039."""

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import trio
import trio.testing
from scripted_csms import Received, ScriptedCsms
from test_connector import Csms

from actors.charge_point import ChargePoint, ChargePointSettings
from actors.clock import WallClock
from actors.ocpp import (
    AuthorizationStatus,
    AuthorizeRequest,
    AvailabilityStatus,
    AvailabilityType,
    BootNotificationRequest,
    BootNotificationResponse,
    ChangeAvailabilityRequest,
    ChangeAvailabilityResponse,
    ChargePointStatus,
    ErrorCode,
    IdTagInfo,
    MeterValuesRequest,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    RemoteStartTransactionRequest,
    RemoteStartTransactionResponse,
    StartTransactionRequest,
    StartTransactionResponse,
    StopTransactionRequest,
    StopTransactionResponse,
)
from actors.outbox import RetryPolicy, after_failure
from fleet.simulated import EvModel, SimulatedConnector
from storage import ChargePointState
from storage.memory import MemoryChargePointState

CSMS_TIME = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
S = ChargePointStatus
EV = EvModel(max_power_w=11_000, battery_wh=100_000)


class FailingCsms(Csms):
    """The scripted Central System, which can also fail to process a CALL or leave it unanswered."""

    async def take(self, request_type: type) -> Received:
        """The next CALL, which must be of ``request_type``, left unanswered."""
        received = await self._calls.receive()
        assert isinstance(received.request, request_type), f"expected {request_type.__name__}, got {received}"
        return received

    async def fail(self, request_type: type) -> Received:
        """The next CALL, answered with a CALLERROR: a failure to process it (spec 3.7.1)."""
        received = await self.take(request_type)
        text = self.connection.session.error(received.unique_id, ErrorCode.INTERNAL_ERROR, "database down")
        await self.connection.websocket.send_message(text)
        return received

    async def online(self, connectors: int = 2) -> None:
        """Wait for the boot's StatusNotifications: the charge point is accepted and online from then on."""
        while not any(connector_id == connectors for connector_id, _, _ in self.statuses):
            await self._status_arrived.wait()


class Station:
    """A 2-connector charge point on persistent state that the test powers on and off.

    Each power-on is a new :class:`ChargePoint` on the same state and hardware, as after the process was
    started again; the wall clock goes on where it was (virtual time since the test began).
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        scripted: ScriptedCsms,
        *,
        state: ChargePointState | None = None,
        **configuration: str,
    ) -> None:
        self.nursery = nursery
        self.scripted = scripted
        self.state = state or MemoryChargePointState()
        self.plugs = [SimulatedConnector(), SimulatedConnector()]
        self.settings = ChargePointSettings(
            "CP-1",
            "ws://csms.test/ocpp",
            connectors=2,
            configuration={"MeterValueSampleInterval": "60", **configuration},
        )
        self.charge_point: ChargePoint | None = None
        self._began = trio.current_time()
        self._power = trio.CancelScope()
        self.next_transaction_id = 100

    def wall(self) -> datetime:
        return CSMS_TIME + timedelta(seconds=trio.current_time() - self._began)

    async def power_on(self) -> FailingCsms:
        """Power on and accept the BootNotification; the reader answers StatusNotifications from then on.

        Queued messages may go before the StatusNotifications: :meth:`FailingCsms.online` waits for those.
        """
        charge_point = ChargePoint(
            self.settings,
            self.state,
            dialer=self.scripted.dial,
            clock=WallClock(self.wall()),
            rng=random.Random(1),
            hardware=self.plugs,
        )
        self.charge_point = charge_point
        self._power = trio.CancelScope()
        self.nursery.start_soon(self._run, charge_point, self._power)
        connection = await self.scripted.accept()
        received = await connection.expect_call(BootNotificationRequest)
        answer = BootNotificationResponse(
            status=RegistrationStatus.ACCEPTED, current_time=self.wall(), interval=3600
        )
        await connection.answer(received, answer)
        return self._reader(connection)

    async def reconnected(self) -> FailingCsms:
        """The charge point's next connection (no BootNotification: it was accepted before)."""
        return self._reader(await self.scripted.accept())

    def _reader(self, connection: object) -> FailingCsms:
        csms = FailingCsms(connection, self.nursery)  # type: ignore[arg-type]
        csms.next_transaction_id = self.next_transaction_id
        return csms

    @staticmethod
    async def _run(charge_point: ChargePoint, power: trio.CancelScope) -> None:
        with power:
            await charge_point.run()

    def cut_power(self) -> None:
        """A power cut: the charge point stops at once, without a word."""
        self._power.cancel()

    def go_offline(self) -> None:
        """The network goes: the connection is cut silently and new connections fail."""
        self.scripted.refusing = True
        self.scripted.partition()

    def come_online(self) -> None:
        self.scripted.refusing = False


async def start_charging(csms: Csms, plug: SimulatedConnector, id_tag: str = "TAG-1") -> Received:
    """Plug in, present ``id_tag``, Authorize; returns the StartTransaction (answered the usual way)."""
    plug.plug_in(EV)
    plug.present_id_tag(id_tag)
    await csms.expect(AuthorizeRequest)
    return await csms.expect(StartTransactionRequest)


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedCsms]:
    async with trio.open_nursery() as nursery:
        yield ScriptedCsms(nursery)
        nursery.cancel_scope.cancel()


# Retries of transaction-related messages (spec 3.7.1)


async def test_a_failed_stop_is_sent_again_after_the_interval_times_the_failures_then_dropped(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """The example of spec 3.7.1: 3 attempts, 60 s: sent again after 60 s, then after 120 s, then dropped;
    the next transaction-related message follows."""
    async with trio.open_nursery() as nursery:
        station = Station(
            nursery, scripted, TransactionMessageAttempts="3", TransactionMessageRetryInterval="60"
        )
        csms = await station.power_on()
        await csms.online()
        plug = station.plugs[0]
        await start_charging(csms, plug)
        await trio.sleep(10)
        plug.present_id_tag("TAG-1")
        first = await csms.fail(StopTransactionRequest)
        second = await csms.fail(StopTransactionRequest)
        third = await csms.fail(StopTransactionRequest)
        assert second.time - first.time == 60
        assert third.time - second.time == 120
        assert first.request == second.request == third.request
        assert first.request.transaction_id == 101
        plug.unplug()
        station.plugs[1].plug_in(EV)
        station.plugs[1].present_id_tag("TAG-2")
        await csms.expect(AuthorizeRequest)
        start = await csms.expect(StartTransactionRequest)
        assert start.request.connector_id == 2
        await trio.testing.wait_all_tasks_blocked()
        assert await station.state.depth() == 0
        assert station.charge_point is not None
        assert station.charge_point.outbox_counts.given_up == 1
        nursery.cancel_scope.cancel()


async def test_no_answer_in_time_and_a_lost_connection_are_no_failures_to_process(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """OCPP-J: only a CALLERROR is a failure to process; a timeout or a lost connection is a failed
    delivery: the message is sent again, however often, and never dropped for it."""
    async with trio.open_nursery() as nursery:
        station = Station(
            nursery, scripted, TransactionMessageAttempts="1", TransactionMessageRetryInterval="60"
        )
        csms = await station.power_on()
        await csms.online()
        plug = station.plugs[0]
        await start_charging(csms, plug)
        plug.present_id_tag("TAG-1")
        unanswered = await csms.take(StopTransactionRequest)
        assert station.charge_point is not None
        timeout = station.charge_point.settings.answer_timeout
        again = await csms.take(StopTransactionRequest)
        assert again.time - unanswered.time == timeout + 60, "sent again after the retry interval"
        assert again.request == unanswered.request
        await csms.connection.close()  # the connection is lost while the retry waits for its answer
        csms = await station.reconnected()
        after_reconnect = await csms.expect(StopTransactionRequest)
        assert after_reconnect.request == unanswered.request, "not dropped: a lost connection is no attempt"
        await trio.testing.wait_all_tasks_blocked()
        assert await station.state.depth() == 0
        nursery.cancel_scope.cancel()


async def test_a_start_given_up_takes_its_meter_values_and_stop_with_it(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """A placeholder transaction id never goes on the wire."""
    async with trio.open_nursery() as nursery:
        station = Station(
            nursery,
            scripted,
            TransactionMessageAttempts="2",
            TransactionMessageRetryInterval="100",
            MeterValueSampleInterval="30",
        )
        csms = await station.power_on()
        await csms.online()
        plug = station.plugs[0]
        plug.plug_in(EV)
        plug.present_id_tag("TAG-1")
        await csms.expect(AuthorizeRequest)
        await csms.fail(StartTransactionRequest)
        await trio.sleep(90)  # 3 samples wait behind the StartTransaction
        plug.present_id_tag("TAG-1")
        await csms.fail(StartTransactionRequest)
        station.plugs[1].plug_in(EV)
        station.plugs[1].present_id_tag("TAG-2")
        await csms.expect(AuthorizeRequest)
        start = await csms.expect(StartTransactionRequest)
        assert start.request.connector_id == 2, "connector 1's samples and stop were dropped"
        await trio.sleep(30)
        sample = await csms.expect(MeterValuesRequest)
        assert (sample.request.connector_id, sample.request.transaction_id) == (2, 101)
        assert station.charge_point is not None
        counts = station.charge_point.outbox_counts
        assert (counts.given_up, counts.orphaned) == (1, 4)
        nursery.cancel_scope.cancel()


# Offline (TC_036, TC_037, TC_039)


async def test_connection_loss_during_a_transaction_queues_in_order(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """TC_036 / TC_039: samples and the stop made offline reach the Central System after reconnecting, in
    order, with its transaction id; the stop by the same idTag needs no Authorize."""
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted)
        csms = await station.power_on()
        await csms.online()
        plug = station.plugs[0]
        start = await start_charging(csms, plug)
        await trio.testing.wait_all_tasks_blocked()  # the answer has arrived
        station.go_offline()
        await trio.sleep(150)
        plug.present_id_tag("TAG-1")
        await trio.sleep(30)
        plug.unplug()
        station.come_online()
        csms = await station.reconnected()
        samples = [await csms.expect(MeterValuesRequest) for _ in range(2)]
        stop = await csms.expect(StopTransactionRequest)
        assert [sample.request.transaction_id for sample in samples] == [101, 101]
        times = [sample.request.meter_value[0].timestamp for sample in samples]
        started = start.request.timestamp
        assert times == [started + timedelta(seconds=60), started + timedelta(seconds=120)]
        assert (stop.request.transaction_id, stop.request.reason) == (101, Reason.LOCAL)
        assert stop.request.timestamp == started + timedelta(seconds=150)
        await trio.sleep(1)
        assert csms.statuses_of(1) == [S.AVAILABLE], "only the status that changed meanwhile"
        nursery.cancel_scope.cancel()


async def test_a_transaction_started_offline_gets_the_central_systems_id_after_reconnecting(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """TC_037_1: an unknown idTag starts offline (AllowOfflineTxForUnknownId); StartTransaction, samples
    and StopTransaction leave in order once online, the latter two with the id the first one got."""
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted, AllowOfflineTxForUnknownId="true")
        csms = await station.power_on()
        await csms.online()
        station.go_offline()
        await csms.connection.close()
        plug = station.plugs[0]
        plug.plug_in(EV)
        plug.present_id_tag("WALK-IN")
        await trio.sleep(130)
        plug.present_id_tag("WALK-IN")
        await trio.sleep(5)
        station.come_online()
        csms = await station.reconnected()
        csms.next_transaction_id = 554
        start = await csms.expect(StartTransactionRequest)
        samples = [await csms.expect(MeterValuesRequest) for _ in range(2)]
        stop = await csms.expect(StopTransactionRequest)
        assert start.request.id_tag == "WALK-IN"
        assert [sample.request.transaction_id for sample in samples] == [555, 555]
        assert stop.request.transaction_id == 555
        assert stop.request.id_tag == "WALK-IN"
        nursery.cancel_scope.cancel()


async def test_an_offline_start_refused_after_reconnecting_is_stopped_deauthorized(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """TC_037_3: StopTransactionOnInvalidId true: the late Invalid answer stops it with DeAuthorized."""
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted, AllowOfflineTxForUnknownId="true")
        csms = await station.power_on()
        await csms.online()
        station.go_offline()
        await csms.connection.close()
        plug = station.plugs[0]
        plug.plug_in(EV)
        plug.present_id_tag("STOLEN")
        await trio.sleep(70)
        station.come_online()
        csms = await station.reconnected()
        invalid = StartTransactionResponse(
            id_tag_info=IdTagInfo(status=AuthorizationStatus.INVALID), transaction_id=9
        )
        await csms.expect(StartTransactionRequest, invalid)
        sample = await csms.expect(MeterValuesRequest)
        stop = await csms.expect(StopTransactionRequest)
        assert sample.request.transaction_id == 9
        assert (stop.request.transaction_id, stop.request.reason) == (9, Reason.DE_AUTHORIZED)
        nursery.cancel_scope.cancel()


# Power cuts and reboots (TC_032, TC_034)


async def test_a_transaction_cut_by_a_power_loss_is_stopped_with_the_last_kept_reading(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """TC_032_2: after the power comes back: BootNotification, then StopTransaction reason PowerLoss with
    the reading and time of the last sample, sent with the Central System's id."""
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted)
        csms = await station.power_on()
        await csms.online()
        await start_charging(csms, station.plugs[0])
        sample = await csms.expect(MeterValuesRequest)
        await trio.sleep(30)
        station.cut_power()
        await trio.sleep(20)
        csms = await station.power_on()
        stop = await csms.expect(StopTransactionRequest)
        (reading,) = sample.request.meter_value[0].sampled_value
        assert stop.request.reason is Reason.POWER_LOSS
        assert stop.request.transaction_id == 101
        assert stop.request.meter_stop == int(reading.value)
        assert stop.request.timestamp == sample.request.meter_value[0].timestamp
        assert stop.request.id_tag is None
        await csms.online()
        assert csms.statuses == [(0, S.AVAILABLE, None), (1, S.AVAILABLE, None), (2, S.AVAILABLE, None)]
        assert await station.state.load_transactions() == {}
        assert await station.state.depth() == 0
        nursery.cancel_scope.cancel()


async def test_a_power_loss_before_the_start_was_answered_sends_both_in_order(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """The StartTransaction in flight at the cut is sent again, then the PowerLoss stop with its id."""
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted)
        csms = await station.power_on()
        await csms.online()
        plug = station.plugs[0]
        plug.plug_in(EV)
        plug.present_id_tag("TAG-1")
        await csms.expect(AuthorizeRequest)
        in_flight = await csms.take(StartTransactionRequest)
        station.cut_power()
        csms = await station.power_on()
        start = await csms.expect(StartTransactionRequest)
        stop = await csms.expect(StopTransactionRequest)
        assert start.request == in_flight.request
        assert (stop.request.transaction_id, stop.request.reason) == (101, Reason.POWER_LOSS)
        assert stop.request.meter_stop == start.request.meter_start
        assert stop.request.timestamp == start.request.timestamp
        nursery.cancel_scope.cancel()


async def test_an_unavailable_connector_stays_unavailable_after_a_power_loss(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """TC_034."""
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted)
        csms = await station.power_on()
        await csms.online()
        answer = await csms.call(ChangeAvailabilityRequest(connector_id=1, type=AvailabilityType.INOPERATIVE))
        assert answer == ChangeAvailabilityResponse(status=AvailabilityStatus.ACCEPTED)
        await csms.wait_status(1, S.UNAVAILABLE)
        station.cut_power()
        csms = await station.power_on()
        await csms.online()
        assert csms.statuses == [(0, S.AVAILABLE, None), (1, S.UNAVAILABLE, None), (2, S.AVAILABLE, None)]
        nursery.cancel_scope.cancel()


async def test_a_scheduled_unavailability_takes_effect_when_a_power_loss_ends_the_transaction(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted)
        csms = await station.power_on()
        await csms.online()
        await start_charging(csms, station.plugs[0])
        answer = await csms.call(ChangeAvailabilityRequest(connector_id=1, type=AvailabilityType.INOPERATIVE))
        assert answer == ChangeAvailabilityResponse(status=AvailabilityStatus.SCHEDULED)
        station.cut_power()
        csms = await station.power_on()
        await csms.expect(StopTransactionRequest)
        await csms.online()
        assert csms.statuses_of(1) == [S.UNAVAILABLE]
        assert await station.state.load_availability() == {1: "Inoperative"}
        nursery.cancel_scope.cancel()


async def test_retries_go_on_across_a_power_loss_at_the_time_they_were_due(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        station = Station(
            nursery, scripted, TransactionMessageAttempts="2", TransactionMessageRetryInterval="300"
        )
        csms = await station.power_on()
        await csms.online()
        plug = station.plugs[0]
        await start_charging(csms, plug)
        plug.present_id_tag("TAG-1")
        failed = await csms.fail(StopTransactionRequest)
        await trio.sleep(100)
        station.cut_power()
        await trio.sleep(50)
        csms = await station.power_on()
        again = await csms.fail(StopTransactionRequest)
        assert again.time - failed.time == pytest.approx(300, abs=1)
        assert again.request == failed.request
        await trio.testing.wait_all_tasks_blocked()
        assert await station.state.depth() == 0, "the second failure was the last allowed attempt"
        nursery.cancel_scope.cancel()


async def test_a_reboot_stops_transactions_with_reason_reboot_then_boots(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted)
        csms = await station.power_on()
        await csms.online()
        await start_charging(csms, station.plugs[0])
        assert station.charge_point is not None
        station.charge_point.request_reboot()
        connection = await scripted.accept()
        boot = await connection.expect_call(BootNotificationRequest)
        answer = BootNotificationResponse(
            status=RegistrationStatus.ACCEPTED, current_time=station.wall(), interval=3600
        )
        await connection.answer(boot, answer)
        csms = FailingCsms(connection, nursery)
        stop = await csms.expect(StopTransactionRequest)
        assert (stop.request.transaction_id, stop.request.reason) == (101, Reason.REBOOT)
        assert station.charge_point.boots == 2
        nursery.cancel_scope.cancel()


async def test_the_queue_bound_drops_intermediate_meter_values_never_start_or_stop(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """TransactionMessageQueueMaxLength 10: 20 samples offline leave the most recent ones, and the start and
    the stop of the transaction."""
    async with trio.open_nursery() as nursery:
        station = Station(
            nursery,
            scripted,
            AllowOfflineTxForUnknownId="true",
            MeterValueSampleInterval="10",
            TransactionMessageQueueMaxLength="10",
        )
        csms = await station.power_on()
        await csms.online()
        station.go_offline()
        await csms.connection.close()
        plug = station.plugs[0]
        plug.plug_in(EV)
        plug.present_id_tag("TAG-1")
        await trio.sleep(205)
        plug.present_id_tag("TAG-1")
        await trio.sleep(1)
        assert await station.state.depth() == 10
        station.come_online()
        csms = await station.reconnected()
        start = await csms.expect(StartTransactionRequest)
        samples = [await csms.expect(MeterValuesRequest) for _ in range(8)]
        await csms.expect(StopTransactionRequest)
        started = start.request.timestamp
        assert [sample.request.meter_value[0].timestamp - started for sample in samples] == [
            timedelta(seconds=10 * k) for k in range(13, 21)
        ]
        nursery.cancel_scope.cancel()


# IdTagInfo of the answers to queued messages (spec 3.5.1)


async def test_start_and_stop_answers_update_the_authorization_cache(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """StartTransaction.conf's Accepted lets the idTag start offline later (LocalAuthorizeOffline); a
    StopTransaction.conf's Blocked, once cached, refuses it offline."""
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted, MeterValueSampleInterval="0")
        csms = await station.power_on()
        await csms.online()
        answer = await csms.call(RemoteStartTransactionRequest(id_tag="APP-7", connector_id=1))
        assert answer == RemoteStartTransactionResponse(status=RemoteStartStopStatus.ACCEPTED)
        station.plugs[0].plug_in(EV)
        await csms.expect(StartTransactionRequest)  # no Authorize: AuthorizeRemoteTxRequests is false
        await trio.testing.wait_all_tasks_blocked()
        cached = await station.state.cache_get("app-7")
        assert cached is not None
        assert cached.status == "Accepted"
        station.go_offline()
        await csms.connection.close()
        station.plugs[1].plug_in(EV)
        station.plugs[1].present_id_tag("APP-7")
        await trio.sleep(1)
        assert station.charge_point is not None
        assert station.charge_point.connectors[2].transaction is not None, "started offline from the cache"
        station.plugs[1].present_id_tag("APP-7")
        station.plugs[0].present_id_tag("APP-7")
        station.come_online()
        csms = await station.reconnected()
        blocked = StopTransactionResponse(id_tag_info=IdTagInfo(status=AuthorizationStatus.BLOCKED))
        await csms.expect(StartTransactionRequest)
        await csms.expect(StopTransactionRequest, blocked)
        await csms.expect(StopTransactionRequest, blocked)
        await trio.testing.wait_all_tasks_blocked()
        cached = await station.state.cache_get("APP-7")
        assert cached is not None
        assert cached.status == "Blocked"
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("failures", "attempts", "interval", "wait"),
    [
        (1, 3, 60, 60),  # the example of spec 3.7.1: 60 s after the first failure,
        (2, 3, 60, 120),  # 120 s after the second,
        (3, 3, 60, None),  # and the third failure drops it
        (1, 1, 60, None),  # one attempt: no retry
        (4, 5, 0, 0),  # a zero interval retries at once
    ],
)
def test_the_retry_rule(failures: int, attempts: int, interval: int, wait: float | None) -> None:
    assert after_failure(failures, RetryPolicy(attempts=attempts, retry_interval=interval)) == wait
