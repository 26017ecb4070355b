"""Runs the charge points of a fleet: starts them at a steady ramp, with their simulated drivers, until
cancelled.

A charge point actor that dies of a bug is logged with its id, counted, and started again after a pause, so
one bug does not bring down a fleet of thousands.
"""

import logging
import random
from collections.abc import Awaitable, Callable, Sequence

import attrs
import trio

from actors.charge_point import ChargePoint, ChargePointSettings
from actors.connection import Dialer, tcp_dialer
from actors.statistics import Statistics
from fleet.drivers import EvBringer, drive
from fleet.firmware import SimulatedFirmware
from fleet.fleetfile import ChargePointSpec
from fleet.network import NetworkSwitch
from fleet.scenario import ALL_CHARGE_POINTS, ScenarioEvent, ScenarioKind
from fleet.simulated import SimulatedConnector
from storage import Storage

__all__ = ["DEFAULT_RAMP", "ChargePointConflict", "Fleet", "FleetCounts", "settings_for"]

_log = logging.getLogger(__name__)

DEFAULT_RAMP = 200.0
"""Charge points started per second unless told otherwise."""
FLEET_JOURNAL_SIZE = 20
"""OCPP messages each charge point of a fleet keeps for its diagnostics files: thousands of them share one
process's memory."""

RESTART_PAUSE = 5.0
"""Seconds before a crashed charge point actor is started again."""

CsmsCall = Callable[[str, ScenarioEvent], Awaitable[None]]
"""Has a Central System send a ``csms_call`` event's CALL to a charge point (by id)."""


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


class ChargePointConflict(Exception):
    """A charge point cannot be added: its id is in the fleet already (ids are unique, ignoring case)."""


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
        self,
        specs: Sequence[ChargePointSpec],
        *,
        storage: Storage,
        dialer: Dialer = tcp_dialer,
        statistics: Statistics | None = None,
    ) -> None:
        """``statistics`` (one for the whole fleet) counts what the charge points do (actors.statistics)."""
        self.statistics = statistics
        self._specs: dict[str, ChargePointSpec] = {}
        self._storage = storage
        self._dialer = dialer
        self._rng = random.Random()  # one for all: jitter needs randomness, not a generator per charge point
        self.hardware: dict[str, list[SimulatedConnector]] = {}
        """The simulated connectors of each charge point, by charge point id: scenario events go here."""
        self.networks: dict[str, NetworkSwitch] = {}
        """The network of each charge point, by charge point id."""
        self.charge_points: list[ChargePoint] = []
        self._by_id: dict[str, ChargePoint] = {}
        self._power: dict[str, trio.CancelScope] = {}
        """The scope of each charge point's current power-on: a power cut or a removal cancels it."""
        self._running: dict[str, trio.Event] = {}
        """The charge points started and not yet ended, by id: each event is set when it ends."""
        self._removing: set[str] = set()
        self._nursery: trio.Nursery | None = None
        """The nursery of :meth:`run` while it runs: charge points added at run time start in it."""
        self._ramp = DEFAULT_RAMP
        self.started = 0
        self.crashes = 0
        self.power_cuts = 0
        for spec in specs:
            self._include(spec)

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
        """Start every charge point, ``ramp`` per second (0: all at once); reports started when all are.

        Runs until cancelled. Charge points :meth:`add`-ed meanwhile start at the same pace.
        """
        self._ramp = ramp
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self._start(nursery, list(self.charge_points))
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None

    def get(self, charge_point_id: str) -> ChargePoint | None:
        """The charge point of this id (compared exactly), if it is in the fleet."""
        return self._by_id.get(charge_point_id)

    def add(self, specs: Sequence[ChargePointSpec]) -> list[ChargePoint]:
        """Add charge points at run time; they start at the pace of :meth:`run` (at its start if it has not
        started yet). Raises :class:`ChargePointConflict`, adding none, if an id is in the fleet already."""
        taken = {charge_point_id.lower(): charge_point_id for charge_point_id in self._by_id}
        for spec in specs:
            existing = taken.setdefault(spec.id.lower(), spec.id)
            if existing is not spec.id:
                spelled = "" if existing == spec.id else f" as {existing} (ids are unique, ignoring case)"
                raise ChargePointConflict(f"{spec.id} is in the fleet already{spelled}")
        added = [self._include(spec) for spec in specs]
        if self._nursery is not None:
            self._nursery.start_soon(self._start, self._nursery, added)
        return added

    async def remove(self, charge_point_id: str) -> None:
        """Stop a charge point with its simulated EVs and drivers (as a power cut does) and leave it out of
        the fleet; what it keeps in the storage stays there. Returns once it has stopped.

        Raises :class:`KeyError` for an id not in the fleet.
        """
        if charge_point_id not in self._by_id:
            raise KeyError(charge_point_id)
        self._removing.add(charge_point_id)
        ended = self._running.get(charge_point_id)
        if ended is None:  # not started yet: it never will be
            self._forget(charge_point_id)
            return
        # Not powered on yet, it will see that it is removed instead; powered on, it sees it once cut off.
        power = self._power.get(charge_point_id)
        if power is not None:
            power.cancel()
        await ended.wait()

    def _include(self, spec: ChargePointSpec) -> ChargePoint:
        """Make the charge point of ``spec``, with its hardware and network, a member of the fleet."""
        self._specs[spec.id] = spec
        self.hardware[spec.id] = [
            SimulatedConnector(max_power_w=spec.max_power_w) for _ in range(spec.connectors)
        ]
        self.networks[spec.id] = NetworkSwitch(self._dialer)
        charge_point = ChargePoint(
            settings_for(spec),
            self._storage.charge_point(spec.id),
            dialer=self.networks[spec.id].dial,
            hardware=self.hardware[spec.id],
            rng=self._rng,
            firmware=SimulatedFirmware(),
            statistics=self.statistics,
        )
        self.charge_points.append(charge_point)
        self._by_id[spec.id] = charge_point
        return charge_point

    def _forget(self, charge_point_id: str) -> None:
        """Leave a removed charge point out of the fleet."""
        self._removing.discard(charge_point_id)
        charge_point = self._by_id.pop(charge_point_id)
        self.charge_points.remove(charge_point)
        if charge_point.counters is not None:  # its time offline stops counting; its counts stay reported
            charge_point.counters.left(trio.current_time())
        del self._specs[charge_point_id], self.hardware[charge_point_id], self.networks[charge_point_id]
        self._power.pop(charge_point_id, None)

    async def _start(self, nursery: trio.Nursery, charge_points: Sequence[ChargePoint]) -> None:
        """Start ``charge_points`` in ``nursery`` at the fleet's ramp, but none removed meanwhile."""
        begin = trio.current_time()
        for index, charge_point in enumerate(charge_points):
            if self._ramp > 0:
                await trio.sleep_until(begin + index / self._ramp)
            charge_point_id = charge_point.settings.charge_point_id
            if self._by_id.get(charge_point_id) is charge_point and charge_point_id not in self._removing:
                ended = trio.Event()
                self._running[charge_point_id] = ended
                self.started += 1
                nursery.start_soon(self._run_charge_point, nursery, charge_point, ended)

    async def _run_charge_point(
        self, nursery: trio.Nursery, charge_point: ChargePoint, ended: trio.Event
    ) -> None:
        """A charge point with its simulated EVs and drivers, until it is removed or the fleet stops.

        Its EVs are brought in the fleet's ``nursery``, and only a fleet with drivers opens a nursery per
        charge point: each costs some 1.5 KiB while parked, and a load test runs thousands of charge points.
        """
        spec = self._specs[charge_point.settings.charge_point_id]
        hardware = self.hardware[spec.id]
        bringers = [  # seeded by connector: the same EVs and drivers in every run
            EvBringer(connector, spec.remote_start_delay, seed=f"{spec.id}#{number}/ev")
            for number, connector in enumerate(hardware, start=1)
        ]
        try:
            for bringer in bringers:
                bringer.start(nursery)
            if spec.sessions is None:
                await self._supervise(charge_point)
            else:
                async with trio.open_nursery() as drivers:
                    for number, connector in enumerate(hardware, start=1):
                        drivers.start_soon(
                            drive, connector, spec.sessions, random.Random(f"{spec.id}#{number}")
                        )
                    await self._supervise(charge_point)
                    drivers.cancel_scope.cancel()  # removed: its drivers leave with it
        finally:
            for bringer in bringers:
                bringer.stop()
            del self._running[spec.id]
            if spec.id in self._removing:
                self.started -= 1
                self._forget(spec.id)
            ended.set()

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
            elif event.kind is ScenarioKind.POWER_LOSS:
                self.cut_power(charge_point_id)
            else:
                raise ValueError(f"{event.kind} is played by Fleet.play with the Central System's help")

    async def play(self, scenario: Sequence[ScenarioEvent], *, csms_call: CsmsCall | None = None) -> None:
        """Play timed scenario events, ``at`` seconds from now; ``csms_call`` has the Central System send the
        CALL of a ``csms_call`` event (the embedded one of ``ocpp-fleet demo``) to a charge point."""
        begin = trio.current_time()
        async with trio.open_nursery() as calls:
            for event in sorted(scenario, key=lambda event: event.at):
                await trio.sleep_until(begin + event.at)
                if event.kind is not ScenarioKind.CSMS_CALL:
                    self.apply(event)
                    continue
                if csms_call is None:
                    raise ValueError("a csms_call event needs the embedded Central System (ocpp-fleet demo)")
                everyone = event.charge_point == ALL_CHARGE_POINTS
                for charge_point_id in list(self._by_id) if everyone else [event.charge_point]:
                    calls.start_soon(csms_call, charge_point_id, event)

    async def _supervise(self, charge_point: ChargePoint) -> None:
        """Power the charge point on again after each power cut, until it is removed.

        The power scope is also what :meth:`remove` cancels, so the charge point needs no other scope.
        """
        charge_point_id = charge_point.settings.charge_point_id
        restored = False
        while charge_point_id not in self._removing:
            with trio.CancelScope() as power:
                self._power[charge_point_id] = power
                if not restored:  # in the power scope, so that a removal stops this too
                    await self._restore_meters(charge_point_id)
                    restored = True
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
