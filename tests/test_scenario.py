"""Scenario events of a fleet file, played on a fleet in virtual time against the embedded Central System."""

import functools
from pathlib import Path

import pytest
import trio
import trio.testing

from actors.connection import CsmsAddress
from actors.ocpp import (
    RemoteStartStopStatus,
    RemoteStartTransactionRequest,
    RemoteStartTransactionResponse,
    RemoteStopTransactionRequest,
    RemoteStopTransactionResponse,
)
from fleet.csms import CentralSystem, Record
from fleet.fleetfile import FleetFileError, parse_fleet_file
from fleet.runner import Fleet
from storage import MemoryStorage

FLEET = """
csms_url = "ws://csms.test/ocpp"

[[charge_points]]
id = "CP-{n}"
count = 2
connectors = 2
[charge_points.configuration]
HeartbeatInterval = 600
WebSocketPingInterval = 30

[[scenario]]
at = 10
charge_point = "CP-1"
connector = 1
event = "plug_in"

[[scenario]]
at = 15
charge_point = "CP-1"
connector = 1
event = "present_id_tag"
id_tag = "TAG-1"

[[scenario]]
at = 100
charge_point = "CP-2"
event = "network_down"

[[scenario]]
at = 400
charge_point = "CP-2"
event = "network_up"

[[scenario]]
at = 1000
charge_point = "*"
connector = 2
event = "fault"
error_code = "GroundFailure"

[[scenario]]
at = 2000
charge_point = "CP-1"
event = "power_loss"
"""


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_fleet_file(text, "fleet.toml", Path("/fleets"))


def calls(records: list[Record], charge_point_id: str, action: str) -> list[Record]:
    return [
        record
        for record in records
        if (record.charge_point_id, record.direction, record.kind, record.action)
        == (charge_point_id, "in", "CALL", action)
    ]


async def test_a_scenario_plays_on_the_fleet(autojump_clock: trio.testing.MockClock) -> None:
    fleet_file = parse(FLEET)
    central_system = CentralSystem(heartbeat_interval=600)
    async with trio.open_nursery() as nursery:

        async def dial(address: CsmsAddress) -> trio.abc.Stream:
            client, server = trio.testing.memory_stream_pair()
            nursery.start_soon(central_system.serve_stream, server)
            return client

        fleet = Fleet(fleet_file.charge_points(), storage=MemoryStorage(), dialer=dial)
        start = trio.current_time()
        nursery.start_soon(functools.partial(fleet.run, ramp=0))
        nursery.start_soon(fleet.play, fleet_file.scenario)
        await trio.sleep(2500)
        nursery.cancel_scope.cancel()
    records = list(central_system.records)

    (start_transaction,) = calls(records, "CP-1", "StartTransaction")
    assert start_transaction.time == pytest.approx(start + 15)
    assert start_transaction.payload["idTag"] == "TAG-1"

    boots_2 = calls(records, "CP-2", "BootNotification")
    assert len(boots_2) == 1, "a network outage is not a reboot"
    silent = [
        record for record in records if record.charge_point_id == "CP-2" and 100 < record.time - start < 400
    ]
    assert silent == [], "nothing crosses a network that is down"
    assert any(record.time - start > 400 for record in records if record.charge_point_id == "CP-2")

    faults = {
        (record.charge_point_id, record.payload["connectorId"], record.payload["errorCode"])
        for record in records
        if record.action == "StatusNotification"
        and record.kind == "CALL"
        and record.payload["status"] == "Faulted"
    }
    assert faults == {("CP-1", 2, "GroundFailure"), ("CP-2", 2, "GroundFailure")}

    boots_1 = calls(records, "CP-1", "BootNotification")
    assert [round(record.time - start) for record in boots_1] == [0, 2000], "a power loss reboots"


KNOWN_EVENTS = (
    "plug_in, unplug, present_id_tag, ev_unplug, ev_suspend, ev_resume, fault, clear_fault, "
    "network_down, network_up, power_loss, reboot, csms_call"
)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            'at = 1\ncharge_point = "CP-9"\nevent = "power_loss"',
            'scenario[0].charge_point: no charge point "CP-9" in this fleet',
        ),
        (
            'at = 1\ncharge_point = "CP-1"\nevent = "explode"',
            f'scenario[0].event: unknown event "explode"; known: {KNOWN_EVENTS}',
        ),
        (
            'at = 1\ncharge_point = "CP-1"\nevent = "plug_in"',
            "scenario[0].connector: plug_in needs a connector number from 1, got nothing",
        ),
        (
            'at = 1\ncharge_point = "CP-1"\nconnector = 3\nevent = "plug_in"',
            "scenario[0].connector: connector 3 does not exist on every target",
        ),
        (
            'at = 1\ncharge_point = "CP-1"\nconnector = 1\nevent = "present_id_tag"',
            "scenario[0].id_tag: present_id_tag needs the idTag presented",
        ),
        (
            'at = -1\ncharge_point = "CP-1"\nevent = "reboot"',
            "scenario[0].at: must be seconds after the start, 0 or more, got -1",
        ),
        (
            'at = 1\ncharge_point = "CP-1"\nconnector = 1\nevent = "reboot"',
            "scenario[0].connector: reboot happens to the whole charge point: no connector",
        ),
    ],
)
def test_scenario_mistakes_are_one_line(entry: str, message: str) -> None:
    text = (
        'csms_url = "ws://csms.test/ocpp"\n[[charge_points]]\nid = "CP-{n}"\nconnectors = 2\n'
        + f"[[scenario]]\n{entry}\n"
    )
    with pytest.raises(FleetFileError) as raised:
        parse(text)
    assert str(raised.value) == f"fleet.toml: {message}"


async def test_a_remote_start_brings_a_simulated_ev_that_leaves_after_the_remote_stop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fleet_file = parse(
        'csms_url = "ws://csms.test/ocpp"\n[[charge_points]]\nid = "CP-{n}"\nremote_start_delay = 20\n'
    )
    central_system = CentralSystem()
    async with trio.open_nursery() as nursery:

        async def dial(address: CsmsAddress) -> trio.abc.Stream:
            client, server = trio.testing.memory_stream_pair()
            nursery.start_soon(central_system.serve_stream, server)
            return client

        fleet = Fleet(fleet_file.charge_points(), storage=MemoryStorage(), dialer=dial)
        nursery.start_soon(functools.partial(fleet.run, ramp=0))
        await central_system.wait_for(lambda record: record.action == "StatusNotification")
        start = trio.current_time()
        answer = await central_system.call(
            "CP-1", RemoteStartTransactionRequest(id_tag="APP", connector_id=1)
        )
        assert answer == RemoteStartTransactionResponse(status=RemoteStartStopStatus.ACCEPTED)
        started = await central_system.wait_for(lambda record: record.action == "StartTransaction")
        assert started.time - start == pytest.approx(20, abs=0.1), "the EV arrives remote_start_delay later"
        await trio.sleep(600)
        stop = await central_system.call("CP-1", RemoteStopTransactionRequest(transaction_id=1))
        assert stop == RemoteStopTransactionResponse(status=RemoteStartStopStatus.ACCEPTED)
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    statuses = [
        record.payload["status"]
        for record in central_system.records
        if record.action == "StatusNotification"
        and record.kind == "CALL"
        and record.payload["connectorId"] == 1
    ]
    assert statuses == ["Available", "Preparing", "Charging", "Finishing", "Available"]
