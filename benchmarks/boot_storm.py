"""Boot storm: how fast a fleet of N charge points registers with a Central System over loopback TCP.

What is measured, per run: N simulated charge points with 2 connectors each connect over TCP on 127.0.0.1 to
the embedded Central System (:class:`fleet.csms.CentralSystem`, which accepts every BootNotification), send
BootNotification and, once Accepted, the StatusNotifications of connectors 0, 1 and 2, each answered. A charge
point is done when the Central System has handed the answer to its third StatusNotification to the
WebSocket; the run is done when all N are.

Three processes take part, so that the fleet process is measured alone and the fleet and the Central System
each get one of the two cores:

* the **Central System** process (this file, ``--role csms``) serves on a free port and watches its own
  records (``on_record``): when the N-th charge point gets its third StatusNotification answer it notes
  ``time.monotonic()``, its CPU time and its message counters (``messages_in`` + ``messages_out``, WebSocket
  messages in both directions) and prints them as one JSON line;
* the **fleet** process: ours (this file, ``--role fleet``: ``fleet.runner.Fleet`` with ``MemoryStorage``
  and ``tcp_dialer``, started with ``ramp=0``, i.e. all at once) or the baseline
  (``benchmarks/boot_storm_baseline.py``: N ``ocpp.v16.ChargePoint`` on asyncio + ``websockets``, doing the
  same). After its imports it reads ``VmRSS`` from ``/proc/self/status``, ``time.process_time()`` and
  ``time.monotonic()``, then creates and starts the charge points. When told on standard input, it reads
  the CPU time and ``VmHWM`` (peak RSS) again and prints them as one JSON line; tearing the connections
  down is not measured (it leaves with ``os._exit``);
* this **driver** starts a Central System, then a fleet against it, waits for the Central System's line
  (blocking on a pipe, no polling), tells the fleet to report, and kills both.

Figures: boot time = the Central System's completion time minus the fleet's start time (both
``CLOCK_MONOTONIC``, which is system-wide); messages/s = messages counted at the Central System / boot time;
fleet CPU per charge point = ``process_time`` delta of the fleet process / N; fleet memory per charge point =
(``VmHWM`` at the end - ``VmRSS`` before the charge points were created) / N. The Central System's own CPU
per charge point is shown too, to tell which side is the bottleneck.

The runs are interleaved (ours N=100, baseline N=100, ours N=1,000, ...), each with fresh processes, so
that the noise of the shared machine hits both fleets alike. N=1,000 is also run at the default ramp of
``ocpp-fleet run`` (200 charge points per second), for information.

Run it from the repository root::

    .venv/bin/python benchmarks/boot_storm.py                      # about 1.5 minutes with the defaults
    .venv/bin/python benchmarks/boot_storm.py --sizes 100,1000 --skip-baseline
"""

import argparse
import functools
import gc
import json
import logging
import os
import platform
import queue
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import trio

from actors.connection import tcp_dialer
from fleet.csms import CentralSystem, Record
from fleet.fleetfile import ChargePointSpec
from fleet.heap import GC_THRESHOLDS, freeze_while_growing
from fleet.runner import DEFAULT_RAMP, Fleet
from storage import MemoryStorage

CONNECTORS = 2
STATUS_NOTIFICATIONS = CONNECTORS + 1
"""Connector 0 (the charge point itself) and each connector."""

TARGET_SIZE = 1000
TARGET_SECONDS = 10.0
"""The goal: 1,000 charge points started at once all booted in under 10 s."""

BASELINE_SCRIPT = Path(__file__).with_name("boot_storm_baseline.py")
CSMS_STARTUP_TIMEOUT = 30.0
REPORT_TIMEOUT = 30.0


def charge_point_id(n: int) -> str:
    """The id of the n-th charge point of a run (the baseline uses the same ids)."""
    return f"STORM-{n:05}"


def memory_kib() -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of this process, in KiB."""
    values: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


# --- the Central System process ---------------------------------------------------------------------------


class _Completion:
    """Done once every charge point's StatusNotifications are answered."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.finished = 0
        self.done_at: float | None = None
        self.done = trio.Event()
        self._answered: dict[str, int] = {}

    def __call__(self, record: Record) -> None:
        if record.direction != "out" or record.kind != "CALLRESULT" or record.action != "StatusNotification":
            return
        answered = self._answered.get(record.charge_point_id, 0) + 1
        self._answered[record.charge_point_id] = answered
        if answered == STATUS_NOTIFICATIONS:
            self.finished += 1
            if self.finished == self.count:
                self.done_at = time.monotonic()
                self.done.set()


async def _wait_for_line_on_stdin() -> None:
    await trio.lowlevel.wait_readable(sys.stdin.fileno())


async def serve_csms(count: int) -> None:
    """Serve until killed; print the port, then one JSON line when done (or when asked on standard input)."""
    completion = _Completion(count)
    central_system = CentralSystem(on_record=completion, max_records=1000)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(central_system.serve, "127.0.0.1", 0)
        cpu_ready = time.process_time()
        print(f"port {port}", flush=True)
        async with trio.open_nursery() as waiters:
            for wait in (completion.done.wait, _wait_for_line_on_stdin):
                waiters.start_soon(_first_then_cancel, wait, waiters.cancel_scope)
        report = {
            "complete": completion.done_at is not None,
            "done_at": completion.done_at,
            "finished": completion.finished,
            "messages": central_system.messages_in + central_system.messages_out,
            "cpu": time.process_time() - cpu_ready,
        }
        print(json.dumps(report), flush=True)
        # Keep the connections open while the fleet reports; the driver kills this process.


async def _first_then_cancel(wait: Any, scope: trio.CancelScope) -> None:
    await wait()
    scope.cancel()


# --- our fleet process ------------------------------------------------------------------------------------


class _ProblemCounter(logging.Handler):
    """Counts what the charge points log (only failures and retries are logged); shows the first few."""

    SHOWN = 3

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.count <= self.SHOWN:
            print(f"fleet: {record.getMessage()}", file=sys.stderr)


async def run_fleet(url: str, count: int, ramp: float) -> None:
    """Boot ``count`` charge points of ours against ``url``; report when asked on standard input."""
    problems = _ProblemCounter()
    for name in ("actors", "fleet"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(problems)
    specs = [
        ChargePointSpec(
            id=charge_point_id(n),
            serial=f"SN-{n:06}",
            connectors=CONNECTORS,
            vendor="ocpp-fleet",
            model="BootStorm",
            firmware="1.0.0",
            csms_url=url,
            configuration={},
        )
        for n in range(1, count + 1)
    ]
    rss_before = memory_kib()["VmRSS"]
    cpu_before = time.process_time()
    start = time.monotonic()
    fleet = Fleet(specs, storage=MemoryStorage(), dialer=tcp_dialer)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(fleet.run, ramp=ramp))
        nursery.start_soon(freeze_while_growing)  # as the ocpp-fleet command does (fleet.heap)
        await _wait_for_line_on_stdin()
        cpu = time.process_time() - cpu_before
        memory = memory_kib()
        counts = fleet.counts()
        report = {
            "start": start,
            "cpu": cpu,
            "rss_before": rss_before,
            "peak": memory["VmHWM"],
            "accepted": counts.accepted,
            "problems": problems.count + counts.crashes,
        }
        print(json.dumps(report), flush=True)
        os._exit(0)  # closing thousands of connections is not measured


# --- the driver -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """The figures of one run."""

    fleet: str
    count: int
    ramp: float
    complete: bool
    seconds: float
    messages: int
    fleet_cpu: float
    fleet_memory_kib: int
    csms_cpu: float
    accepted: int
    problems: int

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_ms_per_charge_point(self) -> float:
        return 1000 * self.fleet_cpu / self.count

    @property
    def memory_kib_per_charge_point(self) -> float:
        return self.fleet_memory_kib / self.count

    @property
    def csms_cpu_ms_per_charge_point(self) -> float:
        return 1000 * self.csms_cpu / self.count


class _Worker:
    """A child process speaking in lines: we write a line to ask it to report, it answers with lines."""

    def __init__(self, command: Sequence[str]) -> None:
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True).start()

    def _pump(self, stdout: TextIO) -> None:
        for line in stdout:
            self._lines.put(line)
        self._lines.put(None)

    def read_line(self, timeout: float) -> str | None:
        """The next line; ``None`` on timeout or if the process ended."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def ask(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("report\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def _worker_command(role: str, *arguments: str) -> list[str]:
    return [sys.executable, __file__, "--role", role, *arguments]


def run_once(fleet: str, count: int, ramp: float, timeout: float) -> Run:
    """One boot storm with a fresh Central System process and a fresh fleet process."""
    csms = _Worker(_worker_command("csms", "--count", str(count)))
    try:
        line = csms.read_line(CSMS_STARTUP_TIMEOUT)
        if line is None or not line.startswith("port "):
            raise RuntimeError(f"the Central System did not start: {line!r}")
        url = f"ws://127.0.0.1:{int(line.split()[1])}/ocpp"
        arguments = ["--url", url, "--count", str(count), "--ramp", str(ramp)]
        if fleet == "ours":
            command = _worker_command("fleet", *arguments)
        else:
            command = [sys.executable, str(BASELINE_SCRIPT), *arguments]
        fleet_worker = _Worker(command)
        try:
            line = csms.read_line(timeout)
            if line is None:
                print(f"  {fleet} N={count}: not done after {timeout:g} s", file=sys.stderr)
                csms.ask()
                line = csms.read_line(REPORT_TIMEOUT)
            if line is None:
                raise RuntimeError("the Central System did not report")
            csms_report = json.loads(line)
            fleet_worker.ask()
            line = fleet_worker.read_line(REPORT_TIMEOUT)
            if line is None:
                raise RuntimeError(f"the {fleet} fleet did not report")
            fleet_report = json.loads(line)
        finally:
            fleet_worker.kill()
    finally:
        csms.kill()
    done_at = csms_report["done_at"] if csms_report["complete"] else time.monotonic()
    return Run(
        fleet=fleet,
        count=count,
        ramp=ramp,
        complete=csms_report["complete"],
        seconds=done_at - fleet_report["start"],
        messages=csms_report["messages"],
        fleet_cpu=fleet_report["cpu"],
        fleet_memory_kib=fleet_report["peak"] - fleet_report["rss_before"],
        csms_cpu=csms_report["cpu"],
        accepted=fleet_report["accepted"],
        problems=fleet_report["problems"],
    )


def _raise_open_files_limit(count: int) -> None:
    """Each process holds one socket per charge point; children inherit the limit."""
    needed = count + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        problem = f"{count} charge points need {needed} open files, the hard limit is {hard}"
        raise SystemExit(f"boot_storm: {problem}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _versions() -> list[str]:
    packages = ", ".join(
        f"{package} {metadata.version(package)}"
        for package in ("ocpp-fleet", "trio", "trio-websocket", "wsproto", "ocpp", "websockets")
    )
    return [
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        packages,
    ]


def _ramp_label(ramp: float) -> str:
    return "all at once" if ramp == 0 else f"{ramp:g}/s"


def report(runs: list[Run]) -> None:
    print()
    for line in _versions():
        print(line)
    print()
    print(
        "| fleet | N | start | boot time (s) | messages/s | fleet CPU (ms/CP) | fleet memory (KiB/CP) "
        "| CSMS CPU (ms/CP) | logged problems |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        seconds = f"{run.seconds:.2f}" if run.complete else f"> {run.seconds:.0f} (not done)"
        print(
            f"| {run.fleet} | {run.count:,} | {_ramp_label(run.ramp)} | {seconds} "
            f"| {run.messages_per_second:,.0f} | {run.cpu_ms_per_charge_point:.2f} "
            f"| {run.memory_kib_per_charge_point:.1f} | {run.csms_cpu_ms_per_charge_point:.2f} "
            f"| {run.problems} |"
        )
    pairs = [
        (ours, baseline)
        for ours in runs
        for baseline in runs
        if ours.fleet == "ours"
        and baseline.fleet == "baseline"
        and (ours.count, ours.ramp) == (baseline.count, baseline.ramp)
    ]
    if pairs:
        print()
        print("ours/baseline (below 1: ours takes less)")
        print()
        print("| N | start | boot time | fleet CPU per CP | fleet memory per CP |")
        print("|---:|---|---:|---:|---:|")
        for ours, baseline in pairs:
            print(
                f"| {ours.count:,} | {_ramp_label(ours.ramp)} | {ours.seconds / baseline.seconds:.2f} "
                f"| {ours.fleet_cpu / baseline.fleet_cpu:.2f} "
                f"| {ours.fleet_memory_kib / baseline.fleet_memory_kib:.2f} |"
            )
    target = [run for run in runs if run.fleet == "ours" and run.count == TARGET_SIZE and run.ramp == 0]
    if target:
        met = all(run.complete and run.seconds < TARGET_SECONDS for run in target)
        print()
        print(
            f"target: {TARGET_SIZE:,} charge points booted in under {TARGET_SECONDS:g} s: "
            f"{'met' if met else 'NOT met'} ({', '.join(f'{run.seconds:.2f} s' for run in target)})"
        )


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of whole numbers: {text!r}") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be at least 1: {text!r}")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(
            "Boot storm: N charge points with 2 connectors connect at once over loopback TCP to the embedded "
            "Central System (run in its own process), until each is Accepted and has had its 3 "
            "StatusNotifications answered. Reports boot time, messages/s at the Central System, and CPU "
            "time and peak memory per charge point of the fleet process, for our fleet and for a baseline "
            "fleet built on the ocpp package (asyncio + websockets), in interleaved runs. Prints Markdown "
            "tables."
        ),
        epilog="With the defaults it takes about 1.5 minutes; the size 5,000 dominates.",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=[100, 1000, 5000],
        help="numbers of charge points, comma-separated (default: 100,1000,5000)",
    )
    parser.add_argument(
        "--ramp-sizes",
        type=_sizes,
        default=[TARGET_SIZE],
        help=(
            f"sizes also run at the default ramp of 'ocpp-fleet run' ({DEFAULT_RAMP:g} charge points per "
            "second), for information; empty to skip (default: 1000)"
        ),
    )
    parser.add_argument("--skip-baseline", action="store_true", help="run our fleet only")
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds a run may take before it is reported as not done (default: %(default)s)",
    )
    parser.add_argument("--role", choices=["csms", "fleet"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ramp", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role in ("csms", "fleet"):
        gc.set_threshold(*GC_THRESHOLDS)  # as the ocpp-fleet command sets them
    if args.role == "csms":
        trio.run(serve_csms, args.count)
        return
    if args.role == "fleet":
        trio.run(run_fleet, args.url, args.count, args.ramp)
        return

    if not args.sizes and not args.ramp_sizes:
        parser.error("nothing to run: --sizes and --ramp-sizes are both empty")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    _raise_open_files_limit(max([*args.sizes, *args.ramp_sizes]))
    fleets = ["ours"] if args.skip_baseline else ["ours", "baseline"]
    plan = [(count, 0.0) for count in args.sizes] + [(count, DEFAULT_RAMP) for count in args.ramp_sizes]
    runs: list[Run] = []
    for count, ramp in plan:
        for fleet in fleets:
            run = run_once(fleet, count, ramp, args.timeout)
            print(
                f"  {fleet} N={count} {_ramp_label(ramp)}: {run.seconds:.2f} s, "
                f"fleet CPU {run.fleet_cpu:.2f} s, CSMS CPU {run.csms_cpu:.2f} s",
                file=sys.stderr,
            )
            runs.append(run)
    report(runs)


if __name__ == "__main__":
    main()
