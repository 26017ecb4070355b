"""The progress of ``ocpp-fleet run`` (fleet.progress): its figures, the live view, what a redraw costs."""

import io
import random
import time
from pathlib import Path

import pytest
import trio
import trio.testing
from rich.console import Console

from actors.connection import CsmsAddress
from actors.statistics import RESOLUTION, Statistics
from fleet.commands import run_fleet
from fleet.csms import CentralSystem
from fleet.fleetfile import load_fleet_file
from fleet.progress import FleetSize, ProgressMeter, live_view, plain_line
from storage import MemoryStorage


def test_rates_and_percentiles_are_over_the_window() -> None:
    statistics = Statistics()
    meter = ProgressMeter(statistics, start=0.0, window=5.0)
    size = FleetSize(charge_points=2, started=1)
    heartbeat = statistics.action("Heartbeat")
    for _ in range(50):  # in the first 5 s: 10 calls a second, answered in 10 ms
        heartbeat.sent += 1
        heartbeat.answer(0.010)
    first = meter.figures(5.0, size)
    assert first.calls_per_second == 10
    assert first.answer_p50 == pytest.approx(0.010, rel=RESOLUTION)
    assert first.answer_p99 == pytest.approx(0.010, rel=RESOLUTION)
    for _ in range(20):  # in the next 5 s: 4 a second, answered in 200 ms
        heartbeat.sent += 1
        heartbeat.answer(0.200)
    second = meter.figures(10.0, size)
    assert second.calls_per_second == 4
    assert second.answer_p50 == pytest.approx(0.200, rel=RESOLUTION)
    for moment in (10.25, 10.5, 10.75):  # redraws in between: the window stays 5 s long or more
        assert meter.figures(moment, size).calls_per_second == pytest.approx(20 / (moment - 5))
    quiet = meter.figures(16.0, size)
    assert (quiet.calls_per_second, quiet.answer_p50) == (0, None)
    assert (quiet.offline, quiet.connected) == (1, 0)


def test_a_plain_line_has_every_figure() -> None:
    statistics = Statistics()
    counters = statistics.charge_point("CP-1")
    counters.connected(0.0)
    counters.accepted()
    counters.session_started(-1, 100)
    counters.session_stopped(-1, 2100)
    counters.session_started(-2, 2100)
    statistics.action("Heartbeat").error("InternalError", 0.002)
    statistics.action("Heartbeat").timeouts += 1
    line = plain_line(
        ProgressMeter(statistics, start=0.0).figures(1.0, FleetSize(3, 2, 1)), prefix="at 1 s: "
    )
    assert line == (
        "at 1 s: 2/3 started, 1 connected, 1 accepted, 1 crashes, 1 offline, 1 sessions running, "
        "2000 Wh delivered, 0 queued, 0.0 calls/s, answers p50 2.0 ms p99 2.0 ms, 1 CALLERRORs, 1 timeouts"
    )


def fleet_of(charge_points: int) -> Statistics:
    """Statistics as a long run of ``charge_points`` leaves them (as benchmarks/progress.py makes them)."""
    rng = random.Random(1)
    statistics = Statistics()
    for action in ("MeterValues", "Heartbeat", "StatusNotification", "Authorize", "StartTransaction"):
        counts = statistics.action(action)
        for _ in range(2000):
            counts.sent += 1
            counts.answer(rng.lognormvariate(-4.5, 1))
    for number in range(charge_points):
        counters = statistics.charge_point(f"CP-{number:05}")
        counters.connected(0.0)
        counters.accepted()
        counters.session_started(-1, 0)
        if number % 2:
            counters.session_stopped(-1, 1000)
    return statistics


def test_a_redraw_at_10000_charge_points_is_cheap() -> None:
    """It reads the shared totals, not the charge points: a few milliseconds, mostly rich's rendering."""
    statistics = fleet_of(10_000)
    meter = ProgressMeter(statistics, start=0.0)
    size = FleetSize(charge_points=10_000, started=10_000)
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    timings = []
    for redraw in range(1, 21):
        begin = time.perf_counter()
        figures = meter.figures(redraw / 4, size)
        console.print(live_view(figures, "running 10000 charge points", redraw / 4))
        timings.append(time.perf_counter() - begin)
    assert (figures.connected, figures.accepted, figures.offline) == (10_000, 10_000, 0)
    assert (figures.sessions_running, figures.energy_wh) == (5_000, 5_000_000)
    assert sorted(timings)[len(timings) // 2] < 0.05, f"a redraw took {sorted(timings)[10] * 1000:.1f} ms"
    plain = io.StringIO()
    Console(file=plain, width=120).print(live_view(figures, "running", 3723.0))
    shown = plain.getvalue()
    assert "10,000/10,000 started" in shown
    assert "5,000.000 kWh delivered" in shown
    assert "1:02:03" in shown


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


async def test_run_on_a_terminal_redraws_a_live_view_four_times_a_second(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text('csms_url = "ws://csms.test/ocpp"\n[[charge_points]]\nid = "CP-{n}"\ncount = 3\n')
    central_system = CentralSystem()
    out = Terminal()
    async with trio.open_nursery() as nursery:

        async def dial(address: CsmsAddress) -> trio.abc.Stream:
            client, server = trio.testing.memory_stream_pair()
            nursery.start_soon(central_system.serve_stream, server)
            return client

        await run_fleet(load_fleet_file(fleet_file), out, duration=10, dialer=dial, storage=MemoryStorage())
        nursery.cancel_scope.cancel()
    text = out.getvalue()
    assert "\x1b[" in text, "drawn with terminal control sequences"
    # a redraw every 0.25 s for 10 s (the one at 10 s if it comes before the end), and one as it stops
    assert 41 <= text.count("calls/s") <= 42
    assert "3 accepted" in text
    assert "3/3 started, " not in text, "no plain progress lines"
    assert "Our CALLs to the Central System" in text
