"""The charging profiles a charge point has installed (spec 3.13, 5.16): a JSON body by chargingProfileId.

The body is the charge point's own record of a profile (which connector, which transaction, the profile);
the storage does not interpret it. Installing a profile may replace others (the same stackLevel and
purpose): :func:`save` removes those and keeps the new one in one atomic change, so a reboot never finds
both or neither.
"""

import sqlite3
from collections.abc import Iterable

from storage.encoding import JsonObject, load_json

__all__ = ["delete", "load", "save"]


def load(connection: sqlite3.Connection, charge_point_id: str) -> dict[int, JsonObject]:
    """The kept profiles, by chargingProfileId."""
    rows = connection.execute(
        "SELECT id, body FROM charging_profiles WHERE charge_point_id = ? ORDER BY id", (charge_point_id,)
    )
    return {profile_id: load_json(body) for profile_id, body in rows}


def save(
    connection: sqlite3.Connection,
    charge_point_id: str,
    profile_id: int,
    body: str,
    replacing: Iterable[int] = (),
) -> None:
    """Keep (or replace) the profile ``profile_id`` (``body`` is JSON text), and remove those it replaces."""
    delete(connection, charge_point_id, replacing)
    connection.execute(
        "INSERT INTO charging_profiles (charge_point_id, id, body) VALUES (?, ?, ?)"
        " ON CONFLICT (charge_point_id, id) DO UPDATE SET body = excluded.body",
        (charge_point_id, profile_id, body),
    )


def delete(connection: sqlite3.Connection, charge_point_id: str, profile_ids: Iterable[int]) -> None:
    """Remove the profiles ``profile_ids`` (those that are not kept are no error)."""
    connection.executemany(
        "DELETE FROM charging_profiles WHERE charge_point_id = ? AND id = ?",
        [(charge_point_id, profile_id) for profile_id in profile_ids],
    )
