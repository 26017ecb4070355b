"""An embedded OCPP 1.6J Central System (CSMS) for demos, tests and benchmarks.

It accepts charge points over WebSocket, answers their CALLs as :class:`fleet.csms_answers.Answers` decides,
sends CALLs of its own with :meth:`CentralSystem.call`, and records every message it sends or receives.

Per connection one handler task reads without pause: it answers the charge point's CALLs itself and hands the
answer to a CALL of ours to the task waiting in :meth:`CentralSystem.call`, so both directions proceed at
once. Writes are serialised by a lock. Every task lives in a nursery of the method that runs it
(:meth:`CentralSystem.serve` or :meth:`CentralSystem.serve_stream`). The exceptions of trio-websocket stop at
this module: a charge point that disconnects is recorded as gone, and a :meth:`CentralSystem.call` to it
raises :class:`NotConnected`.
"""

import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn
from urllib.parse import unquote, urlsplit

import attrs
import trio
from trio_websocket import (
    ConnectionClosed,
    Endpoint,
    HandshakeError,
    WebSocketConnection,
    WebSocketRequest,
    WebSocketServer,
    serve_websocket,
    wrap_server_stream,
)

from actors.connection import OCPP16
from actors.ocpp import (
    CHARGE_POINT_INITIATED,
    CallError,
    CallReceived,
    CallResult,
    ErrorCode,
    ErrorReceived,
    Event,
    FrameError,
    InvalidCall,
    InvalidResult,
    RegistrationStatus,
    Request,
    Response,
    ResultReceived,
    RpcSession,
    parse_frame,
)
from fleet.csms_answers import Answers, DataTransferHandler

__all__ = [
    "OCPP16",
    "CallFailed",
    "CentralSystem",
    "Direction",
    "Kind",
    "NotConnected",
    "Record",
    "charge_point_id_from_path",
    "utc_now",
]

HANDSHAKE_TIMEOUT = 60.0
"""Seconds a client gets to complete the WebSocket opening handshake."""

CLOSE_TIMEOUT = 2.0
"""Seconds we wait for a client to answer our closing handshake."""

Direction = Literal["in", "out"]
"""``in``: sent by the charge point; ``out``: sent by the Central System."""

Kind = Literal["CALL", "CALLRESULT", "CALLERROR"]
"""The kind of OCPP-J frame."""

_KINDS: dict[int, Kind] = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}

_Answer = ResultReceived | ErrorReceived | InvalidResult


def utc_now() -> datetime:
    """The current wall-clock time, aware, in UTC."""
    return datetime.now(UTC)


def charge_point_id_from_path(path: str) -> str:
    """The charge point id in a request path: its last segment, percent-decoded (the query is ignored)."""
    return unquote(urlsplit(path).path.rsplit("/", 1)[-1])


class CallFailed(Exception):
    """The charge point answered our CALL with a CALLERROR, or with a result that breaks the protocol."""

    def __init__(self, code: ErrorCode, description: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {description}" if description else str(code))
        self.code = code
        self.description = description
        self.details: dict[str, Any] = details or {}


class NotConnected(Exception):
    """The charge point is not connected, or its connection was lost before it answered."""


@attrs.frozen
class Record:
    """One message sent or received.

    ``time`` is ``trio.current_time()``. ``action`` is the CALL's action, or for an answer the action of the
    CALL it answers (``None`` when unknown). ``payload`` is the frame's payload; for a CALLERROR it is
    ``{"errorCode": ..., "errorDescription": ..., "errorDetails": ...}``. Of a malformed frame whose kind
    and id could be read, the payload is ``{}``; messages that are not even that are counted, not recorded.
    A message is recorded as it is received, or as it is handed to the WebSocket to send.
    """

    time: float
    charge_point_id: str
    direction: Direction
    kind: Kind
    action: str | None
    unique_id: str
    payload: dict[str, Any]


@attrs.define(eq=False)
class _Waiter:
    """A CALL of ours waiting for its answer; ``answer`` stays ``None`` if the connection is lost."""

    unique_id: str
    arrived: trio.Event = attrs.Factory(trio.Event)
    answer: _Answer | None = None


@attrs.define(eq=False)
class _Link:
    """One accepted connection of a charge point."""

    charge_point_id: str
    websocket: WebSocketConnection
    session: RpcSession = attrs.Factory(lambda: RpcSession(handles=CHARGE_POINT_INITIATED))
    write_lock: trio.Lock = attrs.Factory(trio.Lock)
    call_lock: trio.Lock = attrs.Factory(trio.Lock)
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    waiter: _Waiter | None = None
    close_reason: str | None = None
    lost: bool = False

    def deliver(self, answer: _Answer) -> None:
        """Hand the answer to the CALL of ours that waits for it."""
        if self.waiter is not None and self.waiter.unique_id == answer.unique_id:
            self.waiter.answer = answer
            self.waiter.arrived.set()

    def close(self, reason: str) -> None:
        """Make the handler of this connection close it."""
        self.close_reason = reason
        self.scope.cancel()

    def mark_lost(self) -> None:
        """The connection is gone: forget CALLs in flight and wake the caller waiting for an answer."""
        self.lost = True
        self.session.connection_lost()
        if self.waiter is not None:
            self.waiter.arrived.set()


class CentralSystem:
    """An OCPP 1.6J Central System for demos and tests.

    Options: ``heartbeat_interval`` (seconds, sent with Accepted BootNotification answers);
    ``registration`` (the BootNotification status of named charge points; Accepted for all others);
    ``retry_interval`` (seconds, sent with Pending and Rejected); ``id_tags`` (the accepted idTags, compared
    case-insensitively; ``None`` accepts every idTag, others are Invalid); ``answer_timeout`` (seconds
    :meth:`call` waits for an answer); ``max_records`` (how many :attr:`records` are kept);
    ``wall_clock`` (gives ``currentTime``; aware UTC now by default); ``on_record`` (called with every
    record as it is made, e.g. to print it).

    Attributes: :attr:`records` (the most recent messages, oldest first), :attr:`messages_in` and
    :attr:`messages_out` (every WebSocket message received and sent), :attr:`answers` (the decisions).
    """

    def __init__(
        self,
        *,
        heartbeat_interval: int = 300,
        registration: Mapping[str, RegistrationStatus] | None = None,
        retry_interval: int = 30,
        id_tags: Collection[str] | None = None,
        answer_timeout: float = 30,
        max_records: int = 100_000,
        wall_clock: Callable[[], datetime] = utc_now,
        on_record: Callable[["Record"], None] | None = None,
    ) -> None:
        self.answers = Answers(
            heartbeat_interval=heartbeat_interval,
            retry_interval=retry_interval,
            registration=registration,
            id_tags=id_tags,
        )
        self.answer_timeout = answer_timeout
        self.records: deque[Record] = deque(maxlen=max_records)
        self.messages_in = 0
        self.messages_out = 0
        self._wall_clock = wall_clock
        self._on_record = on_record
        self._links: dict[str, _Link] = {}
        self._connected_events: dict[str, trio.Event] = {}
        self._recorded = 0
        self._new_record = trio.lowlevel.ParkingLot()

    # --- Python API -----------------------------------------------------------------------------------

    @property
    def connected(self) -> frozenset[str]:
        """The ids of the charge points connected now."""
        return frozenset(self._links)

    def register_data_transfer(self, vendor_id: str, handler: DataTransferHandler) -> None:
        """Let ``handler`` answer DataTransfer requests of ``vendor_id``; others get UnknownVendorId.

        An exception raised by ``handler`` is a bug: it is not sent as a CALLERROR, it ends the serving task.
        """
        self.answers.register_data_transfer(vendor_id, handler)

    async def wait_connected(self, charge_point_id: str) -> None:
        """Return once ``charge_point_id`` is connected (at once if it is)."""
        if charge_point_id not in self._links:
            await self._connected_events.setdefault(charge_point_id, trio.Event()).wait()

    def disconnect(self, charge_point_id: str, reason: str = "closed by the Central System") -> bool:
        """Close the connection of a charge point (it reconnects as after any lost connection); whether it
        was connected."""
        link = self._links.get(charge_point_id)
        if link is not None:
            link.close(reason)
        return link is not None

    async def wait_for(self, predicate: Callable[[Record], bool]) -> Record:
        """The first record, kept or still to come, for which ``predicate`` is true."""
        seen = self._recorded - len(self.records)
        while True:
            fresh = min(self._recorded - seen, len(self.records))
            for record in reversed(list(itertools.islice(reversed(self.records), fresh))):
                if predicate(record):
                    return record
            seen = self._recorded
            await self._new_record.park()

    async def call(self, charge_point_id: str, request: Request) -> Response:
        """Send a CALL to a charge point and return its typed answer; one CALL per charge point at a time.

        Raises :class:`NotConnected` if the charge point is not connected or disconnects before answering,
        :class:`CallFailed` if it answers with a CALLERROR or an invalid result, and
        :class:`trio.TooSlowError` if no answer comes within ``answer_timeout`` seconds.
        """
        link = self._link(charge_point_id)
        async with link.call_lock:
            if link.lost:
                raise NotConnected(charge_point_id)
            answer = await self._call(link, request)
        if answer is None:
            raise NotConnected(charge_point_id)
        if isinstance(answer, ResultReceived):
            return answer.response
        if isinstance(answer, ErrorReceived):
            raise CallFailed(answer.code, answer.description, answer.details)
        raise CallFailed(answer.error.code, answer.error.description, answer.error.details)

    # --- serving --------------------------------------------------------------------------------------

    async def serve(
        self, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Listen for charge points on ``host:port`` until cancelled; reports the bound port when started.

        Port 0 picks a free port. With several listeners (a host name with several addresses), the port of
        the first is reported.
        """
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                _serve_websocket, self.handle_request, host, port, HANDSHAKE_TIMEOUT, CLOSE_TIMEOUT
            )
            listener = server.listeners[0]
            task_status.started(listener.port if isinstance(listener, Endpoint) else port)
            await trio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    async def serve_stream(self, stream: trio.abc.Stream) -> None:
        """Handle one charge point connecting over a byte stream (a TCP stream, or an in-memory one)."""
        try:
            async with trio.open_nursery() as nursery:
                request = None
                with trio.move_on_after(HANDSHAKE_TIMEOUT):
                    request = await wrap_server_stream(nursery, stream)
                if request is not None:
                    await self.handle_request(request)
                nursery.cancel_scope.cancel()  # stops trio-websocket's reader task if it still runs
        except* (ConnectionClosed, HandshakeError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async def handle_request(self, request: WebSocketRequest) -> None:
        """Handle one WebSocket upgrade request until the connection ends; never raises for a lost peer."""
        charge_point_id = charge_point_id_from_path(request.path)
        try:
            if not charge_point_id:
                await request.reject(404, body=b"the URL must end with the charge point id")
            elif OCPP16 not in request.proposed_subprotocols:
                await request.reject(400, body=b"the ocpp1.6 subprotocol is required")
            else:
                websocket = await request.accept(subprotocol=OCPP16)
                await self._run_link(_Link(charge_point_id, websocket))
        except ConnectionClosed:
            pass

    # --- connections ----------------------------------------------------------------------------------

    async def _run_link(self, link: _Link) -> None:
        self._connect(link)
        try:
            with link.scope:
                await self._read(link)
        except ConnectionClosed:
            pass
        finally:
            self._disconnect(link)
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
                await link.websocket.aclose(reason=link.close_reason)

    def _connect(self, link: _Link) -> None:
        old = self._links.get(link.charge_point_id)
        if old is not None:
            old.close("replaced by a new connection")
        self._links[link.charge_point_id] = link
        event = self._connected_events.pop(link.charge_point_id, None)
        if event is not None:
            event.set()

    def _disconnect(self, link: _Link) -> None:
        link.mark_lost()
        if self._links.get(link.charge_point_id) is link:
            del self._links[link.charge_point_id]

    def _link(self, charge_point_id: str) -> _Link:
        try:
            return self._links[charge_point_id]
        except KeyError:
            raise NotConnected(charge_point_id) from None

    async def _read(self, link: _Link) -> NoReturn:
        while True:
            text = await link.websocket.get_message()
            self.messages_in += 1
            event = link.session.receive(text)
            received = self._record(link.charge_point_id, "in", text, _answered_action(event))
            await self._act(link, event, received)

    async def _act(self, link: _Link, event: Event, received: Record | None) -> None:
        if isinstance(event, CallReceived):
            response = self.answers.answer(link.charge_point_id, event.request, self._wall_clock())
            await self._send(link, link.session.result(event.unique_id, response), event.request.action)
        elif isinstance(event, InvalidCall):
            action = received.action if received is not None else None
            await self._send(link, link.session.reject(event), action)
        elif isinstance(event, ResultReceived | ErrorReceived | InvalidResult):
            link.deliver(event)
        # AnswerDropped and MessageDropped: recorded, nothing to answer.

    async def _call(self, link: _Link, request: Request) -> _Answer | None:
        unique_id, text = link.session.call(request)
        waiter = link.waiter = _Waiter(unique_id)
        try:
            await self._send(link, text)
            with trio.fail_after(self.answer_timeout):
                await waiter.arrived.wait()
        except ConnectionClosed:
            return None
        finally:
            link.waiter = None
            if waiter.answer is None:
                link.session.give_up()
        return waiter.answer

    async def _send(self, link: _Link, text: str, answered_action: str | None = None) -> None:
        async with link.write_lock:
            self.messages_out += 1
            self._record(link.charge_point_id, "out", text, answered_action)
            await link.websocket.send_message(text)

    # --- records --------------------------------------------------------------------------------------

    def _record(
        self, charge_point_id: str, direction: Direction, text: str | bytes, answered_action: str | None
    ) -> Record | None:
        summary = _summarise(text)
        if summary is None:
            return None
        kind, action, unique_id, payload = summary
        action = answered_action or action
        record = Record(trio.current_time(), charge_point_id, direction, kind, action, unique_id, payload)
        self.records.append(record)
        self._recorded += 1
        self._new_record.unpark_all()
        if self._on_record is not None:
            self._on_record(record)
        return record


async def _serve_websocket(
    handler: Callable[[WebSocketRequest], Awaitable[None]],
    host: str,
    port: int,
    connect_timeout: float,
    disconnect_timeout: float,
    *,
    task_status: trio.TaskStatus[WebSocketServer] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """:func:`trio_websocket.serve_websocket` with its timeouts passed by position, for ``nursery.start``."""
    await serve_websocket(
        handler,
        host,
        port,
        None,
        connect_timeout=connect_timeout,
        disconnect_timeout=disconnect_timeout,
        task_status=task_status,
    )


def _answered_action(event: Event) -> str | None:
    if isinstance(event, ResultReceived | ErrorReceived | InvalidResult):
        return event.request.action
    return None


def _summarise(text: str | bytes) -> tuple[Kind, str | None, str, dict[str, Any]] | None:
    """Kind, action, unique id and payload of a message; ``None`` if not even its kind and id can be read."""
    try:
        frame = parse_frame(text)
    except FrameError as error:
        kind = _KINDS.get(error.message_type) if error.message_type is not None else None
        if kind is None or error.unique_id is None:
            return None
        return kind, None, error.unique_id, {}
    if isinstance(frame, CallResult):
        return "CALLRESULT", None, frame.unique_id, frame.payload
    if isinstance(frame, CallError):
        payload = {
            "errorCode": str(frame.code),
            "errorDescription": frame.description,
            "errorDetails": frame.details,
        }
        return "CALLERROR", None, frame.unique_id, payload
    return "CALL", frame.action, frame.unique_id, frame.payload
