"""The WebSocket connection of a charge point to its Central System.

The only module that speaks WebSocket on the charge point's side. wsproto does the protocol (the HTTP
upgrade, frames, masking, UTF-8, the closing handshake); this module moves its bytes over a trio stream and
translates what goes wrong into :class:`ConnectionFailed` (could not connect) and :class:`ConnectionLost`
(was connected, is not any more), so the actors never see a library exception. How a byte stream to the
Central System is opened is a :data:`Dialer`: TCP (and TLS for ``wss://``) in production, an in-memory
stream in tests.

The task that wants the next message reads the stream itself: a connection has no task of its own and no
queue of messages. (trio-websocket, which the embedded Central System uses, runs a reader task and a memory
channel per connection, and a few events besides: at thousands of charge points per process that was a
fifth of a charge point's memory and a task switch per message.)
"""

import contextlib
import math
import ssl
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

import attrs
import trio
from wsproto.connection import Connection as WebSocketProtocol
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.handshake import H11Handshake
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from actors.alarm import Alarm, Countdown
from actors.quick_lock import QuickLock
from actors.socket_stream import open_tcp_stream

__all__ = [
    "OCPP16",
    "Connection",
    "ConnectionFailed",
    "ConnectionLost",
    "CsmsAddress",
    "Dialer",
    "open_connection",
    "tcp_dialer",
]

OCPP16 = "ocpp1.6"
"""The WebSocket subprotocol of OCPP 1.6J."""

_CLOSE_TIMEOUT = 2.0
_RECEIVE_SIZE = 16 * 1024
_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


class ConnectionFailed(Exception):
    """The connection could not be opened (refused, timed out, upgrade refused, wrong subprotocol)."""


class ConnectionLost(Exception):
    """The connection was open and is not any more."""


@attrs.frozen
class CsmsAddress:
    """Where a charge point connects: its URL is the Central System's URL plus its identity."""

    host: str
    port: int
    resource: str
    tls: bool
    ssl_context: ssl.SSLContext | None = attrs.field(default=None, eq=False, repr=False)
    """For ``wss://``: the TLS settings (default: verify against the system's CAs)."""

    @classmethod
    def for_charge_point(
        cls, csms_url: str, charge_point_id: str, *, ssl_context: ssl.SSLContext | None = None
    ) -> "CsmsAddress":
        """The address of ``charge_point_id`` (percent-encoded) under ``csms_url`` (``ws://`` or ``wss://``)."""
        url = urlsplit(csms_url)
        if url.scheme not in ("ws", "wss") or not url.hostname:
            raise ValueError(f"{csms_url!r} is not a ws:// or wss:// URL with a host")
        tls = url.scheme == "wss"
        path = url.path.rstrip("/") + "/" + quote(charge_point_id, safe="")
        resource = f"{path}?{url.query}" if url.query else path
        return cls(url.hostname, url.port or (443 if tls else 80), resource, tls, ssl_context)

    @property
    def host_header(self) -> str:
        """The value of the HTTP ``Host`` header."""
        default_port = 443 if self.tls else 80
        return self.host if self.port == default_port else f"{self.host}:{self.port}"


Dialer = Callable[[CsmsAddress], Awaitable[trio.abc.Stream]]
"""Opens a byte stream to a Central System."""


async def tcp_dialer(address: CsmsAddress) -> trio.abc.Stream:
    """A TCP stream to the address, wrapped in TLS for ``wss://`` (the address's context, or one that verifies
    against the system's CAs)."""
    stream: trio.abc.Stream = await open_tcp_stream(address.host, address.port)
    if address.tls:
        context = address.ssl_context or ssl.create_default_context()
        tls_stream = trio.SSLStream(stream, context, server_hostname=address.host)
        try:
            await tls_stream.do_handshake()
        except BaseException:
            await trio.aclose_forcefully(stream)  # a refused certificate must not leak the socket
            raise
        stream = tls_stream
    return stream


class Connection(trio.abc.AsyncResource):
    """An open OCPP-J WebSocket connection.

    One task at a time receives (:meth:`receive`); any task may send. Pongs and the Central System's close
    arrive through :meth:`receive`, so :meth:`ping` and :meth:`close` rely on a task that keeps receiving.
    Leaving ``async with`` (or :meth:`aclose`) drops the byte stream at once.
    """

    __slots__ = (
        "_closer",
        "_held",
        "_lost",
        "_max_message_size",
        "_parts",
        "_pings",
        "_pong",
        "_protocol",
        "_send_lock",
        "_size",
        "_stream",
    )

    def __init__(self, stream: trio.abc.Stream, protocol: WebSocketProtocol, max_message_size: int) -> None:
        self._stream = stream
        self._protocol = protocol
        self._max_message_size = max_message_size
        self._send_lock = QuickLock()
        self._lost: str | None = None
        self._parts: list[str | bytes | bytearray] = []
        """The frames of a message that has not ended yet."""
        self._size = 0
        self._pings = 0
        self._pong: _AwaitedPong | None = None
        """The ping waiting for its pong."""
        self._held: bytes | None = None
        """The frame of a ping that goes out with the next message."""
        self._closer: trio.Event | None = None
        """Set for :meth:`close` when the receiving task learns the connection is over or stops receiving."""

    async def send(self, text: str) -> None:
        """Send one message; raises :class:`ConnectionLost`."""
        await self._send(Message(data=text))

    async def receive(self) -> str | bytes:
        """The next message; raises :class:`ConnectionLost` once the connection is closed."""
        try:
            while True:
                for event in self._protocol.events():
                    message = await self._take(event)
                    if message is not None:
                        return message
                await self._receive_bytes()
        except BaseException:
            self._wake_closer()  # whatever ends the receiving, a close must not wait for it
            raise

    async def ping(
        self, *, pong_timeout: float, meanwhile: Callable[[], Awaitable[object]] | None = None
    ) -> bool:
        """Send a WebSocket ping; whether its pong came back within ``pong_timeout`` seconds (the timeout ends
        on a tick of :mod:`actors.alarm`, up to 1/16 s late).

        ``meanwhile`` runs while the pong is on its way (a Heartbeat, say, so that one wake and one round
        trip do both): the ping goes out with the first message it sends, in one write (or once it returns,
        if it sends none), and the pong timeout counts from then; it is cut short if the pong does not come
        in time, and may take as long as it needs once the pong is in. It should send before it waits for
        anything else.
        """
        self._pings += 1
        pong = _AwaitedPong(self._pings.to_bytes(4, "big"), pong_timeout)
        self._pong = pong
        try:
            await self._hold(Ping(pong.payload))
            if meanwhile is not None:
                with trio.CancelScope() as pong.meanwhile:
                    await meanwhile()
                pong.meanwhile = None
            if self._held is not None:
                await self._send(None)
            if not (pong.arrived or pong.late or self._lost is not None):  # meanwhile checkpointed already
                await pong.alarm.sleep_until(math.inf)
        finally:
            pong.countdown.stop()
            self._pong = None
            self._held = None
        if self._lost is not None:
            raise ConnectionLost(self._lost)
        return pong.arrived

    async def close(self, reason: str = "") -> None:
        """Close the connection politely (normal closure, with ``reason``), giving up after a short while,
        and drop the byte stream."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(_CLOSE_TIMEOUT):
                await self._send_quietly(CloseConnection(CloseReason.NORMAL_CLOSURE, reason))
                while self._lost is None:  # the receiving task reads the Central System's close
                    self._closer = trio.Event()
                    await self._closer.wait()
            await self.aclose()

    async def aclose(self) -> None:
        """Drop the byte stream at once."""
        await trio.aclose_forcefully(self._stream)

    async def _take(self, event: Event) -> str | bytes | None:
        """Act on one event of the protocol; the message, once one is complete."""
        if isinstance(event, TextMessage | BytesMessage):
            return await self._take_part(event)
        if isinstance(event, Ping):
            await self._send_quietly(event.response())
        elif isinstance(event, Pong):
            if self._pong is not None and self._pong.payload == event.payload:
                self._pong.come()
        elif isinstance(event, CloseConnection):
            if self._protocol.state is not ConnectionState.CLOSED:
                # the Central System closes (answer it), or its bytes broke the protocol (tell it why)
                await self._send_quietly(event.response())
            self._end(event.code, event.reason)
            raise ConnectionLost(self._lost)
        return None

    async def _take_part(self, event: TextMessage | BytesMessage) -> str | bytes | None:
        self._size += len(event.data)
        if self._size > self._max_message_size:
            reason = f"Exceeded maximum message size: {self._max_message_size} bytes"
            await self._send_quietly(CloseConnection(CloseReason.MESSAGE_TOO_BIG, reason))
            self._end(CloseReason.MESSAGE_TOO_BIG, reason)
            raise ConnectionLost(self._lost)
        if not event.message_finished:
            self._parts.append(event.data)
            return None
        self._size = 0
        if not self._parts:  # the usual case: a message in one frame
            return event.data if isinstance(event, TextMessage) else bytes(event.data)
        self._parts.append(event.data)
        parts, self._parts = self._parts, []
        if isinstance(event, TextMessage):
            return "".join(parts)  # type: ignore[arg-type]  # the frames of a text message are all text
        return b"".join(parts)  # type: ignore[arg-type]

    async def _receive_bytes(self) -> None:
        if self._lost is not None:
            await trio.lowlevel.checkpoint()
            raise ConnectionLost(self._lost)
        try:
            data = bytes(await self._stream.receive_some(_RECEIVE_SIZE))  # no copy: it is bytes already
        except _STREAM_ERRORS:
            data = b""
        self._protocol.receive_data(data or None)  # none: the stream ended without a close (code 1006)

    async def _hold(self, ping: Ping) -> None:
        """Make the frame of ``ping``, to go out with the next message."""
        if self._lost is not None:
            await trio.lowlevel.checkpoint()
            raise ConnectionLost(self._lost)
        try:
            self._held = self._protocol.send(ping)  # frames are made in order: it goes first
        except LocalProtocolError:
            await trio.lowlevel.checkpoint()
            raise ConnectionLost("connection closing") from None

    async def _send(self, event: Event | None) -> None:
        """Send ``event``'s frame, after a ping held for it (``None``: the held ping alone)."""
        async with self._send_lock:  # a QuickLock: the send below or the checkpoint is this one's checkpoint
            if self._lost is not None:
                await trio.lowlevel.checkpoint()
                raise ConnectionLost(self._lost)
            try:
                data = b"" if event is None else self._protocol.send(event)
            except LocalProtocolError:  # we are closing: only the Central System's close may come now
                await trio.lowlevel.checkpoint()
                raise ConnectionLost("connection closing") from None
            if self._held is not None:
                data, self._held = self._held + data, None
                self._start_pong_timeout()
            try:
                await self._stream.send_all(data)
            except _STREAM_ERRORS:
                self._end(CloseReason.ABNORMAL_CLOSURE, None)
                raise ConnectionLost(self._lost) from None

    async def _send_quietly(self, event: Event) -> None:
        """Send if the connection still can; the receiving side finds out if it cannot."""
        with contextlib.suppress(ConnectionLost):
            await self._send(event)

    def _start_pong_timeout(self) -> None:
        """The held ping goes out now: its pong is due within the timeout (started before the send, during
        which the pong may already come in and stop it)."""
        if self._pong is not None:
            self._pong.countdown.start(trio.current_time() + self._pong.timeout)

    def _end(self, code: int, reason: str | None) -> None:
        if self._lost is None:
            self._lost = _closed_text(code, reason)
        if self._pong is not None:
            self._pong.alarm.ring()
        self._wake_closer()

    def _wake_closer(self) -> None:
        if self._closer is not None:
            self._closer.set()


class _AwaitedPong:
    """Our ping on its way: whether its pong came or is late, and how its waiter learns of either."""

    __slots__ = ("alarm", "arrived", "countdown", "late", "meanwhile", "payload", "timeout")

    def __init__(self, payload: bytes, timeout: float) -> None:
        self.payload = payload
        self.timeout = timeout
        self.arrived = False
        self.late = False
        self.meanwhile: trio.CancelScope | None = None
        """The scope of what runs while the pong is on its way, until it returns."""
        self.alarm = Alarm()
        """Wakes the waiter after ``meanwhile``: rung by the pong, its lateness or the connection's end."""
        self.countdown = Countdown(self._run_out)
        """The pong timeout, from the moment the ping goes out."""

    def come(self) -> None:
        """The pong is in (if not late already): what runs meanwhile may take its own time now."""
        if self.late:
            return
        self.arrived = True
        self.countdown.stop()
        self.alarm.ring()

    def _run_out(self) -> None:
        self.late = True
        if self.meanwhile is not None:
            self.meanwhile.cancel()
        self.alarm.ring()


def _closed_text(code: int, reason: str | None) -> str:
    try:
        name = CloseReason(code).name
    except ValueError:
        name = "unknown"
    return f"closed with code {code} ({name}){': ' + reason if reason else ''}"


async def open_connection(
    address: CsmsAddress,
    *,
    dialer: Dialer = tcp_dialer,
    connect_timeout: float = 30.0,
    max_message_size: int = 1 << 20,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> Connection:
    """Open a connection offering subprotocol ``ocpp1.6``; the caller closes it (``async with``).

    Raises :class:`ConnectionFailed` if the Central System cannot be reached within ``connect_timeout``,
    refuses the upgrade, or does not agree to ``ocpp1.6``.
    """
    try:
        with trio.fail_after(connect_timeout):
            stream = await dialer(address)
            try:
                protocol = await _upgrade(stream, address, extra_headers or [])
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise
    except trio.TooSlowError:
        raise ConnectionFailed(f"no connection within {connect_timeout:g} s") from None
    except _STREAM_ERRORS as error:
        raise ConnectionFailed(str(error) or type(error).__name__) from None
    connection = Connection(stream, protocol, max_message_size)
    if protocol.state is not ConnectionState.OPEN:  # pragma: no cover  # wsproto hands over an open one
        raise ConnectionFailed("the WebSocket connection closed during the upgrade")
    return connection


async def _upgrade(
    stream: trio.abc.Stream, address: CsmsAddress, extra_headers: list[tuple[bytes, bytes]]
) -> WebSocketProtocol:
    """The HTTP upgrade to a WebSocket with subprotocol ``ocpp1.6``."""
    handshake = H11Handshake(ConnectionType.CLIENT)
    request = Request(
        address.host_header, address.resource, subprotocols=[OCPP16], extra_headers=extra_headers
    )
    await stream.send_all(handshake.send(request))
    while True:
        data = bytes(await stream.receive_some(_RECEIVE_SIZE))
        if not data:
            raise ConnectionFailed("the Central System closed the connection during the WebSocket upgrade")
        try:
            handshake.receive_data(data)
            events = list(handshake.events())
        except RemoteProtocolError as error:
            raise ConnectionFailed(f"WebSocket handshake failed: {error}") from None
        for event in events:
            if isinstance(event, RejectConnection):
                raise ConnectionFailed(
                    f"the Central System refused the WebSocket upgrade with HTTP {event.status_code}"
                )
            if isinstance(event, AcceptConnection):
                protocol = handshake.connection
                assert protocol is not None
                if event.subprotocol != OCPP16:
                    data = protocol.send(
                        CloseConnection(CloseReason.NORMAL_CLOSURE, "subprotocol ocpp1.6 required")
                    )
                    with trio.move_on_after(_CLOSE_TIMEOUT):
                        await stream.send_all(data)
                    raise ConnectionFailed("the Central System did not agree to the subprotocol ocpp1.6")
                return protocol
