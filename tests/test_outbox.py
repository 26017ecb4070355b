"""The outbox's sender runs only while there is something to deliver on an accepted connection."""

from datetime import UTC, datetime
from typing import Any

import attrs
import trio
import trio.testing

from actors.clock import WallClock
from actors.ocpp import MeterValue, MeterValuesRequest, MeterValuesResponse, Request, SampledValue, encode
from actors.outbox import Outbox, RetryPolicy
from actors.statistics import Statistics
from storage.memory import MemoryChargePointState

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@attrs.define
class FakeLink:
    """Answers every CALL after ``delay`` seconds, and remembers when it was sent."""

    delay: float = 1.0
    sent: list[tuple[int, float]] = attrs.Factory(list)

    async def call(self, request: Request) -> Any:
        assert isinstance(request, MeterValuesRequest)
        self.sent.append((request.connector_id, trio.current_time()))
        await trio.sleep(self.delay)
        return MeterValuesResponse()


def meter_values(connector_id: int) -> MeterValuesRequest:
    value = MeterValue(timestamp=NOW, sampled_value=(SampledValue(value="1"),))
    return MeterValuesRequest(connector_id=connector_id, meter_value=(value,))


def outbox(state: MemoryChargePointState, statistics: Statistics | None = None) -> Outbox:
    counters = None if statistics is None else statistics.charge_point("CP-1")
    policy = RetryPolicy(attempts=3, retry_interval=60)
    return Outbox(state, WallClock(NOW), lambda: policy, name="CP-1", statistics=counters)


async def commit(box: Outbox, request: Request) -> None:
    async with box.in_order:
        assert await box.queue(request)


async def test_no_sender_while_the_queue_is_empty_or_no_connection_is_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = MemoryChargePointState()
    box = outbox(state)
    link = FakeLink()
    async with trio.open_nursery() as nursery:
        box.start(nursery, queued=await state.depth())
        await trio.testing.wait_all_tasks_blocked()
        assert not nursery.child_tasks, "an empty queue at power-on: no sender"
        await commit(box, meter_values(1))
        await commit(box, meter_values(2))
        await trio.sleep(10)
        assert not nursery.child_tasks, "offline: it holds the next message and waits for no one"
        box.attach(link)  # type: ignore[arg-type]  # the part of a Link it uses
        await trio.sleep(0.5)
        await commit(box, meter_values(3))
        assert len(nursery.child_tasks) == 1
        await trio.sleep(10)
        assert link.sent == [(1, 10.0), (2, 11.0), (3, 12.0)]
        assert not nursery.child_tasks, "all delivered"
        assert box.counts.delivered == 3
        await box.drained()
        box.stop()
    assert await state.depth() == 0


async def test_drained_waits_for_the_last_answer_and_the_queue_is_counted_at_power_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = MemoryChargePointState()
    for connector_id in (1, 2):
        await state.enqueue("MeterValues", encode(meter_values(connector_id)))
    statistics = Statistics()
    box = outbox(state, statistics)
    link = FakeLink(delay=5)
    async with trio.open_nursery() as nursery:
        box.start(nursery, queued=await state.depth())
        await trio.testing.wait_all_tasks_blocked()
        assert statistics.charge_point("CP-1").queue_depth == 2
        box.attach(link)  # type: ignore[arg-type]
        await box.drained()
        assert trio.current_time() == 10
        assert statistics.charge_point("CP-1").queue_depth == 0
        await trio.testing.wait_all_tasks_blocked()
        assert not nursery.child_tasks
        box.stop()
