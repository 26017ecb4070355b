"""Reservation decisions (specification 3.11, 5.1, 5.13, 7.40), without any I/O: what ReserveNow answers, who
may start on a reserved connector, which connectors show Reserved, when reservations expire; and the book
that keeps them across reboots."""

from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest

from actors.clock import WallClock
from actors.ocpp import ChargePointStatus, ReservationStatus, ReserveNowRequest
from actors.reservation import (
    Reservation,
    ReservedStart,
    ReservedStartAction,
    decide_reserved_start,
    expired,
    next_expiry,
    reserve_now_status,
    shows_reserved,
    spare_connectors,
)
from actors.reservation_book import ReservationBook
from storage.memory import MemoryChargePointState

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
TICK = timedelta(microseconds=1)

AVAILABLE = ChargePointStatus.AVAILABLE
PREPARING = ChargePointStatus.PREPARING
CHARGING = ChargePointStatus.CHARGING
FINISHING = ChargePointStatus.FINISHING
RESERVED = ChargePointStatus.RESERVED
UNAVAILABLE = ChargePointStatus.UNAVAILABLE
FAULTED = ChargePointStatus.FAULTED

START, NEED_PARENT, REFUSE = (
    ReservedStartAction.START,
    ReservedStartAction.NEED_PARENT,
    ReservedStartAction.REFUSE,
)
UNK = "(parent unknown)"


def reservation(
    reservation_id: int, connector_id: int, id_tag: str, parent: str | None = None
) -> Reservation:
    return Reservation(reservation_id, connector_id, id_tag, LATER, parent)


ON_1 = reservation(1, 1, "TAG-1")
ON_1_WITH_PARENT = reservation(1, 1, "TAG-1", "FAMILY")
ANYWHERE = reservation(9, 0, "TAG-9")
ANYWHERE_WITH_PARENT = reservation(9, 0, "TAG-9", "FAMILY")
_LETTERS = {"A": AVAILABLE, "P": PREPARING, "C": CHARGING, "F": FINISHING, "U": UNAVAILABLE, "X": FAULTED}


def st(letters: str) -> dict[int, ChargePointStatus]:
    """The statuses of connectors 1, 2, ... (before reservations) in short: "AC" is connector 1 Available,
    2 Charging. A Available, P Preparing, C Charging, F Finishing, U Unavailable, X Faulted."""
    return {number: _LETTERS[letter] for number, letter in enumerate(letters, start=1)}


# --- ReserveNow (5.13, 7.40) ------------------------------------------------------------------------------


def reserve(connector_id: int, reservation_id: int = 5, expiry: datetime = LATER) -> ReserveNowRequest:
    return ReserveNowRequest(
        connector_id=connector_id, expiry_date=expiry, id_tag="TAG-5", reservation_id=reservation_id
    )


SAME_TAG_ON_1 = reservation(1, 1, "TAG-5")


@pytest.mark.parametrize(
    ("case", "request_", "statuses", "reservations", "answer"),
    [
        ("a connector nobody uses", reserve(1), st("AC"), [], "Accepted"),
        ("TC_048_1: the connector is Faulted", reserve(1), st("XA"), [], "Faulted"),
        ("TC_048_2: a cable is plugged in", reserve(1), st("P"), [], "Occupied"),
        ("TC_048_2: it charges", reserve(1), st("C"), [], "Occupied"),
        ("TC_048_2: the cable is still there", reserve(1), st("F"), [], "Occupied"),
        ("TC_048_3: the connector is Unavailable", reserve(1), st("U"), [], "Unavailable"),
        ("reserved by another reservation", reserve(1), st("A"), [ON_1], "Occupied"),
        ("reserved for the same idTag too", reserve(1, 6), st("A"), [SAME_TAG_ON_1], "Occupied"),
        ("its own id: replaced", reserve(1, 1), st("A"), [ON_1], "Accepted"),
        ("its own id, moved to another connector", reserve(2, 1), st("AA"), [ON_1], "Accepted"),
        ("the last spare one, needed by connector 0", reserve(1), st("AC"), [ANYWHERE], "Occupied"),
        ("a spare one left for connector 0", reserve(1), st("AA"), [ANYWHERE], "Accepted"),
        ("TC_048_4: a connector it does not have", reserve(3), st("AA"), [], "Rejected"),
        ("expired already", reserve(1, expiry=NOW), st("A"), [], "Rejected"),
        ("TC_049: connector 0, one spare connector", reserve(0), st("AU"), [], "Accepted"),
        ("connector 0, every spare one needed", reserve(0), st("AC"), [ANYWHERE], "Occupied"),
        ("connector 0, two spare for two", reserve(0), st("AAC"), [ANYWHERE], "Accepted"),
        ("connector 0, its own id: replaced", reserve(0, 9), st("A"), [ANYWHERE], "Accepted"),
        ("connector 0, the spare one reserved", reserve(0), st("AX"), [ON_1], "Occupied"),
        ("TC_050_1: connector 0, all Faulted", reserve(0), st("XX"), [], "Faulted"),
        ("connector 0, Faulted and Unavailable", reserve(0), st("XU"), [], "Faulted"),
        ("TC_050_2: connector 0, all occupied", reserve(0), st("PC"), [], "Occupied"),
        ("connector 0, occupied or Faulted", reserve(0), st("XF"), [], "Occupied"),
        ("connector 0, all Unavailable", reserve(0), st("UU"), [], "Unavailable"),
    ],
)
def test_reserve_now_answers(
    case: str,
    request_: ReserveNowRequest,
    statuses: dict[int, ChargePointStatus],
    reservations: list[Reservation],
    answer: str,
) -> None:
    status = reserve_now_status(
        request_,
        now=NOW,
        enabled=True,
        connector_zero_supported=True,
        charge_point_status=AVAILABLE,
        statuses=statuses,
        reservations=reservations,
    )
    assert status == ReservationStatus(answer), case


@pytest.mark.parametrize("connector_id", [0, 1])
@pytest.mark.parametrize(
    ("enabled", "zero", "charge_point", "answer"),
    [
        (False, True, AVAILABLE, {0: "Rejected", 1: "Rejected"}),  # TC_048_4: not configured to accept them
        (True, False, AVAILABLE, {0: "Rejected", 1: "Accepted"}),  # TC_050_4: ReserveConnectorZeroSupported
        (True, True, UNAVAILABLE, {0: "Unavailable", 1: "Unavailable"}),  # TC_050_3
        (True, True, FAULTED, {0: "Faulted", 1: "Faulted"}),
        (False, False, UNAVAILABLE, {0: "Rejected", 1: "Rejected"}),  # Rejected first
    ],
)
def test_reserve_now_answers_by_configuration_and_charge_point_status(
    connector_id: int, enabled: bool, zero: bool, charge_point: ChargePointStatus, answer: dict[int, str]
) -> None:
    status = reserve_now_status(
        reserve(connector_id),
        now=NOW,
        enabled=enabled,
        connector_zero_supported=zero,
        charge_point_status=charge_point,
        statuses={1: AVAILABLE, 2: AVAILABLE},
        reservations=[],
    )
    assert status == ReservationStatus(answer[connector_id])


def test_an_expiry_date_one_tick_ahead_is_accepted() -> None:
    status = reserve_now_status(
        reserve(1, expiry=NOW + TICK),
        now=NOW,
        enabled=True,
        connector_zero_supported=True,
        charge_point_status=AVAILABLE,
        statuses={1: AVAILABLE},
        reservations=[],
    )
    assert status is ReservationStatus.ACCEPTED


# --- who may start where (5.13, 3.10) ---------------------------------------------------------------------


FAMILY_1, FAMILY_0 = ON_1_WITH_PARENT, ANYWHERE_WITH_PARENT


@pytest.mark.parametrize(
    ("case", "connector", "id_tag", "parent", "statuses", "reservations", "decision"),
    [
        ("no reservations", 1, "TAG-2", UNK, st("AAA"), [], START),
        ("TC_046: the reserved idTag", 1, "TAG-1", UNK, st("AAA"), [ON_1], (START, ON_1)),
        ("in another case", 1, "tag-1", UNK, st("AAA"), [ON_1], (START, ON_1)),
        ("TC_046_1: another idTag", 1, "TAG-2", UNK, st("AAA"), [ON_1], REFUSE),
        ("another, known without parent", 1, "TAG-2", None, st("AAA"), [FAMILY_1], REFUSE),
        ("TC_053: the same parent", 1, "TAG-2", "family", st("AAA"), [FAMILY_1], (START, FAMILY_1)),
        ("another parent", 1, "TAG-2", "OTHERS", st("AAA"), [FAMILY_1], REFUSE),
        ("parent unknown: find it", 1, "TAG-2", UNK, st("AAA"), [FAMILY_1], NEED_PARENT),
        ("the parent is no idTag", 1, "FAMILY", None, st("AAA"), [FAMILY_1], REFUSE),
        ("a connector nobody reserved", 2, "TAG-2", UNK, st("AAA"), [ON_1], START),
        ("the reserved idTag elsewhere", 2, "TAG-1", UNK, st("AAA"), [ON_1], START),
        ("TC_049: connector 0's idTag", 2, "TAG-9", UNK, st("AAA"), [ANYWHERE], (START, ANYWHERE)),
        ("connector 0's parent", 2, "TAG-2", "FAMILY", st("AAA"), [FAMILY_0], (START, FAMILY_0)),
        ("spare connectors left", 1, "TAG-2", UNK, st("PA"), [ANYWHERE], START),
        ("the last spare one", 1, "TAG-2", UNK, st("PC"), [ANYWHERE], REFUSE),
        ("the last spare one, parent unknown", 1, "TAG-2", UNK, st("AC"), [FAMILY_0], NEED_PARENT),
        ("the last spare one, another parent", 1, "TAG-2", "OTHERS", st("AC"), [FAMILY_0], REFUSE),
        ("a spare one left beside a reserved one", 3, "TAG-2", UNK, st("AAA"), [ON_1, ANYWHERE], START),
        ("the spare one beside a reserved one", 3, "TAG-2", UNK, st("ACA"), [ON_1, ANYWHERE], REFUSE),
        ("its own before connector 0's", 1, "TAG-9", UNK, st("AAA"), [ON_1, ANYWHERE], REFUSE),
    ],
)
def test_who_may_start_where(
    case: str,
    connector: int,
    id_tag: str,
    parent: str | None,
    statuses: dict[int, ChargePointStatus],
    reservations: list[Reservation],
    decision: ReservedStartAction | tuple[ReservedStartAction, Reservation],
) -> None:
    """``parent`` is the idTag's parentIdTag as the charge point knows it (``None``: it has none), or
    UNK."""
    verdict = decide_reserved_start(
        connector,
        id_tag,
        parent_id_tag=None if parent is UNK else parent,
        parent_known=parent is not UNK,
        statuses=statuses,
        reservations=reservations,
    )
    expected = ReservedStart(*decision) if isinstance(decision, tuple) else ReservedStart(decision)
    assert verdict == expected, case
    assert verdict.starts is (expected.action is START)


def test_of_two_fitting_connector_0_reservations_the_earliest_to_expire_is_used() -> None:
    soon = Reservation(3, 0, "TAG-9", NOW + timedelta(minutes=5))
    verdict = decide_reserved_start(
        1,
        "TAG-9",
        parent_id_tag=None,
        parent_known=False,
        statuses=st("AAA"),
        reservations=[ANYWHERE, soon],
    )
    assert verdict == ReservedStart(START, soon)


# --- which connectors show Reserved -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "statuses", "reservations", "reserved"),
    [
        ("none", st("AAA"), [], set()),
        ("its own", st("AAA"), [ON_1], {1}),
        ("connector 0 with connectors to spare", st("AAA"), [ANYWHERE], set()),
        ("TC_049: the only spare one", st("AUC"), [ANYWHERE], {1}),
        ("the last spare ones, for as many", st("AAC"), [ANYWHERE, reservation(8, 0, "TAG-8")], {1, 2}),
        ("its own, and the last spare one", st("AAX"), [ON_1, ANYWHERE], {1, 2}),
        ("none spare at all", st("CX"), [ANYWHERE], set()),
    ],
)
def test_which_connectors_show_reserved(
    case: str, statuses: dict[int, ChargePointStatus], reservations: list[Reservation], reserved: set[int]
) -> None:
    assert {n for n in statuses if shows_reserved(n, statuses, reservations)} == reserved, case


def test_spare_connectors_are_available_and_not_reserved_of_their_own() -> None:
    assert spare_connectors(st("AAPU"), [ON_1, ANYWHERE]) == {2}


# --- expiry, identity, keeping ----------------------------------------------------------------------------


def test_a_reservation_expires_when_its_expiry_date_is_reached() -> None:
    first = Reservation(1, 1, "A", NOW)
    second = Reservation(2, 0, "B", NOW + TICK)
    assert expired([first, second], NOW - TICK) == []
    assert expired([first, second], NOW) == [first]
    assert expired([first, second], NOW + TICK) == [first, second]
    assert next_expiry([second, first]) == NOW
    assert next_expiry([]) is None


def test_a_reservation_is_kept_as_its_reserve_now_request() -> None:
    request = ReserveNowRequest(
        connector_id=0,
        expiry_date=datetime(2026, 5, 4, 13, 0, tzinfo=timezone(timedelta(hours=2))),
        id_tag="TAG-1",
        reservation_id=42,
        parent_id_tag="FAMILY",
    )
    kept = Reservation.from_request(request)
    assert kept.to_json() == {
        "connectorId": 0,
        "expiryDate": "2026-05-04T11:00:00Z",
        "idTag": "TAG-1",
        "reservationId": 42,
        "parentIdTag": "FAMILY",
    }
    assert Reservation.from_json(kept.to_json()) == kept
    assert kept.anywhere
    without_parent = {key: value for key, value in kept.to_json().items() if key != "parentIdTag"}
    assert Reservation.from_json(without_parent) == attrs.evolve(kept, parent_id_tag=None)


@pytest.mark.parametrize(
    ("id_tag", "parent", "admitted"),
    [
        ("TAG-1", None, True),
        ("tag-1", "OTHERS", True),
        ("TAG-2", "family", True),
        ("TAG-2", None, False),
        ("TAG-2", "OTHERS", False),
        ("FAMILY", None, False),
    ],
)
def test_who_a_reservation_admits(id_tag: str, parent: str | None, admitted: bool) -> None:
    """Its idTag (a CiString), or an idTag of its group; a parentIdTag is never compared with an idTag
    (3.10)."""
    assert ON_1_WITH_PARENT.admits(id_tag, parent) is admitted


async def test_the_book_forgets_used_expired_and_unreadable_reservations_at_power_on() -> None:
    """Reservations survive a reboot, but not one that an interrupted transaction used (its StartTransaction
    carried the id), one that expired meanwhile, or a body that is no reservation."""
    state = MemoryChargePointState()
    clock = WallClock(NOW)
    kept = Reservation(1, 1, "TAG-1", LATER)
    used = Reservation(2, 2, "TAG-2", LATER)
    gone = Reservation(3, 0, "TAG-3", NOW)
    for item in (kept, used, gone):
        await state.save_reservation(item.reservation_id, item.to_json())
    await state.save_reservation(4, {"connectorId": "one"})
    book = await ReservationBook.load(state, clock, await state.load_reservations(), used={2})
    assert book.reservations == (kept,)
    assert await state.load_reservations() == {1: kept.to_json()}
