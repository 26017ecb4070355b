"""The ``charge_points`` row of a charge point: counters that never go back, and the local list version."""

import sqlite3
from typing import Literal

__all__ = ["Counter", "ensure_row", "next_value", "touch"]

Counter = Literal["last_queue_seq", "last_local_transaction"]


def ensure_row(connection: sqlite3.Connection, charge_point_id: str) -> None:
    """Create the charge point's row, with every counter at 0, unless it exists."""
    connection.execute("INSERT OR IGNORE INTO charge_points (charge_point_id) VALUES (?)", (charge_point_id,))


def next_value(connection: sqlite3.Connection, charge_point_id: str, counter: Counter) -> int:
    """Add one to ``counter`` and return its new value (1 the first time)."""
    ensure_row(connection, charge_point_id)
    connection.execute(
        f"UPDATE charge_points SET {counter} = {counter} + 1 WHERE charge_point_id = ?", (charge_point_id,)
    )
    (value,) = connection.execute(
        f"SELECT {counter} FROM charge_points WHERE charge_point_id = ?", (charge_point_id,)
    ).fetchone()
    return int(value)


def touch(connection: sqlite3.Connection, charge_point_id: str) -> None:
    """Write the charge point's row without changing it: fails as any write would, keeps nothing."""
    ensure_row(connection, charge_point_id)
    connection.execute(
        "UPDATE charge_points SET charge_point_id = charge_point_id WHERE charge_point_id = ?",
        (charge_point_id,),
    )
