"""Runs the charge points of a fleet: starts them at a steady ramp, with their simulated drivers, until
cancelled.

A charge point actor that dies of a bug is logged with its id, counted, and started again after a pause, so
one bug does not bring down a fleet of thousands.
"""

import logging
import random
from collections.abc import Sequence

import attrs
import trio

from actors.charge_point import ChargePoint, ChargePointSettings
from actors.connection import Dialer, tcp_dialer
from fleet.drivers import drive
from fleet.fleetfile import ChargePointSpec
from fleet.simulated import SimulatedConnector
from storage import MemoryStorage

__all__ = ["DEFAULT_RAMP", "Fleet", "FleetCounts", "settings_for"]

_log = logging.getLogger(__name__)

DEFAULT_RAMP = 200.0
"""Charge points started per second unless told otherwise."""

RESTART_PAUSE = 5.0
"""Seconds before a crashed charge point actor is started again."""


def settings_for(spec: ChargePointSpec) -> ChargePointSettings:
    """The actor settings of one charge point of a fleet file."""
    return ChargePointSettings(
        charge_point_id=spec.id,
        csms_url=spec.csms_url,
        vendor=spec.vendor,
        model=spec.model,
        serial_number=spec.serial,
        firmware_version=spec.firmware,
        connectors=spec.connectors,
        configuration=dict(spec.configuration),
    )


@attrs.frozen
class FleetCounts:
    """How the fleet is doing right now."""

    charge_points: int
    started: int
    connected: int
    accepted: int
    crashes: int


class Fleet:
    """Many charge points sharing one storage and one way of reaching the Central System."""

    def __init__(
        self, specs: Sequence[ChargePointSpec], *, storage: MemoryStorage, dialer: Dialer = tcp_dialer
    ) -> None:
        self._specs = list(specs)
        self.hardware = {
            spec.id: [SimulatedConnector(max_power_w=spec.max_power_w) for _ in range(spec.connectors)]
            for spec in specs
        }
        """The simulated connectors of each charge point, by charge point id: scenario events go here."""
        self.charge_points = [
            ChargePoint(
                settings_for(spec),
                storage.charge_point(spec.id),
                dialer=dialer,
                hardware=self.hardware[spec.id],
            )
            for spec in specs
        ]
        self.started = 0
        self.crashes = 0

    def counts(self) -> FleetCounts:
        """Counts of the charge points by state."""
        return FleetCounts(
            charge_points=len(self.charge_points),
            started=self.started,
            connected=sum(charge_point.connected for charge_point in self.charge_points),
            accepted=sum(
                charge_point.connected and charge_point.registration.accepted
                for charge_point in self.charge_points
            ),
            crashes=self.crashes,
        )

    async def run(
        self,
        *,
        ramp: float = DEFAULT_RAMP,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Start every charge point, ``ramp`` per second (0: all at once); reports started when all are."""
        async with trio.open_nursery() as nursery:
            begin = trio.current_time()
            for index, (spec, charge_point) in enumerate(zip(self._specs, self.charge_points, strict=True)):
                if ramp > 0:
                    await trio.sleep_until(begin + index / ramp)
                nursery.start_soon(self._supervise, charge_point)
                if spec.sessions is not None:
                    for number, connector in enumerate(self.hardware[spec.id], start=1):
                        rng = random.Random(f"{spec.id}#{number}")  # the same drivers in every run
                        nursery.start_soon(drive, connector, spec.sessions, rng)
                self.started += 1
            task_status.started()

    async def _supervise(self, charge_point: ChargePoint) -> None:
        while True:
            try:
                await charge_point.run()
            except Exception:
                self.crashes += 1
                _log.exception(
                    "%s: crashed; restarting in %g s", charge_point.settings.charge_point_id, RESTART_PAUSE
                )
                await trio.sleep(RESTART_PAUSE)
