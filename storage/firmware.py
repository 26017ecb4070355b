"""The firmware a charge point runs, once a firmware update has installed one (OCPP 1.6 spec 5.19).

One row per charge point that installed a firmware: its version (what BootNotification reports from then on,
instead of the version the charge point was built with) and whether the Central System has been told that
the installation is over (FirmwareStatusNotification ``Installed``, sent after the reboot that starts it).
"""

import sqlite3

import attrs

__all__ = ["FirmwareRecord", "load", "save"]


@attrs.frozen
class FirmwareRecord:
    """The firmware installed by the last firmware update."""

    version: str
    reported: bool
    """Whether the Central System was told that it is installed."""


def load(connection: sqlite3.Connection, charge_point_id: str) -> FirmwareRecord | None:
    """The firmware installed by an update, or ``None`` if none ever was."""
    row = connection.execute(
        "SELECT version, reported FROM firmware WHERE charge_point_id = ?", (charge_point_id,)
    ).fetchone()
    return None if row is None else FirmwareRecord(version=row[0], reported=bool(row[1]))


def save(connection: sqlite3.Connection, charge_point_id: str, version: str, reported: bool) -> None:
    """Keep the installed firmware's version and whether it was reported."""
    connection.execute(
        "INSERT INTO firmware (charge_point_id, version, reported) VALUES (?, ?, ?)"
        " ON CONFLICT (charge_point_id) DO UPDATE SET"
        "   version = excluded.version, reported = excluded.reported",
        (charge_point_id, version, int(reported)),
    )
