"""A simulated firmware installer: installs nothing, but takes the new version from the image it is given.

:class:`SimulatedFirmware` implements :class:`actors.firmware.FirmwareInstaller` for the charge points of a
fleet and for tests. The version of an image (:func:`simulated_version`) is the first line of its content when
that is short printable text (at most 50 characters, BootNotification's limit), else the last version number
in its file name (``acme-ac22-2.1.0.bin`` is ``2.1.0``, ``fw_3.2-rc1.img`` is ``3.2-rc1``); an image with
neither fails to install. Told so (:attr:`SimulatedFirmware.fail`), it rejects every downloaded image (so the
download fails after its retries) or fails every installation.
"""

import re
from pathlib import Path
from typing import Literal

import attrs
import trio

from actors.firmware import MAX_VERSION_LENGTH, ImageRejected, InstallationFailed

__all__ = ["SimulatedFirmware", "simulated_version"]

_VERSION_IN_NAME = re.compile(r"\d+(?:\.\d+)+(?:[-+][0-9A-Za-z.]*[0-9A-Za-z])?")
_SUFFIX = re.compile(r"(?:\.[A-Za-z]+)+$")


def simulated_version(file_name: str, head: bytes) -> str | None:
    """The version of an image named ``file_name`` whose content begins with ``head``; ``None`` if none."""
    first_line = head.split(b"\n", 1)[0].strip()
    if 0 < len(first_line) <= MAX_VERSION_LENGTH and all(0x20 <= byte < 0x7F for byte in first_line):
        return first_line.decode("ascii")
    found = _VERSION_IN_NAME.findall(_SUFFIX.sub("", file_name))
    return found[-1][:MAX_VERSION_LENGTH] if found else None


@attrs.define
class SimulatedFirmware:
    """A firmware installer for simulated charge points (see the module's text)."""

    fail: Literal["download", "install"] | None = None
    """The step that fails: ``"download"`` rejects every image, ``"install"`` fails every installation."""
    installed: list[str] = attrs.Factory(list)
    """The versions installed so far, in order."""

    async def verify(self, image: Path) -> None:
        """Reject the image if told to fail the download."""
        await trio.lowlevel.checkpoint()
        if self.fail == "download":
            raise ImageRejected(f"{image.name}: rejected (simulated)")

    async def install(self, image: Path) -> str:
        """The version of the image (see :func:`simulated_version`); fails if told to or if it has none."""
        async with await trio.open_file(image, "rb") as file:
            head = await file.read(MAX_VERSION_LENGTH + 2)
        if self.fail == "install":
            raise InstallationFailed(f"{image.name}: installation failed (simulated)")
        version = simulated_version(image.name, head)
        if version is None:
            raise InstallationFailed(f"{image.name}: no version in the image or its name")
        self.installed.append(version)
        return version
