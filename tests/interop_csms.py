"""An independent OCPP 1.6J Central System for the interop test, built on the PyPI packages ``ocpp`` and
``websockets`` (asyncio): nothing of ours is imported.

Run as ``python tests/interop_csms.py --port 0 --script core`` (or ``--script session``). The first line of
stdout is the bound port; then one JSON object per line, flushed at once:

- ``{"event": "connected", "path": ..., "subprotocol": ...}`` and ``{"event": "disconnected", ...}``;
- ``{"event": "call", "action": ..., "payload": ...}`` for every CALL of the charge point, with the payload
  as the ``ocpp`` package delivered it (snake_case keys, already validated against the official schemas);
- ``{"event": "answer", "action": ..., "request": ..., "response": ...}`` for each call of the script;
- ``{"event": "error", ...}`` for anything that went wrong: a failed call of the script (CALLERROR, invalid
  answer, timeout) and every warning or error logged, which is how the ``ocpp`` package reports a CALL that
  fails its schema (it answers a CALLERROR and logs it) or a message it cannot parse;
- ``{"event": "done"}`` once the script is over.

After that the Central System exits. The scripts:

- ``core``: BootNotification is answered Accepted with ``interval=1``, so heartbeats come every second; the
  script starts once it has the BootNotification, the StatusNotifications of connectors 0..N
  (``--connectors``) and a Heartbeat. GetConfiguration, ChangeConfiguration, DataTransfer to an unknown
  vendor, a soft Reset; it is over once the charge point has booted again.
- ``session``: BootNotification Accepted with ``interval=300``; the script starts once it has the
  BootNotification and the StatusNotifications of connectors 0..N. It waits for connector 1 to be
  ``Preparing`` (an EV plugged in), starts a transaction remotely there, answers StartTransaction with
  transaction id 4711, waits for two MeterValues of it, stops it remotely and waits for its
  StopTransaction; then RemoteStopTransaction of an unknown transaction, UnlockConnector of connector 1 and
  of an unknown connector, ChangeAvailability of connector 2 to Inoperative (waiting for its Unavailable)
  and back to Operative (waiting for its Available), and RemoteStartTransaction on connector 0. An answer
  other than the expected one is an error event too, and ends the script without "done".
- ``firmware``: BootNotification Accepted with ``interval=300``; the script starts once it has the
  BootNotification and the StatusNotifications of connectors 0..N. It serves a firmware image over HTTP on
  loopback and sends UpdateFirmware for it; once FirmwareStatusNotification ``Installed`` came (after the
  reboot), GetDiagnostics with a location on the same server; once DiagnosticsStatusNotification
  ``Uploaded`` came, an ``{"event": "uploaded", "path": ..., "size": ..., "first_line": ...}`` for each file
  the server received.
- ``reservation``: BootNotification Accepted with ``interval=300``; the script starts once it has the
  BootNotification and the StatusNotifications of connectors 0..N. ReserveNow of connector 1 (waiting for its
  Reserved), of connector 1 again under another id, and of connector 7; CancelReservation of the first
  (waiting for Available) and again; ReserveNow of connector 0 for 5 seconds, then of connector 2 (waiting
  for both connectors' Reserved: connector 1 is then the one left for connector 0's reservation), then for
  connector 1's Available once the reservation of connector 0 has expired; CancelReservation of connector
  2's (waiting for its Available). An answer other than the expected one ends the script without "done".
- ``smart``: BootNotification Accepted with ``interval=300``; the script starts once it has the
  BootNotification and the StatusNotifications of connectors 0..N. GetConfiguration of the Smart Charging
  keys; SetChargingProfile of a TxDefaultProfile for connector 1 (16 A from the current whole second, 10 A
  from 60 s later), of a ChargePointMaxProfile (20 A) and of a TxProfile without a transaction (Rejected);
  GetCompositeSchedule of connector 1 (120 s, A), of connector 0 (120 s, W) and of connector 5 (Rejected);
  ClearChargingProfile of the TxDefaultProfile by id, of every profile, and of the TxDefaultProfile again
  (Unknown). An answer other than the expected one ends the script without "done".
"""

import argparse
import asyncio
import contextlib
import dataclasses
import http.server
import json
import logging
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    AvailabilityStatus,
    AvailabilityType,
    CancelReservationStatus,
    ChargePointStatus,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ClearChargingProfileStatus,
    GetCompositeScheduleStatus,
    RegistrationStatus,
    RemoteStartStopStatus,
    ReservationStatus,
    ResetType,
    UnlockStatus,
)
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

TRANSACTION_ID = 4711
"""The id the ``session`` script gives the charge point's transaction."""
UNKNOWN_TRANSACTION_ID = 9999

Predicate = Callable[[str, dict[str, Any]], bool]
"""Whether a CALL of the charge point (action, payload) is the one waited for."""


def emit(event: str, **fields: Any) -> None:
    """Print one event as a JSON line."""
    print(json.dumps({"event": event, **fields}, default=str), flush=True)


class RecordErrors(logging.Handler):
    """Every warning or error logged (by ``ocpp``, ``websockets`` or asyncio) becomes an error event."""

    def emit(self, record: logging.LogRecord) -> None:
        error = repr(record.exc_info[1]) if record.exc_info else None
        emit("error", source=f"log {record.name}", message=record.getMessage(), exception=error)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def in_seconds(seconds: float) -> str:
    """The time ``seconds`` from now, as OCPP carries it."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CentralSystem:
    """What the Central System knows across the connections of its one charge point."""

    def __init__(self, connectors: int, heartbeat_interval: int, *, ready_on_heartbeat: bool) -> None:
        self.connectors = connectors
        self.heartbeat_interval = heartbeat_interval
        self.ready_on_heartbeat = ready_on_heartbeat
        self.boots = 0
        self.statuses: set[int] = set()
        self.ready = asyncio.Event()
        """Booted, statuses of all connectors reported (and, if asked for, a heartbeat received): time for
        the script."""
        self.rebooted = asyncio.Event()
        self.charge_point: ChargePointSide | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []
        """Every CALL of the charge point so far, in order."""
        self._new_call = asyncio.Event()

    def record(self, action: str, payload: dict[str, Any]) -> None:
        emit("call", action=action, payload=payload)
        self.calls.append((action, payload))
        self._new_call.set()
        self._new_call = asyncio.Event()
        if action == Action.boot_notification:
            self.boots += 1
            if self.boots >= 2:
                self.rebooted.set()
        elif action == Action.status_notification:
            self.statuses.add(payload["connector_id"])
            if not self.ready_on_heartbeat and self.all_reported():
                self.ready.set()
        elif action == Action.heartbeat and self.ready_on_heartbeat and self.all_reported():
            self.ready.set()

    def all_reported(self) -> bool:
        """Whether the statuses of connector 0 and of every connector were reported."""
        return self.statuses >= set(range(self.connectors + 1))

    async def wait_for(self, predicate: Predicate, *, count: int = 1, since: int = 0) -> int:
        """Wait until ``count`` CALLs from index ``since`` on match; the index of the last of them."""
        while True:
            matching = [
                index
                for index, (action, payload) in enumerate(self.calls)
                if index >= since and predicate(action, payload)
            ]
            if len(matching) >= count:
                return matching[count - 1]
            await self._new_call.wait()

    async def handle(self, websocket: ServerConnection) -> None:
        """One WebSocket connection: the charge point id is the last segment of the path."""
        assert websocket.request is not None
        path = websocket.request.path
        emit("connected", path=path, subprotocol=websocket.subprotocol)
        self.charge_point = ChargePointSide(path.rsplit("/", 1)[-1], websocket, self)
        try:
            await self.charge_point.start()
        except ConnectionClosed as closed:
            emit("disconnected", code=closed.rcvd.code if closed.rcvd else None)


class ChargePointSide(ChargePoint):  # type: ignore[misc]  # the ocpp package has no type hints
    """The Central System's end of one connection: answers the Core CALLs of the charge point."""

    def __init__(self, charge_point_id: str, websocket: ServerConnection, csms: CentralSystem) -> None:
        super().__init__(charge_point_id, websocket, response_timeout=10)
        self.csms = csms

    @on(Action.boot_notification)
    def on_boot_notification(self, **payload: Any) -> call_result.BootNotification:
        self.csms.record(Action.boot_notification, payload)
        return call_result.BootNotification(
            current_time=now(), interval=self.csms.heartbeat_interval, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **payload: Any) -> call_result.Heartbeat:
        self.csms.record(Action.heartbeat, payload)
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status_notification(self, **payload: Any) -> call_result.StatusNotification:
        self.csms.record(Action.status_notification, payload)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **payload: Any) -> call_result.Authorize:
        self.csms.record(Action.authorize, payload)
        return call_result.Authorize(id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted))

    @on(Action.start_transaction)
    def on_start_transaction(self, **payload: Any) -> call_result.StartTransaction:
        self.csms.record(Action.start_transaction, payload)
        return call_result.StartTransaction(
            transaction_id=TRANSACTION_ID, id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted)
        )

    @on(Action.meter_values)
    def on_meter_values(self, **payload: Any) -> call_result.MeterValues:
        self.csms.record(Action.meter_values, payload)
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop_transaction(self, **payload: Any) -> call_result.StopTransaction:
        self.csms.record(Action.stop_transaction, payload)
        return call_result.StopTransaction(id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted))

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **payload: Any) -> call_result.FirmwareStatusNotification:
        self.csms.record(Action.firmware_status_notification, payload)
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, **payload: Any) -> call_result.DiagnosticsStatusNotification:
        self.csms.record(Action.diagnostics_status_notification, payload)
        return call_result.DiagnosticsStatusNotification()


class ScriptFailed(Exception):
    """The charge point answered otherwise than the script needs to go on."""


async def ask(charge_point: ChargePointSide, request: Any, expect: str | None = None) -> Any:
    """Make one CSMS-initiated call and print its answer, or what went wrong; the response or ``None``.

    With ``expect``, a failed call or an answer whose status is not ``expect`` is also an error event and
    raises :class:`ScriptFailed`.
    """
    action = type(request).__name__
    try:
        response = await charge_point.call(request, suppress=False)
    except Exception as error:
        emit("error", source=f"call {action}", message=str(error), exception=repr(error))
        if expect is not None:
            raise ScriptFailed(f"{action} failed") from error
        return None
    emit(
        "answer",
        action=action,
        request=dataclasses.asdict(request),
        response=dataclasses.asdict(response),
    )
    if expect is not None and response.status != expect:
        emit("error", source=f"call {action}", message=f"answered {response.status!r}, expected {expect!r}")
        raise ScriptFailed(f"{action} answered {response.status!r}")
    return response


async def core_script(charge_point: ChargePointSide) -> None:
    """Core profile: configuration, DataTransfer to an unknown vendor, soft Reset."""
    await ask(charge_point, call.GetConfiguration())
    await ask(charge_point, call.GetConfiguration(key=["HeartbeatInterval", "NoSuchKey"]))
    await ask(charge_point, call.ChangeConfiguration(key="MeterValueSampleInterval", value="30"))
    await ask(charge_point, call.ChangeConfiguration(key="NumberOfConnectors", value="5"))
    await ask(charge_point, call.ChangeConfiguration(key="NoSuchKey", value="1"))
    await ask(charge_point, call.DataTransfer(vendor_id="com.example"))
    await ask(charge_point, call.Reset(type=ResetType.soft))
    await charge_point.csms.rebooted.wait()


def status_of(connector_id: int, status: str) -> Predicate:
    def matches(action: str, payload: dict[str, Any]) -> bool:
        if action != Action.status_notification:
            return False
        return bool(payload["connector_id"] == connector_id and payload["status"] == status)

    return matches


def meter_values_of_the_transaction(action: str, payload: dict[str, Any]) -> bool:
    return action == Action.meter_values and payload.get("transaction_id") == TRANSACTION_ID


async def session_script(charge_point: ChargePointSide) -> None:
    """A remotely started and stopped charging session, then every other connector-related request."""
    csms = charge_point.csms
    accepted = RemoteStartStopStatus.accepted
    await csms.wait_for(status_of(1, ChargePointStatus.preparing))  # the test plugged an EV in
    await ask(charge_point, call.RemoteStartTransaction(id_tag="REMOTE-1", connector_id=1), expect=accepted)
    await csms.wait_for(lambda action, _: action == Action.start_transaction)
    await csms.wait_for(meter_values_of_the_transaction, count=2)
    await ask(charge_point, call.RemoteStopTransaction(transaction_id=TRANSACTION_ID), expect=accepted)
    await csms.wait_for(lambda action, _: action == Action.stop_transaction)
    rejected = RemoteStartStopStatus.rejected
    await ask(
        charge_point, call.RemoteStopTransaction(transaction_id=UNKNOWN_TRANSACTION_ID), expect=rejected
    )
    await ask(charge_point, call.UnlockConnector(connector_id=1), expect=UnlockStatus.unlocked)
    await ask(charge_point, call.UnlockConnector(connector_id=7), expect=UnlockStatus.not_supported)
    inoperative = call.ChangeAvailability(connector_id=2, type=AvailabilityType.inoperative)
    await ask(charge_point, inoperative, expect=AvailabilityStatus.accepted)
    unavailable = await csms.wait_for(status_of(2, ChargePointStatus.unavailable))
    operative = call.ChangeAvailability(connector_id=2, type=AvailabilityType.operative)
    await ask(charge_point, operative, expect=AvailabilityStatus.accepted)
    await csms.wait_for(status_of(2, ChargePointStatus.available), since=unavailable + 1)
    await ask(charge_point, call.RemoteStartTransaction(id_tag="REMOTE-1", connector_id=0), expect=rejected)


async def reservation_script(charge_point: ChargePointSide) -> None:
    """ReserveNow and CancelReservation (5.13, 5.1), with the statuses they bring (4.9)."""
    csms = charge_point.csms
    accepted = ReservationStatus.accepted
    first = call.ReserveNow(connector_id=1, expiry_date=in_seconds(60), id_tag="RES-1", reservation_id=1)
    await ask(charge_point, first, expect=accepted)
    reserved = await csms.wait_for(status_of(1, ChargePointStatus.reserved))
    taken = call.ReserveNow(connector_id=1, expiry_date=in_seconds(60), id_tag="RES-2", reservation_id=2)
    await ask(charge_point, taken, expect=ReservationStatus.occupied)
    missing = call.ReserveNow(connector_id=7, expiry_date=in_seconds(60), id_tag="RES-3", reservation_id=3)
    await ask(charge_point, missing, expect=ReservationStatus.rejected)
    await ask(charge_point, call.CancelReservation(reservation_id=1), expect=CancelReservationStatus.accepted)
    await csms.wait_for(status_of(1, ChargePointStatus.available), since=reserved + 1)
    await ask(charge_point, call.CancelReservation(reservation_id=1), expect=CancelReservationStatus.rejected)
    anywhere = call.ReserveNow(
        connector_id=0, expiry_date=in_seconds(5), id_tag="RES-4", reservation_id=4, parent_id_tag="FAMILY"
    )
    await ask(charge_point, anywhere, expect=accepted)
    second = call.ReserveNow(connector_id=2, expiry_date=in_seconds(60), id_tag="RES-5", reservation_id=5)
    await ask(charge_point, second, expect=accepted)
    reserved_2 = await csms.wait_for(status_of(2, ChargePointStatus.reserved))
    kept = await csms.wait_for(status_of(1, ChargePointStatus.reserved), count=2)
    await csms.wait_for(status_of(1, ChargePointStatus.available), since=kept + 1)  # connector 0's expired
    await ask(charge_point, call.CancelReservation(reservation_id=5), expect=CancelReservationStatus.accepted)
    await csms.wait_for(status_of(2, ChargePointStatus.available), since=reserved_2 + 1)


FIRMWARE_PATH = "/firmware/acme-ac22-2.0.0.bin"
"""Where the ``firmware`` script's file server has the image; the version is in its name."""


class FileServer(http.server.BaseHTTPRequestHandler):
    """The ``firmware`` script's loopback HTTP server: GET of the image, PUT of diagnostics files."""

    uploads: dict[str, bytes]

    def do_GET(self) -> None:
        body = b"\x7fELF simulated firmware image" if self.path == FIRMWARE_PATH else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        self.uploads[self.path] = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def file_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A loopback HTTP file server in a thread: its base URL, and the files PUT to it (by path)."""
    uploads: dict[str, bytes] = {}
    handler = type("Handler", (FileServer,), {"uploads": uploads})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", uploads
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def status_notification(action: str, status: str) -> Predicate:
    return lambda called, payload: called == action and payload["status"] == status


async def firmware_script(charge_point: ChargePointSide) -> None:
    """UpdateFirmware from a loopback HTTP server, until Installed after the reboot; then GetDiagnostics to
    it, until Uploaded; then an "uploaded" event for each file the server received."""
    csms = charge_point.csms
    with file_server() as (base_url, uploads):
        update = call.UpdateFirmware(
            location=base_url + FIRMWARE_PATH, retrieve_date=now(), retries=1, retry_interval=1
        )
        await ask(charge_point, update)
        await csms.wait_for(status_notification(Action.firmware_status_notification, "Installed"))
        assert csms.charge_point is not None  # the connection after the reboot
        diagnostics = call.GetDiagnostics(location=base_url + "/diagnostics/", retries=1, retry_interval=1)
        await ask(csms.charge_point, diagnostics)
        await csms.wait_for(status_notification(Action.diagnostics_status_notification, "Uploaded"))
        for path, body in uploads.items():
            emit("uploaded", path=path, size=len(body), first_line=body.decode().split("\n", 1)[0])


SMART_CHARGING_KEYS = [
    "ChargeProfileMaxStackLevel",
    "ChargingScheduleAllowedChargingRateUnit",
    "ChargingScheduleMaxPeriods",
    "MaxChargingProfilesInstalled",
]
"""The keys 3.13.5 says a Smart Charging enabled charge point SHALL report."""


def charging_profile(
    profile_id: int, purpose: str, periods: list[tuple[int, float]], **fields: Any
) -> dict[str, Any]:
    """A csChargingProfiles object (7.8) as the ``ocpp`` package takes it: Absolute from the current whole
    second, its limits in A on 3 phases."""
    start = datetime.now(UTC).replace(microsecond=0)
    return {
        "charging_profile_id": profile_id,
        "stack_level": 0,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": ChargingProfileKindType.absolute,
        "charging_schedule": {
            "charging_rate_unit": ChargingRateUnitType.amps,
            "start_schedule": start.isoformat().replace("+00:00", "Z"),
            "charging_schedule_period": [
                {"start_period": begin, "limit": limit, "number_phases": 3} for begin, limit in periods
            ],
        },
        **fields,
    }


async def smart_script(charge_point: ChargePointSide) -> None:
    """Smart Charging (3.13, 5.5, 5.7, 5.16): profiles set, the Composite Schedule asked for, then cleared."""
    purpose, unit = ChargingProfilePurposeType, ChargingRateUnitType
    await ask(charge_point, call.GetConfiguration(key=SMART_CHARGING_KEYS))
    default = charging_profile(1, purpose.tx_default_profile, [(0, 16), (60, 10)])
    maximum = charging_profile(2, purpose.charge_point_max_profile, [(0, 20)])
    tx = charging_profile(3, purpose.tx_profile, [(0, 6)], transaction_id=4711)
    set_profile = ChargingProfileStatus
    await ask(charge_point, call.SetChargingProfile(1, default), expect=set_profile.accepted)
    await ask(charge_point, call.SetChargingProfile(0, maximum), expect=set_profile.accepted)
    await ask(charge_point, call.SetChargingProfile(1, tx), expect=set_profile.rejected)  # no transaction
    composite = GetCompositeScheduleStatus
    await ask(charge_point, call.GetCompositeSchedule(1, 120, unit.amps), expect=composite.accepted)
    await ask(charge_point, call.GetCompositeSchedule(0, 120, unit.watts), expect=composite.accepted)
    await ask(charge_point, call.GetCompositeSchedule(5, 120), expect=composite.rejected)
    clear = ClearChargingProfileStatus
    await ask(charge_point, call.ClearChargingProfile(id=1), expect=clear.accepted)
    await ask(charge_point, call.ClearChargingProfile(), expect=clear.accepted)
    await ask(charge_point, call.ClearChargingProfile(id=1), expect=clear.unknown)


@dataclasses.dataclass(frozen=True)
class Script:
    run: Callable[[ChargePointSide], Awaitable[None]]
    heartbeat_interval: int
    """The interval the BootNotification answer gives."""
    ready_on_heartbeat: bool
    """Whether the script waits for a first Heartbeat after the boot statuses."""


SCRIPTS: dict[str, Script] = {
    "core": Script(core_script, heartbeat_interval=1, ready_on_heartbeat=True),
    "session": Script(session_script, heartbeat_interval=300, ready_on_heartbeat=False),
    "firmware": Script(firmware_script, heartbeat_interval=300, ready_on_heartbeat=False),
    "reservation": Script(reservation_script, heartbeat_interval=300, ready_on_heartbeat=False),
    "smart": Script(smart_script, heartbeat_interval=300, ready_on_heartbeat=False),
}


async def main(port: int, script: str, connectors: int, give_up_after: float) -> None:
    chosen = SCRIPTS[script]
    csms = CentralSystem(connectors, chosen.heartbeat_interval, ready_on_heartbeat=chosen.ready_on_heartbeat)
    async with serve(csms.handle, "127.0.0.1", port, subprotocols=[Subprotocol("ocpp1.6")]) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        try:
            async with asyncio.timeout(give_up_after):
                await csms.ready.wait()
                assert csms.charge_point is not None
                await chosen.run(csms.charge_point)
        except TimeoutError:
            emit("error", source="csms", message=f"script {script!r} not over within {give_up_after:g} s")
        except ScriptFailed as failed:
            emit("error", source="csms", message=f"script {script!r} given up: {failed}")
        else:
            emit("done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", choices=sorted(SCRIPTS), default="core")
    parser.add_argument("--connectors", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger().addHandler(RecordErrors(logging.WARNING))
    asyncio.run(main(arguments.port, arguments.script, arguments.connectors, arguments.timeout))
