"""Addresses, back-off, the wall clock and the link of a charge point."""

import random
from datetime import UTC, datetime, timedelta

import pytest
import trio

from actors.backoff import Backoff
from actors.clock import WallClock
from actors.connection import ConnectionLost, CsmsAddress
from actors.link import Link
from actors.ocpp import HeartbeatRequest, RpcSession


@pytest.mark.parametrize(
    ("url", "identity", "expected"),
    [
        ("ws://csms.example:9000/ocpp", "CP-0001", CsmsAddress("csms.example", 9000, "/ocpp/CP-0001", False)),
        ("ws://csms.example/ocpp/", "CP-0001", CsmsAddress("csms.example", 80, "/ocpp/CP-0001", False)),
        (
            "wss://csms.example/ocpp",
            "CP 1/é",
            CsmsAddress("csms.example", 443, "/ocpp/CP%201%2F%C3%A9", True),
        ),
        ("ws://10.0.0.1:8080", "A~b_c.d-e", CsmsAddress("10.0.0.1", 8080, "/A~b_c.d-e", False)),
        ("ws://h:1/ocpp?tenant=7", "X", CsmsAddress("h", 1, "/ocpp/X?tenant=7", False)),
    ],
)
def test_the_identity_is_the_last_path_segment_percent_encoded(
    url: str, identity: str, expected: CsmsAddress
) -> None:
    assert CsmsAddress.for_charge_point(url, identity) == expected


@pytest.mark.parametrize("url", ["http://csms/ocpp", "ws:///ocpp", "csms:9000"])
def test_only_websocket_urls_with_a_host_are_addresses(url: str) -> None:
    with pytest.raises(ValueError, match="ws:// or wss://"):
        CsmsAddress.for_charge_point(url, "CP")


def test_host_header_names_the_port_only_when_not_the_default() -> None:
    assert CsmsAddress("h", 80, "/", False).host_header == "h"
    assert CsmsAddress("h", 443, "/", True).host_header == "h"
    assert CsmsAddress("h", 9000, "/", False).host_header == "h:9000"


def test_back_off_doubles_from_one_second_to_five_minutes_with_jitter_in_the_upper_half() -> None:
    backoff = Backoff()
    rng = random.Random(3)
    assert [backoff.ceiling(n) for n in range(11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert backoff.ceiling(10_000) == 300
    delays = [backoff.delay(9, rng) for _ in range(1000)]
    assert all(150 <= delay <= 300 for delay in delays)
    assert min(delays) < 160, "spread over the whole range"
    assert max(delays) > 290


async def test_wall_clock_runs_with_trio_time_and_follows_the_csms(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = WallClock(datetime(2026, 1, 1, tzinfo=UTC))
    await trio.sleep(90)
    assert clock.now() == datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)
    assert clock.timestamp() == datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC).timestamp()
    clock.synchronise(datetime(2026, 11, 21, 12, tzinfo=UTC))
    await trio.sleep(1.5)
    assert clock.now() == datetime(2026, 11, 21, 12, 0, 1, 500000, tzinfo=UTC)
    assert clock.timestamp() == datetime(2026, 11, 21, 12, 0, 1, 500000, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("ours", "theirs", "round_trip", "after"),
    [
        (10.0, 12.0, 1.0, 12.0),  # behind what the Central System read: forward to it
        (10.0, 8.0, 1.0, 9.0),  # ahead of anything it can have read during the round trip: back, not further
        (10.0, 7.5, 4.0, 10.0),  # a slow answer: the true time may be ours, which stays
        (10.0, 8.0, 0.0, 8.0),  # no round trip known: the Central System's time as it is
    ],
)
async def test_the_clock_follows_the_central_system_unless_its_answer_came_late(
    autojump_clock: trio.testing.MockClock, ours: float, theirs: float, round_trip: float, after: float
) -> None:
    """The Central System read ``currentTime`` at some moment of the round trip: found by the chaos
    benchmark, where an answer 4.6 s late set clocks back and transaction timestamps went backwards."""
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    clock = WallClock(origin + timedelta(seconds=ours))
    clock.synchronise(origin + timedelta(seconds=theirs), round_trip=round_trip)
    assert clock.now() == origin + timedelta(seconds=after)


class _LostConnection:
    """A connection that is gone: sending fails, nothing arrives."""

    async def send(self, text: str) -> None:
        await trio.lowlevel.checkpoint()
        raise ConnectionLost("gone")

    async def receive(self) -> str:
        await trio.sleep_forever()
        raise AssertionError("unreachable")


async def test_every_call_on_a_lost_link_fails_as_lost(autojump_clock: trio.testing.MockClock) -> None:
    """Found by the chaos test: a CALL made after the link was lost stayed outstanding in the session, and
    the next one (a StatusNotification, the outbox's next message) raised LocalProtocolError and crashed the
    charge point, instead of ConnectionLost, which callers expect."""
    link = Link(_LostConnection(), RpcSession(), trio.CancelScope(), answer_timeout=30, name="CP-1")  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises(ConnectionLost, match="gone"):
            await link.call(HeartbeatRequest())
    assert link.lost_reason == "gone"
