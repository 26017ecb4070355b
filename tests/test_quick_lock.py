"""QuickLock: a FIFO lock taken at once when free, waited for (cancellably, in turn) when not."""

import pytest
import trio
import trio.testing

from actors.quick_lock import QuickLock


async def test_a_free_lock_is_taken_without_letting_another_task_run() -> None:
    lock = QuickLock()
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        async with lock:
            assert lock.locked()
            assert ran == [], "taking a free lock did not yield to the scheduler"
        assert not lock.locked()
    assert ran == ["other"]


async def test_waiters_take_it_in_the_order_they_came(autojump_clock: trio.testing.MockClock) -> None:
    lock = QuickLock()
    order: list[int] = []

    async def hold(number: int) -> None:
        async with lock:
            order.append(number)
            await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        for number in range(4):
            nursery.start_soon(hold, number)
            await trio.testing.wait_all_tasks_blocked()
    assert order == [0, 1, 2, 3]
    assert trio.current_time() == 4


async def test_waiting_is_cancellable_and_a_cancelled_task_does_not_take_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lock = QuickLock()

    async def hold() -> None:
        async with lock:
            await trio.sleep(10)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hold)
        await trio.testing.wait_all_tasks_blocked()
        with trio.move_on_after(1) as waited:
            async with lock:
                pytest.fail("taken while held")
        assert waited.cancelled_caught
        assert trio.current_time() == 1
    with trio.CancelScope() as scope:
        scope.cancel()
        async with lock:
            pytest.fail("taken although cancelled")
    assert not lock.locked()
