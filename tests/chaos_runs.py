"""The chaos run of ``test_chaos.py`` (small, in the suite) and ``benchmarks/chaos.py`` (longer, by hand).

A fleet charges against a recording Central System in this process (``fleet_runs.RecordingCsms``), through
successive ``python -m fleet run`` processes on one SQLite database:

1. **busy**, ``--report``. Every connector charges in short sessions back to back (scenario events),
   MeterValues every ``MeterValueSampleInterval`` seconds, and charge points lose their power at random
   moments (``power_loss`` events). Once every charge point has booted, the Central System is restarted at
   random moments (every connection closes, it is down a moment, then serves again on its port) and drops
   the connections of random charge points. It is stopped with SIGTERM ``seconds`` later and writes its
   report.
2. **killed** (``kills`` of them): the same, killed with SIGKILL at a random moment instead. A killed run
   writes no report.
3. **drain**: ``--report``, the same charge points without events or chaos: the transactions a kill or a
   power cut interrupted stop with reason PowerLoss and every queued message is delivered; it is stopped
   with SIGTERM once the database holds nothing more to send and every charge point is connected.

Then :func:`run_chaos` checks, raising AssertionError at the first problem: no actor crashed; every charge
point's last BootNotification was Accepted; every transaction-related message reached the Central System in
creation order, with its ids, once (only one in flight when its connection ended repeats:
``fleet_runs.check_transaction_messages``); the database holds no queued message and no open transaction;
and the reports account for every message (:func:`account`).
"""

import math
import random
import signal
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio
from fleet_runs import (
    RecordingCsms,
    Seen,
    Summary,
    assert_drained,
    assert_no_crash,
    boot_notification,
    charge_point_id,
    check_transaction_messages,
    drain,
    fleet_process,
    fleet_toml,
    summaries,
)

from fleet.report import load_report

__all__ = ["Account", "ChaosOutcome", "ChaosSettings", "account", "print_outcome", "run_chaos"]

CONFIGURATION = {
    "MeterValuesSampledData": ["Energy.Active.Import.Register", "Power.Active.Import"],
    "StopTxnSampledData": ["Energy.Active.Import.Register"],
    # Transactions start at once, offline too: no round trip is needed to start.
    "LocalPreAuthorize": True,
    "AllowOfflineTxForUnknownId": True,
}
BOOT_TIMEOUT = 60.0
"""Seconds every charge point of a run may take to send its BootNotification."""
STOP_TIMEOUT = 10.0
"""Seconds a fleet process may take to end after SIGTERM or SIGKILL."""


@attrs.frozen
class ChaosSettings:
    charge_points: int = 50
    seconds: float = 8.0
    """How long the busy run lasts; a killed run is killed between a quarter and three quarters of it after
    every charge point booted."""
    seed: int = 1
    kills: int = 1
    sample_interval: int = 1
    """MeterValueSampleInterval, seconds."""
    restarts: int = 2
    """Central System restarts during each busy or killed run."""
    down: tuple[float, float] = (0.1, 0.5)
    """Seconds the Central System is down at a restart."""
    drop_every: tuple[float, float] = (0.05, 0.3)
    """Seconds between two connections the Central System drops."""
    power_losses: int = 10
    """Power losses in the scenario (so in each busy or killed run), at random charge points."""


@attrs.define
class Run:
    """One fleet process and the time window of its messages."""

    name: str
    start: float
    end: float = math.inf
    report: Mapping[str, Any] | None = None
    """Its report (``ocpp-fleet-report/1``), if it wrote one."""


@attrs.frozen
class Account:
    """One action in one run: what its report counts and what the Central System recorded."""

    run: str
    action: str
    sent: int
    answered: int
    errors: int
    timeouts: int
    lost: int
    received: int
    """CALLs of this action the Central System received during the run."""
    results: int
    """CALLRESULTs it sent for them."""


@attrs.define
class ChaosOutcome:
    settings: ChaosSettings
    runs: list[Run]
    summary: Summary
    accounts: list[Account]
    received: Counter[str]
    """CALLs received by action over all runs, the killed ones too."""
    restarts: int = 0
    drops: int = 0
    connections: int = 0
    """Connections the Central System accepted."""
    seconds: float = 0.0
    """Wall-clock seconds the whole run took."""


def busy_scenario(rng: random.Random, settings: ChaosSettings) -> list[dict[str, Any]]:
    """Sessions back to back on every connector until ``settings.seconds``, and power losses."""
    events: list[dict[str, Any]] = []
    for n in range(1, settings.charge_points + 1):
        cp = charge_point_id(n)
        at = 0.05 + 0.01 * n
        while at < settings.seconds:
            charging = rng.uniform(0.5, 2.5)
            tag = f"TAG-{n}"
            steps = [
                (0.0, "plug_in", {}),
                (0.05, "present_id_tag", {"id_tag": tag}),
                (0.05 + charging, "present_id_tag", {"id_tag": tag}),
                (0.1 + charging, "unplug", {}),
            ]
            for offset, kind, extra in steps:
                event = {"at": round(at + offset, 3), "charge_point": cp, "connector": 1}
                events.append({**event, "event": kind, **extra})
            at += 0.1 + charging + rng.uniform(0.1, 0.5)
    for _ in range(settings.power_losses):
        cp = charge_point_id(rng.randint(1, settings.charge_points))
        events.append(
            {"at": round(rng.uniform(0.5, settings.seconds), 3), "charge_point": cp, "event": "power_loss"}
        )
    return events


async def make_chaos(
    csms: RecordingCsms,
    rng: random.Random,
    settings: ChaosSettings,
    outcome: ChaosOutcome,
    within: float,
    restarted: trio.Event,
) -> None:
    """Restart the Central System ``settings.restarts`` times, at random moments within ``within`` seconds
    from now (not in the first and last tenth; ``restarted`` is set once all are done, which a restart that
    takes long may delay), and drop a random connected charge point's connection every
    ``settings.drop_every`` seconds; until cancelled."""
    begin = trio.current_time()
    restarts = sorted(begin + rng.uniform(0.1, 0.9) * within for _ in range(settings.restarts))
    next_drop = begin + rng.uniform(*settings.drop_every)
    while True:
        if not restarts:
            restarted.set()
        if restarts and restarts[0] <= next_drop:
            await trio.sleep_until(restarts.pop(0))
            await csms.restart(rng.uniform(*settings.down))
            continue
        await trio.sleep_until(next_drop)
        next_drop = trio.current_time() + rng.uniform(*settings.drop_every)
        connected = sorted(csms.central_system.connected)
        if connected and csms.central_system.disconnect(rng.choice(connected), "dropped by the chaos"):
            outcome.drops += 1


def account(run: Run, seen: Sequence[Seen], charge_points: int) -> list[Account]:
    """Check a run's report against the Central System's records of its time window, action by action:

    - every CALL the report counts as sent ended one way (``answered``, ``errors``, ``timeouts``, ``lost``)
      or was still waiting for its answer: the report is made as the fleet stands when the run stops, before
      the charge points wind down, and OCPP-J allows one outstanding CALL per charge point, so at most
      ``charge_points`` of all the actions' CALLs are in flight;
    - ``answered <= results <= received <= sent``: an answered CALL was received and answered; a CALL the
      Central System received was sent. So the CALLs lost are exactly those the Central System never got
      (``sent - received``) and those whose answer never got back (``received - answered``), and every
      CALL the Central System received is one the report counts;
    - this Central System answers everything: no CALLERROR, and no run lasts an answer timeout.
    """
    assert run.report is not None
    received: Counter[str] = Counter()
    results: Counter[str] = Counter()
    for item in seen:
        record = item.record
        if record.action is None or not run.start <= record.time <= run.end:
            continue
        if record.direction == "in" and record.kind == "CALL":
            received[record.action] += 1
        elif record.direction == "out" and record.kind == "CALLRESULT":
            results[record.action] += 1
    accounts = []
    in_flight = 0
    reported = run.report["actions"]
    for action in sorted(set(reported) | set(received)):
        entry = reported.get(action)
        assert entry is not None, f"{run.name}: the Central System received {action}, the report has none"
        errors = sum(entry["errors"].values())
        row = Account(
            run.name,
            action,
            sent=entry["sent"],
            answered=entry["answered"],
            errors=errors,
            timeouts=entry["timeouts"],
            lost=entry["lost"],
            received=received[action],
            results=results[action],
        )
        waiting = row.sent - (row.answered + row.errors + row.timeouts + row.lost)
        assert waiting >= 0, row
        in_flight += waiting
        assert row.answered <= row.results <= row.received <= row.sent, row
        assert (row.errors, row.timeouts) == (0, 0), row
        accounts.append(row)
    assert in_flight <= charge_points, (
        f"{run.name}: {in_flight} CALLs in flight for {charge_points} charge points"
    )
    return accounts


def assert_accepted(seen: Sequence[Seen], charge_points: Sequence[str]) -> None:
    """Every charge point's last BootNotification was answered Accepted."""
    answers = {
        (s.record.charge_point_id, s.record.unique_id): s.record.payload
        for s in seen
        if s.record.direction == "out" and s.record.kind == "CALLRESULT"
    }
    last: dict[str, str] = {}
    for s in seen:
        if s.record.direction == "in" and s.record.kind == "CALL" and s.record.action == "BootNotification":
            last[s.record.charge_point_id] = s.record.unique_id
    statuses = {cp: answers.get((cp, last.get(cp, "")), {}).get("status") for cp in charge_points}
    assert set(statuses.values()) == {"Accepted"}, {cp: s for cp, s in statuses.items() if s != "Accepted"}


async def run_chaos(directory: Path, settings: ChaosSettings) -> ChaosOutcome:
    """The whole chaos run (the module's docstring), with its files in ``directory``; its outcome."""
    began = time.monotonic()
    rng = random.Random(settings.seed)
    database = directory / "fleet.db"
    count = settings.charge_points
    configuration = {**CONFIGURATION, "MeterValueSampleInterval": settings.sample_interval}
    busy = directory / "busy.toml"
    busy.write_text(
        fleet_toml(
            database, busy_scenario(rng, settings), count=count, connectors=1, configuration=configuration
        )
    )
    quiet = directory / "quiet.toml"
    quiet.write_text(fleet_toml(database, [], count=count, connectors=1, configuration=configuration))
    cps = [charge_point_id(n) for n in range(1, count + 1)]
    csms = RecordingCsms()
    outcome = ChaosOutcome(settings, [], Summary(), [], Counter())
    logs: list[Path] = []
    async with trio.open_nursery() as nursery:
        await csms.serve(nursery)

        async def chaotic_run(name: str, lasting: float, ending: signal.Signals, *extra: str) -> int:
            """A busy process, the chaos once every charge point booted, ``ending`` sent to the process
            ``lasting`` seconds later (once the restarts are done); its exit status."""
            run = Run(name, trio.current_time())
            logs.append(directory / f"{name.replace(' ', '-')}.log")
            async with fleet_process(busy, csms.url, database, logs[-1], *extra) as process:
                async with trio.open_nursery() as chaos:
                    with trio.fail_after(BOOT_TIMEOUT):
                        for cp in cps:
                            await csms.central_system.wait_for(boot_notification(cp, run.start))
                    restarted = trio.Event()
                    chaos.start_soon(make_chaos, csms, rng, settings, outcome, lasting, restarted)
                    await trio.sleep(lasting)
                    await restarted.wait()
                    assert process.returncode is None, logs[-1].read_text()
                    process.send_signal(ending)
                    chaos.cancel_scope.cancel()
                with trio.fail_after(STOP_TIMEOUT):
                    await process.wait()
            await csms.wait_disconnected()
            run.end = trio.current_time()
            outcome.runs.append(run)
            return process.returncode

        # 1. busy, stopped with SIGTERM: it writes its report
        report = directory / "busy.json"
        assert await chaotic_run("busy", settings.seconds, signal.SIGTERM, "--report", str(report)) == 0
        outcome.runs[-1].report = load_report(report)

        # 2. killed with SIGKILL at a random moment
        for kill in range(settings.kills):
            lasting = rng.uniform(0.25, 0.75) * settings.seconds
            assert await chaotic_run(f"killed {kill + 1}", lasting, signal.SIGKILL) == -signal.SIGKILL

        # 3. the drain, with a report
        run = Run("drain", trio.current_time())
        logs.append(directory / "drain.log")
        report = directory / "drain.json"
        await drain(csms, quiet, database, logs[-1], count, "--report", str(report))
        await csms.wait_disconnected()
        run.end, run.report = trio.current_time(), load_report(report)
        outcome.runs.append(run)
        nursery.cancel_scope.cancel()

    assert_no_crash(logs)
    assert_drained(await summaries(database), count)
    assert_accepted(csms.seen, cps)
    outcome.summary = check_transaction_messages(csms.seen, cps)
    assert not outcome.summary.out_of_order, "\n".join(outcome.summary.out_of_order)
    assert not outcome.summary.stale_power_loss_stops, "\n".join(outcome.summary.stale_power_loss_stops)
    for run in outcome.runs:
        if run.report is not None:
            outcome.accounts += account(run, csms.seen, count)
    outcome.received = Counter(
        s.record.action
        for s in csms.seen
        if s.record.direction == "in" and s.record.kind == "CALL" and s.record.action
    )
    outcome.restarts = csms.restarts
    outcome.connections = csms.central_system.connections
    outcome.seconds = time.monotonic() - began
    return outcome


def print_outcome(outcome: ChaosOutcome) -> None:
    """The accounting, for people."""
    settings, summary = outcome.settings, outcome.summary
    print(
        f"{settings.charge_points} charge points, seed {settings.seed}: a busy run of {settings.seconds:g} s,"
        f" {settings.kills} killed with SIGKILL, a drain; {outcome.seconds:.1f} s in all"
    )
    print(
        f"chaos: {outcome.restarts} Central System restarts, {outcome.drops} connections dropped, "
        f"{settings.power_losses} power losses per busy or killed run, {settings.kills} kills; "
        f"{outcome.connections} connections accepted"
    )
    reconnects = sum(
        run.report["charge_points"]["reconnects"] for run in outcome.runs if run.report is not None
    )
    print(f"reconnects counted by the reports (the killed runs have none): {reconnects}")
    stops = ", ".join(f"{reason} {n}" for reason, n in sorted(summary.stop_reasons.items()))
    print(
        f"transactions started {summary.transactions}, stopped {sum(summary.stop_reasons.values())} ({stops})"
    )
    print()
    print("per action: the Central System received (all runs), repeats (sent again on a new connection)")
    for action, received in sorted(outcome.received.items()):
        print(f"  {action:<20} received {received:>7}   repeated {summary.repeated.get(action, 0):>4}")
    print()
    print("per run with a report: sent, answered, lost (report) / received, answered (Central System)")
    for row in outcome.accounts:
        print(
            f"  {row.run:<6} {row.action:<20} sent {row.sent:>7} answered {row.answered:>7}"
            f" lost {row.lost:>4}  / received {row.received:>7} answered {row.results:>7}"
        )
