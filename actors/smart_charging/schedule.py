"""One charging profile's limits over time (spec 3.13, 7.8, 7.13, 7.14), as pure functions of wall-clock time.

:func:`spans` says when, within a window, a profile limits charging and to what: the stretches of time in
which it is valid (``validFrom`` to ``validTo``) *and* one of its schedule periods is in force. Outside them
the profile says nothing, and a profile of a lower stack level (or none) takes over, as 3.13.2 wants of a
schedule whose ``duration`` has run out.

Where the specification leaves room, this charge point decides so:

- Relative profiles, and Absolute or Recurring ones without ``startSchedule`` (7.13: "If absent the schedule
  will be relative to start of charging"), start at ``relative_start``: the start of the connector's
  transaction, or, where there is none (connector 0, an idle connector), the start of the window looked at
  (the moment of a GetCompositeSchedule, or the present moment for the offered power), so that their first
  period applies as if charging started then. A Relative profile's ``startSchedule``, if any, is ignored.
- A Recurring profile starts at ``startSchedule`` and again every day (Daily) or week (Weekly) after it, never
  before it. A ``duration`` shorter than the recurrence ends each occurrence early; a longer one is cut
  short by the next occurrence. Without ``duration`` each occurrence lasts until the next.
- ``validFrom`` is inclusive and ``validTo`` exclusive.
"""

import itertools
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import attrs

from actors.ocpp import ChargingProfile, ChargingProfileKindType, ChargingRateUnitType, RecurrencyKindType

__all__ = ["RECURRENCE", "Span", "Step", "refine", "spans"]

RECURRENCE = {RecurrencyKindType.DAILY: timedelta(days=1), RecurrencyKindType.WEEKLY: timedelta(days=7)}
"""How often a Recurring profile starts again."""

T = TypeVar("T")


@attrs.frozen
class Span:
    """A stretch of time in which one profile limits charging to one value, in its own unit."""

    start: datetime
    end: datetime
    """Exclusive."""
    limit: float
    unit: ChargingRateUnitType
    number_phases: int | None
    min_charging_rate: float | None
    stack_level: int


def spans(
    profile: ChargingProfile, start: datetime, end: datetime, *, relative_start: datetime
) -> list[Span]:
    """The stretches of ``[start, end)`` in which ``profile`` limits charging, in time order.

    ``relative_start`` is the "start of charging" a relative schedule counts from.
    """
    lower = start if profile.valid_from is None else max(start, profile.valid_from)
    upper = end if profile.valid_to is None else min(end, profile.valid_to)
    schedule = profile.charging_schedule
    periods = schedule.charging_schedule_period
    found: list[Span] = []
    if lower >= upper:
        return found
    for begin, finish in _occurrences(profile, lower, upper, relative_start):
        for index, period in enumerate(periods):
            period_start = begin + timedelta(seconds=period.start_period)
            if index + 1 < len(periods):
                period_end = min(finish, begin + timedelta(seconds=periods[index + 1].start_period))
            else:
                period_end = finish
            clipped_start, clipped_end = max(period_start, lower), min(period_end, upper)
            if clipped_start < clipped_end:
                found.append(
                    Span(
                        clipped_start,
                        clipped_end,
                        period.limit,
                        schedule.charging_rate_unit,
                        period.number_phases,
                        schedule.min_charging_rate,
                        profile.stack_level,
                    )
                )
    return found


def _occurrences(
    profile: ChargingProfile, lower: datetime, upper: datetime, relative_start: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """Each start of the schedule that matters to ``[lower, upper)``, with the end of that occurrence."""
    schedule = profile.charging_schedule
    duration = None if schedule.duration is None else timedelta(seconds=schedule.duration)
    kind = profile.charging_profile_kind
    relative = kind is ChargingProfileKindType.RELATIVE or schedule.start_schedule is None
    anchor = relative_start if relative or schedule.start_schedule is None else schedule.start_schedule
    if kind is ChargingProfileKindType.RECURRING and profile.recurrency_kind is not None:
        every = RECURRENCE[profile.recurrency_kind]
        begin = anchor + max(0, (lower - anchor) // every) * every
        while begin < upper:
            finish = begin + every if duration is None else min(begin + every, begin + duration)
            yield begin, finish
            begin += every
        return
    finish = max(upper, anchor) if duration is None else anchor + duration
    yield anchor, finish


@attrs.frozen
class Step(Generic[T]):
    """A value that holds from ``start`` until ``end`` (exclusive): one piece of a step function."""

    start: datetime
    end: datetime
    value: T


def refine(start: datetime, end: datetime, *functions: Sequence[Step[T]]) -> list[Step[tuple[T, ...]]]:
    """The common refinement of step functions that each cover ``[start, end)`` without gaps: one step per
    stretch in which none of them changes, with the value of each."""
    boundaries = sorted({start, end} | {step.start for steps in functions for step in steps})
    positions = [0] * len(functions)
    refined: list[Step[tuple[T, ...]]] = []
    for left, right in itertools.pairwise(boundaries):
        if left >= end:
            break
        values = []
        for number, steps in enumerate(functions):
            while steps[positions[number]].end <= left:
                positions[number] += 1
            values.append(steps[positions[number]].value)
        refined.append(Step(left, right, tuple(values)))
    return refined
