"""The Smart Charging profile of one charge point (spec 3.13, 5.5, 5.7, 5.16): its charging profiles, kept in
its state, the answers to the Central System, and the power each connector offers.

:class:`SmartCharging` is the thin stateful part: the decisions are in :mod:`.profiles` (what a request
does to the installed profiles), :mod:`.composite` (the Composite Schedule) and :mod:`.sharing` (the
ChargePointMaxProfile among connectors). It lives for one power-on: :meth:`SmartCharging.load` reads the
profiles kept before, and every change is durable before it is answered or acted upon.

The connectors ask it for their offered power (:meth:`SmartCharging.offer`, a plain call that reads the
other connectors' transactions, so the sharing is never out of date) and tell it when a transaction
starts or ends. When something changes that may change any connector's offer (a profile, a transaction),
every connector is told to look again; a schedule's period boundary is a deadline each one keeps itself.

Where the specification leaves room, this charge point decides so:

- TxProfiles do not survive a reboot: the power-on stops every transaction that was running (3.13.1: "after
  the transaction is stopped, the profile SHOULD be deleted"). ChargePointMaxProfiles and
  TxDefaultProfiles do.
- A GetCompositeSchedule longer than 31 days is answered for the first 31 days; a duration of 0 or less, or
  an unknown connector, is Rejected.
- If the storage refuses a change (``actors.storage_health``), SetChargingProfile is Rejected and
  ClearChargingProfile raises :class:`storage.StorageError` (the charge point answers InternalError), both
  changing nothing; TxProfiles come and go with their transactions anyway, as none survives a power-on.
"""

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import attrs
import trio

from actors.clock import WallClock
from actors.configuration import Configuration
from actors.hardware import ConnectorHardware
from actors.ocpp import (
    ChargingProfile,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ChargingSchedule,
    ClearChargingProfileRequest,
    ClearChargingProfileStatus,
    GetCompositeScheduleRequest,
    GetCompositeScheduleResponse,
    GetCompositeScheduleStatus,
    SetChargingProfileRequest,
    decode,
    encode,
)
from actors.smart_charging.composite import (
    DEFAULT_PHASES,
    Outlet,
    charge_point_limits,
    connector_limits,
    convert,
    default_unit,
    grid_limits,
    own_limits,
    reported_periods,
    with_local_limit,
)
from actors.smart_charging.profiles import (
    UNIT_NAMES,
    Change,
    InstalledProfile,
    ProfileLimits,
    RunningTransaction,
    clear_charging_profiles,
    end_transaction,
    install_for_transaction,
    remote_start_profile_status,
    set_charging_profile,
)
from actors.smart_charging.sharing import Claim, share
from storage import ChargePointState, JsonObject, StorageError

__all__ = ["ChargingConnector", "Offer", "SmartCharging"]

_log = logging.getLogger(__name__)

MAX_COMPOSITE_DURATION = 31 * 86400
"""The longest Composite Schedule reported, in seconds."""
_HORIZON = timedelta(days=1)
"""How far ahead the offered power is worked out; it is worked out again at the latest then."""
W = ChargingRateUnitType.W


class RunningTransactionLike(Protocol):
    """What smart charging reads of a connector's running transaction."""

    @property
    def local_id(self) -> int: ...

    @property
    def transaction_id(self) -> int | None: ...

    @property
    def started_at(self) -> float:
        """When it started, in trio time."""
        ...


class ChargingConnector(Protocol):
    """What smart charging reads of a connector, and how it tells one to look at its offer again."""

    @property
    def connector_id(self) -> int: ...

    @property
    def hardware(self) -> ConnectorHardware: ...

    @property
    def transaction(self) -> RunningTransactionLike | None: ...

    def limits_changed(self) -> None:
        """Something changed that may change the offered power: ask :meth:`SmartCharging.offer` again."""
        ...


@attrs.frozen
class Offer:
    """The power a connector offers now, and the trio time at which to ask again at the latest."""

    limit_w: float
    until: float


class SmartCharging:
    """The charging profiles of one charge point and what follows from them."""

    __slots__ = (
        "_clock",
        "_configuration",
        "_connectors",
        "_installed",
        "_number_of_connectors",
        "_offers",
        "_state",
        "_valid_until",
    )

    def __init__(
        self, state: ChargePointState, configuration: Configuration, clock: WallClock, *, connectors: int
    ) -> None:
        self._state = state
        self._configuration = configuration
        self._clock = clock
        self._number_of_connectors = connectors
        self._installed: tuple[InstalledProfile, ...] = ()
        self._connectors: dict[int, ChargingConnector] = {}
        self._offers: dict[int, float] = {}
        self._valid_until: datetime | None = None
        """Until when :attr:`_offers` hold; ``None``: work them out again."""

    @property
    def installed(self) -> tuple[InstalledProfile, ...]:
        """The charging profiles installed."""
        return self._installed

    def attach(self, connectors: Mapping[int, ChargingConnector]) -> None:
        """The connectors whose power this charge point's profiles limit, before they run (each looks at its
        limits as it starts)."""
        self._connectors = dict(connectors)
        self._valid_until = None

    async def load(self, bodies: Mapping[int, JsonObject]) -> None:
        """Take the profiles kept before this power-on (``bodies``, as the state's ``load_charging_profiles``
        returns them); the TxProfiles are forgotten, as their transactions ended with the power."""
        kept = [_from_body(body) for _, body in sorted(bodies.items())]
        ended = [item.id for item in kept if item.purpose is ChargingProfilePurposeType.TX_PROFILE]
        if ended:
            try:
                await self._state.delete_charging_profiles(ended)
            except StorageError as error:  # forgotten at a later power-on
                _log.warning("TxProfiles %s not forgotten by the state: %s", ended, error)
        self._installed = tuple(item for item in kept if item.id not in ended)
        self._changed()

    def limits(self) -> ProfileLimits:
        """What the configuration (9.4) allows."""
        configuration = self._configuration
        units = configuration.items("ChargingScheduleAllowedChargingRateUnit")
        return ProfileLimits(
            max_stack_level=configuration.integer("ChargeProfileMaxStackLevel"),
            max_periods=configuration.integer("ChargingScheduleMaxPeriods"),
            max_installed=configuration.integer("MaxChargingProfilesInstalled"),
            units=frozenset(UNIT_NAMES[name] for name in units if name in UNIT_NAMES),
        )

    # --- the Central System's requests ------------------------------------------------------------------

    async def set_charging_profile(self, request: SetChargingProfileRequest) -> ChargingProfileStatus:
        """SetChargingProfile (5.16): kept before it is Accepted."""
        change = set_charging_profile(
            self._installed,
            request.connector_id,
            request.cs_charging_profiles,
            connectors=self._number_of_connectors,
            running=self._running(request.connector_id),
            limits=self.limits(),
            now=self._clock.now(),
        )
        if not change.accepted:
            return ChargingProfileStatus.REJECTED
        try:
            await self._keep(change)
        except StorageError as error:
            _log.warning("charging profile not kept: %s", error)
            return ChargingProfileStatus.REJECTED
        return ChargingProfileStatus.ACCEPTED

    async def clear_charging_profile(
        self, request: ClearChargingProfileRequest
    ) -> ClearChargingProfileStatus:
        """ClearChargingProfile (5.5): forgotten before it is Accepted; raises :class:`storage.StorageError`
        if the state cannot forget them (nothing changes)."""
        status, change = clear_charging_profiles(self._installed, request)
        if change.removed:
            await self._keep(change)
        return status

    def remote_start_allows(self, profile: ChargingProfile) -> bool:
        """Whether a RemoteStartTransaction may carry ``profile`` (5.11, 5.16.2; else it is Rejected)."""
        return remote_start_profile_status(profile, self.limits()) is ChargingProfileStatus.ACCEPTED

    def composite_schedule(self, request: GetCompositeScheduleRequest) -> GetCompositeScheduleResponse:
        """GetCompositeSchedule (5.7) from now, in whole seconds from the second it arrived in."""
        if request.connector_id > self._number_of_connectors or request.duration <= 0:
            return GetCompositeScheduleResponse(status=GetCompositeScheduleStatus.REJECTED)
        now = self._clock.now()
        origin = now.replace(microsecond=0)
        duration = min(request.duration, MAX_COMPOSITE_DURATION)
        end = origin + timedelta(seconds=duration)
        unit = request.charging_rate_unit or default_unit(self._installed)
        outlets = self._outlets(now)
        if request.connector_id == 0:
            steps = grid_limits(self._installed, list(outlets.values()), _grid(outlets), now, end, unit)
        else:
            outlet = outlets[request.connector_id]
            steps = with_local_limit(connector_limits(self._installed, outlet, now, end, unit), outlet, unit)
        schedule = ChargingSchedule(
            charging_rate_unit=unit,
            charging_schedule_period=reported_periods(steps, origin, duration),
            duration=duration,
            start_schedule=origin,
        )
        return GetCompositeScheduleResponse(
            status=GetCompositeScheduleStatus.ACCEPTED,
            connector_id=request.connector_id,
            schedule_start=origin,
            charging_schedule=schedule,
        )

    # --- the connectors ---------------------------------------------------------------------------------

    async def transaction_started(
        self, connector_id: int, local_id: int, profile: ChargingProfile | None
    ) -> None:
        """A transaction started on ``connector_id``, with the TxProfile of its RemoteStartTransaction if
        any (5.16.2: "the Charge Point SHALL apply the given profile to the newly started transaction")."""
        if profile is not None:
            change = install_for_transaction(
                self._installed, connector_id, profile, local_id, limits=self.limits(), now=self._clock.now()
            )
            if change.accepted:
                await self._keep(change, durable=False)
            else:
                _log.warning("connector %d: no room for the TxProfile of the remote start", connector_id)
        self._changed()

    async def transaction_ended(self, local_id: int) -> None:
        """A transaction ended: its TxProfiles go (3.13.1, 7.10)."""
        change = end_transaction(self._installed, local_id)
        if change.removed:
            await self._keep(change, durable=False)
        self._changed()

    def offer(self, connector_id: int) -> Offer:
        """The power ``connector_id`` offers now (W), and until when at the latest."""
        hardware = self._connectors[connector_id].hardware
        if not self._installed:
            return Offer(hardware.max_power_w, math.inf)
        now = self._clock.now()
        if self._valid_until is None or now >= self._valid_until:
            self._work_out_offers(now)
        assert self._valid_until is not None
        until = trio.current_time() + (self._valid_until - now).total_seconds()
        return Offer(self._offers[connector_id], until)

    def _work_out_offers(self, now: datetime) -> None:
        end = now + _HORIZON
        outlets = self._outlets(now)
        maximum = charge_point_limits(self._installed, now, end)
        claims = []
        next_change = maximum[0].end
        for number, outlet in outlets.items():
            own = own_limits(self._installed, outlet, now, end)
            next_change = min(next_change, own[0].end)
            span = own[0].value
            cap, minimum = outlet.max_power_w, 0.0
            if span is not None:
                phases = span.number_phases or DEFAULT_PHASES
                cap = min(cap, convert(span.limit, span.unit, W, phases, outlet))
                if span.min_charging_rate is not None:
                    minimum = convert(span.min_charging_rate, span.unit, W, phases, outlet)
            claims.append(Claim(number, cap, minimum, outlet.started))
        span = maximum[0].value
        maximum_w = None
        if span is not None:
            maximum_w = convert(
                span.limit, span.unit, W, span.number_phases or DEFAULT_PHASES, _grid(outlets)
            )
        self._offers = share(maximum_w, claims)
        self._valid_until = next_change

    # --- state ------------------------------------------------------------------------------------------

    def _running(self, connector_id: int) -> RunningTransaction | None:
        connector = self._connectors.get(connector_id)
        transaction = None if connector is None else connector.transaction
        if transaction is None:
            return None
        return RunningTransaction(transaction.local_id, transaction.transaction_id)

    def _outlets(self, now: datetime) -> dict[int, Outlet]:
        outlets = {}
        for number, connector in sorted(self._connectors.items()):
            hardware, transaction = connector.hardware, connector.transaction
            started = None
            if transaction is not None:
                started = now - timedelta(seconds=trio.current_time() - transaction.started_at)
            outlets[number] = Outlet(
                number,
                voltage=hardware.voltage,
                phases=hardware.phases,
                max_power_w=hardware.max_power_w,
                transaction=None if transaction is None else transaction.local_id,
                started=started,
            )
        return outlets

    async def _keep(self, change: Change, *, durable: bool = True) -> None:
        """Make ``change`` durable, then take it as the installed profiles. If the storage refuses, a
        ``durable`` change raises :class:`storage.StorageError`; another is taken all the same."""
        try:
            if change.added is not None:
                await self._state.save_charging_profile(
                    change.added.id, _to_body(change.added), replacing=sorted(change.removed)
                )
            elif change.removed:
                await self._state.delete_charging_profiles(sorted(change.removed))
        except StorageError as error:
            if durable:
                raise
            _log.warning("TxProfile change not kept (it ends with its transaction anyway): %s", error)
        self._installed = change.profiles
        self._changed()

    def _changed(self) -> None:
        self._valid_until = None
        for connector in self._connectors.values():
            connector.limits_changed()


def _grid(outlets: Mapping[int, Outlet]) -> Outlet:
    """The charge point as a whole: the voltage of its first connector, the most phases any connector has."""
    connectors: Sequence[Outlet] = list(outlets.values())
    return Outlet(
        0,
        voltage=connectors[0].voltage if connectors else 230.0,
        phases=max((outlet.phases for outlet in connectors), default=DEFAULT_PHASES),
    )


def _to_body(installed: InstalledProfile) -> JsonObject:
    request = SetChargingProfileRequest(
        connector_id=installed.connector_id, cs_charging_profiles=installed.profile
    )
    return {"request": encode(request), "transaction": installed.transaction}


def _from_body(body: JsonObject) -> InstalledProfile:
    request = decode(SetChargingProfileRequest, body["request"])
    return InstalledProfile(request.connector_id, request.cs_charging_profiles, body.get("transaction"))
