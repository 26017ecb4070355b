"""The embedded Central System: its answers (specification 4.x and 6.x), and its connections over in-memory
WebSocket streams in virtual time, with one boot over a real loopback socket."""

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    open_websocket,
    wrap_client_stream,
)

from actors.ocpp import (
    AuthorizationStatus,
    AuthorizeRequest,
    AuthorizeResponse,
    BootNotificationRequest,
    BootNotificationResponse,
    CallReceived,
    ChangeConfigurationRequest,
    ChangeConfigurationResponse,
    ChargePointErrorCode,
    ChargePointStatus,
    ConfigurationStatus,
    DataTransferRequest,
    DataTransferResponse,
    DataTransferStatus,
    DiagnosticsStatus,
    DiagnosticsStatusNotificationRequest,
    DiagnosticsStatusNotificationResponse,
    ErrorCode,
    Event,
    FirmwareStatus,
    FirmwareStatusNotificationRequest,
    FirmwareStatusNotificationResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    IdTagInfo,
    MeterValue,
    MeterValuesRequest,
    MeterValuesResponse,
    RegistrationStatus,
    Request,
    ResetRequest,
    ResetType,
    Response,
    ResultReceived,
    RpcSession,
    SampledValue,
    StartTransactionRequest,
    StartTransactionResponse,
    StatusNotificationRequest,
    StatusNotificationResponse,
    StopTransactionRequest,
    StopTransactionResponse,
    encode,
)
from fleet.csms import (
    HANDSHAKE_TIMEOUT,
    CallFailed,
    CentralSystem,
    NotConnected,
    Record,
    charge_point_id_from_path,
)
from fleet.csms_answers import Answers

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BOOT = BootNotificationRequest(charge_point_vendor="Acme", charge_point_model="AC-22")
CHANGE = ChangeConfigurationRequest(key="HeartbeatInterval", value="60")
ACCEPTED = IdTagInfo(status=AuthorizationStatus.ACCEPTED)
INVALID = IdTagInfo(status=AuthorizationStatus.INVALID)


STUCK_AFTER = 3600.0
"""Virtual seconds after which a test waiting on nothing else has deadlocked (the longest needs 300)."""


@pytest.fixture
async def background(nursery: trio.Nursery) -> trio.Nursery:
    """The nursery of a test's connections, with a watchdog: a test deadlocked in virtual time fails."""
    nursery.start_soon(fail_when_stuck)
    return nursery


async def fail_when_stuck() -> None:
    await trio.sleep(STUCK_AFTER)
    raise AssertionError(f"the test is stuck: nothing happened for {STUCK_AFTER} virtual seconds")


def wall_clock() -> datetime:
    """Wall-clock time that moves with trio's (virtual) clock, from NOW at time 0."""
    return NOW + timedelta(seconds=trio.current_time())


def start(id_tag: str = "TAG-1") -> StartTransactionRequest:
    return StartTransactionRequest(connector_id=1, id_tag=id_tag, meter_start=0, timestamp=NOW)


@attrs.define
class Client:
    """A charge point's end of an in-memory connection: a WebSocket and our sans-IO session."""

    websocket: WebSocketConnection
    stream: trio.abc.Stream
    session: RpcSession

    async def send_call(self, request: Request) -> str:
        unique_id, text = self.session.call(request)
        await self.websocket.send_message(text)
        return unique_id

    async def next_event(self) -> Event:
        return self.session.receive(await self.websocket.get_message())

    async def call(self, request: Request) -> Response:
        unique_id = await self.send_call(request)
        event = await self.next_event()
        assert isinstance(event, ResultReceived), event
        assert event.unique_id == unique_id
        return event.response

    async def exchange(self, text: str) -> Any:
        """Send raw text, return the next message received, parsed as JSON."""
        await self.websocket.send_message(text)
        return json.loads(await self.websocket.get_message())


async def connect(
    nursery: trio.Nursery,
    csms: CentralSystem,
    resource: str = "/ocpp/CP-1",
    subprotocols: tuple[str, ...] = ("ocpp1.6",),
) -> Client:
    """Connect a client to ``csms`` over an in-memory stream; its ids are c-1, c-2, ..."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    nursery.start_soon(csms.serve_stream, server_stream)
    websocket = await wrap_client_stream(
        nursery,
        client_stream,  # type: ignore[arg-type]  # any stream works; the annotation is narrower
        "csms.test",
        resource,
        subprotocols=list(subprotocols),
    )
    counter = itertools.count(1)
    session = RpcSession(new_unique_id=lambda: f"c-{next(counter)}")
    return Client(websocket, client_stream, session)


# --- answers, without I/O ---------------------------------------------------------------------------------


def test_boot_is_accepted_with_the_heartbeat_interval_and_the_current_time() -> None:
    answers = Answers(heartbeat_interval=300)
    assert answers.answer("CP-1", BOOT, NOW) == BootNotificationResponse(
        status=RegistrationStatus.ACCEPTED, current_time=NOW, interval=300
    )


@pytest.mark.parametrize("status", [RegistrationStatus.PENDING, RegistrationStatus.REJECTED])
def test_configured_charge_points_get_their_status_with_the_retry_interval(
    status: RegistrationStatus,
) -> None:
    answers = Answers(heartbeat_interval=300, retry_interval=45, registration={"CP-2": status})
    assert answers.answer("CP-2", BOOT, NOW) == BootNotificationResponse(
        status=status, current_time=NOW, interval=45
    )
    assert answers.answer("CP-1", BOOT, NOW).status == RegistrationStatus.ACCEPTED  # type: ignore[attr-defined]


def test_heartbeat_answers_the_current_time() -> None:
    assert Answers().answer("CP-1", HeartbeatRequest(), NOW) == HeartbeatResponse(current_time=NOW)


def test_without_a_list_every_id_tag_is_accepted() -> None:
    answers = Answers()
    assert answers.answer("CP-1", AuthorizeRequest(id_tag="ANYONE"), NOW) == AuthorizeResponse(ACCEPTED)


@pytest.mark.parametrize(
    ("id_tag", "info"),
    [("ABC123", ACCEPTED), ("abc123", ACCEPTED), ("AbC123", ACCEPTED), ("ABC1234", INVALID), ("", INVALID)],
)
def test_listed_id_tags_are_compared_case_insensitively(id_tag: str, info: IdTagInfo) -> None:
    answers = Answers(id_tags=["abC123", "OTHER"])
    assert answers.answer("CP-1", AuthorizeRequest(id_tag=id_tag), NOW) == AuthorizeResponse(info)


def test_transaction_ids_count_up_from_1_across_charge_points_with_the_id_tag_status() -> None:
    answers = Answers(id_tags=["GOOD"])
    assert [
        answers.answer("CP-1", start("good"), NOW),
        answers.answer("CP-2", start("BAD"), NOW),
        answers.answer("CP-1", start("GOOD"), NOW),
    ] == [
        StartTransactionResponse(id_tag_info=ACCEPTED, transaction_id=1),
        StartTransactionResponse(id_tag_info=INVALID, transaction_id=2),
        StartTransactionResponse(id_tag_info=ACCEPTED, transaction_id=3),
    ]


def test_stop_transaction_tells_the_id_tag_status_only_when_an_id_tag_came() -> None:
    answers = Answers(id_tags=["GOOD"])

    def stop(id_tag: str | None) -> StopTransactionRequest:
        return StopTransactionRequest(meter_stop=10, timestamp=NOW, transaction_id=1, id_tag=id_tag)

    assert answers.answer("CP-1", stop("good"), NOW) == StopTransactionResponse(id_tag_info=ACCEPTED)
    assert answers.answer("CP-1", stop("BAD"), NOW) == StopTransactionResponse(id_tag_info=INVALID)
    assert answers.answer("CP-1", stop(None), NOW) == StopTransactionResponse()
    assert encode(StopTransactionResponse()) == {}


@pytest.mark.parametrize(
    ("request_", "response"),
    [
        (
            StatusNotificationRequest(
                connector_id=1, error_code=ChargePointErrorCode.NO_ERROR, status=ChargePointStatus.AVAILABLE
            ),
            StatusNotificationResponse(),
        ),
        (
            MeterValuesRequest(
                connector_id=1, meter_value=(MeterValue(timestamp=NOW, sampled_value=(SampledValue("5"),)),)
            ),
            MeterValuesResponse(),
        ),
        (
            DiagnosticsStatusNotificationRequest(status=DiagnosticsStatus.UPLOADED),
            DiagnosticsStatusNotificationResponse(),
        ),
        (
            FirmwareStatusNotificationRequest(status=FirmwareStatus.INSTALLED),
            FirmwareStatusNotificationResponse(),
        ),
    ],
)
def test_notifications_get_empty_answers(request_: Request, response: Response) -> None:
    assert Answers().answer("CP-1", request_, NOW) == response
    assert encode(response) == {}


def test_data_transfer_goes_to_the_handler_of_its_vendor_id_or_is_unknown() -> None:
    csms = CentralSystem()
    seen = []

    def handler(request: DataTransferRequest) -> DataTransferResponse:
        seen.append(request)
        return DataTransferResponse(status=DataTransferStatus.ACCEPTED, data="pong")

    csms.register_data_transfer("com.acme", handler)
    ours = DataTransferRequest(vendor_id="COM.ACME", message_id="ping")
    assert csms.answers.answer("CP-1", ours, NOW) == DataTransferResponse(DataTransferStatus.ACCEPTED, "pong")
    assert seen == [ours]
    theirs = DataTransferRequest(vendor_id="org.other", data="x")
    assert csms.answers.answer("CP-1", theirs, NOW) == DataTransferResponse(
        DataTransferStatus.UNKNOWN_VENDOR_ID
    )
    assert encode(DataTransferResponse(DataTransferStatus.UNKNOWN_VENDOR_ID)) == {"status": "UnknownVendorId"}


def test_a_request_of_the_central_system_is_a_bug_not_an_answer() -> None:
    with pytest.raises(ValueError, match="Reset"):
        Answers().answer("CP-1", ResetRequest(type=ResetType.SOFT), NOW)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ocpp/CP-1", "CP-1"),
        ("/CP-1", "CP-1"),
        ("/ocpp/CP%201", "CP 1"),
        ("/ocpp/CP%2F1", "CP/1"),
        ("/ocpp/CP-1?token=abc", "CP-1"),
        ("/ocpp/", ""),
    ],
)
def test_the_charge_point_id_is_the_last_path_segment_percent_decoded(path: str, expected: str) -> None:
    assert charge_point_id_from_path(path) == expected


# --- over WebSocket, in virtual time ----------------------------------------------------------------------


async def test_boot_is_answered_on_the_wire_as_the_specification_spells_it(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem(heartbeat_interval=300, wall_clock=wall_clock)
    client = await connect(background, csms, "/ocpp/CP%201")
    assert client.websocket.subprotocol == "ocpp1.6"
    boot = '[2,"b-1","BootNotification",{"chargePointVendor":"Acme","chargePointModel":"AC-22"}]'
    assert await client.exchange(boot) == [
        3,
        "b-1",
        {"status": "Accepted", "currentTime": "2026-03-01T12:00:00Z", "interval": 300},
    ]
    assert csms.connected == {"CP 1"}


async def test_pending_and_rejected_charge_points_get_the_retry_interval(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    registration = {"CP-P": RegistrationStatus.PENDING, "CP-R": RegistrationStatus.REJECTED}
    csms = CentralSystem(registration=registration, retry_interval=30, wall_clock=wall_clock)
    for charge_point_id, status in registration.items():
        client = await connect(background, csms, f"/ocpp/{charge_point_id}")
        assert await client.call(BOOT) == BootNotificationResponse(
            status=status, current_time=NOW, interval=30
        )


async def test_heartbeat_answers_the_wall_clock_at_the_time_it_arrives(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem(wall_clock=wall_clock)
    client = await connect(background, csms)
    await client.call(BOOT)
    await trio.sleep(300)
    assert await client.call(HeartbeatRequest()) == HeartbeatResponse(NOW + timedelta(seconds=300))


async def test_authorize_over_the_wire_matches_id_tags_case_insensitively(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem(id_tags={"ABC123"})
    client = await connect(background, csms)
    assert await client.call(AuthorizeRequest(id_tag="abc123")) == AuthorizeResponse(ACCEPTED)
    assert await client.exchange('[2,"a-2","Authorize",{"idTag":"nobody"}]') == [
        3,
        "a-2",
        {"idTagInfo": {"status": "Invalid"}},
    ]


async def test_transaction_ids_count_1_2_3_for_the_whole_central_system(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem()
    first = await connect(background, csms, "/ocpp/CP-1")
    second = await connect(background, csms, "/ocpp/CP-2")
    answers = [await client.call(start()) for client in (first, second, first)]
    assert [answer.transaction_id for answer in answers] == [1, 2, 3]  # type: ignore[attr-defined]


async def test_a_call_of_ours_is_answered_while_the_charge_points_call_is_in_flight(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem()
    client = await connect(background, csms)
    await csms.wait_connected("CP-1")
    results: list[Response] = []

    async def change_configuration() -> None:
        results.append(await csms.call("CP-1", CHANGE))

    async with trio.open_nursery() as calls:
        calls.start_soon(change_configuration)
        ours = await client.next_event()
        assert isinstance(ours, CallReceived)
        assert ours.request == CHANGE
        await client.send_call(HeartbeatRequest())  # the charge point's CALL is now in flight too
        answer = ChangeConfigurationResponse(status=ConfigurationStatus.ACCEPTED)
        await client.websocket.send_message(client.session.result(ours.unique_id, answer))
        heartbeat = await client.next_event()
        assert isinstance(heartbeat, ResultReceived)
        assert heartbeat.unique_id == "c-1"
    assert results == [ChangeConfigurationResponse(status=ConfigurationStatus.ACCEPTED)]
    assert [(r.direction, r.kind, r.action) for r in csms.records] == [
        ("out", "CALL", "ChangeConfiguration"),
        ("in", "CALL", "Heartbeat"),
        ("out", "CALLRESULT", "Heartbeat"),
        ("in", "CALLRESULT", "ChangeConfiguration"),
    ]


async def test_a_callerror_answer_raises_call_failed(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem()
    client = await connect(background, csms)
    await csms.wait_connected("CP-1")
    async with trio.open_nursery() as calls:
        calls.start_soon(answer_with_error, client)
        with pytest.raises(CallFailed) as failed:
            await csms.call("CP-1", CHANGE)
    assert (failed.value.code, failed.value.description, failed.value.details) == (
        ErrorCode.NOT_SUPPORTED,
        "not here",
        {"why": "test"},
    )


async def answer_with_error(client: Client) -> None:
    event = await client.next_event()
    assert isinstance(event, CallReceived)
    error = client.session.error(event.unique_id, ErrorCode.NOT_SUPPORTED, "not here", {"why": "test"})
    await client.websocket.send_message(error)


async def test_an_invalid_result_raises_call_failed_with_the_violated_constraint(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem()
    client = await connect(background, csms)
    await csms.wait_connected("CP-1")
    async with trio.open_nursery() as calls:
        calls.start_soon(answer_raw, client, '{"status":"Maybe"}')
        with pytest.raises(CallFailed) as failed:
            await csms.call("CP-1", CHANGE)
    assert failed.value.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION


async def answer_raw(client: Client, payload: str) -> None:
    unique_id = json.loads(await client.websocket.get_message())[1]
    await client.websocket.send_message(f'[3,"{unique_id}",{payload}]')


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('[2,"m-1","Heartbeat"]', "FormationViolation"),
        ('[2,"m-1","Heartbeat",{"extra":1}]', "FormationViolation"),
        ('[2,"m-1","Teleport",{}]', "NotImplemented"),
        ('[2,"m-1","Reset",{"type":"Soft"}]', "NotSupported"),
        ('[2,"m-1","Authorize",{}]', "OccurenceConstraintViolation"),
    ],
)
async def test_a_bad_call_gets_the_callerror_of_its_fault(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock, text: str, code: str
) -> None:
    csms = CentralSystem()
    client = await connect(background, csms)
    answer = await client.exchange(text)
    assert answer[:3] == [4, "m-1", code]
    assert len(answer) == 5


async def test_garbage_is_dropped_unanswered_and_the_connection_goes_on(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem(wall_clock=wall_clock)
    client = await connect(background, csms)
    await client.websocket.send_message("this is not JSON")
    await client.websocket.send_message('[3,"nobody-asked",{}]')
    assert await client.call(HeartbeatRequest()) == HeartbeatResponse(NOW)  # the next message received
    assert (csms.messages_in, csms.messages_out) == (3, 1)
    assert [(r.direction, r.kind, r.unique_id) for r in csms.records] == [
        ("in", "CALLRESULT", "nobody-asked"),
        ("in", "CALL", "c-1"),
        ("out", "CALLRESULT", "c-1"),
    ]


async def refusal(csms: CentralSystem, resource: str, subprotocols: list[str]) -> ConnectionRejected:
    """Connect, expecting a refusal; returns it once ``serve_stream`` has returned by itself."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    with trio.fail_after(STUCK_AFTER):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(csms.serve_stream, server_stream)
            with pytest.RaisesGroup(ConnectionRejected) as refused:
                async with trio.open_nursery() as client_nursery:
                    await wrap_client_stream(
                        client_nursery,
                        client_stream,  # type: ignore[arg-type]
                        "csms.test",
                        resource,
                        subprotocols=subprotocols,
                    )
    rejection = refused.value.exceptions[0]
    assert isinstance(rejection, ConnectionRejected)
    return rejection


@pytest.mark.parametrize("subprotocols", [[], ["ocpp2.0.1"], ["ocpp1.5"]])
async def test_a_client_not_offering_ocpp16_is_refused(
    autojump_clock: trio.testing.MockClock, subprotocols: list[str]
) -> None:
    csms = CentralSystem()
    rejection = await refusal(csms, "/ocpp/CP-1", subprotocols)
    assert rejection.status_code == 400
    assert (csms.connected, list(csms.records), trio.current_time()) == (frozenset(), [], 0)


async def test_ocpp16_is_chosen_among_the_subprotocols_offered(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    client = await connect(background, CentralSystem(), subprotocols=("ocpp2.0.1", "ocpp1.6"))
    assert client.websocket.subprotocol == "ocpp1.6"


async def test_a_url_without_a_charge_point_id_is_refused(autojump_clock: trio.testing.MockClock) -> None:
    rejection = await refusal(CentralSystem(), "/ocpp/", ["ocpp1.6"])
    assert rejection.status_code == 404


async def test_a_client_that_never_upgrades_is_dropped_after_the_handshake_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    csms = CentralSystem()
    client_stream, server_stream = trio.testing.memory_stream_pair()
    await csms.serve_stream(server_stream)
    assert trio.current_time() == HANDSHAKE_TIMEOUT
    assert await client_stream.receive_some() == b""  # closed by the Central System


async def test_records_hold_every_message_in_order_with_its_time(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem(wall_clock=wall_clock)
    client = await connect(background, csms)
    await client.call(BOOT)
    await trio.sleep(300)
    await client.call(HeartbeatRequest())
    boot = {"chargePointVendor": "Acme", "chargePointModel": "AC-22"}
    accepted = {"status": "Accepted", "currentTime": "2026-03-01T12:00:00Z", "interval": 300}
    heartbeat = {"currentTime": "2026-03-01T12:05:00Z"}
    assert list(csms.records) == [
        Record(0.0, "CP-1", "in", "CALL", "BootNotification", "c-1", boot),
        Record(0.0, "CP-1", "out", "CALLRESULT", "BootNotification", "c-1", accepted),
        Record(300.0, "CP-1", "in", "CALL", "Heartbeat", "c-2", {}),
        Record(300.0, "CP-1", "out", "CALLRESULT", "Heartbeat", "c-2", heartbeat),
    ]
    assert (csms.messages_in, csms.messages_out) == (2, 2)


async def test_records_of_errors_carry_code_description_and_details(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem()
    client = await connect(background, csms)
    await csms.wait_connected("CP-1")
    await client.exchange('[2,"m-1","Teleport",{}]')
    async with trio.open_nursery() as calls:
        calls.start_soon(answer_with_error, client)
        with pytest.raises(CallFailed):
            await csms.call("CP-1", CHANGE)
    refused, answered, ours, error = csms.records
    assert (refused.kind, refused.action, refused.payload) == ("CALL", "Teleport", {})
    assert (answered.kind, answered.action, answered.unique_id) == ("CALLERROR", "Teleport", "m-1")
    assert answered.payload == {
        "errorCode": "NotImplemented",
        "errorDescription": "unknown action 'Teleport'",
        "errorDetails": {},
    }
    assert (error.direction, error.kind, error.action, error.unique_id) == (
        "in",
        "CALLERROR",
        "ChangeConfiguration",
        ours.unique_id,
    )
    assert error.payload == {
        "errorCode": "NotSupported",
        "errorDescription": "not here",
        "errorDetails": {"why": "test"},
    }


async def test_the_records_keep_the_most_recent(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem(max_records=3)
    client = await connect(background, csms)
    for _ in range(3):
        await client.call(HeartbeatRequest())
    assert [(r.direction, r.unique_id) for r in csms.records] == [
        ("out", "c-2"),
        ("in", "c-3"),
        ("out", "c-3"),
    ]
    found = await csms.wait_for(lambda record: record.direction == "out")
    assert found.unique_id == "c-2"


async def test_wait_for_returns_the_first_match_recorded_or_to_come(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem()
    client = await connect(background, csms)
    await client.call(HeartbeatRequest())
    await client.call(HeartbeatRequest())
    earlier = await csms.wait_for(lambda record: record.action == "Heartbeat" and record.direction == "out")
    assert earlier.unique_id == "c-1"
    found: list[Record] = []

    async def wait_for_boot() -> None:
        found.append(await csms.wait_for(lambda record: record.action == "BootNotification"))

    async with trio.open_nursery() as waiters:
        waiters.start_soon(wait_for_boot)
        await client.call(HeartbeatRequest())
        await trio.testing.wait_all_tasks_blocked()
        assert found == []
        await client.call(BOOT)
    assert [(r.direction, r.unique_id) for r in found] == [("in", "c-4")]


async def test_wait_connected_returns_once_the_charge_point_is_connected(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem()
    async with trio.open_nursery() as waiters:
        waiters.start_soon(csms.wait_connected, "CP-1")
        await trio.testing.wait_all_tasks_blocked()
        await connect(background, csms)
    assert csms.connected == {"CP-1"}
    await csms.wait_connected("CP-1")  # at once


async def test_a_second_connection_with_the_same_id_replaces_the_first(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem()
    first = await connect(background, csms)
    await first.call(BOOT)
    second = await connect(background, csms)
    with pytest.raises(ConnectionClosed) as closed:
        await first.websocket.get_message()
    assert closed.value.reason is not None
    assert (closed.value.reason.code, closed.value.reason.reason) == (1000, "replaced by a new connection")
    await second.call(BOOT)
    assert csms.connected == {"CP-1"}
    async with trio.open_nursery() as calls:
        calls.start_soon(answer_with_error, second)
        with pytest.raises(CallFailed):
            await csms.call("CP-1", CHANGE)


async def test_a_client_disconnecting_mid_call_fails_the_call_and_nothing_else(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem(wall_clock=wall_clock)
    leaving = await connect(background, csms, "/ocpp/CP-1")
    staying = await connect(background, csms, "/ocpp/CP-2")
    await csms.wait_connected("CP-1")

    async def receive_and_vanish() -> None:
        assert isinstance(await leaving.next_event(), CallReceived)
        await leaving.stream.aclose()

    async with trio.open_nursery() as calls:
        calls.start_soon(receive_and_vanish)
        with pytest.raises(NotConnected):
            await csms.call("CP-1", CHANGE)
    assert trio.current_time() == 0  # failed at once, not at the timeout
    assert csms.connected == {"CP-2"}
    with pytest.raises(NotConnected):
        await csms.call("CP-1", CHANGE)
    assert await staying.call(HeartbeatRequest()) == HeartbeatResponse(NOW)


async def test_a_call_to_an_unknown_charge_point_raises_not_connected() -> None:
    with pytest.raises(NotConnected, match="CP-9"):
        await CentralSystem().call("CP-9", CHANGE)


async def test_an_unanswered_call_times_out_and_its_late_answer_is_dropped(
    background: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    csms = CentralSystem(answer_timeout=30)
    client = await connect(background, csms)
    await csms.wait_connected("CP-1")
    with pytest.raises(trio.TooSlowError):
        await csms.call("CP-1", CHANGE)
    assert trio.current_time() == 30
    late = await client.next_event()
    assert isinstance(late, CallReceived)
    answer = ChangeConfigurationResponse(status=ConfigurationStatus.REJECTED)
    await client.websocket.send_message(client.session.result(late.unique_id, answer))
    dropped = await csms.wait_for(lambda record: record.direction == "in")
    assert (dropped.kind, dropped.action, dropped.unique_id) == ("CALLRESULT", None, late.unique_id)
    async with trio.open_nursery() as calls:
        calls.start_soon(answer_raw, client, '{"status":"Accepted"}')
        assert await csms.call("CP-1", CHANGE) == ChangeConfigurationResponse(ConfigurationStatus.ACCEPTED)


# --- over a real socket -----------------------------------------------------------------------------------


async def test_boot_over_a_loopback_socket(nursery: trio.Nursery) -> None:
    csms = CentralSystem(wall_clock=lambda: NOW)
    with trio.fail_after(10):
        port = await nursery.start(csms.serve, "127.0.0.1", 0)
        assert port > 0
        async with open_websocket(
            "127.0.0.1", port, "/ocpp/CP%201", use_ssl=False, subprotocols=["ocpp1.6"]
        ) as websocket:
            assert websocket.subprotocol == "ocpp1.6"
            session = RpcSession()
            _, text = session.call(BOOT)
            await websocket.send_message(text)
            event = session.receive(await websocket.get_message())
            assert isinstance(event, ResultReceived)
            assert event.response == BootNotificationResponse(
                status=RegistrationStatus.ACCEPTED, current_time=NOW, interval=300
            )
            assert csms.connected == {"CP 1"}
