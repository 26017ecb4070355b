"""Alarms: long sleeps of many tasks woken by one task of trio's, in virtual time."""

import math

import pytest
import trio
import trio.testing

from actors.alarm import TICK, Alarm, Countdown


async def test_a_sleep_ends_at_its_deadline_rounded_up_to_the_tick_never_early(
    autojump_clock: trio.testing.MockClock,
) -> None:
    alarm = Alarm()
    await alarm.sleep_until(60)
    assert trio.current_time() == 60
    await alarm.sleep_until(61.01)
    assert trio.current_time() == 61 + TICK
    await alarm.sleep_until(61)  # passed already: a checkpoint, no wait
    assert trio.current_time() == 61 + TICK


async def test_ring_wakes_the_sleeper_at_once_and_its_deadline_no_longer_counts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    alarm = Alarm()
    woke: list[float] = []

    async def sleeper(deadline: float) -> None:
        await alarm.sleep_until(deadline)
        woke.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sleeper, 10)
        await trio.sleep(3)
        alarm.ring()
        await trio.testing.wait_all_tasks_blocked()
        assert woke == [3]
        nursery.start_soon(sleeper, 20)  # the entry for 10 must not end this sleep
        await trio.sleep(30)
        assert woke == [3, 20]
        nursery.start_soon(sleeper, math.inf)  # only a ring ends it
        await trio.sleep(24 * 3600)
        alarm.ring()
        await trio.testing.wait_all_tasks_blocked()
    assert woke == [3, 20, 33 + 24 * 3600]


async def test_a_cancelled_sleep_raises_cancelled_and_leaves_no_alarm_behind(
    autojump_clock: trio.testing.MockClock,
) -> None:
    alarm = Alarm()
    with trio.move_on_after(1) as timeout:
        await alarm.sleep_until(10)
    assert timeout.cancelled_caught
    await alarm.sleep_until(20)
    assert trio.current_time() == 20
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await alarm.sleep_until(30)
        scope.cancel()


async def test_a_ring_right_after_a_cancellation_leaves_the_cancellation_alone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    alarm = Alarm()
    scope = trio.CancelScope()
    ended: list[bool] = []

    async def sleeper() -> None:
        with scope:
            await alarm.sleep_until(10)
        ended.append(scope.cancelled_caught)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sleeper)
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()
        alarm.ring()  # before the sleeper runs again
    assert ended == [True]
    assert trio.current_time() == 0


async def test_an_earlier_deadline_than_all_others_is_kept(autojump_clock: trio.testing.MockClock) -> None:
    woke: dict[str, float] = {}

    async def sleeper(name: str, deadline: float) -> None:
        await Alarm().sleep_until(deadline)
        woke[name] = trio.current_time()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sleeper, "late", 100)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(sleeper, "early", 5)
    assert woke == {"early": 5, "late": 100}


class AlarmTaskSteps(trio.abc.Instrument):
    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task.name == "actors.alarm":
            self.steps += 1


async def test_the_sleepers_due_within_one_tick_are_woken_by_one_step_of_the_alarm_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    woke: list[float] = []

    async def sleeper(deadline: float) -> None:
        await Alarm().sleep_until(deadline)
        woke.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for number in range(100):
            nursery.start_soon(sleeper, 60 + (number + 1) * TICK / 100)
        await trio.testing.wait_all_tasks_blocked()
        steps = AlarmTaskSteps()
        trio.lowlevel.add_instrument(steps)
    trio.lowlevel.remove_instrument(steps)
    assert woke == [60 + TICK] * 100
    assert steps.steps == 1


async def test_a_countdown_runs_out_at_its_deadline_rounded_up_to_the_tick_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ran_out: list[float] = []
    countdown = Countdown(lambda: ran_out.append(trio.current_time()))
    assert not countdown.running
    countdown.start(10.01)
    assert countdown.running
    await trio.sleep(20)
    assert ran_out == [10 + TICK]
    assert not countdown.running


async def test_a_stopped_or_restarted_countdown_does_not_run_out_at_its_first_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ran_out: list[float] = []
    countdown = Countdown(lambda: ran_out.append(trio.current_time()))
    countdown.start(5)
    await trio.sleep(4)
    countdown.stop()
    assert not countdown.running
    await trio.sleep(10)
    assert ran_out == []
    countdown.start(20)  # at 14
    await trio.sleep(1)
    countdown.start(30)  # at 15: in place of 20
    await trio.sleep(20)
    assert ran_out == [30]
