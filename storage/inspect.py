"""What a database holds for each charge point, read without changing anything (``ocpp-fleet inspect``).

:func:`inspect_database` opens the file read-only (an SQLite ``mode=ro`` URI), so it never creates,
migrates or changes a database, and reads every charge point in one snapshot. A WAL database can be read
while ``ocpp-fleet run`` writes to it: readers and the writer do not wait for each other.

The other functions take an open connection and are plain reads of the per-table functions
(``storage.queue``, ``storage.cache``, ``storage.local_list``, ``storage.connectors``,
``storage.configuration``).
"""

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import attrs

from storage import cache, configuration, connectors, local_list, queue
from storage.connectors import MeterRecord
from storage.encoding import JsonObject
from storage.errors import StorageError
from storage.queue import QueuedMessage

__all__ = [
    "DEFAULT_AVAILABILITY",
    "TABLES",
    "ChargePointSummary",
    "ConnectorSummary",
    "charge_point_ids",
    "check_tables",
    "inspect_database",
    "summarise",
]

T = TypeVar("T")

DEFAULT_AVAILABILITY = "Operative"
"""The availability of a connector that has saved none."""

TABLES = (
    "charge_points",
    "configuration",
    "offline_queue",
    "transaction_ids",
    "authorization_cache",
    "local_list",
    "availability",
    "open_transactions",
    "meter_readings",
)
"""The tables a summary reads: a database without them is not one of ours."""

_BUSY_TIMEOUT = 5.0  # seconds; a WAL reader waits only while a crashed writer's log is recovered
_WAL_FORMAT = b"\x02\x02"  # bytes 18 and 19 of the header of a database in WAL mode


@attrs.frozen
class ConnectorSummary:
    """What one connector saved. Connector 0 is the charge point itself."""

    connector_id: int
    availability: str
    """Operative, Inoperative or Scheduled-Inoperative (Operative if none was saved)."""
    transaction: JsonObject | None
    """The record of the open transaction, as the connector wrote it, or ``None``."""
    meter: MeterRecord | None
    """The last meter reading kept, or ``None``."""


@attrs.frozen
class ChargePointSummary:
    """The persistent state of one charge point, as found in the database."""

    charge_point_id: str
    queue_depth: int
    """Messages waiting in the offline queue."""
    queue_head: QueuedMessage | None
    """The oldest of them (the next to be sent), or ``None``."""
    local_list_version: int
    """0 if no Local Authorization List was installed."""
    local_list_size: int
    cache_size: int
    """Entries of the Authorization Cache."""
    connectors: tuple[ConnectorSummary, ...]
    """Connector 0 and every connector that saved something, by id; the others are Operative and idle."""
    configuration: dict[str, str]
    """The configuration values kept (set at the first boot or changed since), by key in sorted order."""


def check_tables(connection: sqlite3.Connection) -> None:
    """Raise :class:`StorageError` unless the database has every table in :data:`TABLES`."""
    present = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [table for table in TABLES if table not in present]
    if len(missing) == len(TABLES):
        raise StorageError("not an ocpp-fleet database: it has none of the tables ocpp-fleet keeps")
    if missing:
        raise StorageError(f"an incomplete ocpp-fleet database: no table {', '.join(missing)}")


def charge_point_ids(connection: sqlite3.Connection) -> list[str]:
    """The ids of the charge points that have anything in any table, in sorted order."""
    tables = [
        name
        for (name,) in connection.execute(
            "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c"
            " WHERE m.type = 'table' AND c.name = 'charge_point_id' ORDER BY m.name"
        )
    ]
    if not tables:
        return []
    union = " UNION ".join(f"SELECT charge_point_id FROM {_identifier(table)}" for table in tables)
    return [charge_point_id for (charge_point_id,) in connection.execute(f"{union} ORDER BY 1")]


def summarise(connection: sqlite3.Connection, charge_point_id: str) -> ChargePointSummary:
    """The state of one charge point (an empty one if the database holds nothing of it)."""
    availability = connectors.load_availability(connection, charge_point_id)
    transactions = connectors.load_transactions(connection, charge_point_id)
    meters = connectors.load_meters(connection, charge_point_id)
    connector_ids = sorted({0, *availability, *transactions, *meters})
    return ChargePointSummary(
        charge_point_id=charge_point_id,
        queue_depth=queue.depth(connection, charge_point_id),
        queue_head=queue.head(connection, charge_point_id),
        local_list_version=local_list.version(connection, charge_point_id),
        local_list_size=local_list.size(connection, charge_point_id),
        cache_size=cache.size(connection, charge_point_id),
        connectors=tuple(
            ConnectorSummary(
                connector_id=connector_id,
                availability=availability.get(connector_id, DEFAULT_AVAILABILITY),
                transaction=transactions.get(connector_id),
                meter=meters.get(connector_id),
            )
            for connector_id in connector_ids
        ),
        configuration=dict(sorted(configuration.load(connection, charge_point_id).items())),
    )


def inspect_database(
    path: str | os.PathLike[str], charge_point_id: str | None = None
) -> list[ChargePointSummary]:
    """The state of every charge point in the database at ``path``, or of ``charge_point_id`` only.

    Raises :class:`StorageError`, its message starting with ``path``, if the file is missing, is not an
    SQLite database or not one of ours, cannot be read, or holds nothing of ``charge_point_id``.
    """

    def summaries(connection: sqlite3.Connection) -> list[ChargePointSummary]:
        check_tables(connection)
        known = charge_point_ids(connection)
        if charge_point_id is not None and charge_point_id not in known:
            raise StorageError(_unknown(charge_point_id, known))
        wanted = known if charge_point_id is None else [charge_point_id]
        return [summarise(connection, wanted_id) for wanted_id in wanted]

    try:
        return _read(Path(path), summaries)
    except StorageError as error:
        raise StorageError(f"{path}: {error}") from error.__cause__


def _read(path: Path, query: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``query`` in one read transaction of the database at ``path``, which it never writes.

    A read-only connection to a WAL database creates the ``-wal`` and ``-shm`` files beside it when nobody
    has the database open (SQLite needs them for its locks). To leave no trace, a WAL database without them
    is read as immutable (the file alone, no locks) and, if a writer appeared meanwhile, read again the
    usual way.
    """
    if not path.exists():
        raise StorageError("no such file")
    if path.is_dir():
        raise StorageError("is a directory, not a database file")
    before = _closed_wal_database(path)
    if before is not None:
        try:
            result = _query(path, query, immutable=True)
        except StorageError:
            if _closed_wal_database(path) == before:
                raise
        else:
            if _closed_wal_database(path) == before:
                return result
    return _query(path, query, immutable=False)


def _closed_wal_database(path: Path) -> tuple[int, int] | None:
    """The size and mtime of a WAL database that no connection has open (no ``-wal`` file), else None."""
    try:
        with path.open("rb") as file:
            header = file.read(20)
        if header[18:20] != _WAL_FORMAT or Path(f"{path}-wal").exists():
            return None
        status = path.stat()
    except OSError:
        return None  # let SQLite say what is wrong
    return status.st_size, status.st_mtime_ns


def _query(path: Path, query: Callable[[sqlite3.Connection], T], *, immutable: bool) -> T:
    uri = path.absolute().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT, isolation_level=None)
    except sqlite3.Error as error:
        raise StorageError(f"cannot open: {error}") from error
    try:
        connection.execute("BEGIN")  # one snapshot for every table
        return query(connection)
    except sqlite3.Error as error:
        if error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_NOTADB:
            raise StorageError("not an SQLite database") from error
        raise StorageError(str(error)) from error
    except ValueError as error:  # a body that is not JSON, an instant that is not one
        raise StorageError(f"unreadable value: {error}") from error
    finally:
        connection.close()  # also ends the read transaction


def _unknown(charge_point_id: str, known: list[str]) -> str:
    message = f"no charge point {charge_point_id!r} in this database"
    if not known:
        return f"{message}, which holds no charge point"
    same_but_case = [found for found in known if found.lower() == charge_point_id.lower()]
    if same_but_case:  # ids are case-sensitive in URLs and in the database
        return f"{message}; did you mean {same_but_case[0]}?"
    if len(known) == 1:
        return f"{message}, which holds {known[0]} only"
    return f"{message}, which holds {len(known)} charge points, {known[0]} to {known[-1]}"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
