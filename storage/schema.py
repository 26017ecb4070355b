"""The schema of the database, as the ordered list of migrations that builds it.

Every table is keyed by ``charge_point_id``, so one file holds one charge point (a gateway) or ten thousand
(a fleet). Instants are fixed-width UTC text (``storage.encoding``); bodies the storage does not interpret
are JSON text.

sqlite-utils' :class:`~sqlite_utils.Migrations` records each applied migration by name in
``_sqlite_migrations``: opening a database applies those it has not seen, in order, and nothing else. A
migration, once released, is never edited: a change of schema is a new function appended below.
"""

import sqlite3
from collections.abc import Callable
from typing import TypeVar

import sqlite_utils

from storage.errors import StorageError

__all__ = ["MIGRATIONS", "MIGRATION_NAMES", "migrate"]

MIGRATIONS = sqlite_utils.Migrations("ocpp-fleet")
MIGRATION_NAMES: list[str] = []
"""The names of the migrations, in the order they apply."""

_Migration = TypeVar("_Migration", bound=Callable[[sqlite_utils.Database], None])


def _migration(name: str) -> Callable[[_Migration], _Migration]:
    """Register the next migration under ``name`` (a number and what it builds)."""

    def register(function: _Migration) -> _Migration:
        MIGRATION_NAMES.append(name)
        return MIGRATIONS(name=name)(function)

    return register


@_migration("0001_charge_points")
def _charge_points(db: sqlite_utils.Database) -> None:
    """One row per charge point that has written something: its counters and the local list's version."""
    db.table("charge_points").create(
        {
            "charge_point_id": str,
            "last_queue_seq": int,  # the offline queue's last sequence number (never reused)
            "last_local_transaction": int,  # how many local transaction ids were handed out
            "local_list_version": int,
        },
        pk="charge_point_id",
        not_null=["charge_point_id", "last_queue_seq", "last_local_transaction", "local_list_version"],
        defaults={"last_queue_seq": 0, "last_local_transaction": 0, "local_list_version": 0},
    )


@_migration("0002_configuration")
def _configuration(db: sqlite_utils.Database) -> None:
    """Configuration values changed since the first boot."""
    db.table("configuration").create(
        {"charge_point_id": str, "key": str, "value": str},
        pk=("charge_point_id", "key"),
        not_null=["charge_point_id", "key", "value"],
    )


@_migration("0003_offline_queue")
def _offline_queue(db: sqlite_utils.Database) -> None:
    """Transaction-related messages waiting for the Central System, and the ids it gave transactions."""
    db.table("offline_queue").create(
        {
            "charge_point_id": str,
            "seq": int,
            "action": str,
            "payload": str,
            "local_transaction": int,
            "attempts": int,
            "next_attempt_at": str,
        },
        pk=("charge_point_id", "seq"),
        not_null=["charge_point_id", "seq", "action", "payload", "attempts"],
        defaults={"attempts": 0},
    )
    db.table("offline_queue").create_index(["charge_point_id", "local_transaction"])
    db.table("transaction_ids").create(
        {"charge_point_id": str, "local_transaction": int, "transaction_id": int},
        pk=("charge_point_id", "local_transaction"),
        not_null=["charge_point_id", "local_transaction", "transaction_id"],
    )


@_migration("0004_authorization_cache")
def _authorization_cache(db: sqlite_utils.Database) -> None:
    """IdTagInfos the Central System sent, by idTag in lower case, with their order of use."""
    db.table("authorization_cache").create(
        {
            "charge_point_id": str,
            "id_tag_key": str,
            "id_tag": str,
            "info": str,
            "status": str,
            "expiry": str,
            "last_used": int,
        },
        pk=("charge_point_id", "id_tag_key"),
        not_null=["charge_point_id", "id_tag_key", "id_tag", "info", "status", "last_used"],
    )
    db.table("authorization_cache").create_index(["charge_point_id", "last_used"])


@_migration("0005_local_list")
def _local_list(db: sqlite_utils.Database) -> None:
    """The Local Authorization List (its version is in ``charge_points``), by idTag in lower case."""
    db.table("local_list").create(
        {"charge_point_id": str, "id_tag_key": str, "id_tag": str, "info": str},
        pk=("charge_point_id", "id_tag_key"),
        not_null=["charge_point_id", "id_tag_key", "id_tag", "info"],
    )


@_migration("0006_connectors")
def _connectors(db: sqlite_utils.Database) -> None:
    """Per connector: availability, the open transaction, the last meter reading."""
    db.table("availability").create(
        {"charge_point_id": str, "connector_id": int, "value": str},
        pk=("charge_point_id", "connector_id"),
        not_null=["charge_point_id", "connector_id", "value"],
    )
    db.table("open_transactions").create(
        {"charge_point_id": str, "connector_id": int, "record": str},
        pk=("charge_point_id", "connector_id"),
        not_null=["charge_point_id", "connector_id", "record"],
    )
    db.table("meter_readings").create(
        {"charge_point_id": str, "connector_id": int, "energy_wh": float, "reading": str, "at": str},
        pk=("charge_point_id", "connector_id"),
        not_null=["charge_point_id", "connector_id", "energy_wh", "reading", "at"],
    )


@_migration("0007_reservations_and_charging_profiles")
def _reservations_and_charging_profiles(db: sqlite_utils.Database) -> None:
    """Ready for the Reservation and Smart Charging profiles: a JSON body by id."""
    for name in ("reservations", "charging_profiles"):
        db.table(name).create(
            {"charge_point_id": str, "id": int, "body": str},
            pk=("charge_point_id", "id"),
            not_null=["charge_point_id", "id", "body"],
        )


def migrate(connection: sqlite3.Connection) -> list[str]:
    """Apply the migrations this database has not seen (in the caller's transaction); return their names.

    Raises :class:`StorageError` for a database that a newer version of this program has migrated further.
    """
    db = sqlite_utils.Database(connection, recursive_triggers=False, execute_plugins=False)
    unknown = [applied.name for applied in MIGRATIONS.applied(db) if applied.name not in MIGRATION_NAMES]
    if unknown:
        raise StorageError(
            f"the database was migrated by a newer version of ocpp-fleet: {', '.join(unknown)}"
        )
    pending = [migration.name for migration in MIGRATIONS.pending(db)]
    MIGRATIONS.apply(db)
    return pending


@_migration("0008_firmware")
def _firmware(db: sqlite_utils.Database) -> None:
    """The firmware version a firmware update installed, and whether its installation was reported."""
    db.table("firmware").create(
        {"charge_point_id": str, "version": str, "reported": int},
        pk="charge_point_id",
        not_null=["charge_point_id", "version", "reported"],
    )
