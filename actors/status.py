"""Connector status (specification 4.9), as pure decisions: the status machine and when to report it.

:data:`TRANSITIONS` is the table of 4.9 written as data, one line per cell, so the whole state machine of a
connector (ConnectorId > 0) is read in one place; :data:`CHARGE_POINT_TRANSITIONS` is the small one of
connector 0. :class:`ConnectorStatusMachine` follows one of them and refuses anything else: an illegal
transition is a bug in its caller, raised as :class:`IllegalTransition`, never a state.

:class:`StatusReporter` applies ``MinimumStatusDuration``: it is told every status change and says which
StatusNotifications are due, and when to look again.

No trio, no I/O, no clock reads: the actor passes trio times (``now``, float seconds) and wall-clock
timestamps in.
"""

from datetime import datetime
from enum import Enum

import attrs

from actors.ocpp import ChargePointErrorCode, ChargePointStatus, StatusNotificationRequest

__all__ = [
    "CHARGE_POINT_STATUSES",
    "CHARGE_POINT_TRANSITIONS",
    "TRANSITIONS",
    "ConnectorEvent",
    "ConnectorStatusMachine",
    "IllegalTransition",
    "StatusReport",
    "StatusReporter",
    "charging_status",
    "event_between",
]


class ConnectorEvent(Enum):
    """What happens to a connector: the description column of the events table of 4.9.

    One event covers every cell with the same description (``FAULT_DETECTED`` is A9 ... H9). Each comment
    gives the cells of the table, and :data:`TRANSITIONS` where each leads.
    """

    USAGE_INITIATED = "A2"
    """Plug inserted, bay occupied, idTag presented, start button pushed, RemoteStartTransaction received."""
    WITHOUT_AUTHORIZATION_CHARGING_STARTS = "A3"
    """In a charge point without authorization means: charging starts at once."""
    WITHOUT_AUTHORIZATION_EV_NOT_CHARGING = "A4"
    """As A3, but the EV does not start charging."""
    WITHOUT_AUTHORIZATION_EVSE_NOT_ALLOWING = "A5"
    """As A3, but the EVSE does not allow charging."""
    RESERVE_NOW_RECEIVED = "A7"
    """A ReserveNow message reserves the connector."""
    SET_UNAVAILABLE = "A8"
    """A ChangeAvailability message sets the connector Unavailable."""
    FAULT_DETECTED = "A9 B9 C9 D9 E9 F9 G9 H9"
    """A fault is detected that prevents further charging operations."""
    FAULT_RESOLVED = "I1 I2 I3 I4 I5 I6 I7 I8"
    """The fault is resolved: the status returns to the pre-fault one (the machine remembers it)."""
    USAGE_ENDED = "B1"
    """Intended usage ended: plug removed, bay left, idTag presented again, ConnectionTimeout expired."""
    PREREQUISITES_MET_CHARGING_STARTS = "B3"
    """All prerequisites for charging are met and charging starts."""
    PREREQUISITES_MET_EV_NOT_CHARGING = "B4"
    """All prerequisites for charging are met but the EV does not start charging."""
    PREREQUISITES_MET_EVSE_NOT_ALLOWING = "B5"
    """All prerequisites for charging are met but the EVSE does not allow charging."""
    ID_TAG_TIMED_OUT = "B6"
    """Usage was initiated (plug, bay) but no idTag was presented within the timeout."""
    SESSION_ENDED_NO_USER_ACTION_REQUIRED = "C1 D1 E1"
    """The charging session ends while no user action is required (e.g. fixed cable removed on EV side)."""
    EV_SUSPENDED = "C4"
    """Charging stops upon EV request (e.g. S2 opened)."""
    EVSE_SUSPENDED = "C5 D5"
    """Charging is stopped or suspended by the EVSE (smart charging limit, transaction invalidated)."""
    TRANSACTION_STOPPED_USER_ACTION_REQUIRED = "C6 D6 E6"
    """The transaction is stopped (by the user or RemoteStopTransaction); the user must still act."""
    SESSION_ENDED_SCHEDULED_UNAVAILABLE = "C8 D8 E8"
    """The charging session ends, no user action is required, and the connector was scheduled Unavailable."""
    EV_RESUMED = "D3"
    """Charging resumes upon request of the EV (e.g. S2 closed)."""
    EVSE_RESTRICTION_LIFTED_CHARGING_RESUMES = "E3"
    """Charging resumes because the EVSE restriction is lifted."""
    EVSE_RESTRICTION_LIFTED_EV_NOT_CHARGING = "E4"
    """The EVSE restriction is lifted but the EV does not start charging."""
    USER_ACTIONS_COMPLETED = "F1"
    """All user actions completed (cable removed, bay left)."""
    SESSION_RESTARTED = "F2"
    """The user restarts a charging session (reconnects, presents the idTag again): a new transaction."""
    USER_ACTIONS_COMPLETED_SCHEDULED_UNAVAILABLE = "F8"
    """All user actions completed and the connector was scheduled to become Unavailable."""
    RESERVATION_ENDED = "G1"
    """The reservation expired or a CancelReservation message was received."""
    RESERVATION_IDENTITY_PRESENTED = "G2"
    """The idTag of the reservation is presented."""
    RESERVATION_ENDED_SCHEDULED_UNAVAILABLE = "G8"
    """As G1, and the connector was scheduled to become Unavailable."""
    SET_AVAILABLE = "H1"
    """A ChangeAvailability message sets the connector Available."""
    SET_AVAILABLE_AFTER_USER_INTERACTION = "H2"
    """The connector is set Available after a user had interacted with the charge point."""
    SET_AVAILABLE_CHARGING_STARTS = "H3"
    """The connector is set Available and no user action is required to start charging."""
    SET_AVAILABLE_EV_NOT_CHARGING = "H4"
    """As H3, but the EV does not start charging."""
    SET_AVAILABLE_EVSE_NOT_ALLOWING = "H5"
    """As H3, but the EVSE does not allow charging."""


# Short names for the table only, so that each cell fits on one line.
_S = ChargePointStatus
_E = ConnectorEvent

TRANSITIONS: dict[tuple[ChargePointStatus, ConnectorEvent], ChargePointStatus] = {
    # A: from Available
    (_S.AVAILABLE, _E.USAGE_INITIATED): _S.PREPARING,  # A2
    (_S.AVAILABLE, _E.WITHOUT_AUTHORIZATION_CHARGING_STARTS): _S.CHARGING,  # A3
    (_S.AVAILABLE, _E.WITHOUT_AUTHORIZATION_EV_NOT_CHARGING): _S.SUSPENDED_EV,  # A4
    (_S.AVAILABLE, _E.WITHOUT_AUTHORIZATION_EVSE_NOT_ALLOWING): _S.SUSPENDED_EVSE,  # A5
    (_S.AVAILABLE, _E.RESERVE_NOW_RECEIVED): _S.RESERVED,  # A7
    (_S.AVAILABLE, _E.SET_UNAVAILABLE): _S.UNAVAILABLE,  # A8
    (_S.AVAILABLE, _E.FAULT_DETECTED): _S.FAULTED,  # A9
    # B: from Preparing
    (_S.PREPARING, _E.USAGE_ENDED): _S.AVAILABLE,  # B1
    (_S.PREPARING, _E.PREREQUISITES_MET_CHARGING_STARTS): _S.CHARGING,  # B3
    (_S.PREPARING, _E.PREREQUISITES_MET_EV_NOT_CHARGING): _S.SUSPENDED_EV,  # B4
    (_S.PREPARING, _E.PREREQUISITES_MET_EVSE_NOT_ALLOWING): _S.SUSPENDED_EVSE,  # B5
    (_S.PREPARING, _E.ID_TAG_TIMED_OUT): _S.FINISHING,  # B6
    (_S.PREPARING, _E.FAULT_DETECTED): _S.FAULTED,  # B9
    # C: from Charging
    (_S.CHARGING, _E.SESSION_ENDED_NO_USER_ACTION_REQUIRED): _S.AVAILABLE,  # C1
    (_S.CHARGING, _E.EV_SUSPENDED): _S.SUSPENDED_EV,  # C4
    (_S.CHARGING, _E.EVSE_SUSPENDED): _S.SUSPENDED_EVSE,  # C5
    (_S.CHARGING, _E.TRANSACTION_STOPPED_USER_ACTION_REQUIRED): _S.FINISHING,  # C6
    (_S.CHARGING, _E.SESSION_ENDED_SCHEDULED_UNAVAILABLE): _S.UNAVAILABLE,  # C8
    (_S.CHARGING, _E.FAULT_DETECTED): _S.FAULTED,  # C9
    # D: from SuspendedEV
    (_S.SUSPENDED_EV, _E.SESSION_ENDED_NO_USER_ACTION_REQUIRED): _S.AVAILABLE,  # D1
    (_S.SUSPENDED_EV, _E.EV_RESUMED): _S.CHARGING,  # D3
    (_S.SUSPENDED_EV, _E.EVSE_SUSPENDED): _S.SUSPENDED_EVSE,  # D5
    (_S.SUSPENDED_EV, _E.TRANSACTION_STOPPED_USER_ACTION_REQUIRED): _S.FINISHING,  # D6
    (_S.SUSPENDED_EV, _E.SESSION_ENDED_SCHEDULED_UNAVAILABLE): _S.UNAVAILABLE,  # D8
    (_S.SUSPENDED_EV, _E.FAULT_DETECTED): _S.FAULTED,  # D9
    # E: from SuspendedEVSE
    (_S.SUSPENDED_EVSE, _E.SESSION_ENDED_NO_USER_ACTION_REQUIRED): _S.AVAILABLE,  # E1
    (_S.SUSPENDED_EVSE, _E.EVSE_RESTRICTION_LIFTED_CHARGING_RESUMES): _S.CHARGING,  # E3
    (_S.SUSPENDED_EVSE, _E.EVSE_RESTRICTION_LIFTED_EV_NOT_CHARGING): _S.SUSPENDED_EV,  # E4
    (_S.SUSPENDED_EVSE, _E.TRANSACTION_STOPPED_USER_ACTION_REQUIRED): _S.FINISHING,  # E6
    (_S.SUSPENDED_EVSE, _E.SESSION_ENDED_SCHEDULED_UNAVAILABLE): _S.UNAVAILABLE,  # E8
    (_S.SUSPENDED_EVSE, _E.FAULT_DETECTED): _S.FAULTED,  # E9
    # F: from Finishing
    (_S.FINISHING, _E.USER_ACTIONS_COMPLETED): _S.AVAILABLE,  # F1
    (_S.FINISHING, _E.SESSION_RESTARTED): _S.PREPARING,  # F2
    (_S.FINISHING, _E.USER_ACTIONS_COMPLETED_SCHEDULED_UNAVAILABLE): _S.UNAVAILABLE,  # F8
    (_S.FINISHING, _E.FAULT_DETECTED): _S.FAULTED,  # F9
    # G: from Reserved
    (_S.RESERVED, _E.RESERVATION_ENDED): _S.AVAILABLE,  # G1
    (_S.RESERVED, _E.RESERVATION_IDENTITY_PRESENTED): _S.PREPARING,  # G2
    (_S.RESERVED, _E.RESERVATION_ENDED_SCHEDULED_UNAVAILABLE): _S.UNAVAILABLE,  # G8
    (_S.RESERVED, _E.FAULT_DETECTED): _S.FAULTED,  # G9
    # H: from Unavailable
    (_S.UNAVAILABLE, _E.SET_AVAILABLE): _S.AVAILABLE,  # H1
    (_S.UNAVAILABLE, _E.SET_AVAILABLE_AFTER_USER_INTERACTION): _S.PREPARING,  # H2
    (_S.UNAVAILABLE, _E.SET_AVAILABLE_CHARGING_STARTS): _S.CHARGING,  # H3
    (_S.UNAVAILABLE, _E.SET_AVAILABLE_EV_NOT_CHARGING): _S.SUSPENDED_EV,  # H4
    (_S.UNAVAILABLE, _E.SET_AVAILABLE_EVSE_NOT_ALLOWING): _S.SUSPENDED_EVSE,  # H5
    (_S.UNAVAILABLE, _E.FAULT_DETECTED): _S.FAULTED,  # H9
    # I: from Faulted, FAULT_RESOLVED returns to the pre-fault status (I1-I8): ConnectorStatusMachine.apply
}
"""The status transitions of a connector (ConnectorId > 0): (status, event) -> new status.

Exactly the cells A2 ... H9 of the table of 4.9. Row I (``FAULT_RESOLVED``) depends on the status before the
fault, so :class:`ConnectorStatusMachine` handles it; it leads back to any status but Faulted.
"""

CHARGE_POINT_STATUSES = frozenset({_S.AVAILABLE, _S.UNAVAILABLE, _S.FAULTED})
"""The only statuses of connector 0, the charge point as a whole (4.9)."""

CHARGE_POINT_TRANSITIONS: dict[tuple[ChargePointStatus, ConnectorEvent], ChargePointStatus] = {
    (_S.AVAILABLE, _E.SET_UNAVAILABLE): _S.UNAVAILABLE,  # as A8
    (_S.AVAILABLE, _E.FAULT_DETECTED): _S.FAULTED,  # as A9
    (_S.UNAVAILABLE, _E.SET_AVAILABLE): _S.AVAILABLE,  # as H1
    (_S.UNAVAILABLE, _E.FAULT_DETECTED): _S.FAULTED,  # as H9
    # from Faulted, FAULT_RESOLVED returns to Available or Unavailable, whichever it was before
}
"""The status transitions of connector 0, which has only Available, Unavailable and Faulted (4.9).

Its status has no direct connection to the status of the connectors.
"""

_EVENT_BETWEEN = {(status, target): event for (status, event), target in TRANSITIONS.items()}
_CHARGING_STATUSES = frozenset({_S.CHARGING, _S.SUSPENDED_EV, _S.SUSPENDED_EVSE})


def charging_status(ev_suspended: bool, evse_suspended: bool) -> ChargePointStatus:
    """The status of a connector whose transaction may charge: Charging, SuspendedEV or SuspendedEVSE.

    When both the EV and the EVSE suspend charging, SuspendedEVSE takes precedence (4.9).
    """
    if evse_suspended:
        return ChargePointStatus.SUSPENDED_EVSE
    if ev_suspended:
        return ChargePointStatus.SUSPENDED_EV
    return ChargePointStatus.CHARGING


def event_between(status: ChargePointStatus, target: ChargePointStatus) -> ConnectorEvent | None:
    """The event of the 4.9 table that leads a connector (> 0) from ``status`` to ``target``.

    Each cell of the table has exactly one event. ``None`` when the table has no such cell, which includes
    ``status == target`` (nothing to do) and row I (use ``FAULT_RESOLVED``). With :func:`charging_status`
    it finds the event for a change of the EV's or EVSE's suspension, e.g. Charging -> SuspendedEVSE is
    ``EVSE_SUSPENDED``.
    """
    return _EVENT_BETWEEN.get((status, target))


class IllegalTransition(Exception):
    """A connector was given an event that its status does not allow: a bug in the caller, never a state."""

    def __init__(self, connector_id: int, status: ChargePointStatus, event: ConnectorEvent) -> None:
        super().__init__(f"connector {connector_id}: no transition from {status} on {event.name}")
        self.connector_id = connector_id
        self.status = status
        self.event = event


@attrs.define
class ConnectorStatusMachine:
    """The status of one connector, changed only by events of its table; owned by its connector actor.

    Connector 0 follows :data:`CHARGE_POINT_TRANSITIONS`, the others :data:`TRANSITIONS`. Both remember the
    status before Faulted, to which ``FAULT_RESOLVED`` returns (I1-I8). A machine may start in any status
    its connector can have (e.g. Unavailable kept across a reboot); one that starts Faulted needs its
    ``pre_fault`` status.
    """

    connector_id: int = attrs.field(validator=attrs.validators.ge(0))
    _status: ChargePointStatus = attrs.field(default=ChargePointStatus.AVAILABLE, alias="status")
    _pre_fault: ChargePointStatus | None = attrs.field(default=None, alias="pre_fault")

    def __attrs_post_init__(self) -> None:
        allowed = CHARGE_POINT_STATUSES if self.connector_id == 0 else frozenset(ChargePointStatus)
        if self._status not in allowed or self._pre_fault not in allowed | {None}:
            raise ValueError(f"connector {self.connector_id} cannot be {self._status} / {self._pre_fault}")
        faulted = self._status is ChargePointStatus.FAULTED
        if faulted != (self._pre_fault is not None) or self._pre_fault is ChargePointStatus.FAULTED:
            raise ValueError(f"pre-fault status {self._pre_fault} does not fit status {self._status}")

    @property
    def status(self) -> ChargePointStatus:
        """The current status."""
        return self._status

    @property
    def pre_fault(self) -> ChargePointStatus | None:
        """The status before the fault while Faulted; ``None`` otherwise."""
        return self._pre_fault

    @property
    def transitions(self) -> dict[tuple[ChargePointStatus, ConnectorEvent], ChargePointStatus]:
        """The table this connector follows."""
        return CHARGE_POINT_TRANSITIONS if self.connector_id == 0 else TRANSITIONS

    def target(self, event: ConnectorEvent) -> ChargePointStatus | None:
        """The status ``event`` would lead to, or ``None`` if it is illegal now; changes nothing."""
        if self._status is ChargePointStatus.FAULTED and event is ConnectorEvent.FAULT_RESOLVED:
            return self._pre_fault
        return self.transitions.get((self._status, event))

    def allows(self, event: ConnectorEvent) -> bool:
        """Whether ``event`` is legal in the current status."""
        return self.target(event) is not None

    def apply(self, event: ConnectorEvent) -> ChargePointStatus:
        """Take ``event``: the new status, or :class:`IllegalTransition` if the table has no such cell."""
        target = self.target(event)
        if target is None:
            raise IllegalTransition(self.connector_id, self._status, event)
        self._pre_fault = self._status if target is ChargePointStatus.FAULTED else None
        self._status = target
        return target


@attrs.frozen
class StatusReport:
    """One StatusNotification to send: the status of a connector since ``timestamp`` (its change)."""

    connector_id: int
    status: ChargePointStatus
    error_code: ChargePointErrorCode
    info: str | None
    timestamp: datetime

    def request(self) -> StatusNotificationRequest:
        """The StatusNotification.req that carries this report."""
        return StatusNotificationRequest(
            connector_id=self.connector_id,
            error_code=self.error_code,
            status=self.status,
            info=self.info,
            timestamp=self.timestamp,
        )

    def same_condition(self, other: "StatusReport") -> bool:
        """Whether ``other`` tells the Central System the same (status, error code and info), at any time."""
        return (self.status, self.error_code, self.info) == (other.status, other.error_code, other.info)


@attrs.frozen
class _Pending:
    report: StatusReport
    since: float
    """The trio time of the change."""


@attrs.define
class StatusReporter:
    """When the StatusNotifications of one connector are due, under ``MinimumStatusDuration`` (4.9, 9.1).

    The connector actor calls :meth:`changed` for every change of status, error code or info, sends what
    :meth:`due` returns and sleeps until :meth:`next_due`. With a minimum duration of 0 a change is due at
    once. Otherwise a status is reported only once it has lasted the minimum duration, stamped with the time
    of its change; one replaced sooner is never reported, and a return to what was last reported sends
    nothing, since nothing changed for the Central System. Reports leave in the order of the changes.
    """

    connector_id: int = attrs.field(validator=attrs.validators.ge(0))
    minimum_duration: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    """``MinimumStatusDuration`` in seconds; may be changed at any time (ChangeConfiguration)."""
    _current: StatusReport | None = attrs.field(default=None, init=False)
    """The latest change, reported or not."""
    _announced: StatusReport | None = attrs.field(default=None, init=False)
    """The last report due or sent: what the Central System knows (or soon will)."""
    _pending: _Pending | None = attrs.field(default=None, init=False)
    """The current status while it has not lasted the minimum duration."""
    _ready: list[tuple[float, StatusReport]] = attrs.field(factory=list, init=False)
    """Reports due and not yet taken by :meth:`due`, with the time each became due."""

    def changed(
        self,
        status: ChargePointStatus,
        error_code: ChargePointErrorCode,
        info: str | None,
        timestamp: datetime,
        now: float,
    ) -> None:
        """The connector's status, error code or info changed at wall-clock ``timestamp``, trio time ``now``.

        A call that changes nothing (same status, error code and info as the current ones) is ignored.
        """
        self._settle(now)
        report = StatusReport(self.connector_id, status, error_code, info, timestamp)
        if self._current is not None and report.same_condition(self._current):
            return
        self._current = report
        if self._announced is not None and report.same_condition(self._announced):
            self._pending = None  # back to what the Central System knows: the short-lived one is dropped
        else:
            self._pending = _Pending(report, now)
        self._settle(now)

    def due(self, now: float) -> list[StatusReport]:
        """The reports to send now, in the order of the changes; each is returned once."""
        self._settle(now)
        reports = [report for _, report in self._ready]
        self._ready.clear()
        return reports

    def next_due(self) -> float | None:
        """The trio time at which :meth:`due` has something (possibly already past), or ``None`` if never."""
        if self._ready:
            return self._ready[0][0]
        if self._pending is not None:
            return self._pending.since + self.minimum_duration
        return None

    def report_current(self, timestamp: datetime) -> StatusReport | None:
        """The current status, to send at once (after boot, or on TriggerMessage), stamped ``timestamp``.

        It supersedes whatever was due or pending, which is forgotten. ``None`` before the first change.
        """
        if self._current is None:
            return None
        self._ready.clear()
        self._pending = None
        self._announced = self._current
        return attrs.evolve(self._current, timestamp=timestamp)

    def _settle(self, now: float) -> None:
        """Move the pending status to the due reports once it has lasted the minimum duration."""
        pending = self._pending
        if pending is not None and now >= pending.since + self.minimum_duration:
            self._ready.append((pending.since + self.minimum_duration, pending.report))
            self._announced = pending.report
            self._pending = None
