"""The offline queue against a list model, with reboots between steps: creation order, sequence numbers,
attempts, transaction ids, dropped transactions and the bound (oldest MeterValues after the head goes first).
"""

import shutil
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from storage import ChargePointState, Database, MemoryStorage, QueuedMessage, open_database

T = TypeVar("T")

LIMIT = 4
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACTIONS = st.sampled_from(["StartTransaction", "StopTransaction", "MeterValues", "MeterValues"])
LOCALS = st.sampled_from([None, -1, -2, -3])


def run(function: Callable[..., Awaitable[T]], *args: Any) -> T:
    return trio.run(function, *args)


@attrs.define
class Message:
    seq: int
    action: str
    payload: dict[str, Any]
    local_transaction: int | None
    attempts: int = 0
    next_attempt_at: datetime | None = None


class QueueMachine(RuleBasedStateMachine):
    """Drives the SQLite queue (reopened between steps now and then) and a list side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Message] = []
        self.transaction_ids: dict[int, int] = {}
        self.last_seq = 0
        self.folder = Path(tempfile.mkdtemp())
        self.database: Database | None = run(self.open)

    async def open(self) -> Database:
        return await open_database(self.folder / "queue.db", synchronous="NORMAL")

    def state(self) -> ChargePointState:
        assert self.database is not None
        return self.database.charge_point("CP-1", queue_limit=LIMIT)

    @rule(action=ACTIONS, connector_id=st.integers(1, 3), local=LOCALS)
    def enqueue(self, action: str, connector_id: int, local: int | None) -> None:
        payload = {"connectorId": connector_id, "n": self.last_seq}

        async def enqueue() -> int:
            return await self.state().enqueue(action, payload, local_transaction=local)

        seq = run(enqueue)
        assert seq > self.last_seq
        self.last_seq = seq
        if len(self.messages) >= LIMIT:
            for index, message in enumerate(self.messages[1:], start=1):
                if message.action == "MeterValues":
                    del self.messages[index]
                    break
        self.messages.append(Message(seq, action, payload, local))

    @precondition(lambda self: self.messages)
    @rule(minutes=st.integers(0, 90))
    def fail_the_head(self, minutes: int) -> None:
        head = self.messages[0]
        at = T0 + timedelta(minutes=minutes)
        assert run(self.state().record_attempt, head.seq, at) == head.attempts + 1
        head.attempts += 1
        head.next_attempt_at = at

    @precondition(lambda self: self.messages)
    @rule()
    def deliver_the_head(self) -> None:
        run(self.state().remove, self.messages.pop(0).seq)

    @rule(local=st.sampled_from([-1, -2, -3]), transaction_id=st.integers(1, 1000))
    def answer_start(self, local: int, transaction_id: int) -> None:
        run(self.state().set_transaction_id, local, transaction_id)
        self.transaction_ids[local] = transaction_id

    @rule(local=st.sampled_from([-1, -2, -3]))
    def drop_transaction(self, local: int) -> None:
        dropped = run(self.state().drop_transaction, local)
        kept = [message for message in self.messages if message.local_transaction != local]
        assert dropped == len(self.messages) - len(kept)
        self.messages = kept
        self.transaction_ids.pop(local, None)

    @rule()
    def reboot(self) -> None:
        async def reopen() -> Database:
            assert self.database is not None
            await self.database.aclose()
            return await self.open()

        self.database = run(reopen)

    @invariant()
    def head_and_depth_match(self) -> None:
        async def read() -> tuple[int, QueuedMessage | None, dict[int, int | None]]:
            state = self.state()
            ids = {local: await state.transaction_id(local) for local in (-1, -2, -3)}
            return await state.depth(), await state.head(), ids

        depth, head, ids = run(read)
        assert depth == len(self.messages)
        assert ids == {local: self.transaction_ids.get(local) for local in (-1, -2, -3)}
        if not self.messages:
            assert head is None
            return
        first = self.messages[0]
        local = first.local_transaction
        assert head == QueuedMessage(
            seq=first.seq,
            action=first.action,
            payload=first.payload,
            local_transaction=local,
            transaction_id=None if local is None else self.transaction_ids.get(local),
            attempts=first.attempts,
            next_attempt_at=first.next_attempt_at,
        )

    def teardown(self) -> None:
        if self.database is not None:
            run(self.database.aclose)
        shutil.rmtree(self.folder)


class MemoryQueueMachine(QueueMachine):
    """The same steps on the in-memory queue (a reboot keeps the same object)."""

    def __init__(self) -> None:
        RuleBasedStateMachine.__init__(self)
        self.messages = []
        self.transaction_ids = {}
        self.last_seq = 0
        self.folder = Path(tempfile.mkdtemp())
        self.database = None
        self.memory = MemoryStorage()

    def state(self) -> ChargePointState:
        return self.memory.charge_point("CP-1", queue_limit=LIMIT)

    @rule()
    def reboot(self) -> None:
        pass


TestSqliteQueue = QueueMachine.TestCase
TestSqliteQueue.settings = settings(max_examples=25, stateful_step_count=25)
TestMemoryQueue = MemoryQueueMachine.TestCase
TestMemoryQueue.settings = settings(max_examples=25, stateful_step_count=25)
