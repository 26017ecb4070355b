"""Interop: our ChargePoint against an independent Central System (the PyPI package ``ocpp`` over
``websockets``, see ``interop_csms.py``), over real loopback sockets in real time.

The other side validates every message of ours against the official OCPP 1.6 JSON schemas; what it receives,
what our charge point answers to its calls, and any error it met arrive as JSON lines on its stdout.
"""

import json
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import trio

from actors.charge_point import ChargePoint, ChargePointSettings
from actors.firmware import FirmwareInstaller
from fleet.firmware import SimulatedFirmware
from fleet.simulated import SimulatedConnector
from storage.memory import MemoryChargePointState

CSMS_SCRIPT = Path(__file__).with_name("interop_csms.py")
GUARD = 30.0
"""Seconds the whole exchange may take at most; each script takes a few on an idle machine."""

REQUIRED_CORE_KEYS = [
    "AuthorizeRemoteTxRequests",
    "ClockAlignedDataInterval",
    "ConnectionTimeout",
    "ConnectorPhaseRotation",
    "GetConfigurationMaxKeys",
    "HeartbeatInterval",
    "LocalAuthorizeOffline",
    "LocalPreAuthorize",
    "MeterValuesAlignedData",
    "MeterValuesSampledData",
    "MeterValueSampleInterval",
    "NumberOfConnectors",
    "ResetRetries",
    "StopTransactionOnEVSideDisconnect",
    "StopTransactionOnInvalidId",
    "StopTxnAlignedData",
    "StopTxnSampledData",
    "SupportedFeatureProfiles",
    "TransactionMessageAttempts",
    "TransactionMessageRetryInterval",
    "UnlockConnectorOnEVSideDisconnect",
]
"""The keys chapter 9.1 marks "required"."""

BOOT_PAYLOAD = {
    "charge_point_vendor": "Acme",
    "charge_point_model": "AC22",
    "charge_point_serial_number": "SN-INTEROP-1",
    "firmware_version": "1.2.3",
}


class Lines:
    """The lines of a byte stream."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def next(self) -> str | None:
        """The next line without its newline; ``None`` at the end of the stream."""
        while b"\n" not in self._buffer:
            chunk = await self._stream.receive_some()
            if not chunk:
                return None
            self._buffer += chunk
        line, _, rest = self._buffer.partition(b"\n")
        self._buffer = bytearray(rest)
        return line.decode()


EventHook = Callable[[dict[str, Any], list[SimulatedConnector]], None]
"""Called with each event of the Central System as it arrives, and the connectors' hardware."""


def settings(port: int, configuration: Mapping[str, str] | None = None) -> ChargePointSettings:
    return ChargePointSettings(
        "CP-INTEROP-1",
        f"ws://127.0.0.1:{port}/ocpp",
        vendor="Acme",
        model="AC22",
        serial_number="SN-INTEROP-1",
        firmware_version="1.2.3",
        connectors=2,
        configuration=dict(configuration or {}),
        answer_timeout=5.0,
    )


async def run_against_independent_csms(
    script: str,
    *,
    configuration: Mapping[str, str] | None = None,
    on_event: EventHook | None = None,
    firmware: FirmwareInstaller | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Run the Central System's ``script`` against our charge point; its events and its exit code.

    The charge point (2 simulated connectors, ``configuration`` at first boot) runs until the Central System
    prints "done"; then it loses power and the Central System exits. ``on_event`` sees each event as it
    arrives, to act on the hardware; ``firmware`` installs firmware. Whatever happens, the subprocess is
    ended and waited for before this returns or raises.
    """
    command = [sys.executable, str(CSMS_SCRIPT), "--port", "0", "--script", script, "--timeout", str(GUARD)]
    events: list[dict[str, Any]] = []
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            # cancelled (guard, failure), run_process terminates the Central System and waits for it
            process: trio.Process = await nursery.start(
                partial(trio.run_process, command, stdout=subprocess.PIPE, check=False)
            )
            assert process.stdout is not None
            async with process.stdout:
                lines = Lines(process.stdout)
                port = await lines.next()
                assert port is not None, "the Central System exited before it listened"
                plugs = [SimulatedConnector(), SimulatedConnector()]
                charge_point = ChargePoint(
                    settings(int(port), configuration),
                    MemoryChargePointState(),
                    hardware=plugs,
                    firmware=firmware,
                )
                async with trio.open_nursery() as charge_point_nursery:
                    charge_point_nursery.start_soon(charge_point.run)
                    while (line := await lines.next()) is not None:
                        events.append(json.loads(line))
                        if on_event is not None:
                            on_event(events[-1], plugs)
                        if events[-1]["event"] == "done":
                            break
                    charge_point_nursery.cancel_scope.cancel()  # power cut
                while (line := await lines.next()) is not None:  # until the Central System exits
                    events.append(json.loads(line))
    return events, process.returncode


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["event"] == kind]


def payloads(events: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    """The payloads of the charge point's CALLs of ``action``, in order."""
    return [event["payload"] for event in of(events, "call") if event["action"] == action]


def timestamp(text: str) -> datetime:
    """An OCPP dateTime, which must carry its offset."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment


async def test_core_profile_against_the_ocpp_package_central_system() -> None:
    events, returncode = await run_against_independent_csms("core")

    assert of(events, "error") == []  # every message of ours passed the official schemas
    assert of(events, "done") == [{"event": "done"}]
    assert returncode == 0

    connections = of(events, "connected")
    assert len(connections) == 2  # the Reset is a reboot: a new connection
    for connected in connections:
        assert connected == {"event": "connected", "path": "/ocpp/CP-INTEROP-1", "subprotocol": "ocpp1.6"}

    calls = [(event["action"], event["payload"]) for event in of(events, "call")]
    assert calls[0] == ("BootNotification", BOOT_PAYLOAD)
    for connector_id, (action, payload) in zip((0, 1, 2), calls[1:4], strict=True):
        assert action == "StatusNotification"
        assert payload.keys() == {"connector_id", "error_code", "status", "timestamp"}
        assert (payload["connector_id"], payload["error_code"], payload["status"]) == (
            connector_id,
            "NoError",
            "Available",
        )
    assert calls[4] == ("Heartbeat", {})
    second_boot = calls.index(("BootNotification", BOOT_PAYLOAD), 1)
    assert {action for action, _ in calls[4:second_boot]} == {"Heartbeat"}  # nothing else in between

    answers = [(event["action"], event["request"], event["response"]) for event in of(events, "answer")]
    assert [action for action, _, _ in answers] == [
        "GetConfiguration",
        "GetConfiguration",
        "ChangeConfiguration",
        "ChangeConfiguration",
        "ChangeConfiguration",
        "DataTransfer",
        "Reset",
    ]
    everything, some, sample_interval, connectors, unknown, data_transfer, reset = (
        response for _, _, response in answers
    )

    assert everything["unknown_key"] is None
    keys = {entry["key"]: entry for entry in everything["configuration_key"]}
    assert len(keys) == len(everything["configuration_key"])  # each key once
    assert set(REQUIRED_CORE_KEYS) <= keys.keys()
    assert keys["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True, "value": "2"}
    assert keys["HeartbeatInterval"] == {"key": "HeartbeatInterval", "readonly": False, "value": "1"}

    assert some == {
        "configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "1"}],
        "unknown_key": ["NoSuchKey"],
    }
    assert sample_interval == {"status": "Accepted"}
    assert connectors == {"status": "Rejected"}
    assert unknown == {"status": "NotSupported"}
    assert data_transfer == {"status": "UnknownVendorId", "data": None}
    assert reset == {"status": "Accepted"}

    # the soft reset closed the connection politely after its answer; the charge point then booted again
    kinds = [(event["event"], event.get("action")) for event in events]
    reset = kinds.index(("answer", "Reset"))
    closed = kinds.index(("disconnected", None))
    reconnected = kinds.index(("connected", None), closed)
    rebooted = kinds.index(("call", "BootNotification"), reconnected)
    assert max(reset, closed) < reconnected < rebooted
    assert events[closed]["code"] == 1000


class PlugInAfterBootStatuses:
    """Plugs an EV in at connector 1 once the boot StatusNotifications of connectors 0..2 have arrived."""

    def __init__(self) -> None:
        self.reported: set[int] = set()
        self.plugged = False

    def __call__(self, event: dict[str, Any], plugs: list[SimulatedConnector]) -> None:
        if self.plugged or (event["event"], event.get("action")) != ("call", "StatusNotification"):
            return
        self.reported.add(event["payload"]["connector_id"])
        if self.reported >= {0, 1, 2}:
            plugs[0].plug_in()
            self.plugged = True


def energy_register_wh(meter_values: list[dict[str, Any]]) -> list[float]:
    """The Energy.Active.Import.Register readings of MeterValues payloads in order, in Wh (spec 7.31, 7.45:
    the measurand defaults to it, the unit to Wh)."""
    readings = []
    for payload in meter_values:
        for meter_value in payload["meter_value"]:
            for sampled in meter_value["sampled_value"]:
                if (
                    sampled.get("measurand", "Energy.Active.Import.Register")
                    != "Energy.Active.Import.Register"
                ):
                    continue
                assert sampled.get("phase") is None, sampled
                scale = {"Wh": 1.0, "kWh": 1000.0}[sampled.get("unit", "Wh")]
                readings.append(float(sampled["value"]) * scale)
    return readings


async def test_charging_session_and_connector_requests_against_the_ocpp_package_central_system() -> None:
    plug_in = PlugInAfterBootStatuses()
    events, returncode = await run_against_independent_csms(
        "session", configuration={"MeterValueSampleInterval": "1"}, on_event=plug_in
    )

    assert of(events, "error") == []  # every message of ours passed the official schemas
    assert of(events, "done") == [{"event": "done"}]
    assert returncode == 0
    assert plug_in.plugged
    assert len(of(events, "connected")) == 1

    calls = [(event["action"], event["payload"]) for event in of(events, "call")]
    assert calls[0] == ("BootNotification", BOOT_PAYLOAD)
    assert [(action, payload["connector_id"], payload["status"]) for action, payload in calls[1:4]] == [
        ("StatusNotification", connector_id, "Available") for connector_id in (0, 1, 2)
    ]
    assert "Authorize" not in {action for action, _ in calls}  # AuthorizeRemoteTxRequests is false (5.11)

    # the answers to the Central System's requests (5.2, 5.11, 5.12, 5.18)
    answers = [(event["action"], event["request"], event["response"]) for event in of(events, "answer")]
    assert answers == [
        (
            "RemoteStartTransaction",
            {"id_tag": "REMOTE-1", "connector_id": 1, "charging_profile": None},
            {"status": "Accepted"},
        ),
        ("RemoteStopTransaction", {"transaction_id": 4711}, {"status": "Accepted"}),
        ("RemoteStopTransaction", {"transaction_id": 9999}, {"status": "Rejected"}),
        ("UnlockConnector", {"connector_id": 1}, {"status": "Unlocked"}),
        ("UnlockConnector", {"connector_id": 7}, {"status": "NotSupported"}),
        ("ChangeAvailability", {"connector_id": 2, "type": "Inoperative"}, {"status": "Accepted"}),
        ("ChangeAvailability", {"connector_id": 2, "type": "Operative"}, {"status": "Accepted"}),
        (
            "RemoteStartTransaction",
            {"id_tag": "REMOTE-1", "connector_id": 0, "charging_profile": None},
            {"status": "Rejected"},
        ),
    ]

    # the transaction (4.8, 4.7, 4.10): started with the remote idTag, metered, stopped remotely
    (start,) = payloads(events, "StartTransaction")
    assert start.keys() == {"connector_id", "id_tag", "meter_start", "timestamp"}
    assert (start["connector_id"], start["id_tag"], start["meter_start"]) == (1, "REMOTE-1", 0)
    started = timestamp(start["timestamp"])

    meter_values = payloads(events, "MeterValues")
    assert len(meter_values) >= 2
    for payload in meter_values:
        assert (payload["connector_id"], payload["transaction_id"]) == (1, 4711)  # the Central System's id
        for meter_value in payload["meter_value"]:
            assert timestamp(meter_value["timestamp"]) >= started
    readings = energy_register_wh(meter_values)
    assert len(readings) >= 2
    assert readings == sorted(readings), "the energy register never decreases"

    (stop,) = payloads(events, "StopTransaction")
    assert (stop["transaction_id"], stop["reason"]) == (4711, "Remote")
    assert "id_tag" not in stop  # nobody presented an idTag to stop it
    assert stop["meter_stop"] >= start["meter_start"]
    assert start["meter_start"] <= readings[0]
    assert readings[-1] <= stop["meter_stop"]
    assert timestamp(stop["timestamp"]) >= started

    # the status of each connector after the boot statuses (4.9)
    statuses: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for payload in payloads(events, "StatusNotification")[3:]:
        assert payload["error_code"] == "NoError"
        statuses[payload["connector_id"]].append(payload["status"])
    assert len(statuses[1]) >= 3, statuses[1]
    first, *during, last = statuses[1]
    assert (first, last) == ("Preparing", "Finishing"), statuses[1]  # the cable is still plugged in
    assert "Charging" in during, statuses[1]
    assert set(during) <= {"Charging", "SuspendedEV", "SuspendedEVSE"}, statuses[1]
    assert statuses[2] == ["Unavailable", "Available"]
    assert statuses[0] == []


async def test_reservations_against_the_ocpp_package_central_system() -> None:
    events, returncode = await run_against_independent_csms("reservation")

    assert of(events, "error") == []  # every message of ours passed the official schemas
    assert of(events, "done") == [{"event": "done"}]
    assert returncode == 0

    # the answers (5.13, 5.1, 7.40): reserved, occupied, no such connector, cancelled, cancelled already,
    # connector 0, and connector 2 beside it
    answers = [(event["action"], event["request"], event["response"]) for event in of(events, "answer")]
    assert [(action, request["reservation_id"], response) for action, request, response in answers] == [
        ("ReserveNow", 1, {"status": "Accepted"}),
        ("ReserveNow", 2, {"status": "Occupied"}),
        ("ReserveNow", 3, {"status": "Rejected"}),
        ("CancelReservation", 1, {"status": "Accepted"}),
        ("CancelReservation", 1, {"status": "Rejected"}),
        ("ReserveNow", 4, {"status": "Accepted"}),
        ("ReserveNow", 5, {"status": "Accepted"}),
        ("CancelReservation", 5, {"status": "Accepted"}),
    ]

    # the statuses they brought (4.9): connector 1 Reserved until cancelled, then Reserved for connector 0's
    # reservation as the one connector left for it, until that expired; connector 2 Reserved until cancelled
    boot, after = payloads(events, "StatusNotification")[:3], payloads(events, "StatusNotification")[3:]
    assert [payload["status"] for payload in boot] == ["Available"] * 3
    statuses: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for payload in after:
        assert payload["error_code"] == "NoError"
        statuses[payload["connector_id"]].append(payload["status"])
    assert statuses[0] == []
    assert statuses[1] == ["Reserved", "Available", "Reserved", "Available"]
    assert statuses[2] == ["Reserved", "Available"]

    (anywhere,) = [request for _, request, _ in answers if request["reservation_id"] == 4]
    expired = [payload for payload in after if payload["connector_id"] == 1][-1]
    expiry = timestamp(anywhere["expiry_date"])
    assert expiry <= timestamp(expired["timestamp"]) < expiry + timedelta(seconds=2)
    assert "Authorize" not in {event["action"] for event in of(events, "call")}


async def test_firmware_update_and_diagnostics_against_the_ocpp_package_central_system() -> None:
    events, returncode = await run_against_independent_csms("firmware", firmware=SimulatedFirmware())

    assert of(events, "error") == []  # every message of ours passed the official schemas
    assert of(events, "done") == [{"event": "done"}]
    assert returncode == 0
    assert len(of(events, "connected")) == 2, "the installation ends with a reboot"

    # UpdateFirmware and GetDiagnostics are answered at once (6.56, 6.26)
    answers = [(event["action"], event["response"]) for event in of(events, "answer")]
    assert [action for action, _ in answers] == ["UpdateFirmware", "GetDiagnostics"]
    assert answers[0][1] == {}
    file_name = answers[1][1]["file_name"]
    assert re.fullmatch(r"diagnostics-CP-INTEROP-1-\d{8}T\d{6}Z\.log", file_name)

    # 4.5, 7.25: the statuses in order, the new version in the BootNotification after the reboot
    assert [p["status"] for p in payloads(events, "FirmwareStatusNotification")] == [
        "Downloading",
        "Downloaded",
        "Installing",
        "Installed",
    ]
    assert [p["firmware_version"] for p in payloads(events, "BootNotification")] == ["1.2.3", "2.0.0"]
    calls = [(event["action"], event["payload"]) for event in of(events, "call")]
    reboot = calls.index(("BootNotification", {**BOOT_PAYLOAD, "firmware_version": "2.0.0"}))
    installing = calls.index(("FirmwareStatusNotification", {"status": "Installing"}))
    installed = calls.index(("FirmwareStatusNotification", {"status": "Installed"}))
    assert installing < reboot < installed

    # 4.4, 7.24: the upload, and the file on the server
    uploads = payloads(events, "DiagnosticsStatusNotification")
    assert [p["status"] for p in uploads] == ["Uploading", "Uploaded"]
    (uploaded,) = of(events, "uploaded")
    assert uploaded["path"] == f"/diagnostics/{file_name}"
    assert uploaded["first_line"] == "# ocpp-fleet diagnostics"
    assert uploaded["size"] > 0


async def test_smart_charging_against_the_ocpp_package_central_system() -> None:
    events, returncode = await run_against_independent_csms("smart")

    assert of(events, "error") == []  # every answer of ours passed the official schemas
    assert of(events, "done") == [{"event": "done"}]
    assert returncode == 0
    answers = [(event["action"], event["response"]) for event in of(events, "answer")]
    assert [action for action, _ in answers] == [
        "GetConfiguration",
        *["SetChargingProfile"] * 3,
        *["GetCompositeSchedule"] * 3,
        *["ClearChargingProfile"] * 3,
    ]
    configuration, *sets = (response for _, response in answers[:4])
    composites = [response for _, response in answers[4:7]]
    clears = [response for _, response in answers[7:]]

    # 3.13.5: the four keys a Smart Charging enabled charge point reports, read-only (9.4)
    assert configuration == {
        "configuration_key": [
            {"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": "10"},
            {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": "Current,Power"},
            {"key": "ChargingScheduleMaxPeriods", "readonly": True, "value": "48"},
            {"key": "MaxChargingProfilesInstalled", "readonly": True, "value": "32"},
        ],
        "unknown_key": None,
    }
    # a TxDefaultProfile and a ChargePointMaxProfile are installed; a TxProfile without transaction is not
    assert sets == [{"status": "Accepted"}, {"status": "Accepted"}, {"status": "Rejected"}]

    # 5.7: connector 1 from the second of the request: its TxDefaultProfile (16 A, 10 A 60 s after the
    # profile's start, which is within a second of the request), under the 20 A of the ChargePointMaxProfile
    connector_1, grid, unknown = composites
    start = connector_1["schedule_start"]
    started = timestamp(start)
    assert abs((started - datetime.now(started.tzinfo)).total_seconds()) < 5, "the second of the request"
    first, second = connector_1["charging_schedule"].pop("charging_schedule_period")
    assert connector_1 == {
        "status": "Accepted",
        "connector_id": 1,
        "schedule_start": start,
        "charging_schedule": {"charging_rate_unit": "A", "duration": 120, "start_schedule": start},
    }
    assert first == {"start_period": 0, "limit": "16.0", "number_phases": 3}
    assert (second["limit"], second["number_phases"]) == ("10.0", 3)
    assert second["start_period"] in (59, 60, 61)
    # connector 0: 16 A (11040 W) at connector 1 and 22 kW at connector 2, at most 20 A x 3 x 230 V
    assert grid == {
        "status": "Accepted",
        "connector_id": 0,
        "schedule_start": grid["schedule_start"],
        "charging_schedule": {
            "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": "13800.0", "number_phases": 3}],
            "duration": 120,
            "start_schedule": grid["schedule_start"],
        },
    }
    assert unknown["status"] == "Rejected"

    # 5.5: by id, then every profile left, then the one already cleared
    assert clears == [{"status": "Accepted"}, {"status": "Accepted"}, {"status": "Unknown"}]
