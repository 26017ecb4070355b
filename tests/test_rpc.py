"""The sans-IO RPC session, exchanging frames with the ``ocpp`` package's own framing as the peer."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.messages import Call as TheirCall
from ocpp.messages import CallError as TheirCallError
from ocpp.messages import CallResult as TheirCallResult
from ocpp.messages import unpack

from actors.ocpp import (
    CHARGE_POINT_INITIATED,
    AnswerDropped,
    AuthorizeRequest,
    BootNotificationRequest,
    BootNotificationResponse,
    CallReceived,
    ErrorCode,
    ErrorReceived,
    HeartbeatRequest,
    InvalidCall,
    InvalidResult,
    LocalProtocolError,
    MessageDropped,
    RegistrationStatus,
    RemoteStartStopStatus,
    RemoteStartTransactionRequest,
    RemoteStartTransactionResponse,
    ResultReceived,
    RpcSession,
)
from actors.ocpp.rpc import uuid4_text

BOOT = BootNotificationRequest(charge_point_vendor="Acme", charge_point_model="AC-22")


def numbered_ids() -> RpcSession:
    counter = iter(range(1, 1000))
    return RpcSession(new_unique_id=lambda: f"id-{next(counter)}")


def test_our_call_is_a_call_frame_the_peer_reads() -> None:
    session = numbered_ids()
    unique_id, text = session.call(BOOT)
    theirs = unpack(text)
    assert (theirs.message_type_id, theirs.unique_id, theirs.action) == (2, "id-1", "BootNotification")
    assert theirs.payload == {"chargePointVendor": "Acme", "chargePointModel": "AC-22"}
    assert unique_id == "id-1"
    assert session.outstanding == BOOT


def test_result_is_matched_to_our_call_and_decoded() -> None:
    session = numbered_ids()
    unique_id, _ = session.call(BOOT)
    answer = {"status": "Accepted", "currentTime": "2026-11-21T10:00:00.000+01:00", "interval": 300}
    event = session.receive(TheirCallResult(unique_id, answer).to_json())
    assert event == ResultReceived(
        unique_id,
        BOOT,
        BootNotificationResponse(
            status=RegistrationStatus.ACCEPTED,
            current_time=datetime(2026, 11, 21, 9, tzinfo=UTC),
            interval=300,
        ),
    )
    assert session.outstanding is None


def test_only_one_outstanding_call() -> None:
    session = numbered_ids()
    unique_id, _ = session.call(BOOT)
    with pytest.raises(LocalProtocolError):
        session.call(HeartbeatRequest())
    session.receive(TheirCallError(unique_id, "InternalError", "busy", {}).to_json())
    assert session.call(HeartbeatRequest())[0] == "id-2"


def test_unique_ids_are_unique_and_at_most_36_characters() -> None:
    session = RpcSession()
    seen = set()
    for _ in range(200):
        unique_id, _ = session.call(HeartbeatRequest())
        session.give_up()
        assert len(unique_id) <= 36
        seen.add(unique_id)
    assert len(seen) == 200


def test_answer_to_an_unknown_id_is_dropped_and_we_keep_waiting() -> None:
    session = numbered_ids()
    session.call(BOOT)
    event = session.receive(
        TheirCallResult("someone-else", {"currentTime": "2026-11-21T10:00:00Z"}).to_json()
    )
    assert event == AnswerDropped("someone-else", late=False)
    assert session.outstanding == BOOT


def test_answer_after_giving_up_is_reported_late() -> None:
    session = numbered_ids()
    unique_id, _ = session.call(HeartbeatRequest())
    session.give_up()
    assert session.outstanding is None
    event = session.receive(TheirCallResult(unique_id, {"currentTime": "2026-11-21T10:00:00Z"}).to_json())
    assert event == AnswerDropped(unique_id, late=True)


@pytest.mark.parametrize(
    ("sent", "received"),
    [
        ("NotImplemented", ErrorCode.NOT_IMPLEMENTED),
        ("OccurenceConstraintViolation", ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION),
        ("OccurrenceConstraintViolation", ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION),
        ("FormatViolation", ErrorCode.FORMATION_VIOLATION),
        ("FormationViolation", ErrorCode.FORMATION_VIOLATION),
        ("SomethingElse", ErrorCode.GENERIC_ERROR),
    ],
)
def test_call_error_answers_our_call_with_variant_spellings_understood(
    sent: str, received: ErrorCode
) -> None:
    session = numbered_ids()
    unique_id, _ = session.call(BOOT)
    event = session.receive(TheirCallError(unique_id, sent, "no", {"why": 1}).to_json())
    assert event == ErrorReceived(unique_id, BOOT, received, "no", {"why": 1})
    assert session.outstanding is None


def test_invalid_result_ends_our_call_as_failed() -> None:
    session = numbered_ids()
    unique_id, _ = session.call(BOOT)
    event = session.receive(TheirCallResult(unique_id, {"status": "Accepted"}).to_json())
    assert isinstance(event, InvalidResult)
    assert event.error.code == ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION
    assert session.outstanding is None


def test_malformed_answer_to_our_call_ends_it_as_failed() -> None:
    session = numbered_ids()
    unique_id, _ = session.call(BOOT)
    event = session.receive(json.dumps([3, unique_id, "not an object"]))
    assert isinstance(event, InvalidResult)
    assert event.error.code == ErrorCode.FORMATION_VIOLATION
    assert session.outstanding is None


def test_peer_call_is_decoded_and_answered_with_its_id() -> None:
    session = numbered_ids()
    event = session.receive(TheirCall("csms-7", "RemoteStartTransaction", {"idTag": "TAG1"}).to_json())
    assert event == CallReceived("csms-7", RemoteStartTransactionRequest(id_tag="TAG1"))
    assert session.unanswered == {"csms-7"}
    text = session.result("csms-7", RemoteStartTransactionResponse(status=RemoteStartStopStatus.ACCEPTED))
    theirs = unpack(text)
    assert (theirs.message_type_id, theirs.unique_id, theirs.payload) == (3, "csms-7", {"status": "Accepted"})
    assert session.unanswered == frozenset()
    with pytest.raises(LocalProtocolError):
        session.result("csms-7", RemoteStartTransactionResponse(status=RemoteStartStopStatus.ACCEPTED))


def test_peer_call_is_answered_while_ours_waits() -> None:
    session = numbered_ids()
    ours, _ = session.call(BOOT)
    event = session.receive(TheirCall("csms-1", "RemoteStartTransaction", {"idTag": "T"}).to_json())
    assert isinstance(event, CallReceived)
    session.result("csms-1", RemoteStartTransactionResponse(status=RemoteStartStopStatus.REJECTED))
    assert session.outstanding == BOOT
    answer = {"status": "Pending", "currentTime": "2026-11-21T10:00:00Z", "interval": 10}
    assert isinstance(session.receive(TheirCallResult(ours, answer).to_json()), ResultReceived)


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        ("FlyToTheMoon", {}, ErrorCode.NOT_IMPLEMENTED),
        ("BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"}, ErrorCode.NOT_SUPPORTED),
        ("RemoteStartTransaction", {}, ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION),
        ("RemoteStartTransaction", {"idTag": 7}, ErrorCode.TYPE_CONSTRAINT_VIOLATION),
        ("RemoteStartTransaction", {"idTag": "X" * 21}, ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
        ("RemoteStartTransaction", {"idTag": "T", "colour": "red"}, ErrorCode.FORMATION_VIOLATION),
        ("Reset", {"type": "Gentle"}, ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
    ],
)
def test_bad_peer_call_is_answered_with_the_most_specific_error(
    action: str, payload: dict, code: ErrorCode
) -> None:
    session = numbered_ids()
    event = session.receive(TheirCall("csms-9", action, payload).to_json())
    assert isinstance(event, InvalidCall)
    assert event.error.code == code
    theirs = unpack(session.reject(event))
    assert (theirs.message_type_id, theirs.unique_id, theirs.error_code) == (4, "csms-9", code.value)
    assert theirs.error_description
    assert session.unanswered == frozenset()


@pytest.mark.parametrize(
    ("text", "answerable_id"),
    [
        ('[2, "c1", "Reset"]', "c1"),
        ('[2, "c1", "Reset", []]', "c1"),
        ('[2, "c1", 17, {}]', "c1"),
        ('[2, "c1", "Reset", {}, {}]', "c1"),
        (json.dumps([2, "x" * 37, "Reset", {"type": "Hard"}]), "x" * 37),
    ],
)
def test_malformed_call_with_readable_id_is_answered_formation_violation(
    text: str, answerable_id: str
) -> None:
    session = numbered_ids()
    event = session.receive(text)
    assert isinstance(event, InvalidCall)
    assert event.unique_id == answerable_id
    assert event.error.code == ErrorCode.FORMATION_VIOLATION
    assert json.loads(session.reject(event))[:3] == [4, answerable_id, "FormationViolation"]


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "",
        "{}",
        "[]",
        "[2]",
        '["2", "c1", "Reset", {}]',
        '[2, 5, "Reset", {}]',
        '[7, "c1", {}]',
        '[3, "c1"]',
        '[4, "c1", "GenericError"]',
        '[2, "c1", "Reset", {"type": NaN}]',
        b"\xff\xfe",
    ],
)
def test_unanswerable_message_is_dropped(text: str | bytes) -> None:
    session = numbered_ids()
    event = session.receive(text)
    assert isinstance(event, MessageDropped)
    assert event.error.code == ErrorCode.FORMATION_VIOLATION
    assert session.unanswered == frozenset()


def test_duplicate_id_of_an_unanswered_call_is_dropped() -> None:
    session = numbered_ids()
    first = TheirCall("dup", "Reset", {"type": "Soft"}).to_json()
    assert isinstance(session.receive(first), CallReceived)
    assert isinstance(session.receive(first), MessageDropped)
    session.error("dup", ErrorCode.INTERNAL_ERROR)
    assert isinstance(session.receive(first), CallReceived), "an answered id may be used again"


def test_lost_connection_forgets_calls_in_flight() -> None:
    session = numbered_ids()
    ours, _ = session.call(BOOT)
    session.receive(TheirCall("csms-1", "ClearCache", {}).to_json())
    session.connection_lost()
    assert session.outstanding is None
    assert session.unanswered == frozenset()
    with pytest.raises(LocalProtocolError):
        session.error("csms-1", ErrorCode.INTERNAL_ERROR)
    answer = {"status": "Accepted", "currentTime": "2026-11-21T10:00:00Z", "interval": 300}
    assert session.receive(TheirCallResult(ours, answer).to_json()) == AnswerDropped(ours, late=True)


def test_session_can_play_the_central_system() -> None:
    csms = RpcSession(handles=CHARGE_POINT_INITIATED)
    event = csms.receive(TheirCall("cp-1", "Authorize", {"idTag": "abc"}).to_json())
    assert event == CallReceived("cp-1", AuthorizeRequest(id_tag="abc"))
    event = csms.receive(TheirCall("cp-2", "Reset", {"type": "Hard"}).to_json())
    assert isinstance(event, InvalidCall)
    assert event.error.code == ErrorCode.NOT_SUPPORTED


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_call_ids_are_the_text_of_a_uuid4_of_their_random_bits(bits: int) -> None:
    assert uuid4_text(bits) == str(uuid.UUID(int=bits, version=4))


def test_our_calls_have_distinct_uuid4_ids() -> None:
    session = RpcSession()
    ids = []
    for _ in range(100):
        unique_id, _ = session.call(HeartbeatRequest())
        session.give_up()
        ids.append(unique_id)
    assert len(set(ids)) == 100
    assert all(uuid.UUID(text).version == 4 and str(uuid.UUID(text)) == text for text in ids)
