"""One SQLite database for many charge points: opening, migrating, reading, writing, closing.

::

    async with await open_database("fleet.db") as database:
        state = database.charge_point("CP-0001")
        await state.save_configuration("HeartbeatInterval", "300")

Durability. The file is in WAL mode with ``synchronous=FULL`` by default: a COMMIT returns only once the
write-ahead log is on disk, so a change whose ``await`` has returned survives a killed process *and* a power
cut of the machine, as the write-ahead promise of a real charge point asks. (``synchronous="NORMAL"`` is
faster and survives a killed process, but a power cut may take the last commits with it; a fleet simulation
may choose it.) Group commit (see ``storage.worker``) pays one fsync for all the changes that arrive during
the previous one, so durability costs latency, not throughput.

Threads. One writer thread owns the connection that writes; one reader thread owns a second, query-only
connection. No SQLite call runs on the event loop.
"""

import os
import sqlite3
from collections.abc import Callable
from typing import Literal, TypeVar

import sqlite_utils
import trio

from storage.charge_point import SqliteChargePointState
from storage.errors import StorageError
from storage.schema import migrate
from storage.worker import Worker, commit_batch, read_batch

__all__ = ["Database", "Synchronous", "open_database"]

T = TypeVar("T")

Synchronous = Literal["FULL", "NORMAL"]

_BUSY_TIMEOUT = 10.0  # seconds to wait for another process's lock (e.g. ``ocpp-fleet inspect``)


class Database(trio.abc.AsyncResource):
    """An open database: hands out the state of each charge point; close it with ``aclose`` or ``async with``.

    Made by :func:`open_database`. Usable from any trio task (and from successive ``trio.run`` calls).
    """

    def __init__(self, writer: Worker, reader: Worker) -> None:
        self._writer = writer
        self._reader = reader

    def charge_point(
        self, charge_point_id: str, *, queue_limit: int = 10_000, cache_limit: int = 1_000
    ) -> SqliteChargePointState:
        """The state of one charge point (empty until something is saved).

        ``queue_limit``: messages the offline queue holds before it drops MeterValues (``storage.queue``);
        ``cache_limit``: entries of the Authorization Cache (``storage.cache``).
        """
        return SqliteChargePointState(self, charge_point_id, queue_limit=queue_limit, cache_limit=cache_limit)

    @property
    def commits(self) -> int:
        """Write transactions committed since the database was opened (each holds one or more changes)."""
        return self._writer.commits

    async def write(self, change: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``change(connection)`` on the writer thread as one atomic change; return once it is committed.

        Changes that arrive while a commit is in progress share the next transaction; each runs in a
        savepoint of its own, so if it raises, it is undone alone and its exception is raised here
        (an SQLite error as :class:`StorageError`). ``change`` must not commit or roll back.
        """
        return await _run(self._writer, change)

    async def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``query(connection)`` on the reader thread, in a snapshot that holds every committed change."""
        return await _run(self._reader, query)

    async def aclose(self) -> None:
        """Finish the reads and changes already asked for, then close both connections."""
        await self._reader.aclose()
        await self._writer.aclose()


async def open_database(path: str | os.PathLike[str], *, synchronous: Synchronous = "FULL") -> Database:
    """Open (creating it if need be) and migrate the database file at ``path``.

    Raises :class:`StorageError` if the file is not a database this program can use.
    """
    if str(path) == ":memory:" or not str(path):
        raise ValueError("the database must be a file: an in-memory one is not shared between connections")
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    filename = os.fspath(path)
    writer = Worker(f"sqlite writer {filename}", lambda: _connect_writer(filename, synchronous), commit_batch)
    try:
        await _run(writer, migrate)
    except BaseException:
        await writer.aclose()
        raise
    reader = Worker(f"sqlite reader {filename}", lambda: _connect_reader(filename), read_batch)
    return Database(writer, reader)


async def _run(worker: Worker, function: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``function`` on ``worker``'s thread, with SQLite's errors translated into :class:`StorageError`."""
    try:
        return await worker.run(function)
    except sqlite3.Error as error:
        raise StorageError(str(error)) from error


def _connect(filename: str) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; the workers say BEGIN and COMMIT themselves.
    return sqlite3.connect(filename, timeout=_BUSY_TIMEOUT, isolation_level=None)


def _connect_writer(filename: str, synchronous: Synchronous) -> sqlite3.Connection:
    connection = _connect(filename)
    try:
        sqlite_utils.Database(connection, recursive_triggers=False, execute_plugins=False).enable_wal()
        connection.execute(f"PRAGMA synchronous={synchronous}")
    except BaseException:
        connection.close()
        raise
    return connection


def _connect_reader(filename: str) -> sqlite3.Connection:
    connection = _connect(filename)
    connection.execute("PRAGMA query_only=ON")
    return connection
