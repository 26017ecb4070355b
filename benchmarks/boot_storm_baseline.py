"""The baseline fleet of the boot storm benchmark: N charge points built on the ``ocpp`` package.

Started by ``benchmarks/boot_storm.py``, which explains what is measured; not meant to be run by hand. Each
charge point is an ``ocpp.v16.ChargePoint`` on a ``websockets`` client connection (asyncio), doing what ours
do in the storm: connect with subprotocol ``ocpp1.6`` (connect timeout 30 s, WebSocket pings every 60 s with
a 10 s pong timeout, as ours), read with ``await charge_point.start()``, send BootNotification until
Accepted, then StatusNotification for connectors 0, 1 and 2, then stay connected and idle. A failed
connection is retried with the same back-off as ours (1 s doubling, a random wait in the upper half).
The ``ocpp`` package is used with its defaults, so it validates each payload against the JSON schema in the
default thread pool; its validators are built before the measurement starts.

Like our fleet process, it reads ``VmRSS`` and the CPU time before it starts the charge points, and when a
line arrives on standard input prints one JSON line with the CPU time used since, the peak RSS
(``VmHWM``) and how many charge points are accepted, then leaves with ``os._exit``.
"""

import argparse
import asyncio
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ocpp.messages import MessageType, get_validator
from ocpp.v16 import ChargePoint, call
from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus, RegistrationStatus
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException
from websockets.typing import Subprotocol

CONNECTORS = 2
CONNECT_TIMEOUT = 30.0
PING_INTERVAL = 60.0
PONG_TIMEOUT = 10.0
BACKOFF_INITIAL = 1.0
BACKOFF_MAXIMUM = 300.0
SHOWN_PROBLEMS = 3


def charge_point_id(n: int) -> str:
    """The id of the n-th charge point of a run (the same as ours)."""
    return f"STORM-{n:05}"


def memory_kib() -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of this process, in KiB."""
    values: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


@dataclass
class Stats:
    accepted: int = 0
    problems: int = 0

    def problem(self, text: str) -> None:
        self.problems += 1
        if self.problems <= SHOWN_PROBLEMS:
            print(f"baseline: {text}", file=sys.stderr)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _boot(charge_point: ChargePoint, n: int) -> None:
    """BootNotification until Accepted, then the StatusNotifications of connector 0 and each connector."""
    while True:
        response = await charge_point.call(
            call.BootNotification(
                charge_point_model="BootStorm",
                charge_point_vendor="ocpp-fleet",
                charge_point_serial_number=f"SN-{n:06}",
                firmware_version="1.0.0",
            )
        )
        if response is not None and response.status == RegistrationStatus.accepted:
            break
        await asyncio.sleep(response.interval if response is not None else BACKOFF_INITIAL)
    for connector_id in range(CONNECTORS + 1):
        await charge_point.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=ChargePointErrorCode.no_error,
                status=ChargePointStatus.available,
                timestamp=_now(),
            )
        )


async def run_charge_point(n: int, url: str, stats: Stats) -> None:
    """Connect, boot once, then stay connected; reconnect with back-off when the connection fails."""
    identity = charge_point_id(n)
    registered = False
    failures = 0
    while True:
        try:
            async with connect(
                f"{url}/{identity}",
                subprotocols=[Subprotocol("ocpp1.6")],
                open_timeout=CONNECT_TIMEOUT,
                ping_interval=PING_INTERVAL,
                ping_timeout=PONG_TIMEOUT,
            ) as websocket:
                charge_point = ChargePoint(identity, websocket)
                reader = asyncio.create_task(charge_point.start())
                try:
                    if not registered:
                        await _boot(charge_point, n)
                        registered = True
                        stats.accepted += 1
                    failures = 0
                    await reader  # until the connection ends
                finally:
                    reader.cancel()
        except (OSError, TimeoutError, WebSocketException) as error:
            stats.problem(f"{identity}: {error!r}")
        ceiling = min(BACKOFF_MAXIMUM, BACKOFF_INITIAL * 2.0**failures)
        failures += 1
        await asyncio.sleep(random.uniform(ceiling / 2, ceiling))


def _warm_up_validators() -> None:
    """Build the JSON schema validators the storm uses, so that they are not counted per charge point."""
    for message_type in (MessageType.Call, MessageType.CallResult):
        for action in ("BootNotification", "StatusNotification"):
            get_validator(message_type, action, "1.6")


async def _line_on_stdin() -> None:
    loop = asyncio.get_running_loop()
    arrived: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not arrived.done():
            arrived.set_result(None)

    loop.add_reader(sys.stdin.fileno(), wake)
    await arrived


async def run_fleet(url: str, count: int, ramp: float) -> None:
    """Boot ``count`` charge points against ``url``, ``ramp`` per second, 0 meaning all at once."""
    _warm_up_validators()
    stats = Stats()
    loop = asyncio.get_running_loop()
    rss_before = memory_kib()["VmRSS"]
    cpu_before = time.process_time()
    start = time.monotonic()
    begin = loop.time()
    tasks: list[asyncio.Task[None]] = []
    reporting = asyncio.create_task(_line_on_stdin())
    for n in range(1, count + 1):
        if ramp > 0:
            await asyncio.sleep(max(0.0, begin + (n - 1) / ramp - loop.time()))
        tasks.append(asyncio.create_task(run_charge_point(n, url, stats)))
    await reporting
    cpu = time.process_time() - cpu_before
    memory = memory_kib()
    report = {
        "start": start,
        "cpu": cpu,
        "rss_before": rss_before,
        "peak": memory["VmHWM"],
        "accepted": stats.accepted,
        "problems": stats.problems,
    }
    print(json.dumps(report), flush=True)
    os._exit(0)  # closing thousands of connections is not measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the Central System, ws://host:port/path")
    parser.add_argument("--count", type=int, required=True, help="number of charge points")
    parser.add_argument("--ramp", type=float, default=0.0, help="charge points started per second, 0: all")
    args = parser.parse_args()
    asyncio.run(run_fleet(args.url, args.count, args.ramp))


if __name__ == "__main__":
    main()
