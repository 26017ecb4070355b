"""Mail for an actor that spends its life waiting for something else.

A connector waits for its hardware's events nearly all the time, and now and then its charge point hands it a
command. Merging the two into one channel takes a task that copies the events across, and the channel
itself: a few KiB per connector parked for its whole life, which at thousands of charge points per process
is a good part of the fleet's memory. A :class:`Mailbox` lets the actor's own task wait for its source
directly: :meth:`Mailbox.next` hands out what was posted first, and otherwise waits for the source, a wait
that a letter's arrival cancels. A trio memory channel's ``receive`` loses nothing when cancelled, so no
event goes missing.
"""

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import trio

__all__ = ["Mailbox"]

T = TypeVar("T")
U = TypeVar("U")


class Mailbox(Generic[T]):
    """Letters for one task, taken in the order they were posted. Other tasks wait to post while ``limit``
    letters wait to be taken; the owner's own task never waits."""

    __slots__ = ("_letters", "_limit", "_nudged", "_room", "_waiting")

    def __init__(self, limit: int) -> None:
        # a list rather than a deque: it is nearly always empty, and an empty deque takes ten times the memory
        self._letters: list[T] = []
        self._limit = limit
        self._nudged = False
        self._room: trio.Event | None = None  # made when a sender waits: most never do
        self._waiting: trio.CancelScope | None = None

    async def put(self, letter: T) -> None:
        """Post ``letter``, waiting while ``limit`` letters wait to be taken.

        Like a memory channel's ``send``: a cancelled put posts nothing, a completed one is not cancelled.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while len(self._letters) >= self._limit:
            if self._room is None:
                self._room = trio.Event()
            await self._room.wait()
        self.put_nowait(letter)
        await trio.lowlevel.cancel_shielded_checkpoint()

    def put_nowait(self, letter: T) -> None:
        """Post ``letter`` at once, beyond the limit if need be: for the owner's own task, which would wait
        forever for the room only it makes."""
        self._letters.append(letter)
        self._interrupt()

    def nudge(self) -> None:
        """Have the owner look again: :meth:`next` returns soon, with ``None`` if nothing was posted.

        Nudges before that return count as one: the owner is expected to look at everything after whatever
        :meth:`next` returns.
        """
        self._nudged = True
        self._interrupt()

    @property
    def idle(self) -> bool:
        """Whether the owner waits in :meth:`next` for its source with nothing posted: a question that only
        reads its state may then be answered at once rather than posted (nothing posted earlier is skipped,
        and the owner is not in the middle of anything)."""
        return self._waiting is not None and not self._letters and not self._nudged

    async def next(self, wait: Callable[[], Awaitable[U]], deadline: float) -> T | U | None:
        """The oldest letter; without one, what ``wait()`` returns; ``None`` once ``deadline`` (trio time)
        has passed, or after a nudge.

        A letter or a nudge cancels ``wait()``: like a memory channel's ``receive``, it must be a checkpoint
        and lose nothing when cancelled. A deadline already passed goes before the letters, and this is
        always a checkpoint.
        """
        with trio.CancelScope(deadline=deadline) as waiting:
            self._waiting = waiting
            try:
                if not self._letters and not self._nudged:
                    return await wait()
                await trio.lowlevel.checkpoint()
            finally:
                self._waiting = None
        self._nudged = False
        if waiting.cancelled_caught and trio.current_time() >= deadline:
            return None
        return self._take()

    def _take(self) -> T | None:
        if not self._letters:
            return None
        letter = self._letters.pop(0)
        if self._room is not None:
            self._room.set()
            self._room = None
        return letter

    def _interrupt(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
