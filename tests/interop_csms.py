"""An independent OCPP 1.6J Central System for the interop test, built on the PyPI packages ``ocpp`` and
``websockets`` (asyncio): nothing of ours is imported.

Run as ``python tests/interop_csms.py --port 0 --script core``. The first line of stdout is the bound port;
then one JSON object per line, flushed at once:

- ``{"event": "connected", "path": ..., "subprotocol": ...}`` and ``{"event": "disconnected", ...}``;
- ``{"event": "call", "action": ..., "payload": ...}`` for every CALL of the charge point, with the payload
  as the ``ocpp`` package delivered it (snake_case keys, already validated against the official schemas);
- ``{"event": "answer", "action": ..., "request": ..., "response": ...}`` for each call of the script;
- ``{"event": "error", ...}`` for anything that went wrong: a failed call of the script (CALLERROR, invalid
  answer, timeout) and every warning or error logged, which is how the ``ocpp`` package reports a CALL that
  fails its schema (it answers a CALLERROR and logs it) or a message it cannot parse;
- ``{"event": "done"}`` once the script is over and the charge point has booted again after its Reset.

After that the Central System exits. It answers BootNotification Accepted with ``interval=1``, so heartbeats
come every second, and it starts the script once it has the BootNotification, the StatusNotifications of
connectors 0..N (``--connectors``) and a Heartbeat.
"""

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus, ResetType
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

HEARTBEAT_INTERVAL = 1


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


class CentralSystem:
    """What the Central System knows across the connections of its one charge point."""

    def __init__(self, connectors: int) -> None:
        self.connectors = connectors
        self.boots = 0
        self.statuses: set[int] = set()
        self.ready = asyncio.Event()
        """Booted, statuses of all connectors reported, a heartbeat received: time for the script."""
        self.rebooted = asyncio.Event()
        self.charge_point: ChargePointSide | None = None

    def record(self, action: str, payload: dict[str, Any]) -> None:
        emit("call", action=action, payload=payload)
        if action == Action.boot_notification:
            self.boots += 1
            if self.boots >= 2:
                self.rebooted.set()
        elif action == Action.status_notification:
            self.statuses.add(payload["connector_id"])
        elif action == Action.heartbeat and self.statuses >= set(range(self.connectors + 1)):
            self.ready.set()

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
            current_time=now(), interval=HEARTBEAT_INTERVAL, status=RegistrationStatus.accepted
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


async def ask(charge_point: ChargePointSide, request: Any) -> None:
    """Make one CSMS-initiated call and print its answer, or what went wrong."""
    action = type(request).__name__
    try:
        response = await charge_point.call(request, suppress=False)
    except Exception as error:
        emit("error", source=f"call {action}", message=str(error), exception=repr(error))
    else:
        emit(
            "answer",
            action=action,
            request=dataclasses.asdict(request),
            response=dataclasses.asdict(response),
        )


async def core_script(charge_point: ChargePointSide) -> None:
    """Core profile: configuration, DataTransfer to an unknown vendor, soft Reset."""
    await ask(charge_point, call.GetConfiguration())
    await ask(charge_point, call.GetConfiguration(key=["HeartbeatInterval", "NoSuchKey"]))
    await ask(charge_point, call.ChangeConfiguration(key="MeterValueSampleInterval", value="30"))
    await ask(charge_point, call.ChangeConfiguration(key="NumberOfConnectors", value="5"))
    await ask(charge_point, call.ChangeConfiguration(key="NoSuchKey", value="1"))
    await ask(charge_point, call.DataTransfer(vendor_id="com.example"))
    await ask(charge_point, call.Reset(type=ResetType.soft))


SCRIPTS: dict[str, Callable[[ChargePointSide], Awaitable[None]]] = {"core": core_script}


async def main(port: int, script: str, connectors: int, give_up_after: float) -> None:
    csms = CentralSystem(connectors)
    async with serve(csms.handle, "127.0.0.1", port, subprotocols=[Subprotocol("ocpp1.6")]) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        try:
            async with asyncio.timeout(give_up_after):
                await csms.ready.wait()
                assert csms.charge_point is not None
                await SCRIPTS[script](csms.charge_point)
                await csms.rebooted.wait()
        except TimeoutError:
            emit("error", source="csms", message=f"script {script!r} not over within {give_up_after:g} s")
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
