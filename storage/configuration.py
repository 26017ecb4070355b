"""Configuration values a charge point keeps: those it started with and those changed since."""

import sqlite3

__all__ = ["load", "save"]


def load(connection: sqlite3.Connection, charge_point_id: str) -> dict[str, str]:
    """The changed values, by key."""
    rows = connection.execute(
        "SELECT key, value FROM configuration WHERE charge_point_id = ?", (charge_point_id,)
    )
    return dict(rows.fetchall())


def save(connection: sqlite3.Connection, charge_point_id: str, key: str, value: str) -> None:
    """Keep a value."""
    connection.execute(
        "INSERT INTO configuration (charge_point_id, key, value) VALUES (?, ?, ?)"
        " ON CONFLICT (charge_point_id, key) DO UPDATE SET value = excluded.value",
        (charge_point_id, key, value),
    )
