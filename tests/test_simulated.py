"""The simulated connector: energy over virtual time, limits, taper, full battery, events."""

import pytest
import trio

from actors.hardware import CablePlugged, EvSuspended, FaultDetected, IdTagPresented
from actors.ocpp import ChargePointErrorCode, Measurand, Phase
from fleet.simulated import EvModel, SimulatedConnector


async def test_energy_is_power_integrated_over_trio_time(autojump_clock: trio.testing.MockClock) -> None:
    connector = SimulatedConnector(max_power_w=22_000)
    connector.plug_in(EvModel(battery_wh=60_000, max_power_w=11_000, soc_percent=20))
    await connector.set_relay(True)
    await trio.sleep(3600)
    assert connector.energy_wh() == pytest.approx(11_000)
    assert connector.read(Measurand.SOC, None) == pytest.approx(20 + 100 * 11_000 / 60_000, abs=0.05)
    assert connector.read(Measurand.POWER_ACTIVE_IMPORT, None) == 11_000
    assert connector.read(Measurand.CURRENT_IMPORT, Phase.L1) == pytest.approx(11_000 / (3 * 230))


async def test_no_energy_while_the_relay_is_open_or_nothing_is_plugged_in(
    autojump_clock: trio.testing.MockClock,
) -> None:
    connector = SimulatedConnector()
    await connector.set_relay(True)
    await trio.sleep(600)
    connector.plug_in()
    await connector.set_relay(False)
    await trio.sleep(600)
    assert connector.energy_wh() == 0
    assert connector.read(Measurand.POWER_ACTIVE_IMPORT, None) == 0


async def test_the_offered_limit_caps_the_power(autojump_clock: trio.testing.MockClock) -> None:
    connector = SimulatedConnector()
    connector.plug_in(EvModel(max_power_w=11_000))
    await connector.set_relay(True)
    connector.offer(3_680)
    await trio.sleep(1800)
    assert connector.energy_wh() == pytest.approx(1_840)
    assert connector.read(Measurand.POWER_OFFERED, None) == 3_680


async def test_power_tapers_and_a_full_battery_stops_the_ev(autojump_clock: trio.testing.MockClock) -> None:
    connector = SimulatedConnector()
    connector.plug_in(EvModel(battery_wh=10_000, max_power_w=10_000, soc_percent=90, taper_from_soc=80))
    await connector.set_relay(True)
    assert connector.read(Measurand.POWER_ACTIVE_IMPORT, None) == pytest.approx(5_000)  # half way to full
    await trio.sleep(4 * 3600)
    assert connector.read(Measurand.SOC, None) == 100
    assert connector.energy_wh() == pytest.approx(1_000, abs=1)
    assert connector.read(Measurand.POWER_ACTIVE_IMPORT, None) == 0
    events = [connector.events.receive_nowait(), connector.events.receive_nowait()]
    assert events == [CablePlugged(), EvSuspended()]


async def test_scenario_events_arrive_in_order(autojump_clock: trio.testing.MockClock) -> None:
    connector = SimulatedConnector()
    connector.present_id_tag("TAG-1")
    connector.plug_in()
    connector.fault(ChargePointErrorCode.GROUND_FAILURE, "RCD tripped")
    received = [await connector.events.receive() for _ in range(3)]
    assert received == [
        IdTagPresented("TAG-1"),
        CablePlugged(),
        FaultDetected(ChargePointErrorCode.GROUND_FAILURE, "RCD tripped"),
    ]


async def test_the_lock_can_be_made_to_fail() -> None:
    connector = SimulatedConnector()
    assert await connector.lock()
    assert connector.locked
    connector.lock_fails = True
    assert not await connector.unlock()
    assert connector.locked
