"""The WebSocket connection of a charge point to its Central System.

The only module that touches trio-websocket: its exceptions are translated here into :class:`ConnectionFailed`
(could not connect) and :class:`ConnectionLost` (was connected, is not any more), so the actors never see a
library exception. How a byte stream to the Central System is opened is a :data:`Dialer`: TCP (and TLS for
``wss://``) in production, an in-memory stream in tests.
"""

import ssl
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

import attrs
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, wrap_client_stream

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
    stream: trio.abc.Stream = await trio.open_tcp_stream(address.host, address.port)
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


class Connection:
    """An open OCPP-J WebSocket connection."""

    __slots__ = ("_websocket",)

    def __init__(self, websocket: WebSocketConnection) -> None:
        self._websocket = websocket

    async def send(self, text: str) -> None:
        """Send one message; raises :class:`ConnectionLost`."""
        try:
            await self._websocket.send_message(text)
        except ConnectionClosed as closed:
            raise ConnectionLost(_reason(closed)) from None

    async def receive(self) -> str | bytes:
        """The next message; raises :class:`ConnectionLost` once the connection is closed."""
        try:
            return await self._websocket.get_message()
        except ConnectionClosed as closed:
            raise ConnectionLost(_reason(closed)) from None

    async def ping(self, *, pong_timeout: float) -> bool:
        """Send a WebSocket ping; whether its pong came back within ``pong_timeout`` seconds."""
        with trio.move_on_after(pong_timeout):
            try:
                await self._websocket.ping()
            except ConnectionClosed as closed:
                raise ConnectionLost(_reason(closed)) from None
            return True
        return False

    async def close(self, reason: str = "") -> None:
        """Close the connection politely, giving up after a short while."""
        with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT):
            await self._websocket.aclose(reason=reason or None)


def _reason(closed: ConnectionClosed) -> str:
    reason = closed.reason
    if reason is None:
        return "connection closed"
    return f"closed with code {reason.code} ({reason.name}){': ' + reason.reason if reason.reason else ''}"


async def open_connection(
    nursery: trio.Nursery,
    address: CsmsAddress,
    *,
    dialer: Dialer = tcp_dialer,
    connect_timeout: float = 30.0,
    max_message_size: int = 1 << 20,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> Connection:
    """Open a connection offering subprotocol ``ocpp1.6``; its background task runs in ``nursery``.

    Raises :class:`ConnectionFailed` if the Central System cannot be reached within ``connect_timeout``,
    refuses the upgrade, or does not agree to ``ocpp1.6``.
    """
    try:
        with trio.fail_after(connect_timeout):
            stream = await dialer(address)
            connection: Connection = await nursery.start(
                _run_websocket, stream, address, max_message_size, extra_headers
            )
    except trio.TooSlowError:
        raise ConnectionFailed(f"no connection within {connect_timeout:g} s") from None
    except (OSError, trio.BrokenResourceError) as error:
        raise ConnectionFailed(str(error) or type(error).__name__) from None
    return connection


async def _run_websocket(
    stream: trio.abc.Stream,
    address: CsmsAddress,
    max_message_size: int,
    extra_headers: list[tuple[bytes, bytes]] | None,
    *,
    task_status: trio.TaskStatus[Connection],
) -> None:
    """Hold trio-websocket's background reader; translate what goes wrong into our exceptions."""
    started = False
    try:
        async with trio.open_nursery() as nursery:
            websocket = await wrap_client_stream(
                nursery,
                stream,  # type: ignore[arg-type]  # any trio stream works; the hint is too narrow
                address.host_header,
                address.resource,
                subprotocols=[OCPP16],
                extra_headers=extra_headers,
                message_queue_size=1,
                max_message_size=max_message_size,
            )
            if websocket.subprotocol != OCPP16:
                await Connection(websocket).close("subprotocol ocpp1.6 required")
                raise ConnectionFailed("the Central System did not agree to the subprotocol ocpp1.6")
            task_status.started(Connection(websocket))
            started = True
    except BaseExceptionGroup as group:
        failure = _failure(group)
        if failure is None:
            raise
        if not started:
            raise failure from None
        # after the handshake, a failing reader just means the connection is over; receive() reports it
    finally:
        await trio.aclose_forcefully(stream)


def _failure(group: BaseExceptionGroup[BaseException]) -> ConnectionFailed | None:
    """Our translation of a group made only of connection problems; ``None`` if anything else is in it."""
    connection_problems = (
        HandshakeError,
        ConnectionClosed,
        ConnectionFailed,
        OSError,
        trio.BrokenResourceError,
    )
    matched, rest = group.split(connection_problems)
    if rest is not None or matched is None:
        return None
    first = matched.exceptions[0]
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    if isinstance(first, ConnectionFailed):
        return first
    status = getattr(first, "status_code", None)
    if status is not None:
        return ConnectionFailed(f"the Central System refused the WebSocket upgrade with HTTP {status}")
    return ConnectionFailed(f"WebSocket handshake failed: {first!r}")
