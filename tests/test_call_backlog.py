"""CallBacklog: CALLs answered one at a time, in arrival order, by a task that exists only while some wait."""

import trio
import trio.testing

from actors.call_backlog import CallBacklog
from actors.link import IncomingCall
from actors.ocpp import CallReceived, HeartbeatRequest


def incoming(unique_id: str) -> CallReceived:
    return CallReceived(unique_id, HeartbeatRequest())


async def test_no_task_until_a_call_waits_and_none_once_all_are_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    answered: list[tuple[str, float]] = []

    async def answer(call: IncomingCall) -> None:
        await trio.sleep(1)
        answered.append((call.unique_id, trio.current_time()))

    backlog = CallBacklog(answer, limit=8)
    async with trio.open_nursery() as nursery:
        backlog.start(nursery)
        await trio.testing.wait_all_tasks_blocked()
        assert not nursery.child_tasks
        assert backlog.offer(incoming("a"))
        assert backlog.offer(incoming("b"))
        await trio.sleep(0.5)
        assert backlog.offer(incoming("c"))
        assert len(nursery.child_tasks) == 1, "one task answers them all"
        await trio.sleep(10)
        assert answered == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
        assert not nursery.child_tasks
        assert len(backlog) == 0
        assert backlog.offer(incoming("d"))
        await trio.sleep(10)
        assert answered[-1] == ("d", 11.5)
        backlog.stop()


async def test_limit_calls_wait_while_one_is_answered_and_more_are_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    release = trio.Event()
    answered: list[str] = []

    async def answer(call: IncomingCall) -> None:
        await release.wait()
        answered.append(call.unique_id)

    backlog = CallBacklog(answer, limit=3)
    async with trio.open_nursery() as nursery:
        backlog.start(nursery)
        offered = [backlog.offer(incoming(str(number))) for number in range(6)]
        assert offered == [True, True, True, True, False, False], "the one answered and 3 waiting"
        await trio.testing.wait_all_tasks_blocked()
        assert not backlog.offer(incoming("6")), "the first is being answered: still 3 wait"
        release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert answered == ["0", "1", "2", "3"]
        assert backlog.offer(incoming("7"))
        await trio.testing.wait_all_tasks_blocked()
        assert answered[-1] == "7"
        backlog.stop()


async def test_calls_offered_before_the_start_are_answered_once_started() -> None:
    answered: list[str] = []

    async def answer(call: IncomingCall) -> None:
        await trio.lowlevel.checkpoint()
        answered.append(call.unique_id)

    backlog = CallBacklog(answer, limit=8)
    assert backlog.offer(incoming("early"))
    async with trio.open_nursery() as nursery:
        backlog.start(nursery)
    assert answered == ["early"]
