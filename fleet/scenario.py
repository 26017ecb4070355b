"""Timed scenario events of a fleet file: what happens to which charge point or connector, and when.

Connector events act on the simulated hardware (a driver plugs in, presents a card, a fault occurs);
charge point events act on its network (down, up) or its power (a power loss or a reboot cuts it and
starts it again).
"""

from enum import StrEnum

import attrs

from actors.ocpp import ChargePointErrorCode

__all__ = ["ALL_CHARGE_POINTS", "ScenarioEvent", "ScenarioKind"]

ALL_CHARGE_POINTS = "*"


class ScenarioKind(StrEnum):
    """The events a scenario can play."""

    PLUG_IN = "plug_in"
    UNPLUG = "unplug"
    PRESENT_ID_TAG = "present_id_tag"
    EV_UNPLUG = "ev_unplug"
    EV_SUSPEND = "ev_suspend"
    EV_RESUME = "ev_resume"
    FAULT = "fault"
    CLEAR_FAULT = "clear_fault"
    NETWORK_DOWN = "network_down"
    NETWORK_UP = "network_up"
    POWER_LOSS = "power_loss"
    REBOOT = "reboot"

    @property
    def needs_connector(self) -> bool:
        """Whether the event happens at one connector (else at the charge point as a whole)."""
        return self not in _CHARGE_POINT_EVENTS


_CHARGE_POINT_EVENTS = frozenset(
    {ScenarioKind.NETWORK_DOWN, ScenarioKind.NETWORK_UP, ScenarioKind.POWER_LOSS, ScenarioKind.REBOOT}
)


@attrs.frozen
class ScenarioEvent:
    """One ``[[scenario]]`` entry: ``kind`` happens ``at`` seconds after the start of the run."""

    at: float
    charge_point: str
    """A charge point id, or ``*`` for every charge point."""
    kind: ScenarioKind
    connector: int | None = None
    id_tag: str | None = None
    error_code: ChargePointErrorCode = ChargePointErrorCode.OTHER_ERROR
    info: str | None = None
