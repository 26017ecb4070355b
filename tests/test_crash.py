"""Crash tests with real processes: ``ocpp-fleet run`` killed with SIGKILL, then started again.

The slow tests of the suite: they run ``python -m fleet run`` as a child process against a recording Central
System in the test process, on the real clock (a child process cannot run on trio's MockClock), and take
about a minute together. Nothing in them sleeps "a while": every wait is for a condition, under a deadline.

What they hold the product to (DESIGN.md, "persistence is a write-ahead promise"): whatever the moment of a
SIGKILL, the Central System receives every transaction-related message of every charge point, in the order
they were created, with the transaction ids it gave that charge point; only the message in flight at a kill
may arrive twice, as an immediate repeat after the next boot.
"""

import contextlib
import json
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import trio

from fleet.csms import CentralSystem, Record, utc_now
from storage import ChargePointSummary, inspect_database

CRASH_ITERATIONS = 30
"""Runs killed with SIGKILL at a random moment before the last run, which drains every queue."""

KILL_AFTER = (0.4, 2.8)
"""A run is killed between these many seconds after its process started (which takes about 0.5 s)."""

SEED = 1606
POLL_INTERVAL = 0.05
CHARGE_POINTS = 4
CONNECTORS = 2
SCENARIO_SECONDS = 3.0
"""The scenario of the killed runs keeps charge points busy this long after the fleet starts."""

DRAIN_TIMEOUT = 60.0
"""Seconds the last run may take to deliver every queued message and stop every open transaction."""

CSMS_CLOCK_AHEAD = timedelta(seconds=0.25)
"""The Central System's clock runs this much ahead of the machine's. Charge points set their clocks to it
at each BootNotification; were it behind, a clock set back would make timestamps go backwards by itself,
whatever the queue does. A new process starts from the machine's clock again, which is fine: starting one
takes longer than this."""

TRANSACTION_ACTIONS = ("StartTransaction", "MeterValues", "StopTransaction")

CONFIGURATION = {
    "MeterValueSampleInterval": 1,
    "MeterValuesSampledData": ["Energy.Active.Import.Register", "Power.Active.Import"],
    "StopTxnSampledData": ["Energy.Active.Import.Register"],
    # Transactions start at once, offline too: the scenario's idTags need no round trip to start.
    "LocalPreAuthorize": True,
    "AllowOfflineTxForUnknownId": True,
}


def charge_point_id(n: int) -> str:
    return f"CP-{n:04}"


# --- the fleet file ------------------------------------------------------------------------------------


def fleet_toml(database: Path, scenario: Iterable[dict[str, Any]], *, count: int = CHARGE_POINTS) -> str:
    """A fleet file of ``count`` charge points with ``CONNECTORS`` connectors each, no random drivers.

    Drivers of ``[charge_points.sessions]`` badge 5 s after plugging in (fleet/drivers.py), later than most
    kills here; scenario events start and stop transactions within the first seconds of a run instead.
    """
    lines = [
        'csms_url = "ws://127.0.0.1:1/ocpp"  # replaced by --csms-url',
        f"database = {json.dumps(str(database))}",
        "",
        "[[charge_points]]",
        'id = "CP-{n:04}"',
        f"count = {count}",
        f"connectors = {CONNECTORS}",
        "[charge_points.configuration]",
    ]
    lines += [f"{key} = {json.dumps(value)}" for key, value in CONFIGURATION.items()]
    for event in scenario:
        lines += ["", "[[scenario]]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in event.items()]
    return "\n".join(lines) + "\n"


def busy_scenario(rng: random.Random) -> list[dict[str, Any]]:
    """Every connector charging again and again in short transactions (some long enough for MeterValues),
    CP-0002 losing its network silently while connected, CP-0004 starting without a network, and a power
    cut at CP-0003; the same in every run."""
    events: list[dict[str, Any]] = []
    for n in range(1, CHARGE_POINTS + 1):
        cp = charge_point_id(n)
        for connector in range(1, CONNECTORS + 1):
            at = 0.05 + 0.15 * (connector - 1) + 0.03 * n
            while at < SCENARIO_SECONDS:
                charging = rng.uniform(0.3, 1.7)
                steps = [
                    (0.0, "plug_in", {}),
                    (0.05, "present_id_tag", {"id_tag": f"TAG-{n}{connector}"}),
                    (0.05 + charging, "present_id_tag", {"id_tag": f"TAG-{n}{connector}"}),
                    (0.1 + charging, "unplug", {}),
                ]
                for offset, kind, extra in steps:
                    event = {"at": round(at + offset, 3), "charge_point": cp, "connector": connector}
                    events.append({**event, "event": kind, **extra})
                at += 0.1 + charging + rng.uniform(0.1, 0.4)
    events += [
        {"at": 0.9, "charge_point": "CP-0002", "event": "network_down"},
        {"at": 0.0, "charge_point": "CP-0004", "event": "network_down"},
        {"at": 0.6, "charge_point": "CP-0004", "event": "network_up"},
        {"at": 1.3, "charge_point": "CP-0003", "event": "power_loss"},
    ]
    return events


# --- processes and conditions ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fleet_process(
    fleet_file: Path, csms_url: str, database: Path, log: Path
) -> AsyncIterator[trio.Process]:
    """``python -m fleet run`` with its output in ``log``; killed on the way out if still running."""
    command = [sys.executable, "-m", "fleet", "run", str(fleet_file), "--csms-url", csms_url]
    command += ["--database", str(database), "--ramp", "0"]
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
    """(5) Every charge point is in the database, with an empty queue and no open transaction."""
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


class RecordingCsms:
    """The embedded Central System, serving on a free port, with every record kept."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.central_system = CentralSystem(
            wall_clock=lambda: utc_now() + CSMS_CLOCK_AHEAD, on_record=self.records.append
        )
        self.url = ""

    async def serve(self, nursery: trio.Nursery) -> None:
        port = await nursery.start(self.central_system.serve, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{port}/ocpp"

    async def wait_disconnected(self) -> None:
        """Until every connection of a killed process is closed, so that nothing of it arrives later."""

        async def nobody() -> bool:
            await trio.lowlevel.checkpoint()
            return not self.central_system.connected

        await poll_until(nobody, 10, "the Central System sees the killed charge points disconnect")


async def drain(csms: RecordingCsms, fleet_file: Path, database: Path, log: Path, count: int) -> None:
    """A last run, without events: it stops interrupted transactions (PowerLoss) and delivers every queued
    message; it is stopped with SIGTERM once the database holds nothing more to send, and must exit 0."""
    started = trio.current_time()
    async with fleet_process(fleet_file, csms.url, database, log) as process:
        with trio.fail_after(30):
            for n in range(1, count + 1):
                await csms.central_system.wait_for(boot_notification(charge_point_id(n), started))

        async def empty() -> bool:
            return drained(await summaries(database))

        await poll_until(empty, DRAIN_TIMEOUT, "the last run empties every queue")
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
        return f"#{self.position} (boot {self.boot}) {self.action} {json.dumps(self.payload)[:300]}"


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def transaction_messages(records: Iterable[Record], cp: str) -> list[Message]:
    """The transaction-related CALLs of ``cp`` in the order received, each with its answer."""
    messages: list[Message] = []
    waiting: dict[str, Message] = {}
    boots = 0
    for record in records:
        if record.charge_point_id != cp:
            continue
        if record.direction == "in" and record.kind == "CALL":
            if record.action == "BootNotification":
                boots += 1
            elif record.action in TRANSACTION_ACTIONS and (
                record.action != "MeterValues" or "transactionId" in record.payload
            ):
                message = Message(len(messages), boots, record.action, record.payload)
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
    stop_reasons: dict[str, int] = attrs.Factory(dict)
    # Two checks are kept apart from the others, which raise at once, so that one run reports both.
    out_of_order: list[str] = attrs.Factory(list)
    """Messages older than one the charge point sent before them (PowerLoss stops aside)."""
    stale_power_loss_stops: list[str] = attrs.Factory(list)
    """PowerLoss stops whose timestamp is earlier than the last MeterValues of their transaction."""


def check_transaction_messages(records: Sequence[Record], charge_points: Iterable[str]) -> Summary:
    """Check the transaction-related messages each charge point sent; raise AssertionError at the first
    problem, naming the charge point and the message."""
    summary = Summary()
    given_anywhere: dict[int, str] = {}
    for cp in charge_points:
        _check_charge_point(cp, transaction_messages(records, cp), given_anywhere, summary)
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

    for message in messages:
        if message.answer_kind != "CALLRESULT":
            raise fail(message, f"answered with {message.answer_kind} {message.answer}")
        key = message.key()
        repeat = previous is not None and key == previous.key()
        if repeat:
            assert previous is not None
            # (4) A repeat is the message in flight at a kill (or power cut): sent again after the next boot.
            if message.boot == previous.boot:
                raise fail(
                    message, "sent twice within one boot: only the message in flight at a kill repeats"
                )
            summary.repeats += 1
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


# --- the tests ------------------------------------------------------------------------------------------


async def test_killed_runs_lose_nothing_and_reorder_nothing_real_processes(tmp_path: Path) -> None:
    """The slow real-process test: CRASH_ITERATIONS runs of a busy fleet, each killed with SIGKILL at a
    random moment, then a quiet run that must deliver everything (see the module docstring)."""
    rng = random.Random(SEED)
    database = tmp_path / "fleet.db"
    busy = tmp_path / "busy.toml"
    busy.write_text(fleet_toml(database, busy_scenario(rng)))
    quiet = tmp_path / "quiet.toml"
    quiet.write_text(fleet_toml(database, []))
    logs: list[Path] = []
    kills_with_queued_messages = kills_with_open_transactions = 0
    csms = RecordingCsms()
    async with trio.open_nursery() as nursery:
        await csms.serve(nursery)
        for iteration in range(CRASH_ITERATIONS):
            logs.append(tmp_path / f"run-{iteration:02}.log")
            started = trio.current_time()
            async with fleet_process(busy, csms.url, database, logs[-1]) as process:
                await trio.sleep(rng.uniform(*KILL_AFTER))  # the random moment of the kill
                if process.returncode is not None:
                    raise AssertionError(f"the run ended by itself:\n{await trio.Path(logs[-1]).read_text()}")
                process.kill()
                with trio.fail_after(10):
                    await process.wait()
            assert process.returncode == -signal.SIGKILL
            await csms.wait_disconnected()
            # A BootNotification means the database was made; a kill before may leave a file without tables.
            if any(map(boot_notification("*", started), csms.records)):
                found = await summaries(database)
                kills_with_queued_messages += any(summary.queue_depth for summary in found)
                kills_with_open_transactions += any(
                    connector.transaction is not None for summary in found for connector in summary.connectors
                )
        logs.append(tmp_path / "drain.log")
        await drain(csms, quiet, database, logs[-1], CHARGE_POINTS)
        nursery.cancel_scope.cancel()

    assert_no_crash(logs)
    assert_drained(await summaries(database), CHARGE_POINTS)
    cps = [charge_point_id(n) for n in range(1, CHARGE_POINTS + 1)]
    summary = check_transaction_messages(csms.records, cps)  # (1) to (4)
    # The test did what it meant to: kills with messages waiting and transactions running, PowerLoss stops.
    assert kills_with_queued_messages >= CRASH_ITERATIONS // 2, kills_with_queued_messages
    assert kills_with_open_transactions >= CRASH_ITERATIONS // 2, kills_with_open_transactions
    assert summary.transactions >= 4 * CRASH_ITERATIONS, summary
    assert summary.meter_values > 0, summary
    assert summary.stop_reasons.get("PowerLoss", 0) > 0, summary
    print(
        f"{summary}; kills with queued messages {kills_with_queued_messages}, with open transactions "
        f"{kills_with_open_transactions}"
    )
    # Each charge point's queue is in creation order (actors/outbox.py): no message is older than one before.
    assert not summary.out_of_order, "\n".join(summary.out_of_order)
    # A transaction interrupted by a kill is stopped with its last kept reading (actors/connector.py,
    # _stop_after_power_loss), which a MeterValues is taken with: the stop is never older than that sample.
    assert not summary.stale_power_loss_stops, "\n".join(summary.stale_power_loss_stops)


async def test_messages_queued_offline_arrive_after_a_kill(tmp_path: Path) -> None:
    """One charge point charges, loses its network silently, keeps queueing, and is killed; the next run,
    with the network up, delivers what was queued: in order, once, with the Central System's id."""
    database = tmp_path / "fleet.db"
    cp = charge_point_id(1)
    offline = tmp_path / "offline.toml"
    scenario = [
        {"at": 0.0, "charge_point": cp, "connector": 1, "event": "plug_in"},
        {"at": 0.05, "charge_point": cp, "connector": 1, "event": "present_id_tag", "id_tag": "TAG-1"},
        {"at": 1.5, "charge_point": cp, "event": "network_down"},
        {"at": 4.2, "charge_point": cp, "connector": 1, "event": "present_id_tag", "id_tag": "TAG-1"},
        {"at": 4.3, "charge_point": cp, "connector": 1, "event": "unplug"},
    ]
    offline.write_text(fleet_toml(database, scenario, count=1))
    online = tmp_path / "online.toml"
    online.write_text(fleet_toml(database, [], count=1))
    csms = RecordingCsms()
    async with trio.open_nursery() as nursery:
        await csms.serve(nursery)
        log = tmp_path / "offline.log"
        started = trio.current_time()
        async with fleet_process(offline, csms.url, database, log) as process:
            with trio.fail_after(30):  # then the database has its tables
                await csms.central_system.wait_for(boot_notification(cp, started))

            async def stopped_offline() -> bool:
                (found,) = await summaries(database)
                return found.queue_depth >= 3 and all(c.transaction is None for c in found.connectors)

            await poll_until(stopped_offline, 30, "the transaction stops with its messages queued")
            process.kill()
            with trio.fail_after(10):
                await process.wait()
        await csms.wait_disconnected()
        (at_kill,) = await summaries(database)
        assert at_kill.queue_head is not None
        before = transaction_messages(csms.records, cp)
        await drain(csms, online, database, tmp_path / "online.log", 1)
        nursery.cancel_scope.cancel()

    assert_no_crash([log, tmp_path / "online.log"])
    assert_drained(await summaries(database), 1)
    summary = check_transaction_messages(csms.records, [cp])
    assert not summary.out_of_order, summary.out_of_order
    after = transaction_messages(csms.records, cp)[len(before) :]
    assert [message.boot for message in after] == [2] * len(after)
    assert len(after) == at_kill.queue_depth, [message.show() for message in after]
    head = at_kill.queue_head
    assert (after[0].action, {**after[0].payload, "transactionId": 0}) == (
        head.action,
        {**head.payload, "transactionId": 0},
    )
    assert [message.action for message in after][-2:] == ["MeterValues", "StopTransaction"]
    assert after[-1].payload["reason"] == "Local"
    start = [message for message in before + after if message.action == "StartTransaction"][-1]
    assert start.answer is not None
    assert {message.payload["transactionId"] for message in after} == {start.answer["transactionId"]}
