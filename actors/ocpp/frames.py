"""OCPP-J framing: the three kinds of WebSocket message and their JSON arrays.

======== ====== ===================================================================
frame    type   JSON
======== ====== ===================================================================
CALL     2      ``[2, "<uniqueId>", "<Action>", {payload}]``
RESULT   3      ``[3, "<uniqueId>", {payload}]``
ERROR    4      ``[4, "<uniqueId>", "<errorCode>", "<errorDescription>", {errorDetails}]``
======== ====== ===================================================================

:func:`parse_frame` checks only the frame's structure; payloads are decoded by :mod:`actors.ocpp.codec`
once the action is known.
"""

import json
from typing import Any

import attrs

from actors.ocpp.errors import ErrorCode, RemoteProtocolError

__all__ = [
    "MAX_UNIQUE_ID_LENGTH",
    "Call",
    "CallError",
    "CallResult",
    "Frame",
    "FrameError",
    "parse_frame",
    "serialize",
]

MAX_UNIQUE_ID_LENGTH = 36

CALL = 2
CALL_RESULT = 3
CALL_ERROR = 4


@attrs.frozen
class Call:
    """A request: the action's name as received, and its undecoded payload."""

    unique_id: str
    action: str
    payload: dict[str, Any]


@attrs.frozen
class CallResult:
    """A successful answer, with its undecoded payload."""

    unique_id: str
    payload: dict[str, Any]


@attrs.frozen
class CallError:
    """An error answer."""

    unique_id: str
    code: ErrorCode
    description: str = ""
    details: dict[str, Any] = attrs.Factory(dict)


Frame = Call | CallResult | CallError


class FrameError(RemoteProtocolError):
    """A message that is not a well-formed frame.

    ``message_type`` and ``unique_id`` are what could be read of it (``None`` if nothing could); only a
    CALL whose id could be read can be answered with a CALLERROR.
    """

    def __init__(
        self, description: str, *, message_type: int | None = None, unique_id: str | None = None
    ) -> None:
        super().__init__(ErrorCode.FORMATION_VIOLATION, description)
        self.message_type = message_type
        self.unique_id = unique_id

    @property
    def answerable(self) -> bool:
        """Whether a CALLERROR can answer this message: it is a CALL whose id we could read."""
        return self.message_type == CALL and self.unique_id is not None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def parse_frame(text: str | bytes) -> Frame:
    """Parse one WebSocket message into a frame, or raise :class:`FrameError`."""
    try:
        message = _DECODER.decode(text if isinstance(text, str) else text.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise FrameError(f"not JSON: {exc}") from None
    if type(message) is not list or not message or type(message[0]) is not int:
        raise FrameError("a frame must be a JSON array starting with the message type number")
    message_type = message[0]
    unique_id = message[1] if len(message) > 1 and type(message[1]) is str else None
    if unique_id is None:
        raise FrameError("the unique id must be a string", message_type=message_type)
    if len(unique_id) > MAX_UNIQUE_ID_LENGTH:
        raise FrameError(
            f"the unique id is {len(unique_id)} characters long, at most {MAX_UNIQUE_ID_LENGTH} allowed",
            message_type=message_type,
            unique_id=unique_id,
        )
    if message_type == CALL:
        return _call(message, unique_id)
    if message_type == CALL_RESULT:
        return _call_result(message, unique_id)
    if message_type == CALL_ERROR:
        return _call_error(message, unique_id)
    raise FrameError(f"unknown message type {message_type}", message_type=message_type, unique_id=unique_id)


def _call(message: list[Any], unique_id: str) -> Call:
    if len(message) != 4 or type(message[2]) is not str or type(message[3]) is not dict:
        raise FrameError(
            'a CALL is [2, "<uniqueId>", "<Action>", {payload}]', message_type=CALL, unique_id=unique_id
        )
    return Call(unique_id, message[2], message[3])


def _call_result(message: list[Any], unique_id: str) -> CallResult:
    if len(message) != 3 or type(message[2]) is not dict:
        raise FrameError(
            'a CALLRESULT is [3, "<uniqueId>", {payload}]', message_type=CALL_RESULT, unique_id=unique_id
        )
    return CallResult(unique_id, message[2])


def _call_error(message: list[Any], unique_id: str) -> CallError:
    if (
        len(message) != 5
        or type(message[2]) is not str
        or type(message[3]) is not str
        or type(message[4]) is not dict
    ):
        raise FrameError(
            'a CALLERROR is [4, "<uniqueId>", "<errorCode>", "<errorDescription>", {errorDetails}]',
            message_type=CALL_ERROR,
            unique_id=unique_id,
        )
    return CallError(unique_id, ErrorCode.from_wire(message[2]), message[3], message[4])


def serialize(frame: Frame) -> str:
    """The text of a frame, compact JSON with non-ASCII characters kept as they are."""
    if isinstance(frame, Call):
        message: list[Any] = [CALL, frame.unique_id, frame.action, frame.payload]
    elif isinstance(frame, CallResult):
        message = [CALL_RESULT, frame.unique_id, frame.payload]
    else:
        message = [CALL_ERROR, frame.unique_id, str(frame.code), frame.description, frame.details]
    return _ENCODER.encode(message)
