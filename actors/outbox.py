"""How the parts of a charge point reach the Central System, whatever the state of the connection.

Two ways out:

- :meth:`Outbox.call` for messages that only make sense now (Authorize, StatusNotification, DataTransfer):
  it raises :class:`Offline` at once when there is no accepted connection, so the caller can decide locally.
- :meth:`Outbox.queue` for transaction-related messages (StartTransaction, StopTransaction, the MeterValues
  of a transaction; spec 3.7): they wait in one queue, in creation order across all connectors, and leave
  one at a time while the charge point is connected and accepted. A transaction started offline gets a
  local id; the messages that refer to it are sent with the Central System's id once StartTransaction's
  answer has given it. A local id never goes on the wire.

The queue lives in memory: it survives a lost connection, not a reboot.
"""

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs
import trio

from actors.connection import ConnectionLost
from actors.link import CallFailed, CallTimeout, Link
from actors.ocpp import MeterValuesRequest, Request, StartTransactionResponse, StopTransactionRequest

__all__ = ["Offline", "Outbox", "QueuedAnswer"]

_log = logging.getLogger(__name__)

_RETRY_PAUSE = 1.0  # seconds before the next attempt after a failed delivery on a live connection


class Offline(Exception):
    """There is no connection on which the Central System has accepted this charge point."""


@attrs.frozen
class QueuedAnswer:
    """What became of a queued message: its response, or ``None`` if it was dropped."""

    request: Request
    response: Any


@attrs.define
class _Queued:
    request: Request
    local_transaction: int | None
    on_answer: Callable[[QueuedAnswer], None] | None


class Outbox:
    """The way out of one powered-on charge point."""

    def __init__(self) -> None:
        self._link: Link | None = None
        self._ready = trio.Event()
        self._queue: deque[_Queued] = deque()
        self._queued = trio.Event()
        self._transaction_ids: dict[int, int] = {}
        self._next_local_id = -1
        self._emptied = trio.Event()

    @property
    def online(self) -> bool:
        """Whether a connection is up and the Central System has accepted the charge point."""
        return self._link is not None

    @property
    def depth(self) -> int:
        """Messages waiting in the queue."""
        return len(self._queue)

    def attach(self, link: Link) -> None:
        """A connection is up and accepted: start sending."""
        self._link = link
        self._ready.set()

    def detach(self) -> None:
        """The connection is gone: calls fail, the queue waits."""
        self._link = None
        self._ready = trio.Event()

    async def call(self, request: Request) -> Any:
        """Send a message now and return the answer; raises :class:`Offline` and the errors of a CALL."""
        link = self._link
        if link is None:
            raise Offline(f"{request.action} not sent: offline")
        return await link.call(request)

    def new_local_transaction(self) -> int:
        """A local id for a transaction whose StartTransaction has not been answered yet (never sent)."""
        local_id = self._next_local_id
        self._next_local_id -= 1
        return local_id

    def queue(
        self,
        request: Request,
        *,
        local_transaction: int | None = None,
        on_answer: Callable[[QueuedAnswer], None] | None = None,
    ) -> None:
        """Queue a transaction-related message; ``on_answer`` hears of its answer.

        ``local_transaction`` names the transaction a StartTransaction opens, or the one a StopTransaction
        or MeterValues refers to, until the Central System's id is known.
        """
        self._queue.append(_Queued(request, local_transaction, on_answer))
        self._queued.set()

    async def drained(self) -> None:
        """Return once the queue is empty."""
        while self._queue:
            if self._emptied.is_set():
                self._emptied = trio.Event()
            await self._emptied.wait()

    def transaction_id(self, local_transaction: int) -> int | None:
        """The Central System's id of a transaction, once known."""
        return self._transaction_ids.get(local_transaction)

    async def run_sender(self) -> None:
        """Deliver the queue, one message at a time, whenever online; runs until cancelled."""
        while True:
            if not self._queue:
                self._queued = trio.Event()
                await self._queued.wait()
                continue
            await self._ready.wait()
            link = self._link
            if link is None:
                continue
            await self._deliver_head(link)

    async def _deliver_head(self, link: Link) -> None:
        queued = self._queue[0]
        request = self._with_transaction_id(queued)
        if request is None:  # its transaction never got an id from the Central System: nothing to refer to
            self._finish(queued, None)
            return
        try:
            response = await link.call(request)
        except ConnectionLost:
            return  # not an attempt: sent again once connected
        except (CallFailed, CallTimeout) as problem:
            _log.info("%s delivery failed, trying again: %s", request.action, problem)
            await trio.sleep(_RETRY_PAUSE)
            return
        if isinstance(response, StartTransactionResponse) and queued.local_transaction is not None:
            self._transaction_ids[queued.local_transaction] = response.transaction_id
        self._finish(queued, response)

    def _finish(self, queued: _Queued, response: Any) -> None:
        self._queue.popleft()
        if not self._queue:
            self._emptied.set()
        if queued.on_answer is not None:
            queued.on_answer(QueuedAnswer(queued.request, response))

    def _with_transaction_id(self, queued: _Queued) -> Request | None:
        request = queued.request
        if queued.local_transaction is None or not isinstance(
            request, MeterValuesRequest | StopTransactionRequest
        ):
            return request
        transaction_id = self._transaction_ids.get(queued.local_transaction)
        if transaction_id is None:
            return None
        return attrs.evolve(request, transaction_id=transaction_id)
