"""Idle round: what one keep-alive round of a charge point (a WebSocket ping and a Heartbeat) costs the fleet.

What is measured: N charge points with 2 connectors (``fleet.runner.Fleet`` with ``MemoryStorage`` and
``tcp_dialer``, in a process of their own, all started at once, the garbage collector set as ``ocpp-fleet``
sets it: ``fleet.heap``) connect over TCP on 127.0.0.1 to the embedded Central System
(:class:`fleet.csms.CentralSystem` in another process), which hands out ``HeartbeatInterval = --interval``
in its BootNotification answers; the charge points' ``WebSocketPingInterval`` is ``--ping`` (default: the
same interval, so each round is a ping and a Heartbeat; 0: Heartbeats only). Once all are Accepted and
``--settle`` seconds have passed, a window of ``--window`` seconds: the fleet process's CPU time (user +
system, ``resource.getrusage``) over the window, divided by the Heartbeats the charge points sent in it
(their statistics), is the **CPU per round**.

With a short interval a few charge points make as many rounds a second as a large fleet at 60 s: 300 at 2 s
make 150 a second, 10,000 at 60 s about 167. So a run takes under a minute, and its figure is what the idle
CPU of ``benchmarks/fleet_scale.py`` is made of (one round per charge point and minute), without the
command's processes and SQLite. The machine's speed changes from run to run: compare code side by side,
alternating runs with each version on ``PYTHONPATH``.

Run it from the repository root::

    .venv/bin/python benchmarks/idle_round.py [--count 300] [--interval 2] [--ping SECONDS] [--runs 2]
"""

import argparse
import functools
import gc
import json
import resource
import statistics as stats
import subprocess
import sys
import time

import trio

from actors.connection import tcp_dialer
from actors.statistics import Statistics
from fleet.csms import CentralSystem
from fleet.fleetfile import ChargePointSpec
from fleet.heap import GC_THRESHOLDS, freeze_while_growing
from fleet.runner import Fleet
from storage import MemoryStorage


async def serve_csms(interval: int) -> None:
    """Serve until killed; print the port."""
    central_system = CentralSystem(heartbeat_interval=interval, max_records=100)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(central_system.serve, "127.0.0.1", 0)
        print(port, flush=True)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(args: argparse.Namespace, url: str) -> dict[str, float]:
    """One run: the fleet up, settled, then the window; its figures."""
    ping = args.interval if args.ping is None else args.ping
    specs = [
        ChargePointSpec(
            id=f"IDLE-{n:05}",
            serial=f"SN-{n:05}",
            connectors=2,
            vendor="ocpp-fleet",
            model="IdleRound",
            firmware="1.0.0",
            csms_url=url,
            configuration={"WebSocketPingInterval": str(ping)},
        )
        for n in range(1, args.count + 1)
    ]
    gc.set_threshold(*GC_THRESHOLDS)
    statistics = Statistics()
    fleet = Fleet(specs, storage=MemoryStorage(), dialer=tcp_dialer, statistics=statistics)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(fleet.run, ramp=0))
        nursery.start_soon(freeze_while_growing)
        with trio.fail_after(args.boot_timeout):
            while fleet.counts().accepted < args.count:  # noqa: ASYNC110 (the fleet has no event for this)
                await trio.sleep(0.5)
        await trio.sleep(args.settle)
        heartbeats = statistics.action("Heartbeat")
        sent, cpu, start = heartbeats.sent, _cpu_seconds(), time.monotonic()
        await trio.sleep(args.window)
        sent, cpu, seconds = heartbeats.sent - sent, _cpu_seconds() - cpu, time.monotonic() - start
        nursery.cancel_scope.cancel()
    return {"rounds": sent, "rounds_per_second": sent / seconds, "cpu_share": cpu / seconds, "cpu": cpu}


def one_run(args: argparse.Namespace) -> dict[str, float]:
    """Start the Central System, measure in a fresh process, stop it."""
    csms = subprocess.Popen(
        [sys.executable, __file__, "--role", "csms", "--interval", str(args.interval)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert csms.stdout is not None
        port = int(csms.stdout.readline())
        command = [sys.executable, __file__, "--role", "fleet", "--url", f"ws://127.0.0.1:{port}"]
        command += ["--count", str(args.count), "--interval", str(args.interval)]
        command += ["--settle", str(args.settle), "--window", str(args.window)]
        if args.ping is not None:
            command += ["--ping", str(args.ping)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        result: dict[str, float] = json.loads(output.splitlines()[-1])
        return result
    finally:
        csms.kill()
        csms.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--count", type=int, default=300, help="charge points N")
    parser.add_argument("--interval", type=int, default=2, help="HeartbeatInterval, seconds")
    parser.add_argument("--ping", type=int, help="WebSocketPingInterval (default: --interval; 0: no pings)")
    parser.add_argument("--settle", type=float, default=8.0, help="seconds from all Accepted to the window")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of the window")
    parser.add_argument("--runs", type=int, default=2, help="runs, each with fresh processes")
    parser.add_argument("--boot-timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    parser.add_argument("--role", choices=["csms", "fleet"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "csms":
        trio.run(serve_csms, args.interval)
        return
    if args.role == "fleet":
        print(json.dumps(trio.run(measure, args, args.url)), flush=True)
        return
    ping = args.interval if args.ping is None else args.ping
    print(f"{args.count} charge points, HeartbeatInterval {args.interval} s, WebSocketPingInterval {ping} s")
    per_round = []
    for run in range(1, args.runs + 1):
        result = one_run(args)
        per_round.append(result["cpu"] / result["rounds"] * 1e6)
        print(
            f"run {run}: {result['rounds']:.0f} rounds ({result['rounds_per_second']:.1f}/s), "
            f"CPU {100 * result['cpu_share']:.1f} % of a core, {per_round[-1]:.0f} µs per round",
            flush=True,
        )
    print(f"median: {stats.median(per_round):.0f} µs per round")


if __name__ == "__main__":
    main()
