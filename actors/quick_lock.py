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

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = trio.StrictFIFOLock()

    async def __aenter__(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self._lock.acquire_nowait()
        except trio.WouldBlock:
            await self._lock.acquire()

    async def __aexit__(self, *exception: object) -> None:
        self._lock.release()

    def locked(self) -> bool:
        """Whether somebody holds the lock."""
        return self._lock.locked()
