"""Reservations (specification 3.11, 5.1, 5.13), as pure decisions.

A reservation holds a connector (``connector_id`` > 0), or any connector of the charge point (``connector_id``
0, when ``ReserveConnectorZeroSupported`` is true), for an idTag until its expiryDate. Nothing here touches
the network, the database or a clock: the charge point passes in its reservations, the status of each
connector and the time, and carries out the answer.

The status of a connector given to these functions is the one its own state calls for, before any
reservation: Available for a connector nobody uses (:attr:`actors.connector.Connector.base_status`).
A connector is *spare* if it is Available and no connector-specific reservation holds it.

Where the specification leaves room, this charge point decides so:

- ReserveNow (5.13) is Rejected when reservations are switched off (``ReservationEnabled``, this product's
  own key: "configured not to accept reservations"), for connector 0 without
  ``ReserveConnectorZeroSupported``, for a connector the charge point does not have, and for an expiryDate
  that is not in the future (nothing would be reserved; ReservationStatus has no better value).
- The charge point (connector 0) Faulted or Unavailable answers Faulted or Unavailable for any connector.
  A specific connector that is Faulted or Unavailable answers so; one in use (Preparing to Finishing),
  reserved by another reservation, or needed to keep the connector-0 reservations' connectors free, answers
  Occupied (5.13: also "when the Charge Point or connector has been reserved").
- Connector 0 is Accepted while there are more spare connectors than connector-0 reservations. Otherwise
  it is Occupied if some connector is in use or reserved, else Faulted if some connector is Faulted, else
  Unavailable.
- A ReserveNow whose reservationId is known replaces that reservation (5.13) only if the new one can be made,
  judged as if the old one were gone; otherwise the old one stays, and the answer says why.
- Connector-0 reservations do not reserve a specific connector (5.13), but when there are no more spare
  connectors than they need, every spare connector shows Reserved (as the compliance case TC_049 expects a
  StatusNotification Reserved), and only their idTags may use those connectors.
- An idTag may use a reservation if it is the reservation's idTag, or if both it and the reservation have a
  parentIdTag and these match (the same group, 3.10: a parentIdTag is never compared with an idTag). The
  parentIdTag of an idTag is found in the Local Authorization List or the Authorization Cache, else in the
  Authorize.conf (5.13).
- Anyone may start on a connector no reservation holds, unless that would leave fewer spare connectors
  than connector-0 reservations (5.13: "one connector remains available for the reserved idTag").
- A reservation ends when a transaction starts with it (its id then goes in StartTransaction.req, 4.8), at
  its expiryDate, on CancelReservation, when its connector becomes Faulted or Unavailable, and (every
  reservation) when the charge point becomes Unavailable (5.13). Connector-0 reservations outlive a fault
  of one connector.

IdTokens are CiStrings: they compare case-insensitively (7.28).
"""

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from enum import Enum

import attrs

from actors.authorization import same_id_tag
from actors.ocpp import ChargePointStatus, ReservationStatus, ReserveNowRequest, decode, encode
from storage import JsonObject

__all__ = [
    "Reservation",
    "ReservedStart",
    "ReservedStartAction",
    "decide_reserved_start",
    "expired",
    "next_expiry",
    "reserve_now_status",
    "shows_reserved",
    "spare_connectors",
]

_S = ChargePointStatus
_OUT_OF_SERVICE = frozenset({_S.FAULTED, _S.UNAVAILABLE})


@attrs.frozen
class Reservation:
    """One reservation, as ReserveNow.req made it."""

    reservation_id: int
    connector_id: int
    """The reserved connector; 0: any connector of the charge point."""
    id_tag: str
    expiry_date: datetime
    parent_id_tag: str | None = None

    @classmethod
    def from_request(cls, request: ReserveNowRequest) -> "Reservation":
        """The reservation a ReserveNow.req asks for."""
        return cls(
            reservation_id=request.reservation_id,
            connector_id=request.connector_id,
            id_tag=request.id_tag,
            expiry_date=request.expiry_date,
            parent_id_tag=request.parent_id_tag,
        )

    def to_json(self) -> JsonObject:
        """The reservation as it is kept: the JSON of its ReserveNow.req."""
        request = ReserveNowRequest(
            connector_id=self.connector_id,
            expiry_date=self.expiry_date,
            id_tag=self.id_tag,
            reservation_id=self.reservation_id,
            parent_id_tag=self.parent_id_tag,
        )
        return encode(request)

    @classmethod
    def from_json(cls, body: JsonObject) -> "Reservation":
        """The reservation :meth:`to_json` wrote; raises ``RemoteProtocolError`` if it is not one."""
        return cls.from_request(decode(ReserveNowRequest, body))

    @property
    def anywhere(self) -> bool:
        """Whether it reserves any connector (connector 0) rather than one."""
        return self.connector_id == 0

    def admits(self, id_tag: str, parent_id_tag: str | None) -> bool:
        """Whether an idTag with this parentIdTag may use the reservation (5.13, 3.10)."""
        if same_id_tag(id_tag, self.id_tag):
            return True
        return (
            parent_id_tag is not None
            and self.parent_id_tag is not None
            and same_id_tag(parent_id_tag, self.parent_id_tag)
        )


def spare_connectors(
    statuses: Mapping[int, ChargePointStatus], reservations: Iterable[Reservation]
) -> frozenset[int]:
    """The connectors that are Available and that no connector-specific reservation holds."""
    reserved = {reservation.connector_id for reservation in reservations}
    return frozenset(n for n, status in statuses.items() if status is _S.AVAILABLE and n not in reserved)


def _of_connector(connector_id: int, reservations: Iterable[Reservation]) -> Reservation | None:
    return next((r for r in reservations if r.connector_id == connector_id and not r.anywhere), None)


def _anywhere(reservations: Iterable[Reservation]) -> list[Reservation]:
    return sorted((r for r in reservations if r.anywhere), key=lambda r: r.expiry_date)


def shows_reserved(
    connector_id: int, statuses: Mapping[int, ChargePointStatus], reservations: Collection[Reservation]
) -> bool:
    """Whether an Available connector shows Reserved: a reservation of its own holds it, or it is spare and
    the connector-0 reservations need every spare connector."""
    if _of_connector(connector_id, reservations) is not None:
        return True
    anywhere = _anywhere(reservations)
    if not anywhere:
        return False
    spare = spare_connectors(statuses, reservations)
    return connector_id in spare and len(spare) <= len(anywhere)


class ReservedStartAction(Enum):
    """What the reservations say about an idTag that would start a transaction on a connector."""

    START = "start"
    """It may start (as far as reservations go), using the reservation of the decision if any."""
    NEED_PARENT = "need the parentIdTag"
    """It may start only if its parentIdTag matches a reservation's: find it (Authorize.req), then decide
    again. Where nothing more can be learnt, this is a refusal."""
    REFUSE = "refuse"
    """A reservation keeps it out."""


@attrs.frozen
class ReservedStart:
    """The reservations' decision on an idTag that would start a transaction on a connector."""

    action: ReservedStartAction
    reservation: Reservation | None = None
    """START: the reservation the transaction uses (its id goes in StartTransaction.req), if any."""

    @property
    def starts(self) -> bool:
        """Whether the idTag may start."""
        return self.action is ReservedStartAction.START


def decide_reserved_start(
    connector_id: int,
    id_tag: str,
    *,
    parent_id_tag: str | None,
    parent_known: bool,
    statuses: Mapping[int, ChargePointStatus],
    reservations: Collection[Reservation],
) -> ReservedStart:
    """Whether ``id_tag`` may start a transaction on connector ``connector_id``, and with which reservation.

    ``parent_known`` says whether ``parent_id_tag`` is what the charge point knows of the idTag (from the
    Local Authorization List, the Authorization Cache or an Authorize.conf; ``None`` then means it has
    none) or whether nothing is known of it.

    ================================================  =============================================
    connector                                         decision
    ================================================  =============================================
    has a reservation of its own, the idTag fits it   START with it
    has one, the idTag does not fit it                NEED_PARENT if the reservation has a parent
                                                      and the idTag's is unknown, else REFUSE
    has none, a connector-0 reservation fits          START with it (the earliest to expire)
    has none, enough spare connectors remain          START
    has none, the last spare connectors are needed    NEED_PARENT if a connector-0 reservation has a
                                                      parent and the idTag's is unknown, else REFUSE
    ================================================  =============================================

    "Enough" means at least as many spare connectors besides this one as there are connector-0
    reservations.
    """
    parent = parent_id_tag if parent_known else None
    own = _of_connector(connector_id, reservations)
    if own is not None:
        if own.admits(id_tag, parent):
            return ReservedStart(ReservedStartAction.START, own)
        return _refusal(parent_known, [own])
    anywhere = _anywhere(reservations)
    for reservation in anywhere:
        if reservation.admits(id_tag, parent):
            return ReservedStart(ReservedStartAction.START, reservation)
    others = spare_connectors(statuses, reservations) - {connector_id}
    if len(others) >= len(anywhere):
        return ReservedStart(ReservedStartAction.START)
    return _refusal(parent_known, anywhere)


def _refusal(parent_known: bool, reservations: Iterable[Reservation]) -> ReservedStart:
    if not parent_known and any(reservation.parent_id_tag is not None for reservation in reservations):
        return ReservedStart(ReservedStartAction.NEED_PARENT)
    return ReservedStart(ReservedStartAction.REFUSE)


def reserve_now_status(
    request: ReserveNowRequest,
    *,
    now: datetime,
    enabled: bool,
    connector_zero_supported: bool,
    charge_point_status: ChargePointStatus,
    statuses: Mapping[int, ChargePointStatus],
    reservations: Collection[Reservation],
) -> ReservationStatus:
    """The answer to ReserveNow.req (5.13, 7.40); the reservation is made (or replaces the one with the same
    id) only if it is Accepted.

    ``enabled`` is ``ReservationEnabled``, ``connector_zero_supported`` ``ReserveConnectorZeroSupported``,
    ``charge_point_status`` the status of connector 0, ``statuses`` those of the connectors (before
    reservations), ``reservations`` those the charge point has now.
    """
    connector_id = request.connector_id
    if not enabled or (connector_id == 0 and not connector_zero_supported):
        return ReservationStatus.REJECTED
    if (connector_id != 0 and connector_id not in statuses) or request.expiry_date <= now:
        return ReservationStatus.REJECTED
    if charge_point_status is _S.FAULTED:
        return ReservationStatus.FAULTED
    if charge_point_status is _S.UNAVAILABLE:
        return ReservationStatus.UNAVAILABLE
    others = [r for r in reservations if r.reservation_id != request.reservation_id]
    spare = spare_connectors(statuses, others)
    needed = len(_anywhere(others))
    if connector_id == 0:
        if len(spare) > needed:
            return ReservationStatus.ACCEPTED
        return _none_free(statuses)
    status = statuses[connector_id]
    if status is _S.FAULTED:
        return ReservationStatus.FAULTED
    if status is _S.UNAVAILABLE:
        return ReservationStatus.UNAVAILABLE
    if connector_id not in spare or len(spare) - 1 < needed:
        return ReservationStatus.OCCUPIED
    return ReservationStatus.ACCEPTED


def _none_free(statuses: Mapping[int, ChargePointStatus]) -> ReservationStatus:
    """Why no connector is left for a connector-0 reservation."""
    if any(status not in _OUT_OF_SERVICE for status in statuses.values()):
        return ReservationStatus.OCCUPIED
    if any(status is _S.FAULTED for status in statuses.values()):
        return ReservationStatus.FAULTED
    return ReservationStatus.UNAVAILABLE


def expired(reservations: Iterable[Reservation], now: datetime) -> list[Reservation]:
    """The reservations whose expiryDate has come ("when the time specified in expiryDate is reached")."""
    return [reservation for reservation in reservations if reservation.expiry_date <= now]


def next_expiry(reservations: Iterable[Reservation]) -> datetime | None:
    """The earliest expiryDate, or ``None`` without reservations."""
    return min((reservation.expiry_date for reservation in reservations), default=None)
