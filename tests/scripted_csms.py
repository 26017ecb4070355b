"""A Central System that a test drives message by message, over in-memory streams.

It is the other end of a charge point under test: the test waits for each CALL the charge point sends, looks
at it, and decides the answer (or not to answer), with the exact trio time of each message available.
Framing goes through our own sans-IO session; what the charge point sends is also checked against the
official schemas of the ``ocpp`` package.
"""

import math
from typing import Any

import attrs
import trio
import trio.testing
from oracle import errors
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, wrap_server_stream

from actors.connection import OCPP16, CsmsAddress
from actors.ocpp import (
    CHARGE_POINT_INITIATED,
    CallReceived,
    Request,
    Response,
    RpcSession,
    encode,
)
from fleet.network import Cable


@attrs.frozen
class Received:
    """A CALL of the charge point, with the trio time it arrived."""

    time: float
    unique_id: str
    request: Any


class ScriptedConnection:
    """One charge point connection, seen from the Central System."""

    def __init__(self, websocket: WebSocketConnection, path: str) -> None:
        self.websocket = websocket
        self.path = path
        self.session = RpcSession(handles=CHARGE_POINT_INITIATED)

    async def expect_call(self, request_type: type[Any] | None = None) -> Received:
        """The next message, which must be a valid CALL (of ``request_type`` if given)."""
        text = await self.websocket.get_message()
        now = trio.current_time()
        event = self.session.receive(text)
        assert isinstance(event, CallReceived), f"expected a CALL, got {event!r}"
        action = event.request.action
        assert errors(action, "req", encode(event.request)) == []
        if request_type is not None:
            assert isinstance(event.request, request_type), f"expected {request_type.__name__}, got {action}"
        return Received(now, event.unique_id, event.request)

    async def answer(self, received: Received, response: Response) -> None:
        """Answer a CALL of the charge point."""
        assert errors(response.action, "conf", encode(response)) == []
        await self.websocket.send_message(self.session.result(received.unique_id, response))

    async def call(self, request: Request) -> Any:
        """Send a CALL; return the next event, which should be its answer."""
        _, text = self.session.call(request)
        await self.websocket.send_message(text)
        return self.session.receive(await self.websocket.get_message())

    async def send_text(self, text: str) -> None:
        """Send any text, valid or not."""
        await self.websocket.send_message(text)

    async def receive_event(self) -> Any:
        """The next event of any kind."""
        return self.session.receive(await self.websocket.get_message())

    async def expect_closed(self) -> None:
        """Wait until the charge point closes the connection; fail on any message in between."""
        try:
            text = await self.websocket.get_message()
        except ConnectionClosed:
            return
        raise AssertionError(f"expected the connection to close, got {text!r}")

    async def close(self) -> None:
        """Close the connection from the Central System's side."""
        await self.websocket.aclose()


class ScriptedCsms:
    """Accepts charge point connections (through :meth:`dial`) and hands them to the test."""

    def __init__(self, nursery: trio.Nursery, *, subprotocol: str | None = OCPP16) -> None:
        self._nursery = nursery
        self.subprotocol = subprotocol
        self.refusing = False
        self.dial_times: list[float] = []
        self.cables: list[Cable] = []
        self._connections_send, self._connections = trio.open_memory_channel[ScriptedConnection](math.inf)

    async def dial(self, address: CsmsAddress) -> trio.abc.Stream:
        """The charge point's dialer: an in-memory stream whose other end this Central System serves."""
        self.dial_times.append(trio.current_time())
        if self.refusing:
            raise OSError("connection refused")
        client, server = trio.testing.memory_stream_pair()
        self._nursery.start_soon(self._serve, server)
        self.cables.append(Cable(client))
        return self.cables[-1]

    def partition(self) -> None:
        """Cut every connection made so far, silently."""
        for cable in self.cables:
            cable.cut = True

    async def _serve(self, stream: trio.abc.Stream) -> None:
        async with trio.open_nursery() as nursery:
            request: WebSocketRequest = await wrap_server_stream(nursery, stream)
            websocket = await request.accept(subprotocol=self.subprotocol)
            await self._connections_send.send(ScriptedConnection(websocket, request.path))

    async def accept(self) -> ScriptedConnection:
        """The next connection of the charge point."""
        return await self._connections.receive()
