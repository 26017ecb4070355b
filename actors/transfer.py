"""File transfers with the Central System's servers (spec chapter 8): firmware downloads, diagnostics uploads.

The protocols are those of ``SupportedFileTransferProtocols``: FTP, FTPS, HTTP and HTTPS, chosen by the URL's
scheme (:func:`scheme_of`).

- **HTTP(S)** through httpx, which runs on trio: a download is a GET (redirects followed); an upload is a PUT
  of the file into the location, which the specification calls a directory: ``location/<file name>``
  (:func:`upload_url`), as ``curl --upload-file FILE LOCATION/`` does.
- **FTP(S)** through the standard library's ftplib, blocking, in a worker thread: ``ftp://user:password@host:
  port/path`` (8.1; without a user, an anonymous login), passive mode, binary transfers; paths are relative to
  the login directory (RFC 1738). FTPS is explicit TLS (``AUTH TLS``) with a protected data channel
  (``PROT P``). A cancelled FTP transfer abandons its thread, which ends at the latest ``idle_timeout``
  seconds later.

Every socket operation is bounded by ``idle_timeout`` seconds of silence, so a transfer that stalls fails,
while a large one that progresses does not. Whatever goes wrong (a refused connection, a timeout, an HTTP
error status, an FTP error reply, a malformed URL, a full disk) is raised as :class:`TransferFailed`: the
actors never see httpx, ftplib or socket exceptions. :class:`RetryPlan` and :func:`with_retries` apply the
``retries`` and ``retryInterval`` of UpdateFirmware and GetDiagnostics.
"""

import contextlib
import ftplib
import io
import logging
from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import attrs
import httpx
import trio

__all__ = [
    "SUPPORTED_FILE_TRANSFER_PROTOCOLS",
    "FtpTarget",
    "RetryPlan",
    "Scheme",
    "TransferFailed",
    "download",
    "ftp_target",
    "scheme_of",
    "upload",
    "upload_url",
    "with_retries",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")


class Scheme(StrEnum):
    """The URL schemes this charge point transfers files with."""

    FTP = "ftp"
    FTPS = "ftps"
    HTTP = "http"
    HTTPS = "https"


SUPPORTED_FILE_TRANSFER_PROTOCOLS = ("FTP", "FTPS", "HTTP", "HTTPS")
"""The value of the configuration key SupportedFileTransferProtocols (chapter 8)."""

_FTP_PORT = 21


class TransferFailed(Exception):
    """A download or upload did not succeed.

    ``permanent`` failures (an unsupported scheme, a malformed URL) fail every attempt alike: they are not
    retried.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def scheme_of(url: str) -> Scheme:
    """The protocol to transfer ``url`` with; a permanent :class:`TransferFailed` if there is none."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as error:
        raise TransferFailed(f"malformed URL {url!r}: {error}", permanent=True) from None
    try:
        scheme = Scheme(parts.scheme.lower())
    except ValueError:
        supported = ", ".join(SUPPORTED_FILE_TRANSFER_PROTOCOLS)
        raise TransferFailed(f"{url!r}: not one of {supported}", permanent=True) from None
    if not host:
        raise TransferFailed(f"{url!r} names no host", permanent=True)
    return scheme


@attrs.frozen
class FtpTarget:
    """What an FTP(S) URL asks for: ``ftp://user:password@host:port/path`` (spec 8.1)."""

    host: str
    port: int
    user: str
    """Empty for an anonymous login."""
    password: str
    path: str
    """Relative to the login directory, unquoted; empty for the login directory itself."""
    tls: bool


def ftp_target(url: str) -> FtpTarget:
    """The parts of an FTP or FTPS URL; a permanent :class:`TransferFailed` if it is neither or malformed."""
    scheme = scheme_of(url)
    if scheme not in (Scheme.FTP, Scheme.FTPS):
        raise TransferFailed(f"{url!r} is not an FTP URL", permanent=True)
    parts = urlsplit(url)
    try:
        port = parts.port or _FTP_PORT
    except ValueError as error:
        raise TransferFailed(f"malformed URL {url!r}: {error}", permanent=True) from None
    assert parts.hostname is not None  # scheme_of checked it
    return FtpTarget(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        path=unquote(parts.path).lstrip("/"),
        tls=scheme is Scheme.FTPS,
    )


def upload_url(location: str, file_name: str) -> str:
    """Where a file named ``file_name`` goes in the directory ``location`` (GetDiagnostics, 6.25)."""
    parts = urlsplit(location)
    directory = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit(parts._replace(path=directory + quote(file_name)))


@attrs.frozen
class RetryPlan:
    """How often a transfer is tried, and how long to wait between tries (6.25, 6.55)."""

    attempts: int
    """At least 1: the first try and ``retries`` more."""
    interval: float
    """Seconds between the end of a failed try and the next."""

    @classmethod
    def of(
        cls, retries: int | None, retry_interval: int | None, *, default_retries: int, default_interval: float
    ) -> "RetryPlan":
        """The plan for a request's ``retries`` and ``retryInterval``; the defaults where it leaves them out
        (the specification leaves those to the charge point). Negative values count as 0."""
        retries = default_retries if retries is None else retries
        interval = default_interval if retry_interval is None else retry_interval
        return cls(attempts=1 + max(0, retries), interval=max(0.0, float(interval)))

    def wait_before(self, attempt: int) -> float:
        """Seconds to wait before try number ``attempt`` (counted from 1)."""
        return 0.0 if attempt <= 1 else self.interval


async def with_retries(plan: RetryPlan, attempt: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Run ``attempt`` until it succeeds, at most ``plan.attempts`` times, ``plan.interval`` apart.

    Raises the last :class:`TransferFailed` once every try failed, or the first permanent one.
    """
    failure: TransferFailed | None = None
    for number in range(1, plan.attempts + 1):
        await trio.sleep(plan.wait_before(number))
        try:
            return await attempt()
        except TransferFailed as failed:
            _log.info("%s: try %d of %d failed: %s", what, number, plan.attempts, failed)
            if failed.permanent:
                raise
            failure = failed
    assert failure is not None
    raise failure


async def download(url: str, destination: Path, *, idle_timeout: float) -> None:
    """Fetch ``url`` into the file ``destination`` (replaced); raises :class:`TransferFailed`."""
    scheme = scheme_of(url)
    if scheme in (Scheme.HTTP, Scheme.HTTPS):
        with _http_errors(url):
            await _http_download(url, destination, idle_timeout)
    else:
        target = ftp_target(url)
        with _ftp_errors(url):
            await _in_thread(partial(_ftp_download, target, destination, idle_timeout))


async def upload(location: str, file_name: str, content: bytes, *, idle_timeout: float) -> str:
    """Store ``content`` as ``file_name`` in the directory ``location``; the URL of the stored file.

    Raises :class:`TransferFailed`.
    """
    scheme = scheme_of(location)
    url = upload_url(location, file_name)
    if scheme in (Scheme.HTTP, Scheme.HTTPS):
        with _http_errors(url):
            await _http_upload(url, content, idle_timeout)
    else:
        target = ftp_target(url)
        with _ftp_errors(url):
            await _in_thread(partial(_ftp_upload, target, content, idle_timeout))
    return url


# --- HTTP(S) ----------------------------------------------------------------------------------------------


async def _http_download(url: str, destination: Path, idle_timeout: float) -> None:
    async with (
        httpx.AsyncClient(timeout=idle_timeout, follow_redirects=True) as client,
        client.stream("GET", url) as response,
    ):
        response.raise_for_status()
        async with await trio.open_file(destination, "wb") as file:
            async for chunk in response.aiter_bytes():
                await file.write(chunk)


async def _http_upload(url: str, content: bytes, idle_timeout: float) -> None:
    async with httpx.AsyncClient(timeout=idle_timeout, follow_redirects=True) as client:
        response = await client.put(
            url, content=content, headers={"Content-Type": "application/octet-stream"}
        )
        response.raise_for_status()


@contextlib.contextmanager
def _http_errors(url: str) -> Iterator[None]:
    try:
        yield
    except httpx.HTTPStatusError as error:
        raise TransferFailed(f"{_without_password(url)}: HTTP {error.response.status_code}") from None
    except httpx.InvalidURL as error:
        raise TransferFailed(f"malformed URL {_without_password(url)!r}: {error}", permanent=True) from None
    except (httpx.HTTPError, OSError) as error:
        raise TransferFailed(f"{_without_password(url)}: {type(error).__name__}: {error}") from None


# --- FTP(S) -----------------------------------------------------------------------------------------------


async def _in_thread(work: Callable[[], None]) -> None:
    await trio.to_thread.run_sync(work, abandon_on_cancel=True)


@contextlib.contextmanager
def _ftp_session(target: FtpTarget, idle_timeout: float) -> Iterator[ftplib.FTP]:
    ftp = ftplib.FTP_TLS(timeout=idle_timeout) if target.tls else ftplib.FTP(timeout=idle_timeout)
    try:
        ftp.connect(target.host, target.port)
        ftp.login(target.user, target.password)
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()
        yield ftp
        ftp.quit()
    finally:
        ftp.close()


def _ftp_download(target: FtpTarget, destination: Path, idle_timeout: float) -> None:
    with _ftp_session(target, idle_timeout) as ftp, destination.open("wb") as file:
        ftp.retrbinary(f"RETR {target.path}", file.write)


def _ftp_upload(target: FtpTarget, content: bytes, idle_timeout: float) -> None:
    with _ftp_session(target, idle_timeout) as ftp:
        ftp.storbinary(f"STOR {target.path}", io.BytesIO(content))


@contextlib.contextmanager
def _ftp_errors(url: str) -> Iterator[None]:
    try:
        yield
    except ftplib.all_errors as error:
        raise TransferFailed(f"{_without_password(url)}: {type(error).__name__}: {error}") from None


def _without_password(url: str) -> str:
    """``url`` fit for a log: its password replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
