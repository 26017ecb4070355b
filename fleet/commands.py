"""What the ``ocpp-fleet`` commands do, as library calls: run a fleet, run the embedded CSMS, run the demo.

Each runs until its duration is over or the process gets SIGINT (Ctrl-C) or SIGTERM, then stops within a
second. Output goes to a text stream, one line per event.
"""

import contextlib
import functools
import json
import math
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs
import trio
from rich.console import Console

from actors.connection import Dialer, tcp_dialer
from actors.statistics import Statistics
from fleet.control import check_control_host, serve_control
from fleet.csms import CentralSystem, Record
from fleet.drivers import SessionSettings
from fleet.fleetfile import ChargePointSpec, FleetFile
from fleet.heap import freeze_while_growing
from fleet.metrics import FleetCollector, serving_metrics
from fleet.progress import FleetSize, ProgressMeter, plain_line, print_lines, show_live
from fleet.report import build_report, print_report, write_report
from fleet.runner import DEFAULT_RAMP, Fleet
from fleet.shards import SHARD_KEY, Shard
from storage import MemoryStorage, Storage, open_database

__all__ = ["run_csms", "run_demo", "run_fleet"]

PROGRESS_EVERY = 5.0
"""Seconds between progress lines of ``run`` when its output is not a terminal."""
REPORT_WIDTH = 120
"""Characters per line of the report's tables when the output is not a terminal."""

_PAYLOAD_WIDTH = 100
_UNIT_SHOWN = {"Percent": "%", "Celsius": "°C"}


async def until_stopped(duration: float | None) -> None:
    """Return after ``duration`` seconds (``None``: never) or at the first SIGINT or SIGTERM."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        with trio.move_on_after(math.inf if duration is None else duration):
            async for _ in signals:
                return


async def run_fleet(
    fleet_file: FleetFile,
    out: TextIO,
    *,
    csms_url: str | None = None,
    duration: float | None = None,
    ramp: float = DEFAULT_RAMP,
    dialer: Dialer = tcp_dialer,
    database: Path | None = None,
    storage: Storage | None = None,
    report: Path | None = None,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
    live: bool | None = None,
    control: tuple[str, int] | None = None,
    control_public: bool = False,
    shard: Shard | None = None,
    freeze_heap: bool = False,
) -> None:
    """Run the charge points of a fleet file, printing progress; ``csms_url`` overrides the file's URLs.

    With ``shard``, only that shard's charge points and scenario events (fleet.shards), started at its
    share of ``ramp``; its report says which shard it is. ``database`` is then used as given.

    The charge points keep their state in ``storage`` if given, else in the SQLite file ``database`` (by
    default the fleet file's ``database``), where a later run finds it: a run that was killed recovers as
    charge points do after a power cut.

    Progress is a live view redrawn 4 times a second if ``live`` (default: if ``out`` is a terminal), else a
    line every 5 s. At the end the report's tables are printed, and its JSON written to ``report`` if given
    (fleet.report). With ``metrics_port``, Prometheus metrics are served there meanwhile (fleet.metrics).
    With ``control`` (host, port), the control API is served there meanwhile (fleet.control); a host that is
    not loopback is a ValueError unless ``control_public``. ``freeze_heap``: garbage collection as
    :mod:`fleet.heap` says, for a process of its own (it changes the whole process).
    """
    if control is not None:
        check_control_host(control[0], public=control_public)
    if storage is None:
        path = database if database is not None else fleet_file.database
        async with await open_database(path) as opened:
            await run_fleet(
                fleet_file,
                out,
                csms_url=csms_url,
                duration=duration,
                ramp=ramp,
                dialer=dialer,
                storage=opened,
                report=report,
                metrics_host=metrics_host,
                metrics_port=metrics_port,
                live=live,
                control=control,
                control_public=control_public,
                shard=shard,
                freeze_heap=freeze_heap,
            )
        return
    specs = fleet_file.charge_points()
    scenario = fleet_file.scenario
    counted = f"{len(specs)} charge points of {fleet_file.source}"
    if shard is not None:
        counted = f"{len(shard.select(specs))} of the {counted} (shard {shard})"
        specs = shard.select(specs)
        scenario = shard.scenario(scenario, specs)
        ramp = shard.ramp(ramp)
    if csms_url is not None:
        specs = tuple(attrs.evolve(spec, csms_url=csms_url) for spec in specs)
    statistics = Statistics()
    fleet = Fleet(specs, storage=storage, dialer=dialer, statistics=statistics)
    title = f"running {counted}, {ramp:g} per second"
    print(title, file=out)
    live = out.isatty() if live is None else live
    begin = trio.current_time()
    meter = ProgressMeter(statistics, start=begin)
    size = functools.partial(_fleet_size, fleet)
    with contextlib.ExitStack() as metrics:
        if metrics_port is not None:
            collector = FleetCollector(statistics, size)
            port = metrics.enter_context(serving_metrics(collector, metrics_host, metrics_port))
            print(f"Prometheus metrics on http://{metrics_host}:{port}/metrics", file=out, flush=True)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(fleet.run, ramp=ramp))
            nursery.start_soon(fleet.play, scenario)
            if freeze_heap:
                nursery.start_soon(freeze_while_growing)
            if control is not None:
                serve = functools.partial(
                    serve_control, fleet, fleet_file, control, csms_url=csms_url, public=control_public
                )
                print(f"control API on {await nursery.start(serve)}", file=out, flush=True)
            async with trio.open_nursery() as showing:
                if live:
                    showing.start_soon(show_live, out, meter, size, title)
                else:
                    showing.start_soon(functools.partial(print_lines, out, meter, size, every=PROGRESS_EVERY))
                await until_stopped(duration)
                showing.cancel_scope.cancel()
            # The report comes first, as the fleet stands: winding thousands of charge points down takes
            # seconds, and nothing they do meanwhile belongs in it.
            now = trio.current_time()
            if not live:
                print(plain_line(meter.figures(now, size()), prefix="stopped: "), file=out, flush=True)
            result = build_report(statistics, now=now, seconds=now - begin)
            if shard is not None:
                result[SHARD_KEY] = str(shard)
            print_report(result, Console(file=out, width=None if live else REPORT_WIDTH))
            if report is not None:
                write_report(report, result)
                print(f"report written to {report}", file=out, flush=True)
            nursery.cancel_scope.cancel()


def _fleet_size(fleet: Fleet) -> FleetSize:
    return FleetSize(len(fleet.charge_points), fleet.started, fleet.crashes)


async def run_csms(
    out: TextIO,
    *,
    host: str = "127.0.0.1",
    port: int = 9000,
    heartbeat_interval: int = 300,
    verbose: bool = False,
    duration: float | None = None,
) -> None:
    """Run the embedded Central System; with ``verbose``, print every message, else only BootNotifications."""
    central_system = CentralSystem(
        heartbeat_interval=heartbeat_interval,
        on_record=_RecordPrinter(out, verbose=verbose),
    )
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(central_system.serve, host, port)
        print(f"Central System listening on ws://{host}:{bound}/ocpp/<charge point id>", file=out, flush=True)
        await until_stopped(duration)
        nursery.cancel_scope.cancel()


def _meter_values_summary(record: Record) -> str | None:
    """MeterValues as values with units (``connector 1, transaction 7: 1234 Wh, 7360 W``)."""
    if record.action != "MeterValues" or record.kind != "CALL":
        return None
    values = [
        f"{sampled['value']} {_UNIT_SHOWN.get(sampled.get('unit', 'Wh'), sampled.get('unit', 'Wh'))}"
        for meter_value in record.payload.get("meterValue", [])
        for sampled in meter_value.get("sampledValue", [])
    ]
    transaction = record.payload.get("transactionId")
    where = f"connector {record.payload.get('connectorId')}"
    if transaction is not None:
        where += f", transaction {transaction}"
    return f"{where}: {', '.join(values)}"


class _RecordPrinter:
    """Prints records as lines, with the seconds since it was made."""

    def __init__(self, out: TextIO, *, verbose: bool) -> None:
        self._out = out
        self._verbose = verbose
        self._start = trio.current_time()

    def __call__(self, record: Record) -> None:
        if self._verbose or (record.action == "BootNotification" and record.kind == "CALL"):
            _print_record(record, record.time - self._start, self._out)


def _without_secrets(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with the value of a ChangeConfiguration of AuthorizationKey hidden: it is a password."""
    if str(payload.get("key", "")).lower() == "authorizationkey" and "value" in payload:
        return {**payload, "value": "(hidden)"}
    return payload


def _print_record(record: Record, seconds: float, out: TextIO) -> None:
    arrow = "->" if record.direction == "in" else "<-"
    what = record.action or "?"
    if record.kind != "CALL":
        what += ".conf" if record.kind == "CALLRESULT" else ".error"
    payload = _meter_values_summary(record) or json.dumps(
        _without_secrets(record.payload), separators=(",", ":")
    )
    if len(payload) > _PAYLOAD_WIDTH:
        payload = payload[: _PAYLOAD_WIDTH - 3] + "..."
    print(
        f"{seconds:9.3f}s  {record.charge_point_id:<12} {arrow} {what:<32} {payload}",
        file=out,
        flush=True,
    )


async def run_demo(
    out: TextIO,
    *,
    charge_points: int = 3,
    connectors: int = 2,
    heartbeat_interval: int = 30,
    duration: float | None = None,
) -> None:
    """The embedded Central System on 127.0.0.1 and a small fleet against it, printing every message."""
    central_system = CentralSystem(
        heartbeat_interval=heartbeat_interval,
        on_record=_RecordPrinter(out, verbose=True),
    )
    async with trio.open_nursery() as nursery:
        port = await nursery.start(central_system.serve, "127.0.0.1", 0)
        url = f"ws://127.0.0.1:{port}/ocpp"
        print(
            f"demo: Central System on {url}, {charge_points} charge points with {connectors} connectors",
            file=out,
        )
        print("demo: -> charge point to Central System, <- back; Ctrl-C stops", file=out, flush=True)
        fleet = Fleet(_demo_fleet(url, charge_points, connectors), storage=MemoryStorage())
        nursery.start_soon(functools.partial(fleet.run, ramp=0))
        await until_stopped(duration)
        nursery.cancel_scope.cancel()


DEMO_SESSIONS = SessionSettings(
    ("DEMO-TAG-1", "DEMO-TAG-2"), arrivals_per_hour=240.0, duration_minutes=(0.5, 1.0)
)
"""Drivers every 15 s on average, charging for 30 to 60 s: sessions to watch, not to measure."""


def _demo_fleet(url: str, count: int, connectors: int) -> Sequence[ChargePointSpec]:
    return [
        ChargePointSpec(
            id=f"DEMO-{n:02}",
            serial=f"SN-{n:06}",
            connectors=connectors,
            vendor="ocpp-fleet",
            model="Demo",
            firmware="1.0.0",
            csms_url=url,
            configuration={"MeterValueSampleInterval": "10", "MeterValuesSampledData": DEMO_MEASURANDS},
            sessions=DEMO_SESSIONS,
        )
        for n in range(1, count + 1)
    ]


DEMO_MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,SoC"
