"""File transfers (spec chapter 8): which protocol a URL names, how it is parsed, the retry plan of
UpdateFirmware and GetDiagnostics (6.25, 6.55), and real transfers against loopback HTTP and FTP servers."""

from pathlib import Path

import pytest
import trio
import trio.testing
from file_servers import FTP_USER, ftp_file_server, http_file_server, unused_port

from actors.transfer import (
    FtpTarget,
    RetryPlan,
    Scheme,
    TransferFailed,
    download,
    ftp_target,
    scheme_of,
    upload,
    upload_url,
    with_retries,
)

TIMEOUT = 5.0
"""Seconds of silence after which a transfer fails; loopback transfers take milliseconds."""


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("ftp://host/fw.bin", Scheme.FTP),
        ("FTPS://host/fw.bin", Scheme.FTPS),
        ("http://host:8080/fw.bin", Scheme.HTTP),
        ("https://host/fw.bin?token=1", Scheme.HTTPS),
    ],
)
def test_the_scheme_chooses_the_protocol(url: str, scheme: Scheme) -> None:
    assert scheme_of(url) is scheme


@pytest.mark.parametrize(
    "url", ["sftp://host/fw.bin", "file:///tmp/fw.bin", "fw.bin", "http:///fw.bin", "http://[::1/fw.bin"]
)
def test_other_schemes_and_malformed_urls_fail_for_good(url: str) -> None:
    with pytest.raises(TransferFailed) as failed:
        scheme_of(url)
    assert failed.value.permanent


def test_an_ftp_url_of_chapter_8() -> None:
    assert ftp_target("ftp://user:pa%3Ass@files.example.com:2121/fw/acme%201.bin") == FtpTarget(
        host="files.example.com", port=2121, user="user", password="pa:ss", path="fw/acme 1.bin", tls=False
    )
    # user:password@ and :port may be left out (8.1): an anonymous login on port 21
    assert ftp_target("ftps://files.example.com/") == FtpTarget(
        host="files.example.com", port=21, user="", password="", path="", tls=True
    )
    with pytest.raises(TransferFailed):
        ftp_target("http://files.example.com/fw.bin")


@pytest.mark.parametrize(
    ("location", "url"),
    [
        ("ftp://host/diagnostics/", "ftp://host/diagnostics/d 1.log"),
        ("ftp://host/diagnostics", "ftp://host/diagnostics/d 1.log"),
        ("ftp://host", "ftp://host/d 1.log"),
        ("https://host/upload?token=x", "https://host/upload/d 1.log?token=x"),
    ],
)
def test_the_location_is_a_directory(location: str, url: str) -> None:
    assert upload_url(location, "d 1.log") == url.replace(" ", "%20")


def test_the_retry_plan_of_a_request() -> None:
    assert RetryPlan.of(3, 10, default_retries=1, default_interval=60) == RetryPlan(attempts=4, interval=10)
    assert RetryPlan.of(None, None, default_retries=1, default_interval=60) == RetryPlan(2, 60)
    assert RetryPlan.of(0, 0, default_retries=1, default_interval=60) == RetryPlan(1, 0)
    assert RetryPlan.of(-2, -5, default_retries=1, default_interval=60) == RetryPlan(1, 0)
    plan = RetryPlan(attempts=3, interval=10)
    assert [plan.wait_before(attempt) for attempt in (1, 2, 3)] == [0, 10, 10]


async def test_retries_come_retry_interval_apart_until_the_last_try(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tries: list[float] = []

    async def fail() -> None:
        tries.append(trio.current_time())
        raise TransferFailed("refused")

    start = trio.current_time()
    with pytest.raises(TransferFailed, match="refused"):
        await with_retries(RetryPlan(attempts=3, interval=30), fail, what="test")
    assert [time - start for time in tries] == [0, 30, 60]


async def test_a_try_that_succeeds_ends_the_retries(autojump_clock: trio.testing.MockClock) -> None:
    tries: list[float] = []

    async def second_time_lucky() -> str:
        tries.append(trio.current_time())
        if len(tries) < 2:
            raise TransferFailed("refused")
        return "done"

    assert await with_retries(RetryPlan(attempts=5, interval=7), second_time_lucky, what="test") == "done"
    assert len(tries) == 2


async def test_a_permanent_failure_is_not_retried(autojump_clock: trio.testing.MockClock) -> None:
    tries = 0

    async def unsupported() -> None:
        nonlocal tries
        tries += 1
        raise TransferFailed("sftp", permanent=True)

    with pytest.raises(TransferFailed):
        await with_retries(RetryPlan(attempts=3, interval=30), unsupported, what="test")
    assert tries == 1


# --- real transfers over loopback ------------------------------------------------------------------------


async def test_http_download_and_upload(tmp_path: Path) -> None:
    image = bytes(range(256)) * 1000
    with http_file_server() as server, trio.fail_after(10):
        server.files["/images/fw-2.0.bin"] = image
        await download(server.url("/images/fw-2.0.bin"), tmp_path / "fw.bin", idle_timeout=TIMEOUT)
        assert (tmp_path / "fw.bin").read_bytes() == image

        stored = await upload(server.url("/upload"), "d.log", b"diagnostics\n", idle_timeout=TIMEOUT)
        assert stored == server.url("/upload/d.log")
        assert server.uploads == {"/upload/d.log": b"diagnostics\n"}


async def test_http_errors_become_transfer_failures(tmp_path: Path) -> None:
    with http_file_server() as server, trio.fail_after(10):
        server.refuse["/upload/d.log"] = 503
        with pytest.raises(TransferFailed, match="HTTP 404"):
            await download(server.url("/missing.bin"), tmp_path / "fw.bin", idle_timeout=TIMEOUT)
        with pytest.raises(TransferFailed, match="HTTP 503"):
            await upload(server.url("/upload/"), "d.log", b"x", idle_timeout=TIMEOUT)
        assert server.uploads == {}
    with pytest.raises(TransferFailed) as refused, trio.fail_after(10):
        await download(f"http://127.0.0.1:{unused_port()}/fw.bin", tmp_path / "fw.bin", idle_timeout=TIMEOUT)
    assert not refused.value.permanent


async def test_ftp_download_and_upload_with_a_user_and_password(tmp_path: Path) -> None:
    root = tmp_path / "ftp"
    (root / "images").mkdir(parents=True)
    (root / "diagnostics").mkdir()
    image = b"\x00\x01firmware\xff" * 5000
    (root / "images" / "fw 3.1.bin").write_bytes(image)
    with ftp_file_server(root) as server, trio.fail_after(10):
        await download(server.url("/images/fw%203.1.bin"), tmp_path / "fw.bin", idle_timeout=TIMEOUT)
        assert (tmp_path / "fw.bin").read_bytes() == image

        await upload(server.url("/diagnostics/"), "d.log", b"diagnostics\n", idle_timeout=TIMEOUT)
        assert (root / "diagnostics" / "d.log").read_bytes() == b"diagnostics\n"


async def test_ftp_errors_become_transfer_failures(tmp_path: Path) -> None:
    root = tmp_path / "ftp"
    root.mkdir()
    with ftp_file_server(root) as server, trio.fail_after(10):
        with pytest.raises(TransferFailed, match="550"):  # no such file
            await download(server.url("/missing.bin"), tmp_path / "fw.bin", idle_timeout=TIMEOUT)
        wrong_password = server.url("/x.bin").replace("s3cret%3A%2F%40", "guess")
        with pytest.raises(TransferFailed, match="530") as refused:  # login incorrect
            await upload(wrong_password, "d.log", b"x", idle_timeout=TIMEOUT)
        assert f"{FTP_USER}:***@" in str(refused.value), "the password stays out of messages and logs"
        assert "guess" not in str(refused.value)
