"""A hostile Central System against a real charge point, in virtual time (OCPP-J transport rules; spec 3.7,
4.7, 5.2, 5.3, 5.15).

Whatever the Central System sends, each CALL whose id can be read gets exactly one answer with that id (the
CALLERROR code of the transport rules when it is wrong); anything else is dropped with a log line. No actor
dies, the charge point still answers, its transaction messages keep flowing in order, and what it keeps is
not changed by a rejected message.
"""

import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hostile_csms import (
    FIRST_TRANSACTION_ID,
    FaultyCsms,
    RawPeer,
    charge_point_settings,
    start_charge_point,
)
from hypothesis import assume, given
from hypothesis import strategies as st
from oracle import ACTIONS, errors, mutations, schema
from oracle import payloads as oracle_payloads
from scripted_csms import Received
from test_fuzz import json_values, objects_like_payloads

from actors.charge_point import ChargePoint, ChargePointSettings
from actors.ocpp import (
    BootNotificationRequest,
    DataTransferRequest,
    DataTransferResponse,
    DataTransferStatus,
    HeartbeatRequest,
    MeterValuesRequest,
    MeterValuesResponse,
    ReadingContext,
    StartTransactionRequest,
    StatusNotificationRequest,
)
from fleet.simulated import EvModel, SimulatedConnector
from storage.memory import MemoryChargePointState

EV = EvModel(max_power_w=11_000, battery_wh=100_000)
VIOLATIONS = {
    "FormationViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "PropertyConstraintViolation",
}


def call(unique_id: str, action: Any, payload: Any) -> str:
    return json.dumps([2, unique_id, action, payload])


# (what is wrong, the text, the CALLERROR code answering it, or None: dropped, with this in the log line)
HOSTILE: list[tuple[str, str | bytes, str | None, str]] = [
    # not JSON, or JSON that is not a frame: nothing to answer (no readable id of a CALL)
    ("not JSON", "not json at all", None, "not JSON"),
    ("truncated JSON", '[2, "t-1", "GetConfiguration", {}', None, "not JSON"),
    ("empty text", "", None, "not JSON"),
    ("binary frame, not UTF-8", b"\xff[2]", None, "not JSON"),
    ("NaN is not JSON", '[2, "t-2", "GetConfiguration", {"key": [NaN]}]', None, "not JSON"),
    ("nested 100000 deep", "[" * 100_000 + "]" * 100_000, None, "not JSON"),
    ("an object", '{"2": "t-3"}', None, "JSON array"),
    ("null", "null", None, "JSON array"),
    ("a number", "42", None, "JSON array"),
    ("an empty array", "[]", None, "JSON array"),
    (
        "type as a string",
        call("t-4", "Reset", {"type": "Soft"}).replace("[2,", '["2",', 1),
        None,
        "JSON array",
    ),
    ("type as a float", '[2.0, "t-5", "Reset", {"type": "Soft"}]', None, "JSON array"),
    ("type as a boolean", '[true, "t-6", "Reset", {"type": "Soft"}]', None, "JSON array"),
    ("numeric id", '[2, 7, "Reset", {"type": "Soft"}]', None, "unique id"),
    ("null id", '[2, null, "Reset", {"type": "Soft"}]', None, "unique id"),
    ("no id", "[2]", None, "unique id"),
    # unknown message type ids: ignored (OCPP-J)
    ("message type 5", '[5, "t-7", {}]', None, "unknown message type 5"),
    ("message type 0", '[0, "t-8", "Reset", {"type": "Soft"}]', None, "unknown message type 0"),
    ("message type -1", '[-1, "t-9", "Reset", {"type": "Soft"}]', None, "unknown message type -1"),
    # answers to ids we never sent, and malformed answers: dropped
    ("result to an id never sent", '[3, "never-1", {}]', None, "answer to CALL never-1 dropped"),
    (
        "error to an id never sent",
        '[4, "never-2", "InternalError", "boom", {}]',
        None,
        "answer to CALL never-2 dropped",
    ),
    ("malformed result", '[3, "never-3"]', None, "CALLRESULT is"),
    ("malformed error", '[4, "never-4", "InternalError"]', None, "CALLERROR is"),
    # a CALL whose id can be read, but that is no well-formed CALL: FormationViolation
    ("CALL without payload", '[2, "f-1", "Reset"]', "FormationViolation", ""),
    ("CALL with a fifth element", '[2, "f-2", "Reset", {"type": "Soft"}, {}]', "FormationViolation", ""),
    ("payload an array", call("f-3", "Reset", ["Soft"]), "FormationViolation", ""),
    ("payload a string", call("f-4", "GetConfiguration", "all"), "FormationViolation", ""),
    ("action a number", call("f-5", 42, {}), "FormationViolation", ""),
    ("id of 37 characters", call("x" * 37, "GetConfiguration", {}), "FormationViolation", ""),
    # actions: unknown (names are case-sensitive), or one the Central System does not send
    ("unknown action", call("a-1", "MakeCoffee", {}), "NotImplemented", ""),
    ("action in lower case", call("a-2", "reset", {"type": "Soft"}), "NotImplemented", ""),
    ("empty action", call("a-3", "", {}), "NotImplemented", ""),
    ("charge point's action", call("a-4", "Heartbeat", {}), "NotSupported", ""),
    (
        "charge point's action with payload",
        call("a-5", "BootNotification", {"chargePointVendor": "X", "chargePointModel": "Y"}),
        "NotSupported",
        "",
    ),
    # wrong JSON types
    (
        "integer for a string",
        call("w-1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": 5}),
        "TypeConstraintViolation",
        "",
    ),
    (
        "string for an integer",
        call("w-2", "ChangeAvailability", {"connectorId": "1", "type": "Inoperative"}),
        "TypeConstraintViolation",
        "",
    ),
    (
        "boolean for an integer",
        call("w-3", "ChangeAvailability", {"connectorId": True, "type": "Inoperative"}),
        "TypeConstraintViolation",
        "",
    ),
    (
        "decimal for an integer",
        call("w-4", "SendLocalList", {"listVersion": 9.5, "updateType": "Full"}),
        "TypeConstraintViolation",
        "",
    ),
    ("integer for an enum", call("w-5", "Reset", {"type": 1}), "TypeConstraintViolation", ""),
    (
        "string for an array",
        call("w-6", "GetConfiguration", {"key": "HeartbeatInterval"}),
        "TypeConstraintViolation",
        "",
    ),
    (
        "string for a transaction id",
        call("w-7", "RemoteStopTransaction", {"transactionId": str(FIRST_TRANSACTION_ID)}),
        "TypeConstraintViolation",
        "",
    ),
    ("object for a string", call("w-8", "ClearCache", {"idTag": {}}), "FormationViolation", ""),
    # required fields missing
    (
        "no value",
        call("m-1", "ChangeConfiguration", {"key": "HeartbeatInterval"}),
        "OccurenceConstraintViolation",
        "",
    ),
    ("no type", call("m-2", "Reset", {}), "OccurenceConstraintViolation", ""),
    (
        "no availability type",
        call("m-3", "ChangeAvailability", {"connectorId": 1}),
        "OccurenceConstraintViolation",
        "",
    ),
    (
        "no list version",
        call("m-4", "SendLocalList", {"updateType": "Full"}),
        "OccurenceConstraintViolation",
        "",
    ),
    (
        "no idTag",
        call("m-5", "RemoteStartTransaction", {"connectorId": 2}),
        "OccurenceConstraintViolation",
        "",
    ),
    # fields the message does not have (the schemas allow no additional properties)
    ("extra field", call("e-1", "Reset", {"type": "Hard", "force": True}), "FormationViolation", ""),
    (
        "extra field beside a good change",
        call("e-2", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "5", "persist": True}),
        "FormationViolation",
        "",
    ),
    (
        "extra nested field",
        call(
            "e-3",
            "SendLocalList",
            {
                "listVersion": 9,
                "updateType": "Full",
                "localAuthorizationList": [{"idTag": "A", "idTagInfo": {"status": "Accepted", "colour": 1}}],
            },
        ),
        "FormationViolation",
        "",
    ),
    ("extra field in an empty payload", call("e-4", "ClearCache", {"all": True}), "FormationViolation", ""),
    # values outside their allowed set or length
    (
        "unknown enum value",
        call("p-1", "ChangeAvailability", {"connectorId": 1, "type": "Broken"}),
        "PropertyConstraintViolation",
        "",
    ),
    ("enum value in lower case", call("p-2", "Reset", {"type": "soft"}), "PropertyConstraintViolation", ""),
    (
        "key of 51 characters",
        call("p-3", "ChangeConfiguration", {"key": "K" * 51, "value": "1"}),
        "PropertyConstraintViolation",
        "",
    ),
    (
        "value of 501 characters",
        call("p-4", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "1" * 501}),
        "PropertyConstraintViolation",
        "",
    ),
    (
        "idTag of 21 characters",
        call("p-5", "RemoteStartTransaction", {"connectorId": 2, "idTag": "T" * 21}),
        "PropertyConstraintViolation",
        "",
    ),
    (
        "date that is no date",
        call(
            "p-6",
            "ReserveNow",
            {"connectorId": 2, "expiryDate": "tomorrow", "idTag": "T", "reservationId": 1},
        ),
        "PropertyConstraintViolation",
        "",
    ),
]


@attrs.frozen
class Kept:
    """What the charge point keeps that a CALL of the Central System could change."""

    configuration: dict[str, str]
    depth: int
    local_list_version: int
    local_list_size: int
    cache_size: int
    availability: dict[int, str]
    reservations: dict[int, Any]


async def kept(state: MemoryChargePointState) -> Kept:
    return Kept(
        await state.load_configuration(),
        await state.depth(),
        await state.local_list_version(),
        await state.local_list_size(),
        await state.cache_size(),
        await state.load_availability(),
        await state.load_reservations(),
    )


@pytest.fixture
async def csms() -> AsyncIterator[FaultyCsms]:
    async with trio.open_nursery() as nursery:
        yield FaultyCsms(nursery)
        nursery.cancel_scope.cancel()


async def online(
    nursery: trio.Nursery,
    csms: FaultyCsms,
    state: MemoryChargePointState,
    settings: ChargePointSettings | None = None,
    **options: Any,
) -> tuple[ChargePoint, RawPeer, list[SimulatedConnector]]:
    """A charge point booted and accepted, its StatusNotifications answered."""
    settings = settings or charge_point_settings()
    charge_point, plugs = start_charge_point(nursery, csms, state, settings, **options)
    peer = RawPeer(await csms.accept(), nursery)
    await peer.wait_for(StatusNotificationRequest, settings.connectors + 1)
    return charge_point, peer, plugs


async def charging(peer: RawPeer, plug: SimulatedConnector) -> Received:
    """Plug in and present an idTag: the StartTransaction, answered with :data:`FIRST_TRANSACTION_ID`."""
    plug.plug_in(EV)
    plug.present_id_tag("TAG-1")
    (start,) = await peer.wait_for(StartTransactionRequest)
    return start


def assert_periodic_samples(peer: RawPeer | list[Received], start: Received, until: float) -> None:
    """Every MeterValues of the transaction arrived once, in order, every 60 s (MeterValueSampleInterval),
    sent when taken."""
    samples = peer if isinstance(peer, list) else peer.requests(MeterValuesRequest)
    expected = int((until - start.time) // 60)
    assert len(samples) == expected
    for number, sample in enumerate(samples, start=1):
        request = sample.request
        assert (request.connector_id, request.transaction_id) == (1, FIRST_TRANSACTION_ID)
        (meter_value,) = request.meter_value
        assert meter_value.timestamp == start.request.timestamp + timedelta(seconds=60 * number)
        assert {value.context for value in meter_value.sampled_value} == {ReadingContext.SAMPLE_PERIODIC}
        assert sample.time == start.time + 60 * number, "sent when taken: nothing held it up"


def assert_answer(answer: list[Any], unique_id: str, code: str) -> None:
    """A CALLERROR ``[4, id, code, description, {details}]`` with this id and code."""
    assert len(answer) == 5, (answer, unique_id, code)
    assert answer[:3] == [4, unique_id, code]
    assert isinstance(answer[3], str)
    assert isinstance(answer[4], dict)


@pytest.mark.parametrize(("what", "text", "code", "logged"), HOSTILE, ids=[case[0] for case in HOSTILE])
async def test_each_hostile_message_gets_its_callerror_or_is_dropped_with_a_log_line(
    autojump_clock: trio.testing.MockClock,
    csms: FaultyCsms,
    caplog: pytest.LogCaptureFixture,
    what: str,
    text: str,
    code: str | None,
    logged: str,
) -> None:
    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        charge_point, peer, _ = await online(nursery, csms, state)
        before = await kept(state)
        caplog.clear()
        answers = await peer.exchange(text)
        if code is None:
            assert answers == []
            warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(warnings) == 1, warnings
            assert logged in warnings[0]
        else:
            (answer,) = answers
            assert_answer(answer, json.loads(text)[1], code)
        assert await kept(state) == before
        assert charge_point.boots == 1
        assert charge_point.connected
        nursery.cancel_scope.cancel()


async def get_configuration(peer: RawPeer, unique_id: str) -> dict[str, str | None]:
    """Every configuration key the charge point reports, with its value (a valid GetConfiguration)."""
    answer = await peer.call(unique_id, "GetConfiguration", {})
    assert answer[0] == 3
    assert errors("GetConfiguration", "conf", answer[2]) == []
    return {item["key"]: item.get("value") for item in answer[2]["configurationKey"]}


async def test_a_barrage_during_a_transaction_changes_nothing_and_its_messages_flow_in_order(
    autojump_clock: trio.testing.MockClock, csms: FaultyCsms, caplog: pytest.LogCaptureFixture
) -> None:
    """Every hostile message of the table, one every 7 s for 392 s while connector 1 charges: each is
    answered or dropped as the table says; the configuration, queue, local list, cache, availability and
    reservations stay as they were, and each MeterValues leaves when taken, in order, with the transaction's
    id."""
    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        charge_point, peer, plugs = await online(nursery, csms, state)
        configuration = await get_configuration(peer, "before")
        start = await charging(peer, plugs[0])
        await trio.testing.wait_all_tasks_blocked()
        statuses = len(peer.requests(StatusNotificationRequest))
        before = await kept(state)
        assert before.depth == 0
        caplog.clear()
        for _, text, code, _ in HOSTILE:
            await trio.sleep(7)
            answers = await peer.exchange(text)
            if code is None:
                assert answers == []
            else:
                (answer,) = answers
                assert_answer(answer, json.loads(text)[1], code)
        dropped = [case for case in HOSTILE if case[2] is None]
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == len(dropped)
        for (_, _, _, logged), warning in zip(dropped, warnings, strict=True):
            assert logged in warning
        await trio.testing.wait_all_tasks_blocked()
        assert await kept(state) == before
        assert await get_configuration(peer, "after") == configuration
        assert_periodic_samples(peer, start, until=trio.current_time())
        assert len(peer.requests(StatusNotificationRequest)) == statuses, "no connector changed"
        assert (charge_point.boots, len(csms.dial_times)) == (1, 1), "no reboot, no reconnect"
        assert charge_point.connectors[1].transaction is not None
        nursery.cancel_scope.cancel()


async def test_a_call_flood_gets_one_answer_per_call_and_never_holds_up_the_charge_points_own_calls(
    autojump_clock: trio.testing.MockClock, csms: FaultyCsms, caplog: pytest.LogCaptureFixture
) -> None:
    """600 CALLs sent without waiting for any answer (the transport's one outstanding CALL per direction
    ignored), valid and invalid mixed, a third of them TriggerMessages whose triggered Heartbeats need answers
    of their own. The reader never stops draining: each CALL gets exactly one answer with its id, either its
    own (in the order sent) or a GenericError at once when too many wait; the triggered Heartbeats, the
    MeterValues and the pings go on as if nothing happened."""
    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        charge_point, peer, plugs = await online(nursery, csms, state)
        start = await charging(peer, plugs[0])
        await trio.testing.wait_all_tasks_blocked()
        before = await kept(state)
        answerable = [(text, code) for what, text, code, _ in HOSTILE if code and "37" not in what]
        expected: dict[str, str | None] = {}  # by id: the CALLERROR code, or None for a result
        triggers: set[str] = set()
        await trio.sleep(59)  # the flood is still being answered when the first sample is due
        heartbeats = len(peer.requests(HeartbeatRequest))
        caplog.clear()
        for number in range(600):
            unique_id = f"flood-{number}"
            if number % 3 == 0:
                await peer.send(call(unique_id, "GetConfiguration", {"key": ["MeterValueSampleInterval"]}))
                expected[unique_id] = None
            elif number % 3 == 1:
                text, wrong = answerable[number % len(answerable)]
                message = json.loads(text)
                message[1] = unique_id
                await peer.send(json.dumps(message))
                expected[unique_id] = wrong
            else:
                await peer.send(call(unique_id, "TriggerMessage", {"requestedMessage": "Heartbeat"}))
                expected[unique_id] = None
                triggers.add(unique_id)
        for unique_id in expected:
            await peer.answer_to(unique_id)
        answers = [answer for answer in peer.answers if str(answer[1]).startswith("flood-")]
        assert sorted(answer[1] for answer in answers) == sorted(expected), "each exactly once"
        refused = {answer[1] for answer in answers if answer[0] == 4 and answer[2] == "GenericError"}
        handled = [answer for answer in answers if answer[1] not in refused]
        assert [answer[1] for answer in handled] == [i for i in expected if i not in refused], "in order"
        for answer in handled:
            code = expected[answer[1]]
            if code is None:
                assert answer[0] == 3, answer
            else:
                assert_answer(answer, answer[1], code)
        assert 0 < len(refused) < 600
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert sorted(warnings) == sorted(f"CP-H: CALL {i} refused: too many CALLs wait" for i in refused)
        await trio.sleep(600)
        accepted_triggers = len(triggers - refused)
        assert len(peer.requests(HeartbeatRequest)) - heartbeats == accepted_triggers
        assert all(h.time == 59 for h in peer.requests(HeartbeatRequest)[heartbeats:]), "none timed out"
        assert_periodic_samples(peer, start, until=trio.current_time())
        assert await kept(state) == before
        assert charge_point.boots == 1
        assert len(csms.dial_times) == 1, "pongs were read: no reconnect"
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("limit", [None, 64 * 1024], ids=["default 1 MiB", "64 KiB"])
async def test_a_frame_over_the_maximum_size_closes_the_connection_and_loses_nothing(
    autojump_clock: trio.testing.MockClock,
    csms: FaultyCsms,
    caplog: pytest.LogCaptureFixture,
    limit: int | None,
) -> None:
    """A message of ``max_message_size`` bytes is answered; one byte more and the charge point closes the
    connection with WebSocket code 1009 (Message Too Big, RFC 6455) instead of buffering it. It reconnects
    as after any lost connection (no BootNotification) and its MeterValues go on in order."""
    caplog.set_level(logging.INFO, logger="actors")
    settings = charge_point_settings()
    if limit is not None:
        settings = attrs.evolve(settings, max_message_size=limit)
    size = settings.max_message_size
    assert size == (limit or 1 << 20)
    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        charge_point, peer, plugs = await online(nursery, csms, state, settings)
        start = await charging(peer, plugs[0])
        await trio.sleep(90)
        empty = call("big-1", "DataTransfer", {"vendorId": "org.test", "data": ""}).encode()
        largest = call("big-1", "DataTransfer", {"vendorId": "org.test", "data": "x" * (size - len(empty))})
        assert len(largest.encode()) == size
        assert await peer.exchange(largest) == [[3, "big-1", {"status": "UnknownVendorId"}]]
        before = await kept(state)
        closed_at = trio.current_time()
        too_large = call(
            "big-2", "DataTransfer", {"vendorId": "org.test", "data": "x" * (size - len(empty) + 1)}
        )
        assert len(too_large.encode()) == size + 1
        await peer.send(too_large)
        await peer.closed.wait()
        assert peer.close_reason is not None
        assert peer.close_reason.code == 1009
        assert [answer[1] for answer in peer.answers] == ["big-1", "probe-1"], "the huge CALL got no answer"
        again = RawPeer(await csms.accept(), nursery)
        ended = (
            "CP-H: connection ended: closed with code 1009 (MESSAGE_TOO_BIG): Exceeded maximum message size"
        )
        assert any(record.getMessage().startswith(ended) for record in caplog.records)
        assert 0.5 <= csms.dial_times[1] - closed_at <= 1, "the first back-off step after a good connection"
        await trio.sleep(200)
        assert not again.requests(BootNotificationRequest)
        assert charge_point.boots == 1
        samples = peer.requests(MeterValuesRequest) + again.requests(MeterValuesRequest)
        assert_periodic_samples(samples, start, until=trio.current_time())
        assert await kept(state) == before
        nursery.cancel_scope.cancel()


async def test_a_call_reusing_the_id_of_an_unanswered_call_is_dropped_and_a_full_backlog_is_refused(
    autojump_clock: trio.testing.MockClock, csms: FaultyCsms, caplog: pytest.LogCaptureFixture
) -> None:
    """While a DataTransfer handler takes 100 s, a CALL with the same id is dropped (its answer could not be
    told apart); the next CALLs wait their turn until too many wait, and then each is refused at once with a
    GenericError. The charge point's own MeterValues do not wait for any of them."""
    release = trio.Event()

    async def slow(request: DataTransferRequest) -> DataTransferResponse:
        await release.wait()
        return DataTransferResponse(status=DataTransferStatus.ACCEPTED, data="slow")

    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        _charge_point, peer, plugs = await online(nursery, csms, state, data_transfer={"com.slow": slow})
        start = await charging(peer, plugs[0])
        await trio.testing.wait_all_tasks_blocked()
        before = await kept(state)
        first = len(peer.answers)
        caplog.clear()
        await peer.send(call("dup", "DataTransfer", {"vendorId": "com.slow"}))
        await peer.send(call("dup", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "5"}))
        backlog = [f"g-{number}" for number in range(20)]
        for unique_id in backlog:
            await peer.send(call(unique_id, "GetConfiguration", {"key": ["HeartbeatInterval"]}))
        await trio.sleep(100)
        refused = [answer[1] for answer in peer.answers[first:]]
        waiting = backlog[: len(backlog) - len(refused)]
        assert waiting
        assert refused
        assert refused == backlog[len(waiting) :], "the last ones, at once"
        for answer in peer.answers[first:]:
            assert_answer(answer, answer[1], "GenericError")
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert warnings[0] == "CP-H: message dropped: a CALL with id 'dup' is already unanswered"
        assert warnings[1:] == [
            f"CP-H: CALL {unique_id} refused: too many CALLs wait" for unique_id in refused
        ]
        assert_periodic_samples(peer, start, until=trio.current_time())
        release.set()
        await trio.testing.wait_all_tasks_blocked()  # the waiting CALLs are answered before the probe goes
        await peer.exchange()
        later = peer.answers[first + len(refused) : -1]
        assert later[0] == [3, "dup", {"status": "Accepted", "data": "slow"}], "the first CALL's answer"
        assert [answer[1] for answer in later[1:]] == waiting
        assert all(answer[0] == 3 for answer in later[1:])
        assert await kept(state) == before, "the duplicate ChangeConfiguration changed nothing"
        again = await peer.call("dup", "GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert again[:2] == [3, "dup"], "once answered, an id may be used again"
        assert again[2]["configurationKey"][0]["value"] == "3600"
        nursery.cancel_scope.cancel()


async def test_an_answer_after_the_timeout_is_dropped_and_never_taken_for_the_next_calls(
    autojump_clock: trio.testing.MockClock, csms: FaultyCsms, caplog: pytest.LogCaptureFixture
) -> None:
    """A MeterValues unanswered for the answer timeout (30 s) goes again after TransactionMessageRetryInterval
    (60 s) with a new id; the late answer to the first id, arriving while the second waits, is dropped with a
    log line; the queue then moves on in order."""
    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        charge_point, peer, plugs = await online(nursery, csms, state)
        start = await charging(peer, plugs[0])
        peer.withheld.add("MeterValues")
        (first,) = await peer.wait_for(MeterValuesRequest)
        first_again = (await peer.wait_for(MeterValuesRequest, 2))[1]
        assert first.time == start.time + 60
        assert first_again.time == first.time + charge_point.settings.answer_timeout + 60
        assert first_again.request == first.request
        assert first_again.unique_id != first.unique_id
        caplog.clear()
        late = json.dumps([3, first.unique_id, {}])
        assert await peer.exchange(late) == [], "nothing answers an answer"
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert warnings == [f"CP-H: late answer to CALL {first.unique_id} dropped"]
        assert await state.depth() == 2, "still waiting for the answer of the second sending"
        peer.withheld.clear()
        await peer.answer(first_again, MeterValuesResponse())
        samples = await peer.wait_for(MeterValuesRequest, 4)
        offsets = [sample.request.meter_value[0].timestamp - start.request.timestamp for sample in samples]
        assert offsets == [timedelta(seconds=60)] * 2 + [timedelta(seconds=120), timedelta(seconds=180)]
        assert samples[2].time == first_again.time, "the sample that waited behind it goes right after it"
        assert samples[3].time == start.time + 180
        await trio.testing.wait_all_tasks_blocked()
        assert await state.depth() == 0
        assert charge_point.outbox_counts.timeouts == 1
        nursery.cancel_scope.cancel()


# --- hypothesis-generated frames ------------------------------------------------------------------------

CHARGE_POINT_ONLY = {
    "Authorize",
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
}
"""The actions only a charge point sends (spec chapter 4); DataTransfer goes both ways."""
CSMS_ACTIONS = sorted(set(ACTIONS) - CHARGE_POINT_ONLY)
ELSEWHERE = {"Reset", "UpdateFirmware", "GetDiagnostics"}
"""Valid CALLs of these reboot or reach out to a file server: generated only invalid."""
ONE_FAULT = [
    (action, payload, code) for action in CSMS_ACTIONS for _, payload, code in mutations(action, "req")
]
ERROR_CODES = {
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "GenericError",
    *VIOLATIONS,
}


@attrs.frozen
class Frame:
    """A generated message; for a CALL with one of our ids, the CALLERROR codes allowed (None: a result)."""

    text: str | bytes
    unique_id: str | None = None
    codes: frozenset[str] | None = None


def expected_codes(action: Any, payload: Any) -> frozenset[str] | None:
    """What the transport rules and the official schemas say a CALL deserves (None: a CALLRESULT)."""
    if not isinstance(action, str) or not isinstance(payload, dict):
        return frozenset({"FormationViolation"})
    if action not in ACTIONS:
        return frozenset({"NotImplemented"})
    if action in CHARGE_POINT_ONLY:
        return frozenset({"NotSupported"})
    if errors(action, "req", payload):
        return frozenset(VIOLATIONS)
    return None


@st.composite
def frames(draw: st.DrawFn, number: int) -> Frame:
    unique_id = f"h-{number}"
    kind = draw(st.sampled_from(["text", "array", "call", "valid", "one fault"]))
    if kind == "text":
        return Frame(draw(st.text(max_size=40) | st.binary(max_size=40)))
    if kind == "array":
        return Frame(json.dumps(draw(st.lists(json_values, max_size=6))))
    if kind == "one fault":
        action, payload, code = draw(st.sampled_from(ONE_FAULT))
        return Frame(call(unique_id, action, payload), unique_id, frozenset({code}))
    if kind == "valid":
        action = draw(st.sampled_from([action for action in CSMS_ACTIONS if action not in ELSEWHERE]))
        payload = draw(oracle_payloads(schema(action, "req")))
    else:
        action = draw(st.sampled_from(ACTIONS) | st.text(max_size=20) | json_values)
        payload = draw(objects_like_payloads() | json_values)
        assume(expected_codes(action, payload) is not None or action not in ELSEWHERE)
    return Frame(call(unique_id, action, payload), unique_id, expected_codes(action, payload))


def call_shaped(text: str | bytes) -> str | None:
    """The id of a message that is a CALL with a readable id, by the transport's frame rules."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if isinstance(message, list) and len(message) > 1 and type(message[0]) is int and message[0] == 2:
        return message[1] if isinstance(message[1], str) else None
    return None


async def send_frames(generated: list[Frame]) -> None:
    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        csms = FaultyCsms(nursery)
        charge_point, peer, _ = await online(nursery, csms, state)
        for frame in generated:
            answers = await peer.exchange(frame.text)
            unique_id = frame.unique_id or call_shaped(frame.text)
            if unique_id is None:
                assert answers == [], frame
                continue
            (answer,) = answers
            assert answer[1] == unique_id
            if frame.unique_id is not None and frame.codes is None:
                assert answer[0] == 3, (frame, answer)
                action = json.loads(frame.text)[2]
                assert errors(action, "conf", answer[2]) == [], (frame, answer)
            elif answer[0] == 4:
                assert_answer(answer, unique_id, answer[2])
                assert answer[2] in (frame.codes or ERROR_CODES), (frame, answer)
            else:
                assert frame.unique_id is None, (frame, answer)  # a valid CALL made up by chance
        assert charge_point.boots == 1
        assert charge_point.connected
        assert len(csms.dial_times) == 1
        nursery.cancel_scope.cancel()


@given(data=st.data())
def test_generated_frames_get_the_answers_the_transport_and_the_schemas_call_for(data: st.DataObject) -> None:
    """Any text at all: each CALL with a readable id gets one answer, with its id, that the transport rules
    and the official schemas call for (a CALLRESULT valid by the schema for a valid CALL); everything else is
    dropped; the charge point's own CALLs stay valid (checked by the peer); no actor dies."""
    count = data.draw(st.integers(1, 8))
    generated = [data.draw(frames(number)) for number in range(count)]
    trio.run(send_frames, generated, clock=trio.testing.MockClock(autojump_threshold=0))
