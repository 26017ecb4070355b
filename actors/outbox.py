"""How the parts of a charge point reach the Central System, whatever the state of the connection.

Two ways out:

- :meth:`Outbox.call` for messages that only make sense now (Authorize, StatusNotification, DataTransfer):
  it raises :class:`Offline` at once when there is no accepted connection, so the caller can decide locally.
- :meth:`Outbox.queue` for transaction-related messages (StartTransaction, StopTransaction, the MeterValues
  of a transaction; spec 3.7): each is committed to the charge point's persistent offline queue
  (``storage.queue``) before :meth:`Outbox.queue` returns, and leaves it only once the Central System has
  answered it (or after its last allowed attempt). They leave one at a time, in creation order across all
  connectors, while the charge point is connected and accepted; a power cut or a lost connection loses
  nothing, and the message in flight at that moment is sent again.

A transaction started offline gets a local id; the messages that refer to it are sent with the Central
System's id once StartTransaction's answer has given it (kept in the database, so also after a reboot).
A local id never goes on the wire: if a StartTransaction is finally dropped, the messages of its transaction
are dropped with it.

**Retries (spec 3.7.1).** A CALLERROR answer is the Central System's failure to process the message (OCPP-J):
it is sent again after ``TransactionMessageRetryInterval`` times the number of its failed transmissions so
far, and dropped after ``TransactionMessageAttempts`` failures (:func:`after_failure`). Attempt counts and
the time of the next attempt are persisted, so retries go on across a reboot. No answer in time, or a lost
connection, is a failed delivery and not a failure to process: the message is never dropped for it; it goes
again once reconnected, or after ``TransactionMessageRetryInterval`` on a connection that stays up.

**Storage failures** (``actors.storage_health``). A StartTransaction that cannot be written is refused
(:class:`storage.StorageError`): its transaction must not start. Any other message belongs to a transaction
that has started and is kept: it is held in memory, in order, and written before any later message
(:meth:`Outbox.flush`), at most :data:`HELD_LIMIT` of them (the oldest MeterValues go first). What the
sender writes after an answer is written again until it is kept, and nothing is sent meanwhile, so that
a delivered message is not sent twice.

**The sender** delivers the queue in a task that exists only while there is something to do
(actors.on_demand): a charge point's queue is empty nearly all the time, and one sender parked per charge
point would be a good part of a fleet's memory. It looks at the queue at power-on (if the power-on's read
of the state found messages in it), when a message is committed and when a connection is accepted, and ends
once the queue is empty, or once it holds the next message and no connection is up (the next accepted
connection has it send that message).
"""

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import attrs
import trio

from actors.clock import WallClock
from actors.connection import ConnectionLost
from actors.link import CallFailed, CallTimeout, Link
from actors.metering import register_reading_wh
from actors.ocpp import (
    REQUESTS,
    Action,
    MeterValuesRequest,
    Request,
    StartTransactionRequest,
    StartTransactionResponse,
    StopTransactionRequest,
    decode,
    encode,
)
from actors.on_demand import OnDemandTask
from actors.statistics import ChargePointCounters
from actors.storage_health import until_written
from storage import ChargePointState, QueuedMessage, StorageError
from storage.queue import overflow_victim

__all__ = [
    "HELD_LIMIT",
    "DeliveryCounts",
    "Offline",
    "Outbox",
    "QueuedAnswer",
    "RetryPolicy",
    "after_failure",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")

_DEPENDENT_ACTIONS = ("MeterValues", "StopTransaction")
"""Actions that name a transaction by its id, which must be the Central System's."""

HELD_LIMIT = 1000
"""Messages held in memory while the storage refuses writes; beyond, the oldest MeterValues is dropped."""


class Offline(Exception):
    """There is no connection on which the Central System has accepted this charge point."""


@attrs.frozen
class QueuedAnswer:
    """The Central System's answer to a queued message."""

    request: Request
    """The request as it was sent (with the Central System's transaction id)."""
    response: Any
    local_transaction: int | None
    """The local id of the transaction the message opened or named, if any."""


@attrs.frozen
class RetryPolicy:
    """How often a transaction-related message is sent before it is given up (spec 3.7.1, 9.1.31-32)."""

    attempts: int
    """TransactionMessageAttempts: failed transmissions after which the message is dropped."""
    retry_interval: float
    """TransactionMessageRetryInterval, seconds: the wait before a retry, times the failures so far."""


def after_failure(failures: int, policy: RetryPolicy) -> float | None:
    """Seconds to wait before sending a message again after its ``failures``-th failed transmission, or
    ``None`` to drop it (it has failed as many times as ``TransactionMessageAttempts`` allows).

    Spec 3.7.1: with 3 attempts and an interval of 60, the retries come after 60 s and 120 s; the third
    failure drops the message.
    """
    if failures >= policy.attempts:
        return None
    return policy.retry_interval * failures


@attrs.define
class DeliveryCounts:
    """What became of the messages this outbox took from the queue."""

    delivered: int = 0
    """Answered with a CALLRESULT."""
    failures: int = 0
    """Transmissions the Central System failed to process (answered with a CALLERROR)."""
    timeouts: int = 0
    """Transmissions not answered in time (sent again; not a failure to process)."""
    given_up: int = 0
    """Dropped after their last allowed attempt."""
    orphaned: int = 0
    """Dropped because the StartTransaction of their transaction was dropped."""


AnswerListener = Callable[[QueuedAnswer], Awaitable[None]]


@attrs.frozen(eq=False)
class _Held:
    """A message the storage did not take yet, and what to do once it has."""

    request: Request
    local_transaction: int | None
    then: Callable[[], Awaitable[None]] | None


class Outbox:
    """The way out of one charge point, with its persistent queue of transaction-related messages."""

    def __init__(
        self,
        state: ChargePointState,
        clock: WallClock,
        policy: Callable[[], RetryPolicy],
        *,
        name: str = "",
        statistics: ChargePointCounters | None = None,
    ) -> None:
        """``statistics`` counts the queue's depth and the sessions whose messages it queues."""
        self._state = state
        self._statistics = statistics
        self._clock = clock
        self._policy = policy
        self._name = name
        self._link: Link | None = None
        self._sender = OnDemandTask(self._send_queue, name=f"{name} outbox")
        self._queued = False
        """A message was committed since the sender last read the head of the queue."""
        self._next: tuple[QueuedMessage, Request] | None = None
        """The head of the queue, ready to send while offline: the next accepted connection sends it first."""
        self._emptied: trio.Event | None = None  # made when someone waits for the queue to empty: rarely
        self._applying = False
        """An answer came and is being applied (kept, handed to ``on_answer``)."""
        self._applied: trio.Event | None = None  # made when someone waits for that: rarely
        self.in_order = trio.Lock()
        """Held by a connector from taking a transaction-related message's timestamp (and meter reading)
        until the message is queued, so that the queue's order is the order of the timestamps across the
        connectors of the charge point (spec 3.7: chronological order)."""
        self.on_answer: AnswerListener | None = None
        """Hears of every answer to a queued message, before the next message leaves."""
        self.counts = DeliveryCounts()
        # a list rather than a deque: it is nearly always empty, and an empty deque takes ten times the memory
        self._held: list[_Held] = []

    @property
    def held(self) -> int:
        """How many messages wait in memory for the storage to take them."""
        return len(self._held)

    def power_on(self) -> None:
        """A new power-on: what was held in memory is gone (the transactions' records stop them)."""
        if self._held:
            _log.warning("%s: %d message(s) held in memory lost", self._name, len(self._held))
        self._held.clear()

    @property
    def online(self) -> bool:
        """Whether a connection is up and the Central System has accepted the charge point."""
        return self._link is not None

    def start(self, nursery: trio.Nursery, *, queued: int) -> None:
        """Deliver the queue in ``nursery`` (the power-on's) from now on; ``queued`` is how many messages it
        held at power-on (the state's ``depth``): if any, the sender looks at them now."""
        if self._statistics is not None:
            self._statistics.queue_is(queued)
        self._next = None
        if queued:
            self._sender.wake()
        self._sender.start(nursery)

    def stop(self) -> None:
        """Deliver no more: the power-on's nursery is closing."""
        self._sender.stop()

    def attach(self, link: Link) -> None:
        """A connection is up and accepted: start sending."""
        self._link = link
        if self._next is not None and not self._sender.running:
            self._sender.wake()

    def detach(self) -> None:
        """The connection is gone: calls fail, the queue waits."""
        self._link = None

    async def call(self, request: Request) -> Any:
        """Send a message now and return the answer; raises :class:`Offline` and the errors of a CALL."""
        link = self._link
        if link is None:
            raise Offline(f"{request.action} not sent: offline")
        return await link.call(request)

    async def new_local_transaction(self) -> int:
        """A local id for a new transaction (negative, never handed out before, not even before a reboot)."""
        return await self._state.new_local_transaction()

    async def queue(
        self,
        request: Request,
        *,
        local_transaction: int | None = None,
        then: Callable[[], Awaitable[None]] | None = None,
    ) -> bool:
        """Commit a transaction-related message to the queue; whether it is durable when this returns. Call
        it holding :attr:`in_order`.

        ``local_transaction`` names the transaction a StartTransaction opens, or the one a StopTransaction
        or MeterValues refers to: their ``transactionId`` is replaced by the Central System's id when sent.
        ``then`` runs once the message is committed (it must not raise :class:`storage.StorageError`).

        If the storage refuses it (or a message held before it), a StartTransaction raises
        :class:`storage.StorageError`; another message is held, to be committed later, and False returned.
        """
        held = _Held(request, local_transaction, then)
        self._held.append(held)
        try:
            await self.flush()
        except StorageError:
            if isinstance(request, StartTransactionRequest):
                self._held.remove(held)
                raise
            actions = ((index, waiting.request.action) for index, waiting in enumerate(self._held))
            victim = overflow_victim(len(self._held) - 1, HELD_LIMIT, actions)
            if victim is not None:
                _log.warning("%s: a held MeterValues dropped: %d messages held", self._name, HELD_LIMIT)
                del self._held[victim]
            return False
        return True

    async def flush(self) -> None:
        """Commit the held messages in order; raises :class:`storage.StorageError` at the first that the
        storage refuses (it and those after it stay held). Call it holding :attr:`in_order`."""
        while self._held:
            held = self._held[0]
            request, local_transaction = held.request, held.local_transaction
            await self._state.enqueue(request.action, encode(request), local_transaction=local_transaction)
            del self._held[0]
            self._committed(request, local_transaction)
            if held.then is not None:
                await held.then()

    def _committed(self, request: Request, local_transaction: int | None) -> None:
        """``request`` joined the queue."""
        self._queued = True
        if self._next is None and not self._sender.running:  # with a next message, it waits for a connection
            self._sender.wake()
        statistics = self._statistics
        if statistics is not None:
            statistics.queue_is(statistics.queue_depth + 1)
            if isinstance(request, StartTransactionRequest):
                statistics.session_started(local_transaction, request.meter_start)
            elif isinstance(request, StopTransactionRequest):
                statistics.session_stopped(local_transaction, request.meter_stop)
            elif isinstance(request, MeterValuesRequest):
                register = register_reading_wh(request.meter_value)
                if register is not None:
                    statistics.session_metered(local_transaction, register)

    def _left_queue(self, messages: int) -> None:
        """``messages`` left the queue (answered, given up or dropped)."""
        if self._statistics is not None and messages:
            self._statistics.queue_is(max(0, self._statistics.queue_depth - messages))

    async def drained(self) -> None:
        """Return once the queue is empty and nothing is held."""
        while self._held or await self._state.depth() > 0:
            if self._emptied is None:
                self._emptied = trio.Event()
            await self._emptied.wait()

    async def answers_applied(self) -> None:
        """Return once the answer the sender has received, if any, is applied: a transaction id the Central
        System has just given is then known to its connector."""
        await trio.lowlevel.checkpoint()  # a sender woken by an answer takes its turn first
        while self._applying:
            if self._applied is None:
                self._applied = trio.Event()
            await self._applied.wait()

    async def _send_queue(self) -> None:
        """The sender: deliver the queue, one message at a time, until it is empty or no connection is up."""
        while True:
            ready, self._next = self._next, None
            if ready is None:
                self._queued = False
                message = await self._written(self._state.head)
                if message is None:
                    self._now_empty()
                    if self._queued:
                        continue
                    return
                ready = await self._ready_to_send(message)
                if ready is None:
                    continue
            link = self._link
            if link is None:
                self._next = ready
                return
            await self._deliver(link, *ready)

    def _now_empty(self) -> None:
        if self._statistics is not None:
            self._statistics.queue_is(0)  # the counter is exact again
        if self._emptied is not None:
            self._emptied.set()
            self._emptied = None

    async def _ready_to_send(self, message: QueuedMessage) -> tuple[QueuedMessage, Request] | None:
        """``message`` and its request once it may be sent (after its retry interval), or ``None`` if it was
        dropped."""
        request = await self._request(message)
        if request is None:
            return None
        if message.next_attempt_at is not None:
            await trio.sleep((message.next_attempt_at - self._clock.now()).total_seconds())
        await trio.lowlevel.checkpoint()  # the tasks woken with the sender take their turn before it sends
        return message, request

    async def _deliver(self, link: Link, message: QueuedMessage, request: Request) -> None:
        try:
            response = await link.call(request)
        except ConnectionLost:
            return  # not an attempt: sent again once connected
        except CallTimeout as problem:
            await self._not_delivered(message, problem)
            return
        except CallFailed as problem:
            await self._failed(message, problem)
            return
        self._applying = True
        try:
            await self._answered(message, request, response)
            self.counts.delivered += 1
            if self.on_answer is not None:
                await self.on_answer(QueuedAnswer(request, response, message.local_transaction))
        finally:
            self._applying = False
            if self._applied is not None:
                self._applied.set()
                self._applied = None

    async def _answered(self, message: QueuedMessage, request: Request, response: Any) -> None:
        """Keep what an answer teaches (the transaction id) and take the message out of the queue; each
        written again until it is kept, and nothing else leaves meanwhile."""
        local = message.local_transaction
        if isinstance(response, StartTransactionResponse) and local is not None:
            await self._written(self._state.set_transaction_id, local, response.transaction_id)
        await self._written(self._state.remove, message.seq)
        self._left_queue(1)
        if isinstance(request, StopTransactionRequest) and local is not None:
            self._left_queue(await self._written(self._state.drop_transaction, local))  # its id goes

    async def _written(self, write: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``write(*args)`` (or a read), again every ``STORAGE_RETRY_INTERVAL`` until the storage takes it."""
        return await until_written(functools.partial(write, *args), what=write.__name__, name=self._name)

    async def _request(self, message: QueuedMessage) -> Request | None:
        """The request to send for ``message``, or ``None`` if it was dropped: it names a transaction that
        never got an id from the Central System."""
        request: Request = decode(REQUESTS[Action(message.action)], message.payload)
        if message.local_transaction is None or message.action not in _DEPENDENT_ACTIONS:
            return request
        if message.transaction_id is None:
            dropped = await self._written(self._state.drop_transaction, message.local_transaction)
            self.counts.orphaned += dropped
            self._left_queue(dropped)
            _log.warning(
                "%s: dropped %d message(s) of transaction %d: its StartTransaction was never answered",
                self._name,
                dropped,
                message.local_transaction,
            )
            return None
        assert isinstance(request, MeterValuesRequest | StopTransactionRequest)
        return attrs.evolve(request, transaction_id=message.transaction_id)

    async def _not_delivered(self, message: QueuedMessage, problem: Exception) -> None:
        """No answer in time: a failed delivery, not a failure to process (OCPP-J), so not an attempt; sent
        again after ``TransactionMessageRetryInterval``, so that a slow Central System is not flooded."""
        self.counts.timeouts += 1
        wait = self._policy().retry_interval
        _log.info("%s: %s not answered, again in %g s: %s", self._name, message.action, wait, problem)
        await trio.sleep(wait)

    async def _failed(self, message: QueuedMessage, problem: Exception) -> None:
        """The Central System failed to process ``message``: try again later, or give it up (3.7.1)."""
        self.counts.failures += 1
        failures = message.attempts + 1
        wait = after_failure(failures, self._policy())
        if wait is None:
            self.counts.given_up += 1
            _log.warning(
                "%s: %s dropped after %d failed attempts: %s", self._name, message.action, failures, problem
            )
            await self._written(self._state.remove, message.seq)
            self._left_queue(1)
            if message.action == "StartTransaction" and message.local_transaction is not None:
                dropped = await self._written(self._state.drop_transaction, message.local_transaction)
                self.counts.orphaned += dropped
                self._left_queue(dropped)
                if dropped:
                    _log.warning("%s: dropped %d later message(s) of its transaction", self._name, dropped)
            return
        _log.info(
            "%s: %s failed (%d of %d attempts), again in %g s: %s",
            self._name,
            message.action,
            failures,
            self._policy().attempts,
            wait,
            problem,
        )
        next_attempt_at = self._clock.now() + timedelta(seconds=wait)
        await self._written(self._state.record_attempt, message.seq, next_attempt_at)
