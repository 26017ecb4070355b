"""Our end of one OCPP-J connection: the reader that never stops draining, our CALLs, and our answers.

A :class:`Link` lives as long as its connection, inside the nursery that holds the connection's tasks. When
the connection is lost, the link cancels that nursery, so everything that was using the connection stops at
once; :attr:`Link.lost_reason` tells why.
"""

import logging
from collections.abc import Callable
from typing import Any

import trio

from actors.alarm import Alarm
from actors.connection import Connection, ConnectionLost
from actors.ocpp import (
    AnswerDropped,
    CallReceived,
    ErrorCode,
    ErrorReceived,
    InvalidCall,
    InvalidResult,
    MessageDropped,
    Request,
    Response,
    ResultReceived,
    RpcSession,
)
from actors.quick_lock import QuickLock
from actors.statistics import ActionCounts, Statistics

__all__ = ["CallFailed", "CallTimeout", "IncomingCall", "Link"]

IncomingCall = CallReceived | InvalidCall

_log = logging.getLogger(__name__)


class CallFailed(Exception):
    """Our CALL was answered with a CALLERROR, or with an answer that breaks the protocol."""

    def __init__(self, code: ErrorCode, description: str) -> None:
        super().__init__(f"{code}: {description}" if description else str(code))
        self.code = code
        self.description = description


class CallTimeout(Exception):
    """Our CALL got no answer within the answer timeout."""


_Answer = ResultReceived | ErrorReceived | InvalidResult


class Link:
    """Sends our CALLs one at a time, routes answers to them, and passes the peer's CALLs on."""

    def __init__(
        self,
        connection: Connection,
        session: RpcSession,
        cancel_scope: trio.CancelScope,
        *,
        answer_timeout: float,
        name: str,
        journal: Callable[[str | bytes, bool], None] | None = None,
        statistics: Statistics | None = None,
    ) -> None:
        """``journal(text, sent)`` hears of every message sent (``sent``) or received, as it went;
        ``statistics`` counts our CALLs and their answers."""
        self._connection = connection
        self._statistics = statistics
        self._answered_at = 0.0
        self._journal = journal
        self._session = session
        self._cancel_scope = cancel_scope
        self._answer_timeout = answer_timeout
        self._name = name
        self._call_lock = QuickLock()
        self._awaiting_answer = False
        self._answer_alarm = Alarm()
        """Rings the caller awake when its answer is in or the link is lost (a lighter wait than an event
        and a cancel scope for its timeout, which nearly never comes)."""
        self._answer: _Answer | None = None
        self.lost_reason: str | None = None
        self.answered = False
        """Whether the peer answered one of our CALLs with a result: the connection worked."""
        self._closing = False
        self.last_sent = trio.current_time()
        """When we last sent anything, in trio time (the heartbeat counts silence from here)."""

    @property
    def busy(self) -> bool:
        """Whether a CALL of ours is under way: another one waits for its turn."""
        return self._call_lock.locked()

    async def call(self, request: Request) -> Any:
        """Send our CALL and return the response object.

        Raises :class:`CallFailed` (CALLERROR or invalid answer), :class:`CallTimeout` (the answer timeout
        ends on a tick of :mod:`actors.alarm`, up to 1/16 s late), or :class:`ConnectionLost` if the
        connection ends first.

        Callers wait their turn: there is at most one outstanding CALL.
        """
        statistics = self._statistics
        counts = None if statistics is None else statistics.action(request.action)
        async with self._call_lock:
            if self.lost_reason is not None:  # the session forgot its CALLs when the link was lost; one
                await trio.lowlevel.checkpoint()  # sent now would stay outstanding and block every later one
                raise ConnectionLost(self.lost_reason)
            unique_id, text = self._session.call(request)
            self._awaiting_answer = True
            self._answer = None
            sending_at, sent_at = trio.current_time(), None
            try:
                await self._send(text)
                sent_at = sending_at
                if counts is not None:
                    counts.sent += 1
                if self._answer is None and self.lost_reason is None:  # else it came while we sent
                    await self._answer_alarm.sleep_until(sending_at + self._answer_timeout)
            except trio.Cancelled:
                self._session.give_up()  # whoever calls next on this link must not find it outstanding
                if counts is not None and sent_at is not None:
                    counts.lost += 1
                raise
            finally:
                self._awaiting_answer = False
            answer, self._answer = self._answer, None
            if answer is None and self.lost_reason is not None:
                if counts is not None:
                    counts.lost += 1
                await trio.lowlevel.checkpoint()  # a caller in our nursery is cancelled here, as it must be
                raise ConnectionLost(self.lost_reason)
            if answer is None:
                self._session.give_up()
                if counts is not None:
                    counts.timeouts += 1
                raise CallTimeout(f"{request.action} {unique_id} not answered in {self._answer_timeout:g} s")
            if counts is not None and sent_at is not None:
                self._count_answer(counts, answer, max(0.0, self._answered_at - sent_at))
        if isinstance(answer, ResultReceived):
            response: Response = answer.response
            return response
        if isinstance(answer, ErrorReceived):
            raise CallFailed(answer.code, answer.description)
        raise CallFailed(answer.error.code, answer.error.description)

    @staticmethod
    def _count_answer(counts: ActionCounts, answer: _Answer, seconds: float) -> None:
        if isinstance(answer, ResultReceived):
            counts.answer(seconds)
        elif isinstance(answer, ErrorReceived):
            counts.error(answer.code, seconds)
        else:
            counts.error(answer.error.code, seconds)

    async def answer(self, unique_id: str, response: Response) -> None:
        """Answer the peer's CALL with a result."""
        await self._send(self._session.result(unique_id, response))

    async def answer_error(self, unique_id: str, code: ErrorCode, description: str) -> None:
        """Answer the peer's CALL with a CALLERROR."""
        await self._send(self._session.error(unique_id, code, description))

    async def reject(self, event: InvalidCall) -> None:
        """Answer an invalid CALL of the peer with the CALLERROR it deserves."""
        await self._send(self._session.reject(event))

    async def close(self, reason: str) -> None:
        """Close the connection politely; the link is lost with ``reason``."""
        self._closing = True  # the reader must not cut the closing handshake short
        await self._connection.close(reason)
        self._lose(reason)

    def drop(self, reason: str) -> None:
        """Drop the connection at once, as a power cut would; the link is lost with ``reason``."""
        self._lose(reason)

    async def run_reader(self, take_call: Callable[[IncomingCall], bool]) -> None:
        """Drain the connection: answers go to the waiting :meth:`call`, the peer's CALLs to ``take_call``,
        which says whether it took the CALL (else too many wait: the CALL is refused at once)."""
        while True:
            try:
                text = await self._connection.receive()
            except ConnectionLost as lost:
                if not self._closing:
                    self._lose(str(lost))
                return
            if self._journal is not None:
                self._journal(text, False)
            event = self._session.receive(text)
            if isinstance(event, CallReceived | InvalidCall):
                if not take_call(event):  # never wait for the answerer: it may wait for an answer we read
                    _log.warning("%s: CALL %s refused: too many CALLs wait", self._name, event.unique_id)
                    busy = "too many CALLs wait for their answers"
                    await self._send(self._session.error(event.unique_id, ErrorCode.GENERIC_ERROR, busy))
            elif isinstance(event, AnswerDropped):
                late = "late " if event.late else ""
                _log.warning("%s: %sanswer to CALL %s dropped", self._name, late, event.unique_id)
            elif isinstance(event, MessageDropped):
                _log.warning("%s: message dropped: %s", self._name, event.error.description)
            elif self._awaiting_answer:
                self.answered = self.answered or isinstance(event, ResultReceived)
                self._answer = event
                self._answered_at = trio.current_time()
                self._answer_alarm.ring()

    async def _send(self, text: str) -> None:
        try:
            await self._connection.send(text)
        except ConnectionLost as lost:
            self._lose(str(lost))
            await trio.lowlevel.checkpoint()  # the cancellation of our own scope takes effect here
            raise
        self.last_sent = trio.current_time()
        if self._journal is not None:
            self._journal(text, True)

    def _lose(self, reason: str) -> None:
        if self.lost_reason is None:
            self.lost_reason = reason
            self._session.connection_lost()
        if self._awaiting_answer:  # a caller outside our nursery must not wait for the timeout
            self._answer_alarm.ring()
        self._cancel_scope.cancel()
