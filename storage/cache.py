"""The Authorization Cache (spec 3.5.1): the latest IdTagInfo of idTags, bounded, least recently used out.

Entries are keyed by the idTag in lower case (IdTokens compare case-insensitively). Looking an entry up
counts as a use, and so does putting it; the order of use is kept in the database, so it survives reboots.

**Eviction.** When a new idTag finds the cache full, the entries that are NOT valid at ``now`` go first,
least recently used first, then the least recently used valid ones, one at a time, until there is room.
Valid means :data:`VALID_STATUS` and an expiry that is absent or later than ``now`` (:func:`is_valid`).
Only as many entries as needed are evicted: a Blocked or Invalid entry still tells an offline charge point
to refuse its idTag.
"""

import sqlite3
from datetime import datetime

import attrs

from storage.encoding import JsonObject, id_tag_key, instant_from_text, load_json

__all__ = ["VALID_STATUS", "CacheEntry", "clear", "get", "is_valid", "put", "size"]

VALID_STATUS = "Accepted"
"""The IdTagInfo status of a valid entry (until its expiry)."""


@attrs.frozen
class CacheEntry:
    """What the Authorization Cache holds for an idTag."""

    id_tag: str
    """The idTag as it was last put (lookups ignore case)."""
    info: JsonObject
    """The IdTagInfo, as given."""
    status: str
    expiry: datetime | None


def is_valid(status: str, expiry: datetime | None, now: datetime) -> bool:
    """Whether an entry is valid at ``now``, as the eviction policy sees it."""
    return status == VALID_STATUS and (expiry is None or expiry > now)


def get(connection: sqlite3.Connection, charge_point_id: str, id_tag: str) -> CacheEntry | None:
    """The entry of ``id_tag``, which becomes the most recently used; ``None`` if there is none."""
    key = id_tag_key(id_tag)
    row = connection.execute(
        "SELECT id_tag, info, status, expiry FROM authorization_cache"
        " WHERE charge_point_id = ? AND id_tag_key = ?",
        (charge_point_id, key),
    ).fetchone()
    if row is None:
        return None
    connection.execute(
        "UPDATE authorization_cache SET last_used = ("
        "   SELECT MAX(last_used) + 1 FROM authorization_cache WHERE charge_point_id = ?"
        ") WHERE charge_point_id = ? AND id_tag_key = ?",
        (charge_point_id, charge_point_id, key),
    )
    stored_id_tag, info, status, expiry = row
    return CacheEntry(
        id_tag=stored_id_tag,
        info=load_json(info),
        status=status,
        expiry=None if expiry is None else instant_from_text(expiry),
    )


def put(
    connection: sqlite3.Connection,
    charge_point_id: str,
    id_tag: str,
    info: str,
    status: str,
    expiry: str | None,
    now: str,
    limit: int,
) -> None:
    """Keep ``info`` (JSON text) for ``id_tag`` as the most recently used entry, evicting if need be.

    ``expiry`` and ``now`` are instants as ``storage.encoding`` writes them, so text order is time order.
    """
    key = id_tag_key(id_tag)
    known = connection.execute(
        "SELECT 1 FROM authorization_cache WHERE charge_point_id = ? AND id_tag_key = ?",
        (charge_point_id, key),
    ).fetchone()
    if known is None:
        excess = size(connection, charge_point_id) - limit + 1
        if excess > 0:
            connection.execute(
                "DELETE FROM authorization_cache WHERE charge_point_id = ? AND id_tag_key IN ("
                "   SELECT id_tag_key FROM authorization_cache WHERE charge_point_id = ?"
                "   ORDER BY (status = ? AND (expiry IS NULL OR expiry > ?)), last_used LIMIT ?"
                ")",
                (charge_point_id, charge_point_id, VALID_STATUS, now, excess),
            )
    connection.execute(
        "INSERT INTO authorization_cache"
        " (charge_point_id, id_tag_key, id_tag, info, status, expiry, last_used) VALUES (?, ?, ?, ?, ?, ?,"
        "   (SELECT COALESCE(MAX(last_used), 0) + 1 FROM authorization_cache WHERE charge_point_id = ?))"
        " ON CONFLICT (charge_point_id, id_tag_key) DO UPDATE SET"
        "   id_tag = excluded.id_tag, info = excluded.info, status = excluded.status,"
        "   expiry = excluded.expiry, last_used = excluded.last_used",
        (charge_point_id, key, id_tag, info, status, expiry, charge_point_id),
    )


def clear(connection: sqlite3.Connection, charge_point_id: str) -> None:
    """Empty the cache (ClearCache)."""
    connection.execute("DELETE FROM authorization_cache WHERE charge_point_id = ?", (charge_point_id,))


def size(connection: sqlite3.Connection, charge_point_id: str) -> int:
    """How many entries the cache holds."""
    (count,) = connection.execute(
        "SELECT COUNT(*) FROM authorization_cache WHERE charge_point_id = ?", (charge_point_id,)
    ).fetchone()
    return int(count)
