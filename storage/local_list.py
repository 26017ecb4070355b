"""The Local Authorization List (spec 3.5.2, 5.15): IdTagInfos by idTag, and the version of the list.

Only SendLocalList changes it: :func:`replace` for a Full update, :func:`update` for a Differential one.
Each is one atomic change, version included, so a reboot never finds half a list. Entries are keyed by the
idTag in lower case; within one update, a later entry for the same idTag (in any case) wins. Version 0 means
no list has been installed. Whether an update is acceptable (version, length) is the caller's decision.
"""

import sqlite3
from collections.abc import Iterable

from storage.counters import ensure_row
from storage.encoding import JsonObject, id_tag_key, load_json

__all__ = ["get", "replace", "size", "update", "version"]


def version(connection: sqlite3.Connection, charge_point_id: str) -> int:
    """The version of the list (0 before any)."""
    row = connection.execute(
        "SELECT local_list_version FROM charge_points WHERE charge_point_id = ?", (charge_point_id,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def get(connection: sqlite3.Connection, charge_point_id: str, id_tag: str) -> JsonObject | None:
    """The IdTagInfo of ``id_tag`` in the list, or ``None``."""
    row = connection.execute(
        "SELECT info FROM local_list WHERE charge_point_id = ? AND id_tag_key = ?",
        (charge_point_id, id_tag_key(id_tag)),
    ).fetchone()
    return None if row is None else load_json(row[0])


def size(connection: sqlite3.Connection, charge_point_id: str) -> int:
    """How many idTags the list holds."""
    (count,) = connection.execute(
        "SELECT COUNT(*) FROM local_list WHERE charge_point_id = ?", (charge_point_id,)
    ).fetchone()
    return int(count)


def replace(
    connection: sqlite3.Connection, charge_point_id: str, new_version: int, entries: Iterable[tuple[str, str]]
) -> None:
    """Full update: the list becomes ``entries`` (idTag, IdTagInfo as JSON text) at ``new_version``."""
    connection.execute("DELETE FROM local_list WHERE charge_point_id = ?", (charge_point_id,))
    update(connection, charge_point_id, new_version, entries)


def update(
    connection: sqlite3.Connection,
    charge_point_id: str,
    new_version: int,
    changes: Iterable[tuple[str, str | None]],
) -> None:
    """Differential update: add or replace each idTag's IdTagInfo (JSON text); ``None`` removes the idTag."""
    for id_tag, info in changes:
        key = id_tag_key(id_tag)
        if info is None:
            connection.execute(
                "DELETE FROM local_list WHERE charge_point_id = ? AND id_tag_key = ?", (charge_point_id, key)
            )
        else:
            connection.execute(
                "INSERT INTO local_list (charge_point_id, id_tag_key, id_tag, info) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (charge_point_id, id_tag_key) DO UPDATE SET"
                "   id_tag = excluded.id_tag, info = excluded.info",
                (charge_point_id, key, id_tag, info),
            )
    ensure_row(connection, charge_point_id)
    connection.execute(
        "UPDATE charge_points SET local_list_version = ? WHERE charge_point_id = ?",
        (new_version, charge_point_id),
    )
