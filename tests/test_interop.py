"""Interop: our ChargePoint against an independent Central System (the PyPI package ``ocpp`` over
``websockets``, see ``interop_csms.py``), over real loopback sockets in real time.

The other side validates every message of ours against the official OCPP 1.6 JSON schemas; what it receives,
what our charge point answers to its calls, and any error it met arrive as JSON lines on its stdout.
"""

import json
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import trio

from actors.charge_point import ChargePoint, ChargePointSettings
from fleet.simulated import SimulatedConnector
from storage.memory import MemoryChargePointState

CSMS_SCRIPT = Path(__file__).with_name("interop_csms.py")
GUARD = 30.0
"""Seconds the whole exchange may take at most; it takes about three on an idle machine."""

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


def settings(port: int) -> ChargePointSettings:
    return ChargePointSettings(
        "CP-INTEROP-1",
        f"ws://127.0.0.1:{port}/ocpp",
        vendor="Acme",
        model="AC22",
        serial_number="SN-INTEROP-1",
        firmware_version="1.2.3",
        connectors=2,
        answer_timeout=5.0,
    )


async def run_against_independent_csms(script: str) -> tuple[list[dict[str, Any]], int | None]:
    """Run the Central System's ``script`` against our charge point; its events and its exit code.

    The charge point runs until the Central System prints "done"; then it loses power and the Central System
    exits. Whatever happens, the subprocess is ended and waited for before this returns or raises.
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
                charge_point = ChargePoint(
                    settings(int(port)),
                    MemoryChargePointState(),
                    hardware=[SimulatedConnector(), SimulatedConnector()],
                )
                async with trio.open_nursery() as charge_point_nursery:
                    charge_point_nursery.start_soon(charge_point.run)
                    while (line := await lines.next()) is not None:
                        events.append(json.loads(line))
                        if events[-1]["event"] == "done":
                            break
                    charge_point_nursery.cancel_scope.cancel()  # power cut
                while (line := await lines.next()) is not None:  # until the Central System exits
                    events.append(json.loads(line))
    return events, process.returncode


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["event"] == kind]


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
