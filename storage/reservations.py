"""Reservations a charge point holds (spec 5.13): a JSON body by reservation id.

The body is what the charge point wrote (the reservation as its ReserveNow.req carried it); the storage does
not interpret it. Saving an id that is kept already replaces its body: a ReserveNow with a known
reservationId replaces that reservation.
"""

import sqlite3

from storage.encoding import JsonObject, load_json

__all__ = ["delete", "load", "save"]


def load(connection: sqlite3.Connection, charge_point_id: str) -> dict[int, JsonObject]:
    """Every reservation kept, by id."""
    rows = connection.execute(
        "SELECT id, body FROM reservations WHERE charge_point_id = ? ORDER BY id", (charge_point_id,)
    )
    return {reservation_id: load_json(body) for reservation_id, body in rows}


def save(connection: sqlite3.Connection, charge_point_id: str, reservation_id: int, body: str) -> None:
    """Keep (or replace) a reservation (``body`` is JSON text)."""
    connection.execute(
        "INSERT INTO reservations (charge_point_id, id, body) VALUES (?, ?, ?)"
        " ON CONFLICT (charge_point_id, id) DO UPDATE SET body = excluded.body",
        (charge_point_id, reservation_id, body),
    )


def delete(connection: sqlite3.Connection, charge_point_id: str, reservation_id: int) -> None:
    """Forget a reservation (used, expired, cancelled or ended); nothing happens if it is not kept."""
    connection.execute(
        "DELETE FROM reservations WHERE charge_point_id = ? AND id = ?", (charge_point_id, reservation_id)
    )
