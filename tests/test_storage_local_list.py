"""The Local Authorization List against a dict model, with reboots between steps: Full and Differential
updates (spec 5.15), their versions, case-insensitive idTags.
"""

import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import trio
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from storage import ChargePointState, Database, MemoryStorage, open_database

T = TypeVar("T")

ID_TAGS = ["tag-a", "TAG-A", "Tag-B", "tag-c", "TAG-D", "e"]
INFOS = st.builds(
    lambda status, expiry: {"status": status} if expiry is None else {"status": status, "expiryDate": expiry},
    st.sampled_from(["Accepted", "Blocked", "Expired", "Invalid"]),
    st.sampled_from([None, "2030-01-01T00:00:00Z"]),
)
VERSIONS = st.integers(min_value=1, max_value=2**31 - 1)


def run(function: Callable[..., Awaitable[T]], *args: Any) -> T:
    return trio.run(function, *args)


class LocalListMachine(RuleBasedStateMachine):
    """Drives the SQLite list (reopened between steps now and then) and a dict side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.version = 0
        self.entries: dict[str, dict[str, Any]] = {}  # by idTag in lower case
        self.folder = Path(tempfile.mkdtemp())
        self.database: Database | None = run(self.open)

    async def open(self) -> Database:
        return await open_database(self.folder / "list.db", synchronous="NORMAL")

    def state(self) -> ChargePointState:
        assert self.database is not None
        return self.database.charge_point("CP-1")

    @rule(version=VERSIONS, entries=st.dictionaries(st.sampled_from(ID_TAGS), INFOS, max_size=5))
    def full_update(self, version: int, entries: dict[str, dict[str, Any]]) -> None:
        run(self.state().local_list_replace, version, entries)
        self.version = version
        self.entries = {id_tag.lower(): info for id_tag, info in entries.items()}

    @rule(
        version=VERSIONS,
        changes=st.dictionaries(st.sampled_from(ID_TAGS), st.none() | INFOS, max_size=4),
    )
    def differential_update(self, version: int, changes: dict[str, dict[str, Any] | None]) -> None:
        run(self.state().local_list_update, version, changes)
        self.version = version
        for id_tag, info in changes.items():
            if info is None:
                self.entries.pop(id_tag.lower(), None)
            else:
                self.entries[id_tag.lower()] = info

    @rule()
    def reboot(self) -> None:
        async def reopen() -> Database:
            assert self.database is not None
            await self.database.aclose()
            return await self.open()

        self.database = run(reopen)

    @invariant()
    def list_matches(self) -> None:
        async def read() -> tuple[int, int, dict[str, Any]]:
            state = self.state()
            found = {id_tag.lower(): await state.local_list_get(id_tag.upper()) for id_tag in ID_TAGS}
            return await state.local_list_version(), await state.local_list_size(), found

        version, size, found = run(read)
        assert version == self.version
        assert size == len(self.entries)
        assert found == {id_tag.lower(): self.entries.get(id_tag.lower()) for id_tag in ID_TAGS}

    def teardown(self) -> None:
        if self.database is not None:
            run(self.database.aclose)
        shutil.rmtree(self.folder)


class MemoryLocalListMachine(LocalListMachine):
    """The same steps on the in-memory list (a reboot keeps the same object)."""

    def __init__(self) -> None:
        RuleBasedStateMachine.__init__(self)
        self.version = 0
        self.entries = {}
        self.folder = Path(tempfile.mkdtemp())
        self.database = None
        self.memory = MemoryStorage()

    def state(self) -> ChargePointState:
        return self.memory.charge_point("CP-1")

    @rule()
    def reboot(self) -> None:
        pass


TestSqliteLocalList = LocalListMachine.TestCase
TestSqliteLocalList.settings = settings(max_examples=25, stateful_step_count=20)
TestMemoryLocalList = MemoryLocalListMachine.TestCase
TestMemoryLocalList.settings = settings(max_examples=25, stateful_step_count=20)
