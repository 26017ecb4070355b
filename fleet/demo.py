"""``ocpp-fleet demo FLEET.toml``: the charge points of a fleet file against the embedded Central System,
every message printed, with the Central System's own scenario events (``csms_call``: a reservation, a
charging profile, a firmware update, ...) played too.

For a firmware update, the demo serves a firmware image over HTTP on 127.0.0.1: ``{files}`` in a
``csms_call`` payload stands for that server's URL (``{files}/firmware-2.0.0.bin``, whose version the
simulated installer reads as 2.0.0).
"""

import functools
import http.server
import tempfile
import threading
from pathlib import Path
from typing import Any, TextIO

import attrs
import trio

from fleet.commands import _RecordPrinter, until_stopped
from fleet.csms import CallFailed, CentralSystem, NotConnected, utc_now
from fleet.fleetfile import FleetFile
from fleet.runner import Fleet
from fleet.scenario import ScenarioEvent, csms_request
from storage import MemoryStorage

__all__ = ["DEMO_FIRMWARE_VERSION", "run_demo_file", "serve_files"]

DEMO_FIRMWARE_VERSION = "2.0.0"
"""The version of the firmware image the demo serves as ``{files}/firmware-2.0.0.bin``."""


async def run_demo_file(
    fleet_file: FleetFile, out: TextIO, *, heartbeat_interval: int = 30, duration: float | None = None
) -> None:
    """Run the fleet file's charge points and scenario against the embedded Central System on 127.0.0.1."""
    central_system = CentralSystem(
        heartbeat_interval=heartbeat_interval, on_record=_RecordPrinter(out, verbose=True)
    )
    with tempfile.TemporaryDirectory(prefix="ocpp-fleet-demo-") as folder:
        files = Path(folder)
        (files / f"firmware-{DEMO_FIRMWARE_VERSION}.bin").write_text(f"{DEMO_FIRMWARE_VERSION}\n")
        async with trio.open_nursery() as nursery:
            port = await nursery.start(central_system.serve, "127.0.0.1", 0)
            files_url = await nursery.start(serve_files, files)
            url = f"ws://127.0.0.1:{port}/ocpp"
            specs = tuple(attrs.evolve(spec, csms_url=url) for spec in fleet_file.charge_points())
            print(
                f"demo: Central System on {url}, {len(specs)} charge points of {fleet_file.source}", file=out
            )
            print("demo: -> charge point to Central System, <- back; Ctrl-C stops", file=out, flush=True)
            fleet = Fleet(specs, storage=MemoryStorage())
            call = functools.partial(_csms_call, central_system, files_url, out)
            nursery.start_soon(functools.partial(fleet.run, ramp=0))
            nursery.start_soon(functools.partial(fleet.play, fleet_file.scenario, csms_call=call))
            await until_stopped(duration)
            nursery.cancel_scope.cancel()


async def _csms_call(
    central_system: CentralSystem, files_url: str, out: TextIO, charge_point_id: str, event: ScenarioEvent
) -> None:
    """Send a ``csms_call`` event's CALL; the record printer shows it and its answer."""
    assert event.action is not None
    request = csms_request(event.action, event.payload or {}, now=utc_now(), files=files_url)
    try:
        await central_system.call(charge_point_id, request)
    except (CallFailed, NotConnected) as problem:
        print(f"demo: {event.action} to {charge_point_id} failed: {problem}", file=out, flush=True)


async def serve_files(folder: Path, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the files of ``folder`` over HTTP on 127.0.0.1 until cancelled; reports the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="demo file server", daemon=True)
    thread.start()
    try:
        task_status.started(f"http://127.0.0.1:{server.server_address[1]}")
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(server.shutdown)
            server.server_close()
            await trio.to_thread.run_sync(thread.join)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without a log line per request (the demo prints OCPP messages)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass
