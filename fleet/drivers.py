"""Simulated drivers: they arrive at random, plug in, badge, charge a while, badge again and leave.

Arrivals are a Poisson process (``arrivals_per_hour`` per connector, while it is free); a session lasts a
uniform random time between the two bounds of ``duration_minutes``. All waiting is trio time, so a test runs
a day of sessions in milliseconds.
"""

import random

import attrs
import trio

from actors.on_demand import OnDemandTask
from fleet.simulated import EvModel, SimulatedConnector

__all__ = ["EvBringer", "SessionSettings", "drive"]

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


class EvBringer:
    """Answers a connector waiting for a cable (a remote start) by plugging in an EV ``delay`` seconds later;
    the EV leaves once charging is over, or if charging does not start.

    It runs as a task only while it has an EV to bring (:class:`actors.on_demand.OnDemandTask`): an idle
    fleet of thousands of connectors keeps no parked task for it. Its random generator (the EV's state of
    charge) is made from ``seed`` at the first EV, so that every run brings the same EVs.
    """

    __slots__ = ("_connector", "_delay", "_rng", "_seed", "_task")

    def __init__(self, connector: SimulatedConnector, delay: float, seed: str) -> None:
        self._connector = connector
        self._delay = delay
        self._seed = seed
        self._rng: random.Random | None = None
        self._task = OnDemandTask(self._bring_ev, name=f"bring an EV to {seed}")
        connector.cable_wanted = self._task.wake

    def start(self, nursery: trio.Nursery) -> None:
        """Bring EVs in ``nursery`` from now on (one wanted meanwhile comes now)."""
        self._task.start(nursery)

    def stop(self) -> None:
        """Bring no more EVs, and call back one on its way: its charge point is gone (the nursery, a
        fleet's, may run for longer)."""
        self._task.stop()

    async def _bring_ev(self) -> None:
        connector = self._connector
        await trio.sleep(self._delay)
        if connector.plugged:
            return  # somebody else plugged in
        if self._rng is None:
            self._rng = random.Random(self._seed)
        connector.plug_in(EvModel(soc_percent=self._rng.uniform(10.0, 60.0)))
        with trio.move_on_after(_GIVE_UP_WAITING):
            while not connector.relay_closed:
                await connector.relay_changed.wait()
        while connector.relay_closed:
            await connector.relay_changed.wait()
        await trio.sleep(_LEAVE_AFTER_STOP)
        connector.unplug()
