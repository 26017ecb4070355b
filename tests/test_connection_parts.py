"""Addresses, back-off and the wall clock of a charge point."""

import random
from datetime import UTC, datetime

import pytest
import trio

from actors.backoff import Backoff
from actors.clock import WallClock
from actors.connection import CsmsAddress


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
    clock.synchronise(datetime(2026, 11, 21, 12, tzinfo=UTC))
    await trio.sleep(1.5)
    assert clock.now() == datetime(2026, 11, 21, 12, 0, 1, 500000, tzinfo=UTC)
