"""A sans-IO OCPP-J RPC session: text in, events out; our messages in, text out.

The session does no I/O and reads no clock. Its owner feeds it each received WebSocket message with
:meth:`RpcSession.receive` and acts on the event it returns; to send, it asks the session for the text of a
CALL, a result or an error. The session enforces the protocol's bookkeeping:

- at most one outstanding CALL of ours (a second one is a :class:`LocalProtocolError`);
- every answer is matched to our CALL by its id; an answer to an id we are not waiting for is reported as
  :class:`AnswerDropped`, never raised;
- every CALL of the peer is answered exactly once, with the id it came with.

Timeouts are the owner's business: when it stops waiting it calls :meth:`RpcSession.give_up`. When the
connection is lost it calls :meth:`RpcSession.connection_lost`.
"""

import random
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs

from actors.ocpp import codec
from actors.ocpp.enums import Action
from actors.ocpp.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from actors.ocpp.frames import Call, CallError, CallResult, FrameError, parse_frame, serialize
from actors.ocpp.messages import CENTRAL_SYSTEM_INITIATED, REQUESTS, RESPONSES, Request, Response

__all__ = [
    "AnswerDropped",
    "CallReceived",
    "ErrorReceived",
    "Event",
    "InvalidCall",
    "InvalidResult",
    "MessageDropped",
    "ResultReceived",
    "RpcSession",
    "uuid4_text",
]

_REMEMBERED_GIVEN_UP = 16


@attrs.frozen
class CallReceived:
    """The peer's valid CALL; answer it with :meth:`RpcSession.result` or :meth:`RpcSession.error`."""

    unique_id: str
    request: Request


@attrs.frozen
class InvalidCall:
    """The peer's CALL that cannot be handled; answer it with :meth:`RpcSession.reject`."""

    unique_id: str
    error: RemoteProtocolError


@attrs.frozen
class ResultReceived:
    """The valid result of our outstanding CALL."""

    unique_id: str
    request: Request
    response: Response


@attrs.frozen
class ErrorReceived:
    """The CALLERROR answering our outstanding CALL."""

    unique_id: str
    request: Request
    code: ErrorCode
    description: str
    details: dict[str, Any]


@attrs.frozen
class InvalidResult:
    """An answer to our outstanding CALL that breaks the protocol; the CALL is over and failed."""

    unique_id: str
    request: Request
    error: RemoteProtocolError


@attrs.frozen
class AnswerDropped:
    """An answer to an id we are not waiting for; ``late`` if it answers a CALL we gave up on."""

    unique_id: str
    late: bool


@attrs.frozen
class MessageDropped:
    """A message that cannot be answered (not a frame, no readable id, a duplicate id); dropped."""

    error: RemoteProtocolError
    unique_id: str | None = None


Event = (
    CallReceived
    | InvalidCall
    | ResultReceived
    | ErrorReceived
    | InvalidResult
    | AnswerDropped
    | MessageDropped
)


_random_ids = random.Random()
"""Where the ids of our CALLs come from: they must be unique, not secret, and ``uuid4`` asks the operating
system for randomness at every CALL (a system call per Heartbeat of thousands of charge points)."""


_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64)) & ((1 << 128) - 1)
_UUID4_SET = (0x8000 << 48) | (4 << 76)


def uuid4_text(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))`` for 128 random ``bits``, without the ``UUID`` object (a
    quarter of the cost, at every CALL)."""
    digits = "%032x" % ((bits & _UUID4_CLEAR) | _UUID4_SET)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _new_unique_id() -> str:
    return uuid4_text(_random_ids.getrandbits(128))


@attrs.frozen
class _Outstanding:
    unique_id: str
    request: Request


class RpcSession:
    """One side of an OCPP-J connection.

    ``handles`` are the actions whose CALLs this side accepts (by default those a Central System sends,
    so the session plays a charge point); a CALL of another known action is answered ``NotSupported``, of
    an unknown one ``NotImplemented``. ``new_unique_id`` makes the ids of our CALLs (UUID4 strings).
    """

    def __init__(
        self,
        *,
        handles: frozenset[Action] = CENTRAL_SYSTEM_INITIATED,
        new_unique_id: Callable[[], str] = _new_unique_id,
    ) -> None:
        self._handles = handles
        self._new_unique_id = new_unique_id
        self._outstanding: _Outstanding | None = None
        self._given_up: deque[str] | None = None  # made at the first CALL given up: most never are
        self._unanswered: set[str] = set()

    @property
    def outstanding(self) -> Request | None:
        """Our CALL that still waits for its answer, if any."""
        return self._outstanding.request if self._outstanding else None

    @property
    def unanswered(self) -> frozenset[str]:
        """Ids of the peer's CALLs that we have not answered yet."""
        return frozenset(self._unanswered)

    # --- sending --------------------------------------------------------------------------------------

    def call(self, request: Request) -> tuple[str, str]:
        """Start our CALL: returns its unique id and the text to send."""
        if self._outstanding is not None:
            raise LocalProtocolError(
                ErrorCode.GENERIC_ERROR,
                f"cannot send {request.action}: {self._outstanding.request.action} is still outstanding",
            )
        unique_id = self._new_unique_id()
        self._outstanding = _Outstanding(unique_id, request)
        return unique_id, serialize(Call(unique_id, request.action, codec.encode(request)))

    def result(self, unique_id: str, response: Response) -> str:
        """The text of the result answering the peer's CALL ``unique_id``."""
        self._answer(unique_id)
        return serialize(CallResult(unique_id, codec.encode(response)))

    def error(
        self,
        unique_id: str,
        code: ErrorCode,
        description: str = "",
        details: dict[str, Any] | None = None,
    ) -> str:
        """The text of a CALLERROR answering the peer's CALL ``unique_id``."""
        self._answer(unique_id)
        return serialize(CallError(unique_id, code, description, details or {}))

    def reject(self, event: InvalidCall) -> str:
        """The text of the CALLERROR that answers an :class:`InvalidCall`."""
        return self.error(event.unique_id, event.error.code, event.error.description, event.error.details)

    def _answer(self, unique_id: str) -> None:
        try:
            self._unanswered.remove(unique_id)
        except KeyError:
            raise LocalProtocolError(
                ErrorCode.GENERIC_ERROR, f"no unanswered CALL of the peer has id {unique_id!r}"
            ) from None

    def give_up(self) -> None:
        """Stop waiting for the answer to our outstanding CALL (it timed out); a late answer is dropped."""
        if self._outstanding is not None:
            if self._given_up is None:
                self._given_up = deque(maxlen=_REMEMBERED_GIVEN_UP)
            self._given_up.append(self._outstanding.unique_id)
            self._outstanding = None

    def connection_lost(self) -> None:
        """Forget every CALL in flight: answers cannot cross to a new connection."""
        self.give_up()
        self._unanswered.clear()

    # --- receiving ------------------------------------------------------------------------------------

    def receive(self, text: str | bytes) -> Event:
        """Take one received WebSocket message and say what it means."""
        try:
            frame = parse_frame(text)
        except FrameError as error:
            return self._bad_frame(error)
        if isinstance(frame, Call):
            return self._receive_call(frame)
        return self._receive_answer(frame)

    def _bad_frame(self, error: FrameError) -> Event:
        if error.answerable and error.unique_id not in self._unanswered:
            assert error.unique_id is not None
            self._unanswered.add(error.unique_id)
            return InvalidCall(error.unique_id, error)
        outstanding = self._outstanding
        if outstanding is not None and error.unique_id == outstanding.unique_id:
            self._outstanding = None
            return InvalidResult(outstanding.unique_id, outstanding.request, error)
        return MessageDropped(error, error.unique_id)

    def _receive_call(self, frame: Call) -> Event:
        if frame.unique_id in self._unanswered:
            error = RemoteProtocolError(
                ErrorCode.PROTOCOL_ERROR, f"a CALL with id {frame.unique_id!r} is already unanswered"
            )
            return MessageDropped(error, frame.unique_id)
        self._unanswered.add(frame.unique_id)
        try:
            action = Action(frame.action)
        except ValueError:
            error = RemoteProtocolError(ErrorCode.NOT_IMPLEMENTED, f"unknown action {frame.action!r}")
            return InvalidCall(frame.unique_id, error)
        if action not in self._handles:
            error = RemoteProtocolError(ErrorCode.NOT_SUPPORTED, f"{action} is not sent to this side")
            return InvalidCall(frame.unique_id, error)
        try:
            request = codec.decode(REQUESTS[action], frame.payload)
        except RemoteProtocolError as error:
            return InvalidCall(frame.unique_id, error)
        return CallReceived(frame.unique_id, request)

    def _receive_answer(self, frame: CallResult | CallError) -> Event:
        outstanding = self._outstanding
        if outstanding is None or frame.unique_id != outstanding.unique_id:
            late = self._given_up is not None and frame.unique_id in self._given_up
            return AnswerDropped(frame.unique_id, late=late)
        self._outstanding = None
        request = outstanding.request
        if isinstance(frame, CallError):
            return ErrorReceived(frame.unique_id, request, frame.code, frame.description, frame.details)
        try:
            response = codec.decode(RESPONSES[request.action], frame.payload)
        except RemoteProtocolError as error:
            return InvalidResult(frame.unique_id, request, error)
        return ResultReceived(frame.unique_id, request, response)
