"""What a charge point reads when it powers on, all in one read: one trip to the reader thread."""

import sqlite3

import attrs

from storage import charging_profiles, configuration, connectors, firmware, queue, reservations
from storage.connectors import MeterRecord
from storage.encoding import JsonObject
from storage.firmware import FirmwareRecord

__all__ = ["PowerOnState", "load"]


@attrs.frozen
class PowerOnState:
    """Everything a power-on starts from, as the state's loads return each part."""

    configuration: dict[str, str]
    """The configuration values kept, by key (``load_configuration``)."""
    availability: dict[int, str]
    """The availability of each connector, 0 the charge point (``load_availability``)."""
    transactions: dict[int, JsonObject]
    """The open transaction of each connector that has one (``load_transactions``)."""
    meters: dict[int, MeterRecord]
    """The latest meter reading of each connector that has one (``load_meters``)."""
    reservations: dict[int, JsonObject]
    """Every reservation kept, by reservation id (``load_reservations``)."""
    charging_profiles: dict[int, JsonObject]
    """Every charging profile kept, by chargingProfileId (``load_charging_profiles``)."""
    firmware: FirmwareRecord | None
    """The firmware a firmware update installed, if any did (``load_firmware``)."""
    queue_depth: int
    """How many messages the offline queue holds (``depth``)."""


def load(connection: sqlite3.Connection, charge_point_id: str) -> PowerOnState:
    """All of it, in the one snapshot of the read it runs in."""
    return PowerOnState(
        configuration=configuration.load(connection, charge_point_id),
        availability=connectors.load_availability(connection, charge_point_id),
        transactions=connectors.load_transactions(connection, charge_point_id),
        meters=connectors.load_meters(connection, charge_point_id),
        reservations=reservations.load(connection, charge_point_id),
        charging_profiles=charging_profiles.load(connection, charge_point_id),
        firmware=firmware.load(connection, charge_point_id),
        queue_depth=queue.depth(connection, charge_point_id),
    )
