"""Simulated drivers: they arrive at random, plug in, badge, charge a while, badge again and leave.

Arrivals are a Poisson process (``arrivals_per_hour`` per connector, while it is free); a session lasts a
uniform random time between the two bounds of ``duration_minutes``. All waiting is trio time, so a test runs
a day of sessions in milliseconds.
"""

import random

import attrs
import trio

from fleet.simulated import EvModel, SimulatedConnector

__all__ = ["SessionSettings", "bring_ev_when_wanted", "drive"]

_BADGE_TO_PLUG = 5.0  # seconds between a driver badging and plugging in
_LEAVE_AFTER_STOP = 30.0  # seconds between the end of charging and unplugging
_GIVE_UP_WAITING = 300.0  # seconds a brought EV waits for charging to start before it leaves


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


async def bring_ev_when_wanted(connector: SimulatedConnector, delay: float, rng: random.Random) -> None:
    """Answer a connector waiting for a cable (a remote start) by plugging in an EV ``delay`` seconds later;
    it leaves once charging is over, or if charging does not start."""
    while True:
        await connector.cable_wanted.wait()
        connector.cable_wanted = trio.Event()
        await trio.sleep(delay)
        if connector.plugged:
            continue  # somebody else plugged in
        connector.plug_in(EvModel(soc_percent=rng.uniform(10.0, 60.0)))
        with trio.move_on_after(_GIVE_UP_WAITING):
            while not connector.relay_closed:
                await connector.relay_changed.wait()
        while connector.relay_closed:
            await connector.relay_changed.wait()
        await trio.sleep(_LEAVE_AFTER_STOP)
        connector.unplug()
