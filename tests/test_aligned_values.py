"""Clock-aligned MeterValues (spec 3.16.2), of the main meter (connector 0) and the connectors, in virtual
time: sent at the ends of the ClockAlignedDataInterval's intervals of the UTC day while it is set, from the
moment a ChangeConfiguration sets it, and no more once it is set back to 0 ("A value of '0' (numeric zero), by
convention, is to be interpreted to mean that no clock-aligned data should be transmitted", 9.1.5)."""

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import trio
import trio.testing
from scripted_csms import ScriptedConnection, ScriptedCsms

from actors.charge_point import ChargePoint, ChargePointSettings
from actors.clock import WallClock
from actors.ocpp import (
    BootNotificationRequest,
    BootNotificationResponse,
    ChangeConfigurationRequest,
    ChangeConfigurationResponse,
    ConfigurationStatus,
    HeartbeatRequest,
    HeartbeatResponse,
    Measurand,
    MeterValuesRequest,
    MeterValuesResponse,
    ReadingContext,
    RegistrationStatus,
    ResultReceived,
    StatusNotificationRequest,
    StatusNotificationResponse,
)
from fleet.simulated import SimulatedConnector
from storage.memory import MemoryChargePointState

CSMS_TIME = datetime(2026, 12, 2, 12, 0, 10, tzinfo=UTC)
HEARTBEAT_INTERVAL = 3600


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedCsms]:
    async with trio.open_nursery() as nursery:
        yield ScriptedCsms(nursery)
        nursery.cancel_scope.cancel()


async def booted(nursery: trio.Nursery, scripted: ScriptedCsms) -> ScriptedConnection:
    """A charge point with 2 connectors and ClockAlignedDataInterval 0 (the default), accepted."""
    settings = ChargePointSettings(
        "CP-1",
        "ws://csms.test/ocpp",
        connectors=2,
        configuration={"MeterValuesAlignedData": "Energy.Active.Import.Register"},
    )
    charge_point = ChargePoint(
        settings,
        MemoryChargePointState(),
        dialer=scripted.dial,
        clock=WallClock(CSMS_TIME),
        rng=random.Random(1),
        hardware=[SimulatedConnector(), SimulatedConnector()],
    )
    nursery.start_soon(charge_point.run)
    connection = await scripted.accept()
    received = await connection.expect_call(BootNotificationRequest)
    answer = BootNotificationResponse(
        status=RegistrationStatus.ACCEPTED, current_time=CSMS_TIME, interval=HEARTBEAT_INTERVAL
    )
    await connection.answer(received, answer)
    for _ in range(3):
        await connection.answer(
            await connection.expect_call(StatusNotificationRequest), StatusNotificationResponse()
        )
    return connection


async def change(connection: ScriptedConnection, key: str, value: str) -> None:
    event = await connection.call(ChangeConfigurationRequest(key=key, value=value))
    assert isinstance(event, ResultReceived)
    assert event.response == ChangeConfigurationResponse(status=ConfigurationStatus.ACCEPTED)


def wall_time() -> datetime:
    return CSMS_TIME + timedelta(seconds=trio.current_time())


async def test_clock_aligned_values_come_at_the_ends_of_the_intervals_from_when_it_is_set_until_it_is_zero(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        connection = await booted(nursery, scripted)
        await trio.sleep(600)  # 12:10:10, nothing sent meanwhile: the interval is 0
        await change(connection, "ClockAlignedDataInterval", "900")
        sent = []
        for _ in range(6):  # the main meter and both connectors, at 12:15 and 12:30
            received = await connection.expect_call(MeterValuesRequest)
            await connection.answer(received, MeterValuesResponse())
            (meter_value,) = received.request.meter_value
            (sampled,) = meter_value.sampled_value
            assert (sampled.measurand, sampled.context) == (
                Measurand.ENERGY_ACTIVE_IMPORT_REGISTER,
                ReadingContext.SAMPLE_CLOCK,
            )
            sent.append((wall_time().strftime("%H:%M:%S"), received.request.connector_id))
        assert sorted(sent) == [(at, connector) for at in ("12:15:00", "12:30:00") for connector in (0, 1, 2)]
        await change(connection, "ClockAlignedDataInterval", "0")
        heartbeat = await connection.expect_call()
        assert isinstance(heartbeat.request, HeartbeatRequest), "no clock-aligned data once it is 0"
        await connection.answer(heartbeat, HeartbeatResponse(current_time=wall_time()))
        nursery.cancel_scope.cancel()
