"""The state of one charge point in the SQLite database: :class:`storage.state.ChargePointState` on disk.

Each method is one read (on the reader thread) or one atomic change (group-committed by the writer thread)
of the functions in ``storage.queue``, ``storage.cache``, ``storage.local_list``, ``storage.connectors``,
``storage.configuration`` and ``storage.firmware`` (``storage.power_on`` reads several of them at once).
Values are encoded here, on the event loop, so that a body that is not JSON fails in its caller before
anything is written.
"""

from collections.abc import Collection, Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from storage import (
    cache,
    charging_profiles,
    configuration,
    connectors,
    counters,
    firmware,
    local_list,
    power_on,
    queue,
    reservations,
)
from storage.encoding import JsonObject, dump_json, instant_to_text

if TYPE_CHECKING:
    from storage.database import Database
    from storage.state import ChargePointState

__all__ = ["SqliteChargePointState"]


class SqliteChargePointState:
    """The persistent state of one charge point, in a shared database. Made by ``Database.charge_point``."""

    def __init__(
        self, database: "Database", charge_point_id: str, *, queue_limit: int, cache_limit: int
    ) -> None:
        self._database = database
        self._id = charge_point_id
        self.set_limits(queue_limit=queue_limit, cache_limit=cache_limit)

    @property
    def charge_point_id(self) -> str:
        """The charge point whose state this is."""
        return self._id

    def set_limits(self, *, queue_limit: int, cache_limit: int) -> None:
        """Bound the offline queue and the Authorization Cache from now on."""
        if queue_limit < 1 or cache_limit < 1:
            raise ValueError("the queue and the cache must hold at least one entry")
        self._queue_limit = queue_limit
        self._cache_limit = cache_limit

    async def check_writable(self) -> None:
        await self._database.write(partial(counters.touch, charge_point_id=self._id))

    async def load_power_on(self) -> power_on.PowerOnState:
        return await self._database.read(partial(power_on.load, charge_point_id=self._id))

    async def load_configuration(self) -> dict[str, str]:
        return await self._database.read(partial(configuration.load, charge_point_id=self._id))

    async def save_configuration(self, key: str, value: str) -> None:
        await self._database.write(
            partial(configuration.save, charge_point_id=self._id, key=key, value=value)
        )

    # The offline queue.

    async def enqueue(self, action: str, payload: JsonObject, *, local_transaction: int | None = None) -> int:
        change = partial(
            queue.enqueue,
            charge_point_id=self._id,
            action=action,
            payload=dump_json(payload),
            local_transaction=local_transaction,
            limit=self._queue_limit,
        )
        return await self._database.write(change)

    async def head(self) -> queue.QueuedMessage | None:
        return await self._database.read(partial(queue.head, charge_point_id=self._id))

    async def record_attempt(self, seq: int, next_attempt_at: datetime | None) -> int:
        at = None if next_attempt_at is None else instant_to_text(next_attempt_at)
        change = partial(queue.record_attempt, charge_point_id=self._id, seq=seq, next_attempt_at=at)
        return await self._database.write(change)

    async def remove(self, seq: int) -> None:
        await self._database.write(partial(queue.remove, charge_point_id=self._id, seq=seq))

    async def depth(self) -> int:
        return await self._database.read(partial(queue.depth, charge_point_id=self._id))

    async def queued_actions(self, local_transaction: int) -> list[str]:
        query = partial(queue.queued_actions, charge_point_id=self._id, local_transaction=local_transaction)
        return await self._database.read(query)

    async def new_local_transaction(self) -> int:
        return await self._database.write(partial(queue.new_local_transaction, charge_point_id=self._id))

    async def set_transaction_id(self, local_transaction: int, csms_transaction_id: int) -> None:
        change = partial(
            queue.set_transaction_id,
            charge_point_id=self._id,
            local_transaction=local_transaction,
            csms_transaction_id=csms_transaction_id,
        )
        await self._database.write(change)

    async def transaction_id(self, local_transaction: int) -> int | None:
        query = partial(queue.transaction_id, charge_point_id=self._id, local_transaction=local_transaction)
        return await self._database.read(query)

    async def drop_transaction(self, local_transaction: int) -> int:
        change = partial(
            queue.drop_transaction, charge_point_id=self._id, local_transaction=local_transaction
        )
        return await self._database.write(change)

    # The Authorization Cache.

    async def cache_get(self, id_tag: str) -> cache.CacheEntry | None:
        return await self._database.write(partial(cache.get, charge_point_id=self._id, id_tag=id_tag))

    async def cache_put(
        self, id_tag: str, info: JsonObject, *, status: str, expiry: datetime | None, now: datetime
    ) -> None:
        change = partial(
            cache.put,
            charge_point_id=self._id,
            id_tag=id_tag,
            info=dump_json(info),
            status=status,
            expiry=None if expiry is None else instant_to_text(expiry),
            now=instant_to_text(now),
            limit=self._cache_limit,
        )
        await self._database.write(change)

    async def cache_clear(self) -> None:
        await self._database.write(partial(cache.clear, charge_point_id=self._id))

    async def cache_size(self) -> int:
        return await self._database.read(partial(cache.size, charge_point_id=self._id))

    # The Local Authorization List.

    async def local_list_version(self) -> int:
        return await self._database.read(partial(local_list.version, charge_point_id=self._id))

    async def local_list_get(self, id_tag: str) -> JsonObject | None:
        return await self._database.read(partial(local_list.get, charge_point_id=self._id, id_tag=id_tag))

    async def local_list_replace(self, version: int, entries: Mapping[str, JsonObject]) -> None:
        encoded = [(id_tag, dump_json(info)) for id_tag, info in entries.items()]
        change = partial(local_list.replace, charge_point_id=self._id, new_version=version, entries=encoded)
        await self._database.write(change)

    async def local_list_update(self, version: int, changes: Mapping[str, JsonObject | None]) -> None:
        encoded = [(id_tag, None if info is None else dump_json(info)) for id_tag, info in changes.items()]
        change = partial(local_list.update, charge_point_id=self._id, new_version=version, changes=encoded)
        await self._database.write(change)

    async def local_list_size(self) -> int:
        return await self._database.read(partial(local_list.size, charge_point_id=self._id))

    # Reservations.

    async def load_reservations(self) -> dict[int, JsonObject]:
        return await self._database.read(partial(reservations.load, charge_point_id=self._id))

    async def save_reservation(self, reservation_id: int, body: JsonObject) -> None:
        change = partial(
            reservations.save, charge_point_id=self._id, reservation_id=reservation_id, body=dump_json(body)
        )
        await self._database.write(change)

    async def delete_reservation(self, reservation_id: int) -> None:
        change = partial(reservations.delete, charge_point_id=self._id, reservation_id=reservation_id)
        await self._database.write(change)

    # Charging profiles.

    async def load_charging_profiles(self) -> dict[int, JsonObject]:
        return await self._database.read(partial(charging_profiles.load, charge_point_id=self._id))

    async def save_charging_profile(
        self, profile_id: int, body: JsonObject, *, replacing: Collection[int] = ()
    ) -> None:
        change = partial(
            charging_profiles.save,
            charge_point_id=self._id,
            profile_id=profile_id,
            body=dump_json(body),
            replacing=list(replacing),
        )
        await self._database.write(change)

    async def delete_charging_profiles(self, profile_ids: Collection[int]) -> None:
        change = partial(charging_profiles.delete, charge_point_id=self._id, profile_ids=list(profile_ids))
        await self._database.write(change)

    # Connectors.

    async def load_availability(self) -> dict[int, str]:
        return await self._database.read(partial(connectors.load_availability, charge_point_id=self._id))

    async def save_availability(self, connector_id: int, value: str) -> None:
        change = partial(
            connectors.save_availability, charge_point_id=self._id, connector_id=connector_id, value=value
        )
        await self._database.write(change)

    async def save_transaction(self, connector_id: int, record: JsonObject) -> None:
        change = partial(
            connectors.save_transaction,
            charge_point_id=self._id,
            connector_id=connector_id,
            record=dump_json(record),
        )
        await self._database.write(change)

    async def load_transactions(self) -> dict[int, JsonObject]:
        return await self._database.read(partial(connectors.load_transactions, charge_point_id=self._id))

    async def delete_transaction(self, connector_id: int) -> None:
        change = partial(connectors.delete_transaction, charge_point_id=self._id, connector_id=connector_id)
        await self._database.write(change)

    async def save_meter(
        self, connector_id: int, energy_wh: float, reading: JsonObject, at: datetime
    ) -> None:
        change = partial(
            connectors.save_meter,
            charge_point_id=self._id,
            connector_id=connector_id,
            energy_wh=energy_wh,
            reading=dump_json(reading),
            at=instant_to_text(at),
        )
        await self._database.write(change)

    async def load_meters(self) -> dict[int, connectors.MeterRecord]:
        return await self._database.read(partial(connectors.load_meters, charge_point_id=self._id))

    # Firmware.

    async def load_firmware(self) -> firmware.FirmwareRecord | None:
        return await self._database.read(partial(firmware.load, charge_point_id=self._id))

    async def save_firmware(self, version: str, *, reported: bool) -> None:
        change = partial(firmware.save, charge_point_id=self._id, version=version, reported=reported)
        await self._database.write(change)


if TYPE_CHECKING:
    _conforms: type[ChargePointState] = SqliteChargePointState
