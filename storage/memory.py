"""Persistent state kept in memory: it survives a simulated reboot, not the end of the process.

It behaves as the SQLite state does (same policies, same encoding of values), without threads, so tests in
virtual time (``trio.testing.MockClock``) can use it.
"""

from collections.abc import Collection, Mapping
from datetime import datetime

import attrs
import trio

from storage.cache import CacheEntry, is_valid
from storage.connectors import MeterRecord
from storage.encoding import JsonObject, dump_json, id_tag_key, instant_from_text, instant_to_text, load_json
from storage.firmware import FirmwareRecord
from storage.power_on import PowerOnState
from storage.queue import QueuedMessage, overflow_victim
from storage.state import ChargePointState


@attrs.define
class _Waiting:
    """A message in the queue, its payload kept as JSON text."""

    action: str
    payload: str
    local_transaction: int | None
    attempts: int = 0
    next_attempt_at: datetime | None = None


@attrs.define
class _Cached:
    """An entry of the Authorization Cache, its IdTagInfo kept as JSON text, with its last use."""

    id_tag: str
    info: str
    status: str
    expiry: datetime | None
    last_used: int


def _stored(instant: datetime) -> datetime:
    """``instant`` as the SQLite state would give it back: in UTC (and refused if naive)."""
    return instant_from_text(instant_to_text(instant))


class MemoryChargePointState:
    """The state of one charge point, in memory."""

    def __init__(self, *, queue_limit: int = 10_000, cache_limit: int = 1_000) -> None:
        self.set_limits(queue_limit=queue_limit, cache_limit=cache_limit)
        self._configuration: dict[str, str] = {}
        self._queue: dict[int, _Waiting] = {}  # by seq, in queue order
        self._last_seq = 0
        self._last_local_transaction = 0
        self._transaction_ids: dict[int, int] = {}
        self._cache: dict[str, _Cached] = {}  # by idTag key
        self._uses = 0
        self._local_list: dict[str, str] = {}  # by idTag key: IdTagInfo as JSON text
        self._local_list_version = 0
        self._reservations: dict[int, str] = {}  # by reservation id: the body as JSON text
        self._charging_profiles: dict[int, str] = {}  # by chargingProfileId: the body as JSON text
        self._availability: dict[int, str] = {}
        self._transactions: dict[int, str] = {}
        self._meters: dict[int, tuple[float, str, str]] = {}
        self._firmware: FirmwareRecord | None = None

    def set_limits(self, *, queue_limit: int, cache_limit: int) -> None:
        """Bound the offline queue and the Authorization Cache from now on."""
        if queue_limit < 1 or cache_limit < 1:
            raise ValueError("the queue and the cache must hold at least one entry")
        self._queue_limit = queue_limit
        self._cache_limit = cache_limit

    async def check_writable(self) -> None:
        """Memory always takes writes."""
        await trio.lowlevel.checkpoint()

    async def load_power_on(self) -> PowerOnState:
        await trio.lowlevel.checkpoint()
        return PowerOnState(
            configuration=dict(self._configuration),
            availability=dict(self._availability),
            transactions=self._loaded_transactions(),
            meters=self._loaded_meters(),
            reservations=self._loaded_reservations(),
            charging_profiles=self._loaded_charging_profiles(),
            firmware=self._firmware,
            queue_depth=len(self._queue),
        )

    async def load_configuration(self) -> dict[str, str]:
        """The configuration values changed since the first boot, by key."""
        return dict(self._configuration)

    async def save_configuration(self, key: str, value: str) -> None:
        """Keep a configuration value."""
        self._configuration[key] = value

    # The offline queue.

    async def enqueue(self, action: str, payload: JsonObject, *, local_transaction: int | None = None) -> int:
        text = dump_json(payload)
        await trio.lowlevel.checkpoint()
        queued = ((seq, message.action) for seq, message in self._queue.items())
        victim = overflow_victim(len(self._queue), self._queue_limit, queued)
        if victim is not None:
            del self._queue[victim]
        self._last_seq += 1
        self._queue[self._last_seq] = _Waiting(action, text, local_transaction)
        return self._last_seq

    async def head(self) -> QueuedMessage | None:
        await trio.lowlevel.checkpoint()
        for seq, message in self._queue.items():
            local = message.local_transaction
            return QueuedMessage(
                seq=seq,
                action=message.action,
                payload=load_json(message.payload),
                local_transaction=local,
                transaction_id=None if local is None else self._transaction_ids.get(local),
                attempts=message.attempts,
                next_attempt_at=message.next_attempt_at,
            )
        return None

    async def record_attempt(self, seq: int, next_attempt_at: datetime | None) -> int:
        at = None if next_attempt_at is None else _stored(next_attempt_at)
        await trio.lowlevel.checkpoint()
        message = self._queue[seq]
        message.attempts += 1
        message.next_attempt_at = at
        return message.attempts

    async def remove(self, seq: int) -> None:
        await trio.lowlevel.checkpoint()
        self._queue.pop(seq, None)

    async def depth(self) -> int:
        await trio.lowlevel.checkpoint()
        return len(self._queue)

    async def queued_actions(self, local_transaction: int) -> list[str]:
        await trio.lowlevel.checkpoint()
        return [
            message.action
            for message in self._queue.values()
            if message.local_transaction == local_transaction
        ]

    async def new_local_transaction(self) -> int:
        await trio.lowlevel.checkpoint()
        self._last_local_transaction += 1
        return -self._last_local_transaction

    async def set_transaction_id(self, local_transaction: int, csms_transaction_id: int) -> None:
        await trio.lowlevel.checkpoint()
        self._transaction_ids[local_transaction] = csms_transaction_id

    async def transaction_id(self, local_transaction: int) -> int | None:
        await trio.lowlevel.checkpoint()
        return self._transaction_ids.get(local_transaction)

    async def drop_transaction(self, local_transaction: int) -> int:
        await trio.lowlevel.checkpoint()
        dropped = [
            seq for seq, message in self._queue.items() if message.local_transaction == local_transaction
        ]
        for seq in dropped:
            del self._queue[seq]
        self._transaction_ids.pop(local_transaction, None)
        return len(dropped)

    # The Authorization Cache.

    async def cache_get(self, id_tag: str) -> CacheEntry | None:
        await trio.lowlevel.checkpoint()
        cached = self._cache.get(id_tag_key(id_tag))
        if cached is None:
            return None
        self._uses += 1
        cached.last_used = self._uses
        return CacheEntry(
            id_tag=cached.id_tag, info=load_json(cached.info), status=cached.status, expiry=cached.expiry
        )

    async def cache_put(
        self, id_tag: str, info: JsonObject, *, status: str, expiry: datetime | None, now: datetime
    ) -> None:
        text = dump_json(info)
        expiry = None if expiry is None else _stored(expiry)
        now = _stored(now)
        await trio.lowlevel.checkpoint()
        key = id_tag_key(id_tag)
        if key not in self._cache:
            excess = len(self._cache) - self._cache_limit + 1
            if excess > 0:
                entries = self._cache.values()
                by_eviction_order = sorted(
                    entries, key=lambda e: (is_valid(e.status, e.expiry, now), e.last_used)
                )
                for victim in by_eviction_order[:excess]:
                    del self._cache[id_tag_key(victim.id_tag)]
        self._uses += 1
        self._cache[key] = _Cached(id_tag, text, status, expiry, self._uses)

    async def cache_clear(self) -> None:
        await trio.lowlevel.checkpoint()
        self._cache.clear()

    async def cache_size(self) -> int:
        await trio.lowlevel.checkpoint()
        return len(self._cache)

    # The Local Authorization List.

    async def local_list_version(self) -> int:
        await trio.lowlevel.checkpoint()
        return self._local_list_version

    async def local_list_get(self, id_tag: str) -> JsonObject | None:
        await trio.lowlevel.checkpoint()
        info = self._local_list.get(id_tag_key(id_tag))
        return None if info is None else load_json(info)

    async def local_list_replace(self, version: int, entries: Mapping[str, JsonObject]) -> None:
        encoded = {id_tag_key(id_tag): dump_json(info) for id_tag, info in entries.items()}
        await trio.lowlevel.checkpoint()
        self._local_list = encoded
        self._local_list_version = version

    async def local_list_update(self, version: int, changes: Mapping[str, JsonObject | None]) -> None:
        encoded = [
            (id_tag_key(id_tag), None if info is None else dump_json(info))
            for id_tag, info in changes.items()
        ]
        await trio.lowlevel.checkpoint()
        for key, info in encoded:
            if info is None:
                self._local_list.pop(key, None)
            else:
                self._local_list[key] = info
        self._local_list_version = version

    async def local_list_size(self) -> int:
        await trio.lowlevel.checkpoint()
        return len(self._local_list)

    # Reservations.

    async def load_reservations(self) -> dict[int, JsonObject]:
        await trio.lowlevel.checkpoint()
        return self._loaded_reservations()

    def _loaded_reservations(self) -> dict[int, JsonObject]:
        kept = sorted(self._reservations.items())
        return {reservation_id: load_json(body) for reservation_id, body in kept}

    async def save_reservation(self, reservation_id: int, body: JsonObject) -> None:
        text = dump_json(body)
        await trio.lowlevel.checkpoint()
        self._reservations[reservation_id] = text

    async def delete_reservation(self, reservation_id: int) -> None:
        await trio.lowlevel.checkpoint()
        self._reservations.pop(reservation_id, None)

    # Charging profiles.

    async def load_charging_profiles(self) -> dict[int, JsonObject]:
        await trio.lowlevel.checkpoint()
        return self._loaded_charging_profiles()

    def _loaded_charging_profiles(self) -> dict[int, JsonObject]:
        return {profile_id: load_json(body) for profile_id, body in sorted(self._charging_profiles.items())}

    async def save_charging_profile(
        self, profile_id: int, body: JsonObject, *, replacing: Collection[int] = ()
    ) -> None:
        text = dump_json(body)
        await trio.lowlevel.checkpoint()
        for replaced in replacing:
            self._charging_profiles.pop(replaced, None)
        self._charging_profiles[profile_id] = text

    async def delete_charging_profiles(self, profile_ids: Collection[int]) -> None:
        await trio.lowlevel.checkpoint()
        for profile_id in profile_ids:
            self._charging_profiles.pop(profile_id, None)

    # Connectors.

    async def load_availability(self) -> dict[int, str]:
        await trio.lowlevel.checkpoint()
        return dict(self._availability)

    async def save_availability(self, connector_id: int, value: str) -> None:
        await trio.lowlevel.checkpoint()
        self._availability[connector_id] = value

    async def save_transaction(self, connector_id: int, record: JsonObject) -> None:
        text = dump_json(record)
        await trio.lowlevel.checkpoint()
        self._transactions[connector_id] = text

    async def load_transactions(self) -> dict[int, JsonObject]:
        await trio.lowlevel.checkpoint()
        return self._loaded_transactions()

    def _loaded_transactions(self) -> dict[int, JsonObject]:
        return {connector_id: load_json(text) for connector_id, text in self._transactions.items()}

    async def delete_transaction(self, connector_id: int) -> None:
        await trio.lowlevel.checkpoint()
        self._transactions.pop(connector_id, None)

    async def save_meter(
        self, connector_id: int, energy_wh: float, reading: JsonObject, at: datetime
    ) -> None:
        record = (float(energy_wh), dump_json(reading), instant_to_text(at))
        await trio.lowlevel.checkpoint()
        self._meters[connector_id] = record

    async def load_meters(self) -> dict[int, MeterRecord]:
        await trio.lowlevel.checkpoint()
        return self._loaded_meters()

    def _loaded_meters(self) -> dict[int, MeterRecord]:
        return {
            connector_id: MeterRecord(
                energy_wh=energy_wh, reading=load_json(reading), at=instant_from_text(at)
            )
            for connector_id, (energy_wh, reading, at) in self._meters.items()
        }

    # Firmware.

    async def load_firmware(self) -> FirmwareRecord | None:
        await trio.lowlevel.checkpoint()
        return self._firmware

    async def save_firmware(self, version: str, *, reported: bool) -> None:
        await trio.lowlevel.checkpoint()
        self._firmware = FirmwareRecord(version=version, reported=reported)


class MemoryStorage:
    """The state of many charge points, in memory, keyed by charge point id."""

    def __init__(self) -> None:
        self._charge_points: dict[str, MemoryChargePointState] = {}

    def charge_point(
        self, charge_point_id: str, *, queue_limit: int = 10_000, cache_limit: int = 1_000
    ) -> ChargePointState:
        """The state of one charge point, created empty on first use (the limits apply from then on)."""
        state = self._charge_points.get(charge_point_id)
        if state is None:
            state = MemoryChargePointState(queue_limit=queue_limit, cache_limit=cache_limit)
            self._charge_points[charge_point_id] = state
        return state
