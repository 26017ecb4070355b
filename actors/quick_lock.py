"""A lock for code that does I/O while it holds it: taken without a trip through the scheduler when free.

trio's ``Lock.acquire`` always yields to the scheduler, even when the lock is free, so that it is a full
checkpoint. The holders of these locks send on a socket, which is a checkpoint anyway; the extra yield cost a
few microseconds on every CALL and every WebSocket frame, a few hundred times a second in a large fleet.
"""

import trio

__all__ = ["QuickLock"]


class QuickLock:
    """A FIFO lock (``async with lock:``): cancellable while it waits, like trio's, but when it is free it is
    taken at once; whoever takes it must reach a checkpoint while holding it (for instance by doing I/O)."""

    __slots__ = ("_held", "_waiters")

    def __init__(self) -> None:
        self._held = False
        self._waiters: trio.lowlevel.ParkingLot | None = None
        """The tasks waiting for it, in order (made when the first one has to wait)."""

    async def __aenter__(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if not self._held:
            self._held = True
            return
        if self._waiters is None:
            self._waiters = trio.lowlevel.ParkingLot()
        await self._waiters.park()  # the holder hands the lock over on its way out: held for us now

    async def __aexit__(self, *exception: object) -> None:
        if self._waiters:
            self._waiters.unpark()
        else:
            self._held = False

    def locked(self) -> bool:
        """Whether somebody holds the lock."""
        return self._held
