"""A simulated network between a charge point and its Central System, which scenarios can cut.

A cut is silent, as on a real network: nothing arrives any more and what is sent is lost, but neither side
is told; the charge point notices through its pings and answer timeouts. While the network is down, new
connections fail.
"""

import trio

from actors.connection import CsmsAddress, Dialer, tcp_dialer

__all__ = ["Cable", "NetworkSwitch"]


class Cable(trio.abc.Stream):
    """A byte stream that can be cut silently."""

    __slots__ = ("_inner", "cut")

    def __init__(self, inner: trio.abc.Stream) -> None:
        self._inner = inner
        self.cut = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.cut:
            await trio.lowlevel.checkpoint()
            return
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self._inner.receive_some(max_bytes)
        if self.cut:
            await trio.sleep_forever()
        return data

    async def aclose(self) -> None:
        await self._inner.aclose()


class NetworkSwitch:
    """The network of one charge point: a dialer whose connections go down together."""

    __slots__ = ("_cable", "_dialer", "down")

    def __init__(self, dialer: Dialer = tcp_dialer) -> None:
        self._dialer = dialer
        self._cable: Cable | None = None
        self.down = False

    async def dial(self, address: CsmsAddress) -> trio.abc.Stream:
        """Open a stream, unless the network is down."""
        if self.down:
            await trio.lowlevel.checkpoint()
            raise OSError("network down")
        self._cable = Cable(await self._dialer(address))  # a charge point has one connection at a time
        return self._cable

    def cut(self) -> None:
        """The network goes down: open connections go silent, new ones fail."""
        self.down = True
        if self._cable is not None:
            self._cable.cut = True
            self._cable = None

    def restore(self) -> None:
        """The network is back for new connections."""
        self.down = False
