"""Simulated drivers of a fleet charge for hours of virtual time against the embedded Central System."""

from collections import defaultdict

import trio
import trio.testing

from actors.connection import CsmsAddress
from actors.statistics import Statistics
from fleet.csms import CentralSystem
from fleet.drivers import SessionSettings
from fleet.fleetfile import ChargePointSpec
from fleet.runner import Fleet
from storage import MemoryStorage

SESSIONS = SessionSettings(("TAG-1", "TAG-2"), arrivals_per_hour=2.0, duration_minutes=(20.0, 90.0))


def charge_point_spec(n: int) -> ChargePointSpec:
    """CP-n: 2 connectors of 11 kW, MeterValues every 300 s, with simulated drivers."""
    return ChargePointSpec(
        id=f"CP-{n}",
        serial=None,
        connectors=2,
        vendor="Acme",
        model="AC22",
        firmware=None,
        csms_url="ws://csms.test/ocpp",
        configuration={"MeterValueSampleInterval": "300"},
        max_power_w=11_000,
        sessions=SESSIONS,
    )


def start_fleet(
    nursery: trio.Nursery,
    central_system: CentralSystem,
    specs: list[ChargePointSpec],
    statistics: Statistics | None = None,
) -> None:
    """Run a fleet of ``specs`` in ``nursery``, connected to ``central_system`` by memory streams."""

    async def dial(address: CsmsAddress) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        nursery.start_soon(central_system.serve_stream, server)
        return client

    fleet = Fleet(specs, storage=MemoryStorage(), dialer=dial, statistics=statistics)
    nursery.start_soon(fleet.run)


async def test_drivers_complete_sessions_with_meter_values(autojump_clock: trio.testing.MockClock) -> None:
    central_system = CentralSystem(heartbeat_interval=3600)
    async with trio.open_nursery() as nursery:
        start_fleet(nursery, central_system, [charge_point_spec(1), charge_point_spec(2)])
        await trio.sleep(12 * 3600)
        nursery.cancel_scope.cancel()

    started: dict[int, tuple[str, int]] = {}
    meter_values: dict[int, list[int]] = defaultdict(list)
    stopped: dict[int, int] = {}
    answers = {record.unique_id: record for record in central_system.records if record.direction == "out"}
    for record in central_system.records:
        if record.direction != "in" or record.kind != "CALL":
            continue
        if record.action == "StartTransaction":
            transaction_id = answers[record.unique_id].payload["transactionId"]
            started[transaction_id] = (record.charge_point_id, record.payload["meterStart"])
        elif record.action == "MeterValues" and "transactionId" in record.payload:
            (sampled,) = record.payload["meterValue"][0]["sampledValue"]
            meter_values[record.payload["transactionId"]].append(int(sampled["value"]))
        elif record.action == "StopTransaction":
            stopped[record.payload["transactionId"]] = record.payload["meterStop"]
    assert len(started) >= 10, "four connectors, two arrivals an hour each while free, for 12 hours"
    assert set(stopped) <= set(started)
    assert len(started) - len(stopped) <= 4, "at most one open session per connector at the end"
    for transaction_id, meter_stop in stopped.items():
        _, meter_start = started[transaction_id]
        readings = meter_values[transaction_id]
        assert readings == sorted(readings), "the energy register never goes back"
        assert meter_start <= min(readings, default=meter_start)
        assert max(readings, default=meter_start) <= meter_stop
        assert meter_stop - meter_start <= 11_000 * 90 / 60 + 1, "never more than max power for 90 minutes"


def delivered_as_received(central_system: CentralSystem) -> tuple[int, int]:
    """From what the Central System received: the energy of the stopped sessions (meterStop - meterStart) and
    that of the running ones up to their last MeterValues' energy register."""
    answers = {record.unique_id: record for record in central_system.records if record.direction == "out"}
    meter_start: dict[int, int] = {}
    last_register: dict[int, int] = {}
    stopped = 0
    for record in central_system.records:
        if record.direction != "in" or record.kind != "CALL":
            continue
        if record.action == "StartTransaction":
            meter_start[answers[record.unique_id].payload["transactionId"]] = record.payload["meterStart"]
        elif record.action == "MeterValues" and "transactionId" in record.payload:
            (sampled,) = record.payload["meterValue"][0]["sampledValue"]
            last_register[record.payload["transactionId"]] = int(sampled["value"])
        elif record.action == "StopTransaction":
            transaction_id = record.payload["transactionId"]
            stopped += record.payload["meterStop"] - meter_start.pop(transaction_id)
    running = sum(
        last_register.get(transaction_id, start) - start for transaction_id, start in meter_start.items()
    )
    return stopped, running


async def test_the_energy_delivered_counts_running_sessions_at_each_meter_value(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The fleet's energy delivered is, at any time, meterStop - meterStart of the stopped sessions plus, for
    each running one, its last MeterValues' register - meterStart: it grows while sessions run."""
    central_system = CentralSystem(heartbeat_interval=3600)
    statistics = Statistics()
    seen_running = 0
    async with trio.open_nursery() as nursery:
        start_fleet(nursery, central_system, [charge_point_spec(1)], statistics)
        for _ in range(12 * 6):
            await trio.sleep(600)
            await trio.testing.wait_all_tasks_blocked()  # every message queued by now has been received
            stopped, running = delivered_as_received(central_system)
            assert statistics.energy_wh == stopped + running
            seen_running = max(seen_running, running)
        nursery.cancel_scope.cancel()
    assert seen_running > 0, "some time, running sessions had delivered energy"
    assert statistics.sessions_stopped >= 5
