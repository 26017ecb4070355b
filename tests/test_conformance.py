"""Conformance of our codec with the official OCPP 1.6 JSON schemas, for all 28 actions in both directions.

The payloads come from the schemas (tests/oracle.py) and from the examples of the specification's field
tables (tests/data/core_examples.json), never from our own classes; what our converter produces is judged
by the schemas.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import ACTIONS, KINDS, errors, maximal, minimal, mutations, payloads, same_instant, schema

from actors.ocpp import REQUESTS, RESPONSES, Action, RemoteProtocolError, decode, encode

BOTH_DIRECTIONS = [(action, kind) for action in ACTIONS for kind in KINDS]
EXAMPLES = json.loads((Path(__file__).parent / "data" / "core_examples.json").read_text())["examples"]


def payload_class(action: str, kind: str) -> Any:
    return (REQUESTS if kind == "req" else RESPONSES)[Action(action)]


def assert_equivalent(ours: Any, theirs: Any, node: dict[str, Any]) -> None:
    """Equal as JSON, except that date-times only need to name the same instant (we send UTC ``Z``)."""
    if node.get("format") == "date-time":
        assert same_instant(ours, theirs), (ours, theirs)
    elif node.get("type") == "object":
        assert set(ours) == set(theirs)
        for key in ours:
            assert_equivalent(ours[key], theirs[key], node["properties"][key])
    elif node.get("type") == "array":
        assert len(ours) == len(theirs)
        for our_item, their_item in zip(ours, theirs, strict=True):
            assert_equivalent(our_item, their_item, node["items"])
    else:
        assert ours == theirs
        assert type(ours) is type(theirs) or node.get("type") == "number"


def round_trip(action: str, kind: str, payload: dict[str, Any]) -> None:
    assert errors(action, kind, payload) == [], "the oracle must accept the input"
    encoded = encode(decode(payload_class(action, kind), payload))
    assert errors(action, kind, encoded) == []
    assert_equivalent(encoded, payload, schema(action, kind))
    json.dumps(encoded)  # plain JSON types only


def test_the_28_actions_have_a_request_and_a_response_class() -> None:
    assert sorted(action.value for action in REQUESTS) == sorted(ACTIONS)
    assert sorted(action.value for action in RESPONSES) == sorted(ACTIONS)
    for action in ACTIONS:
        assert REQUESTS[Action(action)].action == action
        assert RESPONSES[Action(action)].action == action


@pytest.mark.parametrize(("action", "kind"), BOTH_DIRECTIONS)
def test_minimal_payload_round_trips(action: str, kind: str) -> None:
    round_trip(action, kind, minimal(schema(action, kind)))


@pytest.mark.parametrize(("action", "kind"), BOTH_DIRECTIONS)
def test_maximal_payload_round_trips(action: str, kind: str) -> None:
    round_trip(action, kind, maximal(schema(action, kind)))


@pytest.mark.parametrize(("action", "kind"), BOTH_DIRECTIONS)
@given(data=st.data())
def test_generated_payloads_round_trip(action: str, kind: str, data: st.DataObject) -> None:
    round_trip(action, kind, data.draw(payloads(schema(action, kind))))


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=[f"{example['action']}.{example['kind']}" for example in EXAMPLES]
)
def test_specification_examples_round_trip(example: dict[str, Any]) -> None:
    round_trip(example["action"], example["kind"], example["payload"])


MUTATIONS = [
    pytest.param(action, kind, broken, code, id=f"{action}.{kind}: {what}")
    for action, kind in BOTH_DIRECTIONS
    for what, broken, code in mutations(action, kind)
]


@pytest.mark.parametrize(("action", "kind", "broken", "code"), MUTATIONS)
def test_schema_invalid_payload_is_rejected_with_the_right_code(
    action: str, kind: str, broken: dict[str, Any], code: str
) -> None:
    assert errors(action, kind, broken), "the oracle must reject the input"
    with pytest.raises(RemoteProtocolError) as raised:
        decode(payload_class(action, kind), broken)
    assert raised.value.code == code
    assert raised.value.description.startswith(action)


def test_every_action_and_direction_has_faults_of_each_kind() -> None:
    codes = {(param.values[0], param.values[1], param.values[3]) for param in MUTATIONS}
    for action, kind in BOTH_DIRECTIONS:
        assert (action, kind, "FormationViolation") in codes
    assert {code for _, _, code in codes} == {
        "FormationViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "PropertyConstraintViolation",
    }
