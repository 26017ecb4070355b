"""``ocpp-fleet run FLEET.toml --processes N``: one fleet in N processes (one trio loop per core), supervised
by this one, with one progress view and one report.

Each child is ``python -m fleet run FLEET.toml --shard K/N --child``: the very run that ``--shard K/N``
does on another machine (fleet.shards: the same split, the same database file ``fleet.pK-of-N.db``), which
speaks JSON lines on its standard output instead of printing for people. Child processes of our own command
rather than :mod:`multiprocessing`: nothing has to be pickled or imported twice over a spawn bootstrap, the
parent watches them with trio's own process and pipe support (no thread between a ``multiprocessing``
connection and the event loop), a child's errors and logs reach the same standard error as ever, and what
runs in a child is exactly what an orchestrator runs, so that one code path serves both.

**The protocol**, one JSON object per line from the child:

- ``{"type": "started", "charge_points": 250}`` once its database is open and its charge points start;
- ``{"type": "progress", "size": {...}, "totals": {...}, "actions": {...}}`` every
  :data:`PROGRESS_EVERY` seconds while the parent shows the live view, every :data:`QUIET_PROGRESS_EVERY`
  seconds otherwise, and once more when it is told to stop: its counts as they are now
  (:func:`progress_message`);
- ``{"type": "report", "report": {...}}`` when told to stop: its report (``ocpp-fleet-report/1`` with
  ``"shard": "K/N"``), as its charge points stand; then it winds them down and exits with status 0.

The parent says nothing but stops a child by closing the child's standard input; a child whose parent dies
(even of SIGKILL) sees the same end of input and stops. Children run in a session of their own, so that a
Ctrl-C at the terminal reaches the parent only, which stops them all. Once a stopping child has sent its
report, the parent kills it: winding down thousands of charge points (cancelling some ten trio tasks each)
takes seconds of CPU, and the database is consistent at any instant, so the next run carries on as after a
power cut (which every transaction message survives). A child that sends no report within
:data:`STOP_GRACE` seconds is killed too, and the run says so.

**A child that dies** (exits while the fleet runs) is reported on standard error at once with its exit
status, and started again after :data:`RESTART_PAUSE` seconds: its charge points carry on from its database
as after a power cut. The counts it had sent stay in the progress totals, but its final report is lost, so
the combined report lacks what its charge points did before; the run then ends with exit status 1, and says
so. A child that dies before it started (its database cannot be opened, say) stops the whole fleet.
"""

import contextlib
import functools
import json
import math
import os
import signal
import subprocess
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs
import trio
from rich.console import Console

from actors.connection import Dialer, tcp_dialer
from actors.statistics import BUCKET_COUNT, ActionCounts, AnswerTimes, Statistics
from fleet.commands import PROGRESS_EVERY as LINE_EVERY
from fleet.commands import REPORT_WIDTH, until_stopped
from fleet.fleetfile import FleetFile
from fleet.heap import freeze_while_growing
from fleet.metrics import FleetCollector, serving_metrics
from fleet.progress import FleetSize, ProgressMeter, plain_line, print_lines, show_live
from fleet.report import Report, build_report, merge_reports, print_report, write_report
from fleet.runner import DEFAULT_RAMP, Fleet
from fleet.shards import SHARD_KEY, Shard
from storage import open_database

__all__ = [
    "PROGRESS_EVERY",
    "QUIET_PROGRESS_EVERY",
    "RESTART_PAUSE",
    "STOP_GRACE",
    "CombinedStatistics",
    "progress_message",
    "run_processes",
    "run_shard_child",
]

PROGRESS_EVERY = 0.25
"""Seconds between the progress messages of a child while the parent shows the live view (it redraws as
often)."""
QUIET_PROGRESS_EVERY = 1.0
"""Seconds between the progress messages of a child while the parent prints a line now and then (and serves
metrics): a progress message costs both processes about a millisecond, which at 0.25 s was most of what the
command costs without charge points."""
STOP_GRACE = 5.0
"""Seconds a child has to send its report and exit once told to stop; then it is killed."""
RESTART_PAUSE = 1.0
"""Seconds before a child that died is started again."""

_GAUGES = ("connected", "accepted", "queue_depth", "sessions_running")
"""Totals of a child that are as of now: they leave the fleet's totals with the child."""
_COUNTERS = ("reconnects", "sessions_started", "sessions_stopped", "energy_wh")
"""Totals of a child that only grow: they stay in the fleet's totals after the child ended."""
_MAXIMA = ("queue_high_water",)
_TOTALS = (*_GAUGES, *_COUNTERS, *_MAXIMA)


# --- the child ----------------------------------------------------------------------------------------------


def progress_message(statistics: Statistics, size: FleetSize) -> dict[str, Any]:
    """The progress message of a child: its counts as they are now, without anything per charge point."""
    return {
        "type": "progress",
        "size": {"charge_points": size.charge_points, "started": size.started, "crashes": size.crashes},
        "totals": {name: getattr(statistics, name) for name in _TOTALS},
        "actions": {name: _encode_counts(counts) for name, counts in list(statistics.actions.items())},
    }


def _encode_counts(counts: ActionCounts) -> dict[str, Any]:
    times = counts.times
    return {
        "sent": counts.sent,
        "answered": counts.answered,
        "errors": dict(counts.errors),
        "timeouts": counts.timeouts,
        "lost": counts.lost,
        "count": times.count,
        "sum_us": times.sum_us,
        "max_s": times.maximum,
        "buckets": {str(index): count for index, count in enumerate(times.buckets) if count},
    }


def _decode_counts(entry: Mapping[str, Any]) -> ActionCounts:
    buckets = [0] * BUCKET_COUNT
    for index, count in entry["buckets"].items():
        buckets[int(index)] = int(count)
    times = AnswerTimes(
        buckets=buckets, count=int(entry["count"]), maximum=float(entry["max_s"]), sum_us=int(entry["sum_us"])
    )
    return ActionCounts(
        sent=int(entry["sent"]),
        answered=int(entry["answered"]),
        errors={str(code): int(count) for code, count in entry["errors"].items()},
        timeouts=int(entry["timeouts"]),
        lost=int(entry["lost"]),
        times=times,
    )


async def run_shard_child(
    fleet_file: FleetFile,
    shard: Shard,
    *,
    database: Path,
    csms_url: str | None = None,
    ramp: float = DEFAULT_RAMP,
    dialer: Dialer = tcp_dialer,
    messages: trio.abc.SendStream | None = None,
    parent: trio.abc.ReceiveStream | None = None,
    freeze_heap: bool = False,
    progress_every: float = PROGRESS_EVERY,
) -> None:
    """Run shard ``shard`` of a fleet file as a child of :func:`run_processes`, keeping its state in
    ``database`` (as given), until ``parent`` (default: standard input) ends or SIGINT or SIGTERM comes.

    Speaks the protocol of this module on ``messages`` (default: standard output), a progress message every
    ``progress_every`` seconds; a parent that went away stops it too. ``freeze_heap``: garbage collection as
    :mod:`fleet.heap` says (it changes the whole process).
    """
    out = messages if messages is not None else trio.lowlevel.FdStream(os.dup(sys.stdout.fileno()))
    stop = parent if parent is not None else trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    specs = shard.select(fleet_file.charge_points())
    if csms_url is not None:
        specs = tuple(attrs.evolve(spec, csms_url=csms_url) for spec in specs)
    scenario = shard.scenario(fleet_file.scenario, specs)
    async with out, stop, await open_database(database) as storage:
        statistics = Statistics()
        fleet = Fleet(specs, storage=storage, dialer=dialer, statistics=statistics)
        begin = trio.current_time()
        if not await _send(out, {"type": "started", "charge_points": len(specs)}):
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(fleet.run, ramp=shard.ramp(ramp)))
            nursery.start_soon(fleet.play, scenario)
            if freeze_heap:
                nursery.start_soon(freeze_while_growing)
            stop_asked = trio.Event()
            nursery.start_soon(_set_at_end_of_input, stop, stop_asked)
            nursery.start_soon(_set_when_stopped, stop_asked)
            async with trio.open_nursery() as progress:
                progress.start_soon(
                    _send_progress, out, statistics, fleet, nursery.cancel_scope, progress_every
                )
                await stop_asked.wait()
                progress.cancel_scope.cancel()  # a progress message under way ends whole: the stream is ours
            # The report goes first, as the fleet stands: winding thousands of charge points down takes
            # seconds, and the parent may cut this process short once it has the report.
            size = FleetSize(len(fleet.charge_points), fleet.started, fleet.crashes)
            await _send(out, progress_message(statistics, size))
            now = trio.current_time()
            report = build_report(statistics, now=now, seconds=now - begin)
            report[SHARD_KEY] = str(shard)
            await _send(out, {"type": "report", "report": report})
            nursery.cancel_scope.cancel()


async def _send(out: trio.abc.SendStream, message: Mapping[str, Any]) -> bool:
    """Send one message, whole even if cancelled meanwhile; ``False`` if the parent is gone."""
    line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
    with trio.CancelScope(shield=True):
        try:
            await out.send_all(line)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
    return True


async def _send_progress(
    out: trio.abc.SendStream, statistics: Statistics, fleet: Fleet, scope: trio.CancelScope, every: float
) -> None:
    while True:
        await trio.sleep(every)
        size = FleetSize(len(fleet.charge_points), fleet.started, fleet.crashes)
        if not await _send(out, progress_message(statistics, size)):
            scope.cancel()  # nobody listens: the parent is gone
            return


async def _set_at_end_of_input(stream: trio.abc.ReceiveStream, event: trio.Event) -> None:
    try:
        while await stream.receive_some():
            pass
    except trio.BrokenResourceError:
        pass
    event.set()


async def _set_when_stopped(event: trio.Event) -> None:
    await until_stopped(None)
    event.set()


# --- the parent ---------------------------------------------------------------------------------------------


@attrs.frozen
class _ShardFigures:
    """The latest progress message of a child, decoded."""

    size: FleetSize
    totals: Mapping[str, int]
    actions: Mapping[str, ActionCounts]

    @classmethod
    def decode(cls, message: Mapping[str, Any]) -> "_ShardFigures":
        size = message["size"]
        return cls(
            FleetSize(int(size["charge_points"]), int(size["started"]), int(size["crashes"])),
            {name: int(message["totals"][name]) for name in _TOTALS},
            {str(name): _decode_counts(entry) for name, entry in message["actions"].items()},
        )


class CombinedStatistics:
    """The figures of a fleet run by several processes, from the latest progress message of each.

    :attr:`statistics` is a :class:`~actors.statistics.Statistics` with the fleet's totals and counts per
    action (no charge points), which :meth:`refresh` brings up to date: what a
    :class:`~fleet.progress.ProgressMeter` and a :class:`~fleet.metrics.FleetCollector` read. When a child
    ends, what it counted stays in the totals (CALLs, sessions, energy, reconnects, crashes), and what it
    was (connected, accepted, queued, sessions running, started) leaves them.
    """

    def __init__(self, planned: Mapping[Shard, int]) -> None:
        """``planned``: how many charge points each shard has, until its child says."""
        self.statistics = Statistics()
        self._planned = dict(planned)
        self._latest: dict[Shard, _ShardFigures] = {}
        self._retired_actions: dict[str, ActionCounts] = {}
        self._retired_totals = dict.fromkeys(_TOTALS, 0)
        self._retired_crashes = 0
        self._size = FleetSize(sum(self._planned.values()), 0, 0)
        self._changed = False

    def update(self, shard: Shard, message: Mapping[str, Any]) -> None:
        """The child of ``shard`` sent a progress message; raises KeyError, TypeError or ValueError if it
        is not one."""
        self._latest[shard] = _ShardFigures.decode(message)
        self._changed = True

    def retire(self, shard: Shard) -> None:
        """The child of ``shard`` ended: what it counted stays, what it was leaves the figures."""
        figures = self._latest.pop(shard, None)
        if figures is None:
            return
        for name, counts in figures.actions.items():
            self._retired_actions.setdefault(name, ActionCounts()).merge(counts)
        for name in _COUNTERS:
            self._retired_totals[name] += figures.totals[name]
        for name in _MAXIMA:
            self._retired_totals[name] = max(self._retired_totals[name], figures.totals[name])
        self._retired_crashes += figures.size.crashes
        self._changed = True

    def size(self) -> FleetSize:
        """Charge points in the fleet, started and crashed, as of the last :meth:`refresh`."""
        return self._size

    def refresh(self) -> None:
        """Bring :attr:`statistics` and :meth:`size` up to date with the children's latest figures."""
        if not self._changed:
            return
        self._changed = False
        latest = list(self._latest.items())
        actions: dict[str, ActionCounts] = {}
        for source in [self._retired_actions, *(figures.actions for _, figures in latest)]:
            for name, counts in source.items():
                actions.setdefault(name, ActionCounts()).merge(counts)
        statistics = self.statistics
        statistics.actions = actions  # one assignment: a metrics scrape in its thread sees old or new
        for name in _TOTALS:
            values = [self._retired_totals[name], *(figures.totals[name] for _, figures in latest)]
            setattr(statistics, name, max(values) if name in _MAXIMA else sum(values))
        reported = dict(latest)
        self._size = FleetSize(
            charge_points=sum(
                reported[shard].size.charge_points if shard in reported else planned
                for shard, planned in self._planned.items()
            ),
            started=sum(figures.size.started for _, figures in latest),
            crashes=self._retired_crashes + sum(figures.size.crashes for _, figures in latest),
        )

    async def keep_up(self, *, every: float = PROGRESS_EVERY) -> None:
        """:meth:`refresh` every ``every`` seconds until cancelled."""
        while True:
            self.refresh()
            await trio.sleep(every)


def describe_exit(returncode: int) -> str:
    """How a process ended, as people say it: ``exit status 2``, ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


@attrs.define(eq=False)
class _Child:
    """The process of one shard, started again when it dies, until told to stop."""

    shard: Shard
    command: list[str]
    database: Path
    combined: CombinedStatistics
    errors: TextIO
    process: trio.Process | None = None
    stopping: bool = False
    lives: int = 0
    deaths: int = 0
    """Times its process ended while the fleet ran."""
    reports: list[Report] = attrs.Factory(list)
    """The final reports of its processes."""
    lost: int = 0
    """Processes of it that ended without their report."""
    failed: bool = False
    """It ended before it started (then the fleet stops)."""
    killed: bool = False
    """It did not stop within the grace period."""
    ended: trio.Event = attrs.Factory(trio.Event)
    _stop: trio.Event = attrs.Factory(trio.Event)

    async def supervise(
        self, failed: trio.Event, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the child, again after it died, until :meth:`stop`; reports its first pid when started.

        Sets ``failed`` if the child ends before it started.
        """
        try:
            while True:
                process = await trio.lowlevel.open_process(
                    self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
                )
                self.process = process
                self.lives += 1
                if self.lives == 1:
                    task_status.started(process.pid)
                else:
                    self._say(f"ocpp-fleet: shard {self.shard} started again: pid {process.pid}")
                if self.stopping:
                    await self._close_input()
                started, reported = await self._follow(process)
                assert process.returncode is not None
                how = describe_exit(process.returncode)
                name = f"ocpp-fleet: shard {self.shard} (pid {process.pid})"
                if not reported:
                    self.lost += 1
                if not started:
                    self.failed = True
                    self._say(
                        f"{name} ended before it started ({how})"
                        + ("" if failed.is_set() else "; stopping the fleet")
                    )
                    failed.set()
                    return
                if self.stopping:
                    if not reported:
                        self._say(f"{name} stopped without its report: {how}")
                    return
                self.combined.retire(self.shard)
                self.deaths += 1
                lost = "its figures so far are lost from the report" if not reported else "its report is kept"
                self._say(
                    f"{name} died: {how}; {lost}; its charge points start again"
                    f" in {RESTART_PAUSE:g} s from {self.database}"
                )
                with trio.move_on_after(RESTART_PAUSE):
                    await self._stop.wait()
                if self.stopping:
                    return
        finally:
            self.ended.set()

    async def _follow(self, process: trio.Process) -> tuple[bool, bool]:
        """Read the child's messages until it exits; whether it started, whether it sent its report.

        Cancelled (the grace period is over): the child is killed.
        """
        started = reported = False
        assert process.stdout is not None
        try:
            async with contextlib.aclosing(_lines(process.stdout)) as lines:
                async for line in lines:
                    kind = self._take(line)
                    started = started or kind == "started"
                    reported = reported or kind == "report"
                    if reported and self.stopping:
                        break  # all it had to say: its power is cut (its state is kept as at a power cut)
            if not (reported and self.stopping):
                await process.wait()
        finally:
            with trio.CancelScope(shield=True):
                if process.returncode is None:
                    self.killed = not reported
                    process.kill()
                    await process.wait()
                for stream in (process.stdin, process.stdout):
                    if stream is not None:
                        await stream.aclose()
        return started, reported

    def _take(self, line: bytes) -> str | None:
        """Take in one message of the child; its type, or ``None`` if it is not one (then it is shown)."""
        try:
            message = json.loads(line)
            kind = message["type"]
            if kind == "progress":
                self.combined.update(self.shard, message)
            elif kind == "report":
                self.reports.append(message["report"])
            elif kind != "started":
                raise ValueError(kind)
        except (KeyError, TypeError, ValueError):
            self._say(f"ocpp-fleet: shard {self.shard}: {line.decode(errors='replace')[:200]}")
            return None
        return str(kind)

    async def stop(self) -> None:
        """Tell the child to stop (the end of its input); it sends its report and exits."""
        self.stopping = True
        self._stop.set()
        await self._close_input()

    async def _close_input(self) -> None:
        if self.process is not None and self.process.stdin is not None:
            await self.process.stdin.aclose()

    def _say(self, line: str) -> None:
        print(line, file=self.errors, flush=True)


async def _lines(stream: trio.abc.ReceiveStream) -> AsyncGenerator[bytes, None]:
    """The lines of ``stream`` (without their ends), however long, until it ends."""
    buffer = bytearray()
    searched = 0
    while True:
        chunk = await stream.receive_some(1 << 16)
        if not chunk:
            if buffer:
                yield bytes(buffer)
            return
        buffer += chunk
        while (end := buffer.find(b"\n", searched)) >= 0:
            yield bytes(buffer[:end])
            del buffer[: end + 1]
            searched = 0
        searched = len(buffer)


async def run_processes(
    fleet_path: Path,
    fleet_file: FleetFile,
    out: TextIO,
    *,
    processes: int,
    csms_url: str | None = None,
    database: Path | None = None,
    ramp: float = DEFAULT_RAMP,
    duration: float | None = None,
    report: Path | None = None,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
    live: bool | None = None,
    errors: TextIO | None = None,
    python: Sequence[str] = (sys.executable, "-m", "fleet"),
) -> int:
    """Run the fleet file at ``fleet_path`` (read as ``fleet_file``) in ``processes`` child processes until
    ``duration`` is over or SIGINT or SIGTERM comes; returns the exit status: 0, or 1 if a child died, could
    not start or had to be killed.

    Progress, report (``report``: also as JSON) and metrics (``metrics_port``) as
    :func:`fleet.commands.run_fleet` shows them, for the whole fleet. The state of shard K of N is in
    ``database`` (default: the fleet file's) named ``.pK-of-N`` (:meth:`Shard.database`). Lines about the
    children go to ``errors`` (default: standard error). The children run ``python`` with the arguments of
    ``ocpp-fleet``.
    """
    errors = errors if errors is not None else sys.stderr
    base = (database if database is not None else fleet_file.database).absolute()
    specs = fleet_file.charge_points()
    shards = Shard.all(processes)
    combined = CombinedStatistics({shard: len(shard.select(specs)) for shard in shards})
    live = out.isatty() if live is None else live
    progress_every = PROGRESS_EVERY if live else QUIET_PROGRESS_EVERY
    children = [
        _Child(
            shard,
            _child_command(
                python, fleet_path, shard, base, csms_url=csms_url, ramp=ramp, progress_every=progress_every
            ),
            shard.database(base),
            combined,
            errors,
        )
        for shard in shards
    ]
    title = (
        f"running {len(specs)} charge points of {fleet_file.source} in {processes} processes, "
        f"{ramp:g} per second"
    )
    print(title, file=out, flush=True)
    meter = ProgressMeter(combined.statistics, start=trio.current_time())
    failed = trio.Event()
    with (
        trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals,
        _serving_metrics(combined, metrics_host, metrics_port, out),
    ):
        async with trio.open_nursery() as nursery:
            for child in children:
                pid = await nursery.start(child.supervise, failed)
                print(
                    f"shard {child.shard}: {len(child.shard.select(specs))} charge points, pid {pid}, "
                    f"state in {child.database}",
                    file=out,
                    flush=True,
                )
            async with trio.open_nursery() as showing:
                showing.start_soon(combined.keep_up)
                if live:
                    showing.start_soon(show_live, out, meter, combined.size, title)
                else:
                    showing.start_soon(
                        functools.partial(print_lines, out, meter, combined.size, every=LINE_EVERY)
                    )
                await _until(signals, failed, within=math.inf if duration is None else duration)
                showing.cancel_scope.cancel()
            for child in children:
                await child.stop()
            ended = trio.Event()
            nursery.start_soon(_wait_all, [child.ended for child in children], ended)
            await _until(signals, ended, within=STOP_GRACE)  # a second Ctrl-C kills them at once
            nursery.cancel_scope.cancel()
    combined.refresh()
    if not live:
        figures = meter.figures(trio.current_time(), combined.size())
        print(plain_line(figures, prefix="stopped: "), file=out, flush=True)
    return _finish(children, out, errors, live=live, report=report)


def _child_command(
    python: Sequence[str],
    fleet_path: Path,
    shard: Shard,
    database: Path,
    *,
    csms_url: str | None,
    ramp: float,
    progress_every: float,
) -> list[str]:
    command = [*python, "run", str(fleet_path.absolute()), "--shard", str(shard), "--child"]
    command += ["--database", str(database), "--ramp", repr(ramp), "--progress-every", repr(progress_every)]
    if csms_url is not None:
        command += ["--csms-url", csms_url]
    return command


@contextlib.contextmanager
def _serving_metrics(
    combined: CombinedStatistics, host: str, port: int | None, out: TextIO
) -> Iterator[None]:
    if port is None:
        yield
        return
    with serving_metrics(FleetCollector(combined.statistics, combined.size), host, port) as bound:
        print(f"Prometheus metrics on http://{host}:{bound}/metrics", file=out, flush=True)
        yield


async def _until(signals: AsyncIterator[int], event: trio.Event, *, within: float) -> None:
    """Return at the next SIGINT or SIGTERM, when ``event`` is set, or after ``within`` seconds."""
    with trio.move_on_after(within):
        async with trio.open_nursery() as nursery:

            async def signal_comes() -> None:
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()

            async def event_is_set() -> None:
                await event.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(signal_comes)
            nursery.start_soon(event_is_set)


async def _wait_all(events: Sequence[trio.Event], done: trio.Event) -> None:
    for event in events:
        await event.wait()
    done.set()


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _finish(
    children: Sequence[_Child], out: TextIO, errors: TextIO, *, live: bool, report: Path | None
) -> int:
    """Print the combined report and what went wrong with the children; the exit status."""
    status = 0
    for child in children:
        if child.killed:
            print(
                f"ocpp-fleet: shard {child.shard} did not stop within {STOP_GRACE:g} s: killed, without its "
                "report",
                file=errors,
                flush=True,
            )
        if child.deaths:
            print(
                f"ocpp-fleet: shard {child.shard} died {_times(child.deaths)} while running"
                + (": the report lacks what its charge points did before" if child.lost else ""),
                file=errors,
                flush=True,
            )
        if child.killed or child.deaths or child.failed or child.lost:
            status = 1
    reports = [report for child in children for report in child.reports]
    if not reports:
        print("ocpp-fleet: no report: no shard sent one", file=errors, flush=True)
        return 1
    merged = merge_reports(reports)
    merged["shards"] = sum(1 for child in children if child.reports)
    print_report(merged, Console(file=out, width=None if live else REPORT_WIDTH))
    if report is not None:
        write_report(report, merged)
        print(f"report written to {report}", file=out, flush=True)
    return status
