"""Whatever arrives, decoding raises nothing but the protocol's own error, and the session never raises."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.ocpp import (
    REQUESTS,
    RESPONSES,
    Action,
    CallReceived,
    Event,
    InvalidCall,
    RemoteProtocolError,
    RpcSession,
    decode,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
ALL_CLASSES = [*REQUESTS.values(), *RESPONSES.values()]
FIELD_NAMES = [
    "idTag",
    "connectorId",
    "status",
    "meterValue",
    "sampledValue",
    "timestamp",
    "chargingSchedule",
]


def objects_like_payloads() -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the keys payloads use, holding anything, so that decoding goes deep."""
    return st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), json_values, max_size=6)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda cls: cls.__name__)
@given(payload=json_values | objects_like_payloads())
def test_decoding_any_json_raises_only_protocol_errors(cls: Any, payload: Any) -> None:
    try:
        decode(cls, payload)
    except RemoteProtocolError as error:
        code = error.code
    else:
        return
    assert code in {
        "FormationViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "PropertyConstraintViolation",
    }


def receive_anything(text: str | bytes) -> Event:
    session = RpcSession()
    session.call(REQUESTS[Action.HEARTBEAT]())
    return session.receive(text)


@given(text=st.text() | st.binary())
def test_any_text_becomes_an_event(text: str | bytes) -> None:
    receive_anything(text)


@given(message=st.lists(json_values, max_size=6))
def test_any_json_array_becomes_an_event(message: list[Any]) -> None:
    receive_anything(json.dumps(message))


@given(
    action=st.sampled_from([action.value for action in Action]) | st.text(max_size=20),
    unique_id=st.text(max_size=40),
    payload=objects_like_payloads(),
)
def test_any_call_is_either_handled_or_answered_with_an_error(
    action: str, unique_id: str, payload: Any
) -> None:
    session = RpcSession()
    event = session.receive(json.dumps([2, unique_id, action, payload]))
    assert isinstance(event, CallReceived | InvalidCall)
    if isinstance(event, InvalidCall):
        assert json.loads(session.reject(event))[:2] == [4, unique_id]
