"""The charge point's WebSocket connection, byte for byte against RFC 6455.

The Central System's side is written out by hand here (the HTTP upgrade, unmasked frames from the RFC's own
examples in section 5.7, and a decoder of the client's masked frames), so that nothing of the code under
test checks itself.
"""

import base64
import functools
import hashlib
import struct
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from actors.connection import (
    OCPP16,
    Connection,
    ConnectionFailed,
    ConnectionLost,
    CsmsAddress,
    open_connection,
)

ADDRESS = CsmsAddress("csms.example", 9000, "/ocpp/CP-1", False)
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3

# RFC 6455, section 5.7: frames from a server (unmasked)
HELLO = bytes([0x81, 0x05]) + b"Hello"
HELLO_IN_TWO = bytes([0x01, 0x03]) + b"Hel" + bytes([0x80, 0x02]) + b"lo"
PING_HELLO = bytes([0x89, 0x05]) + b"Hello"

TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class Csms:
    """The Central System's end of an in-memory byte stream."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = b""
        self.request = b""

    async def read_request(self) -> dict[str, str]:
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += await self.stream.receive_some()
        self.request, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = self.request.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        return {"request line": lines[0], **{name.lower(): value for name, value in headers.items()}}

    async def accept(
        self, headers: dict[str, str], *, subprotocol: str | None = OCPP16, after: bytes = b""
    ) -> None:
        digest = hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest()
        accept = base64.b64encode(digest).decode()
        response = (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n"
        )
        if subprotocol is not None:
            response += f"Sec-WebSocket-Protocol: {subprotocol}\r\n"
        await self.stream.send_all(response.encode() + b"\r\n" + after)

    async def frame(self) -> tuple[bool, int, bytes]:
        """The next frame of the client: whether it is final, its opcode and its unmasked payload.

        A client must mask every frame (RFC 6455, section 5.3)."""
        header = await self._take(2)
        final, opcode = bool(header[0] & 0x80), header[0] & 0x0F
        assert header[1] & 0x80, "a client's frame must be masked"
        length = header[1] & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._take(8))
        mask = await self._take(4)
        payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(await self._take(length)))
        return final, opcode, payload

    async def _take(self, count: int) -> bytes:
        while len(self.buffer) < count:
            data = await self.stream.receive_some()
            if not data:
                raise EOFError
            self.buffer += data
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        return taken


def close_frame(code: int, reason: bytes = b"") -> bytes:
    payload = struct.pack("!H", code) + reason
    return bytes([0x88, len(payload)]) + payload


async def connected(nursery: trio.Nursery, *, after: bytes = b"") -> tuple[Connection, Csms]:
    ours, theirs = trio.testing.memory_stream_pair()
    csms = Csms(theirs)

    async def dial(address: CsmsAddress) -> trio.abc.Stream:
        assert address == ADDRESS
        return ours

    async def serve() -> None:
        await csms.accept(await csms.read_request(), after=after)

    nursery.start_soon(serve)
    return await open_connection(ADDRESS, dialer=dial), csms


async def test_the_upgrade_asks_for_ocpp16_at_the_charge_points_address() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    csms = Csms(theirs)

    async def dial(address: CsmsAddress) -> trio.abc.Stream:
        return ours

    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(open_connection, ADDRESS, dialer=dial))
        headers = await csms.read_request()
        assert headers["request line"] == "GET /ocpp/CP-1 HTTP/1.1"
        assert headers["host"] == "csms.example:9000"
        assert headers["upgrade"].lower() == "websocket"
        assert headers["sec-websocket-version"] == "13"
        assert headers["sec-websocket-protocol"] == "ocpp1.6"
        assert len(base64.b64decode(headers["sec-websocket-key"])) == 16  # RFC 6455, section 4.1
        await csms.accept(headers)


async def test_a_wrong_accept_key_fails_the_upgrade() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    csms = Csms(theirs)

    async def dial(address: CsmsAddress) -> trio.abc.Stream:
        return ours

    async def serve() -> None:
        headers = await csms.read_request()
        await csms.accept({**headers, "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="})

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        with pytest.raises(ConnectionFailed, match="WebSocket handshake failed"):
            await open_connection(ADDRESS, dialer=dial)


async def test_without_ocpp16_the_charge_point_closes_at_once() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    csms = Csms(theirs)

    async def dial(address: CsmsAddress) -> trio.abc.Stream:
        return ours

    async def serve() -> None:
        await csms.accept(await csms.read_request(), subprotocol=None)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        with pytest.raises(ConnectionFailed, match=r"did not agree to the subprotocol ocpp1\.6"):
            await open_connection(ADDRESS, dialer=dial)
    assert await csms.frame() == (True, CLOSE, struct.pack("!H", 1000) + b"subprotocol ocpp1.6 required")
    with pytest.raises(EOFError):
        await csms.frame()


async def test_a_subprotocol_not_offered_fails_the_upgrade() -> None:
    """RFC 6455, section 4.1: the client fails the connection."""
    ours, theirs = trio.testing.memory_stream_pair()
    csms = Csms(theirs)

    async def dial(address: CsmsAddress) -> trio.abc.Stream:
        return ours

    async def serve() -> None:
        await csms.accept(await csms.read_request(), subprotocol="ocpp2.0.1")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        with pytest.raises(ConnectionFailed, match="WebSocket handshake failed: unrecognized subprotocol"):
            await open_connection(ADDRESS, dialer=dial)
    with pytest.raises(EOFError):
        await csms.frame()


async def test_a_refused_upgrade_names_the_http_status() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    csms = Csms(theirs)

    async def dial(address: CsmsAddress) -> trio.abc.Stream:
        return ours

    async def serve() -> None:
        await csms.read_request()
        await csms.stream.send_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        with pytest.raises(ConnectionFailed, match="refused the WebSocket upgrade with HTTP 404"):
            await open_connection(ADDRESS, dialer=dial)


async def test_messages_in_one_frame_or_in_fragments_and_frames_right_after_the_upgrade() -> None:
    async with trio.open_nursery() as nursery:
        connection, csms = await connected(nursery, after=HELLO)
        assert await connection.receive() == "Hello"
        await csms.stream.send_all(HELLO_IN_TWO)
        assert await connection.receive() == "Hello"
        await csms.stream.send_all(HELLO[:3])
        await csms.stream.send_all(HELLO[3:] + bytes([0x82, 0x02, 0xFF, 0x00]))
        assert await connection.receive() == "Hello"
        assert await connection.receive() == b"\xff\x00"


async def test_a_message_is_sent_as_one_masked_text_frame() -> None:
    async with trio.open_nursery() as nursery:
        connection, csms = await connected(nursery)
        await connection.send('[2,"1","Heartbeat",{}]')
        assert await csms.frame() == (True, TEXT, b'[2,"1","Heartbeat",{}]')


async def test_a_ping_of_the_central_system_gets_a_pong_with_its_payload() -> None:
    async with trio.open_nursery() as nursery:
        connection, csms = await connected(nursery, after=PING_HELLO + HELLO)
        assert await connection.receive() == "Hello"
        assert await csms.frame() == (True, PONG, b"Hello")


async def test_our_ping_waits_for_the_pong_with_its_payload(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        connection, csms = await connected(nursery)
        nursery.start_soon(connection.receive)
        results: list[bool] = []

        async def ping() -> None:
            results.append(await connection.ping(pong_timeout=5))

        nursery.start_soon(ping)
        final, opcode, payload = await csms.frame()
        assert (final, opcode) == (True, PING)
        await trio.sleep(4)
        await csms.stream.send_all(bytes([0x8A, len(payload) + 1]) + payload + b"x")  # not its pong
        await trio.sleep(0.5)
        assert results == []
        await csms.stream.send_all(bytes([0x8A, len(payload)]) + payload)
        await trio.testing.wait_all_tasks_blocked()
        assert results == [True]
        assert trio.current_time() == 4.5

        nursery.start_soon(ping)
        await csms.frame()
        await trio.sleep(10)
        assert results == [True, False]
        nursery.cancel_scope.cancel()


async def ping_noting_when(
    connection: Connection, meanwhile: Callable[[], Awaitable[object]], results: list[tuple[bool, float]]
) -> None:
    """Ping with ``meanwhile`` (pong timeout 5 s) and note whether the pong came, and when ping returned."""
    result = await connection.ping(pong_timeout=5, meanwhile=meanwhile)
    results.append((result, trio.current_time()))


async def test_what_runs_while_the_pong_is_on_its_way_is_cut_short_only_if_the_pong_is_late(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        connection, csms = await connected(nursery)
        nursery.start_soon(connection.receive)
        results: list[tuple[bool, float]] = []
        finished: list[float] = []

        async def heartbeat() -> None:
            await connection.send('[2,"1","Heartbeat",{}]')
            await trio.sleep(20)  # its answer is slow: longer than the pong timeout
            finished.append(trio.current_time())

        ping = functools.partial(ping_noting_when, connection, heartbeat, results)
        nursery.start_soon(ping)
        final, opcode, payload = await csms.frame()
        assert (final, opcode) == (True, PING)
        assert await csms.frame() == (True, TEXT, b'[2,"1","Heartbeat",{}]')
        await trio.sleep(4)
        await csms.stream.send_all(bytes([0x8A, len(payload)]) + payload)
        await trio.sleep(30)
        assert (results, finished) == ([(True, 20)], [20])

        nursery.start_soon(ping)  # at 34, and no pong this time
        assert (await csms.frame())[1] == PING
        assert (await csms.frame())[1] == TEXT
        await trio.sleep(30)
        assert (results, finished) == ([(True, 20), (False, 39)], [20])
        nursery.cancel_scope.cancel()


async def test_a_ping_held_for_what_runs_meanwhile_goes_out_with_its_first_message_and_is_timed_from_then(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        connection, csms = await connected(nursery)
        nursery.start_soon(connection.receive)
        results: list[tuple[bool, float]] = []

        async def heartbeat() -> None:
            await trio.sleep(3)  # sends nothing for 3 s: the ping waits with it
            await connection.send('[2,"1","Heartbeat",{}]')

        nursery.start_soon(ping_noting_when, connection, heartbeat, results)
        final, opcode, payload = await csms.frame()
        assert (final, opcode, trio.current_time()) == (True, PING, 3)
        assert await csms.frame() == (True, TEXT, b'[2,"1","Heartbeat",{}]')
        await trio.sleep(4.5)  # 7.5 s after the ping was asked for, 4.5 s after it went
        await csms.stream.send_all(bytes([0x8A, len(payload)]) + payload)
        await trio.testing.wait_all_tasks_blocked()
        assert results == [(True, 7.5)]

        async def nothing() -> None:
            await trio.sleep(2)

        nursery.start_soon(ping_noting_when, connection, nothing, results)  # at 7.5: the ping goes at 9.5
        assert ((await csms.frame())[1], trio.current_time()) == (PING, 9.5)
        await trio.sleep(10)
        assert results == [(True, 7.5), (False, 14.5)]
        nursery.cancel_scope.cancel()


async def test_the_central_systems_close_is_answered_with_its_code() -> None:
    async with trio.open_nursery() as nursery:
        connection, csms = await connected(nursery, after=close_frame(1001, b"restarting"))
        with pytest.raises(ConnectionLost, match=r"^closed with code 1001 \(GOING_AWAY\): restarting$"):
            await connection.receive()
        assert await csms.frame() == (True, CLOSE, struct.pack("!H", 1001) + b"restarting")
        with pytest.raises(ConnectionLost, match="1001"):
            await connection.send("[]")


async def test_our_close_waits_for_the_central_systems_close_and_drops_the_stream(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        connection, csms = await connected(nursery)
        lost: list[str] = []

        async def receive() -> None:
            with pytest.raises(ConnectionLost) as raised:
                await connection.receive()
            lost.append(str(raised.value))

        nursery.start_soon(receive)
        nursery.start_soon(connection.close, "soft reset")
        assert await csms.frame() == (True, CLOSE, struct.pack("!H", 1000) + b"soft reset")
        await trio.sleep(0.5)
        await csms.stream.send_all(close_frame(1000))
        with pytest.raises(EOFError):
            await csms.frame()
        assert trio.current_time() == 0.5
        assert lost == ["closed with code 1000 (NORMAL_CLOSURE)"]


async def test_our_close_gives_up_after_two_seconds_without_an_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        connection, csms = await connected(nursery)

        async def receive() -> None:
            with pytest.raises(ConnectionLost, match="1006"):  # the stream was dropped under it
                await connection.receive()

        nursery.start_soon(receive)
        await connection.close()
        assert trio.current_time() == 2
        assert await csms.frame() == (True, CLOSE, struct.pack("!H", 1000))
        with pytest.raises(EOFError):
            await csms.frame()


async def test_the_end_of_the_stream_without_a_close_is_an_abnormal_closure() -> None:
    async with trio.open_nursery() as nursery:
        connection, csms = await connected(nursery)
        await csms.stream.aclose()
        with pytest.raises(ConnectionLost, match=r"^closed with code 1006 \(ABNORMAL_CLOSURE\)$"):
            await connection.receive()


async def test_a_masked_frame_from_the_central_system_is_a_protocol_error() -> None:
    """RFC 6455, section 5.1: a client must close the connection on a masked frame from the server."""
    masked_hello = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])  # section 5.7
    async with trio.open_nursery() as nursery:
        connection, csms = await connected(nursery, after=masked_hello)
        with pytest.raises(ConnectionLost, match=r"^closed with code 1002 \(PROTOCOL_ERROR\)"):
            await connection.receive()
        final, opcode, payload = await csms.frame()
        assert (final, opcode, payload[:2]) == (True, CLOSE, struct.pack("!H", 1002))


async def test_a_message_longer_than_the_limit_closes_with_1009() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    csms = Csms(theirs)

    async def dial(address: CsmsAddress) -> trio.abc.Stream:
        return ours

    async def serve() -> None:
        await csms.accept(await csms.read_request(), after=HELLO_IN_TWO)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        connection = await open_connection(ADDRESS, dialer=dial, max_message_size=4)
        with pytest.raises(ConnectionLost, match=r"^closed with code 1009 \(MESSAGE_TOO_BIG\)"):
            await connection.receive()
        final, opcode, payload = await csms.frame()
        assert (final, opcode, payload[:2]) == (True, CLOSE, struct.pack("!H", 1009))
