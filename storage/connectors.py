"""What each connector keeps across reboots: its availability, its open transaction, its meter register.

Connector 0 is the charge point itself (it has an availability, never a transaction). Availability is a
plain string: ``Operative``, ``Inoperative``, or ``Scheduled-Inoperative`` (an Inoperative asked for during
a transaction, to take effect when it ends); the transaction record and the meter reading are JSON bodies
the connector writes and reads back.
"""

import sqlite3
from datetime import datetime

import attrs

from storage.encoding import JsonObject, instant_from_text, load_json

__all__ = [
    "MeterRecord",
    "delete_transaction",
    "load_availability",
    "load_meters",
    "load_transactions",
    "save_availability",
    "save_meter",
    "save_transaction",
]


@attrs.frozen
class MeterRecord:
    """The last meter reading kept for a connector."""

    energy_wh: float
    """The energy register (Energy.Active.Import.Register), in Wh."""
    reading: JsonObject
    at: datetime


def load_availability(connection: sqlite3.Connection, charge_point_id: str) -> dict[int, str]:
    """The availability saved for each connector."""
    rows = connection.execute(
        "SELECT connector_id, value FROM availability WHERE charge_point_id = ?", (charge_point_id,)
    )
    return dict(rows.fetchall())


def save_availability(
    connection: sqlite3.Connection, charge_point_id: str, connector_id: int, value: str
) -> None:
    """Keep a connector's availability."""
    connection.execute(
        "INSERT INTO availability (charge_point_id, connector_id, value) VALUES (?, ?, ?)"
        " ON CONFLICT (charge_point_id, connector_id) DO UPDATE SET value = excluded.value",
        (charge_point_id, connector_id, value),
    )


def load_transactions(connection: sqlite3.Connection, charge_point_id: str) -> dict[int, JsonObject]:
    """The open transaction of each connector that has one."""
    rows = connection.execute(
        "SELECT connector_id, record FROM open_transactions WHERE charge_point_id = ?", (charge_point_id,)
    )
    return {connector_id: load_json(record) for connector_id, record in rows}


def save_transaction(
    connection: sqlite3.Connection, charge_point_id: str, connector_id: int, record: str
) -> None:
    """Keep (or replace) a connector's open transaction (``record`` is JSON text)."""
    connection.execute(
        "INSERT INTO open_transactions (charge_point_id, connector_id, record) VALUES (?, ?, ?)"
        " ON CONFLICT (charge_point_id, connector_id) DO UPDATE SET record = excluded.record",
        (charge_point_id, connector_id, record),
    )


def delete_transaction(connection: sqlite3.Connection, charge_point_id: str, connector_id: int) -> None:
    """Forget a connector's transaction (it has ended)."""
    connection.execute(
        "DELETE FROM open_transactions WHERE charge_point_id = ? AND connector_id = ?",
        (charge_point_id, connector_id),
    )


def load_meters(connection: sqlite3.Connection, charge_point_id: str) -> dict[int, MeterRecord]:
    """The last reading kept for each connector."""
    rows = connection.execute(
        "SELECT connector_id, energy_wh, reading, at FROM meter_readings WHERE charge_point_id = ?",
        (charge_point_id,),
    )
    return {
        connector_id: MeterRecord(energy_wh=energy_wh, reading=load_json(reading), at=instant_from_text(at))
        for connector_id, energy_wh, reading, at in rows
    }


def save_meter(
    connection: sqlite3.Connection,
    charge_point_id: str,
    connector_id: int,
    energy_wh: float,
    reading: str,
    at: str,
) -> None:
    """Keep a connector's latest reading (``reading`` is JSON text, ``at`` an encoded instant)."""
    connection.execute(
        "INSERT INTO meter_readings (charge_point_id, connector_id, energy_wh, reading, at)"
        " VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (charge_point_id, connector_id) DO UPDATE SET"
        "   energy_wh = excluded.energy_wh, reading = excluded.reading, at = excluded.at",
        (charge_point_id, connector_id, energy_wh, reading, at),
    )
