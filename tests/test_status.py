"""Connector status (specification 4.9): the status machine and MinimumStatusDuration, without any I/O."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from actors.ocpp import ChargePointErrorCode, ChargePointStatus, StatusNotificationRequest
from actors.status import (
    CHARGE_POINT_TRANSITIONS,
    TRANSITIONS,
    ConnectorEvent,
    ConnectorStatusMachine,
    IllegalTransition,
    StatusReport,
    StatusReporter,
    charging_status,
    event_between,
)

AVAILABLE = ChargePointStatus.AVAILABLE
PREPARING = ChargePointStatus.PREPARING
CHARGING = ChargePointStatus.CHARGING
SUSPENDED_EV = ChargePointStatus.SUSPENDED_EV
SUSPENDED_EVSE = ChargePointStatus.SUSPENDED_EVSE
FINISHING = ChargePointStatus.FINISHING
RESERVED = ChargePointStatus.RESERVED
UNAVAILABLE = ChargePointStatus.UNAVAILABLE
FAULTED = ChargePointStatus.FAULTED
E = ConnectorEvent

# The table of 4.9, transcribed from the specification (not from actors.status): cell, from, event, to.
SPEC_TABLE = [
    ("A2", AVAILABLE, E.USAGE_INITIATED, PREPARING),
    ("A3", AVAILABLE, E.WITHOUT_AUTHORIZATION_CHARGING_STARTS, CHARGING),
    ("A4", AVAILABLE, E.WITHOUT_AUTHORIZATION_EV_NOT_CHARGING, SUSPENDED_EV),
    ("A5", AVAILABLE, E.WITHOUT_AUTHORIZATION_EVSE_NOT_ALLOWING, SUSPENDED_EVSE),
    ("A7", AVAILABLE, E.RESERVE_NOW_RECEIVED, RESERVED),
    ("A8", AVAILABLE, E.SET_UNAVAILABLE, UNAVAILABLE),
    ("A9", AVAILABLE, E.FAULT_DETECTED, FAULTED),
    ("B1", PREPARING, E.USAGE_ENDED, AVAILABLE),
    ("B3", PREPARING, E.PREREQUISITES_MET_CHARGING_STARTS, CHARGING),
    ("B4", PREPARING, E.PREREQUISITES_MET_EV_NOT_CHARGING, SUSPENDED_EV),
    ("B5", PREPARING, E.PREREQUISITES_MET_EVSE_NOT_ALLOWING, SUSPENDED_EVSE),
    ("B6", PREPARING, E.ID_TAG_TIMED_OUT, FINISHING),
    ("B9", PREPARING, E.FAULT_DETECTED, FAULTED),
    ("C1", CHARGING, E.SESSION_ENDED_NO_USER_ACTION_REQUIRED, AVAILABLE),
    ("C4", CHARGING, E.EV_SUSPENDED, SUSPENDED_EV),
    ("C5", CHARGING, E.EVSE_SUSPENDED, SUSPENDED_EVSE),
    ("C6", CHARGING, E.TRANSACTION_STOPPED_USER_ACTION_REQUIRED, FINISHING),
    ("C8", CHARGING, E.SESSION_ENDED_SCHEDULED_UNAVAILABLE, UNAVAILABLE),
    ("C9", CHARGING, E.FAULT_DETECTED, FAULTED),
    ("D1", SUSPENDED_EV, E.SESSION_ENDED_NO_USER_ACTION_REQUIRED, AVAILABLE),
    ("D3", SUSPENDED_EV, E.EV_RESUMED, CHARGING),
    ("D5", SUSPENDED_EV, E.EVSE_SUSPENDED, SUSPENDED_EVSE),
    ("D6", SUSPENDED_EV, E.TRANSACTION_STOPPED_USER_ACTION_REQUIRED, FINISHING),
    ("D8", SUSPENDED_EV, E.SESSION_ENDED_SCHEDULED_UNAVAILABLE, UNAVAILABLE),
    ("D9", SUSPENDED_EV, E.FAULT_DETECTED, FAULTED),
    ("E1", SUSPENDED_EVSE, E.SESSION_ENDED_NO_USER_ACTION_REQUIRED, AVAILABLE),
    ("E3", SUSPENDED_EVSE, E.EVSE_RESTRICTION_LIFTED_CHARGING_RESUMES, CHARGING),
    ("E4", SUSPENDED_EVSE, E.EVSE_RESTRICTION_LIFTED_EV_NOT_CHARGING, SUSPENDED_EV),
    ("E6", SUSPENDED_EVSE, E.TRANSACTION_STOPPED_USER_ACTION_REQUIRED, FINISHING),
    ("E8", SUSPENDED_EVSE, E.SESSION_ENDED_SCHEDULED_UNAVAILABLE, UNAVAILABLE),
    ("E9", SUSPENDED_EVSE, E.FAULT_DETECTED, FAULTED),
    ("F1", FINISHING, E.USER_ACTIONS_COMPLETED, AVAILABLE),
    ("F2", FINISHING, E.SESSION_RESTARTED, PREPARING),
    ("F8", FINISHING, E.USER_ACTIONS_COMPLETED_SCHEDULED_UNAVAILABLE, UNAVAILABLE),
    ("F9", FINISHING, E.FAULT_DETECTED, FAULTED),
    ("G1", RESERVED, E.RESERVATION_ENDED, AVAILABLE),
    ("G2", RESERVED, E.RESERVATION_IDENTITY_PRESENTED, PREPARING),
    ("G8", RESERVED, E.RESERVATION_ENDED_SCHEDULED_UNAVAILABLE, UNAVAILABLE),
    ("G9", RESERVED, E.FAULT_DETECTED, FAULTED),
    ("H1", UNAVAILABLE, E.SET_AVAILABLE, AVAILABLE),
    ("H2", UNAVAILABLE, E.SET_AVAILABLE_AFTER_USER_INTERACTION, PREPARING),
    ("H3", UNAVAILABLE, E.SET_AVAILABLE_CHARGING_STARTS, CHARGING),
    ("H4", UNAVAILABLE, E.SET_AVAILABLE_EV_NOT_CHARGING, SUSPENDED_EV),
    ("H5", UNAVAILABLE, E.SET_AVAILABLE_EVSE_NOT_ALLOWING, SUSPENDED_EVSE),
    ("H9", UNAVAILABLE, E.FAULT_DETECTED, FAULTED),
]
SPEC_CELLS = {(status, event): target for _, status, event, target in SPEC_TABLE}
CELL_IDS = [cell for cell, *_ in SPEC_TABLE]
PRE_FAULT_STATUSES = [s for s in ChargePointStatus if s is not FAULTED]  # I1 ... I8

# Connector 0: Available, Unavailable and Faulted only.
CONNECTOR_ZERO = {
    (AVAILABLE, E.SET_UNAVAILABLE): UNAVAILABLE,
    (AVAILABLE, E.FAULT_DETECTED): FAULTED,
    (UNAVAILABLE, E.SET_AVAILABLE): AVAILABLE,
    (UNAVAILABLE, E.FAULT_DETECTED): FAULTED,
}


def faulted_machine(connector_id: int, pre_fault: ChargePointStatus) -> ConnectorStatusMachine:
    return ConnectorStatusMachine(connector_id, status=FAULTED, pre_fault=pre_fault)


# --- the status machine of connectors > 0 ------------------------------------------------------------


def test_the_transcription_has_45_distinct_cells_and_one_event_per_described_cell() -> None:
    assert len(SPEC_TABLE) == len(SPEC_CELLS) == 45
    assert len({(status, target) for _, status, _, target in SPEC_TABLE}) == 45
    for cell, _, event, _ in SPEC_TABLE:
        assert cell in event.value.split(), (cell, event)


@pytest.mark.parametrize(("cell", "status", "event", "target"), SPEC_TABLE, ids=CELL_IDS)
def test_every_cell_of_the_table(
    cell: str, status: ChargePointStatus, event: ConnectorEvent, target: ChargePointStatus
) -> None:
    machine = ConnectorStatusMachine(1, status=status)
    assert machine.allows(event)
    assert machine.target(event) is target
    assert machine.apply(event) is target
    assert machine.status is target


def test_the_table_has_exactly_the_cells_of_the_specification() -> None:
    assert TRANSITIONS == SPEC_CELLS


@pytest.mark.parametrize("status", PRE_FAULT_STATUSES)
def test_every_pair_outside_the_table_is_illegal(status: ChargePointStatus) -> None:
    for event in ConnectorEvent:
        if (status, event) in SPEC_CELLS:
            continue
        machine = ConnectorStatusMachine(1, status=status)
        assert not machine.allows(event)
        with pytest.raises(IllegalTransition) as raised:
            machine.apply(event)
        assert (raised.value.connector_id, raised.value.status, raised.value.event) == (1, status, event)
        assert str(raised.value) == f"connector 1: no transition from {status} on {event.name}"
        assert machine.status is status  # unchanged


@pytest.mark.parametrize("pre_fault", PRE_FAULT_STATUSES)
def test_in_faulted_only_the_resolution_is_legal(pre_fault: ChargePointStatus) -> None:
    for event in ConnectorEvent:
        if event is E.FAULT_RESOLVED:
            continue
        machine = faulted_machine(1, pre_fault)
        with pytest.raises(IllegalTransition):
            machine.apply(event)
        assert (machine.status, machine.pre_fault) == (FAULTED, pre_fault)


@pytest.mark.parametrize("pre_fault", PRE_FAULT_STATUSES, ids=[f"I{i}" for i in range(1, 9)])
def test_a_resolved_fault_returns_to_the_pre_fault_status(pre_fault: ChargePointStatus) -> None:
    machine = ConnectorStatusMachine(1, status=pre_fault)
    assert machine.apply(E.FAULT_DETECTED) is FAULTED
    assert (machine.status, machine.pre_fault) == (FAULTED, pre_fault)
    assert machine.apply(E.FAULT_RESOLVED) is pre_fault
    assert (machine.status, machine.pre_fault) == (pre_fault, None)
    with pytest.raises(IllegalTransition):
        machine.apply(E.FAULT_RESOLVED)


def test_a_machine_restored_in_faulted_returns_to_its_given_pre_fault_status() -> None:
    machine = faulted_machine(3, UNAVAILABLE)
    assert machine.apply(E.FAULT_RESOLVED) is UNAVAILABLE


@pytest.mark.parametrize(
    ("status", "pre_fault"),
    [(FAULTED, None), (FAULTED, FAULTED), (AVAILABLE, CHARGING), (CHARGING, AVAILABLE)],
)
def test_an_inconsistent_pre_fault_status_is_refused(
    status: ChargePointStatus, pre_fault: ChargePointStatus | None
) -> None:
    with pytest.raises(ValueError, match="pre-fault"):
        ConnectorStatusMachine(1, status=status, pre_fault=pre_fault)


def test_a_transaction_walk_through_the_table() -> None:
    machine = ConnectorStatusMachine(2)
    walk = [
        (E.RESERVE_NOW_RECEIVED, RESERVED),
        (E.RESERVATION_IDENTITY_PRESENTED, PREPARING),
        (E.PREREQUISITES_MET_EV_NOT_CHARGING, SUSPENDED_EV),
        (E.EV_RESUMED, CHARGING),
        (E.FAULT_DETECTED, FAULTED),
        (E.FAULT_RESOLVED, CHARGING),
        (E.EVSE_SUSPENDED, SUSPENDED_EVSE),
        (E.TRANSACTION_STOPPED_USER_ACTION_REQUIRED, FINISHING),
        (E.USER_ACTIONS_COMPLETED, AVAILABLE),
    ]
    assert [machine.apply(event) for event, _ in walk] == [target for _, target in walk]


# --- SuspendedEVSE precedence ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ev_suspended", "evse_suspended", "expected"),
    [
        (False, False, CHARGING),
        (True, False, SUSPENDED_EV),
        (False, True, SUSPENDED_EVSE),
        (True, True, SUSPENDED_EVSE),  # the EVSE takes precedence (4.9)
    ],
)
def test_charging_status_gives_suspended_evse_precedence(
    ev_suspended: bool, evse_suspended: bool, expected: ChargePointStatus
) -> None:
    assert charging_status(ev_suspended, evse_suspended) is expected


def test_suspension_changes_follow_the_table_with_suspended_evse_first() -> None:
    machine = ConnectorStatusMachine(1, status=CHARGING)
    flags = [(True, False), (True, True), (False, True), (True, True), (True, False), (False, False)]
    seen = []
    for ev_suspended, evse_suspended in flags:
        event = event_between(machine.status, charging_status(ev_suspended, evse_suspended))
        if event is not None:
            seen.append((event, machine.apply(event)))
    assert seen == [
        (E.EV_SUSPENDED, SUSPENDED_EV),
        (E.EVSE_SUSPENDED, SUSPENDED_EVSE),  # both suspended: SuspendedEVSE
        (E.EVSE_RESTRICTION_LIFTED_EV_NOT_CHARGING, SUSPENDED_EV),
        (E.EV_RESUMED, CHARGING),
    ]


def test_event_between_finds_the_cell_and_nothing_else() -> None:
    for cell, status, event, target in SPEC_TABLE:
        assert event_between(status, target) is event, cell
    assert event_between(CHARGING, CHARGING) is None
    assert event_between(PREPARING, UNAVAILABLE) is None  # no B8
    assert event_between(FAULTED, AVAILABLE) is None  # row I depends on the pre-fault status


# --- connector 0 ---------------------------------------------------------------------------------------


def test_connector_zero_table() -> None:
    assert CHARGE_POINT_TRANSITIONS == CONNECTOR_ZERO


@pytest.mark.parametrize(("status", "event"), list(itertools.product([AVAILABLE, UNAVAILABLE], E)))
def test_connector_zero_takes_only_availability_and_faults(
    status: ChargePointStatus, event: ConnectorEvent
) -> None:
    machine = ConnectorStatusMachine(0, status=status)
    expected = CONNECTOR_ZERO.get((status, event))
    if expected is None:
        with pytest.raises(IllegalTransition):
            machine.apply(event)
        assert machine.status is status
    else:
        assert machine.apply(event) is expected


@pytest.mark.parametrize("pre_fault", [AVAILABLE, UNAVAILABLE])
def test_connector_zero_returns_from_a_fault_to_its_pre_fault_status(pre_fault: ChargePointStatus) -> None:
    machine = ConnectorStatusMachine(0, status=pre_fault)
    machine.apply(E.FAULT_DETECTED)
    for event in E:
        if event is not E.FAULT_RESOLVED:
            assert not machine.allows(event)
    assert machine.apply(E.FAULT_RESOLVED) is pre_fault


@pytest.mark.parametrize("status", [PREPARING, CHARGING, SUSPENDED_EV, SUSPENDED_EVSE, FINISHING, RESERVED])
def test_connector_zero_cannot_have_a_connector_status(status: ChargePointStatus) -> None:
    with pytest.raises(ValueError, match="connector 0"):
        ConnectorStatusMachine(0, status=status)
    with pytest.raises(ValueError, match="connector 0"):
        ConnectorStatusMachine(0, status=FAULTED, pre_fault=status)


# --- MinimumStatusDuration -----------------------------------------------------------------------------

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NO_ERROR = ChargePointErrorCode.NO_ERROR


def at(seconds: float) -> datetime:
    """The wall-clock time ``seconds`` after T0 (trio time is the same number of seconds)."""
    return T0 + timedelta(seconds=seconds)


def change(
    reporter: StatusReporter,
    now: float,
    status: ChargePointStatus,
    error_code: ChargePointErrorCode = NO_ERROR,
    info: str | None = None,
) -> None:
    reporter.changed(status, error_code, info, timestamp=at(now), now=now)


def report(
    seconds: float,
    status: ChargePointStatus,
    error_code: ChargePointErrorCode = NO_ERROR,
    info: str | None = None,
    connector_id: int = 1,
) -> StatusReport:
    return StatusReport(connector_id, status, error_code, info, at(seconds))


def test_with_no_minimum_duration_every_change_is_due_at_once_in_order() -> None:
    reporter = StatusReporter(1)
    assert reporter.next_due() is None
    change(reporter, 0, AVAILABLE)
    assert reporter.next_due() == 0
    change(reporter, 1, PREPARING)
    change(reporter, 1, SUSPENDED_EV)
    change(reporter, 2, CHARGING)
    change(reporter, 2, CHARGING)  # no change: ignored
    change(reporter, 3, CHARGING, ChargePointErrorCode.HIGH_TEMPERATURE, "hot")  # a warning is a change
    assert reporter.next_due() == 0
    assert reporter.due(3) == [
        report(0, AVAILABLE),
        report(1, PREPARING),
        report(1, SUSPENDED_EV),
        report(2, CHARGING),
        report(3, CHARGING, ChargePointErrorCode.HIGH_TEMPERATURE, "hot"),
    ]
    assert reporter.due(3) == []
    assert reporter.next_due() is None


def test_a_status_that_lasts_the_minimum_duration_is_reported_with_the_time_of_its_change() -> None:
    reporter = StatusReporter(1, minimum_duration=5)
    change(reporter, 10, PREPARING)
    assert reporter.next_due() == 15
    assert reporter.due(14.9) == []
    assert reporter.due(15) == [report(10, PREPARING)]
    assert reporter.next_due() is None


def test_a_short_lived_status_is_never_reported() -> None:
    reporter = StatusReporter(1, minimum_duration=5)
    change(reporter, 0, PREPARING)
    assert reporter.due(5) == [report(0, PREPARING)]
    change(reporter, 10, SUSPENDED_EV)
    assert reporter.next_due() == 15
    change(reporter, 12, SUSPENDED_EVSE)
    assert reporter.next_due() == 17
    change(reporter, 13, CHARGING)
    assert reporter.next_due() == 18
    assert reporter.due(17.9) == []
    assert reporter.due(18) == [report(13, CHARGING)]


def test_flapping_back_to_the_reported_status_sends_nothing() -> None:
    reporter = StatusReporter(1, minimum_duration=5)
    change(reporter, 0, CHARGING)
    assert reporter.due(5) == [report(0, CHARGING)]
    change(reporter, 20, SUSPENDED_EV)
    change(reporter, 21, CHARGING)
    assert reporter.next_due() is None
    assert reporter.due(100) == []
    # the error code counts as well: a warning that clears before the minimum duration is not reported
    change(reporter, 200, CHARGING, ChargePointErrorCode.OVER_VOLTAGE)
    change(reporter, 201, CHARGING)
    assert reporter.due(300) == []


def test_reports_not_yet_taken_leave_in_the_order_of_the_changes() -> None:
    reporter = StatusReporter(1, minimum_duration=5)
    change(reporter, 0, PREPARING)
    change(reporter, 6, CHARGING)  # Preparing lasted 6 s: due, though due() was not called in between
    change(reporter, 20, FINISHING)
    change(reporter, 22, AVAILABLE)  # Finishing lasted 2 s only
    assert reporter.next_due() == 5  # already past: wake up at once
    assert reporter.due(30) == [report(0, PREPARING), report(6, CHARGING), report(22, AVAILABLE)]


def test_a_status_is_due_exactly_when_it_has_lasted_the_minimum_duration() -> None:
    reporter = StatusReporter(1, minimum_duration=5)
    change(reporter, 0, PREPARING)
    change(reporter, 5, CHARGING)  # Preparing lasted exactly 5 s
    assert reporter.due(5) == [report(0, PREPARING)]
    assert reporter.next_due() == 10


def test_a_new_minimum_duration_applies_to_the_pending_status() -> None:
    reporter = StatusReporter(1, minimum_duration=60)
    change(reporter, 0, UNAVAILABLE)
    assert reporter.next_due() == 60
    reporter.minimum_duration = 0
    assert reporter.next_due() == 0
    assert reporter.due(1) == [report(0, UNAVAILABLE)]
    with pytest.raises(ValueError):  # noqa: PT011 - attrs' validator message
        reporter.minimum_duration = -1


def test_report_current_supersedes_what_is_due_or_pending() -> None:
    reporter = StatusReporter(2, minimum_duration=5)
    assert reporter.report_current(at(0)) is None
    change(reporter, 0, PREPARING)
    change(reporter, 10, CHARGING)
    current = reporter.report_current(at(11))
    assert current == report(11, CHARGING, connector_id=2)
    assert reporter.next_due() is None
    assert reporter.due(100) == []
    change(reporter, 100, SUSPENDED_EV)
    change(reporter, 101, CHARGING)  # back to what report_current announced
    assert reporter.due(200) == []


def test_a_report_becomes_a_status_notification() -> None:
    request = report(3, FAULTED, ChargePointErrorCode.GROUND_FAILURE, "RCD tripped").request()
    assert request == StatusNotificationRequest(
        connector_id=1,
        error_code=ChargePointErrorCode.GROUND_FAILURE,
        status=FAULTED,
        info="RCD tripped",
        timestamp=at(3),
    )
