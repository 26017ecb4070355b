"""The offline queue of transaction-related messages (spec 3.7), and the ids of the transactions they name.

Messages wait in creation order across all connectors of a charge point; each has a sequence number that is
never reused, so a late ``remove`` cannot hit a newer message. The queue keeps a message as an action name
and a JSON payload and interprets nothing else: what a payload means is the sender's business.

A transaction started offline is known by a *local* id (negative, from :func:`new_local_transaction`) until
StartTransaction's answer gives the Central System's id; the queue keeps that mapping
(:func:`set_transaction_id`) so that the StopTransaction and MeterValues of the transaction can be sent with
the right id, also after a reboot.

**Bound.** When a new message finds ``limit`` messages waiting, :func:`overflow_victim` chooses what to
drop: the oldest MeterValues that is not at the head (the head may be in flight). StartTransaction and
StopTransaction are never dropped: if nothing can be dropped, the queue grows beyond its limit, since a lost
StopTransaction is a lost bill, and it grows only by the Start and Stop of real sessions.
"""

import sqlite3
from collections.abc import Iterable
from datetime import datetime

import attrs

from storage.counters import next_value
from storage.encoding import JsonObject, instant_from_text, load_json

__all__ = [
    "DROPPABLE_ACTIONS",
    "QueuedMessage",
    "depth",
    "drop_transaction",
    "enqueue",
    "head",
    "new_local_transaction",
    "overflow_victim",
    "queued_actions",
    "record_attempt",
    "remove",
    "set_transaction_id",
    "transaction_id",
]

DROPPABLE_ACTIONS = frozenset({"MeterValues"})
"""Actions the bound may drop: intermediate meter data, never the StartTransaction or StopTransaction."""


@attrs.frozen
class QueuedMessage:
    """A message waiting in the offline queue."""

    seq: int
    """Its place in the queue: creation order across the connectors of the charge point."""
    action: str
    payload: JsonObject
    local_transaction: int | None
    """The local id of the transaction it opens or names, if it was queued with one."""
    transaction_id: int | None
    """The Central System's id for ``local_transaction``, once known."""
    attempts: int
    """Failed deliveries so far (:meth:`record_attempt`)."""
    next_attempt_at: datetime | None
    """When to try again, as :meth:`record_attempt` last said."""


def overflow_victim(depth: int, limit: int, queued: Iterable[tuple[int, str]]) -> int | None:
    """The sequence number to drop before a new message joins ``depth`` waiting ones, or ``None``.

    ``queued`` is ``(seq, action)`` in queue order; it is read only as far as the first droppable message.
    """
    if depth < limit:
        return None
    messages = iter(queued)
    next(messages, None)  # the head may be on its way to the Central System
    for seq, action in messages:
        if action in DROPPABLE_ACTIONS:
            return seq
    return None


def enqueue(
    connection: sqlite3.Connection,
    charge_point_id: str,
    action: str,
    payload: str,
    local_transaction: int | None,
    limit: int,
) -> int:
    """Append a message (``payload`` is JSON text), dropping one first if the queue is full; its seq."""
    waiting = depth(connection, charge_point_id)
    if waiting >= limit:
        queued = connection.execute(
            "SELECT seq, action FROM offline_queue WHERE charge_point_id = ? ORDER BY seq", (charge_point_id,)
        )
        victim = overflow_victim(waiting, limit, queued)
        queued.close()
        if victim is not None:
            remove(connection, charge_point_id, victim)
    seq = next_value(connection, charge_point_id, "last_queue_seq")
    connection.execute(
        "INSERT INTO offline_queue (charge_point_id, seq, action, payload, local_transaction)"
        " VALUES (?, ?, ?, ?, ?)",
        (charge_point_id, seq, action, payload, local_transaction),
    )
    return seq


def head(connection: sqlite3.Connection, charge_point_id: str) -> QueuedMessage | None:
    """The oldest message, with the Central System's id of its transaction if known."""
    row = connection.execute(
        "SELECT q.seq, q.action, q.payload, q.local_transaction, t.transaction_id, q.attempts,"
        " q.next_attempt_at"
        " FROM offline_queue q LEFT JOIN transaction_ids t"
        " ON t.charge_point_id = q.charge_point_id AND t.local_transaction = q.local_transaction"
        " WHERE q.charge_point_id = ? ORDER BY q.seq LIMIT 1",
        (charge_point_id,),
    ).fetchone()
    if row is None:
        return None
    seq, action, payload, local_transaction, csms_transaction_id, attempts, next_attempt_at = row
    return QueuedMessage(
        seq=seq,
        action=action,
        payload=load_json(payload),
        local_transaction=local_transaction,
        transaction_id=csms_transaction_id,
        attempts=attempts,
        next_attempt_at=None if next_attempt_at is None else instant_from_text(next_attempt_at),
    )


def record_attempt(
    connection: sqlite3.Connection, charge_point_id: str, seq: int, next_attempt_at: str | None
) -> int:
    """Count a failed delivery of message ``seq`` and keep when to try again; the attempts so far.

    Raises ``KeyError`` if no such message waits.
    """
    cursor = connection.execute(
        "UPDATE offline_queue SET attempts = attempts + 1, next_attempt_at = ?"
        " WHERE charge_point_id = ? AND seq = ?",
        (next_attempt_at, charge_point_id, seq),
    )
    if cursor.rowcount == 0:
        raise KeyError(seq)
    (attempts,) = connection.execute(
        "SELECT attempts FROM offline_queue WHERE charge_point_id = ? AND seq = ?", (charge_point_id, seq)
    ).fetchone()
    return int(attempts)


def remove(connection: sqlite3.Connection, charge_point_id: str, seq: int) -> None:
    """Take message ``seq`` out of the queue (nothing happens if it is not there)."""
    connection.execute(
        "DELETE FROM offline_queue WHERE charge_point_id = ? AND seq = ?", (charge_point_id, seq)
    )


def depth(connection: sqlite3.Connection, charge_point_id: str) -> int:
    """How many messages wait."""
    (count,) = connection.execute(
        "SELECT COUNT(*) FROM offline_queue WHERE charge_point_id = ?", (charge_point_id,)
    ).fetchone()
    return int(count)


def queued_actions(connection: sqlite3.Connection, charge_point_id: str, local_transaction: int) -> list[str]:
    """The actions of the messages waiting that name ``local_transaction``, in queue order."""
    rows = connection.execute(
        "SELECT action FROM offline_queue WHERE charge_point_id = ? AND local_transaction = ? ORDER BY seq",
        (charge_point_id, local_transaction),
    )
    return [action for (action,) in rows]


def new_local_transaction(connection: sqlite3.Connection, charge_point_id: str) -> int:
    """A local transaction id never handed out before by this charge point: -1, -2, ..."""
    return -next_value(connection, charge_point_id, "last_local_transaction")


def set_transaction_id(
    connection: sqlite3.Connection, charge_point_id: str, local_transaction: int, csms_transaction_id: int
) -> None:
    """Keep the Central System's id of a transaction known locally as ``local_transaction``."""
    connection.execute(
        "INSERT INTO transaction_ids (charge_point_id, local_transaction, transaction_id) VALUES (?, ?, ?)"
        " ON CONFLICT (charge_point_id, local_transaction)"
        " DO UPDATE SET transaction_id = excluded.transaction_id",
        (charge_point_id, local_transaction, csms_transaction_id),
    )


def transaction_id(
    connection: sqlite3.Connection, charge_point_id: str, local_transaction: int
) -> int | None:
    """The Central System's id of a local transaction, if known."""
    row = connection.execute(
        "SELECT transaction_id FROM transaction_ids WHERE charge_point_id = ? AND local_transaction = ?",
        (charge_point_id, local_transaction),
    ).fetchone()
    return None if row is None else int(row[0])


def drop_transaction(connection: sqlite3.Connection, charge_point_id: str, local_transaction: int) -> int:
    """Forget a local transaction: its waiting messages and its id mapping; how many messages were dropped."""
    cursor = connection.execute(
        "DELETE FROM offline_queue WHERE charge_point_id = ? AND local_transaction = ?",
        (charge_point_id, local_transaction),
    )
    connection.execute(
        "DELETE FROM transaction_ids WHERE charge_point_id = ? AND local_transaction = ?",
        (charge_point_id, local_transaction),
    )
    return cursor.rowcount
