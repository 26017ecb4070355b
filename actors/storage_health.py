"""Whether the storage of a charge point takes writes, and what connector 0 reports about it.

The storage raises :class:`storage.StorageError` when SQLite refuses a write (a read-only database file, a
full disk). A charge point then keeps serving what it can, and the rules are the same everywhere:

- **Reported.** Connector 0 (the charge point's main controller) becomes ``Faulted`` with errorCode
  ``InternalError`` and the failure in ``info`` (:func:`charge_point_condition`). Spec 4.9 allows connector 0
  only Available, Unavailable and Faulted; 7.6 defines InternalError as an "error in internal hard- or
  software component"; and Faulted is "a fault is detected that prevents further charging operations" (A9):
  a charge point that cannot record a transaction must not start one. Faulted is Inoperative (7.7), so
  ReserveNow is answered ``Faulted`` meanwhile (5.13). The connectors keep their own statuses, which 4.9
  does not tie to connector 0's. Once the charge point's check finds that writes succeed again (below), a
  new StatusNotification of connector 0 says ``NoError`` with Available or Unavailable, as
  ChangeAvailability left it. Offline, both are reported at the next connection if they still hold.
- **Refused.** Nothing is acted upon that could not be kept: no transaction starts (no StartTransaction,
  the relay stays open), and the Central System's requests whose change cannot be kept are answered with
  the status that says it was not done (ChangeConfiguration and RemoteStartTransaction ``Rejected``,
  ChangeAvailability ``Rejected``, SendLocalList ``Failed``, ClearCache ``Rejected``, SetChargingProfile
  ``Rejected``), or, where no status says so (CancelReservation, ClearChargingProfile), a CALLERROR
  ``InternalError`` (OCPP-J: "the receiver failed while handling the call").
- **Held.** What cannot be refused is kept in memory until it can be written: a transaction that is
  running stops when asked (the relay opens), and its StopTransaction and MeterValues wait in the outbox, in
  order, before any later message (``actors.outbox``). They are lost with the memory at a power cut or
  reboot, where the transaction's record, still kept, has it stopped with reason PowerLoss at the next boot.
- **Retried.** The outbox's bookkeeping after an answer (the transaction id, taking the message out of the
  queue) is written again every :data:`STORAGE_RETRY_INTERVAL` seconds, and nothing else is sent meanwhile,
  so a delivered message is never sent twice; so is the version of an installed firmware before the reboot
  (``actors.firmware``). While writes fail, the charge point tries one every
  :data:`STORAGE_RETRY_INTERVAL` seconds (what the outbox holds, else a write that keeps nothing): the
  failure ends when that succeeds.
- **Done anyway**, in memory, where the Central System or the hardware has the last word: the
  HeartbeatInterval of a BootNotification answer, a security profile fallback, the first boot's
  configuration, the end of a reservation or of a transaction's TxProfiles. A meter reading that cannot be
  kept leaves the previous one for a PowerLoss stop; a lookup in the Authorization Cache that cannot be
  written (it counts as a use) finds nothing.

Reads are expected to work while writes fail (as they do on a read-only file or a full disk); a failed read
is reported the same way, and the outbox tries its reads again as its writes.
"""

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import attrs
import trio

from actors.ocpp import ChargePointErrorCode, ChargePointStatus
from storage import (
    CacheEntry,
    ChargePointState,
    FirmwareRecord,
    JsonObject,
    MeterRecord,
    PowerOnState,
    QueuedMessage,
    StorageError,
)

__all__ = [
    "STORAGE_RETRY_INTERVAL",
    "Condition",
    "StorageHealth",
    "WatchedState",
    "charge_point_condition",
    "until_written",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")

STORAGE_RETRY_INTERVAL = 10.0
"""Seconds between tries of a write that must be made, and between checks while writes fail."""
_INFO_LENGTH = 50
"""StatusNotification's info is a CiString50 (6.47)."""


@attrs.frozen
class Condition:
    """What a StatusNotification of connector 0 says."""

    status: ChargePointStatus
    error_code: ChargePointErrorCode
    info: str | None = None


def charge_point_condition(*, operative: bool, storage_fault: str | None) -> Condition:
    """The condition of connector 0: Faulted with InternalError while the storage fails (``storage_fault``
    says how), else Available or Unavailable (ChangeAvailability) with NoError."""
    if storage_fault is not None:
        info = f"storage: {storage_fault}"[:_INFO_LENGTH]
        return Condition(ChargePointStatus.FAULTED, ChargePointErrorCode.INTERNAL_ERROR, info)
    status = ChargePointStatus.AVAILABLE if operative else ChargePointStatus.UNAVAILABLE
    return Condition(status, ChargePointErrorCode.NO_ERROR)


class StorageHealth:
    """Whether the last write of one charge point's storage failed; tells ``on_change`` when that changes."""

    __slots__ = ("_name", "fault", "on_change")

    def __init__(self, *, name: str = "") -> None:
        self._name = name
        self.fault: str | None = None
        """How the storage failed, while it fails; ``None`` while it takes writes."""
        self.on_change: Callable[[], None] = lambda: None

    @property
    def failing(self) -> bool:
        return self.fault is not None

    def failed(self, what: str, error: StorageError) -> None:
        """``what`` failed with ``error``."""
        if self.fault is None:
            _log.warning("%s: storage failing (%s): %s", self._name, what, error)
            self.fault = str(error) or type(error).__name__
            self.on_change()
        else:
            _log.debug("%s: storage still failing (%s): %s", self._name, what, error)

    def succeeded(self) -> None:
        """The charge point's check found that the storage takes writes again."""
        if self.fault is not None:
            _log.warning("%s: storage takes writes again", self._name)
            self.fault = None
            self.on_change()


async def until_written(write: Callable[[], Awaitable[T]], *, what: str, name: str = "") -> T:
    """``write()``, tried again every :data:`STORAGE_RETRY_INTERVAL` seconds until the storage takes it."""
    while True:
        try:
            return await write()
        except StorageError as error:
            _log.info("%s: %s not written, again in %g s: %s", name, what, STORAGE_RETRY_INTERVAL, error)
        await trio.sleep(STORAGE_RETRY_INTERVAL)


class WatchedState:
    """A charge point's state that tells its :class:`StorageHealth` of every read or write that fails (and
    raises the error on). Only the charge point's own check ends a failure (:meth:`StorageHealth.succeeded`):
    on a full disk, a write that happens to change nothing, as a lookup in the cache, may succeed."""

    __slots__ = ("_state", "health")

    def __init__(self, state: ChargePointState, health: StorageHealth) -> None:
        self._state = state
        self.health = health

    async def _watched(self, what: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except StorageError as error:
            self.health.failed(what, error)
            raise

    def set_limits(self, *, queue_limit: int, cache_limit: int) -> None:
        self._state.set_limits(queue_limit=queue_limit, cache_limit=cache_limit)

    async def check_writable(self) -> None:
        await self._watched("check", self._state.check_writable())

    async def load_power_on(self) -> PowerOnState:
        return await self._watched("power-on state", self._state.load_power_on())

    async def load_configuration(self) -> dict[str, str]:
        return await self._watched("configuration", self._state.load_configuration())

    async def save_configuration(self, key: str, value: str) -> None:
        await self._watched(f"configuration {key}", self._state.save_configuration(key, value))

    async def enqueue(self, action: str, payload: JsonObject, *, local_transaction: int | None = None) -> int:
        call = self._state.enqueue(action, payload, local_transaction=local_transaction)
        return await self._watched(action, call)

    async def head(self) -> QueuedMessage | None:
        return await self._watched("queue", self._state.head())

    async def record_attempt(self, seq: int, next_attempt_at: datetime | None) -> int:
        return await self._watched("attempt", self._state.record_attempt(seq, next_attempt_at))

    async def remove(self, seq: int) -> None:
        await self._watched("queue", self._state.remove(seq))

    async def depth(self) -> int:
        return await self._watched("queue", self._state.depth())

    async def queued_actions(self, local_transaction: int) -> list[str]:
        return await self._watched("queue", self._state.queued_actions(local_transaction))

    async def new_local_transaction(self) -> int:
        return await self._watched("transaction", self._state.new_local_transaction())

    async def set_transaction_id(self, local_transaction: int, csms_transaction_id: int) -> None:
        call = self._state.set_transaction_id(local_transaction, csms_transaction_id)
        await self._watched("transaction id", call)

    async def transaction_id(self, local_transaction: int) -> int | None:
        return await self._watched("transaction id", self._state.transaction_id(local_transaction))

    async def drop_transaction(self, local_transaction: int) -> int:
        return await self._watched("queue", self._state.drop_transaction(local_transaction))

    async def cache_get(self, id_tag: str) -> CacheEntry | None:
        return await self._watched("cache", self._state.cache_get(id_tag))

    async def cache_put(
        self, id_tag: str, info: JsonObject, *, status: str, expiry: datetime | None, now: datetime
    ) -> None:
        await self._watched(
            "cache", self._state.cache_put(id_tag, info, status=status, expiry=expiry, now=now)
        )

    async def cache_clear(self) -> None:
        await self._watched("cache", self._state.cache_clear())

    async def cache_size(self) -> int:
        return await self._watched("cache", self._state.cache_size())

    async def local_list_version(self) -> int:
        return await self._watched("local list", self._state.local_list_version())

    async def local_list_get(self, id_tag: str) -> JsonObject | None:
        return await self._watched("local list", self._state.local_list_get(id_tag))

    async def local_list_replace(self, version: int, entries: Mapping[str, JsonObject]) -> None:
        await self._watched("local list", self._state.local_list_replace(version, entries))

    async def local_list_update(self, version: int, changes: Mapping[str, JsonObject | None]) -> None:
        await self._watched("local list", self._state.local_list_update(version, changes))

    async def local_list_size(self) -> int:
        return await self._watched("local list", self._state.local_list_size())

    async def load_reservations(self) -> dict[int, JsonObject]:
        return await self._watched("reservations", self._state.load_reservations())

    async def save_reservation(self, reservation_id: int, body: JsonObject) -> None:
        await self._watched("reservation", self._state.save_reservation(reservation_id, body))

    async def delete_reservation(self, reservation_id: int) -> None:
        await self._watched("reservation", self._state.delete_reservation(reservation_id))

    async def load_charging_profiles(self) -> dict[int, JsonObject]:
        return await self._watched("charging profiles", self._state.load_charging_profiles())

    async def save_charging_profile(
        self, profile_id: int, body: JsonObject, *, replacing: Collection[int] = ()
    ) -> None:
        call = self._state.save_charging_profile(profile_id, body, replacing=replacing)
        await self._watched("charging profile", call)

    async def delete_charging_profiles(self, profile_ids: Collection[int]) -> None:
        await self._watched("charging profiles", self._state.delete_charging_profiles(profile_ids))

    async def load_availability(self) -> dict[int, str]:
        return await self._watched("availability", self._state.load_availability())

    async def save_availability(self, connector_id: int, value: str) -> None:
        await self._watched("availability", self._state.save_availability(connector_id, value))

    async def save_transaction(self, connector_id: int, record: JsonObject) -> None:
        await self._watched("transaction", self._state.save_transaction(connector_id, record))

    async def load_transactions(self) -> dict[int, JsonObject]:
        return await self._watched("transactions", self._state.load_transactions())

    async def delete_transaction(self, connector_id: int) -> None:
        await self._watched("transaction", self._state.delete_transaction(connector_id))

    async def save_meter(
        self, connector_id: int, energy_wh: float, reading: JsonObject, at: datetime
    ) -> None:
        await self._watched("meter", self._state.save_meter(connector_id, energy_wh, reading, at))

    async def load_meters(self) -> dict[int, MeterRecord]:
        return await self._watched("meters", self._state.load_meters())

    async def load_firmware(self) -> FirmwareRecord | None:
        return await self._watched("firmware", self._state.load_firmware())

    async def save_firmware(self, version: str, *, reported: bool) -> None:
        await self._watched("firmware", self._state.save_firmware(version, reported=reported))


if TYPE_CHECKING:
    _conforms: type[ChargePointState] = WatchedState
