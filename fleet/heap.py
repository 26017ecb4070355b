"""Garbage collection in a process that holds thousands of long-lived charge points.

Nearly everything a fleet allocates while it comes up lives as long as the process: the charge points, their
connectors, connections and tasks (some 500 objects that the collector tracks per charge point). Python's
generational collector scans each survivor again as it is promoted, and the whole heap at every full
collection; while 10,000 charge points boot, that was about a third of the fleet's CPU. So the command:

- raises the collection thresholds (:data:`GC_THRESHOLDS`), and
- while the fleet grows, :func:`freeze_while_growing` moves what survived into the collector's permanent
  generation once a second (``gc.freeze``), after collecting the young garbage first. Once the heap stops
  growing it stops for good: a frozen object is never collected as part of a reference cycle, so only what
  the fleet built as it came up is frozen, a bounded amount, and later garbage is collected as usual.

These change the whole process, so only the command asks for them (``ocpp-fleet run``: ``freeze_heap`` of
:func:`fleet.commands.run_fleet` and :func:`fleet.processes.run_shard_child`), not the library.
"""

import gc

import trio

__all__ = [
    "FREEZE_EVERY",
    "GC_THRESHOLDS",
    "GROWING",
    "QUIET_PERIODS",
    "freeze_while_growing",
]

GC_THRESHOLDS = (10_000, 10, 10)
"""``gc.set_threshold`` for a fleet process: far fewer young collections than the default (700, 10, 10)."""

FREEZE_EVERY = 1.0
"""Seconds between two freezes while the fleet grows."""

GROWING = 20_000
"""Survivors in one period (objects the collector tracks) above which the fleet is still growing: about
40 charge points."""

QUIET_PERIODS = 5
"""Periods in a row with fewer survivors after which the heap is taken to have stopped growing."""


async def freeze_while_growing(
    *, every: float = FREEZE_EVERY, growing: int = GROWING, quiet_periods: int = QUIET_PERIODS
) -> None:
    """Every ``every`` seconds, collect the young garbage and freeze the survivors, until fewer than
    ``growing`` objects survived in each of ``quiet_periods`` periods in a row; then return."""
    quiet = 0
    while quiet < quiet_periods:
        await trio.sleep(every)
        gc.collect(1)  # young cycles die now rather than being frozen
        survivors = len(gc.get_objects(generation=2))  # since the last freeze: young ones were promoted
        gc.freeze()
        quiet = quiet + 1 if survivors < growing else 0
