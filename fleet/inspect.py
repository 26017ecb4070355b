"""``ocpp-fleet inspect``: the state each charge point saved in a database, as text or as JSON.

The reading is ``storage.inspect_database`` (read-only); this module only lays out what it returns.
"""

import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from storage import ChargePointSummary, ConnectorSummary, inspect_database

__all__ = ["format_text", "print_inspection", "to_json"]

_LABEL_WIDTH = 16  # the column where values start


def print_inspection(
    out: TextIO,
    path: str | os.PathLike[str],
    *,
    charge_point_id: str | None = None,
    as_json: bool = False,
) -> None:
    """Write the state of every charge point in the database at ``path`` (or of one) to ``out``.

    Raises :class:`storage.StorageError` if the file cannot be inspected or holds nothing of
    ``charge_point_id``.
    """
    summaries = inspect_database(path, charge_point_id)
    if as_json:
        out.write(json.dumps(to_json(summaries), indent=2, ensure_ascii=False) + "\n")
    elif summaries:
        out.write(format_text(summaries))
    else:
        out.write(f"{os.fspath(path)}: no charge point has saved anything\n")


# Text


def format_text(summaries: Iterable[ChargePointSummary]) -> str:
    """One block per charge point, separated by blank lines, values aligned in one column."""
    return "\n".join("".join(line + "\n" for line in _block(summary)) for summary in summaries)


def _block(summary: ChargePointSummary) -> list[str]:
    lines = [summary.charge_point_id]
    lines.append(_line("offline queue", _queue(summary)))
    lines.append(
        _line(
            "local list", f"version {summary.local_list_version}, {_count(summary.local_list_size, 'idTag')}"
        )
    )
    lines.append(_line("cache", _count(summary.cache_size, "idTag")))
    for connector in summary.connectors:
        lines.extend(_connector(connector))
    configuration = [f"{key} = {value}" for key, value in summary.configuration.items()]
    lines.append(_line("configuration", configuration[0] if configuration else "none kept"))
    lines.extend(_line("", item) for item in configuration[1:])
    return lines


def _line(label: str, value: str) -> str:
    return f"  {label:<{_LABEL_WIDTH}}{value}".rstrip()


def _queue(summary: ChargePointSummary) -> str:
    head = summary.queue_head
    if head is None:
        return "empty"
    if head.attempts == 0:
        tried = "not attempted yet"
    else:
        tried = _count(head.attempts, "attempt")
        if head.next_attempt_at is not None:
            tried += f", next attempt {_instant(head.next_attempt_at)}"
    return f"{_count(summary.queue_depth, 'message')}; head #{head.seq} {head.action}, {tried}"


def _connector(connector: ConnectorSummary) -> list[str]:
    lines = [_line(f"connector {connector.connector_id}", connector.availability)]
    if connector.transaction is not None:
        lines.append(_line("  transaction", _record(connector.transaction)))
    if connector.meter is not None:
        meter = connector.meter
        lines.append(_line("  meter", f"{_number(meter.energy_wh)} Wh at {_instant(meter.at)}"))
    return lines


def _record(record: dict[str, Any]) -> str:
    """``key=value`` for each item of a JSON record, in its order; values that need it as JSON."""
    if not record:
        return "(empty record)"
    return " ".join(f"{key}={_value(value)}" for key, value in record.items())


def _value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in '="' for c in value):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _number(value: float) -> str:
    """A figure as written: ``1500`` for 1500.0, ``1234.5`` for 1234.5."""
    return str(int(value)) if float(value).is_integer() else repr(value)


def _instant(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


# JSON


def to_json(summaries: Iterable[ChargePointSummary]) -> list[dict[str, Any]]:
    """The JSON document of ``--json``: one object per charge point, instants as ISO 8601 UTC text."""
    return [_charge_point_json(summary) for summary in summaries]


def _charge_point_json(summary: ChargePointSummary) -> dict[str, Any]:
    head = summary.queue_head
    return {
        "charge_point_id": summary.charge_point_id,
        "offline_queue": {
            "depth": summary.queue_depth,
            "head": None
            if head is None
            else {
                "seq": head.seq,
                "action": head.action,
                "attempts": head.attempts,
                "next_attempt_at": None if head.next_attempt_at is None else _instant(head.next_attempt_at),
                "local_transaction": head.local_transaction,
                "transaction_id": head.transaction_id,
                "payload": head.payload,
            },
        },
        "local_list": {"version": summary.local_list_version, "size": summary.local_list_size},
        "authorization_cache": {"size": summary.cache_size},
        "connectors": [
            {
                "connector_id": connector.connector_id,
                "availability": connector.availability,
                "transaction": connector.transaction,
                "meter": None
                if connector.meter is None
                else {
                    "energy_wh": connector.meter.energy_wh,
                    "at": _instant(connector.meter.at),
                    "reading": connector.meter.reading,
                },
            }
            for connector in summary.connectors
        ],
        "configuration": summary.configuration,
    }
