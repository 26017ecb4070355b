"""OnDemandTask: work runs when woken, once more if woken meanwhile, and no task is left parked."""

import trio
import trio.testing

from actors.on_demand import OnDemandTask


def _tasks(nursery: trio.Nursery) -> int:
    return len(nursery.child_tasks)


async def test_no_task_until_woken_and_none_after_the_work(autojump_clock: trio.testing.MockClock) -> None:
    runs: list[float] = []

    async def work() -> None:
        await trio.sleep(1)
        runs.append(trio.current_time())

    task = OnDemandTask(work)
    async with trio.open_nursery() as nursery:
        task.start(nursery)
        await trio.testing.wait_all_tasks_blocked()
        assert _tasks(nursery) == 0
        task.wake()
        assert task.running
        await trio.sleep(5)
        assert runs == [1.0]
        assert not task.running
        assert _tasks(nursery) == 0


async def test_a_wake_during_a_run_runs_the_work_once_more(autojump_clock: trio.testing.MockClock) -> None:
    runs: list[float] = []

    async def work() -> None:
        await trio.sleep(1)
        runs.append(trio.current_time())

    task = OnDemandTask(work)
    async with trio.open_nursery() as nursery:
        task.start(nursery)
        task.wake()
        await trio.sleep(0.5)
        task.wake()
        task.wake()  # wakes meanwhile are one more run, not one each
        await trio.sleep(5)
    assert runs == [1.0, 2.0]


async def test_wakes_before_start_run_once_started(autojump_clock: trio.testing.MockClock) -> None:
    runs = 0

    async def work() -> None:
        nonlocal runs
        runs += 1
        await trio.lowlevel.checkpoint()

    task = OnDemandTask(work)
    task.wake()
    async with trio.open_nursery() as nursery:
        task.start(nursery)
        await trio.sleep(1)
    assert runs == 1


async def test_after_stop_a_wake_waits_for_the_next_start(autojump_clock: trio.testing.MockClock) -> None:
    runs = 0

    async def work() -> None:
        nonlocal runs
        runs += 1
        await trio.lowlevel.checkpoint()

    task = OnDemandTask(work)
    async with trio.open_nursery() as nursery:
        task.start(nursery)
        task.stop()
        task.wake()
        await trio.sleep(1)
    assert runs == 0
    async with trio.open_nursery() as nursery:
        task.start(nursery)
        await trio.sleep(1)
    assert runs == 1


async def test_stop_cancels_the_run_under_way_and_one_not_begun_yet_in_a_nursery_that_lives_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started: list[float] = []
    finished: list[float] = []

    async def work() -> None:
        started.append(trio.current_time())
        await trio.sleep(10)
        finished.append(trio.current_time())

    task = OnDemandTask(work)
    async with trio.open_nursery() as nursery:
        task.start(nursery)
        task.wake()
        await trio.sleep(1)
        task.stop()
        await trio.testing.wait_all_tasks_blocked()
        assert not task.running
        task.start(nursery)
        task.wake()  # its task is spawned, then the owner leaves before it begins
        task.stop()
        await trio.sleep(20)
        assert _tasks(nursery) == 0
    assert (started, finished) == ([0.0], [])


async def test_a_run_cancelled_with_its_nursery_runs_again_in_the_next(
    autojump_clock: trio.testing.MockClock,
) -> None:
    finished: list[float] = []

    async def work() -> None:
        await trio.sleep(10)
        finished.append(trio.current_time())

    task = OnDemandTask(work)
    async with trio.open_nursery() as nursery:
        task.start(nursery)
        task.wake()
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert not task.running
    assert finished == []
    task.wake()
    async with trio.open_nursery() as nursery:
        task.start(nursery)
    assert finished == [11.0]


async def test_sleep_until_ends_at_the_deadline_or_at_a_wake(autojump_clock: trio.testing.MockClock) -> None:
    outcomes: list[tuple[float, bool]] = []

    async def work() -> None:
        woken = await task.sleep_until(trio.current_time() + 10)
        outcomes.append((trio.current_time(), woken))

    task = OnDemandTask(work)
    async with trio.open_nursery() as nursery:
        task.start(nursery)
        task.wake()
        await trio.sleep(20)
        assert outcomes == [(10.0, False)]
        task.wake()
        await trio.sleep(3)
        task.wake()  # consumed by the sleep: no further run
        await trio.sleep(20)
    assert outcomes == [(10.0, False), (23.0, True)]
