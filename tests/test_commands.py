"""The commands of ``ocpp-fleet`` as library calls, and their command-line errors."""

import io
from pathlib import Path

import pytest
import trio
import trio.testing

from actors.connection import CsmsAddress
from fleet.cli import main
from fleet.commands import run_demo, run_fleet
from fleet.csms import CentralSystem
from fleet.fleetfile import load_fleet_file
from storage import MemoryStorage

EXAMPLE = Path(__file__).parent.parent / "examples" / "fleet.toml"


async def test_run_brings_up_every_charge_point_of_the_example(
    autojump_clock: trio.testing.MockClock,
) -> None:
    central_system = CentralSystem()
    out = io.StringIO()
    async with trio.open_nursery() as nursery:

        async def dial(address: CsmsAddress) -> trio.abc.Stream:
            assert address.host == "csms.test"
            client, server = trio.testing.memory_stream_pair()
            nursery.start_soon(central_system.serve_stream, server)
            return client

        await run_fleet(
            load_fleet_file(EXAMPLE),
            out,
            csms_url="ws://csms.test/ocpp",
            duration=12,
            dialer=dial,
            storage=MemoryStorage(),
        )
        nursery.cancel_scope.cancel()
    lines = out.getvalue().splitlines()
    assert lines[0] == "running 12 charge points of examples/fleet.toml, 200 per second" or lines[
        0
    ].startswith("running 12 charge points of ")
    for line in lines[1:3]:  # at 5 s and 10 s
        assert line.startswith("12/12 started, 12 connected, 12 accepted, 0 crashes, 0 offline, ")
    assert lines[3].startswith("stopped: 12/12 started, 12 connected, 12 accepted, 0 crashes, 0 offline, ")
    boots = [
        record.charge_point_id for record in central_system.records if record.action == "BootNotification"
    ]
    assert len(set(boots)) == 12


async def test_demo_shows_boot_statuses_and_heartbeats() -> None:
    out = io.StringIO()
    with trio.fail_after(30):
        await run_demo(out, charge_points=2, connectors=1, heartbeat_interval=1, duration=2.5)
    text = out.getvalue()
    for charge_point in ("DEMO-01", "DEMO-02"):
        lines = [line for line in text.splitlines() if f" {charge_point} " in line]
        sent = [line.split()[3] for line in lines if " -> " in line]
        assert sent[:3] == ["BootNotification", "StatusNotification", "StatusNotification"]
        assert "Heartbeat" in sent[3:]
        assert any("<- BootNotification.conf" in line and '"status":"Accepted"' in line for line in lines)


def test_run_with_a_missing_fleet_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "no-such-fleet.toml"]) == 2
    assert (
        capsys.readouterr().err == "ocpp-fleet: no-such-fleet.toml: cannot read: No such file or directory\n"
    )


def test_run_with_a_bad_csms_url_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(EXAMPLE), "--csms-url", "http://csms/ocpp"]) == 2
    assert (
        capsys.readouterr().err == "ocpp-fleet: 'http://csms/ocpp' is not a ws:// or wss:// URL with a host\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--charge-points", "0"], "argument --charge-points: must be at least 1, got 0"),
        (["csms", "--heartbeat-interval", "x"], "argument --heartbeat-interval: not a whole number: 'x'"),
    ],
)
def test_bad_numbers_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"ocpp-fleet {argv[0]}: error: {message}"


def test_check_describes_a_good_fleet_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text(
        'csms_url = "ws://127.0.0.1:9000/ocpp"\n'
        '[[charge_points]]\nid = "A-{n}"\ncount = 3\nconnectors = 2\n'
        '[[charge_points]]\nid = "B"\n'
        '[[scenario]]\nat = 5\ncharge_point = "B"\nconnector = 1\nevent = "plug_in"\n'
    )
    assert main(["check", str(fleet_file)]) == 0
    assert capsys.readouterr().out == (
        f"{fleet_file}: 4 charge points with 7 connectors in 2 groups, 1 scenario events; "
        f"state in {tmp_path / 'fleet.db'}\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["fleet.toml"]


def test_check_of_a_bad_fleet_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text('csms_url = "ws://127.0.0.1:9000/ocpp"\n[[charge_points]]\nid = "A"\ncount = 2\n')
    assert main(["check", str(fleet_file)]) == 2
    assert capsys.readouterr().err == (
        f'ocpp-fleet: {fleet_file}: charge_points[0].id: "A" (n=2) duplicates "A" of charge_points[0] (n=1); '
        "ids must be unique, ignoring case\n"
    )
