"""The persistent state of charge points: what a real charge point keeps in flash.

``open_database(path)`` opens one SQLite file for many charge points; ``MemoryStorage`` keeps the same state
in memory. Both hand out a :class:`ChargePointState` per charge point id.

Nothing here imports the other packages of this project.
"""

from storage.cache import CacheEntry
from storage.charge_point import SqliteChargePointState
from storage.connectors import MeterRecord
from storage.database import Database, Synchronous, open_database
from storage.encoding import JsonObject
from storage.errors import StorageError
from storage.firmware import FirmwareRecord
from storage.inspect import ChargePointSummary, ConnectorSummary, inspect_database
from storage.memory import MemoryStorage
from storage.power_on import PowerOnState
from storage.queue import QueuedMessage
from storage.state import ChargePointState, Storage

__all__ = [
    "CacheEntry",
    "ChargePointState",
    "ChargePointSummary",
    "ConnectorSummary",
    "Database",
    "FirmwareRecord",
    "JsonObject",
    "MemoryStorage",
    "MeterRecord",
    "PowerOnState",
    "QueuedMessage",
    "SqliteChargePointState",
    "Storage",
    "StorageError",
    "Synchronous",
    "inspect_database",
    "open_database",
]
