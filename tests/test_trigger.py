"""TriggerMessage (spec 5.17) in virtual time, in the manner of the compliance cases TC_054 and TC_055: the
answer goes out first, then the requested message, with current information."""

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import trio
import trio.testing
from scripted_csms import ScriptedConnection, ScriptedCsms

from actors.charge_point import ChargePoint, ChargePointSettings
from actors.clock import WallClock
from actors.ocpp import (
    BootNotificationRequest,
    BootNotificationResponse,
    ChargePointStatus,
    DiagnosticsStatus,
    DiagnosticsStatusNotificationRequest,
    DiagnosticsStatusNotificationResponse,
    FirmwareStatus,
    FirmwareStatusNotificationRequest,
    FirmwareStatusNotificationResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    Measurand,
    MessageTrigger,
    MeterValuesRequest,
    MeterValuesResponse,
    ReadingContext,
    RegistrationStatus,
    ResultReceived,
    StatusNotificationRequest,
    StatusNotificationResponse,
    TriggerMessageRequest,
    TriggerMessageResponse,
    TriggerMessageStatus,
)
from actors.trigger import trigger_status, triggered_connectors
from fleet.simulated import EvModel, SimulatedConnector
from storage.memory import MemoryChargePointState

CSMS_TIME = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
T = MessageTrigger
ACCEPTED, REJECTED = TriggerMessageStatus.ACCEPTED, TriggerMessageStatus.REJECTED


@pytest.mark.parametrize(
    ("requested", "connector_id", "status", "connectors"),
    [
        (T.STATUS_NOTIFICATION, None, ACCEPTED, [0, 1, 2]),  # the charge point and each connector
        (T.STATUS_NOTIFICATION, 0, ACCEPTED, [0]),
        (T.STATUS_NOTIFICATION, 2, ACCEPTED, [2]),
        (T.STATUS_NOTIFICATION, 3, REJECTED, [3]),  # no such connector
        (T.METER_VALUES, None, ACCEPTED, [1, 2]),
        (T.METER_VALUES, 0, ACCEPTED, [0]),  # the main meter
        (T.METER_VALUES, 9, REJECTED, [9]),
        (T.HEARTBEAT, 9, ACCEPTED, []),  # the connectorId is not relevant to it: ignored
        (T.BOOT_NOTIFICATION, None, ACCEPTED, []),
        (T.FIRMWARE_STATUS_NOTIFICATION, 1, ACCEPTED, []),
        (T.DIAGNOSTICS_STATUS_NOTIFICATION, None, ACCEPTED, []),
    ],
)
def test_what_a_trigger_answers_and_sends(
    requested: MessageTrigger, connector_id: int | None, status: TriggerMessageStatus, connectors: list[int]
) -> None:
    assert trigger_status(requested, connector_id, 2) is status
    assert triggered_connectors(requested, connector_id, 2) == connectors


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedCsms]:
    async with trio.open_nursery() as nursery:
        yield ScriptedCsms(nursery)
        nursery.cancel_scope.cancel()


def start(nursery: trio.Nursery, scripted: ScriptedCsms) -> list[SimulatedConnector]:
    plugs = [SimulatedConnector(), SimulatedConnector()]
    settings = ChargePointSettings(
        "CP-1",
        "ws://csms.test/ocpp",
        connectors=2,
        configuration={"MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import"},
    )
    charge_point = ChargePoint(
        settings,
        MemoryChargePointState(),
        dialer=scripted.dial,
        clock=WallClock(CSMS_TIME),
        rng=random.Random(1),
        hardware=plugs,
    )
    nursery.start_soon(charge_point.run)
    return plugs


async def boot(
    connection: ScriptedConnection, status: RegistrationStatus = RegistrationStatus.ACCEPTED
) -> None:
    received = await connection.expect_call(BootNotificationRequest)
    answer = BootNotificationResponse(status=status, current_time=CSMS_TIME, interval=3600)
    await connection.answer(received, answer)
    if status is RegistrationStatus.ACCEPTED:
        for _ in range(3):
            await connection.answer(
                await connection.expect_call(StatusNotificationRequest), StatusNotificationResponse()
            )


async def trigger(
    connection: ScriptedConnection, requested: MessageTrigger, connector_id: int | None = None
) -> TriggerMessageStatus:
    """Send TriggerMessage; the very next message must be its answer (spec 5.17: the answer first)."""
    event = await connection.call(
        TriggerMessageRequest(requested_message=requested, connector_id=connector_id)
    )
    assert isinstance(event, ResultReceived), f"expected the answer first, got {event!r}"
    assert isinstance(event.response, TriggerMessageResponse)
    return event.response.status


async def test_status_notification_for_the_charge_point_and_every_connector(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """TC_054."""
    async with trio.open_nursery() as nursery:
        plugs = start(nursery, scripted)
        connection = await scripted.accept()
        await boot(connection)
        plugs[1].plug_in()
        changed = await connection.expect_call(StatusNotificationRequest)
        await connection.answer(changed, StatusNotificationResponse())
        assert await trigger(connection, T.STATUS_NOTIFICATION) is ACCEPTED
        reported = []
        for _ in range(3):
            received = await connection.expect_call(StatusNotificationRequest)
            reported.append((received.request.connector_id, received.request.status))
            await connection.answer(received, StatusNotificationResponse())
        assert reported == [
            (0, ChargePointStatus.AVAILABLE),
            (1, ChargePointStatus.AVAILABLE),
            (2, ChargePointStatus.PREPARING),
        ]
        nursery.cancel_scope.cancel()


async def test_an_unknown_connector_is_rejected_and_nothing_is_sent(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """TC_055."""
    async with trio.open_nursery() as nursery:
        start(nursery, scripted)
        connection = await scripted.accept()
        await boot(connection)
        assert await trigger(connection, T.STATUS_NOTIFICATION, 3) is REJECTED
        assert await trigger(connection, T.HEARTBEAT) is ACCEPTED
        heartbeat = await connection.expect_call()
        assert isinstance(heartbeat.request, HeartbeatRequest), "nothing was sent for the rejected trigger"
        await connection.answer(heartbeat, HeartbeatResponse(current_time=CSMS_TIME))
        nursery.cancel_scope.cancel()


async def test_meter_values_give_the_latest_readings_with_context_trigger(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        plugs = start(nursery, scripted)
        connection = await scripted.accept()
        await boot(connection)
        plugs[0].plug_in(EvModel(max_power_w=7_200))
        await connection.answer(
            await connection.expect_call(StatusNotificationRequest), StatusNotificationResponse()
        )
        await trio.sleep(30)  # within ConnectionTimeout: Preparing still
        assert await trigger(connection, T.METER_VALUES, 1) is ACCEPTED
        received = await connection.expect_call(MeterValuesRequest)
        await connection.answer(received, MeterValuesResponse())
        request = received.request
        assert (request.connector_id, request.transaction_id) == (1, None)
        (meter_value,) = request.meter_value
        assert [(value.measurand, value.context) for value in meter_value.sampled_value] == [
            (Measurand.ENERGY_ACTIVE_IMPORT_REGISTER, ReadingContext.TRIGGER),
            (Measurand.POWER_ACTIVE_IMPORT, ReadingContext.TRIGGER),
        ]
        assert [value.value for value in meter_value.sampled_value] == ["0", "0"], "no transaction: no power"
        nursery.cancel_scope.cancel()


async def test_firmware_and_diagnostics_status_are_idle_when_nothing_goes_on(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        start(nursery, scripted)
        connection = await scripted.accept()
        await boot(connection)
        assert await trigger(connection, T.FIRMWARE_STATUS_NOTIFICATION) is ACCEPTED
        firmware = await connection.expect_call(FirmwareStatusNotificationRequest)
        await connection.answer(firmware, FirmwareStatusNotificationResponse())
        assert firmware.request.status is FirmwareStatus.IDLE
        assert await trigger(connection, T.DIAGNOSTICS_STATUS_NOTIFICATION) is ACCEPTED
        diagnostics = await connection.expect_call(DiagnosticsStatusNotificationRequest)
        await connection.answer(diagnostics, DiagnosticsStatusNotificationResponse())
        assert diagnostics.request.status is DiagnosticsStatus.IDLE
        nursery.cancel_scope.cancel()


async def test_a_pending_charge_point_registers_at_once_when_triggered(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """Pending with an interval of an hour: the trigger brings the BootNotification at once (spec 4.2,
    5.17); once Accepted, the statuses follow."""
    async with trio.open_nursery() as nursery:
        start(nursery, scripted)
        connection = await scripted.accept()
        await boot(connection, RegistrationStatus.PENDING)
        await trio.sleep(60)
        asked = trio.current_time()
        assert await trigger(connection, T.BOOT_NOTIFICATION) is ACCEPTED
        again = await connection.expect_call(BootNotificationRequest)
        assert again.time == asked
        await connection.answer(
            again,
            BootNotificationResponse(
                status=RegistrationStatus.ACCEPTED, current_time=CSMS_TIME, interval=3600
            ),
        )
        status = await connection.expect_call(StatusNotificationRequest)
        assert status.request.connector_id == 0
        nursery.cancel_scope.cancel()


async def test_a_triggered_heartbeat_sets_the_clock(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        start(nursery, scripted)
        connection = await scripted.accept()
        await boot(connection)
        assert await trigger(connection, T.HEARTBEAT) is ACCEPTED
        heartbeat = await connection.expect_call(HeartbeatRequest)
        later = datetime(2027, 1, 1, tzinfo=UTC)
        await connection.answer(heartbeat, HeartbeatResponse(current_time=later))
        assert await trigger(connection, T.STATUS_NOTIFICATION, 0) is ACCEPTED
        status = await connection.expect_call(StatusNotificationRequest)
        assert status.request.timestamp == later
        nursery.cancel_scope.cancel()
