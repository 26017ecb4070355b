"""The charge point's TCP stream keeps the contract of a trio stream (trio's own conformance checks)."""

import contextlib
import errno
import functools
import socket

import pytest
import trio
import trio.testing

from actors.socket_stream import DirectSocketStream, open_tcp_stream


async def _stream_pair() -> tuple[DirectSocketStream, DirectSocketStream]:
    left, right = socket.socketpair()
    return DirectSocketStream(left), DirectSocketStream(right)


async def _clogged_stream_pair() -> tuple[DirectSocketStream, DirectSocketStream]:
    """A pair whose buffers are full both ways: a send blocks until the other end reads."""
    left, right = socket.socketpair()
    for sock in (left, right):
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                sock.send(b"x" * 65536)
    return DirectSocketStream(left), DirectSocketStream(right)


async def test_the_stream_passes_trios_checks_of_a_two_way_stream() -> None:
    await trio.testing.check_two_way_stream(_stream_pair, _clogged_stream_pair)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])  # an address connected to directly; a name
async def test_a_connection_carries_bytes_both_ways_and_ends_with_an_empty_read(host: str) -> None:
    async def echo_once(server: trio.SocketStream) -> None:
        async with server:
            await server.send_all(await server.receive_some())

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, echo_once, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        async with await open_tcp_stream(host, port) as stream:
            assert stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            await stream.send_all(b"ping")
            assert await stream.receive_some() == b"ping"
            assert await stream.receive_some() == b""
        nursery.cancel_scope.cancel()


async def test_a_refused_connection_to_an_address_is_an_os_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nobody listens on it
    with pytest.raises(OSError, match=f"error connecting to 127.0.0.1:{port}") as refused:
        await open_tcp_stream("127.0.0.1", port)
    assert refused.value.errno == errno.ECONNREFUSED


async def test_a_reset_by_the_peer_is_a_broken_stream() -> None:
    left, right = socket.socketpair()
    stream = DirectSocketStream(left)
    right.close()
    with pytest.raises(trio.BrokenResourceError):
        await stream.send_all(b"x")
    await stream.aclose()


async def test_a_closed_stream_refuses_to_be_used() -> None:
    stream, other = await _stream_pair()
    await stream.aclose()
    await stream.aclose()  # closing twice is allowed
    with pytest.raises(trio.ClosedResourceError):
        await stream.send_all(b"x")
    with pytest.raises(trio.ClosedResourceError):
        await stream.receive_some()
    await other.aclose()
