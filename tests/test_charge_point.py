"""The ChargePoint actor against a scripted Central System, in virtual time (specification 3.16.2, 4.2, 4.6,
5.3, 5.8, 5.14 and 9.1; the OCPP-J transport rules)."""

import itertools
import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import attrs
import pytest
import trio
from scripted_csms import ScriptedConnection, ScriptedCsms

from actors.charge_point import ChargePoint, ChargePointSettings, NotAccepted
from actors.clock import WallClock
from actors.connection import ConnectionLost
from actors.ocpp import (
    BootNotificationRequest,
    BootNotificationResponse,
    ChangeConfigurationRequest,
    ChangeConfigurationResponse,
    ChargePointErrorCode,
    ChargePointStatus,
    ClearCacheRequest,
    ClearCacheResponse,
    ClearCacheStatus,
    ConfigurationStatus,
    DataTransferRequest,
    DataTransferResponse,
    DataTransferStatus,
    ErrorCode,
    ErrorReceived,
    GetConfigurationRequest,
    GetConfigurationResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    KeyValue,
    Measurand,
    MeterValuesRequest,
    MeterValuesResponse,
    ReadingContext,
    RegistrationStatus,
    RemoteStartStopStatus,
    RemoteStartTransactionRequest,
    RemoteStartTransactionResponse,
    ResetRequest,
    ResetResponse,
    ResetStatus,
    ResetType,
    ResultReceived,
    StatusNotificationRequest,
    StatusNotificationResponse,
)
from fleet.simulated import SimulatedConnector
from storage.memory import MemoryChargePointState

CSMS_TIME = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LOCAL_TIME = datetime(2020, 1, 1, tzinfo=UTC)  # a charge point whose clock is wrong until the CSMS says


REQUIRED_CORE_KEYS = """
    AuthorizeRemoteTxRequests ClockAlignedDataInterval ConnectionTimeout ConnectorPhaseRotation
    GetConfigurationMaxKeys HeartbeatInterval LocalAuthorizeOffline LocalPreAuthorize MeterValuesAlignedData
    MeterValuesSampledData MeterValueSampleInterval NumberOfConnectors ResetRetries
    StopTransactionOnEVSideDisconnect StopTransactionOnInvalidId StopTxnAlignedData StopTxnSampledData
    SupportedFeatureProfiles TransactionMessageAttempts TransactionMessageRetryInterval
    UnlockConnectorOnEVSideDisconnect
"""
"""The keys chapter 9.1 marks "required"."""


@pytest.fixture
def settings() -> ChargePointSettings:
    return ChargePointSettings(
        "CP 1/A",
        "ws://csms.test:9000/ocpp",
        vendor="Acme",
        model="AC22",
        serial_number="SN-1",
        firmware_version="1.2.3",
        connectors=2,
    )


@pytest.fixture
async def csms() -> AsyncIterator[ScriptedCsms]:
    async with trio.open_nursery() as nursery:
        yield ScriptedCsms(nursery)
        nursery.cancel_scope.cancel()


@pytest.fixture
async def state() -> MemoryChargePointState:
    return MemoryChargePointState()


async def start(
    nursery: trio.Nursery, csms: ScriptedCsms, settings: ChargePointSettings, state: MemoryChargePointState
) -> ChargePoint:
    charge_point = ChargePoint(
        settings,
        state,
        dialer=csms.dial,
        clock=WallClock(LOCAL_TIME),
        rng=random.Random(1),
        hardware=simulated_hardware(settings),
    )
    nursery.start_soon(charge_point.run)
    return charge_point


def simulated_hardware(settings: ChargePointSettings) -> list[SimulatedConnector]:
    return [SimulatedConnector() for _ in range(settings.connectors)]


def accepted(interval: int = 300, now: datetime = CSMS_TIME) -> BootNotificationResponse:
    return BootNotificationResponse(status=RegistrationStatus.ACCEPTED, current_time=now, interval=interval)


async def boot(connection: ScriptedConnection, interval: int = 300, connectors: int = 2) -> float:
    """Accept the BootNotification and take the StatusNotifications; returns the time of the last one."""
    received = await connection.expect_call(BootNotificationRequest)
    await connection.answer(received, accepted(interval))
    last = received.time
    for connector_id in range(connectors + 1):
        status = await connection.expect_call(StatusNotificationRequest)
        assert status.request.connector_id == connector_id
        await connection.answer(status, StatusNotificationResponse())
        last = status.time
    return last


async def test_cold_boot_accepted_then_statuses_then_heartbeats(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        assert connection.path == "/ocpp/CP%201%2FA"
        received = await connection.expect_call()
        assert received.time == 0
        assert received.request == BootNotificationRequest(
            charge_point_vendor="Acme",
            charge_point_model="AC22",
            charge_point_serial_number="SN-1",
            firmware_version="1.2.3",
        )
        await connection.answer(received, accepted(interval=300))
        for connector_id in (0, 1, 2):
            status = await connection.expect_call(StatusNotificationRequest)
            assert status.request == StatusNotificationRequest(
                connector_id=connector_id,
                error_code=ChargePointErrorCode.NO_ERROR,
                status=ChargePointStatus.AVAILABLE,
                timestamp=CSMS_TIME,  # the clock was set from the BootNotification answer
            )
            await connection.answer(status, StatusNotificationResponse())
        for expected_time in (300, 600):
            heartbeat = await connection.expect_call(HeartbeatRequest)
            assert heartbeat.time == expected_time
            await connection.answer(heartbeat, HeartbeatResponse(current_time=CSMS_TIME))
        nursery.cancel_scope.cancel()


async def test_heartbeat_counts_silence_from_the_last_message_sent(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        await boot(connection, interval=100)
        await trio.sleep(50)
        event = await connection.call(GetConfigurationRequest(key=("HeartbeatInterval",)))  # answered at 50
        assert isinstance(event, ResultReceived)
        heartbeat = await connection.expect_call(HeartbeatRequest)
        assert heartbeat.time == 150
        nursery.cancel_scope.cancel()


async def test_pending_answers_the_csms_refuses_remote_start_and_boots_again_after_interval(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        first = await connection.expect_call(BootNotificationRequest)
        pending = BootNotificationResponse(
            status=RegistrationStatus.PENDING, current_time=CSMS_TIME, interval=60
        )
        await connection.answer(first, pending)
        event = await connection.call(RemoteStartTransactionRequest(id_tag="TAG"))
        assert event.response == RemoteStartTransactionResponse(status=RemoteStartStopStatus.REJECTED)
        event = await connection.call(GetConfigurationRequest(key=("NumberOfConnectors",)))
        assert event.response.configuration_key == (
            KeyValue(key="NumberOfConnectors", readonly=True, value="2"),
        )
        second = await connection.expect_call()  # nothing else of its own before this
        assert isinstance(second.request, BootNotificationRequest)
        assert second.time == 60
        await connection.answer(second, accepted())
        assert (await connection.expect_call()).request.action == "StatusNotification"
        nursery.cancel_scope.cancel()


async def test_rejected_answers_nothing_and_boots_again_after_interval(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        first = await connection.expect_call(BootNotificationRequest)
        rejected = BootNotificationResponse(
            status=RegistrationStatus.REJECTED, current_time=CSMS_TIME, interval=120
        )
        await connection.answer(first, rejected)
        _, text = connection.session.call(GetConfigurationRequest())
        await connection.send_text(text)
        second = await connection.expect_call()  # the GetConfiguration is never answered
        assert isinstance(second.request, BootNotificationRequest)
        assert second.time == 120
        nursery.cancel_scope.cancel()


async def test_interval_zero_means_our_own_back_off(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        times = []
        for _ in range(4):
            received = await connection.expect_call(BootNotificationRequest)
            times.append(received.time)
            pending = BootNotificationResponse(
                status=RegistrationStatus.PENDING, current_time=CSMS_TIME, interval=0
            )
            await connection.answer(received, pending)
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        for failures, gap in enumerate(gaps):  # back-off: between half and all of 1, 2, 4 s
            assert 2**failures / 2 <= gap <= 2**failures
        nursery.cancel_scope.cancel()


async def test_unanswered_boot_times_out_and_is_sent_again_with_a_new_id(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        first = await connection.expect_call(BootNotificationRequest)
        second = await connection.expect_call(BootNotificationRequest)
        assert 30 + 0.5 <= second.time <= 30 + 1  # answer timeout, then the first back-off step
        assert second.unique_id != first.unique_id
        await connection.answer(first, accepted())  # too late: dropped by the charge point
        await connection.answer(second, accepted())
        assert (await connection.expect_call()).request.action == "StatusNotification"
        nursery.cancel_scope.cancel()


async def test_csms_call_is_answered_while_our_call_waits(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        boot_call = await connection.expect_call(BootNotificationRequest)
        event = await connection.call(ClearCacheRequest())
        assert event.response == ClearCacheResponse(status=ClearCacheStatus.ACCEPTED)
        await connection.answer(boot_call, accepted())
        assert (await connection.expect_call()).request.action == "StatusNotification"
        nursery.cancel_scope.cancel()


async def test_reconnect_backs_off_with_jitter_up_to_the_cap(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    csms.refusing = True
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        await trio.sleep(3600)
        nursery.cancel_scope.cancel()
    gaps = [later - earlier for earlier, later in itertools.pairwise(csms.dial_times)]
    assert csms.dial_times[0] == 0
    for failures, gap in enumerate(gaps, start=1):
        ceiling = min(300.0, 2.0**failures)
        assert ceiling / 2 <= gap <= ceiling
    assert max(gaps) > 150  # reached the cap region
    assert len({round(gap, 6) for gap in gaps[-5:]}) == 5  # capped waits still differ: no lock-step


async def test_server_without_the_ocpp16_subprotocol_is_a_failed_connection(
    autojump_clock: trio.testing.MockClock, settings: ChargePointSettings, state: MemoryChargePointState
) -> None:
    async with trio.open_nursery() as nursery:
        csms = ScriptedCsms(nursery, subprotocol=None)
        charge_point = await start(nursery, csms, settings, state)
        await trio.sleep(10)
        assert len(csms.dial_times) >= 3
        assert not charge_point.connected
        nursery.cancel_scope.cancel()


async def test_reconnect_is_not_a_reboot(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        charge_point = await start(nursery, csms, settings, state)
        connection = await csms.accept()
        await boot(connection, interval=300)
        await connection.close()
        again = await csms.accept()
        heartbeat = await again.expect_call()  # no BootNotification, no StatusNotification
        assert isinstance(heartbeat.request, HeartbeatRequest)
        assert charge_point.boots == 1
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("reset_type", [ResetType.SOFT, ResetType.HARD])
async def test_reset_is_accepted_then_the_charge_point_reboots(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
    reset_type: ResetType,
) -> None:
    async with trio.open_nursery() as nursery:
        charge_point = await start(nursery, csms, settings, state)
        connection = await csms.accept()
        await boot(connection)
        reset_time = trio.current_time()
        event = await connection.call(ResetRequest(type=reset_type))
        assert event.response == ResetResponse(status=ResetStatus.ACCEPTED)
        await connection.expect_closed()
        again = await csms.accept()
        assert csms.dial_times[1] == reset_time, "reconnects at once (soft: after the close handshake)"
        assert isinstance((await again.expect_call()).request, BootNotificationRequest)
        assert charge_point.boots == 2
        nursery.cancel_scope.cancel()


async def test_get_configuration_all_listed_unknown_and_too_many(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        await boot(connection, interval=300)
        everything = (await connection.call(GetConfigurationRequest())).response
        keys = {item.key: item for item in everything.configuration_key}
        assert everything.unknown_key is None
        required_core_keys = set(REQUIRED_CORE_KEYS.split())
        assert required_core_keys <= set(keys)
        assert keys["NumberOfConnectors"] == KeyValue(key="NumberOfConnectors", readonly=True, value="2")
        assert keys["HeartbeatInterval"] == KeyValue(key="HeartbeatInterval", readonly=False, value="300")
        profiles = keys["SupportedFeatureProfiles"].value.split(",")
        assert sorted(profiles) == sorted(
            [  # all six feature profiles of OCPP 1.6 (spec 3.2)
                "Core",
                "FirmwareManagement",
                "LocalAuthListManagement",
                "Reservation",
                "SmartCharging",
                "RemoteTrigger",
            ]
        )
        for key in ("LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength"):
            assert key in keys, "9.2: required keys of the Local Auth List Management profile"

        listed = (
            await connection.call(GetConfigurationRequest(key=("heartbeatinterval", "Colour")))
        ).response
        assert listed == GetConfigurationResponse(
            configuration_key=(KeyValue(key="HeartbeatInterval", readonly=False, value="300"),),
            unknown_key=("Colour",),
        )
        too_many = await connection.call(GetConfigurationRequest(key=tuple(f"K{n}" for n in range(65))))
        assert isinstance(too_many, ErrorReceived)
        assert too_many.code == ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("key", "value", "status"),
    [
        ("MeterValueSampleInterval", "30", ConfigurationStatus.ACCEPTED),
        ("metervaluesampleinterval", "30", ConfigurationStatus.ACCEPTED),
        ("LocalPreAuthorize", "TRUE", ConfigurationStatus.ACCEPTED),
        (
            "MeterValuesSampledData",
            "Energy.Active.Import.Register,Voltage.L1,SoC",
            ConfigurationStatus.ACCEPTED,
        ),
        ("NumberOfConnectors", "3", ConfigurationStatus.REJECTED),
        ("MeterValueSampleInterval", "often", ConfigurationStatus.REJECTED),
        ("MeterValueSampleInterval", "1.5", ConfigurationStatus.REJECTED),
        ("LocalPreAuthorize", "yes", ConfigurationStatus.REJECTED),
        ("WebSocketPingInterval", "-1", ConfigurationStatus.REJECTED),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,RPM", ConfigurationStatus.REJECTED),
        ("MeterValuesSampledData", "Voltage.L4", ConfigurationStatus.REJECTED),
        ("ConnectorPhaseRotation", "1.RST,2.XYZ", ConfigurationStatus.REJECTED),
        ("Colour", "blue", ConfigurationStatus.NOT_SUPPORTED),
    ],
)
async def test_change_configuration_outcomes_and_persistence(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
    key: str,
    value: str,
    status: ConfigurationStatus,
) -> None:
    async with trio.open_nursery() as nursery:
        charge_point = await start(nursery, csms, settings, state)
        connection = await csms.accept()
        await boot(connection)
        before = await state.load_configuration()
        event = await connection.call(ChangeConfigurationRequest(key=key, value=value))
        assert event.response == ChangeConfigurationResponse(status=status)
        after = await state.load_configuration()
        if status is ConfigurationStatus.ACCEPTED:
            definition = charge_point.configuration.definition(key)
            assert definition is not None
            assert after == {**before, definition.name: value}
        else:
            assert after == before
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(("interval", "kept"), [(300, {}), (100, {"HeartbeatInterval": "100"})])
async def test_the_boot_answers_interval_is_kept_only_if_it_is_not_in_force_already(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
    interval: int,
    kept: dict[str, str],
) -> None:
    """300 is the default in force: writing it again would change nothing (spec 4.2: the interval is
    adjusted; it is the same)."""
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        last_status = await boot(connection, interval=interval)
        assert await state.load_configuration() == kept
        heartbeat = await connection.expect_call(HeartbeatRequest)
        assert heartbeat.time - last_status == interval
        nursery.cancel_scope.cancel()


async def test_clock_aligned_values_come_at_the_ends_of_the_intervals_from_when_it_is_set_until_it_is_zero(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    """3.16.2 and 9.1.5: MeterValues of the main meter (connector 0) and of each connector at the end of each
    interval of the UTC day, and "a value of '0' ... no clock-aligned data should be transmitted"."""

    async def change(key: str, value: str) -> None:
        event = await connection.call(ChangeConfigurationRequest(key=key, value=value))
        assert event.response == ChangeConfigurationResponse(status=ConfigurationStatus.ACCEPTED)

    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        await boot(connection, interval=3600)  # the clock is the Central System's from here: 12:00
        await change("MeterValuesAlignedData", "Energy.Active.Import.Register")
        await trio.sleep(600)  # nothing is sent meanwhile: the interval is 0 (else the next answer fails)
        await change("ClockAlignedDataInterval", "900")
        sent = []
        for _ in range(6):
            received = await connection.expect_call(MeterValuesRequest)
            await connection.answer(received, MeterValuesResponse())
            (sampled,) = received.request.meter_value[0].sampled_value
            assert (sampled.measurand, sampled.context) == (
                Measurand.ENERGY_ACTIVE_IMPORT_REGISTER,
                ReadingContext.SAMPLE_CLOCK,
            )
            at = CSMS_TIME + timedelta(seconds=received.time)
            sent.append((at.strftime("%H:%M:%S"), received.request.connector_id))
        assert sorted(sent) == [(at, connector) for at in ("12:15:00", "12:30:00") for connector in (0, 1, 2)]
        await change("ClockAlignedDataInterval", "0")
        heartbeat = await connection.expect_call()
        assert isinstance(heartbeat.request, HeartbeatRequest), "no clock-aligned data once it is 0"
        nursery.cancel_scope.cancel()


async def test_changed_heartbeat_interval_applies_at_once_and_survives_a_reboot(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        await boot(connection, interval=300)
        start_time = trio.current_time()
        await connection.call(ChangeConfigurationRequest(key="HeartbeatInterval", value="20"))
        heartbeat = await connection.expect_call(HeartbeatRequest)
        assert heartbeat.time == start_time + 20
        await connection.answer(heartbeat, HeartbeatResponse(current_time=CSMS_TIME))
        await connection.call(ChangeConfigurationRequest(key="MeterValueSampleInterval", value="15"))
        await connection.call(ResetRequest(type=ResetType.SOFT))
        again = await csms.accept()
        boot_call = await again.expect_call(BootNotificationRequest)
        await again.answer(boot_call, accepted(interval=0))  # interval 0: keep our own HeartbeatInterval
        for _ in range(3):
            await again.answer(
                await again.expect_call(StatusNotificationRequest), StatusNotificationResponse()
            )
        values = (
            await again.call(GetConfigurationRequest(key=("MeterValueSampleInterval", "HeartbeatInterval")))
        ).response
        assert [item.value for item in values.configuration_key] == ["15", "20"]
        nursery.cancel_scope.cancel()


async def test_data_transfer_unknown_vendor_and_registered_handler(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async def echo(request: DataTransferRequest) -> DataTransferResponse:
        return DataTransferResponse(status=DataTransferStatus.ACCEPTED, data=(request.data or "")[::-1])

    async with trio.open_nursery() as nursery:
        charge_point = ChargePoint(
            settings,
            state,
            dialer=csms.dial,
            clock=WallClock(LOCAL_TIME),
            data_transfer={"com.acme": echo},
            hardware=simulated_hardware(settings),
        )
        nursery.start_soon(charge_point.run)
        connection = await csms.accept()
        await boot(connection)
        unknown = await connection.call(DataTransferRequest(vendor_id="org.other", data="x"))
        assert unknown.response == DataTransferResponse(status=DataTransferStatus.UNKNOWN_VENDOR_ID)
        known = await connection.call(DataTransferRequest(vendor_id="com.acme", message_id="m", data="abc"))
        assert known.response == DataTransferResponse(status=DataTransferStatus.ACCEPTED, data="cba")
        nursery.cancel_scope.cancel()


async def test_an_action_we_do_not_implement_is_answered_not_implemented(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        await boot(connection)
        await connection.send_text('[2, "x-1", "MakeCoffee", {}]')  # an action OCPP 1.6 does not have
        answer = json.loads(await connection.websocket.get_message())
        assert answer[:3] == [4, "x-1", "NotImplemented"]
        nursery.cancel_scope.cancel()


async def test_malformed_csms_call_gets_a_callerror_and_the_charge_point_carries_on(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        await boot(connection)
        await connection.send_text('[2, "bad-1", "ChangeConfiguration", {"key": "HeartbeatInterval"}]')
        answer = json.loads(await connection.websocket.get_message())
        assert answer[:3] == [4, "bad-1", "OccurenceConstraintViolation"]
        event = await connection.call(ClearCacheRequest())
        assert isinstance(event, ResultReceived)
        nursery.cancel_scope.cancel()


async def test_a_missing_pong_means_the_link_is_dead(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        charge_point = await start(nursery, csms, settings, state)
        connection = await csms.accept()
        await boot(connection)
        csms.partition()
        await csms.accept()
        # ping at 60 s (WebSocketPingInterval), no pong for 10 s, a close that nobody answers (2 s), back-off
        assert 72.5 <= csms.dial_times[1] <= 73
        assert charge_point.boots == 1
        nursery.cancel_scope.cancel()


class TaskSpawns(trio.abc.Instrument):
    def __init__(self) -> None:
        self.names: list[str] = []

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.names.append(task.name)


def tasks_under(task: trio.lowlevel.Task) -> list[str]:
    """The names of ``task`` and of every task in its nurseries, and theirs."""
    names = [task.name]
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            names += tasks_under(child)
    return names


async def test_an_idle_connected_charge_point_parks_few_tasks_and_starts_none(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    """Registered, reported, then an hour of pings (every 60 s) and Heartbeats (every 300 s): the charge point
    itself (which also pings and sends the Heartbeats), its 2 connectors and the connection's reader, and not
    one task started for a ping, a Heartbeat or its answer."""
    spawns = TaskSpawns()
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        await boot(connection, interval=300)
        await trio.testing.wait_all_tasks_blocked()
        [charge_point_task] = nursery.child_tasks
        assert sorted(name.rsplit(".", 1)[-1] for name in tasks_under(charge_point_task)) == [
            "run",
            "run",
            "run",
            "run_reader",
        ]
        trio.lowlevel.add_instrument(spawns)
        for _ in range(12):
            heartbeat = await connection.expect_call(HeartbeatRequest)
            await connection.answer(heartbeat, HeartbeatResponse(current_time=CSMS_TIME))
        trio.lowlevel.remove_instrument(spawns)
        assert trio.current_time() == 12 * 300
        assert spawns.names == []
        nursery.cancel_scope.cancel()


async def test_no_pings_when_the_interval_is_zero(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    settings = attrs.evolve(settings, configuration={"WebSocketPingInterval": "0", "HeartbeatInterval": "0"})
    async with trio.open_nursery() as nursery:
        await start(nursery, csms, settings, state)
        connection = await csms.accept()
        await boot(connection, interval=0)
        csms.partition()
        await trio.sleep(24 * 3600)
        assert len(csms.dial_times) == 1, "nothing noticed the partition: no pings, no heartbeats"
        nursery.cancel_scope.cancel()


async def test_the_charge_point_sends_data_transfer_once_accepted(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        charge_point = await start(nursery, csms, settings, state)
        connection = await csms.accept()
        with pytest.raises(NotAccepted):
            await charge_point.data_transfer("com.acme")
        await boot(connection)
        answer = DataTransferResponse(status=DataTransferStatus.ACCEPTED, data="pong")

        async def csms_side() -> None:
            received = await connection.expect_call(DataTransferRequest)
            assert received.request == DataTransferRequest(vendor_id="com.acme", message_id="ping", data="1")
            await connection.answer(received, answer)

        nursery.start_soon(csms_side)
        assert await charge_point.data_transfer("com.acme", "ping", "1") == answer
        nursery.cancel_scope.cancel()


async def test_a_call_from_outside_fails_at_once_when_the_connection_drops(
    autojump_clock: trio.testing.MockClock,
    csms: ScriptedCsms,
    settings: ChargePointSettings,
    state: MemoryChargePointState,
) -> None:
    async with trio.open_nursery() as nursery:
        charge_point = await start(nursery, csms, settings, state)
        connection = await csms.accept()
        await boot(connection)

        async def drop_after_request() -> None:
            await connection.expect_call(DataTransferRequest)
            await trio.sleep(5)
            await connection.close()

        nursery.start_soon(drop_after_request)
        with pytest.raises(ConnectionLost):
            await charge_point.data_transfer("com.acme")
        assert trio.current_time() == 5
        nursery.cancel_scope.cancel()
