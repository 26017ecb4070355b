"""The ``ocpp-fleet`` command line."""

import subprocess
import sys

import pytest

from fleet import __version__
from fleet.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"ocpp-fleet {__version__}\n"


def test_python_dash_m_fleet_is_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout == f"ocpp-fleet {__version__}\n"


def test_unknown_option_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--no-such-option"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err
