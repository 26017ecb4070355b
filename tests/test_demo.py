"""``ocpp-fleet demo FLEET.toml``: csms_call scenario events played by the embedded Central System, the
firmware image served by the demo, and the checks of such events."""

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from actors.ocpp import ReserveNowRequest, UpdateFirmwareRequest
from fleet.cli import main
from fleet.demo import run_demo_file
from fleet.fleetfile import FleetFileError, load_fleet_file, parse_fleet_file
from fleet.scenario import csms_request

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_payload_placeholders() -> None:
    payload = {"connectorId": 1, "expiryDate": "now+600", "idTag": "T", "reservationId": 3}
    assert csms_request("ReserveNow", payload, now=NOW, files="http://x/") == ReserveNowRequest(
        connector_id=1, expiry_date=datetime(2026, 12, 2, 12, 10, tzinfo=UTC), id_tag="T", reservation_id=3
    )
    firmware = {"location": "{files}/fw-2.0.0.bin", "retrieveDate": "now-60"}
    assert csms_request("UpdateFirmware", firmware, now=NOW, files="http://x/") == UpdateFirmwareRequest(
        location="http://x/fw-2.0.0.bin", retrieve_date=datetime(2026, 12, 2, 11, 59, tzinfo=UTC)
    )


FLEET = 'csms_url = "ws://127.0.0.1:9000/ocpp"\n[[charge_points]]\nid = "D-{n}"\n'


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            'event = "csms_call"\naction = "Heartbeat"',
            "scenario[0].action: not an action the Central System sends: 'Heartbeat'",
        ),
        (
            'event = "csms_call"',
            "scenario[0].action: csms_call needs the action of the Central System's CALL",
        ),
        (
            'event = "csms_call"\naction = "ReserveNow"\npayload = { connectorId = 1 }',
            "scenario[0].payload: not a valid ReserveNow: ReserveNow.expiryDate: required field is missing",
        ),
        ('event = "reboot"\naction = "Reset"', "scenario[0].action: only a csms_call has an action"),
    ],
)
def test_csms_call_mistakes_are_one_line(event: str, message: str) -> None:
    text = FLEET + f'[[scenario]]\nat = 1\ncharge_point = "D-1"\n{event}\n'
    with pytest.raises(FleetFileError) as caught:
        parse_fleet_file(text, "fleet.toml", Path("/fleets"))
    assert str(caught.value) == f"fleet.toml: {message}"


def test_run_refuses_csms_calls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(EXAMPLES / "demo.toml")]) == 2
    assert capsys.readouterr().err == (
        f"ocpp-fleet: {EXAMPLES / 'demo.toml'}: scenario[0].event: csms_call needs the embedded Central "
        "System; play this file with ocpp-fleet demo\n"
    )


async def test_the_demo_plays_a_reservation_and_a_firmware_update(tmp_path: Path) -> None:
    fleet_file = tmp_path / "demo.toml"
    fleet_file.write_text(
        FLEET
        + 'firmware = "1.0.0"\n'
        + '[[scenario]]\nat = 0.2\ncharge_point = "D-1"\nevent = "csms_call"\naction = "ReserveNow"\n'
        + 'payload = { connectorId = 1, expiryDate = "now+600", idTag = "T", reservationId = 9 }\n'
        + '[[scenario]]\nat = 0.4\ncharge_point = "D-1"\nevent = "csms_call"\naction = "UpdateFirmware"\n'
        + 'payload = { location = "{files}/firmware-2.0.0.bin", retrieveDate = "now" }\n'
    )
    out = io.StringIO()
    await run_demo_file(load_fleet_file(fleet_file), out, duration=2.5)
    sent = [
        line.split()[3] + " " + line.split(maxsplit=4)[4]
        for line in out.getvalue().splitlines()
        if " -> " in line
    ]
    assert 'ReserveNow.conf {"status":"Accepted"}' in sent
    firmware = [line for line in sent if line.startswith("FirmwareStatusNotification ")]
    assert firmware == [
        f'FirmwareStatusNotification {{"status":"{status}"}}'
        for status in ("Downloading", "Downloaded", "Installing", "Installed")
    ]
    boots = [line for line in sent if line.startswith("BootNotification ")]
    assert [('"firmwareVersion":"1.0.0"' in boots[0]), ('"firmwareVersion":"2.0.0"' in boots[1])] == [
        True,
        True,
    ]
