"""The fleet command's garbage collection: survivors frozen while the fleet grows, young garbage collected."""

import gc
import weakref
from collections.abc import Iterator

import pytest
import trio
import trio.testing

from fleet.heap import freeze_while_growing


@pytest.fixture
def collector() -> Iterator[None]:
    """Automatic collection off (only the freezer collects) and nothing left frozen afterwards."""
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


class _Node:
    """An object that a reference cycle can hold and a weak reference can watch."""

    def __init__(self) -> None:
        self.other: _Node | None = None


async def test_survivors_are_frozen_each_period_until_the_heap_stops_growing(
    collector: None, autojump_clock: trio.testing.MockClock
) -> None:
    kept: list[list[_Node]] = []

    async def grow() -> None:
        for _ in range(3):  # at 0.5, 1.5 and 2.5 s: 3,000 new long-lived objects, 6,000 blocks of memory
            await trio.sleep(0.5 if not kept else 1.0)
            kept.append([_Node() for _ in range(3_000)])

    frozen_before = gc.get_freeze_count()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(grow)
        await freeze_while_growing(every=1.0, growing=2_000, quiet_periods=5)
    # growing at 1, 2 and 3 s; quiet at 4, 5, 6, 7 and 8 s
    assert trio.current_time() == 8.0
    assert gc.get_freeze_count() - frozen_before >= 3 * 3_000


async def test_young_garbage_is_collected_rather_than_frozen(
    collector: None, autojump_clock: trio.testing.MockClock
) -> None:
    first, second = _Node(), _Node()
    first.other, second.other = second, first  # a cycle: only the collector can free it
    watched = weakref.ref(first)
    del first, second
    await freeze_while_growing(every=1.0, growing=1_000_000, quiet_periods=1)
    assert trio.current_time() == 1.0
    assert watched() is None


async def test_only_the_young_generation_is_collected_while_growing_then_the_thresholds_are_restored(
    autojump_clock: trio.testing.MockClock,
) -> None:
    before = gc.get_threshold()
    during: list[tuple[int, ...]] = []

    async def look() -> None:
        await trio.sleep(0.5)
        during.append(gc.get_threshold())

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(look)
            await freeze_while_growing(every=1.0, growing=1_000_000, quiet_periods=2)
    finally:
        gc.unfreeze()
    assert trio.current_time() == 2.0
    assert during[0][0] == before[0]
    assert min(during[0][1:]) > 1_000_000, "no automatic collection of the older generations"
    assert gc.get_threshold() == before
