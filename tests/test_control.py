"""The control API of a running fleet, end to end: an HTTP client on trio against hypercorn on loopback, the
fleet's charge points against the embedded Central System over in-memory streams."""

import functools
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio.testing

from actors.connection import CsmsAddress
from fleet.cli import main
from fleet.commands import run_fleet
from fleet.control import EVENTS, check_control_host, parse_control_address, serve_control
from fleet.csms import CentralSystem, Record
from fleet.fleetfile import parse_fleet_file
from fleet.runner import Fleet
from fleet.scenario import ScenarioKind
from storage import MemoryStorage

FLEET = """
csms_url = "ws://csms.test/ocpp"

[[charge_points]]
id = "CP-{n}"
count = 2
connectors = 2
"""
WITHIN = 10.0
"""Seconds a test waits for a condition before it fails."""
POLL_INTERVAL = 0.01
LOOPBACK = ("127.0.0.1", 0)


@attrs.define
class Harness:
    """A running fleet with its control API, the Central System it talks to and an HTTP client."""

    fleet: Fleet
    central_system: CentralSystem
    storage: MemoryStorage
    client: httpx.AsyncClient

    async def received(self, predicate: Callable[[Record], bool]) -> Record:
        with trio.fail_after(WITHIN):
            return await self.central_system.wait_for(predicate)

    async def all_up(self, *ids: str) -> None:
        """Until each charge point (all of the fleet by default) reported its last connector's status."""
        for charge_point in ids or [cp.settings.charge_point_id for cp in self.fleet.charge_points]:
            last = len(self.fleet.hardware[charge_point])
            await self.received(status(charge_point, last, "Available"))

    async def event(self, charge_point: str, connector: int | None = None, **body: Any) -> httpx.Response:
        where = "" if connector is None else f"/connectors/{connector}"
        return await self.client.post(f"/charge-points/{charge_point}{where}/events", json=body)

    async def details(self, charge_point: str) -> dict[str, Any]:
        response = await self.client.get(f"/charge-points/{charge_point}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


def call(charge_point: str, action: str, since: float = 0.0) -> Callable[[Record], bool]:
    return lambda record: (
        (record.charge_point_id, record.direction, record.kind, record.action)
        == (charge_point, "in", "CALL", action)
        and record.time >= since
    )


def status(charge_point: str, connector: int, value: str, since: float = 0.0) -> Callable[[Record], bool]:
    return lambda record: (
        call(charge_point, "StatusNotification", since)(record)
        and record.payload["connectorId"] == connector
        and record.payload["status"] == value
    )


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Until ``condition()`` holds. It polls: the states it waits for (the charge point's, after an answer
    of the Central System) send the test no event."""
    with trio.fail_after(WITHIN):
        while True:
            if await condition():
                return
            await trio.sleep(POLL_INTERVAL)


def in_memory_dialer(nursery: trio.Nursery, central_system: CentralSystem) -> Any:
    async def dial(address: CsmsAddress) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        nursery.start_soon(central_system.serve_stream, server)
        return client

    return dial


@pytest.fixture
async def harness(nursery: trio.Nursery) -> AsyncIterator[Harness]:
    fleet_file = parse_fleet_file(FLEET, "fleet.toml", Path("/fleets"))
    central_system = CentralSystem()
    storage = MemoryStorage()
    fleet = Fleet(
        fleet_file.charge_points(), storage=storage, dialer=in_memory_dialer(nursery, central_system)
    )
    nursery.start_soon(functools.partial(fleet.run, ramp=0))
    url = await nursery.start(serve_control, fleet, fleet_file, LOOPBACK)
    assert url.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient(base_url=url) as client:
        yield Harness(fleet, central_system, storage, client)


def idle(connector: int) -> dict[str, Any]:
    return {"connector_id": connector, "status": "Available", "transaction_id": None}


async def test_the_list_and_the_details_of_charge_points(harness: Harness) -> None:
    await harness.all_up()
    response = await harness.client.get("/charge-points")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "charge_points": [
            {
                "id": charge_point,
                "connected": True,
                "registration": "Accepted",
                "accepted": True,
                "connectors": [idle(1), idle(2)],
            }
            for charge_point in ("CP-1", "CP-2")
        ]
    }
    assert await harness.details("CP-2") == {
        "id": "CP-2",
        "connected": True,
        "registration": "Accepted",
        "accepted": True,
        "connectors": [idle(n) | {"id_tag": None, "plugged": False} for n in (1, 2)],
        "status": "Available",
        "boots": 1,
        "network": "up",
        "csms_url": "ws://csms.test/ocpp",
        "vendor": "ocpp-fleet",
        "model": "Simulated",
        "serial": None,
        "firmware": None,
    }


async def test_a_charging_session_driven_through_connector_events(harness: Harness) -> None:
    await harness.all_up()
    since = trio.current_time()
    response = await harness.event("CP-1", 1, event="plug_in")
    assert (response.status_code, response.json()) == (
        202,
        {"charge_point": "CP-1", "connector": 1, "event": "plug_in"},
    )
    await harness.received(status("CP-1", 1, "Preparing", since))

    response = await harness.event("CP-1", 1, event="present_id_tag", id_tag="TAG-1")
    assert (response.status_code, response.json()["id_tag"]) == (202, "TAG-1")
    start = await harness.received(call("CP-1", "StartTransaction", since))
    assert (start.payload["connectorId"], start.payload["idTag"]) == (1, "TAG-1")
    answer = await harness.received(
        lambda record: record.unique_id == start.unique_id and record.kind == "CALLRESULT"
    )
    transaction_id = answer.payload["transactionId"]

    async def transaction_shown() -> bool:
        return bool((await harness.details("CP-1"))["connectors"][0]["transaction_id"] == transaction_id)

    await until(transaction_shown)
    connector = (await harness.details("CP-1"))["connectors"][0]
    assert connector == {
        "connector_id": 1,
        "status": "Charging",
        "transaction_id": transaction_id,
        "id_tag": "TAG-1",
        "plugged": True,
    }

    for event, reported in (("ev_suspend", "SuspendedEV"), ("ev_resume", "Charging")):
        since = trio.current_time()
        assert (await harness.event("CP-1", 1, event=event)).status_code == 202
        await harness.received(status("CP-1", 1, reported, since))

    since = trio.current_time()
    assert (await harness.event("CP-1", 1, event="ev_unplug")).status_code == 202
    stop = await harness.received(call("CP-1", "StopTransaction", since))
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (transaction_id, "EVDisconnected")
    await harness.received(status("CP-1", 1, "Finishing", since))
    since = trio.current_time()
    assert (await harness.event("CP-1", 1, event="unplug")).status_code == 202
    await harness.received(status("CP-1", 1, "Available", since))


async def test_a_fault_and_its_clearing(harness: Harness) -> None:
    await harness.all_up()
    since = trio.current_time()
    response = await harness.event("CP-2", 2, event="fault", error_code="GroundFailure", info="water")
    assert response.status_code == 202
    assert response.json() == {
        "charge_point": "CP-2",
        "connector": 2,
        "event": "fault",
        "error_code": "GroundFailure",
        "info": "water",
    }
    faulted = await harness.received(status("CP-2", 2, "Faulted", since))
    assert (faulted.payload["errorCode"], faulted.payload["info"]) == ("GroundFailure", "water")
    since = trio.current_time()
    assert (await harness.event("CP-2", 2, event="clear_fault")).status_code == 202
    await harness.received(status("CP-2", 2, "Available", since))


async def test_network_power_and_reboot_events_of_a_charge_point(harness: Harness) -> None:
    await harness.all_up()
    response = await harness.event("CP-2", event="network_down")
    assert (response.status_code, response.json()) == (
        202,
        {"charge_point": "CP-2", "connector": None, "event": "network_down"},
    )
    assert (await harness.details("CP-2"))["network"] == "down"
    assert harness.fleet.networks["CP-1"].down is False
    assert (await harness.event("CP-2", event="network_up")).status_code == 202
    assert (await harness.details("CP-2"))["network"] == "up"

    for event in ("power_loss", "reboot"):
        since = trio.current_time()
        assert (await harness.event("CP-2", event=event)).status_code == 202
        await harness.received(call("CP-2", "BootNotification", since))
        await harness.received(status("CP-2", 2, "Available", since))
    assert harness.fleet.power_cuts == 1
    assert (await harness.details("CP-2"))["boots"] == 3
    assert (await harness.details("CP-1"))["boots"] == 1


async def test_charge_points_added_and_removed_at_run_time(harness: Harness) -> None:
    await harness.all_up()
    group = {"id": "NEW-{n}", "count": 2, "model": "AC11", "configuration": {"MeterValueSampleInterval": 120}}
    response = await harness.client.post("/charge-points", json=group)
    assert response.status_code == 201
    assert [added["id"] for added in response.json()["charge_points"]] == ["NEW-1", "NEW-2"]
    boot = await harness.received(call("NEW-2", "BootNotification"))
    assert boot.payload["chargePointModel"] == "AC11"
    await harness.all_up("NEW-1", "NEW-2")
    listed = (await harness.client.get("/charge-points")).json()["charge_points"]
    assert [charge_point["id"] for charge_point in listed] == ["CP-1", "CP-2", "NEW-1", "NEW-2"]
    assert (await harness.details("NEW-1"))["connected"] is True

    # a transaction is running when NEW-1 is removed: its state keeps it, and it ends when NEW-1 comes back
    assert (await harness.event("NEW-1", 1, event="plug_in")).status_code == 202
    assert (await harness.event("NEW-1", 1, event="present_id_tag", id_tag="TAG-9")).status_code == 202
    start = await harness.received(call("NEW-1", "StartTransaction"))
    await harness.received(lambda record: record.unique_id == start.unique_id and record.kind == "CALLRESULT")
    response = await harness.client.delete("/charge-points/NEW-1")
    assert (response.status_code, response.content) == (204, b"")
    assert (await harness.client.get("/charge-points/NEW-1")).status_code == 404
    listed = (await harness.client.get("/charge-points")).json()["charge_points"]
    assert [charge_point["id"] for charge_point in listed] == ["CP-1", "CP-2", "NEW-2"]
    assert harness.fleet.counts().charge_points == harness.fleet.counts().started == 3

    async def disconnected() -> bool:
        await trio.lowlevel.checkpoint()
        return "NEW-1" not in harness.central_system.connected

    await until(disconnected)
    kept = harness.storage.charge_point("NEW-1")
    assert list(await kept.load_transactions()) == [1]
    assert (await kept.load_configuration())["MeterValueSampleInterval"] == "120"

    since = trio.current_time()
    response = await harness.client.post("/charge-points", json=group | {"count": 1})
    assert response.status_code == 201
    stop = await harness.received(call("NEW-1", "StopTransaction", since))
    assert stop.payload["reason"] == "PowerLoss"


async def test_adding_checks_the_group_as_the_fleet_file_does(harness: Harness) -> None:
    cases = [
        ({"id": "cp-{n}", "count": 3}, 409, "id", "cp-1 is in the fleet already as CP-1 (ids are unique"),
        ({"id": "X-{n}", "count": 0}, 400, "count", "must be a positive integer, got 0"),
        ({"count": 2}, 400, "id", "missing"),
        ({"id": "X-{n}", "colour": "red"}, 400, "colour", "unknown key"),
        (
            {"id": "X-{n}", "configuration": {"HeartbeatIntervall": 30}},
            400,
            "configuration.HeartbeatIntervall",
            "did you mean HeartbeatInterval?",
        ),
        ({"id": "X/{n}"}, 400, "id", "without spaces or"),
    ]
    for body, code, where, message in cases:
        response = await harness.client.post("/charge-points", json=body)
        assert response.status_code == code, body
        assert response.json()["where"] == where, body
        assert message in response.json()["error"], body
    assert len(harness.fleet.charge_points) == 2


async def test_errors_are_json_with_their_status(harness: Harness) -> None:
    await harness.all_up()
    client = harness.client

    async def error(response: Awaitable[httpx.Response]) -> tuple[int, str]:
        answer = await response
        assert answer.headers["content-type"] == "application/json"
        return answer.status_code, answer.json()["error"]

    assert await error(client.get("/charge-points/CP-9")) == (404, 'no charge point "CP-9" in the fleet')
    assert (await error(client.delete("/charge-points/CP-9")))[0] == 404
    assert (await error(harness.event("CP-9", event="reboot")))[0] == 404
    assert await error(harness.event("CP-1", 3, event="plug_in")) == (
        404,
        "no connector 3 at CP-1: it has connectors 1 to 2",
    )
    assert (await error(harness.event("CP-1", 0, event="plug_in")))[0] == 404
    assert (await error(client.get("/nothing-here")))[0] == 404
    assert await error(client.put("/charge-points/CP-1")) == (
        405,
        "PUT is not allowed on /charge-points/CP-1; allowed: GET, HEAD, DELETE",
    )

    status_code, message = await error(harness.event("CP-1", 1, event="dance"))
    assert (status_code, message.split(";")[0]) == (400, 'unknown event "dance"')
    assert (await error(harness.event("CP-1", 1, event=["plug_in"])))[0] == 400
    for kind in set(ScenarioKind) - set(EVENTS):  # events of fleet files that need more than a fleet
        assert (await error(harness.event("CP-1", event=kind.value)))[1].startswith(
            f"{kind} is for fleet files only; the control API plays plug_in, unplug,"
        )
    response = await harness.event("CP-1", 1, event="present_id_tag")
    assert response.status_code == 400
    assert response.json() == {"error": "present_id_tag needs the idTag presented", "where": "id_tag"}
    response = await harness.event("CP-1", 1, event="fault", error_code="Smoke")
    assert (response.status_code, response.json()["where"]) == (400, "error_code")
    assert await error(harness.event("CP-1", event="plug_in")) == (
        400,
        "plug_in happens at a connector: POST it to /charge-points/CP-1/connectors/<n>/events",
    )
    assert await error(harness.event("CP-1", 1, event="reboot")) == (
        400,
        "reboot happens to the whole charge point: POST it to /charge-points/CP-1/events",
    )
    response = await harness.event("CP-1", 1, event="plug_in", at=30)
    assert (response.status_code, response.json()["where"]) == (400, "at")
    assert (await error(client.post("/charge-points/CP-1/events", json=["reboot"])))[0] == 400
    bad_json = client.post(
        "/charge-points/CP-1/events", content=b"{", headers={"content-type": "application/json"}
    )
    assert (await error(bad_json))[1].startswith("the body is not JSON")
    as_text = client.post(
        "/charge-points/CP-1/events", content=b'{"event": "reboot"}', headers={"content-type": "text/plain"}
    )
    assert (await error(as_text))[0] == 415

    assert (await harness.event("CP-2", 1, event="plug_in")).status_code == 202
    assert await error(harness.event("CP-2", 1, event="plug_in")) == (
        409,
        "an EV is plugged in at connector 1 of CP-2 already",
    )
    assert await error(harness.event("CP-2", 2, event="ev_suspend")) == (
        409,
        "no EV is plugged in at connector 2 of CP-2",
    )

    foreign = client.get("/charge-points", headers={"host": "rebound.example:8080"})
    assert await error(foreign) == (
        403,
        'Host "rebound.example:8080" is not a loopback name; this control API is local only',
    )
    assert (await client.get("/charge-points", headers={"host": "localhost"})).status_code == 200


async def test_events_for_a_connector_that_takes_none_are_a_conflict(nursery: trio.Nursery) -> None:
    fleet_file = parse_fleet_file(FLEET, "fleet.toml", Path("/fleets"))
    fleet = Fleet(fleet_file.charge_points(), storage=MemoryStorage())  # not running: nothing takes events
    url = await nursery.start(serve_control, fleet, fleet_file, LOOPBACK)
    async with httpx.AsyncClient(base_url=url) as client:
        codes = [
            (await client.post("/charge-points/CP-1/connectors/1/events", json={"event": "clear_fault"}))
            for _ in range(65)
        ]
    assert [response.status_code for response in codes] == [202] * 64 + [409]
    assert "too many events waiting" in codes[-1].json()["error"]


def test_control_addresses() -> None:
    assert parse_control_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_control_address("[::1]:8080") == ("::1", 8080)
    assert parse_control_address("localhost:0") == ("localhost", 0)
    assert parse_control_address("8080") == ("127.0.0.1", 8080)
    for bad in ("127.0.0.1:", "127.0.0.1:http", ":8080", "::1:8080", "[localhost]:80", "host:70000"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            parse_control_address(bad)
    for loopback in ("127.0.0.1", "127.1.2.3", "::1", "localhost", "LocalHost"):
        check_control_host(loopback, public=False)
    for other in ("0.0.0.0", "192.0.2.7", "::", "example.com"):
        with pytest.raises(ValueError, match="not a loopback address"):
            check_control_host(other, public=False)
        check_control_host(other, public=True)


async def test_a_bind_that_is_not_loopback_is_refused() -> None:
    fleet_file = parse_fleet_file(FLEET, "fleet.toml", Path("/fleets"))
    fleet = Fleet(fleet_file.charge_points(), storage=MemoryStorage())
    with pytest.raises(ValueError, match=re.escape("0.0.0.0 is not a loopback address")):
        await serve_control(fleet, fleet_file, ("0.0.0.0", 8080))
    with pytest.raises(ValueError, match=re.escape("192.0.2.7 is not a loopback address")):
        await run_fleet(fleet_file, sys.stdout, storage=MemoryStorage(), control=("192.0.2.7", 8080))


def test_the_command_line_refuses_a_public_bind_and_a_bad_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text(FLEET)
    assert main(["run", str(fleet_file), "--control", "0.0.0.0:8080"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("ocpp-fleet: 0.0.0.0 is not a loopback address")
    assert "--control-public" in error
    with pytest.raises(SystemExit) as exited:
        main(["run", str(fleet_file), "--control", "127.0.0.1:http"])
    assert exited.value.code == 2
    assert "argument --control: '127.0.0.1:http': the port must be a number" in capsys.readouterr().err
    assert not (tmp_path / "fleet.db").exists()


async def test_ocpp_fleet_run_serves_the_api_and_stops_at_sigterm(tmp_path: Path) -> None:
    central_system = CentralSystem()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(central_system.serve, "127.0.0.1", 0)
        fleet_file = tmp_path / "fleet.toml"
        fleet_file.write_text(FLEET.replace("ws://csms.test/ocpp", f"ws://127.0.0.1:{port}/ocpp"))
        command = [sys.executable, "-m", "fleet", "run", str(fleet_file), "--control", "127.0.0.1:0"]
        process = await trio.lowlevel.open_process(
            [*command, "--ramp", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert process.stdout is not None
        output = b""
        try:
            with trio.fail_after(30):
                while b"control API on " not in output or not output.endswith(b"\n"):
                    chunk = await process.stdout.receive_some()
                    assert chunk, output.decode()
                    output += chunk
                url = output.decode().split("control API on ")[1].split()[0]
                for charge_point in ("CP-1", "CP-2"):
                    await central_system.wait_for(status(charge_point, 2, "Available"))
            async with httpx.AsyncClient(base_url=url) as client:
                listed = (await client.get("/charge-points")).json()["charge_points"]
            assert [(cp["id"], cp["accepted"]) for cp in listed] == [("CP-1", True), ("CP-2", True)]
            process.send_signal(signal.SIGTERM)
            with trio.fail_after(5):
                await process.wait()
            assert process.returncode == 0
            async with httpx.AsyncClient(base_url=url) as client:
                with pytest.raises(httpx.ConnectError):
                    await client.get("/charge-points")
        finally:
            if process.returncode is None:
                process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
        nursery.cancel_scope.cancel()
