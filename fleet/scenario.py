"""Timed scenario events of a fleet file: what happens to which charge point or connector, and when.

Connector events act on the simulated hardware (a driver plugs in, presents a card, a fault occurs);
charge point events act on its network (down, up) or its power (a power loss or a reboot cuts it and
starts it again). ``csms_call`` has the embedded Central System of ``ocpp-fleet demo`` send a CALL (a
reservation, a charging profile, a firmware update, ...) to the charge point: :func:`csms_request` builds it.
"""

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import attrs

from actors.ocpp import (
    CENTRAL_SYSTEM_INITIATED,
    REQUESTS,
    ChargePointErrorCode,
    Request,
    decode,
    format_datetime,
)

__all__ = ["ALL_CHARGE_POINTS", "FILES", "ScenarioEvent", "ScenarioKind", "csms_request"]

FILES = "{files}"
"""In a ``csms_call`` payload: the URL of the files ``ocpp-fleet demo`` serves (a firmware image)."""

_NOW = re.compile(r"^now(?:([+-])(\d+))?$")

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
    CSMS_CALL = "csms_call"

    @property
    def needs_connector(self) -> bool:
        """Whether the event happens at one connector (else at the charge point as a whole)."""
        return self not in _CHARGE_POINT_EVENTS


_CHARGE_POINT_EVENTS = frozenset(
    {
        ScenarioKind.NETWORK_DOWN,
        ScenarioKind.NETWORK_UP,
        ScenarioKind.POWER_LOSS,
        ScenarioKind.REBOOT,
        ScenarioKind.CSMS_CALL,
    }
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
    action: str | None = None
    """``csms_call``: the action of the Central System's CALL."""
    payload: Mapping[str, Any] | None = attrs.field(default=None, eq=False)
    """``csms_call``: its payload as the fleet file gives it (see :func:`csms_request`)."""


def csms_request(action: str, payload: Mapping[str, Any], *, now: datetime, files: str) -> Request:
    """The CALL a ``csms_call`` event sends: ``payload`` (camelCase JSON, as in the specification) with
    ``"now"``, ``"now+600"`` or ``"now-60"`` replaced by that instant (seconds from ``now``) and ``{files}``
    by ``files``; checked as the charge point would check it.

    Raises ``ValueError`` (an action the Central System does not send) or the codec's ``RemoteProtocolError``
    (a payload that does not fit the action).
    """
    known = {str(known): known for known in CENTRAL_SYSTEM_INITIATED}
    if action not in known:
        raise ValueError(f"not an action the Central System sends: {action!r}")
    return decode(REQUESTS[known[action]], _resolved(payload, now, files))


def _resolved(value: Any, now: datetime, files: str) -> Any:
    if isinstance(value, Mapping):
        return {key: _resolved(item, now, files) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item, now, files) for item in value]
    if isinstance(value, str):
        instant = _NOW.match(value)
        if instant is not None:
            sign, seconds = instant.groups()
            offset = timedelta(seconds=int(seconds or 0)) * (-1 if sign == "-" else 1)
            return format_datetime(now + offset)
        return value.replace(FILES, files.rstrip("/"))
    return value
