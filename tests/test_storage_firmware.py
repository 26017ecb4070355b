"""The installed firmware in the state of a charge point, in memory and in SQLite (storage.firmware)."""

from pathlib import Path

import pytest

from storage import FirmwareRecord, MemoryStorage, open_database


async def test_the_firmware_in_memory_survives_a_simulated_reboot() -> None:
    storage = MemoryStorage()
    assert await storage.charge_point("CP-1").load_firmware() is None
    await storage.charge_point("CP-1").save_firmware("2.0.0", reported=False)
    await storage.charge_point("CP-1").save_firmware("2.0.0", reported=True)
    assert await storage.charge_point("CP-1").load_firmware() == FirmwareRecord("2.0.0", reported=True)
    assert await storage.charge_point("CP-2").load_firmware() is None


@pytest.mark.parametrize("reported", [False, True])
async def test_the_firmware_in_sqlite_survives_the_process(tmp_path: Path, reported: bool) -> None:
    async with await open_database(tmp_path / "state.db", synchronous="NORMAL") as database:
        assert await database.charge_point("CP-1").load_firmware() is None
        await database.charge_point("CP-1").save_firmware("1.9", reported=True)
        await database.charge_point("CP-1").save_firmware("2.0.0", reported=reported)
        await database.charge_point("CP-2").save_firmware("0.1", reported=True)
    async with await open_database(tmp_path / "state.db", synchronous="NORMAL") as database:
        assert await database.charge_point("CP-1").load_firmware() == FirmwareRecord("2.0.0", reported)
        assert await database.charge_point("CP-2").load_firmware() == FirmwareRecord("0.1", reported=True)
