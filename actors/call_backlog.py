"""The Central System's CALLs that wait for their answers, answered one at a time in the order they came.

The reader of a connection must never wait for the answering (the answering may itself wait for an answer that
only the reader can read), so it leaves each CALL here and goes on reading; when too many wait, the CALL is
refused at once instead (:meth:`CallBacklog.offer` says so). The Central System sends a CALL now and then,
and a connection is idle nearly all its life: the task that answers exists only while CALLs wait
(actors.on_demand), instead of a task and a channel parked for the life of every connection.
"""

from collections.abc import Awaitable, Callable

import trio

from actors.link import IncomingCall
from actors.on_demand import OnDemandTask

__all__ = ["CallBacklog"]


class CallBacklog:
    """CALLs to answer with ``answer``, one at a time, in the order offered; at most ``limit`` wait while one
    is answered."""

    __slots__ = ("_answer", "_answering", "_calls", "_limit")

    def __init__(
        self, answer: Callable[[IncomingCall], Awaitable[None]], *, limit: int, name: str | None = None
    ) -> None:
        self._answer = answer
        self._limit = limit
        # a list rather than a deque: it is nearly always empty, and an empty deque takes ten times the memory
        self._calls: list[IncomingCall] = []
        """The CALL being answered first, then those that wait."""
        self._answering = OnDemandTask(self._answer_waiting, name=name)

    def __len__(self) -> int:
        """How many CALLs are not answered yet, the one being answered included."""
        return len(self._calls)

    def start(self, nursery: trio.Nursery) -> None:
        """Answer in ``nursery`` (the connection's) from now on."""
        self._answering.start(nursery)

    def stop(self) -> None:
        """Answer no more: the connection's nursery is closing."""
        self._answering.stop()

    def offer(self, call: IncomingCall) -> bool:
        """Take ``call`` to answer it after those before it; False if ``limit`` CALLs already wait."""
        if len(self._calls) > self._limit:
            return False
        self._calls.append(call)
        self._answering.wake()
        return True

    async def _answer_waiting(self) -> None:
        while self._calls:
            await self._answer(self._calls[0])
            del self._calls[0]
