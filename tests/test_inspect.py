"""``ocpp-fleet inspect DB``: the saved state of charge points, read-only, as text and as JSON."""

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio

from fleet.cli import main
from storage import Database, StorageError, inspect_database, open_database
from storage.inspect import _read, charge_point_ids

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RECORD = {
    "local_id": -1,
    "transaction_id": 17,
    "id_tag": "TAG-1",
    "meter_start": 250,
    "started_at": "2024-05-01T11:00:00Z",
}


async def fill(database: Database) -> None:
    """Two charge points: one with something in every table, one with a message never attempted."""
    one = database.charge_point("CP-0001")
    local = await one.new_local_transaction()
    await one.enqueue("StartTransaction", {"connectorId": 1, "idTag": "TAG-1"}, local_transaction=local)
    await one.enqueue("MeterValues", {"connectorId": 1, "meterValue": []}, local_transaction=local)
    await one.enqueue("StopTransaction", {"meterStop": 1234}, local_transaction=local)
    await one.set_transaction_id(local, 17)
    await one.record_attempt(1, NOON.replace(minute=5))
    await one.record_attempt(1, NOON.replace(minute=10, microsecond=500_000))
    await one.local_list_replace(4, {tag: {"status": "Accepted"} for tag in ("A", "B", "C")})
    await one.cache_put("TAG-1", {"status": "Accepted"}, status="Accepted", expiry=None, now=NOON)
    await one.cache_put("TAG-2", {"status": "Blocked"}, status="Blocked", expiry=None, now=NOON)
    await one.save_availability(2, "Scheduled-Inoperative")
    await one.save_availability(3, "Inoperative")
    await one.save_transaction(1, RECORD)
    await one.save_meter(1, 1234.5, {"value": "1234.5"}, NOON)
    await one.save_meter(2, 5000.0, {"value": "5000"}, NOON.replace(second=30))
    await one.save_configuration("MeterValueSampleInterval", "60")
    await one.save_configuration("HeartbeatInterval", "300")
    two = database.charge_point("CP-0002")
    await two.enqueue("StopTransaction", {"transactionId": 9, "note": "two words"})


@pytest.fixture
def database_file(tmp_path: Path) -> Path:
    """A closed database holding the state written by :func:`fill`."""
    path = tmp_path / "fleet.db"

    async def create() -> None:
        async with await open_database(path) as database:
            await fill(database)

    trio.run(create)
    return path


def inspect(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    status = main(["inspect", *arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


EXPECTED_TEXT = """\
CP-0001
  offline queue   3 messages; head #1 StartTransaction, 2 attempts, next attempt 2024-05-01T12:10:00.500000Z
  local list      version 4, 3 idTags
  cache           2 idTags
  connector 0     Operative
  connector 1     Operative
    transaction   local_id=-1 transaction_id=17 id_tag=TAG-1 meter_start=250 started_at=2024-05-01T11:00:00Z
    meter         1234.5 Wh at 2024-05-01T12:00:00Z
  connector 2     Scheduled-Inoperative
    meter         5000 Wh at 2024-05-01T12:00:30Z
  connector 3     Inoperative
  configuration   HeartbeatInterval = 300
                  MeterValueSampleInterval = 60

CP-0002
  offline queue   1 message; head #1 StopTransaction, not attempted yet
  local list      version 0, 0 idTags
  cache           0 idTags
  connector 0     Operative
  configuration   none kept
"""

EXPECTED_JSON = [
    {
        "charge_point_id": "CP-0001",
        "offline_queue": {
            "depth": 3,
            "head": {
                "seq": 1,
                "action": "StartTransaction",
                "attempts": 2,
                "next_attempt_at": "2024-05-01T12:10:00.500000Z",
                "local_transaction": -1,
                "transaction_id": 17,
                "payload": {"connectorId": 1, "idTag": "TAG-1"},
            },
        },
        "local_list": {"version": 4, "size": 3},
        "authorization_cache": {"size": 2},
        "connectors": [
            {"connector_id": 0, "availability": "Operative", "transaction": None, "meter": None},
            {
                "connector_id": 1,
                "availability": "Operative",
                "transaction": RECORD,
                "meter": {"energy_wh": 1234.5, "at": "2024-05-01T12:00:00Z", "reading": {"value": "1234.5"}},
            },
            {
                "connector_id": 2,
                "availability": "Scheduled-Inoperative",
                "transaction": None,
                "meter": {"energy_wh": 5000.0, "at": "2024-05-01T12:00:30Z", "reading": {"value": "5000"}},
            },
            {"connector_id": 3, "availability": "Inoperative", "transaction": None, "meter": None},
        ],
        "configuration": {"HeartbeatInterval": "300", "MeterValueSampleInterval": "60"},
    },
    {
        "charge_point_id": "CP-0002",
        "offline_queue": {
            "depth": 1,
            "head": {
                "seq": 1,
                "action": "StopTransaction",
                "attempts": 0,
                "next_attempt_at": None,
                "local_transaction": None,
                "transaction_id": None,
                "payload": {"transactionId": 9, "note": "two words"},
            },
        },
        "local_list": {"version": 0, "size": 0},
        "authorization_cache": {"size": 0},
        "connectors": [{"connector_id": 0, "availability": "Operative", "transaction": None, "meter": None}],
        "configuration": {},
    },
]


# What it prints


def test_text_shows_every_charge_point_with_its_figures(
    database_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert inspect(capsys, str(database_file)) == (0, EXPECTED_TEXT, "")


def test_json_is_one_document_with_an_object_per_charge_point(
    database_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = inspect(capsys, str(database_file), "--json")
    assert (status, err) == (0, "")
    assert json.loads(out) == EXPECTED_JSON


def test_one_charge_point(database_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    second_block = EXPECTED_TEXT.split("\n\n")[1]
    assert inspect(capsys, str(database_file), "--charge-point", "CP-0002") == (0, second_block, "")
    status, out, _ = inspect(capsys, str(database_file), "--charge-point", "CP-0001", "--json")
    assert (status, json.loads(out)) == (0, EXPECTED_JSON[:1])


def test_a_transaction_record_is_shown_whatever_it_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "records.db"
    record = {"id_tag": "A B", "reason": "", "extra": {"x": [1, 2]}, "flag": True, "say": 'a="b"'}

    async def create() -> None:
        async with await open_database(path) as database:
            await database.charge_point("CP-1").save_transaction(1, record)
            await database.charge_point("CP-2").save_transaction(1, {})

    trio.run(create)
    _, out, _ = inspect(capsys, str(path))
    assert '    transaction   id_tag="A B" reason="" extra={"x":[1,2]} flag=true say="a=\\"b\\""\n' in out
    assert "    transaction   (empty record)\n" in out


def test_a_database_without_charge_points(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.db"

    async def create() -> None:
        async with await open_database(path):
            pass

    trio.run(create)
    assert inspect(capsys, str(path)) == (0, f"{path}: no charge point has saved anything\n", "")
    status, out, _ = inspect(capsys, str(path), "--json")
    assert (status, json.loads(out)) == (0, [])


# Mistakes: one line, exit status 2


def not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text('csms_url = "ws://127.0.0.1:9000/ocpp"\n' * 100)
    return path


def foreign_database(tmp_path: Path) -> Path:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE things (name TEXT)")
    connection.close()
    return path


def incomplete_database(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE charge_points (charge_point_id TEXT)")
        connection.execute("CREATE TABLE configuration (charge_point_id TEXT, key TEXT, value TEXT)")
    connection.close()
    return path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda tmp_path: tmp_path / "missing.db", "no such file"),
        (lambda tmp_path: tmp_path, "is a directory, not a database file"),
        (not_a_database, "not an SQLite database"),
        (foreign_database, "not an ocpp-fleet database: it has none of the tables ocpp-fleet keeps"),
        (
            incomplete_database,
            "an incomplete ocpp-fleet database: no table offline_queue, transaction_ids, "
            "authorization_cache, local_list, availability, open_transactions, meter_readings",
        ),
    ],
)
def test_a_file_that_cannot_be_inspected_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, problem: str
) -> None:
    assert callable(make)
    path = make(tmp_path)
    before = sorted(os.listdir(tmp_path))
    for extra in ([], ["--json"], ["--charge-point", "CP-0001"]):
        assert inspect(capsys, str(path), *extra) == (2, "", f"ocpp-fleet: {path}: {problem}\n")
    assert sorted(os.listdir(tmp_path)) == before  # nothing created, not even a database


@pytest.mark.parametrize(
    ("charge_point_id", "hint"),
    [
        ("cp-0002", "; did you mean CP-0002?"),
        ("CP-0003", ", which holds 2 charge points, CP-0001 to CP-0002"),
        ("gateway", ", which holds 2 charge points, CP-0001 to CP-0002"),
    ],
)
def test_an_unknown_charge_point_is_one_line_and_status_2(
    database_file: Path, capsys: pytest.CaptureFixture[str], charge_point_id: str, hint: str
) -> None:
    expected = f"ocpp-fleet: {database_file}: no charge point {charge_point_id!r} in this database{hint}\n"
    assert inspect(capsys, str(database_file), "--charge-point", charge_point_id) == (2, "", expected)
    assert inspect(capsys, str(database_file), "--json", "--charge-point", charge_point_id) == (
        2,
        "",
        expected,
    )


def test_the_storage_error_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"missing\.db: no such file$"):
        inspect_database(tmp_path / "missing.db")


# Read-only


def test_inspecting_changes_nothing_and_leaves_no_file_behind(
    database_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = database_file.parent
    before = (database_file.read_bytes(), database_file.stat().st_mtime_ns, sorted(os.listdir(folder)))
    for arguments in ([], ["--json"], ["--charge-point", "CP-0001"], ["--charge-point", "nobody"]):
        inspect(capsys, str(database_file), *arguments)
    after = (database_file.read_bytes(), database_file.stat().st_mtime_ns, sorted(os.listdir(folder)))
    assert after == before


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not stop root")
def test_a_read_only_file_in_a_read_only_folder_can_be_inspected(
    database_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = database_file.parent
    database_file.chmod(0o444)
    folder.chmod(0o555)
    try:
        assert inspect(capsys, str(database_file)) == (0, EXPECTED_TEXT, "")
    finally:
        folder.chmod(0o755)
        database_file.chmod(0o644)


async def test_inspecting_while_the_database_is_open_for_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fleet.db"
    async with await open_database(path) as database:
        await fill(database)
        assert inspect(capsys, str(path)) == (0, EXPECTED_TEXT, "")
        state = database.charge_point("CP-0002")
        await state.save_configuration("HeartbeatInterval", "900")  # inspect holds no lock
        await state.remove(1)
        _, out, _ = inspect(capsys, str(path), "--charge-point", "CP-0002")
        assert "  offline queue   empty\n" in out
        assert "  configuration   HeartbeatInterval = 900\n" in out
        assert await state.load_configuration() == {"HeartbeatInterval": "900"}


def test_a_writer_that_starts_during_an_untraced_read_makes_it_read_again(database_file: Path) -> None:
    calls = []

    def query(connection: sqlite3.Connection) -> list[str]:
        calls.append(charge_point_ids(connection))
        if len(calls) == 1:  # another process opens the database and writes while we read
            writer = sqlite3.connect(database_file, isolation_level=None)
            writer.execute("INSERT INTO configuration VALUES ('CP-0003', 'HeartbeatInterval', '60')")
            writer.close()
        return calls[-1]

    assert _read(database_file, query) == ["CP-0001", "CP-0002", "CP-0003"]
    assert calls == [["CP-0001", "CP-0002"], ["CP-0001", "CP-0002", "CP-0003"]]


def test_charge_point_ids_are_found_in_every_table(database_file: Path) -> None:
    with sqlite3.connect(database_file) as connection:
        connection.execute("INSERT INTO reservations VALUES ('CP-0000', 1, '{}')")
        connection.execute("INSERT INTO availability VALUES ('CP-0009', 0, 'Inoperative')")
    connection.close()
    assert [summary.charge_point_id for summary in inspect_database(database_file)] == [
        "CP-0000",
        "CP-0001",
        "CP-0002",
        "CP-0009",
    ]
