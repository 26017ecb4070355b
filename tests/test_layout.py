"""The public API exists as exported, and imports point down only: fleet -> actors -> storage."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import actors.ocpp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("fleet", "actors", "storage")
MAY_IMPORT = {
    "fleet": {"fleet", "actors", "storage"},
    "actors": {"actors", "storage"},
    "storage": {"storage"},
}


def test_every_exported_name_exists() -> None:
    for name in actors.ocpp.__all__:
        assert hasattr(actors.ocpp, name), name


def imported_top_levels(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_down_and_the_product_never_imports_the_test_oracle(package: str) -> None:
    for path in sorted((ROOT / package).rglob("*.py")):
        imported = imported_top_levels(path)
        assert "ocpp" not in imported, f"{path} imports the ocpp package, which is for tests only"
        ours = imported & set(PACKAGES)
        assert ours <= MAY_IMPORT[package], f"{path} imports {ours - MAY_IMPORT[package]}"


def test_the_protocol_layer_imports_no_trio() -> None:
    for path in sorted((ROOT / "actors" / "ocpp").rglob("*.py")):
        assert not imported_top_levels(path) & {"trio", "trio_websocket", "sqlite3", "sqlite_utils"}, path
    check = "import sys, actors.ocpp; assert 'trio' not in sys.modules, 'trio was imported'"
    subprocess.run([sys.executable, "-c", check], check=True, cwd=ROOT)
