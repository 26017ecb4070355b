"""The statistics recorder (actors.statistics): its histogram, and what a charge point feeds it."""

import math
import random
from datetime import UTC, datetime

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st
from scripted_csms import ScriptedCsms

from actors.alarm import TICK
from actors.charge_point import ChargePoint, ChargePointSettings
from actors.ocpp import (
    BootNotificationRequest,
    BootNotificationResponse,
    ErrorCode,
    HeartbeatRequest,
    RegistrationStatus,
    StatusNotificationRequest,
    StatusNotificationResponse,
)
from actors.statistics import (
    BUCKET_COUNT,
    LARGEST,
    RESOLUTION,
    SMALLEST,
    AnswerTimes,
    Statistics,
    bucket_bounds,
    bucket_of,
)
from fleet.simulated import SimulatedConnector
from storage.memory import MemoryChargePointState


def test_the_buckets_cover_every_time_without_gaps() -> None:
    assert bucket_bounds(0) == (0.0, SMALLEST)
    for index in range(1, BUCKET_COUNT):
        lower, upper = bucket_bounds(index)
        assert lower == pytest.approx(bucket_bounds(index - 1)[1])
        assert bucket_of(math.sqrt(lower * upper) if upper < math.inf else lower * 2) == index
        if upper < math.inf:
            assert upper / lower == pytest.approx(2 ** (1 / 8))
    for exponent in range(-13, 14):  # the powers of two end their buckets, as Prometheus's le
        assert bucket_bounds(bucket_of(2.0**exponent))[1] == 2.0**exponent
    assert bucket_of(0.0) == 0
    assert bucket_of(SMALLEST / 2) == 0
    assert bucket_of(LARGEST * 100) == BUCKET_COUNT - 1
    assert abs(RESOLUTION - 0.0443) < 1e-4


def exact_percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


@given(
    st.lists(
        st.floats(min_value=math.log(1e-5), max_value=math.log(5000.0)).map(math.exp),
        min_size=1,
        max_size=300,
    )
)
def test_percentiles_from_the_buckets_are_within_the_resolution(samples: list[float]) -> None:
    times = AnswerTimes()
    for sample in samples:
        times.add(sample)
    assert times.count == len(samples)
    assert times.maximum == max(samples)
    for fraction in (0.5, 0.95, 0.99, 1.0):
        estimate = times.percentile(fraction)
        exact = exact_percentile(samples, fraction)
        assert estimate is not None
        if exact <= SMALLEST:
            assert estimate <= SMALLEST
        else:
            assert abs(estimate - exact) <= exact * RESOLUTION * (1 + 1e-9), (fraction, estimate, exact)
        assert estimate <= times.maximum


def test_an_empty_histogram_has_no_percentiles() -> None:
    assert AnswerTimes().percentile(0.5) is None


def test_merged_histograms_are_the_histogram_of_all_samples() -> None:
    rng = random.Random(7)
    samples = [rng.lognormvariate(-4, 2) for _ in range(1000)]
    first, second, both = AnswerTimes(), AnswerTimes(), AnswerTimes()
    for index, sample in enumerate(samples):
        (first if index % 3 else second).add(sample)
        both.add(sample)
    first.merge(second)
    assert first == both


async def test_a_charge_point_counts_each_outcome_of_its_calls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Answered after 0.25 s, a CALLERROR after 0.5 s, at once, no answer in time, and lost: with the
    connection, and at the power cut that ends the test."""
    statistics = Statistics()
    settings = ChargePointSettings("CP-1", "ws://csms.test/ocpp", connectors=1, answer_timeout=30)
    async with trio.open_nursery() as nursery:
        csms = ScriptedCsms(nursery)
        charge_point = ChargePoint(
            settings,
            MemoryChargePointState(),
            dialer=csms.dial,
            rng=random.Random(1),
            hardware=[SimulatedConnector()],
            statistics=statistics,
        )
        nursery.start_soon(charge_point.run)
        connection = await csms.accept()
        boot = await connection.expect_call(BootNotificationRequest)
        await trio.sleep(0.25)
        await connection.answer(
            boot,
            BootNotificationResponse(
                status=RegistrationStatus.ACCEPTED,
                current_time=datetime(2026, 1, 1, tzinfo=UTC),
                interval=100,
            ),
        )
        first = await connection.expect_call(StatusNotificationRequest)
        await trio.sleep(0.5)
        await connection.send_text(
            connection.session.error(first.unique_id, ErrorCode.INTERNAL_ERROR, "oops")
        )
        second = await connection.expect_call(StatusNotificationRequest)
        await connection.answer(second, StatusNotificationResponse())
        assert (statistics.connected, statistics.accepted) == (1, 1)

        unanswered = await connection.expect_call(HeartbeatRequest)
        assert unanswered.time == pytest.approx(second.time + 100)
        waiting = await connection.expect_call(HeartbeatRequest)  # 100 s after the first one was sent
        assert waiting.time == pytest.approx(unanswered.time + 100)
        await trio.sleep(1)
        await connection.close()  # while the second Heartbeat waits for its answer
        closed_at = trio.current_time()
        reconnected = await csms.accept()  # the charge point reconnects, and does not register again
        reconnected_at = trio.current_time()
        after_silence = await reconnected.expect_call(HeartbeatRequest)
        assert reconnected_at + 100 <= after_silence.time <= reconnected_at + 100 + TICK  # an alarm's tick
        nursery.cancel_scope.cancel()

    actions = statistics.actions
    assert list(actions) == ["BootNotification", "StatusNotification", "Heartbeat"]
    boot_counts = actions["BootNotification"]
    assert (boot_counts.sent, boot_counts.answered, boot_counts.errors) == (1, 1, {})
    assert boot_counts.times.maximum == 0.25
    assert boot_counts.times.percentile(0.5) == pytest.approx(0.25, rel=RESOLUTION)
    status = actions["StatusNotification"]
    assert (status.sent, status.answered, status.errors, status.timeouts) == (2, 1, {"InternalError": 1}, 0)
    assert status.times.count == 2
    assert status.times.maximum == 0.5
    assert status.times.sum_us == 500_000
    heartbeat = actions["Heartbeat"]
    assert (heartbeat.sent, heartbeat.answered, heartbeat.timeouts, heartbeat.lost) == (3, 0, 1, 2)
    assert heartbeat.times.count == 0

    counters = statistics.charge_points["CP-1"]
    assert (counters.connections, counters.reconnects, statistics.reconnects) == (2, 1, 1)
    assert reconnected_at > closed_at
    assert counters.offline_seconds == pytest.approx(reconnected_at - closed_at)
    assert (statistics.connected, statistics.accepted) == (0, 0), "the power cut ended the connection"


def test_time_offline_counts_while_powered_and_unconnected_until_the_charge_point_leaves() -> None:
    statistics = Statistics()
    counters = statistics.charge_point("CP-1")
    counters.powered_on(10.0)
    counters.connected(12.5)
    counters.accepted()
    assert (statistics.connected, statistics.accepted, counters.offline_until(20.0)) == (1, 1, 2.5)
    counters.disconnected(30.0)
    counters.powered_on(31.0)  # a power cut: still offline since 30 s
    assert (statistics.connected, statistics.accepted, counters.offline_until(40.0)) == (0, 0, 12.5)
    counters.connected(41.0)
    assert (counters.connections, counters.reconnects, statistics.reconnects) == (2, 1, 1)
    counters.disconnected(50.0)
    counters.left(55.0)  # removed from the fleet
    assert counters.offline_until(100.0) == 2.5 + 11 + 5
