"""The Connector actor: one connector's status, charging sessions and meter values (spec 3, 4.7-4.10).

A connector owns its state and changes it only in its own task. It hears of the physical world through its
hardware's events and of the Central System through commands its ChargePoint sends it; whatever it has to
tell the Central System leaves through the charge point's :class:`~actors.outbox.Outbox`. Answers that take
a round trip (Authorize, StartTransaction) come back into its mailbox, so it never stops listening.

Its one task handles one thing at a time: the commands and answers waiting in its
:class:`~actors.mailbox.Mailbox`, oldest first, and once none waits, the next event of its hardware, which it
waits for straight from the hardware's channel. A command's arrival ends that wait, and so does the next
timer (meter values, the connection timeout, an energy limit, a change of the offered power, a status report
held back); after every command, event or timer it looks again at its relay, its offered power, its
reservation and its status.

Its status is derived from its state (plugged in? transaction? fault? unavailable?) and every change goes
through the status machine of spec 4.9, so an impossible change fails loudly instead of being reported.
"""

import functools
import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

import attrs
import trio

from actors.authorization import (
    StartAction,
    StopAction,
    decide_start,
    decide_start_after_authorize,
    decide_stop,
    decide_stop_after_authorize,
    local_entry,
)
from actors.clock import WallClock
from actors.configuration import Configuration
from actors.connection import ConnectionLost
from actors.hardware import (
    CablePlugged,
    CableUnplugged,
    ConnectorHardware,
    EvDisconnected,
    EvResumed,
    EvSuspended,
    FaultCleared,
    FaultDetected,
    HardwareEvent,
    IdTagPresented,
)
from actors.link import CallFailed, CallTimeout
from actors.local_authorization import LocalAuthorization
from actors.mailbox import Mailbox
from actors.metering import (
    MeasurandItem,
    Reading,
    TransactionData,
    build_meter_value,
    next_clock_aligned,
    next_sample_time,
    parse_measurands,
    register_wh,
    select,
)
from actors.ocpp import (
    AuthorizeRequest,
    AuthorizeResponse,
    AvailabilityStatus,
    ChargePointErrorCode,
    ChargePointStatus,
    ChargingProfile,
    IdTagInfo,
    MeterValuesRequest,
    ReadingContext,
    Reason,
    StartTransactionRequest,
    StartTransactionResponse,
    StatusNotificationRequest,
    StopTransactionRequest,
    UnlockStatus,
    format_datetime,
    parse_datetime,
)
from actors.on_demand import OnDemandTask
from actors.outbox import Offline, Outbox, QueuedAnswer
from actors.reservation import Reservation, ReservedStart, ReservedStartAction
from actors.reservation_book import ReservationBook
from actors.smart_charging import Offer, SmartCharging
from actors.status import (
    ConnectorEvent,
    ConnectorStatusMachine,
    StatusReport,
    StatusReporter,
    charging_status,
    event_between,
)
from storage import ChargePointState, JsonObject, MeterRecord, StorageError

__all__ = [
    "ChangeAvailability",
    "ConfigurationChanged",
    "Connector",
    "Hold",
    "RemoteStart",
    "Reply",
    "ReservationsChanged",
    "Resynchronise",
    "StopTransaction",
    "Transaction",
    "TriggerMeterValues",
    "Unlock",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")

_MAILBOX_SIZE = 64
"""Commands and answers that may wait to be handled before their senders wait too."""
_ENERGY_CHECK_INTERVAL = 5.0
StatusRequest = StatusNotificationRequest
EV_SIDE_DISCONNECTED = "EV side disconnected"
OPERATIVE, INOPERATIVE, SCHEDULED_INOPERATIVE = "Operative", "Inoperative", "Scheduled-Inoperative"
"""A connector's availability as the state keeps it (``storage.connectors``)."""


class Reply(Generic[T]):
    """A one-time answer from a connector to whoever sent it a command."""

    __slots__ = ("_done", "_on_taken", "_value")

    def __init__(self) -> None:
        self._done = trio.Event()
        self._value: T | None = None
        self._on_taken: Callable[[], None] | None = None

    def set(self, value: T, *, on_taken: Callable[[], None] | None = None) -> None:
        """Give the answer (once). ``on_taken`` runs as the sender takes it: never if the sender was
        cancelled first (its connection was lost, say)."""
        self._value = value
        self._on_taken = on_taken
        self._done.set()

    async def wait(self) -> T:
        """Wait for the answer."""
        await self._done.wait()
        if self._on_taken is not None:
            self._on_taken()
        return self._value  # type: ignore[return-value]


@attrs.frozen
class RemoteStart:
    """RemoteStartTransaction for this connector; the reply is whether it is accepted (spec 5.11)."""

    id_tag: str
    charging_profile: ChargingProfile | None = None
    """A TxProfile for the transaction it starts (5.16.2)."""
    reply: Reply[bool] = attrs.Factory(Reply)


@attrs.frozen
class StopTransaction:
    """Stop the running transaction with ``reason``; the reply says whether there was one, once queued.

    With ``transaction_id``, only the transaction the Central System knows by that id (RemoteStopTransaction).
    """

    reason: Reason
    transaction_id: int | None = None
    reply: Reply[bool] = attrs.Factory(Reply)


@attrs.frozen
class Unlock:
    """UnlockConnector (spec 5.18): stop a running transaction first, then unlock."""

    reply: Reply[UnlockStatus] = attrs.Factory(Reply)


@attrs.frozen
class ChangeAvailability:
    """Make the connector operative or inoperative; the reply is Accepted if at once, Scheduled if at the end
    of the running transaction, Rejected if the change cannot be kept (nothing changes then)."""

    operative: bool
    reply: Reply[AvailabilityStatus] = attrs.Factory(Reply)


@attrs.frozen
class ConfigurationChanged:
    """The configuration changed: timers look again."""


@attrs.frozen
class ReservationsChanged:
    """The charge point's reservations changed: the status may change (spec 5.13)."""


@attrs.frozen
class Resynchronise:
    """The charge point is (again) accepted: the reply is the status to report now, if any (spec 4.9).

    After a boot the current status is always reported; after a reconnect only if it changed meanwhile. The
    connector counts the status as reported once the reply is taken: whoever takes it sends it (or keeps
    trying), and a reply nobody takes leaves the change to be reported at the next resynchronisation.
    """

    after_boot: bool
    reply: Reply[StatusRequest | None] = attrs.Factory(Reply)


@attrs.frozen
class Hold:
    """A firmware update waits to be installed (spec 5.19), or no longer: while held, the connector starts no
    transaction and is Unavailable once not in use. Unlike ChangeAvailability, it is not kept in the state.

    The reply comes once the connector has no transaction (at once when releasing).
    """

    held: bool
    reply: Reply[None] = attrs.Factory(Reply)


@attrs.frozen
class _Authorized:
    id_tag: str
    info: IdTagInfo | None  # None: started without asking (remote start, unknown offline), or no answer
    to_stop: bool
    answered: bool = True
    """False: the Authorize.req got no answer (offline, timeout, CALLERROR): decide again, offline."""


@attrs.frozen
class _Queued:
    answer: QueuedAnswer


@attrs.frozen
class TriggerMeterValues:
    """TriggerMessage MeterValues (spec 5.17): the reply is the latest readings of MeterValuesSampledData."""

    reply: Reply[MeterValuesRequest | None] = attrs.Factory(Reply)


Command = (
    RemoteStart
    | StopTransaction
    | Unlock
    | ChangeAvailability
    | ConfigurationChanged
    | Resynchronise
    | ReservationsChanged
    | TriggerMeterValues
    | Hold
)


_Letter = Command | _Authorized | _Queued


@attrs.define
class Transaction:
    """A charging transaction of this connector."""

    local_id: int
    id_tag: str
    parent_id_tag: str | None
    meter_start: int
    started_at: float
    data: TransactionData
    transaction_id: int | None = None
    """The Central System's id, once StartTransaction is answered."""
    energy_limit_wh: float | None = None
    """The register value at which charging is suspended (MaxEnergyOnInvalidId), if any."""


class Connector:
    """One connector of a charge point."""

    # thousands per process: a __dict__ of some 40 attributes would take 1.5 KiB each
    __slots__ = (
        "_authorized",
        "_authorizing",
        "_availability_scheduled",
        "_charge_point_status",
        "_clock",
        "_configuration",
        "_ev_suspended",
        "_evse_suspended",
        "_fault",
        "_finishing",
        "_hardware_ended",
        "_held",
        "_idle_waiters",
        "_info",
        "_interrupted",
        "_last_meter",
        "_last_reported",
        "_machine",
        "_mailbox",
        "_name",
        "_next_aligned",
        "_offer",
        "_outbox",
        "_preparing_since",
        "_relay_closed",
        "_remote_profile",
        "_reporter",
        "_reservations",
        "_sampled_until",
        "_smart_charging",
        "_state",
        "_status_sender",
        "_stopping_id_tag",
        "authorization",
        "connector_id",
        "hardware",
        "operative",
        "plugged",
        "transaction",
    )

    def __init__(
        self,
        connector_id: int,
        hardware: ConnectorHardware,
        *,
        configuration: Configuration,
        outbox: Outbox,
        state: ChargePointState,
        clock: WallClock,
        name: str,
        availability: str = "Operative",
        interrupted: JsonObject | None = None,
        last_meter: MeterRecord | None = None,
        charge_point_status: Callable[[], ChargePointStatus] | None = None,
        reservations: ReservationBook | None = None,
        smart_charging: SmartCharging | None = None,
    ) -> None:
        """``availability``, ``interrupted`` and ``last_meter`` are what the state kept for this connector
        before the boot: its availability, the transaction a power cut interrupted, its last reading.
        ``reservations`` is the charge point's book of reservations (none if not given)."""
        self.connector_id = connector_id
        self.hardware = hardware
        self._state = state
        self._configuration = configuration
        self._outbox = outbox
        self._clock = clock
        self.authorization = LocalAuthorization(state, configuration, clock)
        """The Local Authorization List and Authorization Cache (spec 3.5)."""
        self._charge_point_status = charge_point_status or (lambda: ChargePointStatus.AVAILABLE)
        self._reservations = reservations or ReservationBook(state, clock)
        """The status of connector 0, for the LocalListConflict report."""
        self._name = f"{name}#{connector_id}"
        self._machine = ConnectorStatusMachine(connector_id)
        self._reporter = StatusReporter(connector_id, configuration.integer("MinimumStatusDuration"))
        self._status_sender = OnDemandTask(self._send_status_reports, name=f"{self._name} status")
        self._mailbox: Mailbox[_Letter] = Mailbox(_MAILBOX_SIZE)
        self._hardware_ended = False
        self.transaction: Transaction | None = None
        self.plugged = False
        self.operative = availability == OPERATIVE
        self._availability_scheduled = availability == SCHEDULED_INOPERATIVE
        self._interrupted = interrupted
        self._last_meter = last_meter
        self._ev_suspended = False
        self._evse_suspended = False
        self._fault: FaultDetected | None = None
        self._finishing = False
        self._authorized: tuple[str, IdTagInfo | None] | None = None
        """An idTag accepted before the cable was plugged in (identification first, remote start)."""
        self._authorizing: str | None = None
        self._preparing_since: float | None = None
        self._info: str | None = None
        self._next_aligned: datetime | None = None
        self._stopping_id_tag: str | None = None
        """The idTag that stops the running transaction, when a user stops it."""
        self._sampled_until = 0.0
        self._relay_closed = False
        self._last_reported: StatusReport | None = None
        """The last status the Central System was told."""
        self._held = False
        """Held for a firmware installation (:class:`Hold`)."""
        self._idle_waiters: list[Reply[None]] = []
        """Replies of :class:`Hold` commands that wait for the transaction to end."""
        self._smart_charging = smart_charging
        """The charge point's charging profiles, which limit the power offered (spec 3.13); none: no limit."""
        self._offer: Offer | None = None
        """The power offered now, and until when."""
        self._remote_profile: tuple[str, ChargingProfile] | None = None
        """The idTag and TxProfile of an accepted RemoteStartTransaction, for the transaction it starts."""

    @property
    def status(self) -> ChargePointStatus:
        """The present status of the connector."""
        return self._machine.status

    async def send(self, command: Command) -> None:
        """Hand a command to the connector, waiting while many others wait to be handled."""
        await self._mailbox.put(command)

    async def resynchronise(self, after_boot: bool) -> StatusRequest | None:
        """The :class:`Resynchronise` command's reply: the status to report now that the charge point is
        (again) accepted, if any. A connector that waits for its hardware with nothing posted is asked at
        once, without a trip through its mailbox (and a wake of its task)."""
        command = Resynchronise(after_boot)
        if self._mailbox.idle:
            self._resynchronise(after_boot, command.reply)
        else:
            await self.send(command)
        return await command.reply.wait()

    def reservations_changed(self) -> None:
        """Tell the connector that reservations changed, without waiting: it looks at its status again."""
        self._mailbox.nudge()

    def limits_changed(self) -> None:
        """Tell the connector to look at its offered power again, without waiting."""
        self._mailbox.nudge()

    async def run(self, nursery: trio.Nursery | None = None) -> None:
        """Live until cancelled: take events and commands, keep timers, report status changes.

        The connector's short tasks (status reports, Authorize, MeterValues) run in ``nursery``, which must
        end with it: the charge point gives its power-on nursery, as a nursery parked per connector costs
        memory at thousands of charge points. Without one, the connector runs them in a nursery of its own.
        """
        await self.hardware.set_relay(False)  # as after any power-on, until a transaction closes it
        if self._interrupted is not None:
            await self._stop_after_power_loss(self._interrupted, self._last_meter)
            self._interrupted = None
        if nursery is None:
            async with trio.open_nursery() as own:
                await self._live(own)
        else:
            await self._live(nursery)

    async def _live(self, nursery: trio.Nursery) -> None:
        self._status_sender.start(nursery)
        try:
            self._report_status()
            await self._look_again(nursery)  # what the state calls for from the start: limits, timers, ...
            while True:
                item = await self._mailbox.next(self._hardware_event, self._next_deadline())
                if item is not None:
                    await self._handle(item, nursery)
                await self._look_again(nursery)
        finally:
            self._status_sender.stop()

    async def _hardware_event(self) -> HardwareEvent:
        """The next event of the hardware; once there are no more, only commands and timers wake the
        connector."""
        if not self._hardware_ended:
            try:
                return await self.hardware.events.receive()
            except trio.EndOfChannel:
                self._hardware_ended = True
        await trio.sleep_forever()

    async def _look_again(self, nursery: trio.Nursery) -> None:
        """After every command, event, timer or nudge: what the state now calls for."""
        await self._on_timers(nursery)
        await self._switch_power()
        self._follow_limits()
        if self._fault is not None:
            await self._reservations.end_at(self.connector_id)  # 5.13: Faulted ends it
        self._update_status()
        self._reservations.observe(self.connector_id, self.base_status)

    # --- what happens -----------------------------------------------------------------------------------

    async def _handle(self, item: HardwareEvent | _Letter, nursery: trio.Nursery) -> None:
        match item:
            case CablePlugged():
                self.plugged = True
                await self._on_plugged()
            case CableUnplugged() | EvDisconnected():
                await self._on_unplugged(ev_side=isinstance(item, EvDisconnected))
            case EvSuspended() | EvResumed():
                self._ev_suspended = isinstance(item, EvSuspended)
                self._info = None
            case IdTagPresented(id_tag=id_tag):
                await self._on_id_tag(id_tag, nursery)
            case FaultDetected():
                self._fault = item
                await self._stop(Reason.OTHER)
            case FaultCleared():
                self._fault = None
            case RemoteStart():
                await self._on_remote_start(item, nursery)
            case StopTransaction(reason=reason, transaction_id=wanted, reply=reply):
                running = self.transaction
                known_as = None if running is None else running.transaction_id
                reply.set(await self._stop(reason) if wanted in (None, known_as) else False)
            case Unlock(reply=reply):
                reply.set(await self._unlock())
            case ChangeAvailability(operative=operative, reply=reply):
                reply.set(await self._change_availability(operative))
            case ConfigurationChanged():
                self._reporter.minimum_duration = self._configuration.integer("MinimumStatusDuration")
            case Resynchronise(after_boot=after_boot, reply=reply):
                self._resynchronise(after_boot, reply)
            case ReservationsChanged():
                pass  # the status is looked at after every item
            case Hold(held=held, reply=reply):
                self._hold(held, reply)
            case TriggerMeterValues(reply=reply):
                reply.set(self._triggered_meter_values())
            case _Authorized():
                await self._on_authorized(item, nursery)
            case _Queued(answer=answer):
                self._on_queued_answer(answer)

    async def _on_plugged(self) -> None:
        if self._fault is not None or not self.operative or self._held or self.transaction is not None:
            return
        self._finishing = False
        if self._authorized is not None:
            id_tag, info = self._authorized
            await self._start_transaction(id_tag, info)
        else:
            self._preparing_since = trio.current_time()

    async def _on_unplugged(self, *, ev_side: bool) -> None:
        transaction = self.transaction
        stop_on_ev_side = self._configuration.boolean("StopTransactionOnEVSideDisconnect")
        if transaction is not None and ev_side and not stop_on_ev_side:
            self._ev_suspended = True  # the transaction goes on; the EV cannot draw power (spec 4.10)
            self._info = EV_SIDE_DISCONNECTED
            return
        if not ev_side or not self.hardware.has_lock:  # a fixed cable hangs free once the EV is gone
            self.plugged = False
            self._preparing_since = None
            self._authorized = None
            if (
                self._fault is not None
                and self._fault.error_code is ChargePointErrorCode.CONNECTOR_LOCK_FAILURE
            ):
                self._fault = None  # the cable that would not lock is gone
        if transaction is not None:
            await self._stop(Reason.EV_DISCONNECTED)
            if ev_side and self.hardware.has_lock:
                self._info = EV_SIDE_DISCONNECTED
                if self._configuration.boolean("UnlockConnectorOnEVSideDisconnect"):
                    await self.hardware.unlock()
        if not self.plugged:
            self._finishing = False
            self._info = None

    async def _on_id_tag(self, id_tag: str, nursery: trio.Nursery) -> None:
        if self._authorizing is not None or self._fault is not None or not self.operative:
            return
        transaction = self.transaction
        if transaction is not None:
            await self._decide_stop(id_tag, transaction, nursery, online=self._outbox.online)
        elif not self._finishing and not self._held:
            await self._decide_start(id_tag, nursery, online=self._outbox.online)

    def _may_start(self) -> bool:
        """A Faulted charge point (connector 0: its storage fails, actors.storage_health) starts nothing."""
        return self._charge_point_status() is not ChargePointStatus.FAULTED

    async def _decide_start(self, id_tag: str, nursery: trio.Nursery, *, online: bool) -> None:
        """Start, ask the Central System or refuse, from what the list and the cache say (spec 3.5, 4.1)."""
        listed, cached = await self.authorization.lookup(id_tag)
        if not self._may_start():  # no Authorize.req for a transaction that cannot start
            self._refuse_start()
            return
        settings = self.authorization.settings()
        known = local_entry(local_list_entry=listed, cache_entry=cached, settings=settings)
        if self._reserved_start(id_tag, known).action is ReservedStartAction.REFUSE:
            self._refuse_start()  # 5.13: reserved for another idTag; no Authorize.req for this one
            return
        decision = decide_start(
            id_tag,
            online=online,
            local_list_entry=listed,
            cache_entry=cached,
            settings=settings,
            now=self._clock.now(),
        )
        if decision.action is StartAction.ASK_CENTRAL_SYSTEM:
            self._authorize(id_tag, nursery, to_stop=False)
        elif decision.starts:
            await self._on_authorized(_Authorized(id_tag, decision.id_tag_info, to_stop=False), nursery)
        else:
            self._refuse_start()

    async def _decide_stop(
        self, id_tag: str, transaction: Transaction, nursery: trio.Nursery, *, online: bool
    ) -> None:
        """Stop, ask the Central System or refuse, for an idTag presented during a transaction (spec 3.10)."""
        listed, cached = await self.authorization.lookup(id_tag)
        settings = self.authorization.settings()
        stop = decide_stop(
            id_tag,
            transaction_id_tag=transaction.id_tag,
            transaction_parent_id_tag=transaction.parent_id_tag,
            presented_info=local_entry(local_list_entry=listed, cache_entry=cached, settings=settings),
            online=online,
            now=self._clock.now(),
        )
        if stop.action is StopAction.ACCEPT:
            self._stopping_id_tag = id_tag
            await self._stop(Reason.LOCAL)
        elif stop.action is StopAction.ASK_CENTRAL_SYSTEM:
            self._authorize(id_tag, nursery, to_stop=True)

    def _refuse_start(self) -> None:
        """An idTag may not start: no transaction, and an authorization that waited for the cable lapses."""
        self._authorized = None
        self._remote_profile = None
        if not self.plugged:
            self._preparing_since = None

    async def _on_remote_start(self, command: RemoteStart, nursery: trio.Nursery) -> None:
        free = self.transaction is None and self._fault is None and self.operative and not self._finishing
        free = free and not self._held and self._may_start()
        reserved = self._reserved_start(command.id_tag, None)
        free = free and reserved.action is not ReservedStartAction.REFUSE
        command.reply.set(free and self._authorizing is None)
        if not (free and self._authorizing is None):
            return
        profile = command.charging_profile
        self._remote_profile = None if profile is None else (command.id_tag, profile)
        if (
            self._configuration.boolean("AuthorizeRemoteTxRequests")
            or reserved.action is ReservedStartAction.NEED_PARENT  # 5.13: find its parentIdTag
        ):
            # 5.11: as if the idTag were presented here: the list, the cache and/or Authorize.req.
            await self._decide_start(command.id_tag, nursery, online=self._outbox.online)
        else:
            await self._on_authorized(_Authorized(command.id_tag, None, to_stop=False), nursery)

    def _authorize(self, id_tag: str, nursery: trio.Nursery, *, to_stop: bool) -> None:
        self._authorizing = id_tag
        if not to_stop and self._preparing_since is None:
            self._preparing_since = trio.current_time()  # identification first: Preparing while we ask
        nursery.start_soon(self._ask_central_system, id_tag, to_stop)

    async def _ask_central_system(self, id_tag: str, to_stop: bool) -> None:
        try:
            response: AuthorizeResponse = await self._outbox.call(AuthorizeRequest(id_tag=id_tag))
        except (Offline, CallFailed, CallTimeout, ConnectionLost) as problem:
            _log.info("%s: Authorize %s not answered: %s", self._name, id_tag, problem)
            await self._mailbox.put(_Authorized(id_tag, None, to_stop, answered=False))
            return
        conflict = await self.authorization.remember(id_tag, response.id_tag_info)  # 4.1: the cache
        await self._mailbox.put(_Authorized(id_tag, response.id_tag_info, to_stop))
        if conflict:
            await self._report_local_list_conflict()

    async def _report_local_list_conflict(self) -> None:
        """StatusNotification connectorId 0, errorCode LocalListConflict (spec 3.5.2, 7.6); sent if online."""
        request = StatusNotificationRequest(
            connector_id=0,
            error_code=ChargePointErrorCode.LOCAL_LIST_CONFLICT,
            status=self._charge_point_status(),
            timestamp=self._clock.now(),
        )
        await self._notify(request)

    async def _on_authorized(self, authorized: _Authorized, nursery: trio.Nursery) -> None:
        self._authorizing = None
        now = self._clock.now()
        transaction = self.transaction
        if not authorized.answered:
            # No answer: the charge point is offline, and decides again as such (actors.authorization).
            if authorized.to_stop and transaction is not None:
                await self._decide_stop(authorized.id_tag, transaction, nursery, online=False)
            elif not authorized.to_stop and transaction is None:
                await self._decide_start(authorized.id_tag, nursery, online=False)
            return
        if authorized.to_stop:
            if transaction is None or authorized.info is None:
                return
            decision = decide_stop_after_authorize(
                authorized.info, transaction_parent_id_tag=transaction.parent_id_tag, now=now
            )
            if decision.action is StopAction.ACCEPT:
                self._stopping_id_tag = authorized.id_tag
                await self._stop(Reason.LOCAL)
            return
        if authorized.info is not None and not decide_start_after_authorize(authorized.info, now=now).starts:
            self._refuse_start()
            return
        if transaction is not None:
            return
        if self._held:  # a firmware installation waits: no new transaction (spec 5.19)
            self._refuse_start()
            return
        if not self._reserved_start(authorized.id_tag, authorized.info).starts:  # 5.13
            self._refuse_start()
            return
        if self.plugged:
            await self._start_transaction(authorized.id_tag, authorized.info)
        else:
            self._authorized = (authorized.id_tag, authorized.info)
            self._preparing_since = trio.current_time()
            self.hardware.awaiting_cable()

    # --- transactions -----------------------------------------------------------------------------------

    async def _start_transaction(self, id_tag: str, info: IdTagInfo | None) -> None:
        """Start charging and queue StartTransaction with the meter register (spec 4.8); a reservation it
        uses ends, and its id goes in StartTransaction.req (5.13)."""
        if self._finishing:  # ConnectionTimeout ended the usage while the Authorize was slow (4.9 B6)
            self._refuse_start()
            return
        reserved = self._reserved_start(id_tag, info)
        # A reservation took the connector meanwhile, or the storage fails (connector 0 is Faulted).
        if not reserved.starts or not self._may_start():
            self._refuse_start()
            return
        reservation = reserved.reservation
        self._authorized = None
        self._preparing_since = None
        if self.hardware.has_lock and not await self.hardware.lock():
            self._fault = FaultDetected(ChargePointErrorCode.CONNECTOR_LOCK_FAILURE)
            return
        try:
            local_id = await self._open_transaction(id_tag, info, reservation)
        except StorageError as error:
            # Nothing of it is queued (actors.storage_health): no transaction, the relay stays open, and the
            # usage goes on as after a refused idTag (Preparing until ConnectionTimeout).
            _log.warning("%s: transaction of %s not started: %s", self._name, id_tag, error)
            self.transaction = None
            if self.hardware.has_lock:
                await self.hardware.unlock()
            self._preparing_since = trio.current_time() if self.plugged else None
            return
        if reservation is not None:
            await self._reservations.used(reservation)
        await self._limit_transaction(id_tag, local_id)
        await self._switch_power()

    async def _open_transaction(
        self, id_tag: str, info: IdTagInfo | None, reservation: Reservation | None
    ) -> int:
        """Keep the transaction's record and queue its StartTransaction; its local id. Raises
        :class:`storage.StorageError`, with :attr:`transaction` set and no StartTransaction queued, if the
        storage refuses either."""
        local_id = await self._outbox.new_local_transaction()
        async with self._outbox.in_order:
            now = trio.current_time()
            meter_start = register_wh(self.hardware.energy_wh())
            self.transaction = Transaction(
                local_id=local_id,
                id_tag=id_tag,
                parent_id_tag=info.parent_id_tag if info is not None else None,
                meter_start=meter_start,
                started_at=now,
                data=TransactionData(self._items("StopTxnSampledData"), self._items("StopTxnAlignedData")),
            )
            self._ev_suspended = False
            self._evse_suspended = False
            self._stopping_id_tag = None
            self._sampled_until = now
            request = StartTransactionRequest(
                connector_id=self.connector_id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=self._clock.now(),
                reservation_id=reservation.reservation_id if reservation is not None else None,
            )
            await self._take_meter_value(ReadingContext.TRANSACTION_BEGIN, at=request.timestamp)
            # The record first: a power cut between the two leaves a transaction that is stopped at the next
            # boot and whose messages, having no StartTransaction, are dropped; never a start without a stop.
            # So does a StartTransaction the storage refuses, if the record cannot be forgotten either.
            await self._state.save_transaction(self.connector_id, self._record(self.transaction, request))
            try:
                await self._outbox.queue(request, local_transaction=local_id)
            except StorageError:
                await self._forget_transaction(local_id)
                raise
        return local_id

    def _reserved_start(self, id_tag: str, info: IdTagInfo | None) -> ReservedStart:
        """What the reservations say about ``id_tag`` starting here; ``info`` is what is known of it (its
        parentIdTag), ``None`` if nothing is."""
        return self._reservations.verdict(
            self.connector_id,
            id_tag,
            parent_id_tag=info.parent_id_tag if info is not None else None,
            parent_known=info is not None,
        )

    def _record(self, transaction: Transaction, start: StartTransactionRequest) -> JsonObject:
        """What is kept of a running transaction, so that the next boot can stop it (spec 4.10, PowerLoss),
        and can forget the reservation it used."""
        record: JsonObject = {
            "local_id": transaction.local_id,
            "id_tag": transaction.id_tag,
            "parent_id_tag": transaction.parent_id_tag,
            "meter_start": transaction.meter_start,
            "started_at": format_datetime(start.timestamp),
        }
        if start.reservation_id is not None:
            record["reservation_id"] = start.reservation_id
        return record

    async def answered(self, answer: QueuedAnswer) -> None:
        """The Central System answered a queued message of this connector.

        The transaction id a StartTransaction.conf gives is known at once: the Central System may name it
        in the very next CALL (RemoteStopTransaction, SetChargingProfile). What the answer means for the
        transaction is left to the connector's own task."""
        transaction = self._answered_transaction(answer)
        if transaction is not None and isinstance(answer.response, StartTransactionResponse):
            transaction.transaction_id = answer.response.transaction_id
            await self._mailbox.put(_Queued(answer))

    def _answered_transaction(self, answer: QueuedAnswer) -> Transaction | None:
        """The running transaction ``answer`` is about, if any."""
        transaction = self.transaction
        if transaction is None or answer.local_transaction != transaction.local_id:
            return None
        return transaction

    def _on_queued_answer(self, answer: QueuedAnswer) -> None:
        response = answer.response
        transaction = self._answered_transaction(answer)
        if not isinstance(response, StartTransactionResponse) or transaction is None:
            return
        if response.id_tag_info.status != "Accepted":  # spec 4.8: StopTransactionOnInvalidId
            if self._configuration.boolean("StopTransactionOnInvalidId"):
                self._mailbox.put_nowait(StopTransaction(Reason.DE_AUTHORIZED))
            elif self._configuration.value("MaxEnergyOnInvalidId") is not None:
                allowed = self._configuration.integer("MaxEnergyOnInvalidId")  # then suspend (spec 9.1.14)
                transaction.energy_limit_wh = transaction.meter_start + allowed
            else:
                self._evse_suspended = True

    async def _stop(self, reason: Reason) -> bool:
        """Stop the running transaction: relay off, StopTransaction queued (spec 4.10)."""
        transaction = self.transaction
        if transaction is None:
            return False
        id_tag = self._stopping_id_tag
        user_stopped = reason is Reason.LOCAL and id_tag is not None
        async with self._outbox.in_order:
            now = self._clock.now()
            meter_stop = register_wh(self.hardware.energy_wh())
            await self._take_meter_value(ReadingContext.TRANSACTION_END, at=now)
            request = StopTransactionRequest(
                meter_stop=meter_stop,
                timestamp=now,
                transaction_id=transaction.transaction_id or 0,
                id_tag=id_tag if user_stopped else None,
                reason=reason,
                transaction_data=transaction.data.values(),
            )
            # The record goes once the StopTransaction is kept: at once, or when the storage takes what the
            # outbox holds (actors.storage_health); a power cut before that stops it with PowerLoss.
            forget = functools.partial(self._forget_transaction, transaction.local_id)
            if not await self._outbox.queue(request, local_transaction=transaction.local_id, then=forget):
                _log.warning("%s: StopTransaction held until the storage takes it", self._name)
        self.transaction = None
        if self._smart_charging is not None:
            await self._smart_charging.transaction_ended(transaction.local_id)  # its TxProfiles go
        self._tell_idle()
        if self._availability_scheduled:
            await self._keep_inoperative()
        self._stopping_id_tag = None
        self._ev_suspended = False
        self._evse_suspended = False
        await self._switch_power()
        self._finishing = self.plugged
        if self.hardware.has_lock and not self.plugged:
            await self.hardware.unlock()
        return True

    async def _forget_transaction(self, local_id: int) -> None:
        """Forget the record of transaction ``local_id`` (its StopTransaction is kept), unless a newer one of
        this connector replaced it. If the storage refuses, the next boot stops it again with PowerLoss, a
        StopTransaction that the outbox drops (its transaction is over)."""
        transaction = self.transaction
        if transaction is not None and transaction.local_id != local_id:
            return
        try:
            await self._state.delete_transaction(self.connector_id)
        except StorageError as error:
            _log.warning("%s: record of transaction %d not forgotten: %s", self._name, local_id, error)

    async def _keep_inoperative(self) -> None:
        """A scheduled Inoperative takes effect (5.2). If the storage refuses, it is kept as scheduled, which
        the next boot applies as well."""
        self._availability_scheduled = False
        try:
            await self._state.save_availability(self.connector_id, INOPERATIVE)
        except StorageError as error:
            _log.warning("%s: Inoperative not kept: %s", self._name, error)

    async def _keep_meter(self, register: int, at: datetime) -> None:
        """Keep the meter register, so that a StopTransaction after a power cut carries the last reading
        (if the storage refuses, it carries an older one)."""
        try:
            await self._state.save_meter(self.connector_id, float(register), {"register_wh": register}, at)
        except StorageError as error:
            _log.info("%s: meter reading not kept: %s", self._name, error)

    async def _stop_after_power_loss(self, record: JsonObject, meter: MeterRecord | None) -> None:
        """Stop a transaction that a power cut interrupted: reason PowerLoss, with the last kept reading
        (spec 4.10, 7.38), queued after its StartTransaction. Nothing is queued if its StopTransaction
        already waits (the power went between queueing it and forgetting the transaction)."""
        local_id = int(record["local_id"])
        async with self._outbox.in_order:
            await self._queue_power_loss_stop(local_id, record, meter)
        if self._availability_scheduled:
            await self._keep_inoperative()

    async def _queue_power_loss_stop(
        self, local_id: int, record: JsonObject, meter: MeterRecord | None
    ) -> None:
        """Queue the StopTransaction, then forget the record (actors.storage_health: once it is kept)."""
        forget = functools.partial(self._forget_transaction, local_id)
        if "StopTransaction" in await self._state.queued_actions(local_id):
            await forget()
        else:
            started_at = parse_datetime(record["started_at"])
            if meter is not None and meter.at >= started_at:
                meter_stop, stopped_at = register_wh(meter.energy_wh), meter.at
            else:
                meter_stop, stopped_at = int(record["meter_start"]), started_at
            request = StopTransactionRequest(
                meter_stop=meter_stop, timestamp=stopped_at, transaction_id=0, reason=Reason.POWER_LOSS
            )
            await self._outbox.queue(request, local_transaction=local_id, then=forget)

    async def _change_availability(self, operative: bool) -> AvailabilityStatus:
        """ChangeAvailability (spec 5.2), kept before it is answered: Accepted if it applies at once,
        Scheduled for the end of the running transaction, Rejected if the storage refuses to keep it."""
        at_once = operative or self.transaction is None
        value = OPERATIVE if operative else INOPERATIVE if at_once else SCHEDULED_INOPERATIVE
        try:
            await self._state.save_availability(self.connector_id, value)
        except StorageError as error:
            _log.warning("%s: availability %s not kept: %s", self._name, value, error)
            return AvailabilityStatus.REJECTED
        self.operative = operative
        self._availability_scheduled = not at_once
        return AvailabilityStatus.ACCEPTED if at_once else AvailabilityStatus.SCHEDULED

    def _hold(self, held: bool, reply: Reply[None]) -> None:
        """Hold or release the connector for a firmware installation (spec 5.19)."""
        self._held = held
        self._idle_waiters.append(reply)
        if not held or self.transaction is None:
            self._tell_idle()

    def _tell_idle(self) -> None:
        """Answer the :class:`Hold` commands waiting for the transaction to end."""
        for reply in self._idle_waiters:
            reply.set(None)
        self._idle_waiters.clear()

    async def _unlock(self) -> UnlockStatus:
        if not self.hardware.has_lock:
            return UnlockStatus.NOT_SUPPORTED
        await self._stop(Reason.UNLOCK_COMMAND)
        return UnlockStatus.UNLOCKED if await self.hardware.unlock() else UnlockStatus.UNLOCK_FAILED

    async def _switch_power(self) -> None:
        """Power flows while a transaction runs that the charge point does not suspend."""
        wanted = self.transaction is not None and not self._evse_suspended and self._fault is None
        if wanted != self._relay_closed:
            self._relay_closed = wanted
            await self.hardware.set_relay(wanted)

    # --- smart charging ---------------------------------------------------------------------------------

    def _follow_limits(self) -> None:
        """Offer the power the charging profiles allow now (spec 3.13)."""
        if self._smart_charging is None:
            return
        offer = self._smart_charging.offer(self.connector_id)
        if self._offer is None or offer.limit_w != self._offer.limit_w:
            self.hardware.offer(offer.limit_w)
        self._offer = offer

    def _offered_nothing(self) -> bool:
        """Whether a smart charging limit of 0 suspends charging (spec 4.9: SuspendedEVSE)."""
        return self._offer is not None and self._offer.limit_w <= 0

    async def _limit_transaction(self, id_tag: str, local_id: int) -> None:
        """A transaction started: the power it may draw, with the TxProfile of the RemoteStartTransaction
        that started it, if any (5.16.2), before the relay closes."""
        remote, self._remote_profile = self._remote_profile, None
        profile = remote[1] if remote is not None and remote[0].lower() == id_tag.lower() else None
        if self._smart_charging is not None:
            await self._smart_charging.transaction_started(self.connector_id, local_id, profile)
        self._follow_limits()

    # --- meter values -----------------------------------------------------------------------------------

    def _items(self, key: str) -> list[MeasurandItem]:
        return parse_measurands(self._configuration.value(key) or "")

    def _sampled_items(self) -> list[MeasurandItem]:
        return self._items("MeterValuesSampledData")

    def _read(self, item: MeasurandItem) -> Reading | None:
        value = self.hardware.read(item.measurand, item.phase)
        return None if value is None else Reading(value)

    async def _take_meter_value(
        self, context: ReadingContext, sent_items: list[MeasurandItem] | None = None, *, at: datetime
    ) -> MeterValuesRequest | None:
        """Read the meter once, at ``at``, for what is sent and what StopTransaction will carry (spec 3.16,
        4.10); during a transaction, keep the register reading for a StopTransaction after a power cut.

        Returns the MeterValues request for ``sent_items``, if any; Transaction.Begin/End values only go
        into the transaction data. Call it in the outbox's ``in_order`` with the message it goes with.
        """
        transaction = self.transaction
        kept = self._items(
            "StopTxnAlignedData" if context is ReadingContext.SAMPLE_CLOCK else "StopTxnSampledData"
        )
        wanted = (sent_items or []) + (kept if transaction is not None else [])
        register = register_wh(self.hardware.energy_wh())
        meter_value = build_meter_value(at, wanted, context, self._read)
        if transaction is not None:
            await self._keep_meter(register, at)
        if meter_value is None:
            return None
        if transaction is not None:
            if context is ReadingContext.SAMPLE_CLOCK:
                transaction.data.add_aligned(meter_value)
            else:
                transaction.data.add_sampled(meter_value)
        sent = select(meter_value, sent_items) if sent_items else None
        if sent is None:
            return None
        placeholder = 0 if transaction is not None else None  # the outbox puts in the real id
        return MeterValuesRequest(
            connector_id=self.connector_id, meter_value=(sent,), transaction_id=placeholder
        )

    def _triggered_meter_values(self) -> MeterValuesRequest | None:
        """The current readings of MeterValuesSampledData, context Trigger (spec 5.17), with the Central
        System's transaction id if a transaction runs and has one."""
        meter_value = build_meter_value(
            self._clock.now(), self._sampled_items(), ReadingContext.TRIGGER, self._read
        )
        if meter_value is None:
            return None
        transaction = self.transaction
        transaction_id = transaction.transaction_id if transaction is not None else None
        return MeterValuesRequest(
            connector_id=self.connector_id, meter_value=(meter_value,), transaction_id=transaction_id
        )

    async def _send_meter_values(self, request: MeterValuesRequest) -> None:
        """Meter values outside a transaction are not transaction-related: sent if online, else dropped."""
        try:
            await self._outbox.call(request)
        except (Offline, CallFailed, CallTimeout, ConnectionLost) as problem:
            _log.info("%s: MeterValues not delivered: %s", self._name, problem)

    # --- timers -----------------------------------------------------------------------------------------

    def _next_deadline(self) -> float:
        deadlines = [self._sample_due(), self._preparing_timeout(), self._aligned_due(), self._energy_check()]
        deadlines.append(self._offer.until if self._offer is not None else math.inf)
        report_due = self._reporter.next_due()
        if report_due is not None and report_due > trio.current_time():  # a due one was sent on or dropped
            deadlines.append(report_due)
        return min(deadlines)

    def _sample_due(self) -> float:
        transaction = self.transaction
        if transaction is None:
            return math.inf
        interval = self._configuration.integer("MeterValueSampleInterval")
        return next_sample_time(transaction.started_at, interval, self._sampled_until)

    def _energy_check(self) -> float:
        """While an energy limit applies, look at the meter every few seconds."""
        transaction = self.transaction
        if transaction is None or transaction.energy_limit_wh is None or self._evse_suspended:
            return math.inf
        return trio.current_time() + _ENERGY_CHECK_INTERVAL

    def _preparing_timeout(self) -> float:
        if self._preparing_since is None:
            return math.inf
        return self._preparing_since + self._configuration.integer("ConnectionTimeout")

    def _aligned_due(self) -> float:
        interval = self._configuration.integer("ClockAlignedDataInterval")
        if interval <= 0:
            self._next_aligned = None
            return math.inf
        if self._next_aligned is None:
            self._next_aligned = next_clock_aligned(self._clock.now(), interval)
        assert self._next_aligned is not None
        return trio.current_time() + (self._next_aligned - self._clock.now()).total_seconds()

    async def _on_timers(self, nursery: trio.Nursery) -> None:
        now = trio.current_time()
        transaction = self.transaction
        if transaction is not None and self._sample_due() <= now:
            self._sampled_until = self._sample_due()
            async with self._outbox.in_order:
                request = await self._take_meter_value(
                    ReadingContext.SAMPLE_PERIODIC, self._sampled_items(), at=self._clock.now()
                )
                if request is not None:
                    await self._outbox.queue(request, local_transaction=transaction.local_id)
        limit = transaction.energy_limit_wh if transaction is not None else None
        if limit is not None and self.hardware.energy_wh() >= limit:
            self._evse_suspended = True
        if self._preparing_timeout() <= now:
            self._preparing_since = None
            self._authorized = None
            self._remote_profile = None
            self._finishing = self.plugged  # B6: the cable stays, the user must take it away
        if self._aligned_due() <= now:
            self._next_aligned = None
            async with self._outbox.in_order:
                request = await self._take_meter_value(
                    ReadingContext.SAMPLE_CLOCK, self._items("MeterValuesAlignedData"), at=self._clock.now()
                )
                if request is not None and transaction is not None:
                    await self._outbox.queue(request, local_transaction=transaction.local_id)
            if request is not None and transaction is None:
                nursery.start_soon(self._send_meter_values, request)
        if self._reporter.next_due() is not None:
            self._wake_status_sender()

    # --- status -----------------------------------------------------------------------------------------

    def _target_status(self) -> ChargePointStatus:
        """The status the connector's state calls for (spec 4.9): Reserved rather than Available while a
        reservation holds it (5.13)."""
        status = self.base_status
        if status is ChargePointStatus.AVAILABLE and self._reservations.shows_reserved(self.connector_id):
            return ChargePointStatus.RESERVED
        return status

    @property
    def base_status(self) -> ChargePointStatus:
        """The status the connector's own state calls for, before reservations: Available when nobody uses
        it (``actors.reservation``)."""
        if self._fault is not None:
            return ChargePointStatus.FAULTED
        if self.transaction is not None:
            return charging_status(self._ev_suspended, self._evse_suspended or self._offered_nothing())
        if self._finishing:
            return ChargePointStatus.FINISHING
        if not self.operative:
            return ChargePointStatus.UNAVAILABLE
        if self._preparing_since is not None or self._authorizing is not None:
            return ChargePointStatus.PREPARING
        if self._held:
            return ChargePointStatus.UNAVAILABLE
        return ChargePointStatus.AVAILABLE

    def _update_status(self) -> None:
        target = self._target_status()
        current = self._machine.status
        if target == current:
            return
        if current is ChargePointStatus.FAULTED:
            self._machine.apply(ConnectorEvent.FAULT_RESOLVED)
            if self._machine.status == target:
                self._report_status()
                return
        event = event_between(self._machine.status, target)
        if (
            event is None
            and self._machine.status is ChargePointStatus.PREPARING
            and target is ChargePointStatus.UNAVAILABLE
        ):
            # 4.9 has no Preparing -> Unavailable: the usage ends (B1), then the connector goes (A8)
            self._machine.apply(ConnectorEvent.USAGE_ENDED)
            self._report_status()
            event = event_between(self._machine.status, target)
        if event is None and target is ChargePointStatus.RESERVED:
            # 4.9 leads into Reserved from Available only (A7): the usage ends first (B1, C1, F1, H1, ...)
            self._machine.apply(self._event_to(ChargePointStatus.AVAILABLE))
            self._report_status()
            event = event_between(self._machine.status, target)
        if event is None:
            raise AssertionError(f"{self._name}: no transition from {self._machine.status} to {target}")
        self._machine.apply(event)
        self._report_status()

    def _event_to(self, target: ChargePointStatus) -> ConnectorEvent:
        event = event_between(self._machine.status, target)
        if event is None:
            raise AssertionError(f"{self._name}: no transition from {self._machine.status} to {target}")
        return event

    def _report_status(self) -> None:
        error = self._fault.error_code if self._fault is not None else ChargePointErrorCode.NO_ERROR
        info = self._fault.info if self._fault is not None else self._info
        self._reporter.changed(self._machine.status, error, info, self._clock.now(), trio.current_time())
        self._wake_status_sender()

    def _wake_status_sender(self) -> None:
        """Have the due StatusNotifications sent; offline, drop them at once (as the sender would), without
        a task for them: a connector's first status at every power-on comes before the charge point is
        accepted, and the resynchronisation after it reports the current one."""
        if self._outbox.online:
            self._status_sender.wake()
        else:
            self._reporter.due(trio.current_time())

    async def _send_status_reports(self) -> None:
        """Send due StatusNotifications in order while online; offline ones are history (spec 4.9)."""
        for report in self._reporter.due(trio.current_time()):
            if self._outbox.online:
                previous, self._last_reported = self._last_reported, report
                if not await self._notify(report.request()) and self._last_reported is report:
                    self._last_reported = previous  # not delivered: reported after reconnecting

    def _resynchronise(self, after_boot: bool, reply: Reply[StatusRequest | None]) -> None:
        report = self._report_to_resynchronise(after_boot)
        if report is None:
            reply.set(None)
        else:
            # reported once the charge point takes it: one cancelled with its connection never sends it
            reply.set(report.request(), on_taken=functools.partial(self._count_as_reported, report))

    def _report_to_resynchronise(self, after_boot: bool) -> StatusReport | None:
        report = self._reporter.report_current(self._clock.now())
        if report is None or after_boot or self._last_reported is None:
            return report
        return None if report.same_condition(self._last_reported) else report

    def _count_as_reported(self, report: StatusReport) -> None:
        self._last_reported = report

    async def _notify(self, request: StatusNotificationRequest) -> bool:
        try:
            await self._outbox.call(request)
        except (Offline, CallFailed, CallTimeout, ConnectionLost) as problem:
            _log.info("%s: StatusNotification not delivered: %s", self._name, problem)
            return False
        return True
