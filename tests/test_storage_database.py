"""The SQLite database: migrations, durability (also across a killed process), group commit, failures."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
import trio
import trio.testing

from storage import Database, StorageError, open_database
from storage.schema import MIGRATION_NAMES, MIGRATIONS
from storage.worker import Job, read_batch


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    async with await open_database(tmp_path / "state.db") as database:
        yield database


def applied_migrations(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name, applied_at FROM _sqlite_migrations ORDER BY id").fetchall()
    connection.close()
    return rows


# Migrations


async def test_a_fresh_file_gets_every_migration_in_order_and_the_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    async with await open_database(path) as database:
        journal_mode, synchronous = await database.write(
            lambda connection: (
                connection.execute("PRAGMA journal_mode").fetchone()[0],
                connection.execute("PRAGMA synchronous").fetchone()[0],
            )
        )
    assert (journal_mode, synchronous) == ("wal", 2)  # 2 is FULL
    assert [name for name, _ in applied_migrations(path)] == MIGRATION_NAMES
    tables = set(sqlite_utils.Database(path).table_names())
    assert {
        "offline_queue",
        "authorization_cache",
        "local_list",
        "reservations",
        "charging_profiles",
    } <= tables


async def test_every_table_is_keyed_by_charge_point(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    async with await open_database(path):
        pass
    db = sqlite_utils.Database(path)
    for name in db.table_names():
        if name != "_sqlite_migrations":
            assert db.table(name).pks[0] == "charge_point_id", name


async def test_an_older_file_is_migrated_keeping_its_data_and_reopening_changes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "older.db"
    older = sqlite_utils.Database(path)
    MIGRATIONS.apply(older, stop_before="0003_offline_queue")
    older.execute("INSERT INTO configuration VALUES ('CP-1', 'HeartbeatInterval', '60')")
    older.close()
    assert [name for name, _ in applied_migrations(path)] == MIGRATION_NAMES[:2]

    async with await open_database(path) as database:
        state = database.charge_point("CP-1")
        assert await state.load_configuration() == {"HeartbeatInterval": "60"}
        await state.enqueue("StartTransaction", {"connectorId": 1})
    migrated = applied_migrations(path)
    assert [name for name, _ in migrated] == MIGRATION_NAMES

    async with await open_database(path) as database:
        assert await database.charge_point("CP-1").depth() == 1
    assert applied_migrations(path) == migrated


async def test_a_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    async with await open_database(path):
        pass
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
            " VALUES ('ocpp-fleet', '9999_from_the_future', '')"
        )
    connection.close()
    with pytest.raises(StorageError, match="newer version"):
        await open_database(path)


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database, not even a little" * 100)
    with pytest.raises(StorageError) as raised:
        await open_database(path)
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)


async def test_an_in_memory_database_is_refused() -> None:
    with pytest.raises(ValueError, match="file"):
        await open_database(":memory:")


async def test_a_closed_database_refuses_work(tmp_path: Path) -> None:
    database = await open_database(tmp_path / "closed.db")
    await database.aclose()
    await database.aclose()  # closing twice is harmless
    with pytest.raises(trio.ClosedResourceError):
        await database.charge_point("CP-1").save_configuration("a", "b")
    with pytest.raises(trio.ClosedResourceError):
        await database.charge_point("CP-1").load_configuration()


# Durability


async def test_an_acknowledged_write_is_there_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "reopen.db"
    async with await open_database(path) as database:
        await database.charge_point("CP-1").save_configuration("MeterValueSampleInterval", "15")
        async with await open_database(path) as second:  # another connection sees it before any close, too
            assert await second.charge_point("CP-1").load_configuration() == {
                "MeterValueSampleInterval": "15"
            }
    async with await open_database(path) as database:
        assert await database.charge_point("CP-1").load_configuration() == {"MeterValueSampleInterval": "15"}
        assert await database.charge_point("CP-2").load_configuration() == {}


WRITER = textwrap.dedent(
    """
    import sys
    import trio
    from storage import open_database

    async def write_forever(database, charge_point_id):
        state = database.charge_point(charge_point_id)
        n = 0
        while True:
            await state.save_configuration(f"key-{n}", str(n))
            print(f"{charge_point_id} {n}", flush=True)
            n += 1

    async def main():
        database = await open_database(sys.argv[1])
        async with trio.open_nursery() as nursery:
            for number in range(4):
                nursery.start_soon(write_forever, database, f"CP-{number}")

    trio.run(main)
    """
)


def test_every_acknowledged_write_survives_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    acknowledged: dict[str, int] = {}
    try:
        while sum(n + 1 for n in acknowledged.values()) < 400:
            line = child.stdout.readline()
            assert line, f"the writer ended: {child.communicate()[1]}"
            charge_point_id, n = line.split()
            acknowledged[charge_point_id] = int(n)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate()
    assert child.returncode == -signal.SIGKILL
    for line in rest.split("\n")[:-1]:  # acknowledged before the kill, read after it; not a cut last line
        charge_point_id, n = line.split()
        acknowledged[charge_point_id] = int(n)

    async def check() -> None:
        async with await open_database(path) as database:
            for charge_point_id, last in acknowledged.items():
                saved = await database.charge_point(charge_point_id).load_configuration()
                # Every acknowledged write is there, and nothing is missing before any write that is.
                assert len(saved) >= last + 1
                assert saved == {f"key-{n}": str(n) for n in range(len(saved))}

    trio.run(check)


# Group commit


class WriterGate:
    """A change that holds the writer thread inside a batch until opened."""

    def __init__(self) -> None:
        self._entered = threading.Event()
        self._open = threading.Event()

    def change(self, connection: sqlite3.Connection) -> None:
        self._entered.set()
        self._open.wait()

    async def hold(self, database: Database, nursery: trio.Nursery) -> None:
        nursery.start_soon(database.write, self.change)
        await trio.to_thread.run_sync(self._entered.wait)

    def open(self) -> None:
        self._open.set()


async def test_writes_that_arrive_during_a_commit_share_the_next_one(database: Database) -> None:
    seen: dict[str, dict[str, str]] = {}

    async def write(number: int) -> None:
        state = database.charge_point(f"CP-{number % 50}")
        await state.save_configuration(f"key-{number}", str(number))
        seen[f"{number}"] = await state.load_configuration()

    gate = WriterGate()
    async with trio.open_nursery() as nursery:
        await gate.hold(database, nursery)
        commits = database.commits
        for number in range(500):
            nursery.start_soon(write, number)
        await trio.testing.wait_all_tasks_blocked()
        gate.open()
    assert database.commits == commits + 2  # the gate's batch, then one for all 500 writes
    for number in range(500):
        assert seen[f"{number}"][f"key-{number}"] == str(number)  # each writer sees its own write


async def test_many_concurrent_writers_need_few_commits(database: Database) -> None:
    commits = database.commits
    async with trio.open_nursery() as nursery:
        for number in range(300):
            nursery.start_soon(
                database.charge_point(f"CP-{number % 30}").save_availability, number, "Operative"
            )
    assert database.commits - commits < 300 / 2
    assert await database.charge_point("CP-7").load_availability() == dict.fromkeys(
        range(7, 300, 30), "Operative"
    )


def insert(key: str, value: str | None) -> Callable[[sqlite3.Connection], None]:
    def change(connection: sqlite3.Connection) -> None:
        connection.execute("INSERT INTO configuration VALUES ('CP-1', ?, ?)", (key, value))

    return change


def insert_then(key: str, fail: Callable[[sqlite3.Connection], Any]) -> Callable[[sqlite3.Connection], None]:
    def change(connection: sqlite3.Connection) -> None:
        insert(key, "written before the failure")(connection)
        fail(connection)

    return change


def violate_a_constraint(connection: sqlite3.Connection) -> None:
    insert("value-is-null", None)(connection)


def end_the_transaction_and_fail(connection: sqlite3.Connection) -> None:
    connection.execute("ROLLBACK")  # as SQLite does itself on a few errors (a full disk, an I/O error)
    raise sqlite3.OperationalError("database or disk is full")


@pytest.mark.parametrize("fail", [violate_a_constraint, end_the_transaction_and_fail])
async def test_a_failing_change_fails_alone_in_its_batch(
    database: Database, fail: Callable[[sqlite3.Connection], None]
) -> None:
    outcomes: dict[str, object] = {}

    async def write(name: str, change: Callable[[sqlite3.Connection], None]) -> None:
        try:
            await database.write(change)
        except StorageError as error:
            outcomes[name] = error
        else:
            outcomes[name] = "committed"

    gate = WriterGate()
    async with trio.open_nursery() as nursery:
        await gate.hold(database, nursery)
        commits = database.commits
        nursery.start_soon(write, "before", insert("before", "1"))
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(write, "failing", insert_then("failing", fail))
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(write, "after", insert("after", "2"))
        await trio.testing.wait_all_tasks_blocked()
        gate.open()
    assert outcomes["before"] == outcomes["after"] == "committed"
    failure = outcomes["failing"]
    assert isinstance(failure, StorageError)
    assert isinstance(failure.__cause__, sqlite3.Error)
    assert database.commits == commits + 2
    assert await database.charge_point("CP-1").load_configuration() == {"before": "1", "after": "2"}


async def test_an_error_that_is_not_sqlites_reaches_the_caller_as_it_is(database: Database) -> None:
    def change(connection: sqlite3.Connection) -> None:
        insert("half", "done")(connection)
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        await database.write(change)
    assert await database.charge_point("CP-1").load_configuration() == {}


async def test_reads_cannot_write(database: Database) -> None:
    with pytest.raises(StorageError, match="readonly"):
        await database.read(insert("key", "value"))


async def test_a_database_serves_successive_trio_runs(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    database = await open_database(path)
    await database.charge_point("CP-1").save_configuration("a", "1")

    def in_another_run() -> dict[str, str]:
        async def load() -> dict[str, str]:
            return await database.charge_point("CP-1").load_configuration()

        return trio.run(load)

    assert await trio.to_thread.run_sync(in_another_run) == {"a": "1"}
    await database.aclose()


async def test_a_batch_of_reads_shares_one_snapshot_and_a_failing_read_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "reads.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (n INTEGER)")
    reader = sqlite3.connect(path, isolation_level=None)

    def count(connection: sqlite3.Connection) -> int:
        return int(connection.execute("SELECT count(*) FROM t").fetchone()[0])

    def count_then_write_elsewhere(connection: sqlite3.Connection) -> int:
        seen = count(connection)
        with sqlite3.connect(path) as writer:  # a write committed while the batch runs
            writer.execute("INSERT INTO t VALUES (1)")
        return seen

    def broken(connection: sqlite3.Connection) -> int:
        raise ValueError("broken")

    jobs = [Job(count_then_write_elsewhere), Job(broken), Job(count)]
    assert read_batch(reader, jobs) == 0
    assert [job.ran for job in jobs] == [True, True, True]
    assert (jobs[0].outcome(), jobs[2].outcome()) == (0, 0)  # the batch's snapshot: before the write
    with pytest.raises(ValueError, match="broken"):
        jobs[1].outcome()
    assert not reader.in_transaction
    assert count(reader) == 1  # the next read sees it
    reader.close()
