"""Running ``ocpp-fleet run`` as real processes against a recording Central System, and checking what the
Central System received: the helpers of the crash and chaos tests (``test_crash.py``, ``test_chaos.py``) and
of ``benchmarks/chaos.py``.

What :func:`check_transaction_messages` holds the product to (DESIGN.md, "persistence is a write-ahead
promise"): whatever the kills, power cuts and lost connections, the Central System receives every
transaction-related message of every charge point, in the order they were created, with the transaction ids
it gave that charge point; only the message in flight when a connection ended may arrive twice, as an
immediate repeat on the next connection.
"""

import contextlib
import contextvars
import itertools
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import trio
from trio_websocket import WebSocketRequest

from fleet.csms import CentralSystem, Record, utc_now
from storage import ChargePointSummary, inspect_database

POLL_INTERVAL = 0.05
DRAIN_TIMEOUT = 60.0
"""Seconds the last run may take to deliver every queued message and stop every open transaction."""

CSMS_CLOCK_AHEAD = timedelta(seconds=0.25)
"""The Central System's clock runs this much ahead of the machine's. Charge points set their clocks to it
at each BootNotification; were it behind, a clock set back would make timestamps go backwards by itself,
whatever the queue does. A new process starts from the machine's clock again, which is fine: starting one
takes longer than this."""

TRANSACTION_ACTIONS = ("StartTransaction", "MeterValues", "StopTransaction")


def charge_point_id(n: int) -> str:
    return f"CP-{n:04}"


# --- the fleet file ------------------------------------------------------------------------------------


def fleet_toml(
    database: Path,
    scenario: Iterable[dict[str, Any]],
    *,
    count: int,
    connectors: int,
    configuration: Mapping[str, Any],
) -> str:
    """A fleet file of ``count`` charge points ``CP-0001``... with ``connectors`` connectors each and the
    given configuration, no random drivers, and ``scenario``'s events."""
    lines = [
        'csms_url = "ws://127.0.0.1:1/ocpp"  # replaced by --csms-url',
        f"database = {json.dumps(str(database))}",
        "",
        "[[charge_points]]",
        'id = "CP-{n:04}"',
        f"count = {count}",
        f"connectors = {connectors}",
        "[charge_points.configuration]",
    ]
    lines += [f"{key} = {json.dumps(value)}" for key, value in configuration.items()]
    for event in scenario:
        lines += ["", "[[scenario]]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in event.items()]
    return "\n".join(lines) + "\n"


# --- processes and conditions ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fleet_process(
    fleet_file: Path, csms_url: str, database: Path, log: Path, *extra: str
) -> AsyncIterator[trio.Process]:
    """``python -m fleet run`` (with ``extra`` arguments) with its output in ``log``; killed on the way out
    if still running."""
    command = [sys.executable, "-m", "fleet", "run", str(fleet_file), "--csms-url", csms_url]
    command += ["--database", str(database), "--ramp", "0", *extra]
    with log.open("wb") as out:
        process = await trio.lowlevel.open_process(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


async def poll_until(condition: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    """Return once ``condition()`` is true; fail with ``what`` after ``within`` seconds.

    It polls: the conditions are about another process (its database file, its sockets closing), which
    sends the test no event.
    """
    with trio.move_on_after(within):
        while True:
            if await condition():
                return
            await trio.sleep(POLL_INTERVAL)
    raise AssertionError(f"not within {within:g} s: {what}")


def boot_notification(cp: str, since: float) -> Callable[[Record], bool]:
    """A predicate: a BootNotification of ``cp`` (``*``: of any) received at trio time ``since`` or later."""

    def matches(record: Record) -> bool:
        return (
            cp in ("*", record.charge_point_id)
            and record.kind == "CALL"
            and record.action == "BootNotification"
            and record.time >= since
        )

    return matches


async def summaries(database: Path) -> list[ChargePointSummary]:
    return await trio.to_thread.run_sync(inspect_database, database)


def drained(found: Sequence[ChargePointSummary]) -> bool:
    """Whether no charge point has a queued message or an open transaction."""
    return all(
        summary.queue_depth == 0 and all(connector.transaction is None for connector in summary.connectors)
        for summary in found
    )


def assert_drained(found: Sequence[ChargePointSummary], count: int) -> None:
    """Every charge point is in the database, with an empty queue and no open transaction."""
    assert [summary.charge_point_id for summary in found] == [charge_point_id(n) for n in range(1, count + 1)]
    left = {
        summary.charge_point_id: (
            summary.queue_depth,
            [c.connector_id for c in summary.connectors if c.transaction is not None],
        )
        for summary in found
        if summary.queue_depth or any(c.transaction is not None for c in summary.connectors)
    }
    assert not left, f"queued messages and open transactions left (depth, connectors): {left}"


_connection: contextvars.ContextVar[int] = contextvars.ContextVar("connection", default=0)
"""The number of the connection whose handler task makes a record (each has a task of its own)."""


class _NumberingCentralSystem(CentralSystem):
    """The embedded Central System, numbering the connections it accepts (1, 2, ... across charge points)."""

    connections = 0

    async def handle_request(self, request: WebSocketRequest) -> None:
        self.connections += 1
        _connection.set(self.connections)
        await super().handle_request(request)


@attrs.frozen
class Seen:
    """A record of the Central System, with the number of the connection it was made on."""

    record: Record
    connection: int


class RecordingCsms:
    """The embedded Central System, serving on a free port of 127.0.0.1 until cancelled, with every record
    kept; it can be restarted on the same port (its state, such as the transaction ids given, stays)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.central_system = _NumberingCentralSystem(
            wall_clock=lambda: utc_now() + CSMS_CLOCK_AHEAD, on_record=self._record
        )
        self.url = ""
        self.port = 0
        self.restarts = 0
        self._nursery: trio.Nursery | None = None
        self._scope = trio.CancelScope()
        self._stopped = trio.Event()

    @property
    def records(self) -> list[Record]:
        return [seen.record for seen in self.seen]

    def _record(self, record: Record) -> None:
        self.seen.append(Seen(record, _connection.get()))

    async def serve(self, nursery: trio.Nursery) -> None:
        """Start serving in ``nursery``."""
        self._nursery = nursery
        self._scope, self._stopped = trio.CancelScope(), trio.Event()
        self.port = await nursery.start(self._serve, self._scope, self._stopped)
        self.url = f"ws://127.0.0.1:{self.port}/ocpp"

    async def _serve(
        self, scope: trio.CancelScope, stopped: trio.Event, *, task_status: trio.TaskStatus[int]
    ) -> None:
        try:
            with scope:
                await self.central_system.serve("127.0.0.1", self.port, task_status=task_status)
        finally:
            stopped.set()

    async def restart(self, down_for: float) -> None:
        """Stop serving (every connection closes), and serve again on the same port ``down_for`` seconds
        later, as a Central System that crashed and came back; not to be left half done if cancelled."""
        assert self._nursery is not None
        with trio.CancelScope(shield=True):
            self.restarts += 1
            self._scope.cancel()
            await self._stopped.wait()
            await trio.sleep(down_for)
            await self.serve(self._nursery)

    async def wait_disconnected(self) -> None:
        """Until every connection of a killed process is closed, so that nothing of it arrives later."""

        async def nobody() -> bool:
            await trio.lowlevel.checkpoint()
            return not self.central_system.connected

        await poll_until(nobody, 10, "the Central System sees the killed charge points disconnect")


async def drain(
    csms: RecordingCsms, fleet_file: Path, database: Path, log: Path, count: int, *extra: str
) -> None:
    """A last run, without events: it stops interrupted transactions (PowerLoss) and delivers every queued
    message; it is stopped with SIGTERM once the database holds nothing more to send and every charge point
    is connected, and must exit 0."""
    started = trio.current_time()
    everyone = {charge_point_id(n) for n in range(1, count + 1)}
    async with fleet_process(fleet_file, csms.url, database, log, *extra) as process:
        with trio.fail_after(30):
            for cp in sorted(everyone):
                await csms.central_system.wait_for(boot_notification(cp, started))

        async def empty() -> bool:
            return drained(await summaries(database)) and csms.central_system.connected == everyone

        await poll_until(empty, DRAIN_TIMEOUT, "the last run empties every queue, everyone connected")
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            await process.wait()
        assert process.returncode == 0, await trio.Path(log).read_text()


def assert_no_crash(logs: Iterable[Path]) -> None:
    for log in logs:
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"{log.name}:\n{text}"
        assert "crashed" not in text, f"{log.name}:\n{text}"


# --- what the Central System received -------------------------------------------------------------------


@attrs.define
class Message:
    """A transaction-related CALL a charge point sent, with the Central System's answer."""

    position: int
    """Its place among the charge point's transaction-related messages."""
    boot: int
    """How many BootNotifications the charge point had sent before it."""
    connection: int
    """The number of the connection it came on."""
    received: float
    """When the Central System received it (trio time of the test process)."""
    action: str
    payload: dict[str, Any]
    answer_kind: str | None = None
    answer: dict[str, Any] | None = None

    def key(self) -> str:
        return json.dumps([self.action, self.payload], sort_keys=True)

    def timestamps(self) -> list[datetime]:
        """StartTransaction and StopTransaction: their timestamp; MeterValues: each meterValue's."""
        if self.action == "MeterValues":
            return [_instant(value["timestamp"]) for value in self.payload["meterValue"]]
        return [_instant(self.payload["timestamp"])]

    def show(self) -> str:
        where = f"boot {self.boot}, connection {self.connection}, received at {self.received:.3f}"
        return f"#{self.position} ({where}) {self.action} {json.dumps(self.payload)[:300]}"


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def transaction_messages(seen: Iterable[Seen], cp: str) -> list[Message]:
    """The transaction-related CALLs of ``cp`` in the order received, each with its answer."""
    messages: list[Message] = []
    waiting: dict[str, Message] = {}
    boots = 0
    for record, connection in ((s.record, s.connection) for s in seen):
        if record.charge_point_id != cp:
            continue
        if record.direction == "in" and record.kind == "CALL":
            if record.action == "BootNotification":
                boots += 1
            elif record.action in TRANSACTION_ACTIONS and (
                record.action != "MeterValues" or "transactionId" in record.payload
            ):
                message = Message(
                    len(messages), boots, connection, record.time, record.action, record.payload
                )
                messages.append(message)
                waiting[record.unique_id] = message
        elif record.direction == "out" and record.unique_id in waiting:
            message = waiting.pop(record.unique_id)
            message.answer_kind, message.answer = record.kind, record.payload
    return messages


@attrs.define
class Transaction:
    transaction_id: int
    connector_id: int
    meter_start: int
    start: Message
    last: datetime
    """The latest timestamp of its messages so far."""
    stopped: Message | None = None


@attrs.define
class Summary:
    """What the checks saw, so that a test can tell it exercised what it meant to."""

    transactions: int = 0
    meter_values: int = 0
    repeats: int = 0
    repeated: dict[str, int] = attrs.Factory(dict)
    """The repeats by action."""
    stop_reasons: dict[str, int] = attrs.Factory(dict)
    # Two checks are kept apart from the others, which raise at once, so that one run reports both.
    out_of_order: list[str] = attrs.Factory(list)
    """Messages older than one the charge point sent before them (PowerLoss stops aside)."""
    stale_power_loss_stops: list[str] = attrs.Factory(list)
    """PowerLoss stops whose timestamp is earlier than the last MeterValues of their transaction."""


def check_transaction_messages(seen: Sequence[Seen], charge_points: Iterable[str]) -> Summary:
    """Check the transaction-related messages each charge point sent (module docstring); raise
    AssertionError at the first problem, naming the charge point and the message."""
    summary = Summary()
    given_anywhere: dict[int, str] = {}
    for cp in charge_points:
        _check_charge_point(cp, transaction_messages(seen, cp), given_anywhere, summary)
    return summary


def _check_charge_point(
    cp: str, messages: list[Message], given_anywhere: dict[int, str], summary: Summary
) -> None:
    transactions: dict[int, Transaction] = {}
    superseded: set[int] = set()
    seen: set[str] = set()
    previous: Message | None = None
    in_order: list[Message] = []  # the messages without their repeats
    latest: datetime | None = None  # of the messages created when they say (all but PowerLoss stops)
    latest_message: Message | None = None

    def fail(message: Message, problem: str) -> AssertionError:
        context = "\n  ".join(m.show() for m in messages[max(0, message.position - 4) : message.position + 2])
        return AssertionError(f"{cp}: {problem}\n  at {message.show()}\n  around:\n  {context}")

    for message, following in itertools.zip_longest(messages, messages[1:]):
        key = message.key()
        if message.answer_kind is None and following is not None and following.key() == key:
            # (4) The connection ended before the Central System answered: the next copy is a repeat.
            if following.connection == message.connection:
                raise fail(
                    following, "sent twice on one connection: only one in flight when it ended repeats"
                )
            summary.repeats += 1
            summary.repeated[message.action] = summary.repeated.get(message.action, 0) + 1
            continue
        if message.answer_kind != "CALLRESULT":
            raise fail(message, f"answered with {message.answer_kind} {message.answer}")
        repeat = previous is not None and key == previous.key()
        if repeat:
            assert previous is not None
            # (4) A repeat is the message in flight when its connection ended (a kill, a power cut, a lost
            # connection): sent again on the next connection.
            if message.connection == previous.connection:
                raise fail(message, "sent twice on one connection: only one in flight when it ended repeats")
            summary.repeats += 1
            summary.repeated[message.action] = summary.repeated.get(message.action, 0) + 1
            if message.action != "StartTransaction":
                previous = message
                continue
            # The Central System gave the first copy an id the charge point never learnt: no message may
            # name it; the second copy's id is the transaction's.
            lost = int(previous.answer["transactionId"]) if previous.answer else 0
            superseded.add(lost)
            del transactions[lost]
            summary.transactions -= 1
            in_order.pop()
        elif key in seen:
            raise fail(message, "the same message again, not as an immediate repeat")
        seen.add(key)
        previous = message
        in_order.append(message)
        payload = message.payload

        if message.action == "StartTransaction":
            answer = message.answer or {}
            transaction_id = answer.get("transactionId")
            if not isinstance(transaction_id, int) or transaction_id <= 0:
                raise fail(message, f"answered with transaction id {transaction_id!r}")
            if transaction_id in given_anywhere:
                raise fail(message, f"the Central System gave id {transaction_id} twice")
            given_anywhere[transaction_id] = cp
            (stamp,) = message.timestamps()
            transactions[transaction_id] = Transaction(
                transaction_id, payload["connectorId"], payload["meterStart"], message, stamp
            )
            summary.transactions += 1
        else:
            transaction_id = payload.get("transactionId")
            # (2) Only ids the Central System gave this charge point, never a placeholder.
            if transaction_id in superseded:
                raise fail(message, f"names {transaction_id}, the id of a StartTransaction answered twice")
            if transaction_id not in transactions:
                owner = given_anywhere.get(transaction_id) if isinstance(transaction_id, int) else None
                whose = f"given to {owner}" if owner else "never given by the Central System"
                raise fail(message, f"names transaction {transaction_id!r}, {whose}")
            transaction = transactions[transaction_id]
            # (3) Per transaction: its StartTransaction, its MeterValues, its StopTransaction, then nothing.
            if transaction.stopped is not None:
                raise fail(
                    message, f"after the StopTransaction of {transaction_id}: {transaction.stopped.show()}"
                )
            if message.action == "MeterValues" and payload["connectorId"] != transaction.connector_id:
                raise fail(message, f"not the connector of transaction {transaction_id}")
            stamps = message.timestamps()
            if min(stamps) < transaction.last:
                if payload.get("reason") != "PowerLoss":
                    raise fail(message, f"earlier than a message before it of transaction {transaction_id}")
                late = (transaction.last - min(stamps)).total_seconds() * 1000
                summary.stale_power_loss_stops.append(
                    f"{cp}: {message.show()}: {late:.0f} ms older than its last MeterValues"
                )
            transaction.last = max(stamps)
            if message.action == "MeterValues":
                summary.meter_values += 1
            else:
                transaction.stopped = message
                reason = payload.get("reason", "Local")
                summary.stop_reasons[reason] = summary.stop_reasons.get(reason, 0) + 1
                if payload["meterStop"] < transaction.meter_start:
                    raise fail(message, f"meterStop below meterStart {transaction.meter_start}")
                if reason == "PowerLoss":
                    continue  # its timestamp is the last kept reading's, not the time it was made
        # (3) Per charge point, in creation order: timestamps never go backwards.
        stamps = message.timestamps()
        if latest is not None and min(stamps) < latest:
            assert latest_message is not None
            early = (latest - min(stamps)).total_seconds() * 1000
            summary.out_of_order.append(
                f"{cp}: {message.show()}\n  {early:.0f} ms older than the one before: {latest_message.show()}"
            )
        if latest is None or max(stamps) >= latest:
            latest, latest_message = max(stamps), message

    # A StopTransaction after a power cut is made at the next boot: every later message is newer.
    # ``following``: the oldest timestamp of the messages after this one, PowerLoss stops left out.
    following: datetime | None = None
    for message in reversed(in_order):
        stamps = message.timestamps()
        power_loss = message.action == "StopTransaction" and message.payload.get("reason") == "PowerLoss"
        if not power_loss:
            following = min(stamps) if following is None else min(following, *stamps)
        elif following is not None and max(stamps) > following:
            raise fail(message, "a PowerLoss stop newer than a message made after it")

    # (1) Every transaction the Central System started has exactly one StopTransaction.
    open_ones = [t.start.show() for t in transactions.values() if t.stopped is None]
    assert not open_ones, f"{cp}: transactions never stopped:\n  " + "\n  ".join(open_ones)
