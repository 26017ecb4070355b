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
from fleet.drivers import bring_ev_when_wanted, drive
from fleet.firmware import SimulatedFirmware
from fleet.fleetfile import ChargePointSpec
from fleet.network import NetworkSwitch
from fleet.scenario import ALL_CHARGE_POINTS, ScenarioEvent, ScenarioKind
from fleet.simulated import SimulatedConnector
from storage import Storage

__all__ = ["DEFAULT_RAMP", "Fleet", "FleetCounts", "settings_for"]

_log = logging.getLogger(__name__)

DEFAULT_RAMP = 200.0
"""Charge points started per second unless told otherwise."""
FLEET_JOURNAL_SIZE = 20
"""OCPP messages each charge point of a fleet keeps for its diagnostics files: thousands of them share one
process's memory."""

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
        tls=spec.tls,
        journal_size=FLEET_JOURNAL_SIZE,
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
        self, specs: Sequence[ChargePointSpec], *, storage: Storage, dialer: Dialer = tcp_dialer
    ) -> None:
        self._specs = list(specs)
        self._storage = storage
        self._rng = random.Random()  # one for all: jitter needs randomness, not a generator per charge point
        self.hardware = {
            spec.id: [SimulatedConnector(max_power_w=spec.max_power_w) for _ in range(spec.connectors)]
            for spec in specs
        }
        """The simulated connectors of each charge point, by charge point id: scenario events go here."""
        self.networks = {spec.id: NetworkSwitch(dialer) for spec in specs}
        """The network of each charge point, by charge point id."""
        self.charge_points = [
            ChargePoint(
                settings_for(spec),
                storage.charge_point(spec.id),
                dialer=self.networks[spec.id].dial,
                hardware=self.hardware[spec.id],
                rng=self._rng,
                firmware=SimulatedFirmware(),
            )
            for spec in specs
        ]
        self._by_id = {
            charge_point.settings.charge_point_id: charge_point for charge_point in self.charge_points
        }
        self._power: dict[str, trio.CancelScope] = {}
        self.started = 0
        self.crashes = 0
        self.power_cuts = 0

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
                for number, connector in enumerate(self.hardware[spec.id], start=1):
                    rng = random.Random(f"{spec.id}#{number}")  # the same drivers in every run
                    nursery.start_soon(bring_ev_when_wanted, connector, spec.remote_start_delay, rng)
                    if spec.sessions is not None:
                        nursery.start_soon(drive, connector, spec.sessions, rng)
                self.started += 1
            task_status.started()

    def cut_power(self, charge_point_id: str) -> None:
        """A power cut: the charge point stops at once and powers on again (a new boot)."""
        scope = self._power.get(charge_point_id)
        if scope is not None:
            self.power_cuts += 1
            scope.cancel()

    def reboot(self, charge_point_id: str) -> None:
        """A reboot: the charge point stops its transactions (reason Reboot), then boots again."""
        self._by_id[charge_point_id].request_reboot()

    def apply(self, event: ScenarioEvent) -> None:
        """Play one scenario event on its charge point(s)."""
        targets = list(self._by_id) if event.charge_point == ALL_CHARGE_POINTS else [event.charge_point]
        for charge_point_id in targets:
            if event.connector is not None:
                _act_on_connector(self.hardware[charge_point_id][event.connector - 1], event)
            elif event.kind is ScenarioKind.NETWORK_DOWN:
                self.networks[charge_point_id].cut()
            elif event.kind is ScenarioKind.NETWORK_UP:
                self.networks[charge_point_id].restore()
            elif event.kind is ScenarioKind.REBOOT:
                self.reboot(charge_point_id)
            else:
                self.cut_power(charge_point_id)

    async def play(self, scenario: Sequence[ScenarioEvent]) -> None:
        """Play timed scenario events, ``at`` seconds from now."""
        begin = trio.current_time()
        for event in sorted(scenario, key=lambda event: event.at):
            await trio.sleep_until(begin + event.at)
            self.apply(event)

    async def _supervise(self, charge_point: ChargePoint) -> None:
        await self._restore_meters(charge_point.settings.charge_point_id)
        while True:
            with trio.CancelScope() as power:
                self._power[charge_point.settings.charge_point_id] = power
                await self._run_until_crash(charge_point)

    async def _restore_meters(self, charge_point_id: str) -> None:
        """Simulated meters start where the kept readings left off: registers never go back."""
        meters = await self._storage.charge_point(charge_point_id).load_meters()
        for number, meter in meters.items():
            if 1 <= number <= len(self.hardware[charge_point_id]):
                self.hardware[charge_point_id][number - 1].restore_register(meter.energy_wh)

    async def _run_until_crash(self, charge_point: ChargePoint) -> None:
        while True:
            try:
                await charge_point.run()
            except Exception:
                self.crashes += 1
                _log.exception(
                    "%s: crashed; restarting in %g s", charge_point.settings.charge_point_id, RESTART_PAUSE
                )
                await trio.sleep(RESTART_PAUSE)


def _act_on_connector(connector: SimulatedConnector, event: ScenarioEvent) -> None:
    match event.kind:
        case ScenarioKind.PLUG_IN:
            connector.plug_in()
        case ScenarioKind.UNPLUG:
            connector.unplug()
        case ScenarioKind.PRESENT_ID_TAG:
            assert event.id_tag is not None
            connector.present_id_tag(event.id_tag)
        case ScenarioKind.EV_UNPLUG:
            connector.ev_unplug()
        case ScenarioKind.EV_SUSPEND:
            connector.ev_suspend()
        case ScenarioKind.EV_RESUME:
            connector.ev_resume()
        case ScenarioKind.FAULT:
            connector.fault(event.error_code, event.info)
        case ScenarioKind.CLEAR_FAULT:
            connector.clear_fault()
