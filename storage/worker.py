"""Threads that own SQLite connections, so that no SQLite call ever runs on the event loop.

A :class:`Worker` is one thread with one connection. Trio tasks hand it jobs (plain functions of the
connection) through a thread-safe queue and wait on a :class:`trio.Event` that the thread sets, through the
trio token of the waiting task, once the job is done. The thread takes every job that is waiting as one
batch, so the work that arrives while a batch runs becomes the next batch:

- :func:`commit_batch` (the writer) runs a batch as one transaction, each job inside a savepoint of its own,
  and commits once: **group commit**. A job that raises is rolled back alone and its caller gets the
  exception; the others commit. Every caller is told only after the COMMIT, so when its ``await`` returns,
  its change is as durable as the connection's ``synchronous`` setting makes a commit.
- :func:`read_batch` (the reader) runs a batch in one read transaction.

Reads on a separate connection never wait for the writer's fsync: in WAL mode readers and the writer do not
block each other, and a read started after a write's ``await`` returned sees that write.
"""

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import trio

__all__ = ["Job", "Worker", "commit_batch", "read_batch"]

T = TypeVar("T")


class Job(Generic[T]):
    """One function of a connection, run on the worker thread, and what came of it."""

    __slots__ = ("_token", "done", "error", "function", "ran", "result")

    def __init__(self, function: Callable[[sqlite3.Connection], T]) -> None:
        self.function = function
        self.done = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        self.ran = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self, connection: sqlite3.Connection) -> None:
        """Run the function (on the worker thread) and keep its result or its exception."""
        self.ran = True
        self.error = None
        try:
            self.result = self.function(connection)
        except Exception as error:
            self.error = error

    def fail(self, error: BaseException) -> None:
        """Make the job's outcome ``error``, whatever the function returned."""
        self.ran = True
        self.result = None
        self.error = error

    def deliver(self) -> None:
        """Wake the waiting task (from the worker thread)."""
        deliver_all([self])

    def outcome(self) -> T:
        """The function's result, or its exception raised again (in the waiting task)."""
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


def deliver_all(jobs: list["Job[Any]"]) -> None:
    """Wake the tasks waiting for ``jobs`` (from the worker thread): one call into each trio run, whatever
    the number of jobs, since every call wakes the event loop through its wake-up socket."""
    by_token: dict[trio.lowlevel.TrioToken, list[trio.Event]] = {}
    for job in jobs:
        by_token.setdefault(job._token, []).append(job.done)
    for token, events in by_token.items():
        with contextlib.suppress(trio.RunFinishedError):  # else nobody is left to wait for them
            token.run_sync_soon(_set_all, events)


def _set_all(events: list[trio.Event]) -> None:
    for event in events:
        event.set()


BatchRunner = Callable[[sqlite3.Connection, list[Job[Any]]], int]
"""Runs a batch of jobs on a connection and returns how many transactions it committed."""


class Worker:
    """A thread that owns one SQLite connection and runs the jobs handed to it, in batches, in order."""

    def __init__(self, name: str, connect: Callable[[], sqlite3.Connection], run_batch: BatchRunner) -> None:
        self._connect = connect
        self._run_batch = run_batch
        self._jobs: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self._closed = False
        self.commits = 0
        """Transactions committed so far (read from the event loop; only the thread writes it)."""
        # A daemon: a process that ends without closing its database must not hang. SQLite is crash-safe,
        # so the thread's death loses at most jobs whose callers have not been answered.
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    async def run(self, function: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``function(connection)`` on the thread and return its result or raise its exception.

        If the caller is cancelled while it waits, the job still runs (a write may or may not be durable).
        """
        if self._closed:
            raise trio.ClosedResourceError("the database is closed")
        job = Job(function)
        self._jobs.put(job)
        await job.done.wait()
        return job.outcome()

    async def aclose(self) -> None:
        """Run the jobs already handed over, close the connection and end the thread (even if cancelled)."""
        if not self._closed:
            self._closed = True
            self._jobs.put(None)
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self._thread.join)

    def _main(self) -> None:
        try:
            connection = self._connect()
        except Exception as error:
            self._fail_everything(error)
            return
        try:
            while (batch := self._next_batch()) is not None:
                try:
                    self.commits += self._run_batch(connection, batch)
                # The batch itself failed (say, ROLLBACK TO did): nothing of it is committed, all fail.
                except BaseException as error:
                    for job in batch:
                        job.fail(error)
                    with contextlib.suppress(sqlite3.Error):
                        connection.rollback()
                deliver_all(batch)
        finally:
            connection.close()

    def _next_batch(self) -> list[Job[Any]] | None:
        """Every job waiting, or ``None`` once the end has been asked for and everything before it is done."""
        first = self._jobs.get()
        if first is None:
            return None
        batch = [first]
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return batch
            if job is None:
                self._jobs.put(None)  # stop after this batch; nothing can be queued after the end
                return batch
            batch.append(job)

    def _fail_everything(self, error: Exception) -> None:
        while (job := self._jobs.get()) is not None:
            job.fail(error)
            job.deliver()


def commit_batch(connection: sqlite3.Connection, jobs: list[Job[Any]]) -> int:
    """Run ``jobs`` in one transaction, each in a savepoint of its own, and commit once (group commit).

    A job that raises is rolled back to its savepoint and fails alone. Should its error have ended the whole
    transaction (SQLite does that for a few errors, such as a full disk), the transaction starts again
    without it: the jobs before it that had succeeded run once more, in the same order.
    """
    pending = jobs
    while pending:
        connection.execute("BEGIN IMMEDIATE")
        aborted_by: Job[Any] | None = None
        for job in pending:
            connection.execute("SAVEPOINT change")
            job.run(connection)
            if job.error is None:
                connection.execute("RELEASE change")
            elif connection.in_transaction:
                connection.execute("ROLLBACK TO change")
                connection.execute("RELEASE change")
            else:
                aborted_by = job
                break
        if aborted_by is not None:
            pending = [job for job in pending if job is not aborted_by and not (job.ran and job.error)]
            continue
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            for job in pending:
                if job.error is None:
                    job.fail(error)
            return 0
        return 1
    return 0


def read_batch(connection: sqlite3.Connection, jobs: list[Job[Any]]) -> int:
    """Run ``jobs`` in one read transaction (a consistent snapshot), committing nothing.

    The snapshot is taken once every job of the batch has been handed over, so each job sees every write
    whose ``await`` returned before it was; one transaction for all of them saves two statements per job
    when a fleet loads thousands of charge points' state at once. A job whose error ended the transaction
    leaves the next one a new snapshot.
    """
    try:
        for job in jobs:
            if not connection.in_transaction:
                connection.execute("BEGIN")
            job.run(connection)
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
    return 0
