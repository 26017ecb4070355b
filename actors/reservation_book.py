"""The reservations of a charge point during one power-on (spec 3.11, 5.1, 5.13).

The charge point owns its :class:`ReservationBook` and hands it to its connectors, as it does its outbox.
The book keeps every reservation in the charge point's state before it answers, so reservations survive
reboots and power cuts; it answers ReserveNow and CancelReservation, ends reservations at their expiryDate
(a timer in trio time towards the wall clock's expiryDate), and ends those of a connector that becomes
Faulted or Unavailable. Connectors ask it, without waiting, whether they show Reserved and whether an idTag
may start on them; a connector that starts a transaction with a reservation tells it the reservation is used.
What all of that means is decided in :mod:`actors.reservation`.

Whenever the reservations change, or a connector's status changes while connector-0 reservations depend on
it, the book calls ``on_change`` (the charge point wakes its connectors, which then look at their status
again). For ReserveNow and CancelReservation it does so only in :meth:`ReservationBook.announce`, which the
charge point calls once its answer is sent, so that the StatusNotification follows the answer.

If the storage refuses a change (``actors.storage_health``), ReserveNow is answered Faulted and
CancelReservation raises :class:`storage.StorageError`, changing nothing; a reservation that ends by itself
(used, expired, its connector Faulted or Unavailable) ends anyway, and is forgotten by the state at its
expiry or when it can be.
"""

import logging
from collections.abc import Callable, Collection, Iterable, Mapping

import trio

from actors.clock import WallClock
from actors.ocpp import (
    CancelReservationStatus,
    ChargePointStatus,
    RemoteProtocolError,
    ReservationStatus,
    ReserveNowRequest,
)
from actors.on_demand import OnDemandTask
from actors.reservation import (
    Reservation,
    ReservedStart,
    ReservedStartAction,
    decide_reserved_start,
    expired,
    next_expiry,
    reserve_now_status,
    shows_reserved,
)
from storage import ChargePointState, JsonObject, StorageError

__all__ = ["ReservationBook"]

_log = logging.getLogger(__name__)

_FREE = ReservedStart(ReservedStartAction.START)


class ReservationBook:
    """The reservations of one charge point, kept in its state."""

    __slots__ = (
        "_charge_point_status",
        "_clock",
        "_expiry",
        "_name",
        "_on_change",
        "_reservations",
        "_seen",
        "_state",
        "_statuses",
    )

    def __init__(
        self,
        state: ChargePointState,
        clock: WallClock,
        reservations: Iterable[Reservation] = (),
        *,
        name: str = "",
    ) -> None:
        """A book holding ``reservations``, which ``state`` keeps already (see :meth:`load`)."""
        self._state = state
        self._clock = clock
        self._name = name
        self._reservations = {reservation.reservation_id: reservation for reservation in reservations}
        self._statuses: Callable[[], Mapping[int, ChargePointStatus]] = dict
        self._charge_point_status: Callable[[], ChargePointStatus] = lambda: ChargePointStatus.AVAILABLE
        self._on_change: Callable[[], None] = lambda: None
        self._seen: dict[int, ChargePointStatus] = {}
        self._expiry = OnDemandTask(self._expire_when_due, name=f"{name} reservation expiry")

    @classmethod
    async def load(
        cls,
        state: ChargePointState,
        clock: WallClock,
        kept: Mapping[int, JsonObject],
        *,
        used: Collection[int] = (),
        name: str = "",
    ) -> "ReservationBook":
        """The book of the reservations ``state`` keeps (``kept``, as its ``load_reservations`` returns them),
        but for those it forgets now: the ``used`` ones (a transaction that a power cut interrupted started
        with them), the expired ones and any it cannot read.
        """
        now = clock.now()
        valid = []
        for reservation_id, body in kept.items():
            try:
                reservation = Reservation.from_json(body)
            except RemoteProtocolError as problem:
                _log.warning("%s: reservation %s unreadable, forgotten: %s", name, reservation_id, problem)
                reservation = None
            if reservation is None or reservation_id in used or reservation.expiry_date <= now:
                await _delete(state, reservation_id, name)
            else:
                valid.append(reservation)
        return cls(state, clock, valid, name=name)

    def bind(
        self,
        *,
        statuses: Callable[[], Mapping[int, ChargePointStatus]],
        charge_point_status: Callable[[], ChargePointStatus],
        on_change: Callable[[], None],
    ) -> None:
        """Connect the book to the charge point: ``statuses`` gives each connector's status before
        reservations, ``charge_point_status`` that of connector 0; ``on_change`` wakes the connectors."""
        self._statuses = statuses
        self._charge_point_status = charge_point_status
        self._on_change = on_change

    @property
    def reservations(self) -> tuple[Reservation, ...]:
        """The reservations, by id."""
        return tuple(self._reservations[key] for key in sorted(self._reservations))

    # --- what connectors ask ------------------------------------------------------------------------------

    def shows_reserved(self, connector_id: int) -> bool:
        """Whether connector ``connector_id``, when Available, shows Reserved."""
        if not self._reservations:
            return False
        return shows_reserved(connector_id, self._statuses(), self._reservations.values())

    def verdict(
        self, connector_id: int, id_tag: str, *, parent_id_tag: str | None = None, parent_known: bool
    ) -> ReservedStart:
        """Whether ``id_tag`` may start on connector ``connector_id``, and with which reservation
        (:func:`actors.reservation.decide_reserved_start`)."""
        if not self._reservations:
            return _FREE
        return decide_reserved_start(
            connector_id,
            id_tag,
            parent_id_tag=parent_id_tag,
            parent_known=parent_known,
            statuses=self._statuses(),
            reservations=self._reservations.values(),
        )

    def observe(self, connector_id: int, status: ChargePointStatus) -> None:
        """A connector's status before reservations, as it is now. While connector-0 reservations depend on
        the connectors' statuses, a change wakes the connectors."""
        if self._seen.get(connector_id) is status:
            return
        self._seen[connector_id] = status
        if any(reservation.anywhere for reservation in self._reservations.values()):
            self._on_change()

    async def used(self, reservation: Reservation) -> None:
        """A transaction started with ``reservation`` (its StartTransaction.req is queued): it is over."""
        await self._forget(reservation, "used")
        self._on_change()

    async def end_at(self, connector_id: int, *, announce: bool = True) -> None:
        """Connector ``connector_id`` became Faulted or Unavailable, or (0) the charge point became
        Unavailable: its reservations end (5.13); the charge point's end all of them.

        Without ``announce`` the connectors are not woken: for a change of availability they are about to
        get, which shows the end of the reservation (Reserved to Unavailable) by itself.
        """
        ending = [r for r in self._reservations.values() if connector_id in (0, r.connector_id)]
        for reservation in ending:
            await self._forget(reservation, "ended")
        if ending and announce:
            self._on_change()

    # --- what the Central System asks ---------------------------------------------------------------------

    async def reserve(
        self, request: ReserveNowRequest, *, enabled: bool, connector_zero_supported: bool
    ) -> ReservationStatus:
        """ReserveNow (5.13): the answer; an Accepted reservation is kept (replacing the one with its id)
        before this returns. Call :meth:`announce` once the answer is sent."""
        status = reserve_now_status(
            request,
            now=self._clock.now(),
            enabled=enabled,
            connector_zero_supported=connector_zero_supported,
            charge_point_status=self._charge_point_status(),
            statuses=self._statuses(),
            reservations=self._reservations.values(),
        )
        if status is ReservationStatus.ACCEPTED:
            reservation = Reservation.from_request(request)
            try:
                await self._state.save_reservation(reservation.reservation_id, reservation.to_json())
            except StorageError as error:  # the charge point is Faulted now (actors.storage_health)
                _log.warning("%s: reservation %s not kept: %s", self._name, reservation.reservation_id, error)
                return ReservationStatus.FAULTED
            self._reservations[reservation.reservation_id] = reservation
            self._wake_timer()
        return status

    async def cancel(self, reservation_id: int) -> CancelReservationStatus:
        """CancelReservation (5.1): Accepted, and forgotten, if the charge point has the reservation.
        Call :meth:`announce` once the answer is sent. Raises :class:`storage.StorageError`, keeping the
        reservation, if the state cannot forget it."""
        reservation = self._reservations.get(reservation_id)
        if reservation is None:
            return CancelReservationStatus.REJECTED
        await self._state.delete_reservation(reservation_id)
        await self._forget(reservation, "cancelled", deleted=True)
        return CancelReservationStatus.ACCEPTED

    def announce(self) -> None:
        """Wake the connectors: the reservations changed."""
        self._on_change()

    # --- expiry -------------------------------------------------------------------------------------------

    def start(self, nursery: trio.Nursery) -> None:
        """End reservations when their expiryDate is reached (5.13), in ``nursery``, while it runs.

        The timer runs as a task only while there are reservations (:class:`OnDemandTask`).
        """
        self._expiry.start(nursery)
        self._wake_timer()

    async def _expire_when_due(self) -> None:
        while (due := next_expiry(self._reservations.values())) is not None:
            delay = max((due - self._clock.now()).total_seconds(), 0.0)
            if await self._expiry.sleep_until(trio.current_time() + delay):
                continue  # the reservations changed
            ending = expired(self._reservations.values(), self._clock.now())
            for reservation in ending:
                await self._forget(reservation, "expired")
            if ending:
                self._on_change()

    async def _forget(self, reservation: Reservation, why: str, *, deleted: bool = False) -> None:
        if self._reservations.get(reservation.reservation_id) != reservation:
            return  # replaced or gone meanwhile
        del self._reservations[reservation.reservation_id]
        self._wake_timer()
        _log.info("%s: reservation %s %s", self._name, reservation.reservation_id, why)
        if not deleted:
            await _delete(self._state, reservation.reservation_id, self._name)

    def _wake_timer(self) -> None:
        if self._reservations:
            self._expiry.wake()


async def _delete(state: ChargePointState, reservation_id: int, name: str) -> None:
    """Forget a reservation in the state; if the storage refuses, it is forgotten at a later boot (at its
    expiry at the latest)."""
    try:
        await state.delete_reservation(reservation_id)
    except StorageError as error:
        _log.warning("%s: reservation %s not forgotten by the state: %s", name, reservation_id, error)
