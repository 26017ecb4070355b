"""Charging load: N charge points with 2 connectors each, all charging, sending MeterValues every 10 s.

What is measured, per size N: N simulated charge points (``fleet.runner.Fleet``, ``MemoryStorage``,
``tcp_dialer``) with 2 connectors each, configured with ``MeterValueSampleInterval = 10``,
``MeterValuesSampledData = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,SoC"`` (4
sampled values per MeterValues) and ``HeartbeatInterval = 86400`` (the Central System also hands out 86400 at
boot, so no Heartbeat is due during a run), connect over TCP on 127.0.0.1 to the embedded Central System
(:class:`fleet.csms.CentralSystem`: accepts every charge point and every idTag).

1. **Boot**: the charge points are started at ``ocpp-fleet run``'s default ramp of 200 per second
   (``--ramp``), until all are Accepted. Then each charge point's wall clock is set to the system's
   (``charge_point.clock.synchronise``), so that the time a charge point took to hear its BootNotification
   answer during the boot does not count as lag later.
2. **Sessions**: on every connector an EV is plugged in (``SimulatedConnector.plug_in``: 200 kWh battery at
   10 %, 11 kW, so that it does not fill during a run) and a distinct idTag presented (``present_id_tag``):
   Authorize, StartTransaction. The 2N connectors are started evenly over one sample interval (10 s,
   ``--spread``), so that their samples are spread over the interval as random arrivals would spread them.
3. **Started**: the Central System counts its StartTransaction answers; once all 2N are given (or after
   ``--start-timeout`` seconds, default 300, from its start: then the table says how many), it waits
   ``--warmup`` seconds (default 30) for the StatusNotifications (Charging) and any backlog of the starts to
   pass.
4. **Steady window** of ``--window`` seconds (default 60), in which the Central System counts MeterValues
   received and answered, and all WebSocket messages in both directions (``messages_in`` + ``messages_out``).
   Expected: 2N / 10 MeterValues per second, and as many answers.

**Lag** of each MeterValues received in the window: its receive time at the Central System (``time.time()``
when the message is recorded, i.e. just after it is parsed) minus the time its sample was due. A connector
samples every 10 s from the start of its transaction, so its k-th MeterValues is due at its
StartTransaction's ``timestamp`` + k * 10 s (both on the charge point's wall clock, which was set to the
system's after the boot; the timestamps have millisecond resolution). The lag splits into *sampling*
(MeterValues ``timestamp`` minus due time: how late the connector woke to take the sample) and *delivery*
(receive time minus ``timestamp``: transaction queue, encoding, socket, the Central System's reading). p50,
p99 and max over the window. A fleet keeps up if the MeterValues rate is the expected one and the lag stays
well under the sample interval.

**Fleet CPU**: the fleet process's user + system CPU time (``/proc/PID/stat``, read by the driver when the
window opens and when it closes) / the driver's ``time.monotonic()`` delta, in % of one core (above about
90 % the fleet is saturated: it runs in one thread). **GC**: CPU time spent in the garbage collector in the
window (``gc.callbacks`` in the fleet, between the driver's two signals), as a share of the fleet's
``time.process_time()`` over the same span. **RSS**: ``VmRSS`` of the fleet process when the window closes.
The Central System's CPU share (its ``time.process_time()`` over the window) is shown too, to tell which side
limits. The processes run with ``gc.set_threshold(*fleet.heap.GC_THRESHOLDS)``, as ``ocpp-fleet`` does.
Below the table, per size: what other processes took of the machine during the window (``/proc/stat`` busy
time minus the fleet and the Central System), since a shared machine can starve the fleet.

Three processes, as in ``benchmarks/boot_storm.py`` (whose helpers this imports): the Central System
(``--role csms``), the fleet (``--role fleet``) and this driver, which starts both, passes the start and end
of the window from the Central System to the fleet (lines on standard input), collects their JSON lines and
kills them. With ``--profile DIR`` the driver also runs ``py-spy record --format raw`` on the fleet process
for the window and prints where the samples fall; profile in a separate run, as py-spy takes CPU too.

There is no baseline: the ``ocpp`` package has no charge point behaviour (connectors, meters, transactions)
to compare with.

Run it from the repository root::

    .venv/bin/python benchmarks/charging.py                        # N = 100 and 1,000: about 4 minutes
    .venv/bin/python benchmarks/charging.py --sizes 5000 --window 60
    .venv/bin/python benchmarks/charging.py --sizes 1000 --profile /tmp/profiles
"""

import argparse
import functools
import gc
import json
import logging
import math
import os
import platform
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import trio
from boot_storm import _ProblemCounter, _raise_open_files_limit, _sizes, _Worker, memory_kib

from actors.connection import tcp_dialer
from actors.ocpp import parse_datetime
from fleet.csms import CentralSystem, Record
from fleet.fleetfile import ChargePointSpec
from fleet.heap import GC_THRESHOLDS
from fleet.runner import DEFAULT_RAMP, Fleet
from fleet.simulated import EvModel
from storage import MemoryStorage

CONNECTORS = 2
SAMPLE_INTERVAL = 10
"""``MeterValueSampleInterval``, seconds."""
SAMPLED_DATA = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,SoC"
HEARTBEAT_INTERVAL = 86_400
"""Seconds: no Heartbeat falls due during a run."""
EV = EvModel(battery_wh=200_000.0, max_power_w=11_000.0, soc_percent=10.0)
"""Big enough not to fill during a run (12 h at 11 kW before it tapers)."""

PY_SPY = Path(sys.executable).with_name("py-spy")
CSMS_STARTUP_TIMEOUT = 30.0
LINE_TIMEOUT = 60.0


def charge_point_id(n: int) -> str:
    return f"CHARGE-{n:05}"


def _emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


class _StdinLines:
    """Lines from standard input, read without blocking trio."""

    def __init__(self) -> None:
        self._stream = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        self._buffer = b""

    async def next(self) -> str:
        while b"\n" not in self._buffer:
            chunk = await self._stream.receive_some()
            if not chunk:
                raise EOFError("standard input closed")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode().strip()


# --- the Central System process ---------------------------------------------------------------------------


def _percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p99 (nearest rank) and max, in milliseconds; ``None`` without values."""
    if not values:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return 1000 * ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {"p50": rank(0.50), "p99": rank(0.99), "max": 1000 * ordered[-1]}


class _Watcher:
    """Sees every record of the Central System: counts transactions started, MeterValues, and their lag."""

    def __init__(self, transactions: int, interval: int) -> None:
        self.transactions = transactions
        self.interval = interval
        self.started = 0
        self.started_at: float | None = None
        self.all_started = trio.Event()
        self.in_window = False
        self.meter_values_in = 0
        self.meter_values_answered = 0
        self.calls_in: Counter[str] = Counter()
        self.lag: list[tuple[float, float, float]] = []
        """(receive time, sampling lag, delivery lag) of each MeterValues received in the window."""
        self._start_wall: dict[tuple[str, int], float] = {}
        self._samples: Counter[tuple[str, int]] = Counter()

    def __call__(self, record: Record) -> None:
        if record.direction == "in" and record.kind == "CALL":
            received = time.time()
            if record.action == "MeterValues":
                self._meter_values(record, received)
            elif record.action == "StartTransaction":
                key = (record.charge_point_id, record.payload["connectorId"])
                self._start_wall[key] = parse_datetime(record.payload["timestamp"]).timestamp()
            if self.in_window:
                self.calls_in[record.action or "?"] += 1
        elif record.direction == "out" and record.kind == "CALLRESULT":
            if record.action == "StartTransaction":
                self.started += 1
                if self.started == self.transactions:
                    self.started_at = time.monotonic()
                    self.all_started.set()
            elif record.action == "MeterValues" and self.in_window:
                self.meter_values_answered += 1

    def _meter_values(self, record: Record, received: float) -> None:
        key = (record.charge_point_id, record.payload["connectorId"])
        start = self._start_wall.get(key)
        if start is None or "transactionId" not in record.payload:
            return
        self._samples[key] += 1
        if not self.in_window:
            return
        self.meter_values_in += 1
        due = start + self._samples[key] * self.interval
        taken = parse_datetime(record.payload["meterValue"][0]["timestamp"]).timestamp()
        self.lag.append((received, taken - due, received - taken))

    def lag_report(self) -> dict[str, Any]:
        total = [sampling + delivery for _, sampling, delivery in self.lag]
        report: dict[str, Any] = {
            "lag": _percentiles(total),
            "sampling": _percentiles([sampling for _, sampling, _ in self.lag]),
            "delivery": _percentiles([delivery for _, _, delivery in self.lag]),
        }
        if self.lag:  # the median lag of the first and the last sample interval of the window: does it grow?
            first, last = self.lag[0][0], self.lag[-1][0]
            report["lag_first_interval"] = _percentiles(
                [s + d for at, s, d in self.lag if at < first + self.interval]
            )["p50"]
            report["lag_last_interval"] = _percentiles(
                [s + d for at, s, d in self.lag if at > last - self.interval]
            )["p50"]
        return report


async def serve_csms(transactions: int, warmup: float, window: float, start_timeout: float) -> None:
    """Serve until killed; print the port, then a JSON line when all transactions started, when the window
    opens and when it closes."""
    watcher = _Watcher(transactions, SAMPLE_INTERVAL)
    central_system = CentralSystem(heartbeat_interval=HEARTBEAT_INTERVAL, on_record=watcher, max_records=1000)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(central_system.serve, "127.0.0.1", 0)
        print(f"port {port}", flush=True)
        with trio.move_on_after(start_timeout):
            await watcher.all_started.wait()
        _emit(event="started", started=watcher.started, at=watcher.started_at or time.monotonic())
        await trio.sleep(warmup)
        messages_before = central_system.messages_in + central_system.messages_out
        cpu_before = time.process_time()
        opened = time.monotonic()
        watcher.in_window = True
        _emit(event="window")
        await trio.sleep(window)
        watcher.in_window = False
        seconds = time.monotonic() - opened
        _emit(
            event="report",
            seconds=seconds,
            cpu=time.process_time() - cpu_before,
            messages=central_system.messages_in + central_system.messages_out - messages_before,
            meter_values_in=watcher.meter_values_in,
            meter_values_answered=watcher.meter_values_answered,
            calls_in=dict(watcher.calls_in),
            **watcher.lag_report(),
        )
        await trio.sleep_forever()  # the driver kills this process


# --- the fleet process ------------------------------------------------------------------------------------


class _GcTimer:
    """CPU time spent in the garbage collector (``time.process_time()`` around each collection, from
    ``gc.callbacks``)."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        """Collections of each generation (a collection of generation 2 is a full one)."""
        self.times = [0.0, 0.0, 0.0]
        """Seconds spent in collections of each generation."""
        self._began = 0.0
        gc.callbacks.append(self)

    @property
    def seconds(self) -> float:
        return sum(self.times)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.process_time()
        else:
            generation = info["generation"]
            self.times[generation] += time.process_time() - self._began
            self.collections[generation] += 1


def _configuration() -> dict[str, str]:
    return {
        "MeterValueSampleInterval": str(SAMPLE_INTERVAL),
        "MeterValuesSampledData": SAMPLED_DATA,
        "HeartbeatInterval": str(HEARTBEAT_INTERVAL),
    }


async def run_fleet(url: str, count: int, ramp: float, spread: float) -> None:
    """Boot, start a session on every connector, then report the window's figures as told on stdin."""
    problems = _ProblemCounter()
    for name in ("actors", "fleet"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(problems)
    gc_timer = _GcTimer()
    lines = _StdinLines()
    specs = [
        ChargePointSpec(
            id=charge_point_id(n),
            serial=f"SN-{n:06}",
            connectors=CONNECTORS,
            vendor="ocpp-fleet",
            model="Charging",
            firmware="1.0.0",
            csms_url=url,
            configuration=_configuration(),
        )
        for n in range(1, count + 1)
    ]
    rss_before = memory_kib()["VmRSS"]
    fleet = Fleet(specs, storage=MemoryStorage(), dialer=tcp_dialer)
    async with trio.open_nursery() as nursery:
        begin = time.monotonic()
        nursery.start_soon(functools.partial(fleet.run, ramp=ramp))
        while fleet.counts().accepted < count:  # noqa: ASYNC110 (the fleet has no event for this)
            await trio.sleep(0.2)
        booted = time.monotonic()
        for charge_point in fleet.charge_points:
            charge_point.clock.synchronise(datetime.now(UTC))
        _emit(event="booted", boot_seconds=booted - begin, sessions_from=booted)

        connectors = [connector for spec in specs for connector in fleet.hardware[spec.id]]
        total, started, first = len(connectors), 0, trio.current_time()
        while started < total:
            # Every session whose time has come, at once: a busy scheduler must not slow the starts down.
            elapsed = trio.current_time() - first
            due = total if spread <= 0 else min(total, math.floor(elapsed / spread * total) + 1)
            for index in range(started, due):
                connectors[index].plug_in(EV)
                connectors[index].present_id_tag(f"TAG-{index:05}")
            started = max(started, due)
            if started < total:
                await trio.sleep_until(first + spread * started / total)

        while await lines.next() != "mark":
            pass
        cpu_before, wall_before = time.process_time(), time.monotonic()
        times_before, collections_before = list(gc_timer.times), list(gc_timer.collections)
        while await lines.next() != "report":
            pass
        cpu, wall = time.process_time() - cpu_before, time.monotonic() - wall_before
        memory = memory_kib()
        counts = fleet.counts()
        _emit(
            event="report",
            cpu=cpu,
            seconds=wall,
            gc=gc_timer.seconds - sum(times_before),
            collections=[
                after - before for after, before in zip(gc_timer.collections, collections_before, strict=True)
            ],
            gc_times=[after - before for after, before in zip(gc_timer.times, times_before, strict=True)],
            rss_before=rss_before,
            rss=memory["VmRSS"],
            peak=memory["VmHWM"],
            accepted=counts.accepted,
            charging=sum(
                connector.transaction is not None
                for charge_point in fleet.charge_points
                for connector in charge_point.connectors.values()
            ),
            problems=problems.count + counts.crashes,
        )
        os._exit(0)  # closing thousands of connections is not measured


# --- the driver -------------------------------------------------------------------------------------------


def _number(report: dict[str, Any], key: str) -> float:
    return float(report[key])


@dataclass(frozen=True)
class Run:
    """The figures of one size."""

    count: int
    ramp: float
    boot_seconds: float
    start_seconds: float
    """From the first plug-in until the Central System answered the last StartTransaction."""
    started: int
    csms: dict[str, Any]
    fleet_cpu: float
    """CPU seconds of the fleet process in the window (``/proc/PID/stat``: user + system)."""
    fleet_seconds: float
    fleet_rss_kib: int
    fleet: dict[str, Any] | None
    """The fleet's own report (GC time, connectors charging, problems); ``None`` if it did not give it."""
    machine_busy: float
    """CPU seconds the whole machine spent busy in the window (``/proc/stat``), all processes."""

    @property
    def others_percent(self) -> float:
        """What other processes than the fleet and the Central System took in the window, in % of a core."""
        others = self.machine_busy - self.fleet_cpu - _number(self.csms, "cpu")
        return max(0.0, 100 * others / self.fleet_seconds)

    @property
    def connectors(self) -> int:
        return self.count * CONNECTORS

    @property
    def expected_per_second(self) -> float:
        return self.connectors / SAMPLE_INTERVAL

    @property
    def received_per_second(self) -> float:
        return _number(self.csms, "meter_values_in") / _number(self.csms, "seconds")

    @property
    def answered_per_second(self) -> float:
        return _number(self.csms, "meter_values_answered") / _number(self.csms, "seconds")

    @property
    def messages_per_second(self) -> float:
        return _number(self.csms, "messages") / _number(self.csms, "seconds")

    @property
    def fleet_cpu_percent(self) -> float:
        return 100 * self.fleet_cpu / self.fleet_seconds

    @property
    def csms_cpu_percent(self) -> float:
        return 100 * _number(self.csms, "cpu") / _number(self.csms, "seconds")

    @property
    def gc_percent(self) -> float | None:
        if self.fleet is None or self.fleet["cpu"] <= 0:
            return None
        return 100 * _number(self.fleet, "gc") / _number(self.fleet, "cpu")

    @property
    def keeps_up(self) -> bool:
        """All started, the expected MeterValues rate (within 3 %), and lag p99 under the sample interval."""
        p99 = self.csms["lag"]["p99"]
        return (
            self.started == self.connectors
            and self.received_per_second >= 0.97 * self.expected_per_second
            and p99 is not None
            and p99 < 1000 * SAMPLE_INTERVAL
        )


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    """CPU seconds all cores of the machine have been busy (not idle, not waiting for I/O) since boot."""
    with open("/proc/stat") as stat:
        fields = [int(field) for field in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _process_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def _read_json(worker: _Worker, timeout: float, what: str) -> dict[str, Any]:
    line = worker.read_line(timeout)
    if line is None:
        raise RuntimeError(f"no {what} within {timeout:g} s")
    result: dict[str, Any] = json.loads(line)
    return result


def _tell(worker: _Worker, line: str) -> None:
    assert worker.process.stdin is not None
    worker.process.stdin.write(line + "\n")
    worker.process.stdin.flush()


def _command(role: str, *arguments: str) -> list[str]:
    return [sys.executable, __file__, "--role", role, *arguments]


def run_once(count: int, args: argparse.Namespace) -> Run:
    """One size, with a fresh Central System process and a fresh fleet process."""
    transactions = count * CONNECTORS
    csms = _Worker(
        _command(
            "csms",
            *("--count", str(transactions), "--warmup", str(args.warmup), "--window", str(args.window)),
            *("--start-timeout", str(args.start_timeout)),
        )
    )
    profiler: subprocess.Popen[bytes] | None = None
    try:
        line = csms.read_line(CSMS_STARTUP_TIMEOUT)
        if line is None or not line.startswith("port "):
            raise RuntimeError(f"the Central System did not start: {line!r}")
        url = f"ws://127.0.0.1:{int(line.split()[1])}/ocpp"
        fleet = _Worker(
            _command(
                "fleet",
                *("--url", url, "--count", str(count), "--ramp", str(args.ramp)),
                *("--spread", str(args.spread)),
            )
        )
        try:
            boot_timeout = LINE_TIMEOUT + (count / args.ramp if args.ramp > 0 else 0) * 3
            booted = _read_json(fleet, boot_timeout, "boot")
            print(f"  N={count}: booted in {booted['boot_seconds']:.1f} s", file=sys.stderr)
            started = _read_json(csms, args.start_timeout + LINE_TIMEOUT, "start of the transactions")
            start_seconds = started["at"] - booted["sessions_from"]
            print(
                f"  N={count}: {started['started']:,} of {transactions:,} transactions started "
                f"{start_seconds:.1f} s after the first plug-in",
                file=sys.stderr,
            )
            _read_json(csms, args.warmup + LINE_TIMEOUT, "window")
            fleet_cpu, machine_busy = _process_cpu(fleet.process.pid), _machine_busy()
            window_opened = time.monotonic()
            _tell(fleet, "mark")
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                output = args.profile / f"charging-{count}.txt"
                profiler = subprocess.Popen(
                    [
                        *(str(PY_SPY), "record", "--pid", str(fleet.process.pid)),
                        *("--duration", str(round(args.window)), "--format", "raw", "--function"),
                        *("--output", str(output)),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            csms_report = _read_json(csms, args.window + LINE_TIMEOUT, "report of the Central System")
            fleet_cpu = _process_cpu(fleet.process.pid) - fleet_cpu
            machine_busy = _machine_busy() - machine_busy
            fleet_seconds = time.monotonic() - window_opened
            fleet_rss_kib = _process_rss_kib(fleet.process.pid)
            _tell(fleet, "report")
            fleet_report: dict[str, Any] | None = None
            try:
                fleet_report = _read_json(fleet, LINE_TIMEOUT, "report of the fleet")
            except RuntimeError as problem:  # a saturated fleet may not get to it: its CPU is known anyway
                print(f"  N={count}: {problem}", file=sys.stderr)
            if profiler is not None:
                profiler.wait(timeout=LINE_TIMEOUT)
                print_profile(args.profile / f"charging-{count}.txt", count)
        finally:
            fleet.kill()
    finally:
        if profiler is not None and profiler.poll() is None:
            profiler.kill()
        csms.kill()
    return Run(
        count=count,
        ramp=args.ramp,
        boot_seconds=booted["boot_seconds"],
        start_seconds=start_seconds,
        started=started["started"],
        csms=csms_report,
        fleet_cpu=fleet_cpu,
        fleet_seconds=fleet_seconds,
        fleet_rss_kib=fleet_rss_kib,
        fleet=fleet_report,
        machine_busy=machine_busy,
    )


# --- the profile ------------------------------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")
_OURS = ("actors", "fleet", "storage")
_WAITING = "trio/_core/_io_epoll.py:EpollIOManager.get_events"
"""The scheduler waiting in ``epoll_wait``: idle time that py-spy does not always recognise as idle."""


_GENERATED = re.compile(r"^<c?attrs generated [a-z ]+ (?P<module>[\w.]+)\.\w+>$")


def _area(file: str) -> str:
    """Who a source file of a py-spy frame belongs to (py-spy shortens paths to the import path); code that
    attrs and cattrs generate counts for the package of its class."""
    if match := _GENERATED.match(file):
        top = match["module"].split(".")[0]
        return "ours: attrs/cattrs-generated" if top in _OURS else top
    if file == "<string>":
        return "ours: attrs/cattrs-generated"  # cattrs hooks of our classes, built with exec
    if file.startswith("<frozen "):
        return f"stdlib: {file.removeprefix('<frozen ').removesuffix('>')}"
    parts = file.split("/")
    top = parts[0].removesuffix(".py")
    if top in _OURS:
        return f"ours: {'/'.join(parts[:-1])}"
    if top == Path(__file__).stem:
        return "ours: benchmark"
    if top in sys.stdlib_module_names:
        return f"stdlib: {top}"
    return top


def _name(frame: str) -> tuple[str, str]:
    """(``file:function``, area) of a py-spy frame ``function (file:line)``."""
    match = _FRAME.match(frame)
    if match is None:
        return frame, "?"
    return f"{match['file']}:{match['function']}", _area(match["file"])


def print_profile(raw: Path, count: int, top: int = 25) -> None:
    """Self and inclusive shares of the samples of a ``py-spy record --format raw`` file, without the
    samples waiting in epoll."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = waiting = 0
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        samples = int(number)
        frames = [_name(frame) for frame in stack.split(";")]
        function, area = frames[-1]
        if function == _WAITING:
            waiting += samples
            continue
        total += samples
        own[function] += samples
        areas[area] += samples
        for name in {name for name, _ in frames}:
            inclusive[name] += samples
    if total == 0:
        print(f"profile N={count}: no samples", file=sys.stderr)
        return
    print(
        f"\nprofile of the fleet, N={count:,}: {total:,} samples on CPU ({raw}; {waiting:,} more waiting in "
        "epoll left out)\n"
    )
    print("| area (self time) | share |\n|---|---:|")
    for area, samples in areas.most_common():
        print(f"| {area} | {100 * samples / total:.1f} % |")
    print("\n| function (self time) | share |\n|---|---:|")
    for function, samples in own.most_common(top):
        print(f"| `{function}` | {100 * samples / total:.1f} % |")
    print("\n| function (inclusive) | share |\n|---|---:|")
    shown = [(function, samples) for function, samples in inclusive.most_common() if samples < total]
    for function, samples in shown[: top + 15]:
        print(f"| `{function}` | {100 * samples / total:.1f} % |")


# --- the report -------------------------------------------------------------------------------------------


def _versions() -> list[str]:
    packages = ", ".join(
        f"{package} {metadata.version(package)}"
        for package in ("ocpp-fleet", "trio", "trio-websocket", "wsproto")
    )
    return [
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        packages,
    ]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"


def report(runs: list[Run]) -> None:
    print()
    for line in _versions():
        print(line)
    print()
    print(
        "| N | connectors | boot (s) | all started after (s) | MeterValues/s expected | received "
        "| answered | all messages/s | lag p50 / p99 / max (ms) | sampling p99 (ms) | delivery p99 (ms) "
        "| fleet CPU (% of a core) | GC (% of fleet CPU) | fleet RSS (MiB) | CSMS CPU (% of a core) "
        "| keeps up |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for run in runs:
        lag = run.csms["lag"]
        started = f"{run.start_seconds:.1f}"
        if run.started < run.connectors:
            started = f"{run.started:,} of {run.connectors:,} only"
        print(
            f"| {run.count:,} | {run.connectors:,} | {run.boot_seconds:.1f} | {started} "
            f"| {run.expected_per_second:,.0f} | {run.received_per_second:,.1f} "
            f"| {run.answered_per_second:,.1f} "
            f"| {run.messages_per_second:,.0f} | {_ms(lag['p50'])} / {_ms(lag['p99'])} / {_ms(lag['max'])} "
            f"| {_ms(run.csms['sampling']['p99'])} | {_ms(run.csms['delivery']['p99'])} "
            f"| {run.fleet_cpu_percent:.0f} % | {_percent(run.gc_percent)} | {run.fleet_rss_kib / 1024:,.0f} "
            f"| {run.csms_cpu_percent:.0f} % | {'yes' if run.keeps_up else 'NO'} |"
        )
    print()
    for run in runs:
        other = {action: n for action, n in run.csms["calls_in"].items() if action != "MeterValues"}
        fleet = (
            "the fleet did not report"
            if run.fleet is None
            else f"GC collections by generation {run.fleet['collections']}, taking "
            f"{', '.join(f'{seconds:.2f}' for seconds in run.fleet['gc_times'])} s; "
            f"connectors charging {run.fleet['charging']:,}; "
            f"logged problems {run.fleet['problems']}"
        )
        print(
            f"N={run.count:,}: window {run.csms['seconds']:.1f} s; median lag in its first / last sample "
            f"interval {_ms(run.csms.get('lag_first_interval'))} / "
            f"{_ms(run.csms.get('lag_last_interval'))} ms; other CALLs in the window {other or 'none'}; "
            f"{fleet}; other processes took {run.others_percent:.0f} % of a core"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(
            "Charging load: N charge points with 2 connectors each, all charging, MeterValues (4 sampled "
            "values) every 10 s, against the embedded Central System in its own process over loopback TCP. "
            "After a boot (at --ramp per second) and a session started on every connector, measures in a "
            "steady window: MeterValues per second received and answered at the Central System (expected "
            "2N / 10 s), all messages per second, the lag from when each sample was due to when the Central "
            "System received it (p50/p99/max), and the fleet process's CPU share, GC share and RSS. Prints "
            "a Markdown table."
        ),
        epilog=(
            "Each size takes about the boot (N / ramp seconds) + spread + the time to start every session + "
            "warmup + window; N = 1,000 about 2 minutes with the defaults."
        ),
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=[100, 1000],
        help="numbers of charge points (2 connectors each), comma-separated (default: 100,1000)",
    )
    parser.add_argument(
        "--window", type=float, default=60.0, help="seconds of the measured window (default: %(default)s)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=30.0,
        help="seconds between the last StartTransaction answer and the window (default: %(default)s)",
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=DEFAULT_RAMP,
        help=f"charge points started per second at boot, 0 for all at once (default: {DEFAULT_RAMP:g}, as "
        "'ocpp-fleet run')",
    )
    parser.add_argument(
        "--spread",
        type=float,
        default=float(SAMPLE_INTERVAL),
        help="seconds over which the sessions are started, evenly (default: %(default)s: one sample "
        "interval)",
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=300.0,
        help="seconds from its start the Central System waits for all StartTransactions before it measures "
        "anyway (default: %(default)s)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record the fleet process with py-spy during each window into DIR/charging-N.txt (raw format) "
        "and print the top functions",
    )
    parser.add_argument("--role", choices=["csms", "fleet"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role in ("csms", "fleet"):
        gc.set_threshold(*GC_THRESHOLDS)  # as the ocpp-fleet command sets them
    if args.role == "csms":
        trio.run(serve_csms, args.count, args.warmup, args.window, args.start_timeout)
        return
    if args.role == "fleet":
        trio.run(run_fleet, args.url, args.count, args.ramp, args.spread)
        return

    if not args.sizes:
        parser.error("nothing to run: --sizes is empty")
    if args.window <= 0 or args.warmup < 0 or args.spread < 0 or args.ramp < 0 or args.start_timeout <= 0:
        parser.error(
            "--window and --start-timeout must be positive; --warmup, --spread and --ramp not negative"
        )
    if args.profile is not None and not PY_SPY.exists():
        parser.error(f"--profile needs py-spy at {PY_SPY}")
    _raise_open_files_limit(max(args.sizes))
    runs: list[Run] = []
    for count in args.sizes:
        run = run_once(count, args)
        print(
            f"  N={count}: {run.received_per_second:.1f} MeterValues/s "
            f"(expected {run.expected_per_second:g}), "
            f"lag p99 {_ms(run.csms['lag']['p99'])} ms, fleet CPU {run.fleet_cpu_percent:.0f} %",
            file=sys.stderr,
        )
        runs.append(run)
    report(runs)


if __name__ == "__main__":
    main()
