"""Shards of a fleet: the split of its charge points among N processes or machines, and the merge of their
reports.

**The split.** Charge point *i* of a fleet file, counted from 0 in the order the file lists them (group by
group, n = 1..count in each), belongs to shard ``i % N + 1`` of N: round-robin, so that every shard gets
an equal share (within one) of every group, whatever the groups' sizes. It depends on nothing but the file
and N, so ``ocpp-fleet run --processes N`` on one machine and N machines each running ``--shard K/N`` split
a fleet alike. A scenario event goes to the shard of its charge point; an event for ``*`` goes to every
shard, which plays it on its own charge points.

Each shard keeps its state in a database file of its own, named after the fleet's: ``fleet.db`` becomes
``fleet.p2-of-4.db`` for shard 2 of 4. A different N, or charge points added to or removed from the file
before others, moves charge points to other shards, and so to other files: there they start afresh.

**The reports.** A shard's report (``fleet.report``) says which shard it is (``"shard": "2/4"``);
:func:`merge_shard_reports` merges the reports of different shards of one split and refuses reports that
overlap (the same shard twice, shards of different splits, or a charge point in two reports).
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs

from fleet.fleetfile import ChargePointSpec
from fleet.report import Report, ReportError, load_report, merge_reports
from fleet.scenario import ALL_CHARGE_POINTS, ScenarioEvent

__all__ = ["SHARD_KEY", "Shard", "merge_report_files", "merge_shard_reports", "missing_shards", "shard_of"]

SHARD_KEY = "shard"
"""The key of a report that says which shard it is the report of (``"2/4"``)."""

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")

T = TypeVar("T")


def shard_of(position: int, count: int) -> int:
    """The shard (1-based) of the charge point at ``position`` (0-based, in the fleet file's order)."""
    return position % count + 1


def _check_shard(shard: "Shard", attribute: "attrs.Attribute[int]", index: int) -> None:
    if shard.count < 1:
        raise ValueError(f"{index}/{shard.count}: N must be at least 1")
    if not 1 <= index <= shard.count:
        raise ValueError(f"{index}/{shard.count}: K must be from 1 to {shard.count}")


@attrs.frozen(order=True)
class Shard:
    """Shard ``index`` (from 1) of ``count``: the charge points at positions ``index - 1``, ``index - 1 +
    count``, ... of a fleet file."""

    index: int = attrs.field(validator=_check_shard)
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"2/4"``: shard 2 of 4; raises :class:`ValueError` with a message naming ``text``."""
        match = _SHARD.match(text)
        if match is None:
            raise ValueError(f"{text!r}: not K/N (shard K of N, e.g. 1/4)")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def all(cls, count: int) -> "list[Shard]":
        """Every shard of ``count``, in order."""
        return [cls(index, count) for index in range(1, count + 1)]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, items: Sequence[T]) -> tuple[T, ...]:
        """The items of this shard, in their order (items are the fleet file's charge points)."""
        return tuple(items[self.index - 1 :: self.count])

    def scenario(
        self, events: Iterable[ScenarioEvent], specs: Iterable[ChargePointSpec]
    ) -> tuple[ScenarioEvent, ...]:
        """The events this shard plays, of those of the whole fleet: ``specs`` are this shard's charge
        points; events for ``*`` are played by every shard on its own charge points."""
        ids = {spec.id for spec in specs}
        return tuple(
            event for event in events if event.charge_point in ids or event.charge_point == ALL_CHARGE_POINTS
        )

    def database(self, path: Path) -> Path:
        """This shard's database file, next to the fleet's: ``fleet.db`` → ``fleet.p2-of-4.db``."""
        return path.with_name(f"{path.stem}.p{self.index}-of-{self.count}{path.suffix}")

    def ramp(self, ramp: float) -> float:
        """Charge points this shard starts per second, so that all shards together start ``ramp``."""
        return ramp / self.count


def merge_shard_reports(reports: Sequence[tuple[str, Mapping[str, Any]]]) -> Report:
    """Merge the reports of disjoint shards, each given with its name (a file name) for messages.

    Raises :class:`~fleet.report.ReportError` (one line) if a report is not one, if two reports are of the
    same shard or of shards of different splits (2/4 and 1/3), or if a charge point is in two reports.
    """
    first_of_shard: dict[str, str] = {}
    counts: dict[int, str] = {}
    first_of_id: dict[str, str] = {}
    for name, report in reports:
        try:
            merge_reports([report])  # the format and the histogram layout
        except ReportError as error:
            raise ReportError(f"{name}: {error}") from None
        label = report.get(SHARD_KEY)
        if label is not None:
            try:
                shard = Shard.parse(str(label))
            except ValueError as error:
                raise ReportError(f"{name}: {SHARD_KEY} {error}") from None
            if str(shard) in first_of_shard:
                raise ReportError(f"{first_of_shard[str(shard)]} and {name} are both shard {shard}")
            other = next((seen for count, seen in counts.items() if count != shard.count), None)
            if other is not None:
                raise ReportError(
                    f"{name} is shard {shard} but {other} is a shard of another split: they overlap"
                )
            first_of_shard[str(shard)] = name
            counts[shard.count] = name
        shared = [cp for cp in report["per_charge_point"] if cp in first_of_id]
        if shared:
            more = f" and {len(shared) - 1} more charge points" if len(shared) > 1 else ""
            raise ReportError(f"{first_of_id[shared[0]]} and {name} overlap: both report {shared[0]}{more}")
        first_of_id.update(dict.fromkeys(report["per_charge_point"], name))
    return merge_reports([report for _, report in reports])


def missing_shards(reports: Iterable[Mapping[str, Any]]) -> list[Shard]:
    """The shards of the split of ``reports`` (all of one split) that none of them is the report of."""
    shards = {Shard.parse(str(report[SHARD_KEY])) for report in reports if SHARD_KEY in report}
    if not shards:
        return []
    count = next(iter(shards)).count
    return [shard for shard in Shard.all(count) if shard not in shards]


def merge_report_files(paths: Sequence[Path]) -> tuple[Report, list[Shard]]:
    """The merged report of the shard reports in ``paths`` (:func:`merge_shard_reports`), and the shards of
    their split that none of them is the report of; raises :class:`~fleet.report.ReportError` (one line)."""
    reports: list[tuple[str, Mapping[str, Any]]] = []
    for path in paths:
        try:
            reports.append((str(path), load_report(path)))
        except ReportError as error:
            message = str(error)
            raise ReportError(message if message.startswith(f"{path}:") else f"{path}: {message}") from None
    merged = merge_shard_reports(reports)
    return merged, missing_shards(report for _, report in reports)
