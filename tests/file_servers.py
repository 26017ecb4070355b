"""Loopback file servers for the file transfer tests, each in a thread of its own: an HTTP server
(``http.server``) that serves files and accepts PUT uploads, and an FTP server (pyftpdlib) over a folder.

They record what they were asked, with the time (``time.monotonic()``), so that tests can count tries and
measure the waits between them.
"""

import contextlib
import http.server
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import attrs

with warnings.catch_warnings():  # pyftpdlib uses asyncore on Python 3.11, which warns of its deprecation
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import FTPServer

LOOPBACK = "127.0.0.1"
FTP_USER, FTP_PASSWORD = "cp", "s3cret:/@"
"""The FTP account; the password needs percent-encoding in a URL."""


@attrs.frozen
class Request:
    """One request the HTTP server answered."""

    method: str
    path: str
    at: float
    status: int


@attrs.define
class HttpFileServer:
    """Serves ``files`` (by path) to GET, keeps PUT bodies in ``uploads`` (by path), and answers ``refuse``'s
    status instead for the paths that begin with one it names."""

    port: int = 0
    files: dict[str, bytes] = attrs.Factory(dict)
    uploads: dict[str, bytes] = attrs.Factory(dict)
    refuse: dict[str, int] = attrs.Factory(dict)
    requests: list[Request] = attrs.Factory(list)
    lock: threading.Lock = attrs.Factory(threading.Lock)

    def url(self, path: str) -> str:
        """The URL of ``path`` (which starts with ``/``) on this server."""
        return f"http://{LOOPBACK}:{self.port}{path}"

    def refused(self, path: str) -> int | None:
        """The status ``refuse`` gives ``path``, if any (call it holding the lock)."""
        return next((status for start, status in self.refuse.items() if path.startswith(start)), None)

    def tries(self, method: str, path: str) -> list[Request]:
        """The requests of ``method`` for ``path``, in order."""
        with self.lock:
            return [request for request in self.requests if (request.method, request.path) == (method, path)]


class _Handler(http.server.BaseHTTPRequestHandler):
    server_state: HttpFileServer

    def do_GET(self) -> None:
        state = self.server_state
        with state.lock:
            status = state.refused(self.path) or (200 if self.path in state.files else 404)
            body = state.files.get(self.path, b"") if status == 200 else b""
            state.requests.append(Request("GET", self.path, time.monotonic(), status))
        self._answer(status, body)

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        state = self.server_state
        with state.lock:
            status = state.refused(self.path) or 201
            if status == 201:
                state.uploads[self.path] = body
            state.requests.append(Request("PUT", self.path, time.monotonic(), status))
        self._answer(status, b"")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def http_file_server() -> Iterator[HttpFileServer]:
    """An HTTP file server on a free loopback port, for the duration of the ``with`` block."""
    state = HttpFileServer()
    handler = type("Handler", (_Handler,), {"server_state": state})
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@attrs.frozen
class FtpFileServer:
    """An FTP server whose account ``FTP_USER`` sees ``root``."""

    port: int
    root: Path

    def url(self, path: str, *, scheme: str = "ftp") -> str:
        """The URL of ``path`` (which starts with ``/``), with the account's user and password."""
        return f"{scheme}://{FTP_USER}:s3cret%3A%2F%40@{LOOPBACK}:{self.port}{path}"


@contextlib.contextmanager
def ftp_file_server(root: Path) -> Iterator[FtpFileServer]:
    """An FTP server on a free loopback port over the folder ``root``, for the ``with`` block."""
    authorizer = DummyAuthorizer()
    authorizer.add_user(FTP_USER, FTP_PASSWORD, str(root), perm="elradfmw")
    handler = type(
        "Handler", (FTPHandler,), {"authorizer": authorizer, "banner": "test", "auth_failed_timeout": 0}
    )
    server = FTPServer((LOOPBACK, 0), handler, ioloop=IOLoop())
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield FtpFileServer(server.address[1], root)
    finally:
        stop.set()
        thread.join()


def unused_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])
