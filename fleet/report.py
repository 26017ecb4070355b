"""The report of a fleet run: a JSON document, its merge across shards, and its tables for people.

**Format** ``ocpp-fleet-report/1`` (the ``format`` field; a reader refuses other values). All counts are
integers, all times are seconds unless the key says ``_ms`` or ``_us``::

    {
      "format": "ocpp-fleet-report/1",
      "histogram": {"smallest_s": 0.0001220703125, "largest_s": 8192.0, "buckets_per_doubling": 8},
      "seconds": 600.0,            # how long the run lasted (the longest shard's, once merged)
      "shards": 1,                 # how many runs' reports were merged into this one
      "shard": "2/4",              # only in the report of one shard (run --shard K/N; fleet.shards)
      "actions": {                 # our CALLs, by action
        "Heartbeat": {
          "sent": 120, "answered": 118, "errors": {"InternalError": 1}, "timeouts": 1, "lost": 0,
          "answer_time": {         # of the CALLRESULTs and CALLERRORs
            "count": 119, "sum_us": 402113, "max_s": 0.0131,
            "p50_s": 0.0031, "p95_s": 0.0088, "p99_s": 0.0120,   # null when count is 0
            "buckets": {"47": 3, "48": 80, ...}                  # bucket index -> count, empty ones left out
          }
        }, ...
      },
      "all_actions": {...},        # the same fields, over every action
      "charge_points": {           # totals of per_charge_point
        "count": 3, "connections": 4, "reconnects": 1, "offline_ms": 61234, "queue_high_water": 7,
        "sessions_started": 5, "sessions_stopped": 4, "sessions_running": 1, "energy_wh": 48211
      },
      "per_charge_point": {"CP-0001": {"connections": 2, "reconnects": 1, "offline_ms": 61000,
                                       "queue_high_water": 7, "sessions_started": 2, "sessions_stopped": 2,
                                       "sessions_running": 0, "energy_wh": 20110}, ...}
    }

Bucket ``i`` of ``answer_time`` holds times in (smallest_s * 2**((i-1)/8), smallest_s * 2**(i/8)]; bucket 0
those up to ``smallest_s``, the last one those above ``largest_s`` (``actors.statistics``). Percentiles are
taken from the buckets (within ±4.4 %), so a merged report has the percentiles of all its samples.
``queue_high_water`` of the totals is the largest of the charge points'; the other totals are sums.

:func:`merge_reports` adds reports of shards (runs of disjoint parts of a fleet) exactly: counts and buckets
are added, maxima taken, and everything derived (percentiles, totals) is computed again. A charge point found
in several reports is added up.
"""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.table import Table

from actors.statistics import (
    BUCKET_COUNT,
    BUCKETS_PER_DOUBLING,
    LARGEST,
    SMALLEST,
    ActionCounts,
    AnswerTimes,
    ChargePointCounters,
    Statistics,
)

__all__ = [
    "REPORT_FORMAT",
    "ReportError",
    "build_report",
    "format_energy",
    "format_seconds",
    "load_report",
    "merge_reports",
    "print_report",
    "report_tables",
    "write_report",
]

REPORT_FORMAT = "ocpp-fleet-report/1"
HISTOGRAM_LAYOUT = {
    "smallest_s": SMALLEST,
    "largest_s": LARGEST,
    "buckets_per_doubling": BUCKETS_PER_DOUBLING,
}
PERCENTILES = (("p50_s", 0.50), ("p95_s", 0.95), ("p99_s", 0.99))
CHARGE_POINT_FIELDS = (
    "connections",
    "reconnects",
    "offline_ms",
    "queue_high_water",
    "sessions_started",
    "sessions_stopped",
    "sessions_running",
    "energy_wh",
)
_MAXIMA = frozenset({"queue_high_water"})
"""Per-charge-point fields whose total is the largest value, not the sum."""

Report = dict[str, Any]


class ReportError(ValueError):
    """Not a report this version can read or merge."""


def build_report(statistics: Statistics, *, now: float, seconds: float) -> Report:
    """The report of ``statistics`` at trio time ``now``, for a run that lasted ``seconds``."""
    per_charge_point = {
        charge_point_id: _charge_point_entry(counters, now)
        for charge_point_id, counters in sorted(statistics.charge_points.items())
    }
    return _assemble(statistics.actions, per_charge_point, seconds=seconds, shards=1)


def merge_reports(reports: Sequence[Mapping[str, Any]]) -> Report:
    """One report of several shards' reports (see the module's documentation); raises :class:`ReportError`."""
    if not reports:
        raise ReportError("no reports to merge")
    actions: dict[str, ActionCounts] = {}
    per_charge_point: dict[str, dict[str, int]] = {}
    for report in reports:
        _check(report)
        for name, entry in report["actions"].items():
            actions.setdefault(name, ActionCounts()).merge(_action_counts(entry))
        for charge_point_id, entry in report["per_charge_point"].items():
            merged = per_charge_point.setdefault(charge_point_id, dict.fromkeys(CHARGE_POINT_FIELDS, 0))
            for field in CHARGE_POINT_FIELDS:
                value = int(entry.get(field, 0))
                merged[field] = max(merged[field], value) if field in _MAXIMA else merged[field] + value
    return _assemble(
        actions,
        dict(sorted(per_charge_point.items())),
        seconds=max(float(report["seconds"]) for report in reports),
        shards=sum(int(report["shards"]) for report in reports),
    )


def write_report(path: Path, report: Mapping[str, Any]) -> None:
    """Write a report as JSON."""
    path.write_text(json.dumps(report, indent=1) + "\n")


def load_report(path: Path) -> Report:
    """Read a report written by :func:`write_report`; raises :class:`ReportError` if it is not one."""
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ReportError(f"{path}: {error}") from None
    _check(report)
    return dict(report)


def _check(report: Mapping[str, Any]) -> None:
    if not isinstance(report, Mapping) or report.get("format") != REPORT_FORMAT:
        found = report.get("format") if isinstance(report, Mapping) else type(report).__name__
        raise ReportError(f"not an {REPORT_FORMAT} report (format {found!r})")
    if report.get("histogram") != HISTOGRAM_LAYOUT:
        raise ReportError(f"answer time buckets {report.get('histogram')} differ from {HISTOGRAM_LAYOUT}")


def _charge_point_entry(counters: ChargePointCounters, now: float) -> dict[str, int]:
    return {
        "connections": counters.connections,
        "reconnects": counters.reconnects,
        "offline_ms": round(counters.offline_until(now) * 1000),
        "queue_high_water": counters.queue_high_water,
        "sessions_started": counters.sessions_started,
        "sessions_stopped": counters.sessions_stopped,
        "sessions_running": len(counters.open_sessions or ()),
        "energy_wh": counters.energy_wh,
    }


def _assemble(
    actions: Mapping[str, ActionCounts],
    per_charge_point: Mapping[str, Mapping[str, int]],
    *,
    seconds: float,
    shards: int,
) -> Report:
    everything = ActionCounts()
    for counts in actions.values():
        everything.merge(counts)
    totals: dict[str, int] = {"count": len(per_charge_point)}
    for field in CHARGE_POINT_FIELDS:
        values = [entry[field] for entry in per_charge_point.values()]
        totals[field] = max(values, default=0) if field in _MAXIMA else sum(values)
    return {
        "format": REPORT_FORMAT,
        "histogram": dict(HISTOGRAM_LAYOUT),
        "seconds": seconds,
        "shards": shards,
        "actions": {name: _action_entry(counts) for name, counts in actions.items()},
        "all_actions": _action_entry(everything),
        "charge_points": totals,
        "per_charge_point": {key: dict(value) for key, value in per_charge_point.items()},
    }


def _action_entry(counts: ActionCounts) -> dict[str, Any]:
    times = counts.times
    answer_time: dict[str, Any] = {"count": times.count, "sum_us": times.sum_us, "max_s": times.maximum}
    for key, fraction in PERCENTILES:
        answer_time[key] = times.percentile(fraction)
    answer_time["buckets"] = {str(index): count for index, count in enumerate(times.buckets) if count}
    return {
        "sent": counts.sent,
        "answered": counts.answered,
        "errors": dict(sorted(counts.errors.items())),
        "timeouts": counts.timeouts,
        "lost": counts.lost,
        "answer_time": answer_time,
    }


def _action_counts(entry: Mapping[str, Any]) -> ActionCounts:
    """The counts of an action entry of a report (the inverse of :func:`_action_entry`)."""
    answer_time = entry["answer_time"]
    buckets = [0] * BUCKET_COUNT
    for index, count in answer_time["buckets"].items():
        if not 0 <= int(index) < BUCKET_COUNT:
            raise ReportError(f"answer time bucket {index} out of range")
        buckets[int(index)] = int(count)
    times = AnswerTimes(
        buckets=buckets,
        count=int(answer_time["count"]),
        maximum=float(answer_time["max_s"]),
        sum_us=int(answer_time["sum_us"]),
    )
    return ActionCounts(
        sent=int(entry["sent"]),
        answered=int(entry["answered"]),
        errors={str(code): int(count) for code, count in entry["errors"].items()},
        timeouts=int(entry["timeouts"]),
        lost=int(entry["lost"]),
        times=times,
    )


# --- for people ---------------------------------------------------------------------------------------------


def format_seconds(seconds: float | None) -> str:
    """An answer time as people read it: ``0.4 ms``, ``12 ms``, ``1.25 s``; ``-`` for none."""
    if seconds is None:
        return "-"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def format_energy(wh: float) -> str:
    """Energy in kWh (``12.345 kWh``)."""
    return f"{wh / 1000:,.3f} kWh"


def _errors(errors: Mapping[str, int]) -> str:
    total = sum(errors.values())
    if not total:
        return "0"
    return f"{total} (" + ", ".join(f"{code} {count}" for code, count in errors.items()) + ")"


def _action_row(name: str, entry: Mapping[str, Any]) -> list[str]:
    times = entry["answer_time"]
    return [
        name,
        str(entry["sent"]),
        str(entry["answered"]),
        _errors(entry["errors"]),
        str(entry["timeouts"]),
        str(entry["lost"]),
        *(format_seconds(times[key]) for key, _ in PERCENTILES),
        format_seconds(times["max_s"] if times["count"] else None),
    ]


def report_tables(report: Mapping[str, Any]) -> Group:
    """The report as rich tables: one row per action, then what happened to the charge points."""
    calls = Table(title="Our CALLs to the Central System", title_justify="left")
    for heading in ("action", "sent", "answered", "CALLERRORs", "timeouts", "lost"):
        calls.add_column(heading, justify="left" if heading in ("action", "CALLERRORs") else "right")
    for heading in ("p50", "p95", "p99", "max"):
        calls.add_column(heading, justify="right")
    for name, entry in sorted(report["actions"].items()):
        calls.add_row(*_action_row(name, entry))
    calls.add_section()
    calls.add_row(*_action_row("all", report["all_actions"]), style="bold")

    totals = report["charge_points"]
    count = totals["count"]
    offline = totals["offline_ms"] / 1000
    average = offline / count if count else 0.0
    sessions = f"{totals['sessions_started']} started, {totals['sessions_stopped']} stopped"
    if totals["sessions_running"]:
        sessions += f", {totals['sessions_running']} running at the end"
    points = Table(title="Charge points", title_justify="left", show_header=False)
    points.add_column(justify="left")
    points.add_column(justify="left")
    points.add_row("charge points", f"{count} in {report['seconds']:.0f} s" + _shards(report))
    points.add_row("reconnects", str(totals["reconnects"]))
    points.add_row("time offline", f"{offline:,.1f} s in all, {average:,.1f} s per charge point")
    points.add_row("offline queue high-water mark", f"{totals['queue_high_water']} messages")
    points.add_row("sessions", sessions)
    points.add_row("energy delivered", format_energy(totals["energy_wh"]))
    return Group(calls, points)


def _shards(report: Mapping[str, Any]) -> str:
    return f" ({report['shards']} shards)" if report["shards"] > 1 else ""


def print_report(report: Mapping[str, Any], console: Console) -> None:
    """Print the tables of a report."""
    console.print(report_tables(report))
