"""The hardware of a connector, as a connector actor sees it: the contract a gateway implements.

Everything a connector knows about the physical world comes through :class:`ConnectorHardware`: the meter,
the power relay and its offered limit, the cable lock, and the events of the cable, the EV, the card reader
and fault detection. ``fleet.simulated`` implements it with a simulated EV; a gateway implements it with
real devices.
"""

from typing import Protocol

import attrs
import trio

from actors.ocpp import ChargePointErrorCode, Measurand, Phase

__all__ = [
    "CablePlugged",
    "CableUnplugged",
    "ConnectorHardware",
    "EvDisconnected",
    "EvResumed",
    "EvSuspended",
    "FaultCleared",
    "FaultDetected",
    "HardwareEvent",
    "IdTagPresented",
]


@attrs.frozen
class CablePlugged:
    """A cable connects the charge point and an EV (plug in, or the EV attaches to a fixed cable)."""


@attrs.frozen
class CableUnplugged:
    """The cable was removed at the charge point's side."""


@attrs.frozen
class EvDisconnected:
    """The cable was removed at the EV's side (spec 4.10: StopTransactionOnEVSideDisconnect)."""


@attrs.frozen
class EvSuspended:
    """The EV stopped drawing power (e.g. its battery is full)."""


@attrs.frozen
class EvResumed:
    """The EV draws power again."""


@attrs.frozen
class IdTagPresented:
    """A card or token was presented to the reader (or a start button stands in for one)."""

    id_tag: str


@attrs.frozen
class FaultDetected:
    """A fault that prevents charging."""

    error_code: ChargePointErrorCode
    info: str | None = None


@attrs.frozen
class FaultCleared:
    """The fault is gone."""


HardwareEvent = (
    CablePlugged
    | CableUnplugged
    | EvDisconnected
    | EvSuspended
    | EvResumed
    | IdTagPresented
    | FaultDetected
    | FaultCleared
)


class ConnectorHardware(Protocol):
    """The devices of one connector."""

    @property
    def measurands(self) -> frozenset[Measurand]:
        """What the meter can report."""
        ...

    @property
    def has_lock(self) -> bool:
        """Whether the socket has a cable lock (``False``: fixed cable)."""
        ...

    @property
    def events(self) -> trio.abc.ReceiveChannel[HardwareEvent]:
        """The events of this connector, in the order they happened.

        The connector waits on ``receive`` and cancels that wait when a command or a timer comes first: like
        a trio memory channel's, a cancelled ``receive`` must lose no event.
        """
        ...

    def energy_wh(self) -> float:
        """The energy register (Wh imported), never decreasing."""
        ...

    def read(self, measurand: Measurand, phase: Phase | None) -> float | None:
        """The present value of a measurand (for a phase), in its OCPP unit; ``None`` if not measured."""
        ...

    async def set_relay(self, closed: bool) -> None:
        """Switch the power to the EV on or off."""
        ...

    def offer(self, limit_w: float) -> None:
        """The most power the EV may draw now, in W (smart charging; the hardware's own maximum otherwise)."""
        ...

    @property
    def max_power_w(self) -> float:
        """The most power the connector can deliver, in W (a finite number)."""
        ...

    @property
    def voltage(self) -> float:
        """The line voltage of its supply (the nominal one, 230 or 110 V, spec 7.12)."""
        ...

    @property
    def phases(self) -> int:
        """How many phases it can charge with (1 or 3)."""
        ...

    def awaiting_cable(self) -> None:
        """The connector is authorised and waits for a cable (identification first, or a remote start).

        A charge point might light up its socket; a simulated one brings an EV.
        """
        ...

    async def lock(self) -> bool:
        """Lock the cable in the socket; ``False`` if the lock failed."""
        ...

    async def unlock(self) -> bool:
        """Unlock the cable; ``False`` if the lock failed to open."""
        ...
