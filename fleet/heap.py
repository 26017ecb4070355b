"""Garbage collection in a process that holds thousands of long-lived charge points.

Nearly everything a fleet allocates while it comes up lives as long as the process: the charge points, their
connectors, connections and tasks (some 500 objects that the collector tracks per charge point). Python's
generational collector scans each survivor again as it is promoted, and the whole heap at every full
collection; while thousands of charge points boot, that was a third of the fleet's CPU. So the command:

- raises the collection thresholds (:data:`GC_THRESHOLDS`), and
- while the fleet grows, :func:`freeze_while_growing` collects only the youngest generation, and once a
  second moves what survived into the collector's permanent generation (``gc.freeze``), so that no object is
  scanned more than once or twice. Once the heap stops growing (``sys.getallocatedblocks``, which costs
  nothing next to a count of the survivors: listing them took some 3 % of the fleet's CPU at boot) it stops
  for good and the thresholds are as before. A frozen object is never collected as part of a reference
  cycle: what was garbage when it was frozen (some 5 objects per charge point, measured) stays, and what
  the fleet built as it came up stays if it later becomes such garbage; both are bounded by the fleet's
  size. Later garbage is collected as usual.

These change the whole process, so only the command asks for them (``ocpp-fleet run``: ``freeze_heap`` of
:func:`fleet.commands.run_fleet` and :func:`fleet.processes.run_shard_child`), not the library.
"""

import gc
import sys

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
"""Blocks of memory (``sys.getallocatedblocks``) the heap grows by in one period above which the fleet is
still growing: about 40 charge points."""

QUIET_PERIODS = 5
"""Periods in a row with less growth after which the heap is taken to have stopped growing."""


async def freeze_while_growing(
    *, every: float = FREEZE_EVERY, growing: int = GROWING, quiet_periods: int = QUIET_PERIODS
) -> None:
    """Collect only the young generation, and every ``every`` seconds freeze the survivors, until the heap
    grew by fewer than ``growing`` blocks of memory in each of ``quiet_periods`` periods in a row; then
    return, with the collection thresholds as they were."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], _NEVER, _NEVER)
    try:
        quiet = 0
        blocks = sys.getallocatedblocks()
        while quiet < quiet_periods:
            await trio.sleep(every)
            gc.collect(0)  # young cycles die now rather than being frozen
            gc.freeze()
            grown = sys.getallocatedblocks() - blocks
            blocks += grown
            quiet = quiet + 1 if grown < growing else 0
    finally:
        gc.set_threshold(*thresholds)


_NEVER = 1 << 30
"""A threshold of the older generations that is never reached: no collection of them while growing."""
