"""What ``ocpp-fleet run`` shows while it runs: a live view on a terminal, plain lines otherwise.

The figures come from the fleet's shared :class:`~actors.statistics.Statistics`, whose totals the charge
points keep up to date, so taking them costs the same for 10 charge points as for 10,000: no charge point is
visited. Rates and answer-time percentiles are over the last :data:`WINDOW` seconds (from the difference of
two snapshots of the counts and buckets), the other figures are as of now.
"""

import collections
import math
from collections.abc import Callable
from typing import TextIO

import attrs
import trio
from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table

from actors.statistics import BUCKET_COUNT, Statistics, percentile_of_buckets
from fleet.report import format_energy, format_seconds

__all__ = [
    "REDRAW_EVERY",
    "WINDOW",
    "Figures",
    "FleetSize",
    "ProgressMeter",
    "live_view",
    "plain_line",
    "print_lines",
    "show_live",
]

REDRAW_EVERY = 0.25
"""Seconds between redraws of the live view (4 a second)."""
WINDOW = 5.0
"""Seconds over which rates and percentiles are taken."""


@attrs.frozen
class FleetSize:
    """What only the fleet knows: how many charge points it has, how many started, how many crashed."""

    charge_points: int
    started: int
    crashes: int = 0


@attrs.frozen
class Figures:
    """How the fleet is doing."""

    charge_points: int
    started: int
    connected: int
    accepted: int
    offline: int
    """Started, but without a connection."""
    crashes: int
    sessions_running: int
    sessions_started: int
    sessions_stopped: int
    energy_wh: int
    """Energy of the sessions stopped so far."""
    queued: int
    """Transaction-related messages waiting in the offline queues."""
    calls_per_second: float
    """Our CALLs sent per second over the window."""
    answer_p50: float | None
    answer_p99: float | None
    """Answer times of the Central System over the window, seconds; ``None`` without answers."""
    errors: int
    """CALLERRORs received since the start."""
    timeouts: int
    """CALLs not answered in time since the start."""


@attrs.frozen
class _Snapshot:
    time: float
    sent: int
    buckets: list[int]


class ProgressMeter:
    """Takes the figures of a fleet from its statistics; rates and percentiles over the last ``window``."""

    def __init__(self, statistics: Statistics, *, start: float, window: float = WINDOW) -> None:
        """``start``: the trio time the counts began at (zero)."""
        self._statistics = statistics
        self._window = window
        self._snapshots = collections.deque([_Snapshot(start, 0, [0] * BUCKET_COUNT)])

    def figures(self, now: float, size: FleetSize) -> Figures:
        """The figures at trio time ``now``."""
        statistics = self._statistics
        sent = 0
        errors = 0
        timeouts = 0
        maximum = 0.0
        buckets = [0] * BUCKET_COUNT
        for counts in list(statistics.actions.values()):
            sent += counts.sent
            errors += sum(counts.errors.values())
            timeouts += counts.timeouts
            maximum = max(maximum, counts.times.maximum)
            buckets = [total + count for total, count in zip(buckets, counts.times.buckets, strict=True)]
        snapshots = self._snapshots
        snapshots.append(_Snapshot(now, sent, buckets))
        while len(snapshots) > 1 and now - snapshots[1].time >= self._window:
            snapshots.popleft()
        oldest = snapshots[0]
        elapsed = now - oldest.time
        recent = [new - old for new, old in zip(buckets, oldest.buckets, strict=True)]
        return Figures(
            charge_points=size.charge_points,
            started=size.started,
            connected=statistics.connected,
            accepted=statistics.accepted,
            offline=max(0, size.started - statistics.connected),
            crashes=size.crashes,
            sessions_running=statistics.sessions_running,
            sessions_started=statistics.sessions_started,
            sessions_stopped=statistics.sessions_stopped,
            energy_wh=statistics.energy_wh,
            queued=statistics.queue_depth,
            calls_per_second=(sent - oldest.sent) / elapsed if elapsed > 0 else 0.0,
            answer_p50=percentile_of_buckets(recent, 0.50, maximum),
            answer_p99=percentile_of_buckets(recent, 0.99, maximum),
            errors=errors,
            timeouts=timeouts,
        )


def plain_line(figures: Figures, prefix: str = "") -> str:
    """The figures as one line of text (for output that is not a terminal)."""
    return (
        f"{prefix}{figures.started}/{figures.charge_points} started, {figures.connected} connected, "
        f"{figures.accepted} accepted, {figures.crashes} crashes, {figures.offline} offline, "
        f"{figures.sessions_running} sessions running, {figures.energy_wh} Wh delivered, "
        f"{figures.queued} queued, {figures.calls_per_second:.1f} calls/s, "
        f"answers p50 {format_seconds(figures.answer_p50)} p99 {format_seconds(figures.answer_p99)}, "
        f"{figures.errors} CALLERRORs, {figures.timeouts} timeouts"
    )


def live_view(figures: Figures, title: str, seconds: float) -> RenderableType:
    """The figures as a small rich table for the live view."""
    table = Table.grid(padding=(0, 2))
    table.title = f"{title}  [dim]{_duration(seconds)}[/dim]"
    table.title_justify = "left"
    for _ in range(6):
        table.add_column()
    table.add_row(
        "[bold]charge points",
        f"{figures.started:,}/{figures.charge_points:,} started",
        f"[green]{figures.connected:,} connected",
        f"[green]{figures.accepted:,} accepted",
        f"[yellow]{figures.offline:,} offline" if figures.offline else "0 offline",
        f"[red]{figures.crashes:,} crashes" if figures.crashes else "0 crashes",
    )
    table.add_row(
        "[bold]sessions",
        f"{figures.sessions_running:,} running",
        f"{figures.sessions_started:,} started",
        f"{figures.sessions_stopped:,} stopped",
        f"{format_energy(figures.energy_wh)} delivered",
        f"{figures.queued:,} queued",
    )
    errors = f"{figures.errors:,} CALLERRORs"
    timeouts = f"{figures.timeouts:,} timeouts"
    table.add_row(
        "[bold]Central System",
        f"{figures.calls_per_second:,.1f} calls/s",
        f"p50 {format_seconds(figures.answer_p50)}",
        f"p99 {format_seconds(figures.answer_p99)}",
        f"[red]{errors}" if figures.errors else errors,
        f"[red]{timeouts}" if figures.timeouts else timeouts,
    )
    return table


def _duration(seconds: float) -> str:
    whole = math.floor(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02}:{whole % 60:02}"


async def show_live(
    out: TextIO,
    meter: ProgressMeter,
    size: Callable[[], FleetSize],
    title: str,
    *,
    every: float = REDRAW_EVERY,
) -> None:
    """Redraw the live view on the terminal ``out`` every ``every`` seconds until cancelled; it stays."""
    console = Console(file=out)
    begin = trio.current_time()
    with Live(console=console, auto_refresh=False) as live:  # no refresh thread: we redraw, in trio
        while True:
            now = trio.current_time()
            live.update(live_view(meter.figures(now, size()), title, now - begin), refresh=True)
            await trio.sleep(every)


async def print_lines(
    out: TextIO, meter: ProgressMeter, size: Callable[[], FleetSize], *, every: float
) -> None:
    """Print the figures as a line every ``every`` seconds until cancelled."""
    while True:
        await trio.sleep(every)
        print(plain_line(meter.figures(trio.current_time(), size())), file=out, flush=True)
