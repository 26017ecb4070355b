"""What the ``ocpp-fleet`` commands do, as library calls: run a fleet, run the embedded CSMS, run the demo.

Each runs until its duration is over or the process gets SIGINT (Ctrl-C) or SIGTERM, then stops within a
second. Output goes to a text stream, one line per event.
"""

import functools
import json
import math
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs
import trio

from actors.connection import Dialer, tcp_dialer
from fleet.csms import CentralSystem, Record
from fleet.drivers import SessionSettings
from fleet.fleetfile import ChargePointSpec, FleetFile
from fleet.runner import DEFAULT_RAMP, Fleet
from storage import MemoryStorage, Storage, open_database

__all__ = ["run_csms", "run_demo", "run_fleet"]

PROGRESS_EVERY = 5.0
"""Seconds between progress lines of ``run``."""

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
) -> None:
    """Run the charge points of a fleet file, printing progress; ``csms_url`` overrides the file's URLs.

    The charge points keep their state in ``storage`` if given, else in the SQLite file ``database`` (by
    default the fleet file's ``database``), where a later run finds it: a run that was killed recovers as
    charge points do after a power cut.
    """
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
            )
        return
    specs = fleet_file.charge_points()
    if csms_url is not None:
        specs = tuple(attrs.evolve(spec, csms_url=csms_url) for spec in specs)
    fleet = Fleet(specs, storage=storage, dialer=dialer)
    print(f"running {len(specs)} charge points of {fleet_file.source}, {ramp:g} per second", file=out)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(fleet.run, ramp=ramp))
        nursery.start_soon(fleet.play, fleet_file.scenario)
        nursery.start_soon(_report_progress, fleet, out)
        await until_stopped(duration)
        nursery.cancel_scope.cancel()
    _print_progress(fleet, out, prefix="stopped: ")


async def _report_progress(fleet: Fleet, out: TextIO) -> None:
    while True:
        await trio.sleep(PROGRESS_EVERY)
        _print_progress(fleet, out)


def _print_progress(fleet: Fleet, out: TextIO, prefix: str = "") -> None:
    counts = fleet.counts()
    print(
        f"{prefix}{counts.started}/{counts.charge_points} started, {counts.connected} connected, "
        f"{counts.accepted} accepted, {counts.crashes} crashes",
        file=out,
        flush=True,
    )


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
