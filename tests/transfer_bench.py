"""A test bench for the file transfer features: the embedded Central System over in-memory streams, a
loopback file server, and one charge point (CP-1, 2 simulated connectors, a simulated firmware installer)
that can be powered off and on again over the same state.

Its tests run on the real clock (the file servers are real sockets): they wait for what they expect, within
:data:`GUARD` seconds.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import trio
import trio.testing
from file_servers import HttpFileServer

from actors.charge_point import ChargePoint, ChargePointSettings
from actors.connection import CsmsAddress
from actors.ocpp import FirmwareStatus, UpdateFirmwareRequest, UpdateFirmwareResponse
from fleet.csms import CentralSystem, Record
from fleet.firmware import SimulatedFirmware
from fleet.simulated import SimulatedConnector
from storage import ChargePointState

GUARD = 20.0
"""Seconds a test on the real clock may take at most; each takes well under one on an idle machine."""


async def eventually(check: Callable[[], Any]) -> None:
    """Return once ``await check()`` is true (the test's guard bounds the wait)."""
    while True:
        if await check():
            return
        await trio.sleep(0.01)


@attrs.define
class Bench:
    """A Central System, a firmware server, and the charge point under test (2 connectors, CP-1)."""

    nursery: trio.Nursery
    csms: CentralSystem
    server: HttpFileServer
    state: ChargePointState
    firmware: SimulatedFirmware = attrs.Factory(SimulatedFirmware)
    plugs: list[SimulatedConnector] = attrs.Factory(lambda: [SimulatedConnector(), SimulatedConnector()])
    charge_point: ChargePoint | None = None
    power: trio.CancelScope | None = None
    off: trio.Event = attrs.Factory(trio.Event)

    async def dial(self, address: CsmsAddress) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        self.nursery.start_soon(self.csms.serve_stream, server)
        return client

    async def power_on(self) -> ChargePoint:
        """Start (again) the charge point, as a new ChargePoint on the same state; wait for its boot."""
        settings = ChargePointSettings(
            "CP-1", "ws://csms.test/ocpp", firmware_version="1.0.0", connectors=2, transfer_timeout=5
        )
        charge_point = ChargePoint(
            settings, self.state, dialer=self.dial, hardware=self.plugs, firmware=self.firmware
        )
        self.charge_point, self.power, self.off = charge_point, trio.CancelScope(), trio.Event()
        boots = len(self.calls("BootNotification"))
        self.nursery.start_soon(self._run, charge_point, self.power, self.off)
        await self.csms.wait_for(lambda record: len(self.calls("BootNotification")) > boots)
        await self.boot_statuses()
        return charge_point

    async def _run(self, charge_point: ChargePoint, power: trio.CancelScope, off: trio.Event) -> None:
        with power:
            await charge_point.run()
        off.set()

    def power_cut(self) -> None:
        assert self.power is not None
        self.power.cancel()

    async def boot_statuses(self) -> None:
        """Wait for the StatusNotifications of connectors 0, 1 and 2 after the latest BootNotification."""
        boot = max(
            index for index, record in enumerate(self.records()) if record.action == "BootNotification"
        )

        def reported(record: Record) -> bool:
            after = [r for r in self.records()[boot:] if r.action == "StatusNotification"]
            return {r.payload["connectorId"] for r in after} >= {0, 1, 2}

        await self.csms.wait_for(reported)

    def records(self) -> list[Record]:
        """The CALLs of the charge point so far, Heartbeats left out."""
        return [
            r
            for r in self.csms.records
            if r.direction == "in" and r.kind == "CALL" and r.action != "Heartbeat"
        ]

    def calls(self, action: str) -> list[dict[str, Any]]:
        return [record.payload for record in self.records() if record.action == action]

    def firmware_statuses(self) -> list[str]:
        return [payload["status"] for payload in self.calls("FirmwareStatusNotification")]

    async def wait_call(self, predicate: Callable[[Record], bool], *, after: int = -1) -> int:
        """The index (in :meth:`records`) of the first CALL past index ``after`` for which ``predicate``
        holds, waiting for it."""

        def wanted(record: Record) -> bool:
            is_call = record.direction == "in" and record.kind == "CALL" and record.action != "Heartbeat"
            return is_call and predicate(record) and self.records().index(record) > after

        found = await self.csms.wait_for(wanted)
        return self.records().index(found)

    async def wait_firmware(self, status: FirmwareStatus) -> int:
        return await self.wait_call(
            lambda r: r.action == "FirmwareStatusNotification" and r.payload["status"] == status
        )

    async def wait_connector(self, connector_id: int, status: str, *, after: int = -1) -> int:
        return await self.wait_call(
            lambda r: (
                r.action == "StatusNotification"
                and r.payload["connectorId"] == connector_id
                and r.payload["status"] == status
            ),
            after=after,
        )

    async def shut_down(self) -> None:
        """Power the charge point off first (the Central System then closes at once), then everything."""
        self.power_cut()
        await self.off.wait()
        self.nursery.cancel_scope.cancel()

    async def update(self, location: str, **fields: Any) -> None:
        """UpdateFirmware now; its answer has no fields (6.56)."""
        request = UpdateFirmwareRequest(location=location, retrieve_date=datetime.now(UTC), **fields)
        assert await self.csms.call("CP-1", request) == UpdateFirmwareResponse()
