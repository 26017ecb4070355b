"""Shards of a fleet without processes: the split, the databases, the scenario, the merge of reports, the
combined progress of several processes, and the command line's refusals."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.statistics import Statistics
from fleet.cli import main
from fleet.fleetfile import parse_fleet_file
from fleet.processes import CombinedStatistics, describe_exit, progress_message
from fleet.progress import FleetSize, ProgressMeter
from fleet.report import REPORT_FORMAT, ReportError, build_report, write_report
from fleet.scenario import ScenarioEvent, ScenarioKind
from fleet.shards import SHARD_KEY, Shard, merge_shard_reports, missing_shards, shard_of

# --- the split ----------------------------------------------------------------------------------------------


@given(items=st.integers(min_value=0, max_value=300), count=st.integers(min_value=1, max_value=40))
def test_every_charge_point_is_in_exactly_one_shard(items: int, count: int) -> None:
    ids = [f"CP-{n}" for n in range(items)]
    shards = [shard.select(ids) for shard in Shard.all(count)]
    assert sorted(cp for shard in shards for cp in shard) == sorted(ids)  # complete, nothing twice
    assert max(map(len, shards)) - min(map(len, shards)) <= 1  # balanced
    for position, cp in enumerate(ids):
        assert cp in shards[shard_of(position, count) - 1]
    for shard, selected in zip(Shard.all(count), shards, strict=True):
        assert shard.select(ids) == selected  # the same every time
        assert list(selected) == [cp for cp in ids if cp in set(selected)]  # in the file's order


def test_the_split_is_round_robin_over_the_files_order() -> None:
    fleet_file = parse_fleet_file(
        'csms_url = "ws://csms/ocpp"\n'
        '[[charge_points]]\nid = "AC-{n}"\ncount = 4\n'
        '[[charge_points]]\nid = "DC-{n}"\ncount = 3\n',
        "fleet.toml",
        Path("/fleets"),
    )
    ids = [spec.id for spec in fleet_file.charge_points()]
    assert list(Shard(1, 3).select(ids)) == ["AC-1", "AC-4", "DC-3"]
    assert list(Shard(2, 3).select(ids)) == ["AC-2", "DC-1"]
    assert list(Shard(3, 3).select(ids)) == ["AC-3", "DC-2"]


@pytest.mark.parametrize(
    ("database", "shard", "expected"),
    [
        ("/x/fleet.db", Shard(1, 2), "/x/fleet.p1-of-2.db"),
        ("/x/fleet.db", Shard(12, 12), "/x/fleet.p12-of-12.db"),
        ("/x/state", Shard(3, 4), "/x/state.p3-of-4"),
        ("/x/my.fleet.sqlite3", Shard(1, 1), "/x/my.fleet.p1-of-1.sqlite3"),
    ],
)
def test_each_shard_has_a_database_of_its_own_next_to_the_fleets(
    database: str, shard: Shard, expected: str
) -> None:
    assert shard.database(Path(database)) == Path(expected)


def test_scenario_events_go_to_the_shard_of_their_charge_point_and_star_to_every_shard() -> None:
    fleet_file = parse_fleet_file(
        'csms_url = "ws://csms/ocpp"\n[[charge_points]]\nid = "CP-{n}"\ncount = 4\n'
        '[[scenario]]\nat = 1\ncharge_point = "CP-1"\nevent = "reboot"\n'
        '[[scenario]]\nat = 2\ncharge_point = "CP-2"\nevent = "reboot"\n'
        '[[scenario]]\nat = 3\ncharge_point = "*"\nevent = "network_down"\n',
        "fleet.toml",
        Path("/fleets"),
    )
    specs = fleet_file.charge_points()
    first, second = (shard.scenario(fleet_file.scenario, shard.select(specs)) for shard in Shard.all(2))
    assert [(event.charge_point, event.at) for event in first] == [("CP-1", 1), ("*", 3)]
    assert [(event.charge_point, event.at) for event in second] == [("CP-2", 2), ("*", 3)]
    assert all(isinstance(event, ScenarioEvent) for event in first)
    assert first[1].kind is ScenarioKind.NETWORK_DOWN


def test_a_shard_starts_its_share_of_the_ramp() -> None:
    assert Shard(1, 4).ramp(200) == 50
    assert Shard(1, 4).ramp(0) == 0  # all at once stays all at once


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0/2", "0/2: K must be from 1 to 2"),
        ("3/2", "3/2: K must be from 1 to 2"),
        ("1/0", "1/0: N must be at least 1"),
        ("x", "'x': not K/N (shard K of N, e.g. 1/4)"),
        ("1", "'1': not K/N (shard K of N, e.g. 1/4)"),
        ("-1/2", "'-1/2': not K/N (shard K of N, e.g. 1/4)"),
    ],
)
def test_a_bad_shard_is_one_clear_message(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match="^" + problem.replace("(", r"\(").replace(")", r"\)") + "$"):
        Shard.parse(text)


def test_shards_read_and_print_as_k_of_n() -> None:
    assert Shard.parse(" 2 / 5 ") == Shard(2, 5)
    assert str(Shard(2, 5)) == "2/5"


# --- merging shard reports ----------------------------------------------------------------------------------

ACTIONS = ("BootNotification", "Heartbeat", "StatusNotification", "StartTransaction")

_operations = st.tuples(
    st.integers(min_value=0, max_value=11),  # which charge point
    st.sampled_from(["answer", "error", "timeout", "lost", "connect", "disconnect", "queue", "session"]),
    st.sampled_from(ACTIONS),
    st.floats(min_value=0.0, max_value=20.0, allow_nan=False),
)


def play(statistics: Statistics, charge_point: str, operation: tuple[int, str, str, float]) -> None:
    """One thing a charge point does, counted as the actors count it."""
    _, kind, action, seconds = operation
    counters = statistics.charge_point(charge_point)
    counts = statistics.action(action)
    match kind:
        case "answer":
            counts.sent += 1
            counts.answer(seconds)
        case "error":
            counts.sent += 1
            counts.error("InternalError" if seconds < 10 else "NotSupported", seconds)
        case "timeout":
            counts.sent += 1
            counts.timeouts += 1
        case "lost":
            counts.sent += 1
            counts.lost += 1
        case "connect":
            counters.connected(seconds)
            counters.accepted()
        case "disconnect":
            counters.disconnected(seconds)
        case "queue":
            counters.queue_is(round(seconds))
        case "session":
            counters.session_started(round(seconds), 1000)
            counters.session_stopped(round(seconds), 1000 + round(seconds * 100))


def reports_of(
    operations: Sequence[tuple[int, str, str, float]], count: int
) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The report of the whole fleet and those of its ``count`` shards, each having played its part."""
    ids = [f"CP-{n:02}" for n in range(12)]
    whole = Statistics()
    parts = {shard: Statistics() for shard in Shard.all(count)}
    for operation in operations:
        charge_point = ids[operation[0]]
        play(whole, charge_point, operation)
        play(parts[Shard(shard_of(operation[0], count), count)], charge_point, operation)
    shard_reports = []
    for shard, statistics in parts.items():
        report = build_report(statistics, now=30.0, seconds=30.0)
        report[SHARD_KEY] = str(shard)
        shard_reports.append((f"{shard.index}.json", report))
    return build_report(whole, now=30.0, seconds=30.0), shard_reports


@given(operations=st.lists(_operations, max_size=80), count=st.integers(min_value=1, max_value=4))
def test_the_merge_of_shard_reports_is_the_report_of_the_whole_fleet(
    operations: list[tuple[int, str, str, float]], count: int
) -> None:
    whole, shards = reports_of(operations, count)
    merged = merge_shard_reports(shards)
    assert merged == {**whole, "shards": count}
    assert missing_shards(report for _, report in shards) == []


def test_reports_that_overlap_are_refused_with_one_line() -> None:
    operations = [(n, "answer", "BootNotification", 0.01) for n in range(6)]
    _, (first, second) = reports_of(operations, 2)
    with pytest.raises(ReportError, match=r"^1\.json and 1\.json are both shard 1/2$"):
        merge_shard_reports([first, first])
    unlabelled = [
        (name, {k: v for k, v in report.items() if k != SHARD_KEY}) for name, report in (first, first)
    ]
    with pytest.raises(ReportError, match=r"^1\.json and 1\.json overlap: both report CP-00 and 2 more"):
        merge_shard_reports(unlabelled)
    _, thirds = reports_of(operations, 3)
    with pytest.raises(ReportError, match=r"^1\.json is shard 1/3 but 1\.json is a shard of another split"):
        merge_shard_reports([first, thirds[0]])
    other_format = ("other.json", {**second[1], "format": "ocpp-fleet-report/2"})
    with pytest.raises(ReportError, match=r"^other\.json: not an ocpp-fleet-report/1 report"):
        merge_shard_reports([first, other_format])
    assert missing_shards([thirds[0][1], thirds[2][1]]) == [Shard(2, 3)]


# --- the combined figures of --processes --------------------------------------------------------------------


def test_the_parent_adds_up_its_childrens_figures_and_keeps_the_counts_of_a_dead_one() -> None:
    operations = [(n, kind, "Heartbeat", 0.002 * (n + 1)) for n in range(8) for kind in ("connect", "answer")]
    operations += [(1, "session", "Heartbeat", 5.0), (2, "queue", "Heartbeat", 7.0)]
    whole = Statistics()
    shards = Shard.all(2)
    parts = {shard: Statistics() for shard in shards}
    for operation in operations:
        play(whole, f"CP-{operation[0]}", operation)
        play(parts[shards[shard_of(operation[0], 2) - 1]], f"CP-{operation[0]}", operation)
    combined = CombinedStatistics(dict.fromkeys(shards, 4))
    assert combined.size() == FleetSize(8, 0, 0)  # as planned, before any child said
    for shard, statistics in parts.items():
        message = json.loads(json.dumps(progress_message(statistics, FleetSize(4, 4, shard.index))))
        combined.update(shard, message)
    combined.refresh()
    totals = ("connected", "accepted", "queue_depth", "queue_high_water", "sessions_started", "energy_wh")
    for name in totals:
        assert getattr(combined.statistics, name) == getattr(whole, name), name
    assert combined.statistics.actions == whole.actions
    assert combined.size() == FleetSize(8, 8, 3)
    figures = ProgressMeter(combined.statistics, start=0.0).figures(1.0, combined.size())
    assert (figures.connected, figures.accepted, figures.offline) == (8, 8, 0)

    combined.retire(shards[1])  # its process died: what it counted stays, what it was goes
    combined.refresh()
    assert combined.statistics.actions == whole.actions
    assert (combined.statistics.connected, combined.statistics.queue_depth) == (4, 7)
    assert combined.statistics.sessions_started == whole.sessions_started
    assert combined.size() == FleetSize(8, 4, 3)


def test_how_a_child_ended_is_said_plainly() -> None:
    assert describe_exit(2) == "exit status 2"
    assert describe_exit(-9) == "killed by SIGKILL"


# --- the command line ---------------------------------------------------------------------------------------

FLEET = 'csms_url = "ws://127.0.0.1:1/ocpp"\n[[charge_points]]\nid = "CP-{n}"\ncount = 3\n'


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET)
    return path


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--processes", "0"], "argument --processes: must be at least 1, got 0"),
        (["--processes", "two"], "argument --processes: not a whole number: 'two'"),
        (["--shard", "3/2"], "argument --shard: 3/2: K must be from 1 to 2"),
        (["--shard", "0/2"], "argument --shard: 0/2: K must be from 1 to 2"),
        (["--shard", "1/0"], "argument --shard: 1/0: N must be at least 1"),
        (["--shard", "one/two"], "argument --shard: 'one/two': not K/N (shard K of N, e.g. 1/4)"),
        (["--progress-every", "0"], "argument --progress-every: must be more than 0 seconds, got 0"),
        (["--progress-every", "soon"], "argument --progress-every: not a number of seconds: 'soon'"),
    ],
)
def test_bad_processes_and_shards_are_usage_errors(
    fleet_file: Path, options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", str(fleet_file), *options])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"ocpp-fleet run: error: {message}"
    assert sorted(path.name for path in fleet_file.parent.iterdir()) == ["fleet.toml"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--processes", "2", "--shard", "1/2"],
            "--processes and --shard do not combine yet: run N x M shards instead, M on each machine",
        ),
        (
            ["--processes", "2", "--control", "127.0.0.1:0"],
            "--control serves the charge points of one process, not of --processes; run each shard with "
            "--shard K/N and a --control of its own",
        ),
        (["--processes", "4"], "--processes 4: the fleet has only 3 charge points"),
        (["--child"], "--child is for the processes of --processes: with --shard K/N only"),
    ],
)
def test_combinations_that_do_not_work_are_one_line(
    fleet_file: Path, options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(fleet_file), *options]) == 2
    assert capsys.readouterr().err == f"ocpp-fleet: {message}\n"
    assert sorted(path.name for path in fleet_file.parent.iterdir()) == ["fleet.toml"]


def test_report_merge_prints_and_writes_the_merged_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    operations = [(n, "answer", "BootNotification", 0.001 * (n + 1)) for n in range(12)]
    whole, shards = reports_of(operations, 3)
    paths = []
    for name, report in shards:
        paths.append(tmp_path / name)
        write_report(paths[-1], report)
    merged = tmp_path / "merged.json"
    assert main(["report", "merge", *map(str, paths), "--output", str(merged)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "BootNotification" in captured.out
    assert "12 in 30 s (3 shards)" in captured.out
    assert captured.out.endswith(f"report written to {merged}\n")
    assert json.loads(merged.read_text()) == {**whole, "shards": 3}

    assert main(["report", "merge", str(paths[0]), str(paths[2])]) == 0
    assert capsys.readouterr().err == "ocpp-fleet: no report of shard 2/3: the merged report lacks it\n"


def test_report_merge_refuses_other_formats_and_overlaps_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, ((_, first), (_, second)) = reports_of([(0, "answer", "Heartbeat", 0.1)], 2)
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    write_report(a, first)
    write_report(b, second)
    c.write_text(json.dumps({**second, "format": "ocpp-fleet-report/9"}))
    cases = [
        ([a, c], f"{c}: not an {REPORT_FORMAT} report (format 'ocpp-fleet-report/9')"),
        ([a, a], f"{a} and {a} are both shard 1/2"),
        ([a, tmp_path / "none.json"], f"{tmp_path / 'none.json'}: [Errno 2] No such file or directory: "),
    ]
    for paths, message in cases:
        assert main(["report", "merge", *map(str, paths)]) == 2
        assert capsys.readouterr().err.startswith(f"ocpp-fleet: {message}")
    assert main(["report", "merge", str(a), str(b), "--output", str(tmp_path / "no" / "m.json")]) == 2
    assert (
        capsys.readouterr().err
        == f"ocpp-fleet: --output {tmp_path / 'no' / 'm.json'}: no such folder {tmp_path / 'no'}\n"
    )
