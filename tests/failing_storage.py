"""A charge point's state that can be switched to refuse writes, as a read-only database file or a full disk
makes SQLite do: a test double of the storage interface (``storage.ChargePointState``) wrapping the
in-memory state, so that tests run in virtual time.
"""

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, cast

import trio

from storage import ChargePointState, StorageError
from storage.memory import MemoryChargePointState

__all__ = ["READS", "WRITES", "SwitchableState"]

WRITES = frozenset(
    {
        "check_writable",
        "save_configuration",
        "enqueue",
        "record_attempt",
        "remove",
        "new_local_transaction",
        "set_transaction_id",
        "drop_transaction",
        "cache_get",  # a lookup counts as a use of the entry: SQLite writes it (storage.cache)
        "cache_put",
        "cache_clear",
        "local_list_replace",
        "local_list_update",
        "save_reservation",
        "delete_reservation",
        "save_charging_profile",
        "delete_charging_profiles",
        "save_availability",
        "save_transaction",
        "delete_transaction",
        "save_meter",
        "save_firmware",
    }
)
"""The methods of ``ChargePointState`` that write."""

READS = frozenset(
    {
        "load_power_on",
        "load_configuration",
        "head",
        "depth",
        "queued_actions",
        "transaction_id",
        "cache_size",
        "local_list_version",
        "local_list_get",
        "local_list_size",
        "load_reservations",
        "load_charging_profiles",
        "load_availability",
        "load_transactions",
        "load_meters",
        "load_firmware",
    }
)
"""The methods of ``ChargePointState`` that only read (they keep working: a read-only file is readable)."""

REFUSAL = "attempt to write a readonly database"
"""What SQLite says when a write is refused (SQLITE_READONLY)."""


def protocol_methods() -> set[str]:
    """The async methods of the storage interface."""
    return {name for name, member in vars(ChargePointState).items() if inspect.iscoroutinefunction(member)}


class SwitchableState:
    """The in-memory state of one charge point, whose writes raise :class:`storage.StorageError` while
    :attr:`refusing` (changing nothing, as SQLite's atomic writes do); reads always work."""

    def __init__(self, inner: MemoryChargePointState | None = None) -> None:
        self.inner = inner or MemoryChargePointState()
        self.refusing = False
        self.refused: list[str] = []
        """The writes refused so far, by method name."""

    @property
    def state(self) -> ChargePointState:
        """This double, as the interface the charge point takes."""
        return cast(ChargePointState, self)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name not in WRITES:
            return method
        return self._refusable(name, method)

    def _refusable(self, name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def write(*args: Any, **kwargs: Any) -> Any:
            if self.refusing:
                await trio.lowlevel.checkpoint()
                self.refused.append(name)
                raise StorageError(REFUSAL)
            return await method(*args, **kwargs)

        return write
