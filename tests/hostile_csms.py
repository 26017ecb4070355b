"""A hostile or faulty Central System for robustness tests, over in-memory streams in virtual time.

- :class:`FaultyCsms` is the :class:`ScriptedCsms` that can also misbehave at the WebSocket level: refuse the
  upgrade with an HTTP status, close each connection right after accepting it, or swallow the pongs that
  answer the charge point's pings.
- :class:`RawPeer` plays the Central System on one connection at the level of raw text. A reader answers the
  charge point's CALLs the usual way (or leaves the actions in :attr:`RawPeer.withheld` unanswered), checks
  them against the official schemas and records them; the test sends any text it likes and collects the
  charge point's answers by id. :meth:`RawPeer.exchange` sends texts followed by a valid probe CALL and
  returns exactly the answers that came before the probe's: the charge point handles messages in order, so
  an empty list proves that the texts were dropped.
"""

import contextlib
import itertools
import json
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import trio
import trio.testing
from oracle import errors
from scripted_csms import Received, ScriptedConnection, ScriptedCsms
from trio_websocket import CloseReason, ConnectionClosed, WebSocketRequest, wrap_server_stream

from actors.charge_point import ChargePoint, ChargePointSettings
from actors.clock import WallClock
from actors.connection import OCPP16
from actors.ocpp import (
    AuthorizationStatus,
    AuthorizeRequest,
    AuthorizeResponse,
    BootNotificationRequest,
    BootNotificationResponse,
    CallReceived,
    DataTransferRequest,
    DataTransferResponse,
    DataTransferStatus,
    DiagnosticsStatusNotificationRequest,
    DiagnosticsStatusNotificationResponse,
    FirmwareStatusNotificationRequest,
    FirmwareStatusNotificationResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    IdTagInfo,
    MeterValuesRequest,
    MeterValuesResponse,
    RegistrationStatus,
    Request,
    Response,
    StartTransactionRequest,
    StartTransactionResponse,
    StatusNotificationRequest,
    StatusNotificationResponse,
    StopTransactionRequest,
    StopTransactionResponse,
    encode,
)
from fleet.simulated import SimulatedConnector
from storage.memory import MemoryChargePointState

CSMS_TIME = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ACCEPTED = IdTagInfo(status=AuthorizationStatus.ACCEPTED)
FIRST_TRANSACTION_ID = 101
PONG_OPCODE = 0xA
DAY = 86400.0


class PongSwallower(trio.abc.Stream):
    """The server's end of a stream that never lets a pong frame out (a Central System deaf to pings).

    trio-websocket writes each frame with one ``send_all``; the server's frames are unmasked, so the opcode is
    the low nibble of the first byte.
    """

    def __init__(self, inner: trio.abc.Stream) -> None:
        self._inner = inner
        self.swallowed = 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if len(data) > 0 and data[0] & 0x0F == PONG_OPCODE:
            self.swallowed += 1
            await trio.lowlevel.checkpoint()
            return
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self._inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self._inner.aclose()


class FaultyCsms(ScriptedCsms):
    """A :class:`ScriptedCsms` with faults of the WebSocket handshake and of ping handling.

    ``reject_status``: refuse every upgrade with this HTTP status. ``close_at_once``: accept, then close at
    once. ``swallow_pongs``: accept, but never answer a ping. ``accepted`` counts the upgrades accepted.
    A connection accepted without the ``ocpp1.6`` subprotocol is not handed to the test: what arrives on it
    goes to ``unexpected`` until the charge point closes it.
    """

    def __init__(self, nursery: trio.Nursery, **options: Any) -> None:
        super().__init__(nursery, **options)
        self.reject_status: int | None = None
        self.close_at_once = False
        self.swallow_pongs = False
        self.accepted = 0
        self.swallowers: list[PongSwallower] = []
        self.unexpected: list[str | bytes] = []
        """Messages received on connections accepted without the ocpp1.6 subprotocol."""

    async def _serve(self, stream: trio.abc.Stream) -> None:
        if self.swallow_pongs:
            stream = PongSwallower(stream)
            self.swallowers.append(stream)
        async with trio.open_nursery() as nursery:
            request: WebSocketRequest = await wrap_server_stream(nursery, stream)
            if self.reject_status is not None:
                await request.reject(self.reject_status)
                return
            websocket = await request.accept(subprotocol=self.subprotocol)
            self.accepted += 1
            if self.close_at_once:
                await websocket.aclose()
                return
            if self.subprotocol != OCPP16:  # the charge point should close it without a word
                with contextlib.suppress(ConnectionClosed):
                    while True:
                        self.unexpected.append(await websocket.get_message())
                return
            await self._connections_send.send(ScriptedConnection(websocket, request.path))


def csms_now() -> datetime:
    """The Central System's wall clock: :data:`CSMS_TIME` when the test began, running with trio time."""
    return CSMS_TIME + timedelta(seconds=trio.current_time())


def usual_answer(request: Request, transaction_ids: Iterator[int]) -> Response:
    """What a friendly Central System answers a charge point's CALL."""
    if isinstance(request, BootNotificationRequest):
        return BootNotificationResponse(
            status=RegistrationStatus.ACCEPTED, current_time=csms_now(), interval=3600
        )
    if isinstance(request, HeartbeatRequest):
        return HeartbeatResponse(current_time=csms_now())
    if isinstance(request, StatusNotificationRequest):
        return StatusNotificationResponse()
    if isinstance(request, AuthorizeRequest):
        return AuthorizeResponse(id_tag_info=ACCEPTED)
    if isinstance(request, StartTransactionRequest):
        return StartTransactionResponse(id_tag_info=ACCEPTED, transaction_id=next(transaction_ids))
    if isinstance(request, StopTransactionRequest):
        return StopTransactionResponse()
    if isinstance(request, MeterValuesRequest):
        return MeterValuesResponse()
    if isinstance(request, DataTransferRequest):
        return DataTransferResponse(status=DataTransferStatus.ACCEPTED)
    if isinstance(request, FirmwareStatusNotificationRequest):
        return FirmwareStatusNotificationResponse()
    if isinstance(request, DiagnosticsStatusNotificationRequest):
        return DiagnosticsStatusNotificationResponse()
    raise AssertionError(f"no usual answer for {request}")


class RawPeer:
    """The Central System's side of one connection, at the level of raw text (see the module's docstring)."""

    def __init__(
        self,
        connection: ScriptedConnection,
        nursery: trio.Nursery,
        *,
        transaction_ids: Iterable[int] | None = None,
    ) -> None:
        self.connection = connection
        self.calls: list[Received] = []
        """The charge point's CALLs, as they arrived."""
        self.answers: list[list[Any]] = []
        """The charge point's CALLRESULTs and CALLERRORs, as they arrived."""
        self.withheld: set[str] = set()
        """Actions whose CALLs are left unanswered (they go to :attr:`unanswered`)."""
        self.delay = 0.0
        """Seconds the usual answers take."""
        self.unanswered: list[Received] = []
        self.close_reason: CloseReason | None = None
        self.closed = trio.Event()
        self._transaction_ids = iter(transaction_ids or range(FIRST_TRANSACTION_ID, 10**9))
        self._changed = trio.Event()
        self._probes = 0
        self._nursery = nursery
        nursery.start_soon(self._read)

    async def _read(self) -> None:
        websocket = self.connection.websocket
        while True:
            try:
                text = await websocket.get_message()
            except ConnectionClosed as closed:
                self.close_reason = closed.reason
                self.closed.set()
                self._notify()
                return
            message = json.loads(text)
            assert isinstance(message, list)
            assert message[0] in (2, 3, 4), f"the charge point sent a frame of unknown type: {text!r}"
            if message[0] == 2:
                await self._take_call(text)
            else:
                self.answers.append(message)
            self._notify()

    async def _take_call(self, text: str | bytes) -> None:
        event = self.connection.session.receive(text)
        assert isinstance(event, CallReceived), f"the charge point sent an invalid CALL: {text!r}"
        request = event.request
        assert errors(request.action, "req", encode(request)) == []
        received = Received(trio.current_time(), event.unique_id, request)
        self.calls.append(received)
        if request.action in self.withheld:
            self.unanswered.append(received)
            return
        response = usual_answer(request, self._transaction_ids)
        if self.delay > 0:
            self._nursery.start_soon(self._answer_later, received, response, self.delay)
        else:
            await self.answer(received, response)

    async def _answer_later(self, received: Received, response: Response, delay: float) -> None:
        await trio.sleep(delay)
        await self.answer(received, response)

    async def answer(self, received: Received, response: Response) -> None:
        """Answer a CALL of the charge point (also one left unanswered, however late)."""
        assert errors(response.action, "conf", encode(response)) == []
        text = self.connection.session.result(received.unique_id, response)
        with contextlib.suppress(ConnectionClosed):  # if the charge point closed first, it will not hear it
            await self.connection.websocket.send_message(text)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def send(self, text: str | bytes) -> None:
        """Send any text, valid or not."""
        await self.connection.websocket.send_message(text)

    async def answer_to(self, unique_id: str, *, since: int = 0) -> list[Any]:
        """The charge point's first answer to our message ``unique_id`` among the answers from index ``since``
        on (waiting for it if need be)."""
        with trio.fail_after(DAY):
            while True:
                for answer in self.answers[since:]:
                    if answer[1] == unique_id:
                        return answer
                if self.closed.is_set():
                    raise AssertionError(f"the connection closed before {unique_id!r} was answered")
                await self._changed.wait()

    async def call(self, unique_id: str, action: str, payload: Any) -> list[Any]:
        """Send a CALL (of any action, with any payload) and return the charge point's answer."""
        since = len(self.answers)
        await self.send(json.dumps([2, unique_id, action, payload]))
        return await self.answer_to(unique_id, since=since)

    async def exchange(self, *texts: str | bytes) -> list[list[Any]]:
        """Send ``texts``, then a valid GetConfiguration; the charge point's answers between the two."""
        before = len(self.answers)
        for text in texts:
            await self.send(text)
        self._probes += 1
        probe = f"probe-{self._probes}"
        answer = await self.call(probe, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert answer[0] == 3, f"the probe was not answered with a result: {answer}"
        assert errors("GetConfiguration", "conf", answer[2]) == []
        between = self.answers[before:]
        assert between[-1] is answer, "something answered after the probe"
        return between[:-1]

    def requests(self, request_type: type[Any]) -> list[Received]:
        """The charge point's CALLs of one type so far."""
        return [received for received in self.calls if isinstance(received.request, request_type)]

    async def wait_for(
        self, request_type: type[Any], count: int = 1, *, within: float = DAY
    ) -> list[Received]:
        """Wait until the charge point has sent ``count`` CALLs of ``request_type`` on this connection (at
        most ``within`` seconds of virtual time: a test that waits in vain fails instead of running on)."""
        with trio.fail_after(within):
            while len(self.requests(request_type)) < count:
                if self.closed.is_set():
                    raise AssertionError(f"the connection closed before {count} {request_type.__name__}")
                await self._changed.wait()
        return self.requests(request_type)


def charge_point_settings(**configuration: str) -> ChargePointSettings:
    return ChargePointSettings(
        "CP-H",
        "ws://csms.test/ocpp",
        connectors=2,
        configuration={"MeterValueSampleInterval": "60", **configuration},
    )


def start_charge_point(
    nursery: trio.Nursery,
    csms: ScriptedCsms,
    state: MemoryChargePointState,
    settings: ChargePointSettings,
    *,
    seed: int = 1,
    plugs: list[SimulatedConnector] | None = None,
    **options: Any,
) -> tuple[ChargePoint, list[SimulatedConnector]]:
    """A charge point on ``state`` that dials ``csms``, running in ``nursery`` until it is cancelled."""
    plugs = plugs or [SimulatedConnector() for _ in range(settings.connectors)]
    charge_point = ChargePoint(
        settings,
        state,
        dialer=csms.dial,
        clock=WallClock(CSMS_TIME - timedelta(days=1)),
        rng=random.Random(seed),
        hardware=plugs,
        **options,
    )
    nursery.start_soon(charge_point.run)
    return charge_point, plugs


def dial_gaps(dial_times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(dial_times)]


def within_backoff_law(gap: float, failures: int, *, initial: float = 1.0, maximum: float = 300.0) -> bool:
    """Whether a wait after ``failures`` failed attempts in a row is drawn from the upper half of the
    capped exponential ceiling (actors.backoff)."""
    ceiling = min(maximum, initial * 2.0**failures)
    return ceiling / 2 <= gap <= ceiling
