"""The Authorization Cache against a model (a dict and a list of keys in order of use), with reboots between
steps: LRU order, eviction of NOT-valid entries first, case-insensitive idTags.
"""

import shutil
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import trio
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from storage import ChargePointState, Database, MemoryStorage, open_database

T = TypeVar("T")

LIMIT = 3
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ID_TAGS = st.sampled_from(["tag-a", "TAG-A", "Tag-B", "tag-c", "TAG-D", "e"])
STATUSES = st.sampled_from(["Accepted", "Accepted", "Blocked", "Expired", "ConcurrentTx"])
EXPIRIES = st.sampled_from([None, T0, T0 + timedelta(hours=1)])
NOWS = st.sampled_from([T0, T0 + timedelta(hours=1)])  # an expiry at ``now`` is expired


def run(function: Callable[..., Awaitable[T]], *args: Any) -> T:
    return trio.run(function, *args)


class CacheModel:
    """What the cache should hold: entries by lower-case idTag, and their keys from least recently used on."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, dict[str, Any], str, datetime | None]] = {}
        self.order: list[str] = []

    def put(
        self, id_tag: str, info: dict[str, Any], status: str, expiry: datetime | None, now: datetime
    ) -> None:
        key = id_tag.lower()
        if key not in self.entries and len(self.entries) >= LIMIT:
            not_valid = [k for k in self.order if not self._valid(k, now)]
            victim = (not_valid or self.order)[0]
            del self.entries[victim]
            self.order.remove(victim)
        self.entries[key] = (id_tag, info, status, expiry)
        self._use(key)

    def get(self, id_tag: str) -> tuple[str, dict[str, Any], str, datetime | None] | None:
        key = id_tag.lower()
        if key in self.entries:
            self._use(key)
        return self.entries.get(key)

    def _valid(self, key: str, now: datetime) -> bool:
        _, _, status, expiry = self.entries[key]
        return status == "Accepted" and (expiry is None or expiry > now)

    def _use(self, key: str) -> None:
        if key in self.order:
            self.order.remove(key)
        self.order.append(key)


class CacheMachine(RuleBasedStateMachine):
    """Drives the SQLite cache (reopened between steps now and then) and the model side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.model = CacheModel()
        self.folder = Path(tempfile.mkdtemp())
        self.database: Database | None = run(self.open)
        self.uses = 0

    async def open(self) -> Database:
        return await open_database(self.folder / "cache.db", synchronous="NORMAL")

    def state(self) -> ChargePointState:
        assert self.database is not None
        return self.database.charge_point("CP-1", cache_limit=LIMIT)

    @rule(id_tag=ID_TAGS, status=STATUSES, expiry=EXPIRIES, now=NOWS, n=st.integers(0, 3))
    def put(self, id_tag: str, status: str, expiry: datetime | None, now: datetime, n: int) -> None:
        info = {"status": status, "n": n}

        async def put() -> None:
            await self.state().cache_put(id_tag, info, status=status, expiry=expiry, now=now)

        run(put)
        self.model.put(id_tag, info, status, expiry, now)

    @rule(id_tag=ID_TAGS)
    def get(self, id_tag: str) -> None:
        entry = run(self.state().cache_get, id_tag)
        expected = self.model.get(id_tag)
        found = None if entry is None else (entry.id_tag, entry.info, entry.status, entry.expiry)
        assert found == expected

    @rule(id_tags=st.permutations(["TAG-A", "tag-b", "Tag-C", "tag-d", "E"]))
    def get_every_id_tag(self, id_tags: list[str]) -> None:
        """Look every idTag up: the whole content must match, and the order of use becomes ``id_tags``."""
        for id_tag in id_tags:
            self.get(id_tag)

    @rule()
    def clear(self) -> None:
        run(self.state().cache_clear)
        self.model = CacheModel()

    @rule()
    def reboot(self) -> None:
        async def reopen() -> Database:
            assert self.database is not None
            await self.database.aclose()
            return await self.open()

        self.database = run(reopen)

    @invariant()
    def size_matches(self) -> None:
        assert run(self.state().cache_size) == len(self.model.entries)

    @invariant()
    def stored_order_of_use_matches(self) -> None:
        """White-box: the idTags in the database, least recently used first, are the model's."""
        stored = self.stored_order()
        assert stored is None or stored == self.model.order

    def stored_order(self) -> list[str] | None:
        assert self.database is not None
        query = "SELECT id_tag_key FROM authorization_cache WHERE charge_point_id = 'CP-1' ORDER BY last_used"
        rows = run(self.database.read, lambda connection: connection.execute(query).fetchall())
        return [key for (key,) in rows]

    def teardown(self) -> None:
        if self.database is not None:
            run(self.database.aclose)
        shutil.rmtree(self.folder)


class MemoryCacheMachine(CacheMachine):
    """The same steps on the in-memory cache (a reboot keeps the same object)."""

    def __init__(self) -> None:
        RuleBasedStateMachine.__init__(self)
        self.model = CacheModel()
        self.folder = Path(tempfile.mkdtemp())
        self.database = None
        self.memory = MemoryStorage()

    def state(self) -> ChargePointState:
        return self.memory.charge_point("CP-1", cache_limit=LIMIT)

    @rule()
    def reboot(self) -> None:
        pass

    def stored_order(self) -> list[str] | None:
        return None


TestSqliteCache = CacheMachine.TestCase
TestSqliteCache.settings = settings(max_examples=30, stateful_step_count=30)
TestMemoryCache = MemoryCacheMachine.TestCase
TestMemoryCache.settings = settings(max_examples=30, stateful_step_count=30)
