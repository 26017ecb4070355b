"""Firmware updates (spec 4.5, 5.19): download, wait for the charge point to be idle, install, reboot.

The Central System's UpdateFirmware is answered at once; then :class:`FirmwareUpdates`, owned by the
ChargePoint and living in its power-on's nursery, carries it out and reports each step with a
FirmwareStatusNotification (sent if online, else only kept in :attr:`FirmwareUpdates.status`):

1. it waits until ``retrieveDate`` (the charge point's wall clock);
2. ``Downloading``: it downloads the image from ``location`` (``actors.transfer``) and has the installer
   verify it; a failed download or a rejected image is tried again ``retries`` times, ``retryInterval``
   seconds apart (defaults: :data:`DEFAULT_RETRIES`, :data:`DEFAULT_RETRY_INTERVAL`), then ``DownloadFailed``;
3. ``Downloaded``: it makes the connectors that are not in use Unavailable, refuses new transactions, and
   waits for the running ones to end and for their messages to be delivered (at most the answer timeout);
   5.19 recommends this. The Unavailable is not kept in the state as a ChangeAvailability would be;
4. ``Installing``: it hands the image to the :class:`FirmwareInstaller`. If that fails, ``InstallationFailed``
   and the connectors are available again. Otherwise it keeps the new version in the state and reboots;
5. after the reboot, BootNotification carries the new version, and once the boot statuses are reported,
   ``Installed`` (5.19: "good practice to first reboot ... before sending the status Installed"); sent
   again after each reconnect until the Central System answers it. The other statuses are sent once.

Decided where the specification leaves room: ``retries`` counts the tries after the first. An UpdateFirmware
that arrives while an update is waiting or downloading replaces it; once an image is downloaded, the charge
point installs that one and ignores new requests until it is done. A reboot or a power cut before the
installation abandons the update (nothing of it is kept). :attr:`FirmwareUpdates.status` is the status a
TriggerMessage reports: ``Idle`` unless an update is in progress (4.5).

If the storage refuses writes (``actors.storage_health``), an installed firmware's version is written again
until it is kept, and only then does the charge point reboot (else it would boot with the old version); if
that ``Installed`` was reported cannot be kept, it is reported again at the next boot.
"""

import logging
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import trio

from actors.clock import WallClock
from actors.connection import ConnectionLost
from actors.link import CallFailed, CallTimeout
from actors.ocpp import FirmwareStatus, FirmwareStatusNotificationRequest, UpdateFirmwareRequest
from actors.outbox import Offline, Outbox
from actors.storage_health import until_written
from actors.transfer import RetryPlan, TransferFailed, download, with_retries
from storage import ChargePointState, FirmwareRecord, StorageError

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_RETRY_INTERVAL",
    "FIRMWARE_TRANSITIONS",
    "FirmwareInstaller",
    "FirmwareUpdates",
    "ImageRejected",
    "InstallationFailed",
    "MAX_VERSION_LENGTH",
    "firmware_retry_plan",
    "image_file_name",
    "is_busy",
    "seconds_until",
]

_log = logging.getLogger(__name__)

DEFAULT_RETRIES = 2
"""Tries after the first when UpdateFirmware has no ``retries``."""
DEFAULT_RETRY_INTERVAL = 60
"""Seconds between tries when UpdateFirmware has no ``retryInterval``."""
MAX_VERSION_LENGTH = 50
"""BootNotification's firmwareVersion is a CiString50 (6.3)."""
_CLOCK_CHECK = 60.0
"""While waiting for ``retrieveDate``, look at the wall clock at least this often (the Central System may
set it meanwhile)."""


class ImageRejected(Exception):
    """The downloaded image is not usable (truncated, corrupt, badly signed): the download failed."""


class InstallationFailed(Exception):
    """The firmware could not be installed; the charge point keeps running its present firmware."""


class FirmwareInstaller(Protocol):
    """What a gateway implements to install firmware; ``fleet.firmware.SimulatedFirmware`` simulates it."""

    async def verify(self, image: Path) -> None:
        """Check a downloaded image before it counts as downloaded; raise :class:`ImageRejected` if it is
        unusable (the download is then tried again, as for a transfer that failed)."""
        ...

    async def install(self, image: Path) -> str:
        """Install the image; return the version of the new firmware (1 to :data:`MAX_VERSION_LENGTH`
        characters, as BootNotification's ``firmwareVersion``). Raise :class:`InstallationFailed` if it cannot
        be installed.

        The image file is deleted once this returns.
        """
        ...


_S = FirmwareStatus

FIRMWARE_TRANSITIONS: dict[FirmwareStatus, frozenset[FirmwareStatus]] = {
    _S.IDLE: frozenset({_S.DOWNLOADING}),
    _S.DOWNLOADING: frozenset({_S.DOWNLOADED, _S.DOWNLOAD_FAILED, _S.IDLE}),  # IDLE: replaced by a new one
    _S.DOWNLOADED: frozenset({_S.INSTALLING}),
    _S.INSTALLING: frozenset({_S.INSTALLATION_FAILED}),  # or a reboot, after which Installed is reported
    _S.DOWNLOAD_FAILED: frozenset({_S.IDLE}),
    _S.INSTALLATION_FAILED: frozenset({_S.IDLE}),
}
"""The statuses of one firmware update in the order of 4.5 and 7.25, as the changes each may lead to."""


def is_busy(status: FirmwareStatus) -> bool:
    """Whether a firmware update is in progress in ``status`` (4.5: ``Idle`` is reported otherwise)."""
    return status in (_S.DOWNLOADING, _S.DOWNLOADED, _S.INSTALLING)


def firmware_retry_plan(request: UpdateFirmwareRequest) -> RetryPlan:
    """How often, and how far apart, the image is downloaded (6.55: the charge point decides if not told)."""
    return RetryPlan.of(
        request.retries,
        request.retry_interval,
        default_retries=DEFAULT_RETRIES,
        default_interval=DEFAULT_RETRY_INTERVAL,
    )


def seconds_until(moment: datetime, now: datetime) -> float:
    """Seconds from ``now`` until ``moment``; 0 if it has passed."""
    return max(0.0, (moment - now).total_seconds())


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def image_file_name(location: str) -> str:
    """The name the downloaded image is kept under: the last segment of the URL's path, made safe for a
    file system; ``firmware.bin`` if it has none."""
    name = unquote(urlsplit(location).path.rsplit("/", 1)[-1])
    name = _UNSAFE.sub("_", name).lstrip(".")
    return name[:200] or "firmware.bin"


class FirmwareUpdates:
    """Carries out the Central System's firmware updates for one charge point (see the module's text)."""

    __slots__ = (
        "_accepted",
        "_clock",
        "_hold_connectors",
        "_installer",
        "_job",
        "_name",
        "_nursery",
        "_outbox",
        "_reboot",
        "_state",
        "_status",
        "_transfer_timeout",
        "version",
    )

    def __init__(
        self,
        *,
        installer: FirmwareInstaller | None,
        state: ChargePointState,
        outbox: Outbox,
        clock: Callable[[], WallClock],
        hold_connectors: Callable[[bool], Awaitable[None]],
        reboot: Callable[[], None],
        transfer_timeout: float,
        name: str,
    ) -> None:
        """``hold_connectors(True)`` makes the idle connectors Unavailable and returns once no transaction
        runs; ``hold_connectors(False)`` undoes it. ``reboot()`` asks the charge point to reboot."""
        self._installer = installer
        self._state = state
        self._outbox = outbox
        self._clock = clock
        self._hold_connectors = hold_connectors
        self._reboot = reboot
        self._transfer_timeout = transfer_timeout
        self._name = name
        self._status = FirmwareStatus.IDLE
        self._nursery: trio.Nursery | None = None
        self._job: trio.CancelScope | None = None
        self._accepted = trio.Event()
        self.version: str | None = None
        """The version installed by the last firmware update, as kept in the state; ``None`` if none was."""

    @property
    def status(self) -> FirmwareStatus:
        """The status of the update in progress, ``Idle`` if there is none (what TriggerMessage reports)."""
        return self._status if is_busy(self._status) else FirmwareStatus.IDLE

    def power_on(self, nursery: trio.Nursery, record: FirmwareRecord | None) -> None:
        """Begin a power-on: take the installed version (``record``, as the state's ``load_firmware`` returns
        it), report (in ``nursery``) an installation the reboot completed, and carry out in ``nursery`` the
        updates :meth:`update` is given, until :meth:`power_off`.
        """
        self._status = FirmwareStatus.IDLE
        self._job = None
        self._accepted = trio.Event()
        self.version = record.version if record is not None else None
        self._nursery = nursery
        if record is not None and not record.reported:
            nursery.start_soon(self._report_installed, record.version)

    def power_off(self) -> None:
        """The power-on ends (its nursery cancels what runs): updates are ignored until the next one."""
        self._nursery = None

    def accepted(self) -> None:
        """The Central System accepted the charge point and heard its boot statuses: time for Installed."""
        self._accepted.set()

    def update(self, request: UpdateFirmwareRequest) -> None:
        """Start an update (UpdateFirmware, answered at once); it replaces one not downloaded yet."""
        if self._nursery is None:
            _log.warning("%s: UpdateFirmware before power-on is complete: ignored", self._name)
            return
        if self._status in (FirmwareStatus.DOWNLOADED, FirmwareStatus.INSTALLING):
            _log.warning("%s: UpdateFirmware while installing an image: ignored", self._name)
            return
        if self._job is not None:
            _log.info("%s: a new UpdateFirmware replaces the one in progress", self._name)
            self._job.cancel()
        self._status = FirmwareStatus.IDLE
        self._job = scope = trio.CancelScope()
        self._nursery.start_soon(self._carry_out, request, scope)

    async def _carry_out(self, request: UpdateFirmwareRequest, scope: trio.CancelScope) -> None:
        with scope:
            await self._wait_until(request.retrieve_date)
            directory = Path(
                await trio.to_thread.run_sync(partial(tempfile.mkdtemp, prefix="ocpp-firmware-"))
            )
            try:
                await self._download_and_install(request, directory / image_file_name(request.location))
            finally:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(partial(shutil.rmtree, directory, ignore_errors=True))
        if self._job is scope:
            self._job = None

    async def _wait_until(self, moment: datetime) -> None:
        while True:
            remaining = seconds_until(moment, self._clock().now())
            if remaining <= 0:
                return
            await trio.sleep(min(remaining, _CLOCK_CHECK))

    async def _download_and_install(self, request: UpdateFirmwareRequest, image: Path) -> None:
        await self._report(FirmwareStatus.DOWNLOADING)
        try:
            await with_retries(
                firmware_retry_plan(request),
                partial(self._download, request.location, image),
                what=f"{self._name}: firmware download",
            )
        except TransferFailed as failed:
            _log.warning("%s: firmware download failed: %s", self._name, failed)
            await self._report(FirmwareStatus.DOWNLOAD_FAILED)
            self._status = FirmwareStatus.IDLE
            return
        await self._report(FirmwareStatus.DOWNLOADED)
        await self._hold_connectors(True)
        await self._report(FirmwareStatus.INSTALLING)
        try:
            if self._installer is None:
                raise InstallationFailed("this charge point has no firmware installer")
            version = await self._installer.install(image)
            if not 0 < len(version) <= MAX_VERSION_LENGTH:
                raise InstallationFailed(
                    f"the installer gave a version BootNotification cannot carry: {version!r}"
                )
        except (InstallationFailed, OSError) as failed:
            _log.warning("%s: firmware installation failed: %s", self._name, failed)
            await self._hold_connectors(False)
            await self._report(FirmwareStatus.INSTALLATION_FAILED)
            self._status = FirmwareStatus.IDLE
            return
        keep = partial(self._state.save_firmware, version, reported=False)
        await until_written(keep, what=f"firmware {version}", name=self._name)
        self.version = version
        _log.info("%s: firmware %s installed, rebooting", self._name, version)
        self._reboot()
        await trio.sleep_forever()  # until the reboot ends this power-on

    async def _download(self, location: str, image: Path) -> None:
        """One try: the image downloaded and verified, or :class:`TransferFailed`."""
        await download(location, image, idle_timeout=self._transfer_timeout)
        if self._installer is not None:
            try:
                await self._installer.verify(image)
            except ImageRejected as rejected:
                raise TransferFailed(f"image rejected: {rejected}") from None

    async def _report(self, status: FirmwareStatus) -> None:
        """Take ``status`` and tell the Central System, if online (a status not delivered is not retried)."""
        await trio.lowlevel.checkpoint_if_cancelled()  # a replaced update changes nothing any more
        assert status in FIRMWARE_TRANSITIONS[self._status], f"{self._status} -> {status}"
        self._status = status
        await self._notify(status)

    async def _notify(self, status: FirmwareStatus) -> bool:
        try:
            await self._outbox.call(FirmwareStatusNotificationRequest(status=status))
        except (Offline, ConnectionLost, CallTimeout) as problem:
            _log.info("%s: FirmwareStatusNotification %s not delivered: %s", self._name, status, problem)
            return False
        except CallFailed as problem:
            _log.info("%s: FirmwareStatusNotification %s refused: %s", self._name, status, problem)
        return True

    async def _report_installed(self, version: str) -> None:
        """``Installed`` once the Central System heard the boot statuses; again after each reconnect until
        it is answered. Then the state remembers that it was reported."""
        while True:
            await self._accepted.wait()
            if await self._notify(FirmwareStatus.INSTALLED):
                break
            self._accepted = trio.Event()  # wait for the next connection
        try:
            await self._state.save_firmware(version, reported=True)
        except StorageError as error:
            _log.warning("%s: Installed not kept as reported: %s", self._name, error)
