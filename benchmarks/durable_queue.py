"""Durable offline-queue operations per second of the SQLite storage: group commit against commit per message.

What is measured: the number of *durable operations* per second, where one durable operation is one
``enqueue`` or one ``remove`` of the offline queue whose ``await`` has returned, i.e. whose transaction is
committed. Each charge point is one trio task that loops: enqueue a MeterValues payload (the JSON object of a
MeterValues.req with one meterValue of 4 sampled values: energy, power, current, voltage), then remove it by
its sequence number, as when its CALLRESULT arrives. The fleet is 1 charge point, or 1,000 charge points
(1,000 concurrent tasks, each with its own charge point id, all in one database file).

Two ways of writing, on the same code above them (``SqliteChargePointState.enqueue``/``remove``, which encode
the payload and call ``storage.queue.enqueue``/``storage.queue.remove``):

* **group**: ``storage.open_database(path, synchronous=...)`` and ``Database.charge_point(id)``, i.e. the real
  ``Database.write`` path: one writer thread that runs every change waiting for it in one transaction, each in
  a savepoint, and commits once (``storage.worker.commit_batch``);
* **per-message**: the same ``SqliteChargePointState`` on a small stand-in for ``Database`` defined here
  (:class:`PerMessageCommits`): a plain ``sqlite3`` connection to a file in WAL mode with the same
  ``synchronous`` setting, and every change in its own ``BEGIN IMMEDIATE`` ... ``COMMIT``, run with
  ``trio.to_thread.run_sync`` one at a time (serialized by a ``trio.Lock``).

Each case (way x fleet size x ``synchronous``) gets a fresh database file in a new temporary directory (by
default under the system's temporary directory, on a real disk; see ``--tmpdir``), migrated by
``open_database``. Every charge point first does one enqueue + remove that is not counted (it creates its
row); then all start together and run for ``--seconds``; the operations whose ``await`` returned inside that
window count. Also shown: commits in the window (``Database.commits``, or the stand-in's own count) and so
operations per commit, the latency of one operation (median and 99th percentile), the CPU time of the
process (all threads) as a share of one core, and that of the rest of the machine (``/proc/stat``: the
script waits for other benchmarks, not for tests or builds). After each case the file is checked: every
charge point's queue holds at most one message (one whose remove the end of the window cut off) and the
sequence counters add up to at least the enqueues counted.

The ways run in interleaved rounds (group, per-message, then per-message, group, ...) so that the noise of
the shared machine hits both alike; the figures are the medians of the rounds, and the ratio
group/per-message is also given per round. Before each case the script waits until no other process
whose command line holds ``benchmarks/`` is running (``pgrep -f``), so that another benchmark does not
disturb the figures (``--no-wait`` to skip that).

Run it from the repository root::

    .venv/bin/python benchmarks/durable_queue.py            # about 2 minutes with the defaults
    .venv/bin/python benchmarks/durable_queue.py --sizes 1000 --synchronous FULL --rounds 1 --seconds 2
"""

import argparse
import gc
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal, TypeVar, cast

import trio

from fleet.heap import GC_THRESHOLDS
from storage import Database, JsonObject, SqliteChargePointState, Synchronous, open_database

T = TypeVar("T")

Way = Literal["group", "per-message"]
WAYS: tuple[Way, ...] = ("group", "per-message")

TARGET_SIZE = 1000
TARGET_RATE = 20_000.0
"""The goal: at least 20,000 durable operations per second for 1,000 charge points (``synchronous=FULL``)."""

QUEUE_LIMIT = 10_000
CACHE_LIMIT = 1_000
"""The defaults of ``Database.charge_point``; the queue never holds more than one message here."""

QUIET_POLL = 5.0
"""Seconds between two looks for another benchmark."""

METER_VALUES: JsonObject = {
    "connectorId": 1,
    "transactionId": 48213,
    "meterValue": [
        {
            "timestamp": "2026-11-21T10:15:30.123Z",
            "sampledValue": [
                {
                    "value": "1834567.2",
                    "context": "Sample.Periodic",
                    "measurand": "Energy.Active.Import.Register",
                    "location": "Outlet",
                    "unit": "Wh",
                },
                {
                    "value": "10986.4",
                    "context": "Sample.Periodic",
                    "measurand": "Power.Active.Import",
                    "location": "Outlet",
                    "unit": "W",
                },
                {
                    "value": "15.9",
                    "context": "Sample.Periodic",
                    "measurand": "Current.Import",
                    "phase": "L1",
                    "location": "Outlet",
                    "unit": "A",
                },
                {
                    "value": "229.8",
                    "context": "Sample.Periodic",
                    "measurand": "Voltage",
                    "phase": "L1-N",
                    "location": "Outlet",
                    "unit": "V",
                },
            ],
        }
    ],
}


def charge_point_id(n: int) -> str:
    return f"QUEUE-{n:05}"


# --- one commit per message: the baseline -----------------------------------------------------------------


class PerMessageCommits:
    """Stands in for :class:`storage.Database` under ``SqliteChargePointState``: one transaction per change.

    A plain connection (WAL, the given ``synchronous``); each change runs in a thread of
    ``trio.to_thread.run_sync`` inside its own ``BEGIN IMMEDIATE`` ... ``COMMIT``, one change at a time.
    """

    def __init__(self, path: Path, synchronous: Synchronous) -> None:
        # check_same_thread=False: trio's thread cache may run successive changes on different threads;
        # the lock makes sure only one of them uses the connection at a time.
        self._connection = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        (mode,) = self._connection.execute("PRAGMA journal_mode=WAL").fetchone()
        if mode != "wal":
            raise RuntimeError(f"could not put {path} in WAL mode: {mode}")
        self._connection.execute(f"PRAGMA synchronous={synchronous}")
        self._lock = trio.Lock()
        self.commits = 0

    def _commit_one(self, change: Callable[[sqlite3.Connection], T]) -> T:
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            result = change(self._connection)
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")
        self.commits += 1
        return result

    async def write(self, change: Callable[[sqlite3.Connection], T]) -> T:
        async with self._lock:
            return await trio.to_thread.run_sync(self._commit_one, change)

    async def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError("the benchmark only writes")

    async def aclose(self) -> None:
        async with self._lock:
            await trio.to_thread.run_sync(self._connection.close)


# --- one case ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    operations: int
    """Durable operations whose ``await`` returned inside the window."""
    seconds: float
    commits: int
    """Transactions committed inside the window."""
    cpu_seconds: float
    other_cpu_seconds: float
    """CPU time of the rest of the machine (``/proc/stat``), to show a disturbed case."""
    latencies: list[float]
    """Seconds, one per counted operation."""

    @property
    def rate(self) -> float:
        return self.operations / self.seconds

    @property
    def commit_rate(self) -> float:
        return self.commits / self.seconds

    @property
    def per_commit(self) -> float:
        return self.operations / self.commits if self.commits else float("nan")

    @property
    def cpu_share(self) -> float:
        return self.cpu_seconds / self.seconds

    @property
    def other_cpu_share(self) -> float:
        return self.other_cpu_seconds / self.seconds

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


class _Window:
    """The measured window, shared by the tasks of a case."""

    def __init__(self, size: int) -> None:
        self.ready = 0
        self.size = size
        self.all_ready = trio.Event()
        self.started = trio.Event()
        self.stopped = False
        self.operations = 0
        self.latencies: list[float] = []


def _machine_busy_seconds() -> float:
    """CPU time spent by the whole machine so far (all CPUs, not idle and not waiting for I/O)."""
    with open("/proc/stat") as stat:
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        ticks = [int(value) for value in stat.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


async def _charge_point(state: SqliteChargePointState, window: _Window) -> None:
    """Enqueue and remove MeterValues until the window closes, counting the operations inside it."""
    await state.remove(await state.enqueue("MeterValues", METER_VALUES))  # creates its row; not counted
    window.ready += 1
    if window.ready == window.size:
        window.all_ready.set()
    await window.started.wait()
    latencies = window.latencies
    clock = time.perf_counter
    while not window.stopped:
        before = clock()
        seq = await state.enqueue("MeterValues", METER_VALUES)
        after = clock()
        if window.stopped:
            break
        window.operations += 1
        latencies.append(after - before)
        await state.remove(seq)
        if window.stopped:
            break
        window.operations += 1
        latencies.append(clock() - after)


async def _measure(
    store: Database | PerMessageCommits, commits: Callable[[], int], size: int, seconds: float
) -> Result:
    # PerMessageCommits has the two methods of Database that SqliteChargePointState calls (write, read).
    database = cast(Database, store)
    states = [
        SqliteChargePointState(database, charge_point_id(n), queue_limit=QUEUE_LIMIT, cache_limit=CACHE_LIMIT)
        for n in range(1, size + 1)
    ]
    window = _Window(size)
    async with trio.open_nursery() as nursery:
        for state in states:
            nursery.start_soon(_charge_point, state, window)
        await window.all_ready.wait()
        gc.collect()
        commits_before = commits()
        cpu_before = time.process_time()
        machine_before = _machine_busy_seconds()
        start = time.perf_counter()
        window.started.set()
        await trio.sleep(seconds)
        window.stopped = True
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_before
        others = max(0.0, _machine_busy_seconds() - machine_before - cpu)
        result = Result(window.operations, elapsed, commits() - commits_before, cpu, others, window.latencies)
        # Not worth waiting for: with one commit per message, 1,000 changes queue for the lock. A change
        # already handed to a thread still runs and commits; one may leave its message in the queue.
        nursery.cancel_scope.cancel()
    return result


async def _run_case(way: Way, size: int, synchronous: Synchronous, seconds: float, path: Path) -> Result:
    database = await open_database(path, synchronous=synchronous)  # creates and migrates the file
    if way == "group":
        async with database:
            return await _measure(database, lambda: database.commits, size, seconds)
    await database.aclose()
    baseline = PerMessageCommits(path, synchronous)
    try:
        return await _measure(baseline, lambda: baseline.commits, size, seconds)
    finally:
        await baseline.aclose()


def _check_file(path: Path, size: int) -> None:
    """Each queue holds at most one message (one cut off by the end of the window) and every charge point's
    sequence counter is at least 1 (its warm-up)."""
    with sqlite3.connect(path) as connection:
        (waiting,) = connection.execute("SELECT COUNT(*) FROM offline_queue").fetchone()
        (rows, smallest) = connection.execute(
            "SELECT COUNT(*), MIN(last_queue_seq) FROM charge_points"
        ).fetchone()
        (most,) = connection.execute(
            "SELECT COALESCE(MAX(n), 0)"
            " FROM (SELECT COUNT(*) AS n FROM offline_queue GROUP BY charge_point_id)"
        ).fetchone()
    connection.close()
    if most > 1 or rows != size or smallest < 1:
        raise AssertionError(
            f"{path}: {waiting} messages left, at most {most} per charge point, {rows} charge points, "
            f"smallest seq {smallest}"
        )


def _check_counts(path: Path, enqueued_at_least: int) -> None:
    """The committed sequence numbers cover at least the enqueues counted in the window (plus warm-ups)."""
    with sqlite3.connect(path) as connection:
        (total,) = connection.execute("SELECT SUM(last_queue_seq) FROM charge_points").fetchone()
    connection.close()
    if total < enqueued_at_least:
        raise AssertionError(f"{path}: {total} enqueues committed, but {enqueued_at_least} counted")


def run_case(way: Way, size: int, synchronous: Synchronous, seconds: float, tmpdir: str | None) -> Result:
    gc.collect()
    with tempfile.TemporaryDirectory(prefix="ocpp-fleet-queue-bench-", dir=tmpdir) as directory:
        path = Path(directory) / "queue.db"
        result = trio.run(_run_case, way, size, synchronous, seconds, path)
        _check_file(path, size)
        _check_counts(path, size + result.operations // 2)
    return result


# --- not disturbing (or being disturbed by) another benchmark ---------------------------------------------


def _ancestors() -> set[int]:
    pids = {os.getpid()}
    pid = os.getpid()
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                pid = int(stat.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            break
        pids.add(pid)
    return pids


def other_benchmarks() -> list[str]:
    """Command lines of running processes holding ``benchmarks/``, other than this one and its parents."""
    found = subprocess.run(["pgrep", "-af", "benchmarks/"], capture_output=True, text=True, check=False)
    mine = _ancestors()
    return [line for line in found.stdout.splitlines() if line and int(line.split()[0]) not in mine]


def wait_until_quiet() -> None:
    announced = False
    while others := other_benchmarks():
        if not announced:
            print(f"  waiting for another benchmark to end: {others[0]}", file=sys.stderr)
            announced = True
        time.sleep(QUIET_POLL)


# --- all cases, interleaved -------------------------------------------------------------------------------

Key = tuple[Synchronous, int, Way]


def measure(
    sizes: Sequence[int],
    synchronous_settings: Sequence[Synchronous],
    rounds: int,
    seconds: float,
    tmpdir: str | None,
    wait: bool,
) -> dict[Key, list[Result]]:
    results: dict[Key, list[Result]] = {}
    for round_number in range(rounds):
        order = WAYS if round_number % 2 == 0 else WAYS[::-1]
        for synchronous in synchronous_settings:
            for size in sizes:
                for way in order:
                    if wait:
                        wait_until_quiet()
                    result = run_case(way, size, synchronous, seconds, tmpdir)
                    results.setdefault((synchronous, size, way), []).append(result)
                    print(
                        f"  round {round_number + 1}/{rounds} synchronous={synchronous} N={size:,} {way}: "
                        f"{result.rate:,.0f} ops/s, {result.per_commit:,.1f} ops/commit, "
                        f"CPU {result.cpu_share:.0%}, other processes {result.other_cpu_share:.0%}",
                        file=sys.stderr,
                    )
    return results


# --- report -----------------------------------------------------------------------------------------------


def _versions() -> list[str]:
    packages = ", ".join(f"{package} {metadata.version(package)}" for package in ("ocpp-fleet", "trio"))
    return [
        f"Python {platform.python_version()} ({platform.python_implementation()}), SQLite "
        f"{sqlite3.sqlite_version}, {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        packages,
    ]


def _median(results: list[Result], figure: Callable[[Result], float]) -> float:
    return statistics.median(figure(result) for result in results)


def report(
    results: dict[Key, list[Result]],
    sizes: Sequence[int],
    synchronous_settings: Sequence[Synchronous],
    rounds: int,
    seconds: float,
    tmpdir: str | None,
) -> None:
    print()
    for line in _versions():
        print(line)
    print(
        f"database files in a fresh directory under {tmpdir or tempfile.gettempdir()} per case; "
        f"{rounds} interleaved rounds of {seconds:g} s per case; medians of the rounds"
    )
    for synchronous in synchronous_settings:
        durable = "durable across a power cut" if synchronous == "FULL" else "durable across a killed process"
        print()
        print(f"synchronous={synchronous} ({durable})")
        print()
        print(
            "| charge points | commit | durable ops/s | commits/s | ops per commit | latency p50 (ms) "
            "| latency p99 (ms) | CPU (% of one core) | other processes (% of one core) |"
        )
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for size in sizes:
            for way in WAYS:
                runs = results[(synchronous, size, way)]
                print(
                    f"| {size:,} | {way} | {_median(runs, lambda r: r.rate):,.0f} "
                    f"| {_median(runs, lambda r: r.commit_rate):,.0f} "
                    f"| {_median(runs, lambda r: r.per_commit):,.1f} "
                    f"| {_median(runs, lambda r: r.latency_ms(0.5)):.2f} "
                    f"| {_median(runs, lambda r: r.latency_ms(0.99)):.2f} "
                    f"| {_median(runs, lambda r: 100 * r.cpu_share):.0f} "
                    f"| {_median(runs, lambda r: 100 * r.other_cpu_share):.0f} |"
                )
        print()
        print("| charge points | group/per-message (medians) | range over rounds |")
        print("|---:|---:|---:|")
        for size in sizes:
            group = results[(synchronous, size, "group")]
            single = results[(synchronous, size, "per-message")]
            per_round = [g.rate / s.rate for g, s in zip(group, single, strict=True)]
            ratio = _median(group, lambda r: r.rate) / _median(single, lambda r: r.rate)
            print(f"| {size:,} | {ratio:.1f}x | {min(per_round):.1f}x to {max(per_round):.1f}x |")
    if "FULL" in synchronous_settings and TARGET_SIZE in sizes:
        rate = _median(results[("FULL", TARGET_SIZE, "group")], lambda r: r.rate)
        verdict = "met" if rate >= TARGET_RATE else "NOT met"
        print()
        print(
            f"target: at least {TARGET_RATE:,.0f} durable operations/s for {TARGET_SIZE:,} charge points "
            f"with group commit and synchronous=FULL: {verdict} ({rate:,.0f}/s)"
        )


def _positive_ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of whole numbers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be at least 1: {text!r}")
    return values


def _synchronous_list(text: str) -> list[Synchronous]:
    values = [part.strip().upper() for part in text.split(",") if part.strip()]
    if not values or any(value not in ("FULL", "NORMAL") for value in values):
        raise argparse.ArgumentTypeError(f"a comma-separated list of FULL and NORMAL: {text!r}")
    return cast(list[Synchronous], values)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=(
            "Durable offline-queue operations per second (enqueue a MeterValues, remove it; each counted "
            "once its await returned, i.e. committed) of the SQLite storage, for 1 and 1,000 charge points "
            "in one database: group commit (storage.open_database) against one commit per message, in "
            "interleaved rounds. Prints Markdown tables of the medians and the ratio group/per-message."
        ),
        epilog=(
            "Total time is about rounds x seconds x 2 (ways) x sizes x synchronous settings, plus a little, "
            "and any waiting for other benchmarks."
        ),
    )
    parser.add_argument(
        "--sizes",
        type=_positive_ints,
        default=[1, TARGET_SIZE],
        help="comma-separated numbers of charge points (default: 1,1000)",
    )
    parser.add_argument(
        "--synchronous",
        type=_synchronous_list,
        default=["FULL", "NORMAL"],
        help="comma-separated PRAGMA synchronous settings to run (default: FULL,NORMAL)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: %(default)s)")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="measured window of one case (default: %(default)s)"
    )
    parser.add_argument(
        "--tmpdir",
        help="where to make the temporary directory of each database file (default: the system's, "
        f"currently {tempfile.gettempdir()}); it must be on a real disk for the figures to mean anything",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="do not wait for other benchmarks (pgrep -f benchmarks/) to end",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be at least 1 and --seconds positive")

    gc.set_threshold(*GC_THRESHOLDS)
    cases = args.rounds * len(WAYS) * len(args.sizes) * len(args.synchronous)
    print(f"{cases} cases of {args.seconds:g} s", file=sys.stderr)
    results = measure(args.sizes, args.synchronous, args.rounds, args.seconds, args.tmpdir, not args.no_wait)
    report(results, args.sizes, args.synchronous, args.rounds, args.seconds, args.tmpdir)


if __name__ == "__main__":
    main()
