"""A trio byte stream over a connected TCP socket that calls the socket directly.

trio's ``SocketStream`` goes through trio's socket wrapper: every send and receive is first tried at once
inside a context manager that checks for cancellation and then yields, and a receive that finds nothing
raises and catches ``BlockingIOError`` before it waits. A charge point's link is mostly idle and its messages
small, so almost every receive found nothing: one failed system call and an exception per message. This
stream waits until the socket is readable and then reads once, and sends straight away, waiting only when the
socket's buffer is full. It keeps trio's rules for streams: every call is a checkpoint, errors of the socket
become ``trio.BrokenResourceError``, a closed stream raises ``trio.ClosedResourceError``, and closing it wakes
any task waiting on it.
"""

import ipaddress
import operator
import os
import socket

import trio

__all__ = ["DirectSocketStream", "open_tcp_stream"]

_RECEIVE_SIZE = 65536
"""Bytes read at most when the caller does not say (as trio's streams)."""


class DirectSocketStream(trio.abc.Stream):
    """A byte stream over a connected, non-blocking TCP socket, which it owns and closes.

    Like any trio stream, one task at a time may send and one may receive.
    """

    __slots__ = ("_socket",)

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._socket = sock

    @property
    def socket(self) -> socket.socket:
        """The socket (as ``trio.SocketStream.socket``)."""
        return self._socket

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        with memoryview(data) as view:
            sent = self._send(view)
            while sent < len(view):
                await trio.lowlevel.wait_writable(self._socket)
                sent += self._send(view[sent:])
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        self._check_open()
        await trio.lowlevel.wait_writable(self._socket)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        max_bytes = _RECEIVE_SIZE if max_bytes is None else operator.index(max_bytes)
        if max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        while True:
            self._check_open()
            await trio.lowlevel.wait_readable(self._socket)
            self._check_open()
            try:
                return self._socket.recv(max_bytes)
            except BlockingIOError:  # woken, yet nothing to read after all: wait again
                continue
            except OSError as error:
                raise trio.BrokenResourceError(error) from error

    async def aclose(self) -> None:
        if self._socket.fileno() != -1:
            trio.lowlevel.notify_closing(self._socket)
            self._socket.close()
        await trio.lowlevel.checkpoint()

    def _send(self, view: memoryview) -> int:
        self._check_open()
        try:
            return self._socket.send(view)
        except BlockingIOError:
            return 0
        except OSError as error:
            raise trio.BrokenResourceError(error) from error

    def _check_open(self) -> None:
        if self._socket.fileno() == -1:
            raise trio.ClosedResourceError("the stream is closed")


async def open_tcp_stream(host: str, port: int) -> DirectSocketStream:
    """Connect as ``trio.open_tcp_stream`` does (every address tried, happy eyeballs, ``TCP_NODELAY``), and
    hand the socket to a :class:`DirectSocketStream`.

    An IP address has one address to try, so it is connected to directly: no name lookup, and none of the
    tasks and cancel scopes of happy eyeballs (a good part of the cost of a charge point's connection when a
    fleet of thousands comes up).
    """
    family = _address_family(host)
    if family is None:
        stream = await trio.open_tcp_stream(host, port)
        return DirectSocketStream(socket.socket(fileno=stream.socket.detach()))
    return DirectSocketStream(await _connect(family, host, port))


def _address_family(host: str) -> socket.AddressFamily | None:
    """The family of ``host`` if it is an IP address, else ``None`` (a name)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


async def _connect(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.connect((host, port))
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise OSError(error, f"error connecting to {host}:{port}: {os.strerror(error)}") from None
        else:
            await trio.lowlevel.checkpoint()
    except BaseException:
        sock.close()
        raise
    return sock
