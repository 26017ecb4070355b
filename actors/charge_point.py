"""The ChargePoint actor: one charge point's life, from power-on through registration to its connection's end.

Its nursery holds the connection and everything that uses it; cancelling :meth:`ChargePoint.run` is a power
cut. A Reset reboots it: a new power-on, a new BootNotification. A lost connection is not a reboot: the
charge point reconnects with back-off and jitter and does not register again once it was accepted.
"""

import contextlib
import functools
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import attrs
import trio

from actors.backoff import Backoff
from actors.call_backlog import CallBacklog
from actors.clock import WallClock
from actors.configuration import (
    Configuration,
    KeyDefinition,
    core_keys,
    firmware_management_keys,
    local_auth_list_keys,
    reservation_keys,
    security_keys,
    smart_charging_keys,
)
from actors.connection import (
    Connection,
    ConnectionFailed,
    ConnectionLost,
    CsmsAddress,
    Dialer,
    open_connection,
    tcp_dialer,
)
from actors.connector import (
    INOPERATIVE,
    OPERATIVE,
    ChangeAvailability,
    ConfigurationChanged,
    Connector,
    Hold,
    RemoteStart,
    StopTransaction,
    TriggerMeterValues,
    Unlock,
)
from actors.diagnostics import DiagnosticsUploads, MessageJournal
from actors.firmware import FirmwareInstaller, FirmwareUpdates
from actors.hardware import ConnectorHardware
from actors.keep_alive import KeepAlive
from actors.link import CallFailed, CallTimeout, IncomingCall, Link
from actors.local_authorization import LocalAuthorization
from actors.metering import MeasurandItem, Reading, build_meter_value, next_clock_aligned, parse_measurands
from actors.ocpp import (
    AvailabilityStatus,
    AvailabilityType,
    BootNotificationRequest,
    BootNotificationResponse,
    CallReceived,
    CancelReservationRequest,
    CancelReservationResponse,
    ChangeAvailabilityRequest,
    ChangeAvailabilityResponse,
    ChangeConfigurationRequest,
    ChangeConfigurationResponse,
    ChargePointErrorCode,
    ChargePointStatus,
    ClearCacheRequest,
    ClearCacheResponse,
    ClearChargingProfileRequest,
    ClearChargingProfileResponse,
    ConfigurationStatus,
    DataTransferRequest,
    DataTransferResponse,
    DataTransferStatus,
    DiagnosticsStatus,
    DiagnosticsStatusNotificationRequest,
    ErrorCode,
    FirmwareStatus,
    FirmwareStatusNotificationRequest,
    GetCompositeScheduleRequest,
    GetConfigurationRequest,
    GetConfigurationResponse,
    GetDiagnosticsRequest,
    GetDiagnosticsResponse,
    GetLocalListVersionRequest,
    GetLocalListVersionResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    IdTagInfo,
    InvalidCall,
    Measurand,
    MessageTrigger,
    MeterValuesRequest,
    ReadingContext,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    RemoteStartTransactionRequest,
    RemoteStartTransactionResponse,
    RemoteStopTransactionRequest,
    RemoteStopTransactionResponse,
    Request,
    ReserveNowRequest,
    ReserveNowResponse,
    ResetRequest,
    ResetResponse,
    ResetStatus,
    ResetType,
    Response,
    RpcSession,
    SendLocalListRequest,
    SendLocalListResponse,
    SetChargingProfileRequest,
    SetChargingProfileResponse,
    StartTransactionRequest,
    StatusNotificationRequest,
    StopTransactionRequest,
    TriggerMessageRequest,
    TriggerMessageResponse,
    TriggerMessageStatus,
    UnlockConnectorRequest,
    UnlockConnectorResponse,
    UnlockStatus,
    UpdateFirmwareRequest,
    UpdateFirmwareResponse,
)
from actors.on_demand import OnDemandTask
from actors.outbox import DeliveryCounts, Offline, Outbox, QueuedAnswer, RetryPolicy
from actors.registration import Registration, boot_retry_delay
from actors.reservation_book import ReservationBook
from actors.security import (
    HIGHEST_PROFILE,
    TlsFiles,
    basic_authentication,
    profile_change,
    tls_context,
    url_for_profile,
)
from actors.smart_charging import SmartCharging
from actors.statistics import Statistics
from actors.storage_health import (
    STORAGE_RETRY_INTERVAL,
    Condition,
    StorageHealth,
    WatchedState,
    charge_point_condition,
)
from actors.trigger import trigger_status, triggered_connectors
from storage import ChargePointState, StorageError

__all__ = ["ChargePoint", "ChargePointSettings", "DataTransferHandler", "NotAccepted"]

_log = logging.getLogger(__name__)

DataTransferHandler = Callable[[DataTransferRequest], Awaitable[DataTransferResponse]]
"""Answers the Central System's DataTransfer for one vendorId."""

SUPPORTED_MEASURANDS = (
    Measurand.ENERGY_ACTIVE_IMPORT_REGISTER,
    Measurand.POWER_ACTIVE_IMPORT,
    Measurand.POWER_OFFERED,
    Measurand.CURRENT_IMPORT,
    Measurand.CURRENT_OFFERED,
    Measurand.VOLTAGE,
    Measurand.SOC,
)
"""What the simulated meter of a connector measures."""

SUPPORTED_FEATURE_PROFILES = (
    "Core",
    "FirmwareManagement",
    "LocalAuthListManagement",
    "RemoteTrigger",
    "Reservation",
    "SmartCharging",
)


def configuration_keys(connectors: int, measurands: Iterable[Measurand]) -> tuple[KeyDefinition, ...]:
    """The configuration keys of a charge point with ``connectors`` whose meters measure ``measurands``: those
    of its feature profiles (:data:`SUPPORTED_FEATURE_PROFILES`, chapter 9) and of the Security Extension."""
    keys = core_keys(connectors, measurands, SUPPORTED_FEATURE_PROFILES) + local_auth_list_keys()
    return keys + firmware_management_keys() + security_keys() + reservation_keys() + smart_charging_keys()


_WAITING_CALLS_LIMIT = 8
"""How many CALLs of the Central System may wait while one is answered; more are refused at once."""
_IDLE = (ChargePointStatus.AVAILABLE, ChargePointStatus.RESERVED)
_AVAILABILITY_ORDER = (AvailabilityStatus.REJECTED, AvailabilityStatus.SCHEDULED, AvailabilityStatus.ACCEPTED)
"""The answer to a ChangeAvailability of several connectors is the first of their answers in this order."""


@attrs.frozen
class ChargePointSettings:
    """What a charge point is and where it connects; fixed for its life."""

    charge_point_id: str
    csms_url: str
    vendor: str = "ocpp-fleet"
    model: str = "Simulated"
    serial_number: str | None = None
    firmware_version: str | None = None
    connectors: int = 1
    configuration: Mapping[str, str] = attrs.Factory(dict)
    """Configuration values at first boot; changes made by the Central System are kept in the state."""
    answer_timeout: float = 30.0
    """Seconds to wait for the answer to one of our CALLs."""
    connect_timeout: float = 30.0
    pong_timeout: float = 10.0
    max_message_size: int = 1 << 20
    """Bytes: a longer message from the Central System closes the connection (WebSocket code 1009)."""
    backoff: Backoff = attrs.Factory(Backoff)
    transfer_timeout: float = 60.0
    """Seconds of silence after which a firmware download or diagnostics upload fails (actors.transfer)."""
    journal_size: int = 100
    """How many recent OCPP messages the charge point keeps for diagnostics files (actors.diagnostics)."""
    tls: TlsFiles = attrs.Factory(TlsFiles)
    """CA file and client certificate for ``wss://`` (security profiles 2 and 3; see actors.security)."""


class NotAccepted(Exception):
    """The charge point cannot send now: it is not connected, or the Central System has not accepted it."""


@attrs.define
class _Answer:
    """What to answer a CALL of the Central System, and what to do once the answer is sent."""

    response: Response | None = None
    error: tuple[ErrorCode, str] | None = None
    then: Callable[[Link], Awaitable[None]] | None = None


class ChargePoint:
    """One OCPP 1.6J charge point: connects, registers, keeps its link alive, answers the Central System."""

    def __init__(
        self,
        settings: ChargePointSettings,
        state: ChargePointState,
        *,
        dialer: Dialer = tcp_dialer,
        clock: WallClock | None = None,
        rng: random.Random | None = None,
        hardware: Sequence[ConnectorHardware],
        data_transfer: Mapping[str, DataTransferHandler] | None = None,
        firmware: FirmwareInstaller | None = None,
        statistics: Statistics | None = None,
    ) -> None:
        """``firmware`` installs the firmware images of UpdateFirmware (without one, installations fail);
        ``statistics`` (shared by a fleet) counts our CALLs and what happens to this charge point."""
        if len(hardware) != settings.connectors:
            raise ValueError(
                f"{settings.connectors} connectors need as many hardware objects, got {len(hardware)}"
            )
        self.settings = settings
        self._hardware = list(hardware)
        self.storage_health = StorageHealth(name=settings.charge_point_id)
        """Whether the state takes writes (actors.storage_health): connector 0 is Faulted if not."""
        self.storage_health.on_change = self._condition_changed
        state = WatchedState(state, self.storage_health)
        self._state = state
        self._dialer = dialer
        self._clock = clock
        self._rng = rng or random.Random()
        self._data_transfer = dict(data_transfer or {})
        self._statistics = statistics
        self.counters = None if statistics is None else statistics.charge_point(settings.charge_point_id)
        """What happened to this charge point (with ``statistics`` only)."""
        CsmsAddress.for_charge_point(settings.csms_url, settings.charge_point_id)  # a bad URL fails here
        self._fallback_profile: int | None = None
        """The security profile to go back to if the first connection with a raised one fails."""
        self.boots = 0
        """How many times this charge point powered on."""
        self.connected = False
        self.registration = Registration()
        self.configuration = Configuration(())
        self._reboot_requested: ResetType | None = None
        self._rebooter = OnDemandTask(self._reboot_when_asked, name=f"{settings.charge_point_id} reboot")
        self._power_on_scope = trio.CancelScope()
        self._aligned_values = OnDemandTask(
            self._main_meter_aligned_values, name=f"{settings.charge_point_id} aligned meter values"
        )
        self._storage_retry = OnDemandTask(
            self._retry_storage, name=f"{settings.charge_point_id} storage retry"
        )
        self._condition_report = OnDemandTask(
            self._report_condition_changes, name=f"{settings.charge_point_id} condition report"
        )
        self._boot_wanted = trio.Event()
        self._link: Link | None = None
        self._keep_alive: KeepAlive | None = None
        self._reported_condition: Condition | None = None
        """What the Central System was last told of connector 0 in this power-on."""
        self._unreported: set[int] = set()
        """Connectors whose status report after a (re)connection was not delivered: reported at the next."""
        self._outbox = Outbox(
            state, self.clock, self._retry_policy, name=settings.charge_point_id, statistics=self.counters
        )
        self._outbox.on_answer = self._on_queued_answer
        self.connectors: dict[int, Connector] = {}
        self.operative = True
        """Whether the charge point as a whole (connector 0) is operative."""
        self.smart_charging = SmartCharging(
            state, self.configuration, self.clock, connectors=settings.connectors
        )
        """The charging profiles (spec 3.13), as the state kept them at this power-on."""
        self.reservations = ReservationBook(state, self.clock, name=settings.charge_point_id)
        """The reservations (spec 5.13), as the state kept them at this power-on."""
        self.journal = MessageJournal(lambda: self.clock.timestamp(), settings.journal_size)
        """The recent OCPP messages of this charge point, for diagnostics files."""
        self._firmware = FirmwareUpdates(
            installer=firmware,
            state=state,
            outbox=self._outbox,
            clock=lambda: self.clock,
            hold_connectors=self._hold_connectors,
            reboot=self.request_reboot,
            transfer_timeout=settings.transfer_timeout,
            name=settings.charge_point_id,
        )
        self._diagnostics = DiagnosticsUploads(
            journal=self.journal,
            outbox=self._outbox,
            clock=lambda: self.clock,
            facts=self._diagnostics_facts,
            transfer_timeout=settings.transfer_timeout,
            charge_point_id=settings.charge_point_id,
        )

    @property
    def outbox_counts(self) -> DeliveryCounts:
        """What became of the transaction-related messages taken from the queue since :meth:`run` began."""
        return self._outbox.counts

    @property
    def clock(self) -> WallClock:
        """The wall clock of this charge point."""
        if self._clock is None:
            self._clock = WallClock()
        return self._clock

    @property
    def firmware_status(self) -> FirmwareStatus:
        """The state of the firmware update in progress, as FirmwareStatusNotification reports it; Idle when
        none is (spec 4.5, actors.firmware)."""
        return self._firmware.status

    @property
    def diagnostics_status(self) -> DiagnosticsStatus:
        """Uploading while a diagnostics file is uploaded, else Idle (spec 4.4, actors.diagnostics)."""
        return self._diagnostics.status

    @property
    def firmware_version(self) -> str | None:
        """The firmware version BootNotification reports: the one the last firmware update installed, else
        the settings' ``firmware_version``."""
        return self._firmware.version or self.settings.firmware_version

    @property
    def status(self) -> ChargePointStatus:
        """The status of connector 0, the charge point as a whole (spec 4.9)."""
        return self.condition.status

    @property
    def condition(self) -> Condition:
        """What a StatusNotification of connector 0 says now: Available or Unavailable (ChangeAvailability),
        or Faulted with InternalError while the state refuses writes (actors.storage_health)."""
        return charge_point_condition(operative=self.operative, storage_fault=self.storage_health.fault)

    async def run(self) -> None:
        """Live until cancelled (a power cut), rebooting whenever a reset asks for it."""
        if self.counters is not None:
            self.counters.powered_on(trio.current_time())
        while True:
            self.boots += 1
            await self._power_on()

    async def _power_on(self) -> None:
        """One power-on: load the persistent state, then connect, register and serve until a reboot."""
        self._outbox.power_on()
        self._reported_condition = None
        kept = await self._state.load_power_on()
        await self._load_configuration(kept.configuration)
        self.registration = Registration()
        self._reboot_requested = None
        availability, interrupted, meters = kept.availability, kept.transactions, kept.meters
        used = {record["reservation_id"] for record in interrupted.values() if "reservation_id" in record}
        self.reservations = await ReservationBook.load(
            self._state, self.clock, kept.reservations, used=used, name=self.settings.charge_point_id
        )
        self.operative = availability.get(0, OPERATIVE) == OPERATIVE
        self.smart_charging = SmartCharging(
            self._state, self.configuration, self.clock, connectors=self.settings.connectors
        )
        await self.smart_charging.load(kept.charging_profiles)
        self.connectors = {
            number: Connector(
                number,
                hardware,
                configuration=self.configuration,
                outbox=self._outbox,
                state=self._state,
                clock=self.clock,
                name=self.settings.charge_point_id,
                availability=availability.get(number, OPERATIVE),
                interrupted=interrupted.get(number),
                last_meter=meters.get(number),
                charge_point_status=lambda: self.status,
                reservations=self.reservations,
                smart_charging=self.smart_charging,
            )
            for number, hardware in enumerate(self._hardware, start=1)
        }
        self.smart_charging.attach(self.connectors)
        self.reservations.bind(
            statuses=lambda: {number: connector.base_status for number, connector in self.connectors.items()},
            charge_point_status=lambda: self.status,
            on_change=self._wake_connectors,
        )
        on_demand = (self._rebooter, self._aligned_values, self._storage_retry, self._condition_report)
        async with trio.open_nursery() as nursery:
            self._power_on_scope = nursery.cancel_scope
            self._outbox.start(nursery, queued=kept.queue_depth)
            for connector in self.connectors.values():
                nursery.start_soon(connector.run, nursery)
            self.reservations.start(nursery)
            for task in on_demand:
                task.start(nursery)
            try:
                self._look_at_aligned_values()
                if self.storage_health.failing:
                    self._storage_retry.wake()
                self._firmware.power_on(nursery, kept.firmware)
                self._diagnostics.power_on(nursery)
                await self._stay_connected()
                nursery.cancel_scope.cancel()
            finally:
                for task in on_demand:
                    task.stop()
                self._outbox.stop()
                self._firmware.power_off()
                self._diagnostics.power_off()
        _log.info("%s: rebooting (%s reset)", self.settings.charge_point_id, self._reboot_requested)

    def request_reboot(self) -> None:
        """Reboot soon: running transactions stop with reason Reboot, then the charge point powers on again.

        Unlike a power cut (cancelling :meth:`run`), the charge point ends its transactions itself; their
        StopTransactions leave from the queue after the reboot if not before.
        """
        self._rebooter.wake()

    async def _reboot_when_asked(self) -> None:
        for connector in self.connectors.values():
            command = StopTransaction(Reason.REBOOT)
            await connector.send(command)
            await command.reply.wait()
        _log.info("%s: rebooting", self.settings.charge_point_id)
        self._power_on_scope.cancel()

    async def _load_configuration(self, saved: dict[str, str]) -> None:
        """The configuration as kept (``saved``); at the first boot, the settings' values are kept as the
        start."""
        definitions = configuration_keys(self.settings.connectors, self._measurands())
        if not saved:
            try:
                for key, value in self.settings.configuration.items():
                    await self._state.save_configuration(key, value)
            except StorageError as error:  # kept at a later boot
                _log.warning("%s: first configuration not kept: %s", self.settings.charge_point_id, error)
            saved = dict(self.settings.configuration)
        self.configuration = Configuration(definitions, saved)
        self._apply_limits()

    def _apply_limits(self) -> None:
        self._state.set_limits(
            queue_limit=self.configuration.integer("TransactionMessageQueueMaxLength"),
            cache_limit=self.configuration.integer("AuthorizationCacheMaxEntries"),
        )

    def _retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.configuration.integer("TransactionMessageAttempts"),
            retry_interval=self.configuration.integer("TransactionMessageRetryInterval"),
        )

    async def _on_queued_answer(self, answer: QueuedAnswer) -> None:
        """A queued message was answered: StartTransaction's answer goes to its connector; the IdTagInfo of
        StartTransaction.conf and StopTransaction.conf goes into the Authorization Cache (spec 3.5.1)."""
        request, response = answer.request, answer.response
        if isinstance(request, StartTransactionRequest):
            connector = self.connectors.get(request.connector_id)
            if connector is not None:
                await connector.answered(answer)
        if isinstance(request, StartTransactionRequest | StopTransactionRequest):
            await self._remember(request.id_tag, response.id_tag_info)

    async def _remember(self, id_tag: str | None, info: IdTagInfo | None) -> None:
        local_authorization = self._local_authorization()
        if id_tag is not None and info is not None and await local_authorization.remember(id_tag, info):
            await self._report_local_list_conflict()

    def _measurands(self) -> frozenset[Measurand]:
        """What every connector's meter can report: only these are accepted in measurand lists."""
        return frozenset.intersection(*(hardware.measurands for hardware in self._hardware))

    async def _stay_connected(self) -> None:
        """Connect, and reconnect with back-off, until a reset asks for a reboot."""
        failures = 0
        while self._reboot_requested is None:
            was_registered = await self._connection_lifetime()
            if self._reboot_requested is not None:
                break
            failures = 0 if was_registered else failures + 1
            await trio.sleep(self.settings.backoff.delay(failures, self._rng))

    async def _connection_lifetime(self) -> bool:
        """Connect and serve until the connection ends; whether it worked: the charge point was registered and
        the Central System answered a CALL on it (one closed at once must not reset the back-off)."""
        name = self.settings.charge_point_id
        async with trio.open_nursery() as nursery:
            try:
                address, headers = self._secured_address()
                connection = await open_connection(
                    address,
                    dialer=self._dialer,
                    connect_timeout=self.settings.connect_timeout,
                    max_message_size=self.settings.max_message_size,
                    extra_headers=headers,
                )
            except ConnectionFailed as failed:
                _log.info("%s: cannot connect: %s", name, failed)
                await self._fall_back_if_raised()
                return False
            self._fallback_profile = None  # the profile in use works
            link = Link(
                connection,
                RpcSession(),
                nursery.cancel_scope,
                answer_timeout=self.settings.answer_timeout,
                name=name,
                journal=self.journal.record,
                statistics=self._statistics,
            )
            self.connected = True
            self._link = link
            if self.counters is not None:
                self.counters.connected(trio.current_time())
            try:
                await self._serve(nursery, link, connection)
            finally:
                self.connected = False
                self._link = None
                self._outbox.detach()
                if self.counters is not None:
                    self.counters.disconnected(trio.current_time())
                await connection.aclose()
        _log.info("%s: connection ended: %s", name, link.lost_reason)
        return self.registration.accepted and link.answered

    async def _serve(self, nursery: trio.Nursery, link: Link, connection: Connection) -> None:
        """The life of a connection: its reader, the answering of the Central System's CALLs while some wait,
        the registration and status reports, and in this task the pings and Heartbeats, until it ends."""
        calls = CallBacklog(
            functools.partial(self._answer_incoming, link),
            limit=_WAITING_CALLS_LIMIT,
            name=f"{self.settings.charge_point_id} answering",
        )
        self._keep_alive = keep_alive = KeepAlive(
            link,
            connection,
            self.configuration,
            pong_timeout=self.settings.pong_timeout,
            heartbeat=functools.partial(self._send_heartbeat, link),
        )
        calls.start(nursery)
        try:
            nursery.start_soon(link.run_reader, calls.offer)
            nursery.start_soon(self._register_and_report, link, keep_alive)
            await keep_alive.run()
        finally:
            self._keep_alive = None
            calls.stop()

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> DataTransferResponse:
        """Send a DataTransfer to the Central System and return its answer (spec 4.3).

        Raises :class:`NotAccepted` unless connected and accepted, and the errors of :meth:`Link.call`.
        """
        link = self._link
        if link is None or not self.registration.accepted:
            raise NotAccepted(f"{self.settings.charge_point_id} is not connected and accepted")
        request = DataTransferRequest(vendor_id=vendor_id, message_id=message_id, data=data)
        response: DataTransferResponse = await link.call(request)
        return response

    # --- the main meter (connector 0) ----------------------------------------------------------------------

    async def _main_meter_aligned_values(self) -> None:
        """Clock-aligned MeterValues of connector 0, the grid connection (spec 3.16.2), when online; a task
        only while ClockAlignedDataInterval is set (a configuration change wakes it)."""
        while due := next_clock_aligned(self.clock.now(), self._aligned_interval()):
            delay = (due - self.clock.now()).total_seconds()
            if await self._aligned_values.sleep_until(trio.current_time() + delay):
                continue  # the configuration changed
            items = parse_measurands(self.configuration.value("MeterValuesAlignedData") or "")
            meter_value = build_meter_value(
                self.clock.now(), items, ReadingContext.SAMPLE_CLOCK, self._main_meter
            )
            if meter_value is not None and self._outbox.online:
                request = MeterValuesRequest(connector_id=0, meter_value=(meter_value,))
                with contextlib.suppress(Offline, CallFailed, CallTimeout, ConnectionLost):
                    await self._outbox.call(request)

    def _aligned_interval(self) -> int:
        return self.configuration.integer("ClockAlignedDataInterval")

    def _look_at_aligned_values(self) -> None:
        """Have the clock-aligned MeterValues look at their interval again, if they have something to do:
        an interval set, or a run under way (that the change may end)."""
        if self._aligned_interval() > 0 or self._aligned_values.running:
            self._aligned_values.wake()

    def _main_meter(self, item: MeasurandItem) -> Reading | None:
        """The grid connection's reading: sums of energy, power and current; the voltage of the supply."""
        readings = [hardware.read(item.measurand, item.phase) for hardware in self._hardware]
        values = [value for value in readings if value is not None]
        if not values or item.measurand is Measurand.SOC:
            return None
        if item.measurand is Measurand.VOLTAGE:
            return Reading(values[0])
        return Reading(sum(values))

    # --- registration and heartbeat -------------------------------------------------------------------

    async def _register_and_report(self, link: Link, keep_alive: KeepAlive) -> None:
        """Register if not yet accepted in this power-on, report the statuses, then let Heartbeats begin."""
        after_boot = not self.registration.accepted
        if after_boot:
            await self._register(link)
        self._outbox.attach(link)
        if self.counters is not None:
            self.counters.accepted()
        await self._report_statuses(link, after_boot=after_boot)
        self._firmware.accepted()  # a firmware installed before the reboot is reported now
        keep_alive.start_heartbeats()

    async def _register(self, link: Link) -> None:
        """BootNotification until Accepted (spec 4.2)."""
        failures = 0
        while True:
            asked_at = trio.current_time()
            try:
                response: BootNotificationResponse = await link.call(self._boot_notification())
            except (CallFailed, CallTimeout) as problem:
                _log.info("%s: BootNotification failed: %s", self.settings.charge_point_id, problem)
                await trio.sleep(self.settings.backoff.delay(failures, self._rng))
                failures += 1
                continue
            await self._registered(response, asked_at)
            if self.registration.accepted:
                return
            delay = boot_retry_delay(response.interval, failures, self.settings.backoff, self._rng)
            with trio.move_on_after(delay):
                await self._boot_wanted.wait()  # TriggerMessage BootNotification: at once
            self._boot_wanted = trio.Event()
            failures += 1

    async def _registered(self, response: BootNotificationResponse, asked_at: float) -> None:
        """Take in a BootNotification answer (to a CALL sent at ``asked_at``): the registration, and if
        Accepted the time and interval."""
        self.registration.status = response.status
        if response.status is RegistrationStatus.ACCEPTED:
            self._synchronise(response.current_time, asked_at)
            interval = str(response.interval)
            # the interval in force already (at every boot, as a rule) is not written and announced again
            if response.interval > 0 and interval != self.configuration.value("HeartbeatInterval"):
                await self._set_configuration("HeartbeatInterval", interval, must_keep=False)

    def _boot_notification(self) -> BootNotificationRequest:
        settings = self.settings
        return BootNotificationRequest(
            charge_point_vendor=settings.vendor,
            charge_point_model=settings.model,
            charge_point_serial_number=settings.serial_number,
            firmware_version=self.firmware_version,
        )

    async def _report_statuses(self, link: Link, *, after_boot: bool) -> None:
        """StatusNotification for connector 0 and every connector after a boot; after a reconnect only for
        the connectors whose status changed meanwhile (spec 4.9)."""
        if after_boot or self.condition != self._reported_condition:
            await self._report_charge_point_status(link)
        for number, connector in self.connectors.items():
            report = await connector.resynchronise(after_boot or number in self._unreported)
            if report is not None:
                self._unreported.add(number)
                if await self._call_ignoring_failure(link, report) is not None:
                    self._unreported.discard(number)

    async def _send_heartbeat(self, link: Link) -> None:
        """One Heartbeat; its answer sets the clock."""
        asked_at = trio.current_time()
        response = await self._call_ignoring_failure(link, HeartbeatRequest())
        if isinstance(response, HeartbeatResponse):
            self._synchronise(response.current_time, asked_at)

    def _synchronise(self, current_time: datetime, asked_at: float) -> None:
        """Follow the Central System's ``currentTime``, which it read while answering our CALL sent at
        ``asked_at`` (trio time): a late answer does not set the clock back (actors.clock)."""
        self.clock.synchronise(current_time, round_trip=trio.current_time() - asked_at)

    async def _call_ignoring_failure(self, link: Link, request: Request) -> Any:
        try:
            return await link.call(request)
        except (CallFailed, CallTimeout) as problem:
            _log.info("%s: %s failed: %s", self.settings.charge_point_id, request.action, problem)
            return None

    # --- the Central System's calls -------------------------------------------------------------------

    async def _answer_incoming(self, link: Link, event: IncomingCall) -> None:
        """Answer one CALL of the Central System (none while Rejected); an invalid one with its CALLERROR."""
        if not self.registration.answers_calls():
            _log.info("%s: Rejected, not answering %s", self.settings.charge_point_id, event.unique_id)
        elif isinstance(event, InvalidCall):
            await link.reject(event)
        else:
            await self._answer_call(link, event)

    async def _answer_call(self, link: Link, event: CallReceived) -> None:
        # the Central System may name a transaction as soon as it has answered its StartTransaction
        await self._outbox.answers_applied()
        answer = await self._decide(event.request)
        if answer.response is not None:
            await link.answer(event.unique_id, answer.response)
        else:
            code, description = answer.error or (ErrorCode.INTERNAL_ERROR, "no answer")
            await link.answer_error(event.unique_id, code, description)
        if answer.then is not None:
            await answer.then(link)

    async def _decide(self, request: Request) -> _Answer:
        """What to answer one CALL of the Central System."""
        if isinstance(request, RemoteStartTransactionRequest) and not self.registration.allows(
            request.action
        ):
            return _Answer(RemoteStartTransactionResponse(status=RemoteStartStopStatus.REJECTED))
        if isinstance(request, RemoteStopTransactionRequest) and not self.registration.allows(request.action):
            return _Answer(RemoteStopTransactionResponse(status=RemoteStartStopStatus.REJECTED))
        if isinstance(request, GetConfigurationRequest):
            return self._get_configuration(request)
        if isinstance(request, ChangeConfigurationRequest):
            return await self._change_configuration(request)
        if isinstance(request, ClearCacheRequest):
            return _Answer(ClearCacheResponse(status=await self._local_authorization().clear_cache()))
        if isinstance(request, GetLocalListVersionRequest):
            version = await self._local_authorization().list_version()
            return _Answer(GetLocalListVersionResponse(list_version=version))
        if isinstance(request, SendLocalListRequest):
            status = await self._local_authorization().send_local_list(request)
            return _Answer(SendLocalListResponse(status=status))
        if isinstance(request, DataTransferRequest):
            return await self._data_transfer_answer(request)
        if isinstance(request, UpdateFirmwareRequest):
            self._firmware.update(request)  # spec 5.19: answered at once, carried out by actors.firmware
            return _Answer(UpdateFirmwareResponse())
        if isinstance(request, GetDiagnosticsRequest):
            return _Answer(GetDiagnosticsResponse(file_name=self._diagnostics.request(request)))  # 5.9
        if isinstance(request, ResetRequest):
            self._reboot_requested = request.type
            return _Answer(ResetResponse(status=ResetStatus.ACCEPTED), then=self._reboot)
        if isinstance(request, RemoteStartTransactionRequest):
            return await self._remote_start(request)
        if isinstance(request, RemoteStopTransactionRequest):
            return await self._remote_stop(request)
        if isinstance(request, UnlockConnectorRequest):
            return await self._unlock(request)
        if isinstance(request, ChangeAvailabilityRequest):
            return await self._change_availability(request)
        if isinstance(request, TriggerMessageRequest):
            return self._trigger(request)
        if isinstance(request, ReserveNowRequest):
            return await self._reserve_now(request)
        if isinstance(request, CancelReservationRequest):
            try:
                cancelled = await self.reservations.cancel(request.reservation_id)  # spec 5.1
            except StorageError as error:
                return _not_kept(request, error)
            return _Answer(CancelReservationResponse(status=cancelled), then=self._announce_reservations)
        if isinstance(request, SetChargingProfileRequest):
            installed = await self.smart_charging.set_charging_profile(request)  # spec 5.16
            return _Answer(SetChargingProfileResponse(status=installed))
        if isinstance(request, ClearChargingProfileRequest):
            try:
                cleared = await self.smart_charging.clear_charging_profile(request)  # spec 5.5
            except StorageError as error:
                return _not_kept(request, error)
            return _Answer(ClearChargingProfileResponse(status=cleared))
        if isinstance(request, GetCompositeScheduleRequest):
            return _Answer(self.smart_charging.composite_schedule(request))  # spec 5.7
        return _Answer(error=(ErrorCode.NOT_IMPLEMENTED, f"{request.action} is not implemented"))

    def _trigger(self, request: TriggerMessageRequest) -> _Answer:
        """TriggerMessage (spec 5.17): answered first, then the requested message is sent (also while
        Pending, which the Central System may use to have the charge point register now)."""
        status = trigger_status(request.requested_message, request.connector_id, self.settings.connectors)
        send = functools.partial(self._send_triggered, request.requested_message, request.connector_id)
        accepted = status is TriggerMessageStatus.ACCEPTED
        return _Answer(TriggerMessageResponse(status=status), then=send if accepted else None)

    async def _send_triggered(self, requested: MessageTrigger, connector_id: int | None, link: Link) -> None:
        match requested:
            case MessageTrigger.BOOT_NOTIFICATION if not self.registration.accepted:
                self._boot_wanted.set()  # the registration sends it at once
            case MessageTrigger.BOOT_NOTIFICATION:
                asked_at = trio.current_time()
                response = await self._call_ignoring_failure(link, self._boot_notification())
                if isinstance(response, BootNotificationResponse):
                    await self._registered(response, asked_at)
            case MessageTrigger.HEARTBEAT:
                await self._send_heartbeat(link)
            case MessageTrigger.FIRMWARE_STATUS_NOTIFICATION:
                firmware = FirmwareStatusNotificationRequest(status=self.firmware_status)
                await self._call_ignoring_failure(link, firmware)
            case MessageTrigger.DIAGNOSTICS_STATUS_NOTIFICATION:
                diagnostics = DiagnosticsStatusNotificationRequest(status=self.diagnostics_status)
                await self._call_ignoring_failure(link, diagnostics)
            case _:
                connectors = self.settings.connectors
                for number in triggered_connectors(requested, connector_id, connectors):
                    await self._send_triggered_for_connector(requested, number, link)

    async def _send_triggered_for_connector(self, requested: MessageTrigger, number: int, link: Link) -> None:
        if requested is MessageTrigger.STATUS_NOTIFICATION and number == 0:
            await self._report_charge_point_status(link)
            return
        if requested is MessageTrigger.STATUS_NOTIFICATION:
            # the current status, whether it changed or not
            request: Request | None = await self.connectors[number].resynchronise(after_boot=True)
        elif number == 0:
            items = parse_measurands(self.configuration.value("MeterValuesSampledData") or "")
            value = build_meter_value(self.clock.now(), items, ReadingContext.TRIGGER, self._main_meter)
            request = None if value is None else MeterValuesRequest(connector_id=0, meter_value=(value,))
        else:
            trigger = TriggerMeterValues()
            await self.connectors[number].send(trigger)
            request = await trigger.reply.wait()
        if request is not None:
            await self._call_ignoring_failure(link, request)

    def _local_authorization(self) -> LocalAuthorization:
        """The Local Authorization List and Authorization Cache, under the present configuration."""
        return LocalAuthorization(self._state, self.configuration, self.clock)

    async def _remote_start(self, request: RemoteStartTransactionRequest) -> _Answer:
        """RemoteStartTransaction (spec 5.11): on the given connector, or a free one if none is given."""
        rejected = _Answer(RemoteStartTransactionResponse(status=RemoteStartStopStatus.REJECTED))
        if request.connector_id is None:
            connector = self._free_connector(request.id_tag)
        else:
            connector = self.connectors.get(request.connector_id)  # 0 or unknown: None
        if connector is None or self.status is not ChargePointStatus.AVAILABLE:  # Faulted: storage fails
            return rejected
        profile = request.charging_profile  # 5.11: a TxProfile for the transaction, if acceptable (TC_060)
        if profile is not None and not self.smart_charging.remote_start_allows(profile):
            return rejected
        command = RemoteStart(request.id_tag, profile)
        await connector.send(command)
        accepted = await command.reply.wait()
        return _Answer(
            RemoteStartTransactionResponse(
                status=RemoteStartStopStatus.ACCEPTED if accepted else RemoteStartStopStatus.REJECTED
            )
        )

    async def _remote_stop(self, request: RemoteStopTransactionRequest) -> _Answer:
        """RemoteStopTransaction (spec 5.12): reason Remote; an unknown transaction is Rejected. Each
        connector with a transaction looks at the id in its own turn."""
        for connector in self.connectors.values():
            if connector.transaction is not None:
                command = StopTransaction(Reason.REMOTE, request.transaction_id)
                await connector.send(command)
                if await command.reply.wait():
                    return _Answer(RemoteStopTransactionResponse(status=RemoteStartStopStatus.ACCEPTED))
        return _Answer(RemoteStopTransactionResponse(status=RemoteStartStopStatus.REJECTED))

    async def _unlock(self, request: UnlockConnectorRequest) -> _Answer:
        """UnlockConnector (spec 5.18): an unknown connector is NotSupported."""
        connector = self.connectors.get(request.connector_id)
        if connector is None:
            return _Answer(UnlockConnectorResponse(status=UnlockStatus.NOT_SUPPORTED))
        command = Unlock()
        await connector.send(command)
        return _Answer(UnlockConnectorResponse(status=await command.reply.wait()))

    async def _change_availability(self, request: ChangeAvailabilityRequest) -> _Answer:
        """ChangeAvailability (spec 5.2): connector 0 is the charge point and all its connectors."""
        operative = request.type is AvailabilityType.OPERATIVE
        then = None
        if request.connector_id == 0:
            targets = list(self.connectors.values())
            if self.operative != operative:
                then = self._report_charge_point_status
            try:
                await self._state.save_availability(0, OPERATIVE if operative else INOPERATIVE)
            except StorageError as error:
                _log.warning("%s: availability not kept: %s", self.settings.charge_point_id, error)
                return _Answer(ChangeAvailabilityResponse(status=AvailabilityStatus.REJECTED))
            self.operative = operative
            if not operative:  # spec 5.13: Unavailable ends reservations (the connectors' change shows it)
                await self.reservations.end_at(0, announce=False)
        elif request.connector_id in self.connectors:
            targets = [self.connectors[request.connector_id]]
        else:
            return _Answer(ChangeAvailabilityResponse(status=AvailabilityStatus.REJECTED))
        statuses = set()
        for connector in targets:
            command = ChangeAvailability(operative)
            await connector.send(command)
            statuses.add(await command.reply.wait())
        # Rejected if a connector could not keep it (the others changed), else Scheduled if one waits.
        status = min(statuses, key=_AVAILABILITY_ORDER.index, default=AvailabilityStatus.ACCEPTED)
        if not operative and request.connector_id != 0 and status is not AvailabilityStatus.REJECTED:
            await self.reservations.end_at(request.connector_id, announce=False)  # 5.13, as for connector 0
        return _Answer(ChangeAvailabilityResponse(status=status), then=then)

    # --- reservations (actors.reservation_book) -----------------------------------------------------------

    async def _reserve_now(self, request: ReserveNowRequest) -> _Answer:
        """ReserveNow (spec 5.13); the connectors show the reservation once the answer is sent."""
        status = await self.reservations.reserve(
            request,
            enabled=self.configuration.boolean("ReservationEnabled"),
            connector_zero_supported=self.configuration.boolean("ReserveConnectorZeroSupported"),
        )
        return _Answer(ReserveNowResponse(status=status), then=self._announce_reservations)

    async def _announce_reservations(self, link: Link) -> None:
        self.reservations.announce()

    def _wake_connectors(self) -> None:
        """The reservations changed: every connector looks at its status again."""
        for connector in self.connectors.values():
            connector.reservations_changed()

    def _free_connector(self, id_tag: str) -> Connector | None:
        """The connector for a remote start without connectorId (5.11): one whose reservation the idTag may
        use, else an Available one (5.13)."""
        idle = [c for c in self.connectors.values() if c.status in _IDLE]
        verdicts = [self.reservations.verdict(c.connector_id, id_tag, parent_known=False) for c in idle]
        reserved = [c for c, verdict in zip(idle, verdicts, strict=True) if verdict.reservation is not None]
        available = [c for c in idle if c.status is ChargePointStatus.AVAILABLE]
        return next(iter(reserved + available), None)

    # --- firmware and diagnostics (actors.firmware, actors.diagnostics) ----------------------------------

    async def _hold_connectors(self, held: bool) -> None:
        """Hold every connector for a firmware installation, and return once no transaction runs and the
        queued messages are delivered (waiting at most the answer timeout for those); or release them (5.19).
        """
        commands = [Hold(held) for _ in self.connectors]
        for connector, command in zip(self.connectors.values(), commands, strict=True):
            await connector.send(command)
        for command in commands:
            await command.reply.wait()
        if held:
            with trio.move_on_after(self.settings.answer_timeout):
                await self._outbox.drained()

    def _diagnostics_facts(self) -> list[tuple[str, str]]:
        """The header of a diagnostics file: what the charge point is and how it is doing."""
        settings = self.settings
        facts = [
            ("chargePointId", settings.charge_point_id),
            ("vendor", settings.vendor),
            ("model", settings.model),
            ("serialNumber", settings.serial_number or "-"),
            ("firmwareVersion", self.firmware_version or "-"),
            ("boots", str(self.boots)),
            ("connected", "yes" if self.connected else "no"),
            ("registration", str(self.registration.status or "-")),
            ("connector 0", str(self.status)),
        ]
        for number, connector in self.connectors.items():
            transaction = connector.transaction
            running = f", transaction {transaction.transaction_id or 'not yet known'}" if transaction else ""
            facts.append((f"connector {number}", f"{connector.status}{running}"))
        counts = self.outbox_counts
        facts.append(("transaction messages", f"{counts.delivered} delivered, {counts.given_up} given up"))
        return facts

    async def _report_charge_point_status(self, link: Link) -> None:
        """StatusNotification for connector 0, the charge point as a whole (:attr:`condition`)."""
        condition = self.condition
        request = StatusNotificationRequest(
            connector_id=0,
            error_code=condition.error_code,
            info=condition.info,
            status=condition.status,
            timestamp=self.clock.now(),
        )
        try:
            await link.call(request)
        except CallTimeout as problem:  # perhaps not delivered: reported again at the next connection
            _log.info("%s: StatusNotification failed: %s", self.settings.charge_point_id, problem)
            return
        except CallFailed as problem:  # delivered; the Central System failed to process it
            _log.info("%s: StatusNotification failed: %s", self.settings.charge_point_id, problem)
        self._reported_condition = condition

    # --- storage failures (actors.storage_health) ---------------------------------------------------------

    def _condition_changed(self) -> None:
        self._condition_report.wake()
        if self.storage_health.failing:
            self._storage_retry.wake()

    async def _report_condition_changes(self) -> None:
        """Tell the Central System when the storage starts or stops failing, if online (else at the next
        connection, :meth:`_report_statuses`)."""
        link = self._link
        if link is not None and self._outbox.online and self.condition != self._reported_condition:
            await self._report_charge_point_status(link)

    async def _retry_storage(self) -> None:
        """While the storage fails, write every STORAGE_RETRY_INTERVAL seconds what the outbox holds, or a
        write that keeps nothing: the first that succeeds ends the failure."""
        while self.storage_health.failing:
            await trio.sleep(STORAGE_RETRY_INTERVAL)
            with contextlib.suppress(StorageError):
                async with self._outbox.in_order:
                    if self._outbox.held:
                        await self._outbox.flush()
                    else:
                        await self._state.check_writable()
                self.storage_health.succeeded()

    async def _report_local_list_conflict(self) -> None:
        """StatusNotification connectorId 0, errorCode LocalListConflict (spec 3.5.2, 7.6), if online."""
        request = StatusNotificationRequest(
            connector_id=0,
            error_code=ChargePointErrorCode.LOCAL_LIST_CONFLICT,
            status=self.status,
            timestamp=self.clock.now(),
        )
        with contextlib.suppress(Offline, CallFailed, CallTimeout, ConnectionLost):
            await self._outbox.call(request)

    def _get_configuration(self, request: GetConfigurationRequest) -> _Answer:
        maximum = self.configuration.integer("GetConfigurationMaxKeys")
        if request.key is not None and len(request.key) > maximum:
            return _Answer(
                error=(
                    ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
                    f"at most {maximum} keys per request (GetConfigurationMaxKeys)",
                )
            )
        known, unknown = self.configuration.get(request.key)
        return _Answer(
            GetConfigurationResponse(configuration_key=tuple(known), unknown_key=tuple(unknown) or None)
        )

    def _secured_address(self) -> tuple[CsmsAddress, list[tuple[bytes, bytes]]]:
        """Where and how to connect with the security profile in use; raises :class:`ConnectionFailed` if
        its TLS files cannot be used."""
        profile = self.configuration.integer("SecurityProfile")
        charge_point_id = self.settings.charge_point_id
        url = url_for_profile(self.settings.csms_url, profile)
        context = None
        if urlsplit(url).scheme == "wss":
            try:
                context = tls_context(self.settings.tls, with_client_certificate=profile == HIGHEST_PROFILE)
            except (OSError, ssl.SSLError) as error:
                raise ConnectionFailed(f"TLS files of security profile {profile} unusable: {error}") from None
        key = self.configuration.value("AuthorizationKey")
        headers = [basic_authentication(charge_point_id, key)] if profile in (1, 2) and key else []
        return CsmsAddress.for_charge_point(url, charge_point_id, ssl_context=context), headers

    async def _fall_back_if_raised(self) -> None:
        """The first connection with a raised security profile failed: go back to the previous profile."""
        previous = self._fallback_profile
        if previous is None:
            return
        self._fallback_profile = None
        _log.warning(
            "%s: no connection with security profile %s; back to %d",
            self.settings.charge_point_id,
            self.configuration.value("SecurityProfile"),
            previous,
        )
        await self._set_configuration("SecurityProfile", str(previous), must_keep=False)

    async def _change_security_profile(self, value: str) -> _Answer:
        """SecurityProfile may only go up, to a profile the charge point can use; it then reconnects."""
        status = self.configuration.check_change("SecurityProfile", value)
        current = self.configuration.integer("SecurityProfile")
        if status is ConfigurationStatus.ACCEPTED:
            status = profile_change(
                current,
                int(value),
                has_authorization_key=bool(self.configuration.value("AuthorizationKey")),
                has_client_certificate=self.settings.tls.client_certificate is not None,
            )
        if status is not ConfigurationStatus.ACCEPTED or int(value) == current:
            return _Answer(ChangeConfigurationResponse(status=status))
        try:
            await self._set_configuration("SecurityProfile", value)
        except StorageError:
            return _Answer(ChangeConfigurationResponse(status=ConfigurationStatus.REJECTED))
        self._fallback_profile = current
        return _Answer(ChangeConfigurationResponse(status=status), then=self._reconnect_securely)

    async def _reconnect_securely(self, link: Link) -> None:
        await link.close("security profile raised")

    async def _change_configuration(self, request: ChangeConfigurationRequest) -> _Answer:
        if request.key.lower() == "securityprofile":
            return await self._change_security_profile(request.value)
        status = self.configuration.check_change(request.key, request.value)
        if status in (ConfigurationStatus.ACCEPTED, ConfigurationStatus.REBOOT_REQUIRED):
            try:
                await self._set_configuration(request.key, request.value)
            except StorageError:  # 7.22 Rejected: "supported, but setting could not be changed"
                status = ConfigurationStatus.REJECTED
        return _Answer(ChangeConfigurationResponse(status=status))

    async def _set_configuration(self, key: str, value: str, *, must_keep: bool = True) -> None:
        """Keep a new value, then apply it: timers that depend on configuration look again.

        If the state refuses it, raises :class:`storage.StorageError` (nothing changes); or, unless
        ``must_keep``, applies it for this power-on only."""
        definition = self.configuration.definition(key)
        assert definition is not None
        try:
            await self._state.save_configuration(definition.name, value)
        except StorageError as error:
            _log.warning("%s: %s not kept: %s", self.settings.charge_point_id, key, error)  # no value: secret
            if must_keep:
                raise
        self.configuration.set(key, value)
        self._apply_limits()
        if self._keep_alive is not None:
            self._keep_alive.configuration_changed()
        self._look_at_aligned_values()
        for connector in self.connectors.values():
            await connector.send(ConfigurationChanged())

    async def _data_transfer_answer(self, request: DataTransferRequest) -> _Answer:
        handler = self._data_transfer.get(request.vendor_id)
        if handler is None:
            return _Answer(DataTransferResponse(status=DataTransferStatus.UNKNOWN_VENDOR_ID))
        return _Answer(await handler(request))

    async def _reboot(self, link: Link) -> None:
        """End this power-on once the Reset answer is sent (spec 5.14).

        Running transactions stop with reason SoftReset or HardReset; a soft reset waits for their
        StopTransaction answers (at most the answer timeout) and closes the connection politely.
        """
        soft = self._reboot_requested is ResetType.SOFT
        for connector in self.connectors.values():
            command = StopTransaction(Reason.SOFT_RESET if soft else Reason.HARD_RESET)
            await connector.send(command)
            await command.reply.wait()
        if soft:
            with trio.move_on_after(self.settings.answer_timeout):
                await self._outbox.drained()
            await link.close("soft reset")
        else:
            link.drop("hard reset")


def _not_kept(request: Request, error: StorageError) -> _Answer:
    """The answer to a request whose change the state refused, where no status of its answer says so: a
    CALLERROR InternalError, "the receiver failed while handling the call" (OCPP-J)."""
    return _Answer(error=(ErrorCode.INTERNAL_ERROR, f"{request.action} not kept: storage failing: {error}"))
