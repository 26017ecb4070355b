"""What the statistics of a fleet cost: recording one CALL, one redraw of the live view, the final report.

A fleet of 10,000 charge points (``--charge-points``) shares one :class:`actors.statistics.Statistics`; it is
filled with a realistic mix of actions (a million answers by default, with CALLERRORs and timeouts) and the
counters of every charge point (connections, sessions, queue depths). Then, each the median of several
rounds, measured with ``time.perf_counter``:

- **record**: what :class:`actors.link.Link` does per answered CALL (the action's counts looked up, ``sent``
  counted, the answer and its time counted);
- **redraw**: one redraw of the live view of ``ocpp-fleet run``: :meth:`fleet.progress.ProgressMeter.figures`
  and the rich table rendered to a 120-column terminal (into memory, so the terminal's own speed is left
  out);
- **plain line**: the same figures as a progress line (output that is not a terminal);
- **report**: :func:`fleet.report.build_report` (it visits every charge point once) and its JSON text.

Run it from the repository root::

    .venv/bin/python benchmarks/progress.py
    .venv/bin/python benchmarks/progress.py --charge-points 100000
"""

import os
import sys

# Run as a script, this file's folder comes first on sys.path, where benchmarks/queue.py would stand in for
# the standard library's ``queue`` module, which trio imports: take the folder out first.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse
import io
import json
import random
import statistics as stats
import time
from collections.abc import Callable

from rich.console import Console

from actors.statistics import Statistics
from fleet.progress import FleetSize, ProgressMeter, live_view, plain_line
from fleet.report import build_report

MIX = (
    ("MeterValues", 60),
    ("Heartbeat", 15),
    ("StatusNotification", 12),
    ("Authorize", 4),
    ("StartTransaction", 3),
    ("StopTransaction", 3),
    ("BootNotification", 1),
    ("DataTransfer", 1),
    ("FirmwareStatusNotification", 1),
)


def fill(charge_points: int, answers: int, rng: random.Random) -> Statistics:
    """Statistics as a long run of ``charge_points`` would leave them."""
    statistics = Statistics()
    names = [name for name, weight in MIX for _ in range(weight)]
    for _ in range(answers):
        counts = statistics.action(rng.choice(names))
        counts.sent += 1
        roll = rng.random()
        if roll < 0.995:
            counts.answer(rng.lognormvariate(-4.5, 0.8))
        elif roll < 0.998:
            counts.error("InternalError", rng.lognormvariate(-4.5, 0.8))
        else:
            counts.timeouts += 1
    for number in range(charge_points):
        counters = statistics.charge_point(f"CP-{number:06}")
        counters.powered_on(0.0)
        counters.connected(rng.uniform(0, 60))
        counters.accepted()
        for session in range(rng.randrange(0, 4)):
            counters.session_started(-session - 1, 1000 * session)
            counters.queue_is(rng.randrange(0, 5))
            if rng.random() < 0.8:
                counters.session_stopped(-session - 1, 1000 * session + rng.randrange(0, 30_000))
        if rng.random() < 0.02:
            counters.disconnected(rng.uniform(60, 600))
    return statistics


def median_seconds(action: Callable[[], object], rounds: int, repeat: int) -> float:
    """The median over ``rounds`` of the time of one ``action``, each round timing ``repeat`` of them."""
    timings = []
    for _ in range(rounds):
        begin = time.perf_counter()
        for _ in range(repeat):
            action()
        timings.append((time.perf_counter() - begin) / repeat)
    return stats.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--charge-points", type=int, default=10_000)
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    rng = random.Random(1)
    statistics = fill(arguments.charge_points, arguments.answers, rng)
    size = FleetSize(charge_points=arguments.charge_points, started=arguments.charge_points)

    counts_of = statistics.action

    def record() -> None:
        counts = counts_of("MeterValues")
        counts.sent += 1
        counts.answer(0.0123)

    meter = ProgressMeter(statistics, start=0.0)
    clock = iter(range(1, 10**9))
    console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system="truecolor")

    def redraw() -> None:
        now = float(next(clock)) / 4
        console.print(live_view(meter.figures(now, size), "running a fleet", now))

    def line() -> str:
        return plain_line(meter.figures(float(next(clock)) / 4, size))

    def report() -> str:
        return json.dumps(build_report(statistics, now=1000.0, seconds=1000.0))

    print(f"{arguments.charge_points:,} charge points, {arguments.answers:,} answers of {len(MIX)} actions")
    print(f"record one answered CALL: {median_seconds(record, arguments.rounds, 100_000) * 1e9:8.0f} ns")
    print(f"one redraw (rich):        {median_seconds(redraw, arguments.rounds, 50) * 1e3:8.2f} ms")
    print(f"one plain progress line:  {median_seconds(line, arguments.rounds, 50) * 1e3:8.2f} ms")
    print(f"the report and its JSON:  {median_seconds(report, arguments.rounds, 1) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
