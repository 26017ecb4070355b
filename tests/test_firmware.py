"""Firmware updates (spec 4.5, 5.19, 6.19, 6.55, 7.25), in the manner of the official compliance test cases
TC_044_1 to TC_044_3.

The pure parts (the statuses, the retry plan, names and versions) are tested alone. The charge point is
tested against the embedded Central System over in-memory streams, downloading from a real loopback HTTP
server: these tests run on the real clock, so they are short and wait for what they expect with deadlines.
"""

import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
import trio.testing
from file_servers import HttpFileServer, http_file_server
from scripted_csms import ScriptedCsms
from test_connector import S, bring_up, scripted  # noqa: F401 (scripted: the fixture bring_up needs)
from transfer_bench import GUARD, Bench, eventually

from actors.connector import Hold
from actors.firmware import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_INTERVAL,
    FIRMWARE_TRANSITIONS,
    ImageRejected,
    InstallationFailed,
    firmware_retry_plan,
    image_file_name,
    is_busy,
    seconds_until,
)
from actors.ocpp import (
    AvailabilityStatus,
    AvailabilityType,
    ChangeAvailabilityRequest,
    ChangeAvailabilityResponse,
    FirmwareStatus,
    RemoteStartStopStatus,
    RemoteStartTransactionRequest,
    RemoteStartTransactionResponse,
    UpdateFirmwareRequest,
    UpdateFirmwareResponse,
)
from actors.transfer import RetryPlan
from fleet.csms import CentralSystem
from fleet.firmware import SimulatedFirmware, simulated_version
from fleet.simulated import EvModel
from storage import ChargePointState, FirmwareRecord, MemoryStorage, open_database

F = FirmwareStatus
IMAGE_PATH = "/images/acme-ac22-2.0.0.bin"

# --- pure parts ------------------------------------------------------------------------------------------


def path_through(statuses: list[FirmwareStatus]) -> bool:
    return all(after in FIRMWARE_TRANSITIONS[before] for before, after in itertools.pairwise(statuses))


def test_the_statuses_of_an_update_follow_4_5() -> None:
    assert path_through([F.IDLE, F.DOWNLOADING, F.DOWNLOADED, F.INSTALLING])  # then Installed, after a reboot
    assert path_through([F.IDLE, F.DOWNLOADING, F.DOWNLOAD_FAILED, F.IDLE])
    assert path_through([F.IDLE, F.DOWNLOADING, F.DOWNLOADED, F.INSTALLING, F.INSTALLATION_FAILED, F.IDLE])
    assert not path_through([F.IDLE, F.INSTALLING])
    assert not path_through([F.DOWNLOADING, F.INSTALLING])
    assert not path_through([F.DOWNLOAD_FAILED, F.DOWNLOADED])
    assert F.INSTALLED not in {after for afters in FIRMWARE_TRANSITIONS.values() for after in afters}, (
        "Installed is reported after the reboot, by the next power-on"
    )
    assert {status for status in F if is_busy(status)} == {F.DOWNLOADING, F.DOWNLOADED, F.INSTALLING}


def test_the_retry_plan_of_update_firmware() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    told = UpdateFirmwareRequest(location="ftp://h/f", retrieve_date=now, retries=4, retry_interval=15)
    assert firmware_retry_plan(told) == RetryPlan(attempts=5, interval=15)
    untold = UpdateFirmwareRequest(location="ftp://h/f", retrieve_date=now)
    assert firmware_retry_plan(untold) == RetryPlan(DEFAULT_RETRIES + 1, DEFAULT_RETRY_INTERVAL)


def test_waiting_for_the_retrieve_date() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert seconds_until(now + timedelta(minutes=5), now) == 300
    assert seconds_until(now - timedelta(minutes=5), now) == 0


@pytest.mark.parametrize(
    ("location", "name"),
    [
        ("http://h/images/acme-2.0.bin", "acme-2.0.bin"),
        ("ftp://u:p@h/fw%20v1.2.img", "fw_v1.2.img"),
        ("https://h/download?id=7", "download"),
        ("https://h/", "firmware.bin"),
        ("ftp://h/..", "firmware.bin"),
    ],
)
def test_the_image_is_kept_under_a_safe_name(location: str, name: str) -> None:
    assert image_file_name(location) == name


@pytest.mark.parametrize(
    ("name", "head", "version"),
    [
        ("anything.bin", b"2.4.1\n\x00\x01binary", "2.4.1"),
        ("acme-ac22-2.1.0.bin", b"\x7fELF\x02\x01", "2.1.0"),
        ("fw_3.2-rc1.img", b"", "3.2-rc1"),
        ("fw-1.0.tar.gz", b"\x1f\x8b", "1.0"),
        ("firmware.bin", b"\x00\x00", None),
        ("firmware.bin", b"x" * 51, None),
    ],
)
def test_the_simulated_version_comes_from_the_content_or_the_name(
    name: str, head: bytes, version: str | None
) -> None:
    assert simulated_version(name, head) == version


async def test_the_simulated_installer_fails_when_told(tmp_path: Path) -> None:
    image = tmp_path / "fw-9.9.bin"
    image.write_bytes(b"\x00")
    firmware = SimulatedFirmware()
    await firmware.verify(image)
    assert await firmware.install(image) == "9.9"
    firmware.fail = "download"
    with pytest.raises(ImageRejected):
        await firmware.verify(image)
    firmware.fail = "install"
    with pytest.raises(InstallationFailed):
        await firmware.install(image)
    assert firmware.installed == ["9.9"]


# --- holding the connectors (virtual time, scripted Central System) -------------------------------------


async def test_a_held_connector_becomes_unavailable_once_not_in_use_and_is_not_kept(
    autojump_clock: trio.testing.MockClock,
    scripted: ScriptedCsms,  # noqa: F811 (the fixture)
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms, plug = site.csms, site.plugs[0]
        plug.plug_in()
        await csms.wait_status(1, S.PREPARING)
        for connector in site.charge_point.connectors.values():
            command = Hold(True)
            await connector.send(command)
            await command.reply.wait()  # no transaction: at once
        await csms.wait_status(2, S.UNAVAILABLE)
        plug.unplug()  # 4.9 has no Preparing -> Unavailable: B1, then A8
        await csms.wait_status(1, S.UNAVAILABLE)
        assert csms.statuses_of(1) == [S.PREPARING, S.AVAILABLE, S.UNAVAILABLE]
        answer = await csms.call(RemoteStartTransactionRequest(id_tag="APP-1", connector_id=2))
        assert answer == RemoteStartTransactionResponse(status=RemoteStartStopStatus.REJECTED)
        plug.plug_in()
        for connector in site.charge_point.connectors.values():
            await connector.send(Hold(False))
        await csms.wait_status(2, S.AVAILABLE)
        await csms.wait_status(1, S.PREPARING)  # the cable plugged in meanwhile counts now
        nursery.cancel_scope.cancel()


async def test_change_availability_of_a_preparing_connector_goes_through_available(
    autojump_clock: trio.testing.MockClock,
    scripted: ScriptedCsms,  # noqa: F811 (the fixture)
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        site.plugs[0].plug_in()
        await site.csms.wait_status(1, S.PREPARING)
        answer = await site.csms.call(
            ChangeAvailabilityRequest(connector_id=1, type=AvailabilityType.INOPERATIVE)
        )
        assert answer == ChangeAvailabilityResponse(status=AvailabilityStatus.ACCEPTED)
        await site.csms.wait_status(1, S.UNAVAILABLE)
        assert site.csms.statuses_of(1) == [S.PREPARING, S.AVAILABLE, S.UNAVAILABLE]
        nursery.cancel_scope.cancel()


# --- the charge point against the embedded Central System, downloading from loopback ---------------------


@pytest.fixture
def server() -> Iterator[HttpFileServer]:
    with http_file_server() as server:
        server.files[IMAGE_PATH] = b"\x7fELF firmware image " * 1000
        yield server


@pytest.fixture
async def bench(server: HttpFileServer) -> AsyncIterator[Bench]:
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            bench = Bench(
                nursery, CentralSystem(heartbeat_interval=300), server, MemoryStorage().charge_point("CP-1")
            )
            await bench.power_on()
            yield bench
            await bench.shut_down()


async def test_TC_044_1_download_and_install_then_the_new_version_after_the_reboot(tmp_path: Path) -> None:
    with http_file_server() as server, trio.fail_after(GUARD):
        server.files[IMAGE_PATH] = b"\x7fELF firmware image " * 1000
        async with await open_database(tmp_path / "cp.db") as database, trio.open_nursery() as nursery:
            bench = Bench(
                nursery, CentralSystem(heartbeat_interval=300), server, database.charge_point("CP-1")
            )
            charge_point = await bench.power_on()
            assert bench.calls("BootNotification")[0]["firmwareVersion"] == "1.0.0"
            first_boot = len(bench.records())

            await bench.update(server.url(IMAGE_PATH))
            installed = await bench.wait_firmware(F.INSTALLED)

            assert bench.firmware_statuses() == ["Downloading", "Downloaded", "Installing", "Installed"]
            downloaded = await bench.wait_firmware(F.DOWNLOADED)
            installing = await bench.wait_firmware(F.INSTALLING)
            assert first_boot < downloaded
            # spec 5.19: idle connectors Unavailable before the installation
            for connector_id in (1, 2):
                await bench.wait_connector(connector_id, "Unavailable", after=downloaded)
            # the reboot: a new BootNotification with the new version, the boot statuses, then Installed
            (reboot,) = [index for index, r in enumerate(bench.records()) if r.action == "BootNotification"][
                1:
            ]
            assert installing < reboot < installed
            assert bench.calls("BootNotification")[1]["firmwareVersion"] == "2.0.0"
            assert {r.payload["connectorId"] for r in bench.records()[reboot + 1 : installed]} == {0, 1, 2}
            assert len(server.tries("GET", IMAGE_PATH)) == 1
            assert bench.firmware.installed == ["2.0.0"]
            assert charge_point.firmware_status is F.IDLE
            assert charge_point.firmware_version == "2.0.0"
            await eventually(lambda: _reported(bench.state))

            bench.power_cut()  # the version survives it, and Installed is not reported again
            await bench.power_on()
            assert bench.calls("BootNotification")[2]["firmwareVersion"] == "2.0.0"
            assert await bench.state.load_firmware() == FirmwareRecord(version="2.0.0", reported=True)
            assert bench.firmware_statuses() == ["Downloading", "Downloaded", "Installing", "Installed"]
            await bench.shut_down()


async def _reported(state: ChargePointState) -> bool:
    record = await state.load_firmware()
    return record is not None and record.reported


async def test_TC_044_2_download_failed_after_the_retries(bench: Bench) -> None:
    bench.server.refuse[IMAGE_PATH] = 503
    await bench.update(bench.server.url(IMAGE_PATH), retries=2, retry_interval=1)
    await bench.wait_firmware(F.DOWNLOAD_FAILED)

    assert bench.firmware_statuses() == ["Downloading", "DownloadFailed"]
    tries = bench.server.tries("GET", IMAGE_PATH)
    assert len(tries) == 3, "the first try and 2 retries"
    assert all(later.at - earlier.at >= 1 for earlier, later in itertools.pairwise(tries)), (
        "retryInterval apart"
    )
    assert bench.charge_point is not None
    assert bench.charge_point.firmware_status is F.IDLE
    assert len(bench.calls("BootNotification")) == 1, "no reboot"


async def test_an_image_the_installer_rejects_is_a_failed_download(bench: Bench) -> None:
    bench.firmware.fail = "download"
    await bench.update(bench.server.url(IMAGE_PATH), retries=1, retry_interval=0)
    await bench.wait_firmware(F.DOWNLOAD_FAILED)
    assert bench.firmware_statuses() == ["Downloading", "DownloadFailed"]
    assert len(bench.server.tries("GET", IMAGE_PATH)) == 2


async def test_TC_044_3_installation_failed(bench: Bench) -> None:
    bench.firmware.fail = "install"
    await bench.update(bench.server.url(IMAGE_PATH))
    await bench.wait_firmware(F.INSTALLATION_FAILED)
    installing = await bench.wait_firmware(F.INSTALLING)

    assert bench.firmware_statuses() == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    for connector_id in (1, 2):  # held for the installation, available again after it failed
        await bench.wait_connector(connector_id, "Available", after=installing)
    assert bench.charge_point is not None
    assert bench.charge_point.firmware_status is F.IDLE
    assert bench.charge_point.firmware_version == "1.0.0"
    assert len(bench.calls("BootNotification")) == 1, "no reboot"
    assert await bench.state.load_firmware() is None
    assert await bench.state.load_availability() == {}, "the hold is not kept as ChangeAvailability is"


async def test_the_installation_waits_for_the_running_transaction(bench: Bench) -> None:
    plug = bench.plugs[0]
    plug.plug_in(EvModel(max_power_w=11_000))
    plug.present_id_tag("TAG-1")
    await bench.wait_call(lambda r: r.action == "StartTransaction")

    await bench.update(bench.server.url(IMAGE_PATH))
    await bench.wait_firmware(F.DOWNLOADED)
    await bench.wait_connector(2, "Unavailable")  # not in use: Unavailable meanwhile (5.19)
    answer = await bench.csms.call("CP-1", RemoteStartTransactionRequest(id_tag="APP-1", connector_id=2))
    assert answer == RemoteStartTransactionResponse(status=RemoteStartStopStatus.REJECTED)
    assert "Installing" not in bench.firmware_statuses()
    assert bench.charge_point is not None
    assert bench.charge_point.connectors[1].status is S.CHARGING
    assert bench.charge_point.firmware_status is F.DOWNLOADED

    plug.present_id_tag("TAG-1")  # the driver ends the session
    stopped = await bench.wait_call(lambda r: r.action == "StopTransaction")
    installing = await bench.wait_firmware(F.INSTALLING)
    assert stopped < installing
    assert bench.calls("StopTransaction")[0]["reason"] == "Local"
    await bench.wait_firmware(F.INSTALLED)
    assert bench.calls("BootNotification")[1]["firmwareVersion"] == "2.0.0"


async def test_a_new_update_replaces_one_waiting_for_its_retrieve_date(bench: Bench) -> None:
    later = UpdateFirmwareRequest(
        location=bench.server.url("/images/old-1.5.bin"), retrieve_date=datetime.now(UTC) + timedelta(hours=1)
    )
    assert await bench.csms.call("CP-1", later) == UpdateFirmwareResponse()
    assert bench.charge_point is not None
    assert bench.charge_point.firmware_status is F.IDLE, "waiting for the retrieve date is not busy"
    await bench.update(bench.server.url(IMAGE_PATH))
    await bench.wait_firmware(F.INSTALLED)
    assert bench.firmware.installed == ["2.0.0"]
    assert bench.server.tries("GET", "/images/old-1.5.bin") == []


class LongWinded(SimulatedFirmware):
    async def install(self, image: Path) -> str:
        await trio.lowlevel.checkpoint()
        return "v" * 51


async def test_a_version_boot_notification_cannot_carry_is_a_failed_installation(
    server: HttpFileServer,
) -> None:
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            state = MemoryStorage().charge_point("CP-1")
            bench = Bench(
                nursery, CentralSystem(heartbeat_interval=300), server, state, firmware=LongWinded()
            )
            await bench.power_on()
            await bench.update(server.url(IMAGE_PATH))
            await bench.wait_firmware(F.INSTALLATION_FAILED)
            assert bench.firmware_statuses() == [
                "Downloading",
                "Downloaded",
                "Installing",
                "InstallationFailed",
            ]
            assert await state.load_firmware() is None
            await bench.shut_down()
