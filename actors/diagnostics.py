"""Diagnostics (spec 4.4, 5.9): the charge point's recent messages, uploaded where the Central System asks.

**What the file holds.** Every charge point keeps a :class:`MessageJournal`: the last
``ChargePointSettings.journal_size`` OCPP messages it sent or received (default 100), with the wall-clock
time of each, in memory only (a gateway keeps its logs elsewhere; a fleet of thousands cannot keep much per
charge point). The diagnostics file (:func:`diagnostics_content`) is UTF-8 text: a header of facts about the
charge point (identity, firmware, boots, connection, each connector's status), then the journal's messages
between ``startTime`` and ``stopTime`` (both optional, both inclusive), one per line, oldest first::

    2026-11-21T12:00:00.000Z > [2,"1","Heartbeat",{}]
    2026-11-21T12:00:00.020Z < [3,"1",{"currentTime":"2026-11-21T12:00:00Z"}]

(``>`` sent, ``<`` received). The header is always there, so a file is always available (5.9: GetDiagnostics
is answered with its name, ``diagnostics-<charge point id>-<UTC time>.log``, :func:`diagnostics_file_name`).

**The upload.** :class:`DiagnosticsUploads`, owned by the ChargePoint and living in its power-on's nursery,
uploads each requested file with ``actors.transfer`` (HTTP(S) PUT or FTP(S) STOR into the ``location``
directory), reporting ``Uploading`` then ``Uploaded`` or, after ``retries`` more tries ``retryInterval``
seconds apart (defaults :data:`DEFAULT_RETRIES` and :data:`DEFAULT_RETRY_INTERVAL`), ``UploadFailed``, each
as a DiagnosticsStatusNotification sent if online. The file's content is taken when its upload starts.
Uploads go one at a time in the order asked; a GetDiagnostics that finds :data:`MAX_WAITING` uploads waiting
is answered without a file name. A reboot or a power cut abandons the uploads not done.
:attr:`DiagnosticsUploads.status` is what a TriggerMessage reports: ``Idle`` unless an upload is under way.
"""

import collections
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import partial

import attrs
import trio

from actors.clock import WallClock
from actors.connection import ConnectionLost
from actors.link import CallFailed, CallTimeout
from actors.ocpp import (
    DiagnosticsStatus,
    DiagnosticsStatusNotificationRequest,
    GetDiagnosticsRequest,
    format_datetime,
)
from actors.on_demand import OnDemandTask
from actors.outbox import Offline, Outbox
from actors.transfer import RetryPlan, TransferFailed, upload, with_retries

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_RETRY_INTERVAL",
    "DIAGNOSTICS_TRANSITIONS",
    "MAX_WAITING",
    "DiagnosticsUploads",
    "JournalEntry",
    "MessageJournal",
    "diagnostics_content",
    "diagnostics_file_name",
    "diagnostics_retry_plan",
    "select_entries",
]

_log = logging.getLogger(__name__)

DEFAULT_RETRIES = 2
"""Tries after the first when GetDiagnostics has no ``retries``."""
DEFAULT_RETRY_INTERVAL = 30
"""Seconds between tries when GetDiagnostics has no ``retryInterval``."""
MAX_WAITING = 4
"""Uploads that may wait behind the one under way."""

_D = DiagnosticsStatus

DIAGNOSTICS_TRANSITIONS: dict[DiagnosticsStatus, frozenset[DiagnosticsStatus]] = {
    _D.IDLE: frozenset({_D.UPLOADING}),
    _D.UPLOADING: frozenset({_D.UPLOADED, _D.UPLOAD_FAILED}),
    _D.UPLOADED: frozenset({_D.IDLE, _D.UPLOADING}),
    _D.UPLOAD_FAILED: frozenset({_D.IDLE, _D.UPLOADING}),
}
"""The statuses of diagnostics uploads (4.4, 7.24), as the changes each may lead to."""


@attrs.frozen
class JournalEntry:
    """One OCPP message as it went over the wire."""

    at: datetime
    sent: bool
    """True for a message of this charge point, False for one of the Central System."""
    text: str


class MessageJournal:
    """The last ``capacity`` messages of a charge point, oldest first; older ones are forgotten."""

    __slots__ = ("_entries", "_now", "forgotten")

    def __init__(self, now: Callable[[], float], capacity: int) -> None:
        """``now()``: the wall-clock time in POSIX seconds (:meth:`actors.clock.WallClock.timestamp`)."""
        self._now = now
        # plain tuples (POSIX seconds, sent, text): a message costs a float to stamp and little to keep
        self._entries: collections.deque[tuple[float, bool, str]] = collections.deque(maxlen=max(0, capacity))
        self.forgotten = 0
        """How many messages were pushed out by newer ones."""

    def record(self, text: str | bytes, sent: bool) -> None:
        """Keep a message sent (``sent``) or received, stamped with the present wall-clock time (a binary
        one, which OCPP-J does not use, as its ``repr``)."""
        entries = self._entries
        if entries.maxlen == 0:
            return
        if len(entries) == entries.maxlen:
            self.forgotten += 1
        entries.append((self._now(), sent, text if isinstance(text, str) else repr(text)))

    def entries(self) -> list[JournalEntry]:
        """The messages kept, oldest first."""
        return [JournalEntry(datetime.fromtimestamp(at, UTC), sent, text) for at, sent, text in self._entries]


def select_entries(
    entries: Iterable[JournalEntry], start: datetime | None, stop: datetime | None
) -> list[JournalEntry]:
    """The entries from ``start`` to ``stop`` (inclusive; either may be left open), in their order."""
    return [
        entry
        for entry in entries
        if (start is None or entry.at >= start) and (stop is None or entry.at <= stop)
    ]


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def diagnostics_file_name(charge_point_id: str, now: datetime) -> str:
    """The name of a diagnostics file: ``diagnostics-<id>-<UTC time>.log``, safe in a URL and a file system
    (any other character of the id becomes ``_``); at most 255 characters, as GetDiagnostics.conf allows."""
    stamp = format_datetime(now.replace(microsecond=0)).replace("-", "").replace(":", "")
    return f"diagnostics-{_UNSAFE.sub('_', charge_point_id)}-{stamp}.log"[:255]


def diagnostics_content(
    facts: Sequence[tuple[str, str]],
    entries: Sequence[JournalEntry],
    *,
    start: datetime | None,
    stop: datetime | None,
    generated_at: datetime,
    forgotten: int = 0,
) -> bytes:
    """The diagnostics file: a header of ``facts`` (name, value), then the messages between ``start`` and
    ``stop``, one per line; ``forgotten`` says how many older messages the journal no longer holds."""
    chosen = select_entries(entries, start, stop)
    lines = ["# ocpp-fleet diagnostics"]
    lines += [f"{name}: {value}" for name, value in facts]
    lines += [
        f"generatedAt: {format_datetime(generated_at)}",
        f"startTime: {format_datetime(start) if start is not None else '-'}",
        f"stopTime: {format_datetime(stop) if stop is not None else '-'}",
        f"messages: {len(chosen)} ({forgotten} older ones no longer kept)",
        "",
    ]
    lines += [f"{format_datetime(entry.at)} {'>' if entry.sent else '<'} {entry.text}" for entry in chosen]
    return ("\n".join(lines) + "\n").encode()


def diagnostics_retry_plan(request: GetDiagnosticsRequest) -> RetryPlan:
    """How often, and how far apart, the file is uploaded (6.25: the charge point decides if not told)."""
    return RetryPlan.of(
        request.retries,
        request.retry_interval,
        default_retries=DEFAULT_RETRIES,
        default_interval=DEFAULT_RETRY_INTERVAL,
    )


@attrs.frozen
class _Upload:
    request: GetDiagnosticsRequest
    file_name: str


class DiagnosticsUploads:
    """Uploads the diagnostics files the Central System asks of one charge point (see the module's text)."""

    __slots__ = (
        "_charge_point_id",
        "_clock",
        "_facts",
        "_journal",
        "_outbox",
        "_status",
        "_transfer_timeout",
        "_uploader",
        "_waiting",
    )

    def __init__(
        self,
        *,
        journal: MessageJournal,
        outbox: Outbox,
        clock: Callable[[], WallClock],
        facts: Callable[[], Sequence[tuple[str, str]]],
        transfer_timeout: float,
        charge_point_id: str,
    ) -> None:
        """``facts()`` gives the header of each file, when its upload starts."""
        self._journal = journal
        self._outbox = outbox
        self._clock = clock
        self._facts = facts
        self._transfer_timeout = transfer_timeout
        self._charge_point_id = charge_point_id
        self._status = DiagnosticsStatus.IDLE
        self._waiting: list[_Upload] | None = None  # a few at most (MAX_WAITING): a list is cheaper
        """The uploads asked for and not begun, during a power-on."""
        self._uploader = OnDemandTask(self._upload_waiting, name=f"{charge_point_id} diagnostics upload")

    @property
    def status(self) -> DiagnosticsStatus:
        """``Uploading`` while an upload is under way, else ``Idle`` (what TriggerMessage reports, 4.4)."""
        return self._status if self._status is DiagnosticsStatus.UPLOADING else DiagnosticsStatus.IDLE

    def request(self, request: GetDiagnosticsRequest) -> str | None:
        """GetDiagnostics: the name of the file that will be uploaded, or ``None`` if it cannot be now."""
        waiting = self._waiting
        if waiting is None:
            return None
        if len(waiting) >= MAX_WAITING:
            _log.warning("%s: GetDiagnostics: %d uploads wait already", self._charge_point_id, MAX_WAITING)
            return None
        name = diagnostics_file_name(self._charge_point_id, self._clock().now())
        waiting.append(_Upload(request, name))
        self._uploader.wake()
        return name

    def power_on(self, nursery: trio.Nursery) -> None:
        """Upload what :meth:`request` is given, one file at a time, in ``nursery``, until :meth:`power_off`;
        a task runs only while there is something to upload."""
        self._status = DiagnosticsStatus.IDLE
        self._waiting = []
        self._uploader.start(nursery)

    def power_off(self) -> None:
        """The power-on ends (its nursery cancels an upload under way): requests wait for the next one."""
        self._uploader.stop()
        self._waiting = None

    async def _upload_waiting(self) -> None:
        while self._waiting:
            await self._upload(self._waiting.pop(0))

    async def _upload(self, job: _Upload) -> None:
        request = job.request
        await self._report(DiagnosticsStatus.UPLOADING)
        content = diagnostics_content(
            self._facts(),
            self._journal.entries(),
            start=request.start_time,
            stop=request.stop_time,
            generated_at=self._clock().now(),
            forgotten=self._journal.forgotten,
        )
        try:
            await with_retries(
                diagnostics_retry_plan(request),
                partial(
                    upload, request.location, job.file_name, content, idle_timeout=self._transfer_timeout
                ),
                what=f"{self._charge_point_id}: diagnostics upload",
            )
        except TransferFailed as failed:
            _log.warning("%s: diagnostics upload failed: %s", self._charge_point_id, failed)
            await self._report(DiagnosticsStatus.UPLOAD_FAILED)
            return
        _log.info("%s: diagnostics %s uploaded", self._charge_point_id, job.file_name)
        await self._report(DiagnosticsStatus.UPLOADED)

    async def _report(self, status: DiagnosticsStatus) -> None:
        """Take ``status`` and tell the Central System, if online (a status not delivered is not retried)."""
        assert status in DIAGNOSTICS_TRANSITIONS[self._status], f"{self._status} -> {status}"
        self._status = status
        try:
            await self._outbox.call(DiagnosticsStatusNotificationRequest(status=status))
        except (Offline, ConnectionLost, CallTimeout, CallFailed) as problem:
            _log.info(
                "%s: DiagnosticsStatusNotification %s not delivered: %s",
                self._charge_point_id,
                status,
                problem,
            )
