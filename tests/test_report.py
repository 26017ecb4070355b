"""The report of ``ocpp-fleet run`` (fleet.report): its numbers against what the Central System recorded, its
JSON, and the merge of the reports of shards."""

import io
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from actors.connection import CsmsAddress
from actors.statistics import Statistics
from fleet.cli import main
from fleet.commands import run_fleet
from fleet.csms import CentralSystem
from fleet.fleetfile import load_fleet_file
from fleet.report import (
    REPORT_FORMAT,
    ReportError,
    build_report,
    load_report,
    merge_reports,
    print_report,
)
from storage import MemoryStorage

FLEET = """
csms_url = "ws://csms.test/ocpp"

[[charge_points]]
id = "CP-{n}"
count = 3

[charge_points.configuration]
HeartbeatInterval = 60
MeterValueSampleInterval = 30

[[scenario]]
at = 10
charge_point = "CP-1"
connector = 1
event = "plug_in"

[[scenario]]
at = 11
charge_point = "CP-1"
connector = 1
event = "present_id_tag"
id_tag = "TAG-1"

[[scenario]]
at = 130
charge_point = "CP-1"
connector = 1
event = "present_id_tag"
id_tag = "TAG-1"

[[scenario]]
at = 20
charge_point = "CP-2"
connector = 1
event = "plug_in"

[[scenario]]
at = 21
charge_point = "CP-2"
connector = 1
event = "present_id_tag"
id_tag = "TAG-2"

[[scenario]]
at = 50
charge_point = "CP-2"
event = "network_down"

[[scenario]]
at = 100
charge_point = "CP-2"
connector = 1
event = "present_id_tag"
id_tag = "TAG-2"

[[scenario]]
at = 150
charge_point = "CP-2"
event = "network_up"
"""
"""Three charge points: CP-1 charges from 11 s to 130 s; CP-2 from 21 s to 100 s, offline from 50 s to 150 s
(its StopTransaction and meter values wait in its queue); CP-3 only sends Heartbeats."""

DURATION = 317
EXAMPLE = Path(__file__).parent.parent / "examples" / "fleet.toml"


@pytest.fixture
async def scripted_run(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> tuple[CentralSystem, dict[str, Any], str]:
    """The fleet above against the embedded Central System for 317 s of virtual time, with ``--report``."""
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text(FLEET)
    central_system = CentralSystem()
    out = io.StringIO()
    report_file = tmp_path / "report.json"
    async with trio.open_nursery() as nursery:

        async def dial(address: CsmsAddress) -> trio.abc.Stream:
            client, server = trio.testing.memory_stream_pair()
            nursery.start_soon(central_system.serve_stream, server)
            return client

        await run_fleet(
            load_fleet_file(fleet_file),
            out,
            duration=DURATION,
            dialer=dial,
            storage=MemoryStorage(),
            report=report_file,
        )
        nursery.cancel_scope.cancel()
    report = json.loads(report_file.read_text())
    return central_system, report, out.getvalue()


async def test_the_report_counts_what_the_central_system_recorded(
    scripted_run: tuple[CentralSystem, dict[str, Any], str], autojump_clock: trio.testing.MockClock
) -> None:
    central_system, report, _ = scripted_run
    records = list(central_system.records)
    received = Counter(
        record.action for record in records if record.direction == "in" and record.kind == "CALL"
    )
    answered = Counter(
        record.action for record in records if record.direction == "out" and record.kind == "CALLRESULT"
    )
    assert report["format"] == REPORT_FORMAT
    assert set(report["actions"]) == set(received)
    for action, entry in report["actions"].items():
        # What CP-2 sent while its network was down never arrived: it timed out, or its connection was lost.
        assert entry["sent"] - entry["timeouts"] - entry["lost"] == received[action], action
        assert entry["answered"] == answered[action], action
        assert entry["errors"] == {}
        assert entry["answer_time"]["count"] == entry["answered"]
    meter_values = report["actions"]["MeterValues"]
    assert meter_values["timeouts"] + meter_values["lost"] >= 1, "CP-2's meter values went into the void"
    everything = report["all_actions"]
    assert everything["sent"] == sum(entry["sent"] for entry in report["actions"].values())
    assert everything["answer_time"]["count"] == sum(answered.values())

    starts = {
        record.unique_id: record.payload["meterStart"]
        for record in records
        if record.action == "StartTransaction" and record.kind == "CALL"
    }
    transaction_start = {
        record.payload["transactionId"]: starts[record.unique_id]
        for record in records
        if record.action == "StartTransaction" and record.kind == "CALLRESULT"
    }
    stops = [
        record.payload for record in records if record.action == "StopTransaction" and record.kind == "CALL"
    ]
    energy = sum(stop["meterStop"] - transaction_start[stop["transactionId"]] for stop in stops)
    assert (len(starts), len(stops)) == (2, 2)
    assert energy > 0

    totals = report["charge_points"]
    assert totals["count"] == 3
    assert (totals["sessions_started"], totals["sessions_stopped"], totals["sessions_running"]) == (2, 2, 0)
    assert totals["energy_wh"] == energy
    per_charge_point = report["per_charge_point"]
    assert [per_charge_point[cp]["reconnects"] for cp in ("CP-1", "CP-2", "CP-3")] == [0, 1, 0]
    assert [per_charge_point[cp]["offline_ms"] for cp in ("CP-1", "CP-3")] == [0, 0]
    assert 50_000 < per_charge_point["CP-2"]["offline_ms"] <= (DURATION - 50) * 1000
    assert per_charge_point["CP-2"]["queue_high_water"] >= 2, "its StopTransaction and meter values waited"
    assert per_charge_point["CP-2"]["energy_wh"] + per_charge_point["CP-1"]["energy_wh"] == energy
    assert totals["queue_high_water"] == max(entry["queue_high_water"] for entry in per_charge_point.values())


async def test_progress_on_a_non_terminal_is_plain_lines_and_the_report_follows(
    scripted_run: tuple[CentralSystem, dict[str, Any], str], autojump_clock: trio.testing.MockClock
) -> None:
    central_system, report, text = scripted_run
    lines = text.splitlines()
    assert lines[0].startswith("running 3 charge points of ")
    progress = lines[1 : 1 + DURATION // 5]
    assert all(line.startswith("3/3 started, ") for line in progress)
    assert "\x1b" not in text, "no terminal control sequences"
    at_15_s = progress[2]
    assert at_15_s.startswith(
        "3/3 started, 3 connected, 3 accepted, 0 crashes, 0 offline, 1 sessions running, "
    )
    at_95_s = progress[18]
    # Sampled every 30 s from their starts at 11 s and 21 s, both sessions had two MeterValues by 95 s (CP-2's
    # waiting in its queue): the energy delivered is their registers then, less their meterStart.
    records = [record for record in central_system.records if record.kind == "CALL"]
    meter_start = {
        record.charge_point_id: record.payload["meterStart"]
        for record in records
        if record.action == "StartTransaction"
    }
    registers: dict[str, list[int]] = {"CP-1": [], "CP-2": []}
    for record in records:
        if record.action == "MeterValues" and "transactionId" in record.payload:
            (sampled,) = record.payload["meterValue"][0]["sampledValue"]
            registers[record.charge_point_id].append(int(sampled["value"]))
    by_95_s = sum(registers[cp][1] - meter_start[cp] for cp in ("CP-1", "CP-2"))
    assert by_95_s > 0
    assert (
        f", 2 connected, 2 accepted, 0 crashes, 1 offline, 2 sessions running, {by_95_s} Wh delivered, "
        in at_95_s
    )
    stopped = lines[1 + DURATION // 5]
    # As the fleet stands at the end, before it winds down: CP-2's network is back, every session over.
    assert stopped.startswith(
        "stopped: 3/3 started, 3 connected, 3 accepted, 0 crashes, 0 offline, 0 sessions running, "
    )
    assert f"{report['charge_points']['energy_wh']} Wh delivered" in stopped
    assert "Our CALLs to the Central System" in text
    assert lines[-1].startswith("report written to ")


def test_a_report_reads_back_and_prints(tmp_path: Path) -> None:
    statistics = random_statistics(random.Random(3), [("CP-1", 0), ("CP-2", 1)])
    report = build_report(statistics, now=100.0, seconds=100.0)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    assert load_report(path) == report
    console_output = io.StringIO()
    print_report(report, Console(file=console_output, width=120))
    text = console_output.getvalue()
    for expected in ("Heartbeat", "p99", "reconnects", "kWh"):
        assert expected in text


def test_a_file_that_is_not_a_report_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"format": "something-else/1"}')
    with pytest.raises(ReportError, match="not an ocpp-fleet-report/1 report"):
        load_report(path)
    with pytest.raises(ReportError):
        merge_reports([])


ACTIONS = ("BootNotification", "Heartbeat", "MeterValues", "StatusNotification")
CODES = ("InternalError", "NotImplemented")


def play(statistics: Statistics, rng: random.Random, charge_point_id: str, actions: int) -> None:
    """Random but plausible events of one charge point: calls with every outcome, connections, sessions."""
    counters = statistics.charge_point(charge_point_id)
    now = rng.uniform(0, 5)
    counters.powered_on(now)
    for _ in range(actions):
        now += rng.expovariate(1.0)
        counts = statistics.action(rng.choice(ACTIONS))
        counts.sent += 1
        outcome = rng.random()
        if outcome < 0.7:
            counts.answer(rng.lognormvariate(-5, 2))
        elif outcome < 0.8:
            counts.error(rng.choice(CODES), rng.lognormvariate(-5, 2))
        elif outcome < 0.9:
            counts.timeouts += 1
        else:
            counts.lost += 1
        event = rng.random()
        if event < 0.1:
            counters.connected(now)
        elif event < 0.2:
            counters.disconnected(now)
        elif event < 0.3:
            counters.session_started(-rng.randrange(1, 4), rng.randrange(0, 1000))
        elif event < 0.4:
            counters.session_stopped(-rng.randrange(1, 4), rng.randrange(1000, 5000))
        elif event < 0.6:
            counters.queue_is(rng.randrange(0, 20))


def random_statistics(rng: random.Random, charge_points: list[tuple[str, int]]) -> Statistics:
    statistics = Statistics()
    for charge_point_id, seed in charge_points:
        play(statistics, random.Random(seed), charge_point_id, rng.randrange(5, 60))
    return statistics


@settings(max_examples=40)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=6))
def test_merging_the_reports_of_shards_gives_the_report_of_the_whole(seed: int, size: int) -> None:
    rng = random.Random(seed)
    charge_points = [(f"CP-{n}", rng.randrange(2**32)) for n in range(size)]
    split = rng.randrange(0, size + 1)
    plays = {charge_point_id: rng.randrange(5, 60) for charge_point_id, _ in charge_points}

    def statistics_of(part: list[tuple[str, int]]) -> Statistics:
        statistics = Statistics()
        for charge_point_id, charge_point_seed in part:
            play(statistics, random.Random(charge_point_seed), charge_point_id, plays[charge_point_id])
        return statistics

    first = build_report(statistics_of(charge_points[:split]), now=200.0, seconds=150.0)
    second = build_report(statistics_of(charge_points[split:]), now=200.0, seconds=190.0)
    whole = build_report(statistics_of(charge_points), now=200.0, seconds=190.0)
    merged = merge_reports([json.loads(json.dumps(first)), json.loads(json.dumps(second))])
    assert merged["shards"] == 2
    assert {**merged, "shards": 1} == json.loads(json.dumps(whole))
    assert merge_reports([whole]) == whole


def test_a_charge_point_in_two_shards_is_added_up() -> None:
    first = build_report(random_statistics(random.Random(1), [("CP-1", 5)]), now=100.0, seconds=100.0)
    second = build_report(random_statistics(random.Random(2), [("CP-1", 6)]), now=100.0, seconds=100.0)
    merged = merge_reports([first, second])
    one, two = first["per_charge_point"]["CP-1"], second["per_charge_point"]["CP-1"]
    entry = merged["per_charge_point"]["CP-1"]
    assert entry["reconnects"] == one["reconnects"] + two["reconnects"]
    assert entry["queue_high_water"] == max(one["queue_high_water"], two["queue_high_water"])
    assert merged["charge_points"]["count"] == 1


def test_the_run_options_are_documented_and_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for option in ("--report FILE.json", "--metrics-port PORT", "--metrics-host HOST", "live view"):
        assert option in help_text
    missing = tmp_path / "no-such-folder" / "report.json"
    assert main(["run", str(EXAMPLE), "--report", str(missing)]) == 2
    assert capsys.readouterr().err == (f"ocpp-fleet: --report {missing}: no such folder {missing.parent}\n")
    with pytest.raises(SystemExit):
        main(["run", str(EXAMPLE), "--metrics-port", "70000"])
    assert "argument --metrics-port: not a port number: 70000" in capsys.readouterr().err
