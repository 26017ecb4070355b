"""What a charge point keeps across reboots, as an interface the actors use.

``storage.memory`` implements it in memory (state survives a simulated reboot within one process);
``storage.charge_point`` implements it in SQLite (``storage.open_database``), where it survives the end of
the process and a power cut. Both store and return the same values: JSON bodies come back as new objects
(what ``json`` makes of them), instants as aware UTC datetimes, and idTags compare case-insensitively.
"""

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Protocol

from storage.cache import CacheEntry
from storage.connectors import MeterRecord
from storage.encoding import JsonObject
from storage.firmware import FirmwareRecord
from storage.power_on import PowerOnState
from storage.queue import QueuedMessage


class ChargePointState(Protocol):
    """The persistent state of one charge point. Every write returns only once it is durable.

    A read or write the database refuses or fails raises :class:`storage.StorageError` and changes nothing
    (each write is atomic).
    """

    def set_limits(self, *, queue_limit: int, cache_limit: int) -> None:
        """Bound the offline queue and the Authorization Cache from now on (at least 1 each).

        A smaller bound evicts nothing at once: the queue drops MeterValues, and the cache evicts, only when
        something new arrives.
        """
        ...

    async def check_writable(self) -> None:
        """A write that keeps nothing: returns if the storage takes writes now, else raises ``StorageError``
        as any write would (a read-only file, a full disk)."""
        ...

    async def load_power_on(self) -> PowerOnState:
        """What a power-on starts from, in one read: the configuration, the connectors' availability, open
        transactions and meters, the reservations, the charging profiles, the firmware and the depth of the
        offline queue (each part as its own method below returns it)."""
        ...

    async def load_configuration(self) -> dict[str, str]:
        """The configuration values kept (set at the first boot or changed since), by key."""
        ...

    async def save_configuration(self, key: str, value: str) -> None:
        """Keep a configuration value."""
        ...

    # The offline queue of transaction-related messages (storage.queue).

    async def enqueue(self, action: str, payload: JsonObject, *, local_transaction: int | None = None) -> int:
        """Append a transaction-related message; return its sequence number (creation order).

        ``local_transaction`` names the transaction the message opens or refers to, until the Central
        System's id is known. A full queue first drops its oldest MeterValues after the head
        (``storage.queue.overflow_victim``); StartTransaction and StopTransaction are never dropped.
        """
        ...

    async def head(self) -> QueuedMessage | None:
        """The oldest waiting message, or ``None`` if the queue is empty."""
        ...

    async def record_attempt(self, seq: int, next_attempt_at: datetime | None) -> int:
        """Count a failed delivery of message ``seq``, keep when to try again; the attempts so far.

        Raises ``KeyError`` if the message is not in the queue.
        """
        ...

    async def remove(self, seq: int) -> None:
        """Take message ``seq`` out of the queue (answered, or given up); no error if it is gone."""
        ...

    async def depth(self) -> int:
        """How many messages wait."""
        ...

    async def queued_actions(self, local_transaction: int) -> list[str]:
        """The actions of the waiting messages that name a local transaction, in queue order."""
        ...

    async def new_local_transaction(self) -> int:
        """A local transaction id (negative) this charge point never handed out, not even before a reboot."""
        ...

    async def set_transaction_id(self, local_transaction: int, csms_transaction_id: int) -> None:
        """Keep the Central System's id for a local transaction (from StartTransaction.conf)."""
        ...

    async def transaction_id(self, local_transaction: int) -> int | None:
        """The Central System's id for a local transaction, if known."""
        ...

    async def drop_transaction(self, local_transaction: int) -> int:
        """Forget a local transaction: drop its waiting messages and its id; how many messages were dropped.

        For a StartTransaction that was given up (its dependents have no id to be sent with), and after the
        transaction's StopTransaction was answered (to forget the id).
        """
        ...

    # The Authorization Cache (storage.cache).

    async def cache_get(self, id_tag: str) -> CacheEntry | None:
        """The cache entry of ``id_tag`` (any case), which counts as a use; ``None`` if there is none."""
        ...

    async def cache_put(
        self, id_tag: str, info: JsonObject, *, status: str, expiry: datetime | None, now: datetime
    ) -> None:
        """Keep the IdTagInfo of ``id_tag`` (``status`` and ``expiry`` are its own, given apart).

        If the idTag is new and the cache full, evict entries not valid at ``now`` first, then the least
        recently used (``storage.cache``).
        """
        ...

    async def cache_clear(self) -> None:
        """Empty the Authorization Cache."""
        ...

    async def cache_size(self) -> int:
        """How many entries the Authorization Cache holds."""
        ...

    # The Local Authorization List (storage.local_list).

    async def local_list_version(self) -> int:
        """The version of the Local Authorization List (0 before any was installed)."""
        ...

    async def local_list_get(self, id_tag: str) -> JsonObject | None:
        """The IdTagInfo of ``id_tag`` (any case) in the list, or ``None``."""
        ...

    async def local_list_replace(self, version: int, entries: Mapping[str, JsonObject]) -> None:
        """A Full update, atomically: the list becomes ``entries`` (IdTagInfo by idTag) at ``version``."""
        ...

    async def local_list_update(self, version: int, changes: Mapping[str, JsonObject | None]) -> None:
        """A Differential update, atomically: add or replace each entry, remove those given ``None``."""
        ...

    async def local_list_size(self) -> int:
        """How many idTags the list holds."""
        ...

    # Reservations (storage.reservations).

    async def load_reservations(self) -> dict[int, JsonObject]:
        """Every reservation kept, its body by reservation id."""
        ...

    async def save_reservation(self, reservation_id: int, body: JsonObject) -> None:
        """Keep a reservation, or replace the one with the same id."""
        ...

    async def delete_reservation(self, reservation_id: int) -> None:
        """Forget a reservation; no error if it is not kept."""
        ...

    # Charging profiles (storage.charging_profiles).

    async def load_charging_profiles(self) -> dict[int, JsonObject]:
        """Every charging profile kept, its body by chargingProfileId."""
        ...

    async def save_charging_profile(
        self, profile_id: int, body: JsonObject, *, replacing: Collection[int] = ()
    ) -> None:
        """Keep a charging profile (replacing the one with the same id) and forget the profiles
        ``replacing``, atomically."""
        ...

    async def delete_charging_profiles(self, profile_ids: Collection[int]) -> None:
        """Forget charging profiles, atomically; no error for those that are not kept."""
        ...

    # Connectors (storage.connectors).

    async def load_availability(self) -> dict[int, str]:
        """The availability saved for each connector (0 is the charge point)."""
        ...

    async def save_availability(self, connector_id: int, value: str) -> None:
        """Keep a connector's availability: Operative, Inoperative or Scheduled-Inoperative."""
        ...

    async def save_transaction(self, connector_id: int, record: JsonObject) -> None:
        """Keep (or replace) the open transaction of a connector."""
        ...

    async def load_transactions(self) -> dict[int, JsonObject]:
        """The open transaction of each connector that has one."""
        ...

    async def delete_transaction(self, connector_id: int) -> None:
        """Forget the transaction of a connector (it has ended)."""
        ...

    async def save_meter(
        self, connector_id: int, energy_wh: float, reading: JsonObject, at: datetime
    ) -> None:
        """Keep the latest meter reading of a connector."""
        ...

    async def load_meters(self) -> dict[int, MeterRecord]:
        """The latest meter reading of each connector that has one."""
        ...

    # Firmware (storage.firmware).

    async def load_firmware(self) -> FirmwareRecord | None:
        """The firmware a firmware update installed, or ``None`` if none ever did."""
        ...

    async def save_firmware(self, version: str, *, reported: bool) -> None:
        """Keep the version of the installed firmware and whether its installation was reported."""
        ...


class Storage(Protocol):
    """Where the state of many charge points lives: ``MemoryStorage`` or an open ``Database``."""

    def charge_point(self, charge_point_id: str) -> ChargePointState:
        """The state of one charge point (empty until something is saved)."""
        ...
