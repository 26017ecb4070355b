"""Crash tests with real processes: ``ocpp-fleet run`` killed with SIGKILL, then started again.

The slow tests of the suite: they run ``python -m fleet run`` as a child process against a recording Central
System in the test process, on the real clock (a child process cannot run on trio's MockClock), and take
about a minute together. Nothing in them sleeps "a while": every wait is for a condition, under a deadline.

What they hold the product to (DESIGN.md, "persistence is a write-ahead promise"): whatever the moment of a
SIGKILL, the Central System receives every transaction-related message of every charge point, in the order
they were created, with the transaction ids it gave that charge point; only the message in flight at a kill
may arrive twice, as an immediate repeat after the next boot. The checks are in ``fleet_runs.py``, which
``test_chaos.py`` shares.
"""

import random
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import fleet_runs
import trio
from fleet_runs import (
    RecordingCsms,
    assert_drained,
    assert_no_crash,
    boot_notification,
    charge_point_id,
    check_transaction_messages,
    drain,
    fleet_process,
    poll_until,
    summaries,
    transaction_messages,
)

CRASH_ITERATIONS = 30
"""Runs killed with SIGKILL at a random moment before the last run, which drains every queue."""

KILLED_AT_START = 0.25
"""The share of runs killed while the process starts: between ``KILL_AFTER_START`` seconds after it was
started, the database perhaps not made yet."""

KILL_AFTER_START = (0.05, 1.0)

KILL_AFTER_BOOT = (0.0, 2.5)
"""The other runs are killed between these many seconds after the Central System received their first
BootNotification: counted from there, and not from the start of a process that may take a second or two to
start on a busy machine, a kill still comes in the middle of the scenario."""

SEED = 1606
CHARGE_POINTS = 4
CONNECTORS = 2
SCENARIO_SECONDS = 3.0
"""The scenario of the killed runs keeps charge points busy this long after the fleet starts."""

CONFIGURATION = {
    "MeterValueSampleInterval": 1,
    "MeterValuesSampledData": ["Energy.Active.Import.Register", "Power.Active.Import"],
    "StopTxnSampledData": ["Energy.Active.Import.Register"],
    # Transactions start at once, offline too: the scenario's idTags need no round trip to start.
    "LocalPreAuthorize": True,
    "AllowOfflineTxForUnknownId": True,
}


# --- the fleet file ------------------------------------------------------------------------------------


def fleet_toml(database: Path, scenario: Iterable[dict[str, Any]], *, count: int = CHARGE_POINTS) -> str:
    """A fleet file of ``count`` charge points with ``CONNECTORS`` connectors each, no random drivers.

    Drivers of ``[charge_points.sessions]`` badge 5 s after plugging in (fleet/drivers.py), later than most
    kills here; scenario events start and stop transactions within the first seconds of a run instead.
    """
    return fleet_runs.fleet_toml(
        database, scenario, count=count, connectors=CONNECTORS, configuration=CONFIGURATION
    )


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


async def until_the_moment_of_the_kill(rng: random.Random, csms: RecordingCsms, started: float) -> None:
    """Return at a random moment of the run started at trio time ``started``: early in the start of the
    process, or after the fleet's first BootNotification (see ``KILLED_AT_START``)."""
    at_start = rng.random() < KILLED_AT_START
    after_start, after_boot = rng.uniform(*KILL_AFTER_START), rng.uniform(*KILL_AFTER_BOOT)
    if at_start:
        await trio.sleep_until(started + after_start)
        return
    with trio.fail_after(30):
        await csms.central_system.wait_for(boot_notification("*", started))
    await trio.sleep(after_boot)


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
                await until_the_moment_of_the_kill(rng, csms, started)
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
    summary = check_transaction_messages(csms.seen, cps)  # (1) to (4)
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
        before = transaction_messages(csms.seen, cp)
        await drain(csms, online, database, tmp_path / "online.log", 1)
        nursery.cancel_scope.cancel()

    assert_no_crash([log, tmp_path / "online.log"])
    assert_drained(await summaries(database), 1)
    summary = check_transaction_messages(csms.seen, [cp])
    assert not summary.out_of_order, summary.out_of_order
    after = transaction_messages(csms.seen, cp)[len(before) :]
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
