"""The control API of a running fleet: HTTP and JSON, a Starlette app served by hypercorn's trio worker.

======  =========================================  =====================================================
GET     /charge-points                             every charge point with its connectors
POST    /charge-points                             add the charge points of a ``[[charge_points]]`` group
GET     /charge-points/{id}                        one charge point in more detail
DELETE  /charge-points/{id}                        stop it, leave it out of the fleet (its state stays)
POST    /charge-points/{id}/events                 network_down, network_up, power_loss or reboot
POST    /charge-points/{id}/connectors/{n}/events  any other scenario event, at connector n
======  =========================================  =====================================================

Bodies are JSON objects: a group with the keys of a fleet file's ``[[charge_points]]`` table, an event with
those of a ``[[scenario]]`` entry that the URL does not give (``event``, ``id_tag``, ``error_code``,
``info``). Both are checked by the code that checks fleet files (:mod:`fleet.fleetfile`). An error is
``{"error": "..."}`` with its status: 400 for a bad body (with ``"where"``, the key at fault, when there is
one), 404 for an unknown charge point, connector or URL, 409 when the fleet's state forbids the request (an
id taken, an EV plugged in already), 415 for a body that is not sent as JSON.

The API can stop and add charge points, so it listens on a loopback address unless made public on purpose.
On loopback it also refuses requests whose Host is not a loopback name (403), so that a web page cannot
reach it through DNS rebinding, and takes only ``application/json`` bodies, which a page cannot post without
the browser asking first.
"""

import functools
import ipaddress
import json
import logging
from typing import Any, cast

import attrs
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from hypercorn.typing import ASGIFramework
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from actors.charge_point import ChargePoint
from fleet.fleetfile import FleetFile, FleetFileError, check_charge_point_group, check_scenario_event
from fleet.runner import ChargePointConflict, Fleet
from fleet.scenario import ScenarioEvent, ScenarioKind

__all__ = ["check_control_host", "control_app", "is_loopback", "parse_control_address", "serve_control"]

_log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
BODY = "request body"
"""The source named in the messages of the fleet file's checks."""
EVENT_KEYS = ("event", "id_tag", "error_code", "info")
"""The keys of an event's body; the URL gives the charge point and the connector."""
EVENTS = (
    "plug_in",
    "unplug",
    "present_id_tag",
    "ev_unplug",
    "ev_suspend",
    "ev_resume",
    "fault",
    "clear_fault",
    "network_down",
    "network_up",
    "power_loss",
    "reboot",
)
"""The scenario events the control API plays: those of the charge points and their simulated hardware."""
_SCENARIO_ONLY = frozenset(kind.value for kind in ScenarioKind) - frozenset(EVENTS)
_METHODS = {method: order for order, method in enumerate(("GET", "HEAD", "POST", "DELETE"))}
"""The order in which a 405 answer names the allowed methods."""
_NEEDS_EV = frozenset({ScenarioKind.EV_SUSPEND, ScenarioKind.EV_RESUME})


def parse_control_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) or a bare ``PORT`` (on 127.0.0.1); port 0 picks a free one.

    Raises :class:`ValueError` with a message to show.
    """
    host, colon, port_text = text.rpartition(":")
    if not colon:
        host = "127.0.0.1"
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ":" not in host:
            raise ValueError(f"{text!r}: brackets are for IPv6 addresses, as in [::1]:8080")
    elif not host or ":" in host:
        raise ValueError(f"{text!r}: give HOST:PORT such as 127.0.0.1:8080, [::1]:8080 or a port alone")
    if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        raise ValueError(f"{text!r}: the port must be a number from 0 to 65535")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_control_host(host: str, *, public: bool) -> None:
    """Raises :class:`ValueError` for a host that is not loopback, unless ``public``."""
    if not public and not is_loopback(host):
        raise ValueError(
            f"{host} is not a loopback address: the control API stops and adds charge points, so it listens "
            "on 127.0.0.1, ::1 or localhost unless made public on purpose (--control-public)"
        )


async def serve_control(
    fleet: Fleet,
    fleet_file: FleetFile,
    address: tuple[str, int],
    *,
    csms_url: str | None = None,
    public: bool = False,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the control API of ``fleet`` on ``address`` until cancelled; reports its URL once it listens.

    Groups added through it are checked against ``fleet_file`` (its folder, its default ``csms_url``);
    ``csms_url`` connects them elsewhere, as ``run --csms-url`` does. Raises :class:`ValueError` for a host
    that is not loopback unless ``public``, :class:`OSError` if it cannot listen.
    """
    host, port = address
    check_control_host(host, public=public)
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = _log
    # The same ASGI interface in both, typed as MutableMappings by Starlette and as TypedDicts by hypercorn.
    app = cast(ASGIFramework, control_app(fleet, fleet_file, csms_url=csms_url, public=public))
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(functools.partial(serve, app, config, mode="asgi"))
        task_status.started(binds[0])


def control_app(
    fleet: Fleet, fleet_file: FleetFile, *, csms_url: str | None = None, public: bool = False
) -> ASGIApp:
    """The ASGI app of the control API (see :func:`serve_control`); ``public`` accepts any Host."""
    control = _Control(fleet, fleet_file, csms_url)
    app = Starlette(
        routes=[
            Route("/charge-points", control.charge_points, methods=["GET", "POST"]),
            Route("/charge-points/{charge_point_id}", control.charge_point, methods=["GET", "DELETE"]),
            Route("/charge-points/{charge_point_id}/events", control.charge_point_event, methods=["POST"]),
            Route(
                "/charge-points/{charge_point_id}/connectors/{connector:int}/events",
                control.connector_event,
                methods=["POST"],
            ),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    return app if public else _LoopbackHostsOnly(app)


class _Problem(HTTPException):
    """An error answer: ``{"error": message}``, with ``"where"`` (a key of the body) if given."""

    def __init__(self, status_code: int, message: str, where: str = "") -> None:
        super().__init__(status_code, message)
        self.body: dict[str, str] = {"error": message} | ({"where": where} if where else {})


class _Control:
    """The endpoints, on one fleet."""

    def __init__(self, fleet: Fleet, fleet_file: FleetFile, csms_url: str | None) -> None:
        self._fleet = fleet
        self._fleet_file = fleet_file if csms_url is None else attrs.evolve(fleet_file, csms_url=csms_url)
        self._csms_url = csms_url

    async def charge_points(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._add(request)
        return JSONResponse({"charge_points": [_summary(cp) for cp in self._fleet.charge_points]})

    async def charge_point(self, request: Request) -> Response:
        charge_point = self._charge_point(request)
        if request.method == "DELETE":
            await self._fleet.remove(charge_point.settings.charge_point_id)
            return Response(status_code=204)
        return JSONResponse(self._details(charge_point))

    async def _add(self, request: Request) -> Response:
        body = await _json_object(request)
        try:
            specs = check_charge_point_group(body, self._fleet_file, BODY)
        except FleetFileError as error:
            raise _Problem(400, error.problem, error.where) from None
        if self._csms_url is not None:
            specs = tuple(attrs.evolve(spec, csms_url=self._csms_url) for spec in specs)
        try:
            added = self._fleet.add(specs)
        except ChargePointConflict as conflict:
            raise _Problem(409, str(conflict), "id") from None
        return JSONResponse({"charge_points": [_summary(charge_point) for charge_point in added]}, 201)

    async def charge_point_event(self, request: Request) -> Response:
        charge_point = self._charge_point(request)
        event = _event(await _json_object(request), charge_point.settings.charge_point_id, None)
        self._fleet.apply(event)
        return JSONResponse(_event_json(event), 202)

    async def connector_event(self, request: Request) -> Response:
        charge_point = self._charge_point(request)
        charge_point_id = charge_point.settings.charge_point_id
        number: int = request.path_params["connector"]
        count = charge_point.settings.connectors
        if not 1 <= number <= count:
            connectors = "connector 1" if count == 1 else f"connectors 1 to {count}"
            raise _Problem(404, f"no connector {number} at {charge_point_id}: it has {connectors}")
        event = _event(await _json_object(request), charge_point_id, number)
        hardware = self._fleet.hardware[charge_point_id][number - 1]
        if event.kind is ScenarioKind.PLUG_IN and hardware.plugged:
            raise _Problem(409, f"an EV is plugged in at connector {number} of {charge_point_id} already")
        if event.kind in _NEEDS_EV and not hardware.plugged:
            raise _Problem(409, f"no EV is plugged in at connector {number} of {charge_point_id}")
        try:
            self._fleet.apply(event)
        except trio.WouldBlock:
            raise _Problem(
                409,
                f"connector {number} of {charge_point_id} has too many events waiting: it takes none while "
                "the charge point is off (not started yet, or rebooting)",
            ) from None
        return JSONResponse(_event_json(event), 202)

    def _charge_point(self, request: Request) -> ChargePoint:
        charge_point_id: str = request.path_params["charge_point_id"]
        charge_point = self._fleet.get(charge_point_id)
        if charge_point is None:
            raise _Problem(404, f"no charge point {json.dumps(charge_point_id)} in the fleet")
        return charge_point

    def _details(self, charge_point: ChargePoint) -> dict[str, Any]:
        settings = charge_point.settings
        hardware = self._fleet.hardware[settings.charge_point_id]
        details = _summary(charge_point)
        details.update(
            status=charge_point.status.value if charge_point.boots else None,
            boots=charge_point.boots,
            network="down" if self._fleet.networks[settings.charge_point_id].down else "up",
            csms_url=settings.csms_url,
            vendor=settings.vendor,
            model=settings.model,
            serial=settings.serial_number,
            firmware=charge_point.firmware_version,
        )
        for connector, plug in zip(details["connectors"], hardware, strict=True):
            actor = charge_point.connectors.get(connector["connector_id"])
            transaction = None if actor is None else actor.transaction
            connector["id_tag"] = None if transaction is None else transaction.id_tag
            connector["plugged"] = plug.plugged
        return details


def _summary(charge_point: ChargePoint) -> dict[str, Any]:
    """What the list shows of a charge point; statuses are ``None`` until it has powered on."""
    registration = charge_point.registration.status
    connectors = []
    for number in range(1, charge_point.settings.connectors + 1):
        actor = charge_point.connectors.get(number)
        transaction = None if actor is None else actor.transaction
        connectors.append(
            {
                "connector_id": number,
                "status": None if actor is None else actor.status.value,
                "transaction_id": None if transaction is None else transaction.transaction_id,
            }
        )
    return {
        "id": charge_point.settings.charge_point_id,
        "connected": charge_point.connected,
        "registration": None if registration is None else registration.value,
        "accepted": charge_point.registration.accepted,
        "connectors": connectors,
    }


def _event(body: dict[str, Any], charge_point_id: str, connector: int | None) -> ScenarioEvent:
    """The event of a request body, checked as a fleet file's ``[[scenario]]`` entry is."""
    for key in body:
        if key not in EVENT_KEYS:
            raise _Problem(400, f"unknown key; known keys are {', '.join(EVENT_KEYS)}", key)
    name = body.get("event")
    if isinstance(name, str) and name in _SCENARIO_ONLY:
        problem = f"{name} is for fleet files only; the control API plays {', '.join(EVENTS)}"
        raise _Problem(400, problem, "event")
    table = {**body, "at": 0, "charge_point": charge_point_id}
    if connector is not None:
        table["connector"] = connector
    try:
        return check_scenario_event(table, BODY)
    except FleetFileError as error:
        if error.where != "connector":
            raise _Problem(400, error.problem, error.where) from None
    path = f"/charge-points/{charge_point_id}"
    if connector is None:
        problem = f"{body['event']} happens at a connector: POST it to {path}/connectors/<n>/events"
    else:
        problem = f"{body['event']} happens to the whole charge point: POST it to {path}/events"
    raise _Problem(400, problem, "event")


def _event_json(event: ScenarioEvent) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "charge_point": event.charge_point,
        "connector": event.connector,
        "event": event.kind.value,
    }
    if event.kind is ScenarioKind.PRESENT_ID_TAG:
        shown["id_tag"] = event.id_tag
    if event.kind is ScenarioKind.FAULT:
        shown.update(error_code=event.error_code.value, info=event.info)
    return shown


async def _json_object(request: Request) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise _Problem(415, "send a JSON object with Content-Type: application/json")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _Problem(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        value = json.loads(body)
    except ValueError as error:
        raise _Problem(400, f"the body is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise _Problem(400, f"the body must be a JSON object, got {json.dumps(value)[:40]}")
    return value


def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if isinstance(error, _Problem):
        body = error.body
    elif error.status_code == 404:
        body = {"error": f"nothing at {request.url.path}; the control API serves /charge-points"}
    elif error.status_code == 405:
        methods = (error.headers or {}).get("Allow", "").split(", ")
        allowed = ", ".join(sorted(methods, key=lambda method: _METHODS.get(method, len(_METHODS))))
        body = {"error": f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}"}
        return JSONResponse(body, 405, headers={"Allow": allowed})
    else:
        body = {"error": error.detail}
    return JSONResponse(body, error.status_code, headers=error.headers)


def _internal_error(request: Request, error: Exception) -> Response:
    return JSONResponse({"error": "internal error of the control API; the log has the details"}, 500)


class _LoopbackHostsOnly:
    """Refuses requests whose Host header is not a loopback name: those of a web page that DNS rebinding
    pointed at this machine name the page's host."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host", "")
            name = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
            if not is_loopback(name):
                problem = f"Host {json.dumps(host)} is not a loopback name; this control API is local only"
                await JSONResponse({"error": problem}, 403)(scope, receive, send)
                return
        await self._app(scope, receive, send)
