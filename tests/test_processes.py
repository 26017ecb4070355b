"""``ocpp-fleet run --shard K/N`` and ``--processes N`` in real processes, against the embedded Central System
of the test process over loopback, on the real clock.

Small fleets (7 and 20 charge points) and deadlines on every wait: nothing sleeps "a while". Each test takes
a few seconds, mostly for starting Python processes.
"""

import functools
import io
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from actors.connection import CsmsAddress
from fleet.csms import CentralSystem, Record
from fleet.fleetfile import parse_fleet_file
from fleet.processes import PROGRESS_EVERY, STOP_GRACE, CombinedStatistics, _Child, run_shard_child
from fleet.shards import Shard
from storage import inspect_database

STOP_WITHIN = 5.0
"""Seconds a fleet may take to stop at SIGTERM, starting Python aside (it takes well under one)."""


def fleet_toml(port: int, count: int, *, scenario: str = "") -> str:
    return (
        f'csms_url = "ws://127.0.0.1:{port}/ocpp"\n'
        'database = "fleet.db"\n'
        f'[[charge_points]]\nid = "CP-{{n:02}}"\ncount = {count}\nconnectors = 1\n'
        "[charge_points.configuration]\nHeartbeatInterval = 3600\n" + scenario
    )


def available(charge_point: str, status: str = "Available") -> Callable[[Record], bool]:
    """Connector 1 reported ``status``: by then its BootNotification was answered."""
    return lambda record: (
        record.charge_point_id == charge_point
        and record.action == "StatusNotification"
        and record.kind == "CALL"
        and record.payload.get("connectorId") == 1
        and record.payload.get("status") == status
    )


def databases(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.db"))


def boots(central_system: CentralSystem) -> list[str]:
    return [
        record.charge_point_id
        for record in central_system.records
        if record.action == "BootNotification" and record.kind == "CALL"
    ]


def assert_quiet(errors: str) -> None:
    """Nothing went wrong: no crash, nothing said about a process (a warning logged at the stop may come)."""
    assert "Traceback" not in errors, errors
    assert "crashed" not in errors, errors
    assert "ocpp-fleet:" not in errors, errors


class Output:
    """What a process writes on a pipe, read as it comes."""

    def __init__(self) -> None:
        self.data = b""
        self._more = trio.Event()

    async def read(self, stream: trio.abc.ReceiveStream) -> None:
        while chunk := await stream.receive_some():
            self.data += chunk
            self._more.set()
            self._more = trio.Event()

    async def wait_for(self, pattern: str) -> re.Match[str]:
        while (match := re.search(pattern, self.text)) is None:
            await self._more.wait()
        return match

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")


@asynccontextmanager
async def ocpp_fleet(*arguments: str) -> AsyncIterator[tuple[trio.Process, Output, Output]]:
    """``python -m fleet ...`` with its output and errors read meanwhile; killed if still running at the
    end."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "fleet", *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, errors = Output(), Output()
    try:
        async with trio.open_nursery() as nursery:
            assert process.stdout is not None
            assert process.stderr is not None
            nursery.start_soon(out.read, process.stdout)
            nursery.start_soon(errors.read, process.stderr)
            yield process, out, errors
            with trio.fail_after(STOP_WITHIN):
                await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


async def stop(process: trio.Process) -> None:
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(STOP_WITHIN):
        await process.wait()


@pytest.mark.parametrize("slow_parent", [False, True], ids=["parent-reads-at-once", "parent-reads-slowly"])
async def test_a_child_speaks_json_lines_and_stops_at_the_end_of_its_input(
    tmp_path: Path, slow_parent: bool
) -> None:
    """The protocol of fleet.processes, in this process: started, progress, then at the end of its input a
    last progress and its report (taken before its charge points wind down), and it returns. A parent slow to
    read gets them whole all the same: no progress message cuts into the report."""
    central_system = CentralSystem()
    fleet_file = parse_fleet_file(fleet_toml(1, 4), "fleet.toml", tmp_path)
    messages: trio.abc.SendStream
    if slow_parent:  # the child's every write waits for the parent to read it
        messages, from_child = trio.testing.lockstep_stream_one_way_pair()
    else:
        messages, from_child = trio.testing.memory_stream_one_way_pair()
    to_child, parent = trio.testing.memory_stream_one_way_pair()
    received: list[dict[str, Any]] = []
    buffer = b""

    async def next_message() -> dict[str, Any]:
        nonlocal buffer
        while b"\n" not in buffer:
            chunk = await from_child.receive_some()
            assert chunk, "the child ended its messages"
            buffer += chunk
        line, buffer = buffer.split(b"\n", 1)
        received.append(json.loads(line))
        return received[-1]

    async with trio.open_nursery() as nursery:

        async def dial(address: CsmsAddress) -> trio.abc.Stream:
            client, server = trio.testing.memory_stream_pair()
            nursery.start_soon(central_system.serve_stream, server)
            return client

        child = functools.partial(
            run_shard_child,
            fleet_file,
            Shard(2, 2),
            database=tmp_path / "fleet.p2-of-2.db",
            ramp=0,
            dialer=dial,
            messages=messages,
            parent=parent,
        )
        nursery.start_soon(child)
        with trio.fail_after(30):
            assert await next_message() == {"type": "started", "charge_points": 2}
            while (message := await next_message())["totals"]["accepted"] < 2:
                assert message["type"] == "progress"
            assert message["size"] == {"charge_points": 2, "started": 2, "crashes": 0}
            assert message["actions"]["BootNotification"]["answered"] == 2
            await to_child.aclose()  # the parent closes the child's input: it stops
            if slow_parent:  # it reads a few bytes, then is busy for a few progress intervals
                buffer += await from_child.receive_some(16)
                await trio.sleep(4 * PROGRESS_EVERY)
            last, report = await next_message(), await next_message()
    assert last["type"] == "progress"
    assert last["totals"]["connected"] == 2  # as the fleet stood when told to stop, before winding down
    assert report["type"] == "report"
    assert report["report"]["shard"] == "2/2"
    assert sorted(report["report"]["per_charge_point"]) == ["CP-02", "CP-04"]
    assert await from_child.receive_some() == b""  # and it is done
    assert sorted(boots(central_system)) == ["CP-02", "CP-04"]


async def test_a_shard_runs_its_charge_points_and_plays_their_events_only(tmp_path: Path) -> None:
    central_system = CentralSystem()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(central_system.serve, "127.0.0.1", 0)
        fleet_file = tmp_path / "fleet.toml"
        scenario = "".join(  # CP-01 is not in shard 2/3: were its event played there, the run would crash
            f'[[scenario]]\nat = 0\ncharge_point = "{cp}"\nconnector = 1\nevent = "plug_in"\n'
            for cp in ("CP-01", "CP-05")
        )
        fleet_file.write_text(fleet_toml(port, 7, scenario=scenario))
        report = tmp_path / "report.json"
        command = ("run", str(fleet_file), "--shard", "2/3", "--ramp", "0", "--report", str(report))
        async with ocpp_fleet(*command) as (process, out, errors):
            with trio.fail_after(30):
                await central_system.wait_for(available("CP-02"))
                await central_system.wait_for(available("CP-05", "Preparing"))  # its EV plugged in at 0 s
            await stop(process)
        assert process.returncode == 0, errors.text
        nursery.cancel_scope.cancel()
    mine = ["CP-02", "CP-05"]  # positions 1 and 4 of 7: i % 3 + 1 == 2
    assert out.text.startswith(
        f"running 2 of the 7 charge points of {fleet_file} (shard 2/3), 0 per second\n"
    )
    assert sorted(boots(central_system)) == mine
    assert {record.charge_point_id for record in central_system.records} == set(mine)
    written = json.loads(report.read_text())
    assert written["shard"] == "2/3"
    assert sorted(written["per_charge_point"]) == mine
    assert written["actions"]["BootNotification"]["sent"] == 2
    assert databases(tmp_path) == ["fleet.p2-of-3.db"]
    assert [summary.charge_point_id for summary in inspect_database(tmp_path / "fleet.p2-of-3.db")] == mine
    assert_quiet(errors.text)


async def test_a_fleet_in_two_processes_boots_once_reports_once_and_stops_at_sigterm(tmp_path: Path) -> None:
    central_system = CentralSystem()
    ids = [f"CP-{n:02}" for n in range(1, 21)]
    async with trio.open_nursery() as nursery:
        port = await nursery.start(central_system.serve, "127.0.0.1", 0)
        fleet_file = tmp_path / "fleet.toml"
        fleet_file.write_text(fleet_toml(port, len(ids)))
        report = tmp_path / "report.json"
        command = ("run", str(fleet_file), "--processes", "2", "--ramp", "0", "--report", str(report))
        async with ocpp_fleet(*command, "--metrics-port", "0") as (process, out, errors):
            with trio.fail_after(30):
                metrics = (await out.wait_for(r"Prometheus metrics on (http://\S+)\n"))[1]
                for charge_point in ids:
                    await central_system.wait_for(available(charge_point))
                async with httpx.AsyncClient() as client:  # the parent's metrics add up the children's
                    accepted = 'ocpp_fleet_charge_points{state="accepted"} 20.0'
                    while accepted not in (await client.get(metrics)).text:  # noqa: ASYNC110 (HTTP)
                        await trio.sleep(0.05)  # the children send their figures 4 times a second
            await stop(process)
        assert process.returncode == 0, errors.text
        nursery.cancel_scope.cancel()
    lines = out.text.splitlines()
    assert lines[0] == f"running 20 charge points of {fleet_file} in 2 processes, 0 per second"
    for index, line in enumerate(lines[2:4], start=1):
        database = Shard(index, 2).database(tmp_path / "fleet.db")
        assert re.fullmatch(rf"shard {index}/2: 10 charge points, pid \d+, state in {database}", line)
    # the shards report as their charge points stood when told to stop; then their power is cut
    assert any(line.startswith("stopped: 20/20 started, 20 connected, 20 accepted, ") for line in lines)
    assert "20 in " in out.text
    assert "(2 shards)" in out.text
    assert_quiet(errors.text)

    booted = boots(central_system)
    assert sorted(booted) == ids  # each charge point booted once, in one of the processes
    written = json.loads(report.read_text())
    assert written["shards"] == 2
    assert sorted(written["per_charge_point"]) == ids
    boot_notifications = written["actions"]["BootNotification"]
    assert boot_notifications["sent"] == boot_notifications["answered"] == len(booted)
    sent_to_csms = sum(
        1 for record in central_system.records if record.direction == "in" and record.kind == "CALL"
    )
    assert written["all_actions"]["sent"] == sent_to_csms
    for shard in Shard.all(2):
        found = [
            summary.charge_point_id for summary in inspect_database(shard.database(tmp_path / "fleet.db"))
        ]
        assert found == list(shard.select(ids))
    assert databases(tmp_path) == ["fleet.p1-of-2.db", "fleet.p2-of-2.db"]


async def test_a_child_that_dies_is_reported_and_started_again(tmp_path: Path) -> None:
    central_system = CentralSystem()
    ids = [f"CP-{n:02}" for n in range(1, 5)]
    async with trio.open_nursery() as nursery:
        port = await nursery.start(central_system.serve, "127.0.0.1", 0)
        fleet_file = tmp_path / "fleet.toml"
        fleet_file.write_text(fleet_toml(port, len(ids)))
        async with ocpp_fleet("run", str(fleet_file), "--processes", "2", "--ramp", "0") as (
            process,
            out,
            errors,
        ):
            with trio.fail_after(30):
                pid = int((await out.wait_for(r"shard 2/2: 2 charge points, pid (\d+),"))[1])
                for charge_point in ids:
                    await central_system.wait_for(available(charge_point))
                os.kill(pid, signal.SIGKILL)
                died = await errors.wait_for(
                    r"ocpp-fleet: shard 2/2 \(pid (\d+)\) died: killed by SIGKILL; .*\n"
                )
                await errors.wait_for(r"ocpp-fleet: shard 2/2 started again: pid \d+\n")
                for charge_point in ("CP-02", "CP-04"):  # shard 2/2 boots again from its database
                    await central_system.wait_for(
                        lambda record, cp=charge_point: (
                            available(cp)(record)
                            and sum(1 for booted in boots(central_system) if booted == cp) == 2
                        )
                    )
            await stop(process)
        nursery.cancel_scope.cancel()
    assert int(died[1]) == pid
    assert process.returncode == 1
    assert errors.text.endswith(
        "ocpp-fleet: shard 2/2 died once while running: the report lacks what its charge points did before\n"
    )
    assert sorted(boots(central_system)) == ["CP-01", "CP-02", "CP-02", "CP-03", "CP-04", "CP-04"]


async def test_a_child_that_cannot_start_stops_the_fleet(tmp_path: Path) -> None:
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text(fleet_toml(1, 4))
    missing = tmp_path / "missing" / "fleet.db"
    async with ocpp_fleet("run", str(fleet_file), "--processes", "2", "--database", str(missing)) as (
        process,
        _,
        errors,
    ):
        pass  # it stops by itself
    assert process.returncode == 1
    lines = errors.text.splitlines()
    assert f"ocpp-fleet: {Shard(1, 2).database(missing)}: unable to open database file" in errors.text
    assert any(
        re.fullmatch(
            r"ocpp-fleet: shard \d/2 \(pid \d+\) ended before it started \(exit status 1\); "
            r"stopping the fleet",
            line,
        )
        for line in lines
    )
    assert lines[-1] == "ocpp-fleet: no report: no shard sent one"


SLOW_TO_WIND_DOWN = """
import json, sys, time
print(json.dumps({"type": "started", "charge_points": 1}), flush=True)
sys.stdin.read()  # until told to stop
print(json.dumps({"type": "report", "report": {"shard": "1/1"}}), flush=True)
time.sleep(600)  # winding its charge points down, for longer than any grace
"""


async def test_a_stopping_child_that_sent_its_report_is_cut_off_at_once() -> None:
    """The protocol: once a stopping child has sent its report, the parent cuts its power rather than wait
    for it to wind down (the grace period is for children that do not report)."""
    child = _Child(
        shard=Shard(1, 1),
        command=[sys.executable, "-c", SLOW_TO_WIND_DOWN],
        database=Path("unused.db"),
        combined=CombinedStatistics({Shard(1, 1): 1}),
        errors=io.StringIO(),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(child.supervise, trio.Event())
        await child.stop()
        with trio.fail_after(STOP_GRACE / 2):
            await child.ended.wait()
    assert child.reports == [{"shard": "1/1"}]
    assert (child.lost, child.killed, child.failed) == (0, False, False)
    assert child.process is not None
    assert child.process.returncode == -signal.SIGKILL
