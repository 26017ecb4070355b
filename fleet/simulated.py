"""Simulated connector hardware: a meter, a relay, a lock and an EV whose battery fills over trio time.

:class:`SimulatedConnector` implements :class:`actors.hardware.ConnectorHardware`. Scenario events (plug in,
present a card, unplug, faults) are its methods. The energy register integrates the power drawn, which is
the least of the EV's acceptance (full power up to ``taper_from_soc``, then falling linearly), the offered
limit and the connector's maximum; a full battery makes the EV stop drawing power.
"""

from collections.abc import Callable

import attrs
import trio

from actors.charge_point import SUPPORTED_MEASURANDS
from actors.hardware import (
    CablePlugged,
    CableUnplugged,
    EvDisconnected,
    EvResumed,
    EvSuspended,
    FaultCleared,
    FaultDetected,
    HardwareEvent,
    IdTagPresented,
)
from actors.ocpp import ChargePointErrorCode, Measurand, Phase

__all__ = ["EvModel", "SimulatedConnector"]

_STEP = 60.0  # seconds per integration step: the EV's acceptance changes with its state of charge
_EVENT_BUFFER = 64
_LOWEST_TAPER = 0.1  # share of full power an EV still draws just before it is full
SIMULATED_MEASURANDS = frozenset(SUPPORTED_MEASURANDS)


def _nobody() -> None:
    """No driver answers a connector waiting for a cable."""


@attrs.frozen
class EvModel:
    """An electric vehicle as the charge point sees it."""

    battery_wh: float = 60_000.0
    max_power_w: float = 11_000.0
    soc_percent: float = 20.0
    """State of charge when it arrives."""
    taper_from_soc: float = 80.0

    def acceptance_w(self, soc: float) -> float:
        """The power the EV draws at a state of charge, before any limit of the charge point."""
        if soc >= 100.0:
            return 0.0
        if soc <= self.taper_from_soc:
            return self.max_power_w
        share = (100.0 - soc) / (100.0 - self.taper_from_soc)
        return self.max_power_w * max(_LOWEST_TAPER, share)


class SimulatedConnector:
    """One simulated connector with its meter, relay, lock and (when plugged in) an EV."""

    __slots__ = (
        "_energy_wh",
        "_ev",
        "_ev_suspended",
        "_events",
        "_has_lock",
        "_offered_w",
        "_relay_closed",
        "_send",
        "_soc",
        "_updated",
        "cable_wanted",
        "lock_fails",
        "locked",
        "max_power_w",
        "phases",
        "relay_changed",
        "voltage",
    )

    def __init__(
        self,
        *,
        max_power_w: float = 22_000.0,
        phases: int = 3,
        voltage: float = 230.0,
        has_lock: bool = True,
        energy_wh: float = 0.0,
    ) -> None:
        self.max_power_w = max_power_w
        self.phases = phases
        self.voltage = voltage
        self._has_lock = has_lock
        self._energy_wh = energy_wh
        self._offered_w = max_power_w
        self._relay_closed = False
        self._ev: EvModel | None = None
        self._soc = 0.0
        self._ev_suspended = False
        self._updated = trio.current_time()
        self.locked = False
        self.lock_fails = False
        """Set to make the next lock or unlock fail."""
        self.cable_wanted: Callable[[], None] = _nobody
        """Called when the connector waits for a cable; a simulated driver may answer it."""
        self.relay_changed = trio.Event()
        """Set (and replaced) whenever the relay switches."""
        self._send, self._events = trio.open_memory_channel[HardwareEvent](_EVENT_BUFFER)

    # --- ConnectorHardware ----------------------------------------------------------------------------

    @property
    def measurands(self) -> frozenset[Measurand]:
        return SIMULATED_MEASURANDS

    @property
    def has_lock(self) -> bool:
        return self._has_lock

    @property
    def events(self) -> trio.abc.ReceiveChannel[HardwareEvent]:
        return self._events

    def energy_wh(self) -> float:
        self._advance()
        return self._energy_wh

    def restore_register(self, energy_wh: float) -> None:
        """Set the energy register forward to a kept reading (a meter never goes back)."""
        self._advance()
        self._energy_wh = max(self._energy_wh, energy_wh)

    def read(self, measurand: Measurand, phase: Phase | None) -> float | None:
        self._advance()
        power = self._power_w()
        per_phase = 1 if phase is None else self.phases
        match measurand:
            case Measurand.ENERGY_ACTIVE_IMPORT_REGISTER:
                return self._energy_wh if phase is None else None
            case Measurand.POWER_ACTIVE_IMPORT:
                return power / per_phase
            case Measurand.POWER_OFFERED:
                return self._offered_w if phase is None else None
            case Measurand.CURRENT_IMPORT:
                return power / (self.voltage * self.phases)
            case Measurand.CURRENT_OFFERED:
                return self._offered_w / (self.voltage * self.phases)
            case Measurand.VOLTAGE:
                return self.voltage
            case Measurand.SOC:
                return round(self._soc, 1) if self._ev is not None and phase is None else None
        return None

    @property
    def plugged(self) -> bool:
        """Whether an EV is connected."""
        return self._ev is not None

    @property
    def relay_closed(self) -> bool:
        """Whether power flows to the socket."""
        return self._relay_closed

    def awaiting_cable(self) -> None:
        self.cable_wanted()

    async def set_relay(self, closed: bool) -> None:
        self._advance()
        if closed != self._relay_closed:
            self._relay_closed = closed
            self.relay_changed.set()
            self.relay_changed = trio.Event()
        await trio.lowlevel.checkpoint()

    def offer(self, limit_w: float) -> None:
        self._advance()
        self._offered_w = min(limit_w, self.max_power_w)

    async def lock(self) -> bool:
        await trio.lowlevel.checkpoint()
        if self.lock_fails:
            return False
        self.locked = True
        return True

    async def unlock(self) -> bool:
        await trio.lowlevel.checkpoint()
        if self.lock_fails:
            return False
        self.locked = False
        return True

    # --- scenario events ------------------------------------------------------------------------------

    def plug_in(self, ev: EvModel | None = None) -> None:
        """An EV arrives and its cable is plugged in."""
        self._advance()
        self._ev = ev or EvModel()
        self._soc = self._ev.soc_percent
        self._ev_suspended = False
        self._emit(CablePlugged())

    def unplug(self) -> None:
        """The cable is removed at the charge point; the EV leaves."""
        self._advance()
        self._ev = None
        self._emit(CableUnplugged())

    def ev_unplug(self) -> None:
        """The cable is removed at the EV's side."""
        self._advance()
        self._ev = None
        self._emit(EvDisconnected())

    def present_id_tag(self, id_tag: str) -> None:
        """A card is held to the reader."""
        self._emit(IdTagPresented(id_tag))

    def ev_suspend(self) -> None:
        """The EV stops drawing power."""
        self._advance()
        self._ev_suspended = True
        self._emit(EvSuspended())

    def ev_resume(self) -> None:
        """The EV draws power again."""
        self._advance()
        self._ev_suspended = False
        self._emit(EvResumed())

    def fault(
        self, error_code: ChargePointErrorCode = ChargePointErrorCode.OTHER_ERROR, info: str | None = None
    ) -> None:
        """A fault that prevents charging."""
        self._emit(FaultDetected(error_code, info))

    def clear_fault(self) -> None:
        """The fault is gone."""
        self._emit(FaultCleared())

    # --- simulation -----------------------------------------------------------------------------------

    def _emit(self, event: HardwareEvent) -> None:
        self._send.send_nowait(event)

    def _power_w(self) -> float:
        if self._ev is None or not self._relay_closed or self._ev_suspended:
            return 0.0
        return min(self._ev.acceptance_w(self._soc), self._offered_w, self.max_power_w)

    def _advance(self) -> None:
        """Integrate the energy drawn since the last update, in steps, as the EV's acceptance changes."""
        now = trio.current_time()
        remaining = now - self._updated
        self._updated = now
        while remaining > 0:
            step = min(remaining, _STEP)
            remaining -= step
            power = self._power_w()
            if power <= 0:
                break
            assert self._ev is not None
            room_wh = (100.0 - self._soc) / 100.0 * self._ev.battery_wh
            energy = min(power * step / 3600.0, room_wh)
            self._energy_wh += energy
            self._soc = min(100.0, self._soc + 100.0 * energy / self._ev.battery_wh)
        if self._ev is not None and self._soc >= 100.0 and not self._ev_suspended:
            self._ev_suspended = True
            self._emit(EvSuspended())
