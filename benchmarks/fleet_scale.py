"""Fleet at scale: the ``ocpp-fleet run`` command with ``--processes 2`` and N charge points, measured whole.

What is measured is the product command itself, ``ocpp-fleet run FLEET.toml --processes 2 --ramp 0
--metrics-port 0 --report FILE.json`` (its parent process and its child processes together, "the fleet
tree"), against a Central System on 127.0.0.1 that runs in a process of its own, for this table of targets
(at N = 10,000, on a 2-core machine):

- boot storm, N = 10,000 charge points, from start to all Accepted with their StatusNotifications sent
  (connectors 0, 1 and 2 answered): at most 30 s with ``--processes 2``;
- fleet CPU per charge point brought up: at most 2 ms;
- memory per idle charge point at 10,000: at most 64 KB (read as KiB, the unit of ``/proc``);
- idle fleet CPU at 10,000 charge points: at most 5 % of one core;
- 10,000 charge points with 2 connectors charging, MeterValueSampleInterval 60, queue on disk: sustained,
  no growing backlog, CPU reported.

The script prints that table (in Markdown, with a "measured" column and whether each target is met) for
the N it ran.

**The fleet file** (written by this script into its working folder, a temporary one unless ``--keep DIR``):
one group, ``id = "SCALE-{n:05}"``, ``count = N``, ``connectors = 2``, configuration ``HeartbeatInterval =
60`` and ``MeterValueSampleInterval = 60`` (the other keys at their defaults: ``MeterValuesSampledData`` is
``Energy.Active.Import.Register``, ``WebSocketPingInterval`` 60 s unless ``--ping-interval`` sets it), the
``csms_url`` of the Central System and ``database = "fleet.db"``: the charge points' state, offline queue
included, is in SQLite files on disk (``fleet.p1-of-2.db`` and ``fleet.p2-of-2.db``, one per child process).

**The Central System** (this file, ``--role csms``) is :class:`fleet.csms.CentralSystem` with
``heartbeat_interval=60`` (what it hands out in its BootNotification answers, which the charge points adopt
as their ``HeartbeatInterval``); it accepts every charge point and idTag. Its ``on_record`` hook counts the
CALLs it receives by action and the answers it sends, notes ``time.monotonic()`` when the N-th charge point
has had its 3rd StatusNotification answered (connectors 0, 1 and 2: ``boot_storm._Completion``) and when
the last of 2N StartTransactions is answered, and for each MeterValues of a transaction the delivery lag
(its receive time, ``time.time()``, minus the ``timestamp`` of its sample; the charge points set their
clocks from the Central System's ``currentTime``, on the same machine). It prints these instants as JSON
lines, and its counters (with its own CPU time) whenever the driver asks on standard input.

**The fleet tree's CPU and memory** are read by this driver from ``/proc``: the tree is the command's
process and every process whose parent is in the tree (found by scanning ``/proc/*/stat``); its CPU time is
the sum over the tree of user + system time plus the time of children that ended and were waited for
(``utime + stime + cutime + cstime`` of ``/proc/PID/stat``), so a child process that died is not lost; its
memory is the sum of ``VmRSS`` (``/proc/PID/status``) over the tree. CPU shares are CPU seconds over the
driver's ``time.monotonic()`` seconds, in % of one core. The details below the table also give them per
process (the command, then its children), with the peak RSS (``VmHWM``).

Four steps (``--skip-charging`` stops after the third), each with a fresh Central System process:

1. **Calibration**: the same command with a fleet of ``max(2, --processes)`` charge points (one or two per
   child process). When they are all booted (as in step 2), the tree's CPU time is the cost of starting
   the command (interpreters, imports, reading the fleet file, opening the databases); 10 s later, its RSS
   is the memory of the command without charge points to speak of.
2. **Boot storm** of a fresh database: the driver notes ``time.monotonic()`` and starts the command with
   ``--ramp 0`` (all charge points at once). *Boot time* = the Central System's instant of completion minus
   the driver's (both ``CLOCK_MONOTONIC``, which is system-wide). *Fleet CPU per charge point brought up* =
   (the tree's CPU time when the driver hears of the completion - the calibration's CPU time at its
   completion) / N. It includes reading the fleet file of N charge points, in 3 processes.
3. **Idle**, in the same run: ``--settle`` seconds (default 30) after the completion, a window of
   ``--idle-window`` seconds (default 120: two HeartbeatIntervals). *Idle fleet CPU* = the tree's CPU time
   over the window in % of one core. *Memory per idle charge point* = (the tree's RSS at the end of the
   window - the calibration's RSS) / N. Shown too: the Heartbeats per second the Central System received
   (expected N / 60). Then the driver sends SIGTERM to the command and times its end: until its child
   processes are gone and until the command itself exits (it prints and writes its report first).
4. **Charging**: the command is started again (same database: the charge points boot again from what
   they kept), with a fleet file that adds one ``[[scenario]]`` event per connector: ``present_id_tag``
   (an idTag of its own; with the Central System's Authorize accepted, the connector waits for a cable and
   the simulated EV plugs in ``remote_start_delay`` = 10 s later, and charges: 11 kW into a 60 kWh battery,
   hours from full). The 2N events are spread evenly over ``--spread`` seconds (default 60: one sample
   interval, so that MeterValues come at a steady rate rather than in a burst each minute), from an instant
   chosen after the expected boot (1.5 x step 2's boot time + 20 s, from the start of each child's
   scenario). Once the Central System has answered all 2N StartTransactions, ``--warmup`` seconds (default
   30), then a window of ``--charge-window`` seconds (default 180), cut in thirds: per third the
   MeterValues received and answered per second at the Central System (expected 2N / 60), the most and
   fewest received in one second, their delivery lag (p50 / p99 / max), the fleet tree's CPU share, and at
   each cut the fleet's ``ocpp_fleet_offline_queue_messages`` and ``ocpp_fleet_sessions_running`` from its
   Prometheus endpoint (``--metrics-port 0``). *No growing backlog*: every third receives at least 97 % of
   the expected rate, answers what it receives, the offline queues do not grow, the lag p99 of the last
   third stays under the sample interval, and all 2N sessions run. At the end the command is stopped with
   SIGTERM as in step 3, and its report gives the MeterValues answer times and the queue high-water mark.

Why two runs rather than one: a ``[[scenario]]`` event names one charge point or ``*`` (all of them at
once), so spreading the starts needs one event per connector, and reading 2N of them costs each of the 3
processes about 1.2 s at N = 10,000, which would have counted in the boot time and CPU of step 2.

Each step also shows the Central System's CPU share (it shares the 2 cores with the fleet) and what the
whole machine was busy with (``/proc/stat``). The command's output (progress lines every 5 s, the report,
any error) goes to ``fleet-*.log`` in the working folder; lines of the command's own problems
(``ocpp-fleet: ...``, tracebacks) are counted and the first ones shown.

Run it from the repository root::

    .venv/bin/python benchmarks/fleet_scale.py                   # N = 10,000: about 10 minutes
    .venv/bin/python benchmarks/fleet_scale.py --count 2000 --keep /tmp/scale
    .venv/bin/python benchmarks/fleet_scale.py --count 200 --idle-window 10 --charge-window 30
"""

import argparse
import contextlib
import gc
import itertools
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import trio
from boot_storm import _Completion, _raise_open_files_limit, _versions, _Worker
from charging import _machine_busy, _percentiles, _StdinLines

from actors.ocpp import parse_datetime
from fleet.csms import CentralSystem, Record
from fleet.fleetfile import DEFAULT_REMOTE_START_DELAY
from fleet.heap import GC_THRESHOLDS

CONNECTORS = 2
HEARTBEAT_INTERVAL = 60
SAMPLE_INTERVAL = 60
"""``MeterValueSampleInterval``, seconds."""

TARGET_BOOT_SECONDS = 30.0
TARGET_CPU_MS = 2.0
TARGET_MEMORY_KIB = 64.0
TARGET_IDLE_PERCENT = 5.0
KEEPS_UP_SHARE = 0.97
"""Each third of the charging window must receive this share of the expected MeterValues rate."""

OCPP_FLEET = Path(sys.executable).with_name("ocpp-fleet")
CALIBRATION_SETTLE = 10.0
"""Seconds between the calibration fleet's boot and the reading of its RSS."""
CSMS_STARTUP_TIMEOUT = 30.0
LINE_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0
"""Seconds the command gets to stop after SIGTERM before it is killed."""
START_TIMEOUT = 180.0
"""Seconds, after the last scenario event is due, that the sessions get to start."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROBLEM_LINE = re.compile(r"^(ocpp-fleet: |Traceback)|Error:")
PROBLEMS_SHOWN = 3
TIMES = "\N{MULTIPLICATION SIGN}"
"""As the table of targets writes it."""


def charge_point_id(n: int) -> str:
    return f"SCALE-{n:05}"


def _emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


# --- the Central System process ---------------------------------------------------------------------------


class _Watcher:
    """Sees every record of the Central System: the boot's completion, CALLs by action, answers, the start
    of the transactions, and the MeterValues' delivery lag and rate per second."""

    def __init__(self, count: int, transactions: int) -> None:
        self.completion = _Completion(count)
        self.transactions = transactions
        self.started = 0
        self.all_started = trio.Event()
        self.started_at: float | None = None
        self.calls: Counter[str] = Counter()
        """CALLs received, by action."""
        self.results: Counter[str] = Counter()
        """CALLRESULTs sent, by the action they answer."""
        self.errors: Counter[str] = Counter()
        """CALLERRORs sent, by the action they answer."""
        self.lags: list[float] = []
        """Delivery lag of the MeterValues received since the last snapshot, seconds."""
        self.per_second: Counter[int] = Counter()
        """MeterValues received since the last snapshot, by whole second of ``time.monotonic()``."""

    def __call__(self, record: Record) -> None:
        self.completion(record)
        action = record.action or "?"
        if record.direction == "in":
            if record.kind == "CALL":
                self.calls[action] += 1
                if action == "MeterValues":
                    self._meter_values(record)
        elif record.kind == "CALLRESULT":
            self.results[action] += 1
            if action == "StartTransaction":
                self.started += 1
                if self.started == self.transactions:
                    self.started_at = time.monotonic()
                    self.all_started.set()
        else:
            self.errors[action] += 1

    def _meter_values(self, record: Record) -> None:
        received = time.time()
        self.per_second[int(time.monotonic())] += 1
        payload = record.payload
        if "transactionId" not in payload or not payload.get("meterValue"):
            return
        taken = parse_datetime(payload["meterValue"][0]["timestamp"]).timestamp()
        self.lags.append(received - taken)

    def snapshot(self, central_system: CentralSystem, cpu_ready: float) -> dict[str, Any]:
        """The counters so far, and the lag and rate per second since the last snapshot."""
        now = time.monotonic()
        whole = [count for second, count in self.per_second.items() if second < int(now)]
        report = {
            "event": "snapshot",
            "at": now,
            "cpu": time.process_time() - cpu_ready,
            "booted": self.completion.finished,
            "started": self.started,
            "messages": central_system.messages_in + central_system.messages_out,
            "connected": len(central_system.connected),
            "calls": dict(self.calls),
            "results": dict(self.results),
            "errors": dict(self.errors),
            "lag_ms": _percentiles(self.lags),
            "most_per_second": max(whole, default=0),
            "fewest_per_second": min(whole, default=0),
            "seconds_counted": len(whole),
        }
        self.lags = []
        self.per_second = Counter({second: n for second, n in self.per_second.items() if second >= int(now)})
        return report


async def serve_csms(count: int, transactions: int) -> None:
    """Serve until killed: print the port, a JSON line when all ``count`` charge points are booted, one when
    ``transactions`` StartTransactions are answered (if any), and a snapshot for each line on stdin."""
    watcher = _Watcher(count, transactions)
    central_system = CentralSystem(heartbeat_interval=HEARTBEAT_INTERVAL, on_record=watcher, max_records=1000)
    lines = _StdinLines()

    async def tell_booted() -> None:
        await watcher.completion.done.wait()
        _emit(event="booted", at=watcher.completion.done_at, cpu=time.process_time() - cpu_ready)

    async def tell_started() -> None:
        await watcher.all_started.wait()
        _emit(event="started", at=watcher.started_at, started=watcher.started)

    async with trio.open_nursery() as nursery:
        port = await nursery.start(central_system.serve, "127.0.0.1", 0)
        cpu_ready = time.process_time()
        print(f"port {port}", flush=True)
        nursery.start_soon(tell_booted)
        if transactions > 0:
            nursery.start_soon(tell_started)
        while True:
            try:
                await lines.next()
            except EOFError:
                nursery.cancel_scope.cancel()
                return
            print(json.dumps(watcher.snapshot(central_system, cpu_ready)), flush=True)


class _Csms:
    """The Central System process, seen from the driver."""

    def __init__(self, count: int, transactions: int = 0) -> None:
        self.worker = _Worker(
            [
                *(sys.executable, __file__, "--role", "csms"),
                *("--count", str(count), "--transactions", str(transactions)),
            ]
        )
        self._events: dict[str, dict[str, Any]] = {}
        line = self.worker.read_line(CSMS_STARTUP_TIMEOUT)
        if line is None or not line.startswith("port "):
            self.worker.kill()
            raise RuntimeError(f"the Central System did not start: {line!r}")
        self.url = f"ws://127.0.0.1:{int(line.split()[1])}/ocpp"

    def wait_for(self, event: str, timeout: float) -> dict[str, Any] | None:
        """The JSON line of ``event`` (kept if it came earlier); ``None`` if it does not come in time."""
        deadline = time.monotonic() + timeout
        while event not in self._events:
            line = self.worker.read_line(max(0.0, deadline - time.monotonic()))
            if line is None:
                return None
            message = json.loads(line)
            self._events[message["event"]] = message
        return self._events.pop(event) if event == "snapshot" else self._events[event]

    def snapshot(self) -> dict[str, Any]:
        assert self.worker.process.stdin is not None
        self.worker.process.stdin.write("snapshot\n")
        self.worker.process.stdin.flush()
        snapshot = self.wait_for("snapshot", LINE_TIMEOUT)
        if snapshot is None:
            raise RuntimeError("the Central System did not answer a snapshot request")
        return snapshot

    def kill(self) -> None:
        self.worker.kill()


# --- the fleet command, seen from the driver --------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first); ``None`` if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (by the parent pid of every process in ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def tree_cpu(root: int) -> float:
    """CPU seconds of the tree: user + system of each process, and of its children waited for."""
    total = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return total / CLOCK_TICKS


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def tree_rss_kib(root: int) -> int:
    """The sum of ``VmRSS`` over the tree, KiB."""
    return sum(_status_kib(pid, "VmRSS") for pid in process_tree(root))


@dataclass(frozen=True)
class ProcessFigures:
    """One process of the tree: its CPU seconds (with its children waited for), RSS and peak RSS in KiB."""

    pid: int
    cpu: float
    rss_kib: int
    peak_kib: int


def per_process(root: int) -> list[ProcessFigures]:
    """The figures of each process of the tree, ``root`` first."""
    figures = []
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            cpu = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
            figures.append(ProcessFigures(pid, cpu, _status_kib(pid, "VmRSS"), _status_kib(pid, "VmHWM")))
    return figures


def _per_process_text(figures: list[ProcessFigures], what: str) -> str:
    """``command 1.2 / children 3.4, 3.3`` of one figure (``cpu``, ``rss`` or ``peak``)."""

    def shown(process: ProcessFigures) -> str:
        if what == "cpu":
            return f"{process.cpu:.1f} s"
        return f"{(process.rss_kib if what == 'rss' else process.peak_kib) / 1024:.0f} MiB"

    if not figures:
        return "-"
    children = ", ".join(shown(process) for process in figures[1:])
    return f"the command {shown(figures[0])}, its children {children or '-'}"


def _alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


@dataclass
class Stop:
    """How long the command took to stop after SIGTERM."""

    children_seconds: float
    """Until its child processes were gone."""
    command_seconds: float
    """Until it exited (after printing and writing the report)."""
    status: int | None
    killed: bool


@dataclass
class _Output:
    """What the driver gathers from the command's output."""

    metrics_url: str | None = None
    last_progress: str = ""
    problems: list[str] = field(default_factory=list)
    lines: int = 0
    metrics_known: threading.Event = field(default_factory=threading.Event)


class FleetCommand:
    """One ``ocpp-fleet run`` with its process tree; its output goes to a log file."""

    def __init__(self, fleet_file: Path, processes: int, report: Path, log: Path) -> None:
        self.command = [
            *(str(OCPP_FLEET), "run", str(fleet_file), "--processes", str(processes), "--ramp", "0"),
            *("--metrics-port", "0", "--report", str(report)),
        ]
        self.report_path = report
        self.log = log
        self.output = _Output()
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=fleet_file.parent,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.log.open("w") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                text = line.rstrip("\n")
                self.output.lines += 1
                if text.startswith("Prometheus metrics on "):
                    self.output.metrics_url = text.removeprefix("Prometheus metrics on ").strip()
                    self.output.metrics_known.set()
                elif " started, " in text and " connected, " in text:
                    if not text.startswith("stopped: "):  # that one shows the fleet stopped
                        self.output.last_progress = text
                elif PROBLEM_LINE.search(text):
                    self.output.problems.append(text)
        self.output.metrics_known.set()

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        return tree_cpu(self.pid)

    def rss_kib(self) -> int:
        return tree_rss_kib(self.pid)

    def per_process(self) -> list[ProcessFigures]:
        return per_process(self.pid)

    def metrics(self) -> dict[str, float]:
        """The fleet's Prometheus metrics: ``name{labels}`` -> value; empty if they cannot be read."""
        self.output.metrics_known.wait(LINE_TIMEOUT)
        if self.output.metrics_url is None:
            return {}
        try:
            with urllib.request.urlopen(self.output.metrics_url, timeout=LINE_TIMEOUT) as answer:
                text = answer.read().decode()
        except OSError as problem:
            print(f"  metrics not read: {problem}", file=sys.stderr)
            return {}
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def stop(self) -> Stop:
        """SIGTERM, then wait for the children and the command to end (killed after ``STOP_TIMEOUT``)."""
        children = [pid for pid in process_tree(self.pid) if pid != self.pid]
        sent = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        children_gone: float | None = None
        killed = False
        while self.process.poll() is None:
            now = time.monotonic()
            if children_gone is None and not any(_alive(pid) for pid in children):
                children_gone = now
            if now - sent > STOP_TIMEOUT:
                killed = True
                for pid in process_tree(self.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.process.wait()
                break
            time.sleep(0.01)
        ended = time.monotonic()
        self._reader.join(LINE_TIMEOUT)
        return Stop(
            children_seconds=(children_gone if children_gone is not None else ended) - sent,
            command_seconds=ended - sent,
            status=self.process.returncode,
            killed=killed,
        )

    def kill(self) -> None:
        """Kill the command and its children at once (after a failure)."""
        if self.process.poll() is None:
            for pid in process_tree(self.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait()

    def report(self) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = json.loads(self.report_path.read_text())
        except (OSError, ValueError):
            return None
        return result


# --- the fleet files --------------------------------------------------------------------------------------


def write_fleet_file(
    path: Path,
    count: int,
    csms_url: str,
    scenario: list[tuple[float, int, int]],
    ping_interval: int | None = None,
) -> None:
    """A fleet file of ``count`` charge points with ``present_id_tag`` events (at, n, connector), and
    ``WebSocketPingInterval`` set to ``ping_interval`` unless it is ``None`` (the default: 60 s)."""
    lines = [
        f'csms_url = "{csms_url}"',
        'database = "fleet.db"',
        "",
        "[[charge_points]]",
        'id = "SCALE-{n:05}"',
        f"count = {count}",
        f"connectors = {CONNECTORS}",
        'model = "Scale"',
        "",
        "[charge_points.configuration]",
        f"HeartbeatInterval = {HEARTBEAT_INTERVAL}",
        f"MeterValueSampleInterval = {SAMPLE_INTERVAL}",
    ]
    if ping_interval is not None:
        lines.append(f"WebSocketPingInterval = {ping_interval}")
    for at, n, connector in scenario:
        lines += [
            "",
            "[[scenario]]",
            f"at = {at:.3f}",
            f'charge_point = "{charge_point_id(n)}"',
            f"connector = {connector}",
            'event = "present_id_tag"',
            f'id_tag = "T{n:05}-{connector}"',
        ]
    path.write_text("\n".join(lines) + "\n")


def charging_scenario(count: int, first: float, spread: float) -> list[tuple[float, int, int]]:
    """One ``present_id_tag`` per connector, evenly from ``first`` over ``spread`` seconds, in the order of
    the charge points (so that each child process, which gets every 2nd charge point, is spread alike)."""
    total = count * CONNECTORS
    return [
        (first + spread * (CONNECTORS * (n - 1) + connector - 1) / total, n, connector)
        for n in range(1, count + 1)
        for connector in range(1, CONNECTORS + 1)
    ]


# --- the steps --------------------------------------------------------------------------------------------


@dataclass
class Calibration:
    count: int
    booted: bool
    boot_seconds: float
    cpu: float
    """CPU seconds of the tree when its charge points were all booted."""
    rss_kib: int
    stop: Stop


@dataclass
class Sample:
    """What the driver reads at one instant of a window."""

    at: float
    fleet_cpu: float
    machine_busy: float
    csms: dict[str, Any]
    metrics: dict[str, float]


def _sample(fleet: FleetCommand, csms: _Csms, *, metrics: bool = False) -> Sample:
    return Sample(
        at=time.monotonic(),
        fleet_cpu=fleet.cpu(),
        machine_busy=_machine_busy(),
        csms=csms.snapshot(),
        metrics=fleet.metrics() if metrics else {},
    )


@dataclass
class Span:
    """The figures between two samples."""

    seconds: float
    fleet_cpu: float
    csms_cpu: float
    machine_busy: float
    calls: dict[str, int]
    results: dict[str, int]
    later: Sample

    @classmethod
    def between(cls, before: Sample, after: Sample) -> "Span":
        def delta(key: str) -> dict[str, int]:
            old = before.csms[key]
            return {
                name: n - old.get(name, 0) for name, n in after.csms[key].items() if n != old.get(name, 0)
            }

        return cls(
            seconds=after.at - before.at,
            fleet_cpu=after.fleet_cpu - before.fleet_cpu,
            csms_cpu=after.csms["cpu"] - before.csms["cpu"],
            machine_busy=after.machine_busy - before.machine_busy,
            calls=delta("calls"),
            results=delta("results"),
            later=after,
        )

    def percent(self, cpu: float) -> float:
        return 100 * cpu / self.seconds

    def rate(self, counts: dict[str, int], action: str) -> float:
        return counts.get(action, 0) / self.seconds

    @property
    def others_percent(self) -> float:
        return max(0.0, self.percent(self.machine_busy - self.fleet_cpu - self.csms_cpu))


def calibrate(work: Path, processes: int) -> Calibration:
    """The command with one charge point per process: its CPU to get going and its RSS."""
    count = max(2, processes)
    folder = work / "calibration"
    folder.mkdir()
    csms = _Csms(count)
    fleet: FleetCommand | None = None
    try:
        fleet_file = folder / "fleet.toml"
        write_fleet_file(fleet_file, count, csms.url, [])
        fleet = FleetCommand(fleet_file, processes, folder / "report.json", work / "fleet-calibration.log")
        booted = csms.wait_for("booted", 120.0)
        cpu = fleet.cpu()
        boot_seconds = (booted["at"] if booted else time.monotonic()) - fleet.started_at
        time.sleep(CALIBRATION_SETTLE)
        rss = fleet.rss_kib()
        stop = fleet.stop()
    finally:
        if fleet is not None:
            fleet.kill()
        csms.kill()
    print(
        f"  calibration ({count} charge points): booted in {boot_seconds:.1f} s, CPU {cpu:.2f} s, "
        f"RSS {rss / 1024:.0f} MiB",
        file=sys.stderr,
    )
    return Calibration(count, booted is not None, boot_seconds, cpu, rss, stop)


@dataclass
class BootIdle:
    count: int
    command: list[str]
    booted: bool
    booted_count: int
    boot_seconds: float
    cpu_at_boot: float
    csms_cpu_at_boot: float
    machine_busy_boot: float
    idle: Span
    rss_kib: int
    at_boot: list[ProcessFigures]
    after_idle: list[ProcessFigures]
    accepted: float | None
    stop: Stop
    report: dict[str, Any] | None
    output: _Output


def boot_and_idle(work: Path, args: argparse.Namespace) -> BootIdle:
    count = args.count
    csms = _Csms(count)
    fleet: FleetCommand | None = None
    try:
        fleet_file = work / "fleet.toml"
        write_fleet_file(fleet_file, count, csms.url, [], args.ping_interval)
        busy_before = _machine_busy()
        fleet = FleetCommand(
            fleet_file, args.processes, work / "report-boot-idle.json", work / "fleet-boot-idle.log"
        )
        booted = csms.wait_for("booted", args.boot_timeout)
        cpu_at_boot = fleet.cpu()
        at_boot = fleet.per_process()
        busy_boot = _machine_busy() - busy_before
        if booted is None:
            late = csms.snapshot()
            done_at, booted_count, csms_cpu = late["at"], late["booted"], late["cpu"]
            print(
                f"  boot: only {booted_count:,} of {count:,} after {args.boot_timeout:g} s", file=sys.stderr
            )
        else:
            done_at, booted_count, csms_cpu = booted["at"], count, booted["cpu"]
        boot_seconds = done_at - fleet.started_at
        print(f"  boot storm: {boot_seconds:.1f} s, fleet CPU {cpu_at_boot:.1f} s", file=sys.stderr)
        time.sleep(max(0.0, done_at + args.settle - time.monotonic()))
        first = _sample(fleet, csms)
        time.sleep(args.idle_window)
        last = _sample(fleet, csms, metrics=True)
        rss = fleet.rss_kib()
        after_idle = fleet.per_process()
        idle = Span.between(first, last)
        print(
            f"  idle: fleet CPU {idle.percent(idle.fleet_cpu):.1f} % of a core, RSS {rss / 1024:.0f} MiB",
            file=sys.stderr,
        )
        stop = fleet.stop()
        print(f"  stopped in {stop.command_seconds:.2f} s", file=sys.stderr)
        return BootIdle(
            count=count,
            command=fleet.command,
            booted=booted is not None,
            booted_count=booted_count,
            boot_seconds=boot_seconds,
            cpu_at_boot=cpu_at_boot,
            csms_cpu_at_boot=csms_cpu,
            machine_busy_boot=busy_boot,
            idle=idle,
            rss_kib=rss,
            at_boot=at_boot,
            after_idle=after_idle,
            accepted=last.metrics.get('ocpp_fleet_charge_points{state="accepted"}'),
            stop=stop,
            report=fleet.report(),
            output=fleet.output,
        )
    finally:
        if fleet is not None:
            fleet.kill()
        csms.kill()


@dataclass
class Charging:
    count: int
    first_event: float
    boot_seconds: float | None
    started: int
    start_seconds: float
    """From the first scenario event being due (by the driver's clock) to the last StartTransaction answer."""
    thirds: list[Span]
    window: Span
    samples: list[Sample]
    stop: Stop
    report: dict[str, Any] | None
    output: _Output

    @property
    def transactions(self) -> int:
        return self.count * CONNECTORS

    @property
    def expected_per_second(self) -> float:
        return self.transactions / SAMPLE_INTERVAL

    def queue(self, sample: Sample) -> float | None:
        return sample.metrics.get("ocpp_fleet_offline_queue_messages")

    @property
    def keeps_up(self) -> bool:
        expected = self.expected_per_second
        queues = [self.queue(sample) for sample in self.samples]
        known = [queue for queue in queues if queue is not None]
        lag = self.thirds[-1].later.csms["lag_ms"]["p99"]
        running = self.samples[-1].metrics.get("ocpp_fleet_sessions_running")
        return (
            self.started == self.transactions
            and all(
                third.rate(third.calls, "MeterValues") >= KEEPS_UP_SHARE * expected for third in self.thirds
            )
            and all(
                third.results.get("MeterValues", 0) >= 0.99 * third.calls.get("MeterValues", 0)
                for third in self.thirds
            )
            and len(known) == len(queues)
            and known[-1] <= max(known[0], 0.01 * self.transactions)
            and lag is not None
            and lag < 1000 * SAMPLE_INTERVAL
            and running == self.transactions
        )


def charge(work: Path, args: argparse.Namespace, boot_seconds: float) -> Charging:
    count = args.count
    transactions = count * CONNECTORS
    first_event = float(math.ceil(1.5 * boot_seconds + 20))
    csms = _Csms(count, transactions)
    fleet: FleetCommand | None = None
    try:
        fleet_file = work / "fleet-charging.toml"
        scenario = charging_scenario(count, first_event, args.spread)
        write_fleet_file(fleet_file, count, csms.url, scenario, args.ping_interval)
        fleet = FleetCommand(
            fleet_file, args.processes, work / "report-charging.json", work / "fleet-charging.log"
        )
        booted = csms.wait_for("booted", first_event)
        boot_seconds_again = booted["at"] - fleet.started_at if booted else None
        print(
            "  charging run: booted again in "
            + (f"{boot_seconds_again:.1f} s" if boot_seconds_again is not None else f"over {first_event:g} s")
            + f"; the sessions start from {first_event:g} s over {args.spread:g} s",
            file=sys.stderr,
        )
        due = fleet.started_at + first_event
        timeout = due + args.spread + DEFAULT_REMOTE_START_DELAY + START_TIMEOUT - time.monotonic()
        started = csms.wait_for("started", timeout)
        if started is None:
            late = csms.snapshot()
            started_count, started_at = late["started"], late["at"]
            print(f"  only {started_count:,} of {transactions:,} sessions started", file=sys.stderr)
        else:
            started_count, started_at = started["started"], started["at"]
        time.sleep(max(0.0, started_at + args.warmup - time.monotonic()))
        samples = [_sample(fleet, csms, metrics=True)]
        opened = samples[0].at
        for third in (1, 2, 3):
            time.sleep(max(0.0, opened + third * args.charge_window / 3 - time.monotonic()))
            samples.append(_sample(fleet, csms, metrics=True))
        thirds = [Span.between(before, after) for before, after in itertools.pairwise(samples)]
        window = Span.between(samples[0], samples[-1])
        print(
            f"  charging: {window.rate(window.calls, 'MeterValues'):.1f} MeterValues/s, "
            f"fleet CPU {window.percent(window.fleet_cpu):.0f} % of a core",
            file=sys.stderr,
        )
        stop = fleet.stop()
        print(f"  stopped in {stop.command_seconds:.2f} s", file=sys.stderr)
        return Charging(
            count=count,
            first_event=first_event,
            boot_seconds=boot_seconds_again,
            started=started_count,
            start_seconds=started_at - due,
            thirds=thirds,
            window=window,
            samples=samples,
            stop=stop,
            report=fleet.report(),
            output=fleet.output,
        )
    finally:
        if fleet is not None:
            fleet.kill()
        csms.kill()


# --- the report -------------------------------------------------------------------------------------------


def _verdict(met: bool) -> str:
    return "met" if met else "**NOT met**"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _stop_text(stop: Stop) -> str:
    text = (
        f"children gone {stop.children_seconds:.2f} s after SIGTERM, command exited after "
        f"{stop.command_seconds:.2f} s (status {stop.status})"
    )
    return text + ", **killed after not stopping**" if stop.killed else text


def _problems_text(output: _Output, report: dict[str, Any] | None) -> str:
    parts = [f"{len(output.problems)} problem lines in the output"]
    if output.problems:
        parts[0] += " (" + " | ".join(output.problems[:PROBLEMS_SHOWN]) + ")"
    if report is not None:
        every = report["all_actions"]
        errors = sum(every["errors"].values())
        parts.append(f"{errors} CALLERRORs, {every['timeouts']} timeouts, {every['lost']} lost CALLs")
        parts.append(f"{report['charge_points']['reconnects']} reconnects")
    else:
        parts.append("no report written")
    if output.last_progress:
        parts.append(f"last progress line before the stop: `{output.last_progress}`")
    return "; ".join(parts)


def _answer_times(report: dict[str, Any] | None, action: str) -> str:
    if report is None or action not in report["actions"]:
        return "-"
    times = report["actions"][action]["answer_time"]

    def ms(key: str) -> str:
        value = times[key]
        return "-" if value is None else f"{1000 * value:.1f}"

    return f"p50 {ms('p50_s')} / p99 {ms('p99_s')} / max {ms('max_s')} ms"


def print_results(
    args: argparse.Namespace, calibration: Calibration, boot: BootIdle, charging: Charging | None
) -> None:
    count = args.count
    n = f"{count:,}"
    cpu_ms = 1000 * (boot.cpu_at_boot - calibration.cpu) / count
    memory_kib = (boot.rss_kib - calibration.rss_kib) / count
    idle = boot.idle
    idle_percent = idle.percent(idle.fleet_cpu)
    heartbeats = idle.rate(idle.calls, "Heartbeat")

    print()
    print(f"`{shlex.join(sys.orig_argv)}`, {datetime.now().astimezone().isoformat(timespec='seconds')}")
    print()
    for line in _versions():
        print(line)
    print()
    print(f"The command measured: `{shlex.join(boot.command)}` (in the working folder)")
    print()
    print("| figure | target | measured |")
    print("|---|---|---|")
    if boot.booted:
        boot_text = f"{boot.boot_seconds:.1f} s: {_verdict(boot.boot_seconds <= TARGET_BOOT_SECONDS)}"
    else:
        boot_text = (
            f"not done after {boot.boot_seconds:.0f} s ({boot.booted_count:,} of {n}): {_verdict(False)}"
        )
    print(
        f"| boot storm, N={n} charge points, from start to all Accepted with StatusNotifications sent "
        f"(connectors 0,1,2 answered) | ≤ 30 s with `--processes {args.processes}` | {boot_text} |"
    )
    print(
        f"| fleet CPU per charge point brought up | ≤ 2 ms | {cpu_ms:.2f} ms ({boot.cpu_at_boot:.1f} s "
        f"of CPU at completion - {calibration.cpu:.1f} s to start the command with {calibration.count} "
        f"charge points, / N): {_verdict(cpu_ms <= TARGET_CPU_MS)} |"
    )
    print(
        f"| memory per idle charge point at {n} | ≤ 64 KB | {memory_kib:.1f} KiB ((RSS "
        f"{boot.rss_kib / 1024:.0f} MiB of {len(boot.after_idle)} processes - "
        f"{calibration.rss_kib / 1024:.0f} MiB with {calibration.count} charge points) / N): "
        f"{_verdict(memory_kib <= TARGET_MEMORY_KIB)} |"
    )
    print(
        f"| idle fleet CPU at {n} charge points | ≤ 5 % of one core | {idle_percent:.1f} % over "
        f"{idle.seconds:.0f} s ({heartbeats:.0f} Heartbeats/s at the Central System, "
        f"{count / HEARTBEAT_INTERVAL:.0f} expected): {_verdict(idle_percent <= TARGET_IDLE_PERCENT)} |"
    )
    label = (
        f"| {n} charge points {TIMES} {CONNECTORS} connectors charging, MeterValueSampleInterval "
        f"{SAMPLE_INTERVAL}, queue on disk | sustained, no growing backlog, CPU reported |"
    )
    if charging is None:
        print(f"{label} not run (--skip-charging) |")
    else:
        window = charging.window
        rates = " / ".join(f"{third.rate(third.calls, 'MeterValues'):.0f}" for third in charging.thirds)
        queues = " → ".join(
            "?" if (queue := charging.queue(sample)) is None else f"{queue:.0f}"
            for sample in charging.samples
        )
        started = "" if charging.started == charging.transactions else f", only {charging.started:,} started"
        print(
            f"{label} {window.rate(window.calls, 'MeterValues'):.0f} MeterValues/s received of "
            f"{charging.expected_per_second:.0f} expected (thirds {rates}), "
            f"{window.rate(window.results, 'MeterValues'):.0f}/s answered; offline queue {queues} messages; "
            f"fleet CPU {window.percent(window.fleet_cpu):.0f} % of one core{started}: "
            f"{'sustained' if charging.keeps_up else '**NOT sustained**'} |"
        )

    print()
    print("Details:")
    print()
    print(
        f"- calibration ({calibration.count} charge points): booted in {calibration.boot_seconds:.1f} s, "
        f"tree CPU {calibration.cpu:.2f} s at completion, RSS {calibration.rss_kib / 1024:.1f} MiB after "
        f"{CALIBRATION_SETTLE:g} s; stop: {_stop_text(calibration.stop)}"
    )
    csms_share = 100 * boot.csms_cpu_at_boot / boot.boot_seconds
    others = max(0.0, boot.machine_busy_boot - boot.cpu_at_boot - boot.csms_cpu_at_boot)
    print(
        f"- boot storm: fleet tree CPU {boot.cpu_at_boot:.1f} s in {boot.boot_seconds:.1f} s "
        f"({100 * boot.cpu_at_boot / boot.boot_seconds:.0f} % of one core); the Central System "
        f"{boot.csms_cpu_at_boot:.1f} s ({csms_share:.0f} % of one core); the machine was busy "
        f"{boot.machine_busy_boot:.1f} s of its {os.cpu_count()} cores' {boot.boot_seconds:.1f} s "
        f"(others than the two, about {others:.1f} s); CPU by process: "
        f"{_per_process_text(boot.at_boot, 'cpu')}; BootNotification answers "
        f"{_answer_times(boot.report, 'BootNotification')}, StatusNotification answers "
        f"{_answer_times(boot.report, 'StatusNotification')}"
    )
    other_calls = {action: calls for action, calls in idle.calls.items() if action != "Heartbeat"}
    accepted = "?" if boot.accepted is None else f"{boot.accepted:,.0f}"
    print(
        f"- idle window: {idle.seconds:.0f} s from {args.settle:g} s after the boot; other CALLs "
        f"{other_calls or 'none'}; Central System CPU {idle.percent(idle.csms_cpu):.1f} % of one core, other "
        f"processes {idle.others_percent:.1f} %; accepted at its end {accepted} of {n}; RSS at its end: "
        f"{_per_process_text(boot.after_idle, 'rss')} (peak RSS: "
        f"{_per_process_text(boot.after_idle, 'peak')}); stop: "
        f"{_stop_text(boot.stop)}; {_problems_text(boot.output, boot.report)}"
    )
    if charging is not None:
        again = "-" if charging.boot_seconds is None else f"{charging.boot_seconds:.1f} s"
        print(
            f"- charging run: booted again from the database in {again}; present_id_tag events from "
            f"{charging.first_event:g} s over {args.spread:g} s; {charging.started:,} of "
            f"{charging.transactions:,} StartTransactions answered, the last {charging.start_seconds:.1f} s "
            f"after the first event was due; window {charging.window.seconds:.0f} s from {args.warmup:g} s "
            "later"
        )
        print()
        print(
            "| third | MeterValues/s received | answered | most / fewest in one second "
            "| delivery lag p50 / p99 / max (ms) | fleet CPU | Central System CPU | other processes "
            "| offline queue at its end | sessions running |"
        )
        print("|---:|---:|---:|---|---|---:|---:|---:|---:|---:|")
        for index, third in enumerate(charging.thirds, start=1):
            csms = third.later.csms
            lag = csms["lag_ms"]
            queue = charging.queue(third.later)
            running = third.later.metrics.get("ocpp_fleet_sessions_running")
            print(
                f"| {index} | {third.rate(third.calls, 'MeterValues'):.1f} "
                f"| {third.rate(third.results, 'MeterValues'):.1f} "
                f"| {csms['most_per_second']} / {csms['fewest_per_second']} "
                f"| {_ms(lag['p50'])} / {_ms(lag['p99'])} / {_ms(lag['max'])} "
                f"| {third.percent(third.fleet_cpu):.0f} % | {third.percent(third.csms_cpu):.0f} % "
                f"| {third.others_percent:.0f} % | {'?' if queue is None else f'{queue:.0f}'} "
                f"| {'?' if running is None else f'{running:,.0f}'} |"
            )
        print()
        other_calls = {
            action: calls for action, calls in charging.window.calls.items() if action != "MeterValues"
        }
        high_water = "-" if charging.report is None else charging.report["charge_points"]["queue_high_water"]
        print(
            f"- charging window: other CALLs {other_calls or 'none'}; MeterValues answer times at the fleet "
            f"{_answer_times(charging.report, 'MeterValues')} (whole run); deepest offline queue of a charge "
            f"point {high_water}; stop: {_stop_text(charging.stop)}; "
            f"{_problems_text(charging.output, charging.report)}"
        )


# --- main -------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, work: Path) -> None:
    print(f"working folder {work}", file=sys.stderr)
    calibration = calibrate(work, args.processes)
    boot = boot_and_idle(work, args)
    charging = None if args.skip_charging else charge(work, args, boot.boot_seconds)
    print_results(args, calibration, boot, charging)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(
            "Fleet at scale: measures the product command 'ocpp-fleet run FLEET.toml --processes 2 "
            "--ramp 0' with N charge points of 2 connectors (HeartbeatInterval 60, MeterValueSampleInterval "
            "60, state in SQLite on disk) against a Central System in its own process on 127.0.0.1: the boot "
            "storm (start to all Accepted with the StatusNotifications of connectors 0, 1 and 2 answered), "
            "the fleet's CPU per charge point brought up, memory per idle charge point and idle CPU (summed "
            "over the command's processes, from /proc, less a calibration run with 1 charge point per "
            "process); then, in a second run of the command, every connector charging (MeterValues every "
            "60 s): MeterValues/s per third of a window, delivery lag, offline queue depth and CPU. Prints a "
            "Markdown table of the targets with the measured figures. The module's docstring says exactly "
            "what is measured."
        ),
        epilog=(
            "Takes about: boot + settle + idle window, then boot again + (1.5 x boot + 20 s) + spread + 10 s "
            "+ warmup + charge window; N = 10,000 with the defaults about 10 minutes. Needs N + 256 open "
            "files (the limit is raised up to the hard limit)."
        ),
    )
    parser.add_argument(
        "--count", type=int, default=10_000, help="charge points N (2 connectors each) (default: %(default)s)"
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="the command's --processes (default: %(default)s)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=30.0,
        help="seconds from the end of the boot storm to the idle window (default: %(default)s)",
    )
    parser.add_argument(
        "--idle-window",
        type=float,
        default=120.0,
        help="seconds of the idle window: fleet CPU, Heartbeats/s (default: %(default)s, two "
        "HeartbeatIntervals)",
    )
    parser.add_argument(
        "--spread",
        type=float,
        default=60.0,
        help="seconds over which the 2N sessions are started, evenly (default: %(default)s: one sample "
        "interval)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=30.0,
        help="seconds from the last StartTransaction answer to the charging window (default: %(default)s)",
    )
    parser.add_argument(
        "--charge-window",
        type=float,
        default=180.0,
        help="seconds of the charging window, measured in thirds (default: %(default)s)",
    )
    parser.add_argument(
        "--boot-timeout",
        type=float,
        default=300.0,
        help="seconds the boot storm may take before it is reported as not done and the run goes on "
        "(default: %(default)s)",
    )
    parser.add_argument("--skip-charging", action="store_true", help="stop after the idle window")
    parser.add_argument(
        "--ping-interval",
        type=int,
        metavar="SECONDS",
        help="the charge points' WebSocketPingInterval (0: no pings, Heartbeats only); default: not set, "
        "so the default of 60 s",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="work in DIR (new or empty) and keep the fleet files, databases, reports and the command's "
        "output (fleet-*.log) there; default: a temporary folder, removed at the end",
    )
    parser.add_argument("--role", choices=["csms"], help=argparse.SUPPRESS)
    parser.add_argument("--transactions", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "csms":
        gc.set_threshold(*GC_THRESHOLDS)  # as the ocpp-fleet command sets them
        trio.run(serve_csms, args.count, args.transactions)
        return

    if args.count < 2 or args.processes < 1 or args.processes > args.count:
        parser.error("--count must be at least 2, --processes from 1 to --count")
    if min(args.idle_window, args.charge_window, args.boot_timeout) <= 0:
        parser.error("--idle-window, --charge-window and --boot-timeout must be positive")
    if args.ping_interval is not None and args.ping_interval < 0:
        parser.error("--ping-interval may not be negative")
    if min(args.settle, args.spread, args.warmup) < 0:
        parser.error("--settle, --spread and --warmup may not be negative")
    if not OCPP_FLEET.exists():
        parser.error(f"no ocpp-fleet command at {OCPP_FLEET}: install the project into this virtualenv")
    _raise_open_files_limit(args.count)
    if args.keep is not None:
        if args.keep.exists() and (not args.keep.is_dir() or any(args.keep.iterdir())):
            parser.error(f"--keep {args.keep}: not an empty folder")
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args, args.keep.absolute())
        return
    with tempfile.TemporaryDirectory(prefix="fleet-scale-") as folder:
        run(args, Path(folder))


if __name__ == "__main__":
    main()
