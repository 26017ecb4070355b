"""Simulated drivers: they arrive at random, plug in, badge, charge a while, badge again and leave.

Arrivals are a Poisson process (``arrivals_per_hour`` per connector, while it is free); a session lasts a
uniform random time between the two bounds of ``duration_minutes``. All waiting is trio time, so a test runs
a day of sessions in milliseconds.
"""

import random

import attrs
import trio

from fleet.simulated import EvModel, SimulatedConnector

__all__ = ["SessionSettings", "drive"]

_BADGE_TO_PLUG = 5.0  # seconds between a driver badging and plugging in
_LEAVE_AFTER_STOP = 30.0  # seconds between the end of charging and unplugging


@attrs.frozen
class SessionSettings:
    """How drivers use one group's connectors."""

    id_tags: tuple[str, ...]
    arrivals_per_hour: float
    duration_minutes: tuple[float, float]


async def drive(connector: SimulatedConnector, settings: SessionSettings, rng: random.Random) -> None:
    """Drivers using one connector, one after the other, until cancelled."""
    while True:
        await trio.sleep(rng.expovariate(settings.arrivals_per_hour / 3600.0))
        id_tag = rng.choice(settings.id_tags)
        ev = EvModel(
            battery_wh=rng.choice([40_000.0, 60_000.0, 80_000.0]),
            max_power_w=rng.choice([7_400.0, 11_000.0, 22_000.0]),
            soc_percent=rng.uniform(10.0, 60.0),
        )
        connector.plug_in(ev)
        await trio.sleep(_BADGE_TO_PLUG)
        connector.present_id_tag(id_tag)
        low, high = settings.duration_minutes
        await trio.sleep(60.0 * rng.uniform(low, high))
        connector.present_id_tag(id_tag)
        await trio.sleep(_LEAVE_AFTER_STOP)
        connector.unplug()
