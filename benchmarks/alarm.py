"""Alarm wakes: the CPU of ending a sleep, with a cancel scope each (trio's way) and with ``actors.alarm``.

What is measured: N tasks (``--sleepers``, default 3,000) each sleep, again and again, until a deadline drawn
uniformly from 0.5 to 1.5 s ahead (the same seeded draws for both ways), so about N wakes a second. Two ways
of sleeping, each in a trio run of its own: a cancel scope with the deadline around ``trio.sleep_forever()``
(what ``trio.sleep_until`` and every trio timeout do: the sleep ends with a ``Cancelled`` raised and caught),
and :class:`actors.alarm.Alarm` (the task parked with ``wait_task_rescheduled``, woken by ``reschedule`` from
one system task a tick). Figure: the process's CPU time (``time.process_time``) over a window of ``--window``
seconds after 2 s of warm-up, divided by the wakes counted in the window. The two ways alternate for
``--rounds`` rounds.

Run it from the repository root::

    .venv/bin/python benchmarks/alarm.py [--sleepers 3000] [--window 10] [--rounds 2]
"""

import argparse
import random
import time
from collections.abc import Awaitable, Callable

import trio

from actors.alarm import Alarm

SleepUntil = Callable[[float], Awaitable[None]]


async def cancel_scope_sleep(deadline: float) -> None:
    """A sleep as trio sleeps: a cancel scope with a deadline."""
    with trio.move_on_at(deadline):
        await trio.sleep_forever()


async def measure(way: str, sleepers: int, window: float) -> float:
    """CPU µs per wake of ``sleepers`` tasks sleeping the ``way`` given."""
    wakes = 0

    async def sleeper(rng: random.Random) -> None:
        nonlocal wakes
        sleep_until = Alarm().sleep_until if way == "alarm" else cancel_scope_sleep
        while True:
            await sleep_until(trio.current_time() + rng.uniform(0.5, 1.5))
            wakes += 1

    async with trio.open_nursery() as nursery:
        for number in range(sleepers):
            nursery.start_soon(sleeper, random.Random(number))
        await trio.sleep(2.0)
        wakes, cpu = 0, time.process_time()
        await trio.sleep(window)
        cpu, counted = time.process_time() - cpu, wakes
        nursery.cancel_scope.cancel()
    return cpu / counted * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--sleepers", type=int, default=3000, help="sleeping tasks")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the two ways, alternating")
    args = parser.parse_args()
    for round_number in range(1, args.rounds + 1):
        ways = ("cancel scope", "alarm")
        figures = {way: trio.run(measure, way, args.sleepers, args.window) for way in ways}
        print(
            f"round {round_number}: cancel scope {figures['cancel scope']:.1f} µs per wake, "
            f"alarm {figures['alarm']:.1f} µs per wake",
            flush=True,
        )


if __name__ == "__main__":
    main()
