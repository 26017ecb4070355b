"""Prometheus metrics (fleet.metrics), scraped over real HTTP."""

import io
import re
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

from actors.connection import CsmsAddress
from actors.statistics import Statistics
from fleet.commands import run_fleet
from fleet.csms import CentralSystem
from fleet.fleetfile import load_fleet_file
from fleet.metrics import FleetCollector, serving_metrics
from fleet.progress import FleetSize
from storage import MemoryStorage


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample at ``http://127.0.0.1:port/metrics``, by name and labels."""
    with httpx.Client(trust_env=False) as client:
        response = client.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    response.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_the_collector_serves_the_statistics_as_they_are_at_the_scrape() -> None:
    statistics = Statistics()
    boot = statistics.action("BootNotification")
    boot.sent = 3
    for seconds in (0.001, 0.003, 0.2):
        boot.answer(seconds)
    heartbeat = statistics.action("Heartbeat")
    heartbeat.sent, heartbeat.timeouts, heartbeat.lost = 4, 1, 1
    heartbeat.error("InternalError", 0.5)
    heartbeat.error("InternalError", 0.5)
    counters = statistics.charge_point("CP-1")
    counters.powered_on(0.0)
    counters.connected(1.0)
    counters.accepted()
    counters.session_started(-1, 1000)
    counters.session_stopped(-1, 3500)
    counters.session_started(-2, 3500)
    counters.queue_is(4)
    counters.queue_is(1)
    size = FleetSize(charge_points=5, started=2, crashes=0)
    with serving_metrics(FleetCollector(statistics, lambda: size), "127.0.0.1", 0) as port:
        samples = scrape(port)
        heartbeat.sent += 1  # read at each scrape
        assert scrape(port)[("ocpp_fleet_calls_sent_total", (("action", "Heartbeat"),))] == 5

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("ocpp_fleet_calls_sent_total", action="BootNotification") == 3
    assert value("ocpp_fleet_calls_answered_total", action="BootNotification") == 3
    assert value("ocpp_fleet_calls_sent_total", action="Heartbeat") == 4
    assert value("ocpp_fleet_call_errors_total", action="Heartbeat", code="InternalError") == 2
    assert value("ocpp_fleet_call_timeouts_total", action="Heartbeat") == 1
    assert value("ocpp_fleet_calls_lost_total", action="Heartbeat") == 1
    assert value("ocpp_fleet_answer_seconds_count", action="BootNotification") == 3
    assert value("ocpp_fleet_answer_seconds_sum", action="BootNotification") == pytest.approx(0.204)
    assert value("ocpp_fleet_answer_seconds_bucket", action="BootNotification", le="0.001953125") == 1
    assert value("ocpp_fleet_answer_seconds_bucket", action="BootNotification", le="0.00390625") == 2
    assert value("ocpp_fleet_answer_seconds_bucket", action="BootNotification", le="0.25") == 3
    assert value("ocpp_fleet_answer_seconds_bucket", action="BootNotification", le="+Inf") == 3
    assert value("ocpp_fleet_answer_seconds_bucket", action="Heartbeat", le="0.25") == 0
    assert value("ocpp_fleet_answer_seconds_bucket", action="Heartbeat", le="0.5") == 2, "le: at most"
    assert value("ocpp_fleet_answer_seconds_bucket", action="Heartbeat", le="1.0") == 2
    for state, expected in (("total", 5), ("started", 2), ("connected", 1), ("accepted", 1), ("offline", 1)):
        assert value("ocpp_fleet_charge_points", state=state) == expected
    assert value("ocpp_fleet_sessions_running") == 1
    assert value("ocpp_fleet_sessions_started_total") == 2
    assert value("ocpp_fleet_sessions_stopped_total") == 1
    assert value("ocpp_fleet_energy_wh_total") == 2500
    assert value("ocpp_fleet_offline_queue_messages") == 1
    assert value("ocpp_fleet_offline_queue_high_water") == 4
    assert value("ocpp_fleet_reconnects_total") == 0
    with pytest.raises(httpx.ConnectError):  # the server stopped with the block
        scrape(port)


async def test_run_serves_metrics_while_the_fleet_runs(tmp_path: Path) -> None:
    """In real time: ``run_fleet(metrics_port=0)`` says where, and a scrape sees the fleet."""
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text('csms_url = "ws://csms.test/ocpp"\n[[charge_points]]\nid = "CP-{n}"\ncount = 3\n')
    central_system = CentralSystem()
    out = io.StringIO()
    samples = {}
    async with trio.open_nursery() as nursery:

        async def dial(address: CsmsAddress) -> trio.abc.Stream:
            client, server = trio.testing.memory_stream_pair()
            nursery.start_soon(central_system.serve_stream, server)
            return client

        async def scrape_when_accepted() -> None:
            nonlocal samples
            while True:
                await trio.sleep(0.05)
                found = re.search(r"Prometheus metrics on http://127\.0\.0\.1:(\d+)/metrics", out.getvalue())
                if found is None:
                    continue
                samples = await trio.to_thread.run_sync(scrape, int(found[1]))
                if samples[("ocpp_fleet_charge_points", (("state", "accepted"),))] == 3:
                    return

        nursery.start_soon(scrape_when_accepted)
        with trio.fail_after(20):
            await run_fleet(
                load_fleet_file(fleet_file),
                out,
                duration=3,
                dialer=dial,
                storage=MemoryStorage(),
                metrics_port=0,
            )
        nursery.cancel_scope.cancel()
    assert samples[("ocpp_fleet_calls_sent_total", (("action", "BootNotification"),))] == 3
    assert samples[("ocpp_fleet_calls_answered_total", (("action", "BootNotification"),))] == 3
    assert samples[("ocpp_fleet_charge_points", (("state", "connected"),))] == 3
