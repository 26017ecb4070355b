"""Charging sessions of a connector against a scripted Central System, in virtual time (spec 3, 4.1, 4.7-4.10,
5.2, 5.11, 5.12, 5.14, 5.18), in the manner of the official compliance test cases."""

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from oracle import errors
from scripted_csms import Received, ScriptedConnection, ScriptedCsms
from trio_websocket import ConnectionClosed

from actors.charge_point import ChargePoint, ChargePointSettings
from actors.clock import WallClock
from actors.connector import _MAILBOX_SIZE as MAILBOX_SIZE
from actors.connector import TriggerMeterValues, Unlock
from actors.ocpp import (
    AuthorizationStatus,
    AuthorizeRequest,
    AuthorizeResponse,
    AvailabilityStatus,
    AvailabilityType,
    BootNotificationRequest,
    BootNotificationResponse,
    CallReceived,
    ChangeAvailabilityRequest,
    ChangeAvailabilityResponse,
    ChangeConfigurationRequest,
    ChangeConfigurationResponse,
    ChargePointErrorCode,
    ChargePointStatus,
    ConfigurationStatus,
    IdTagInfo,
    Measurand,
    MeterValuesRequest,
    MeterValuesResponse,
    ReadingContext,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    RemoteStartTransactionRequest,
    RemoteStartTransactionResponse,
    RemoteStopTransactionRequest,
    RemoteStopTransactionResponse,
    ResetRequest,
    ResetType,
    StartTransactionRequest,
    StartTransactionResponse,
    StatusNotificationRequest,
    StatusNotificationResponse,
    StopTransactionRequest,
    StopTransactionResponse,
    UnlockConnectorRequest,
    UnlockConnectorResponse,
    UnlockStatus,
    encode,
)
from fleet.simulated import EvModel, SimulatedConnector
from storage.memory import MemoryChargePointState

CSMS_TIME = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ACCEPTED = IdTagInfo(status=AuthorizationStatus.ACCEPTED)
S = ChargePointStatus


class Csms:
    """The scripted Central System: a reader answers StatusNotifications and records them; the test takes
    every other CALL with :meth:`expect` and makes its own with :meth:`call`."""

    def __init__(self, connection: ScriptedConnection, nursery: trio.Nursery) -> None:
        self.connection = connection
        self.statuses: list[tuple[int, ChargePointStatus, str | None]] = []
        self.status_requests: list[StatusNotificationRequest] = []
        self.status_times: list[float] = []
        self._status_arrived = trio.Event()
        self.next_transaction_id = 100
        self._calls_in, self._calls = trio.open_memory_channel[Received](100)
        self._answers_in, self._answers = trio.open_memory_channel[Any](1)
        nursery.start_soon(self._read)

    async def _read(self) -> None:
        while True:
            try:
                text = await self.connection.websocket.get_message()
            except ConnectionClosed:
                return
            now = trio.current_time()
            event = self.connection.session.receive(text)
            if not isinstance(event, CallReceived):
                await self._answers_in.send(event)
                continue
            assert errors(event.request.action, "req", encode(event.request)) == []
            if isinstance(event.request, StatusNotificationRequest):
                request = event.request
                self.statuses.append((request.connector_id, request.status, request.info))
                self.status_requests.append(request)
                self.status_times.append(now)
                self._status_arrived.set()
                self._status_arrived = trio.Event()
                try:
                    await self.connection.websocket.send_message(
                        self.connection.session.result(event.unique_id, StatusNotificationResponse())
                    )
                except ConnectionClosed:  # the charge point went down right after this one (a reboot)
                    return
            else:
                await self._calls_in.send(Received(now, event.unique_id, event.request))

    async def expect(self, request_type: type[Any], answer: Any = None) -> Received:
        """The next CALL, which must be of ``request_type``; answered with ``answer`` or the usual answer."""
        received = await self._calls.receive()
        assert isinstance(received.request, request_type), f"expected {request_type.__name__}, got {received}"
        response = answer if answer is not None else self.usual(received.request)
        await self.connection.websocket.send_message(
            self.connection.session.result(received.unique_id, response)
        )
        return received

    async def take(self, request_type: type[Any]) -> Received:
        """The next CALL, which must be of ``request_type``, left unanswered."""
        received = await self._calls.receive()
        assert isinstance(received.request, request_type), f"expected {request_type.__name__}, got {received}"
        return received

    def usual(self, request: Any) -> Any:
        if isinstance(request, AuthorizeRequest):
            return AuthorizeResponse(id_tag_info=ACCEPTED)
        if isinstance(request, StartTransactionRequest):
            self.next_transaction_id += 1
            return StartTransactionResponse(id_tag_info=ACCEPTED, transaction_id=self.next_transaction_id)
        if isinstance(request, StopTransactionRequest):
            return StopTransactionResponse()
        if isinstance(request, MeterValuesRequest):
            return MeterValuesResponse()
        raise AssertionError(f"no usual answer for {request}")

    async def wait_status(self, connector_id: int, status: ChargePointStatus) -> float:
        """The time the Central System is told that ``connector_id`` is ``status`` (waiting if need be)."""
        seen = 0
        while True:
            for index in range(seen, len(self.statuses)):
                if self.statuses[index][:2] == (connector_id, status):
                    return self.status_times[index]
            seen = len(self.statuses)
            await self._status_arrived.wait()

    def waiting_calls(self) -> int:
        """How many CALLs arrived that the test has not taken."""
        return self._calls.statistics().current_buffer_used

    def statuses_of(self, connector_id: int) -> list[ChargePointStatus]:
        return [status for number, status, _ in self.statuses if number == connector_id]

    async def call(self, request: Any) -> Any:
        """A CALL of ours; returns the response."""
        return (await self.call_event(request)).response

    async def call_event(self, request: Any) -> Any:
        """A CALL of ours; returns the event its answer is (ResultReceived, or ErrorReceived)."""
        _, text = self.connection.session.call(request)
        await self.connection.websocket.send_message(text)
        return await self._answers.receive()


@attrs.define
class Site:
    charge_point: ChargePoint
    csms: Csms
    plugs: list[SimulatedConnector]


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedCsms]:
    async with trio.open_nursery() as nursery:
        yield ScriptedCsms(nursery)
        nursery.cancel_scope.cancel()


async def bring_up(
    nursery: trio.Nursery,
    scripted: ScriptedCsms,
    plugs: list[SimulatedConnector] | None = None,
    **configuration: str,
) -> Site:
    """A 2-connector charge point, booted and accepted, its boot statuses taken."""
    settings = ChargePointSettings(
        "CP-1",
        "ws://csms.test/ocpp",
        connectors=2,
        configuration={"MeterValueSampleInterval": "60", **configuration},
    )
    plugs = plugs or [SimulatedConnector(), SimulatedConnector()]
    charge_point = ChargePoint(
        settings,
        MemoryChargePointState(),
        dialer=scripted.dial,
        clock=WallClock(CSMS_TIME),
        rng=random.Random(1),
        hardware=plugs,
    )
    nursery.start_soon(charge_point.run)
    connection = await scripted.accept()
    received = await connection.expect_call(BootNotificationRequest)
    answer = BootNotificationResponse(
        status=RegistrationStatus.ACCEPTED, current_time=CSMS_TIME, interval=3600
    )
    await connection.answer(received, answer)
    csms = Csms(connection, nursery)
    await trio.sleep(1)
    assert csms.statuses == [(0, S.AVAILABLE, None), (1, S.AVAILABLE, None), (2, S.AVAILABLE, None)]
    csms.statuses.clear()
    csms.status_times.clear()
    csms.status_requests.clear()
    return Site(charge_point, csms, plugs)


async def start_session(site: Site, answer: StartTransactionResponse | None = None) -> None:
    plug = site.plugs[0]
    plug.plug_in(EvModel(max_power_w=11_000, battery_wh=100_000))
    plug.present_id_tag("TAG-1")
    await site.csms.expect(AuthorizeRequest)
    await site.csms.expect(StartTransactionRequest, answer)


INVALID = StartTransactionResponse(
    id_tag_info=IdTagInfo(status=AuthorizationStatus.INVALID), transaction_id=7
)


async def test_plug_in_first_session_with_meter_values_and_a_local_stop(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        plug, csms = site.plugs[0], site.csms
        plug.plug_in(EvModel(max_power_w=11_000, soc_percent=20))
        plug.present_id_tag("TAG-1")
        authorize = await csms.expect(AuthorizeRequest)
        assert authorize.request == AuthorizeRequest(id_tag="TAG-1")
        start = await csms.expect(StartTransactionRequest)
        assert start.request.connector_id == 1
        assert start.request.id_tag == "TAG-1"
        assert start.request.meter_start == 0
        started = start.time
        for minute in (1, 2):
            sample = await csms.expect(MeterValuesRequest)
            assert sample.time == started + 60 * minute, (
                "sampled every MeterValueSampleInterval from the start"
            )
            assert sample.request.transaction_id == 101
            (value,) = sample.request.meter_value[0].sampled_value
            assert (value.measurand, value.context) == (
                Measurand.ENERGY_ACTIVE_IMPORT_REGISTER,
                ReadingContext.SAMPLE_PERIODIC,
            )
            assert value.value == str(round(11_000 * minute / 60))
        await trio.sleep(30)
        plug.present_id_tag("tag-1")  # the same idTag, in another case: no Authorize (spec 3.5)
        stop = await csms.expect(StopTransactionRequest)
        assert stop.request.transaction_id == 101
        assert stop.request.reason is Reason.LOCAL
        assert stop.request.id_tag == "tag-1"
        assert stop.request.meter_stop == round(11_000 * 150 / 3600)
        plug.unplug()
        await trio.sleep(1)
        assert csms.statuses_of(1) == [S.PREPARING, S.CHARGING, S.FINISHING, S.AVAILABLE]
        assert csms.statuses_of(2) == []
        nursery.cancel_scope.cancel()


async def test_identification_first_then_plug_in(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        plug, csms = site.plugs[1], site.csms
        plug.present_id_tag("TAG-2")
        await csms.expect(AuthorizeRequest)
        await trio.sleep(20)
        plug.plug_in()
        start = await csms.expect(StartTransactionRequest)
        assert start.request.connector_id == 2
        await trio.sleep(1)
        assert csms.statuses_of(2) == [S.PREPARING, S.CHARGING]
        nursery.cancel_scope.cancel()


async def test_no_cable_within_connection_timeout_returns_to_available(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, ConnectionTimeout="30")
        plug, csms = site.plugs[0], site.csms
        plug.present_id_tag("TAG-1")
        authorize = await csms.expect(AuthorizeRequest)
        await trio.sleep(60)
        assert csms.statuses_of(1) == [S.PREPARING, S.AVAILABLE]
        assert site.charge_point.connectors[1].status is S.AVAILABLE
        plug.plug_in()
        await trio.sleep(1)
        assert site.charge_point.connectors[1].transaction is None, "the authorization has lapsed"
        del authorize
        nursery.cancel_scope.cancel()


async def test_an_invalid_id_tag_does_not_start(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        plug, csms = site.plugs[0], site.csms
        plug.plug_in()
        plug.present_id_tag("STOLEN")
        await csms.expect(
            AuthorizeRequest, AuthorizeResponse(id_tag_info=IdTagInfo(status=AuthorizationStatus.BLOCKED))
        )
        await trio.sleep(5)
        assert site.charge_point.connectors[1].transaction is None
        assert csms.statuses_of(1) == [S.PREPARING]
        nursery.cancel_scope.cancel()


async def test_remote_start_on_a_plugged_connector_and_remote_stop(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        plug, csms = site.plugs[0], site.csms
        plug.plug_in()
        await trio.sleep(1)
        answer = await csms.call(RemoteStartTransactionRequest(id_tag="APP-1", connector_id=1))
        assert answer == RemoteStartTransactionResponse(status=RemoteStartStopStatus.ACCEPTED)
        start = await csms.expect(StartTransactionRequest)  # AuthorizeRemoteTxRequests is false: no Authorize
        assert start.request.id_tag == "APP-1"
        stopped = await csms.call(RemoteStopTransactionRequest(transaction_id=101))
        assert stopped == RemoteStopTransactionResponse(status=RemoteStartStopStatus.ACCEPTED)
        stop = await csms.expect(StopTransactionRequest)
        assert (stop.request.reason, stop.request.id_tag) == (Reason.REMOTE, None)
        unknown = await csms.call(RemoteStopTransactionRequest(transaction_id=999))
        assert unknown == RemoteStopTransactionResponse(status=RemoteStartStopStatus.REJECTED)
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("connector_id", [0, 3])
async def test_remote_start_on_connector_0_or_an_unknown_one_is_rejected(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms, connector_id: int
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        answer = await site.csms.call(
            RemoteStartTransactionRequest(id_tag="APP-1", connector_id=connector_id)
        )
        assert answer == RemoteStartTransactionResponse(status=RemoteStartStopStatus.REJECTED)
        nursery.cancel_scope.cancel()


async def test_remote_start_without_connector_picks_a_free_one_and_waits_for_the_cable(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, AuthorizeRemoteTxRequests="true")
        csms = site.csms
        answer = await csms.call(RemoteStartTransactionRequest(id_tag="APP-1"))
        assert answer == RemoteStartTransactionResponse(status=RemoteStartStopStatus.ACCEPTED)
        await csms.expect(AuthorizeRequest)  # AuthorizeRemoteTxRequests is true
        site.plugs[0].plug_in()
        start = await csms.expect(StartTransactionRequest)
        assert start.request.connector_id == 1
        nursery.cancel_scope.cancel()


async def test_unlock_stops_the_transaction_first(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        plug, csms = site.plugs[0], site.csms
        await start_session(site)
        assert plug.locked
        answer = await csms.call(UnlockConnectorRequest(connector_id=1))
        assert answer == UnlockConnectorResponse(status=UnlockStatus.UNLOCKED)
        stop = await csms.expect(StopTransactionRequest)
        assert stop.request.reason is Reason.UNLOCK_COMMAND
        assert not plug.locked
        unknown = await csms.call(UnlockConnectorRequest(connector_id=7))
        assert unknown == UnlockConnectorResponse(status=UnlockStatus.NOT_SUPPORTED)
        nursery.cancel_scope.cancel()


async def test_change_availability_now_or_scheduled_after_the_transaction(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms = site.csms
        idle = await csms.call(ChangeAvailabilityRequest(connector_id=2, type=AvailabilityType.INOPERATIVE))
        assert idle == ChangeAvailabilityResponse(status=AvailabilityStatus.ACCEPTED)
        plug = site.plugs[0]
        await start_session(site)
        busy = await csms.call(ChangeAvailabilityRequest(connector_id=1, type=AvailabilityType.INOPERATIVE))
        assert busy == ChangeAvailabilityResponse(status=AvailabilityStatus.SCHEDULED)
        plug.ev_unplug()  # StopTransactionOnEVSideDisconnect: the transaction ends
        await csms.expect(StopTransactionRequest)
        plug.unplug()
        await trio.sleep(1)
        assert csms.statuses_of(2) == [S.UNAVAILABLE]
        assert csms.statuses_of(1) == [S.PREPARING, S.CHARGING, S.FINISHING, S.UNAVAILABLE]
        again = await csms.call(ChangeAvailabilityRequest(connector_id=1, type=AvailabilityType.OPERATIVE))
        assert again == ChangeAvailabilityResponse(status=AvailabilityStatus.ACCEPTED)
        await trio.sleep(1)
        assert csms.statuses_of(1)[-1] is S.AVAILABLE
        nursery.cancel_scope.cancel()


async def test_ev_side_disconnect_without_stopping_suspends_with_info(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, StopTransactionOnEVSideDisconnect="false")
        plug, csms = site.plugs[0], site.csms
        await start_session(site)
        plug.ev_unplug()
        await trio.sleep(1)
        assert csms.statuses[-1] == (1, S.SUSPENDED_EV, "EV side disconnected")
        assert site.charge_point.connectors[1].transaction is not None
        nursery.cancel_scope.cancel()


async def test_invalid_id_in_the_start_answer_stops_the_transaction_deauthorized(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, LocalPreAuthorize="true")
        plug, csms = site.plugs[0], site.csms
        plug.plug_in()
        plug.present_id_tag("TAG-1")
        await csms.expect(AuthorizeRequest)
        invalid = StartTransactionResponse(
            id_tag_info=IdTagInfo(status=AuthorizationStatus.INVALID), transaction_id=7
        )
        await csms.expect(StartTransactionRequest, invalid)
        stop = await csms.expect(StopTransactionRequest)
        assert (stop.request.transaction_id, stop.request.reason) == (7, Reason.DE_AUTHORIZED)
        nursery.cancel_scope.cancel()


async def test_soft_reset_stops_transactions_before_rebooting(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms = site.csms
        await start_session(site)
        await csms.call(ResetRequest(type=ResetType.SOFT))
        stop = await csms.expect(StopTransactionRequest)
        assert stop.request.reason is Reason.SOFT_RESET
        again = await scripted.accept()
        assert isinstance((await again.expect_call()).request, BootNotificationRequest)
        nursery.cancel_scope.cancel()


async def test_offline_transaction_messages_wait_and_keep_their_order(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(
            nursery, scripted, LocalAuthorizeOffline="true", AllowOfflineTxForUnknownId="true"
        )
        plug, csms = site.plugs[0], site.csms
        await csms.connection.close()
        plug.plug_in()
        plug.present_id_tag("TAG-9")  # offline: unknown ids may start (AllowOfflineTxForUnknownId)
        await trio.sleep(0.5)
        assert site.charge_point.connectors[1].transaction is not None
        again = Csms(await scripted.accept(), nursery)
        start = await again.expect(StartTransactionRequest)
        assert start.request.id_tag == "TAG-9"
        sample = await again.expect(MeterValuesRequest)
        assert sample.request.transaction_id == 101, "the Central System's id, never a local one"
        nursery.cancel_scope.cancel()


async def test_change_availability_of_the_whole_charge_point(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        inoperative = ChangeAvailabilityRequest(connector_id=0, type=AvailabilityType.INOPERATIVE)
        assert await site.csms.call(inoperative) == ChangeAvailabilityResponse(
            status=AvailabilityStatus.ACCEPTED
        )
        await trio.sleep(1)
        assert sorted(site.csms.statuses) == [(n, S.UNAVAILABLE, None) for n in (0, 1, 2)]
        refused = await site.csms.call(RemoteStartTransactionRequest(id_tag="APP-1", connector_id=1))
        assert refused == RemoteStartTransactionResponse(status=RemoteStartStopStatus.REJECTED)
        unknown = await site.csms.call(
            ChangeAvailabilityRequest(connector_id=9, type=AvailabilityType.OPERATIVE)
        )
        assert unknown == ChangeAvailabilityResponse(status=AvailabilityStatus.REJECTED)
        nursery.cancel_scope.cancel()


async def test_clock_aligned_meter_values_of_every_connector_and_the_charge_point(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(
            nursery,
            scripted,
            ClockAlignedDataInterval="900",
            MeterValuesAlignedData="Energy.Active.Import.Register",
        )
        boot_time = trio.current_time() - 1
        received = [await site.csms.expect(MeterValuesRequest) for _ in range(3)]
        assert sorted(item.request.connector_id for item in received) == [0, 1, 2]
        for item in received:
            assert item.time == pytest.approx(boot_time + 900, abs=0.01), "at 12:15:00, the next quarter hour"
            assert item.request.transaction_id is None
            (meter_value,) = item.request.meter_value
            assert meter_value.timestamp == datetime(2026, 11, 21, 12, 15, tzinfo=UTC)
            (sampled,) = meter_value.sampled_value
            assert (sampled.context, sampled.measurand, sampled.value) == (
                ReadingContext.SAMPLE_CLOCK,
                Measurand.ENERGY_ACTIVE_IMPORT_REGISTER,
                "0",
            )
        nursery.cancel_scope.cancel()


class MeterWithoutSoc(SimulatedConnector):
    """A connector whose meter cannot read the EV's state of charge."""

    @property
    def measurands(self) -> frozenset[Measurand]:
        return super().measurands - {Measurand.SOC}


async def test_only_measurands_every_meter_reports_are_accepted(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, plugs=[SimulatedConnector(), MeterWithoutSoc()])
        supported = ChangeConfigurationRequest(
            key="MeterValuesSampledData", value="Voltage.L2,Power.Active.Import"
        )
        assert await site.csms.call(supported) == ChangeConfigurationResponse(
            status=ConfigurationStatus.ACCEPTED
        )
        for measurand in ("SoC", "Temperature"):
            unsupported = ChangeConfigurationRequest(key="MeterValuesSampledData", value=measurand)
            answer = await site.csms.call(unsupported)
            assert answer == ChangeConfigurationResponse(status=ConfigurationStatus.REJECTED)
        nursery.cancel_scope.cancel()


async def test_invalid_id_without_stopping_suspends_at_once(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, StopTransactionOnInvalidId="false")
        await start_session(site, INVALID)
        await trio.sleep(1)
        assert site.csms.statuses_of(1) == [S.PREPARING, S.CHARGING, S.SUSPENDED_EVSE]
        assert site.charge_point.connectors[1].transaction is not None, "the transaction goes on"
        nursery.cancel_scope.cancel()


async def test_invalid_id_without_stopping_charges_up_to_max_energy_on_invalid_id(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(
            nursery,
            scripted,
            StopTransactionOnInvalidId="false",
            MaxEnergyOnInvalidId="1000",
            MeterValueSampleInterval="0",
        )
        await start_session(site, INVALID)
        started = trio.current_time()
        elapsed = await site.csms.wait_status(1, S.SUSPENDED_EVSE) - started
        assert 1000 / 11_000 * 3600 <= elapsed <= 1000 / 11_000 * 3600 + 6, (
            "1000 Wh at 11 kW, checked every 5 s"
        )
        assert 1000 <= site.plugs[0].energy_wh() <= 1000 + 11_000 * 6 / 3600
        await trio.sleep(600)
        assert site.plugs[0].energy_wh() <= 1000 + 11_000 * 6 / 3600, "no power while the EVSE suspends"
        nursery.cancel_scope.cancel()


async def test_a_cable_that_does_not_lock_faults_the_connector_until_it_is_removed(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        plug = site.plugs[0]
        plug.lock_fails = True
        plug.plug_in()
        plug.present_id_tag("TAG-1")
        await site.csms.expect(AuthorizeRequest)
        await trio.sleep(1)
        assert site.charge_point.connectors[1].transaction is None, "no transaction without a locked cable"
        assert site.csms.statuses[-1] == (1, S.FAULTED, None)
        plug.unplug()
        await trio.sleep(1)
        assert site.csms.statuses_of(1) == [S.PREPARING, S.FAULTED, S.AVAILABLE]
        nursery.cancel_scope.cancel()


async def test_a_fault_while_charging_stops_the_transaction(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        await start_session(site)
        site.plugs[0].fault(ChargePointErrorCode.GROUND_FAILURE, "RCD")
        stop = await site.csms.expect(StopTransactionRequest)
        assert stop.request.reason is Reason.OTHER
        site.plugs[0].clear_fault()
        await trio.sleep(1)
        site.plugs[0].unplug()
        await trio.sleep(1)
        assert site.csms.statuses_of(1) == [S.PREPARING, S.CHARGING, S.FAULTED, S.FINISHING, S.AVAILABLE]
        faulted = [entry for entry in site.csms.statuses if entry[1] is S.FAULTED]
        assert faulted == [(1, S.FAULTED, "RCD")]
        nursery.cancel_scope.cancel()


class SlowLock(SimulatedConnector):
    """A connector whose cable lock takes two seconds to open."""

    async def unlock(self) -> bool:
        await trio.sleep(2)
        return await super().unlock()


async def test_a_command_to_an_idle_connector_is_handled_at_once(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        await trio.sleep(100)  # no timer is due: the connectors wait for their hardware alone
        asked = trio.current_time()
        with trio.fail_after(1):
            answer = await site.csms.call(
                ChangeAvailabilityRequest(connector_id=1, type=AvailabilityType.INOPERATIVE)
            )
            told = await site.csms.wait_status(1, S.UNAVAILABLE)
        assert answer == ChangeAvailabilityResponse(status=AvailabilityStatus.ACCEPTED)
        assert trio.current_time() == told == asked
        assert site.csms.statuses == [(1, S.UNAVAILABLE, None)]
        nursery.cancel_scope.cancel()


async def test_hardware_events_during_a_command_are_handled_after_it_in_their_order(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, plugs=[SlowLock(), SimulatedConnector()])
        plug, csms = site.plugs[0], site.csms
        asked = trio.current_time()

        async def meanwhile() -> None:
            await trio.sleep(1)  # the connector is opening its lock
            plug.plug_in()
            plug.present_id_tag("TAG-A")
            plug.present_id_tag("TAG-B")  # while TAG-A is being authorised: ignored

        nursery.start_soon(meanwhile)
        with trio.fail_after(10):
            answer = await csms.call(UnlockConnectorRequest(connector_id=1))
            assert trio.current_time() == asked + 2
            authorize = await csms.expect(AuthorizeRequest)
            start = await csms.expect(StartTransactionRequest)
        assert answer == UnlockConnectorResponse(status=UnlockStatus.UNLOCKED)
        assert (authorize.time, authorize.request.id_tag) == (asked + 2, "TAG-A")
        assert (start.time, start.request.id_tag) == (asked + 2, "TAG-A")
        await trio.sleep(1)
        assert csms.statuses_of(1) == [S.PREPARING, S.CHARGING]
        assert csms.waiting_calls() == 0, "no Authorize for TAG-B"
        nursery.cancel_scope.cancel()


async def test_send_waits_while_the_connector_has_too_many_commands_waiting(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, plugs=[SlowLock(), SimulatedConnector()])
        connector = site.charge_point.connectors[1]
        asked = trio.current_time()
        await connector.send(Unlock())  # its handling takes two seconds
        await trio.sleep(0.5)
        triggers = [TriggerMeterValues() for _ in range(MAILBOX_SIZE + 1)]
        for trigger in triggers[:-1]:
            await connector.send(trigger)
        assert trio.current_time() == asked + 0.5, "room for the first ones"
        with trio.fail_after(10):
            await connector.send(triggers[-1])
            assert trio.current_time() == asked + 2, "the last one waited until the connector took one"
            answered = [await trigger.reply.wait() for trigger in triggers]
        assert all(isinstance(request, MeterValuesRequest) for request in answered)
        nursery.cancel_scope.cancel()
