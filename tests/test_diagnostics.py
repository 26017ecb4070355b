"""Diagnostics (spec 4.4, 5.9, 6.17, 6.25, 6.26, 7.24), in the manner of the official compliance test cases
TC_045_1 and TC_045_2.

The pure parts (the journal, the file's name and content, the statuses) are tested alone; the charge point
uploads to real loopback HTTP and FTP servers, on the real clock, against the embedded Central System.
"""

import itertools
import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
from file_servers import HttpFileServer, ftp_file_server, http_file_server, unused_port
from transfer_bench import GUARD, Bench

from actors.diagnostics import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_INTERVAL,
    DIAGNOSTICS_TRANSITIONS,
    JournalEntry,
    MessageJournal,
    diagnostics_content,
    diagnostics_file_name,
    diagnostics_retry_plan,
    select_entries,
)
from actors.ocpp import DiagnosticsStatus, GetDiagnosticsRequest, GetDiagnosticsResponse
from actors.transfer import RetryPlan
from fleet.csms import CentralSystem
from storage import MemoryStorage

D = DiagnosticsStatus
T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
FILE_NAME = re.compile(r"diagnostics-CP-1-\d{8}T\d{6}Z\.log")

# --- pure parts ------------------------------------------------------------------------------------------


def test_the_statuses_of_an_upload_follow_4_4() -> None:
    for path in ([D.IDLE, D.UPLOADING, D.UPLOADED], [D.IDLE, D.UPLOADING, D.UPLOAD_FAILED, D.UPLOADING]):
        assert all(after in DIAGNOSTICS_TRANSITIONS[before] for before, after in itertools.pairwise(path))
    assert D.UPLOADED not in DIAGNOSTICS_TRANSITIONS[D.IDLE]
    assert D.IDLE not in DIAGNOSTICS_TRANSITIONS[D.UPLOADING]


def test_the_retry_plan_of_get_diagnostics() -> None:
    told = GetDiagnosticsRequest(location="ftp://h/", retries=1, retry_interval=5)
    assert diagnostics_retry_plan(told) == RetryPlan(attempts=2, interval=5)
    untold = GetDiagnosticsRequest(location="ftp://h/")
    assert diagnostics_retry_plan(untold) == RetryPlan(DEFAULT_RETRIES + 1, DEFAULT_RETRY_INTERVAL)


def test_the_journal_keeps_the_latest_messages() -> None:
    moments = iter(T0.timestamp() + n for n in itertools.count())
    journal = MessageJournal(lambda: next(moments), capacity=3)
    for n in range(5):
        journal.record(f"message {n}", n % 2 == 0)
    journal.record(b"\x00binary", False)
    assert journal.entries() == [
        JournalEntry(T0 + timedelta(seconds=3), False, "message 3"),
        JournalEntry(T0 + timedelta(seconds=4), True, "message 4"),
        JournalEntry(T0 + timedelta(seconds=5), False, "b'\\x00binary'"),
    ]
    assert journal.forgotten == 3
    nothing = MessageJournal(lambda: T0.timestamp(), capacity=0)
    nothing.record("m", True)
    assert nothing.entries() == []


def test_start_and_stop_time_select_inclusively() -> None:
    entries = [JournalEntry(T0 + timedelta(minutes=n), True, str(n)) for n in range(5)]
    assert select_entries(entries, T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)) == entries[1:4]
    assert select_entries(entries, None, T0 + timedelta(minutes=1)) == entries[:2]
    assert select_entries(entries, T0 + timedelta(minutes=4), None) == entries[4:]
    assert select_entries(entries, None, None) == entries


def test_the_file_name() -> None:
    assert (
        diagnostics_file_name("CP-1", T0 + timedelta(seconds=7.5)) == "diagnostics-CP-1-20261121T120007Z.log"
    )
    assert diagnostics_file_name("cp:1?#ä", T0) == "diagnostics-cp_1___-20261121T120000Z.log"
    assert len(diagnostics_file_name("x" * 300, T0)) == 255  # CiString255 (6.26)


def test_the_content_of_the_file() -> None:
    entries = [
        JournalEntry(T0, True, '[2,"1","Heartbeat",{}]'),
        JournalEntry(T0 + timedelta(seconds=1.25), False, '[3,"1",{"currentTime":"2026-11-21T12:00:01Z"}]'),
        JournalEntry(T0 + timedelta(minutes=5), True, "later"),
    ]
    content = diagnostics_content(
        [("chargePointId", "CP-1"), ("connector 1", "Available")],
        entries,
        start=None,
        stop=T0 + timedelta(minutes=1),
        generated_at=T0 + timedelta(minutes=10),
        forgotten=2,
    )
    assert content.decode() == (
        "# ocpp-fleet diagnostics\n"
        "chargePointId: CP-1\n"
        "connector 1: Available\n"
        "generatedAt: 2026-11-21T12:10:00Z\n"
        "startTime: -\n"
        "stopTime: 2026-11-21T12:01:00Z\n"
        "messages: 2 (2 older ones no longer kept)\n"
        "\n"
        '2026-11-21T12:00:00Z > [2,"1","Heartbeat",{}]\n'
        '2026-11-21T12:00:01.250Z < [3,"1",{"currentTime":"2026-11-21T12:00:01Z"}]\n'
    )


# --- the charge point uploads to loopback servers --------------------------------------------------------


@pytest.fixture
def server() -> Iterator[HttpFileServer]:
    with http_file_server() as server:
        yield server


@pytest.fixture
async def bench(server: HttpFileServer) -> AsyncIterator[Bench]:
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            state = MemoryStorage().charge_point("CP-1")
            bench = Bench(nursery, CentralSystem(heartbeat_interval=300), server, state)
            await bench.power_on()
            yield bench
            await bench.shut_down()


def diagnostics_statuses(bench: Bench) -> list[str]:
    return [payload["status"] for payload in bench.calls("DiagnosticsStatusNotification")]


async def wait_diagnostics(bench: Bench, status: DiagnosticsStatus) -> int:
    return await bench.wait_call(
        lambda r: r.action == "DiagnosticsStatusNotification" and r.payload["status"] == status
    )


async def test_TC_045_1_get_diagnostics_over_http(bench: Bench) -> None:
    request = GetDiagnosticsRequest(location=bench.server.url("/diagnostics/"), retries=1, retry_interval=1)
    answer = await bench.csms.call("CP-1", request)
    assert isinstance(answer, GetDiagnosticsResponse)
    assert answer.file_name is not None
    assert FILE_NAME.fullmatch(answer.file_name)
    assert bench.charge_point is not None
    await wait_diagnostics(bench, D.UPLOADED)

    assert diagnostics_statuses(bench) == ["Uploading", "Uploaded"]
    assert bench.charge_point.diagnostics_status is D.IDLE
    (path,) = bench.server.uploads
    assert path == f"/diagnostics/{answer.file_name}"
    lines = bench.server.uploads[path].decode().splitlines()
    assert lines[:3] == ["# ocpp-fleet diagnostics", "chargePointId: CP-1", "vendor: ocpp-fleet"]
    assert "firmwareVersion: 1.0.0" in lines
    assert "connector 1: Available" in lines
    messages = lines[lines.index("") + 1 :]
    assert '"BootNotification"' in messages[0]
    assert messages[0].split()[1] == ">"  # sent by the charge point
    get_diagnostics = [line for line in messages if '"GetDiagnostics"' in line]
    assert len(get_diagnostics) == 1
    assert get_diagnostics[0].split()[1] == "<"  # received
    # the file is made once the upload starts: its last messages are Uploading and the answer to it
    (_, arrow, uploading), (_, answer_arrow, answer) = (line.split(" ", 2) for line in messages[-2:])
    uploading_call = json.loads(uploading)
    assert (arrow, uploading_call[2:]) == (">", ["DiagnosticsStatusNotification", {"status": "Uploading"}])
    assert (answer_arrow, json.loads(answer)) == ("<", [3, uploading_call[1], {}])


async def test_TC_045_1_get_diagnostics_over_ftp_within_a_time_window(bench: Bench, tmp_path: Path) -> None:
    (tmp_path / "upload").mkdir()
    assert bench.charge_point is not None
    with ftp_file_server(tmp_path) as ftp:
        start = bench.charge_point.clock.now()  # after the boot, before the request
        request = GetDiagnosticsRequest(location=ftp.url("/upload"), start_time=start)
        answer = await bench.csms.call("CP-1", request)
        assert isinstance(answer, GetDiagnosticsResponse)
        await wait_diagnostics(bench, D.UPLOADED)
    assert diagnostics_statuses(bench) == ["Uploading", "Uploaded"]
    assert answer.file_name is not None
    content = (tmp_path / "upload" / answer.file_name).read_text()
    assert '"BootNotification"' not in content, "older than startTime"
    assert '"GetDiagnostics"' in content


async def test_TC_045_2_upload_failed_after_the_retries(bench: Bench) -> None:
    refused = f"http://127.0.0.1:{unused_port()}/diagnostics/"
    answer = await bench.csms.call(
        "CP-1", GetDiagnosticsRequest(location=refused, retries=2, retry_interval=0)
    )
    assert isinstance(answer, GetDiagnosticsResponse)
    assert answer.file_name is not None
    await wait_diagnostics(bench, D.UPLOAD_FAILED)
    assert diagnostics_statuses(bench) == ["Uploading", "UploadFailed"]
    assert bench.charge_point is not None
    assert bench.charge_point.diagnostics_status is D.IDLE


async def test_an_upload_the_server_refuses_is_tried_retries_more_times(bench: Bench) -> None:
    bench.server.refuse["/full/"] = 507
    answer = await bench.csms.call(
        "CP-1", GetDiagnosticsRequest(location=bench.server.url("/full/"), retries=1, retry_interval=1)
    )
    assert isinstance(answer, GetDiagnosticsResponse)
    await wait_diagnostics(bench, D.UPLOAD_FAILED)
    tries = bench.server.tries("PUT", f"/full/{answer.file_name}")
    assert len(tries) == 2
    assert tries[1].at - tries[0].at >= 1
    assert bench.server.uploads == {}
