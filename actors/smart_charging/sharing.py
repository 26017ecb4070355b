"""Sharing the ChargePointMaxProfile among connectors, as a pure function (spec 3.13.3: "the limit value of
ChargePointMaxProfile is the limit for all connectors combined").

Where the specification leaves room, this charge point decides so:

- The limit is shared among the connectors with a running transaction, fairly ("water-filling"): each gets
  an equal part, except that a connector whose own limit (its TxProfile or TxDefaultProfile, its maximum
  power) is lower keeps only that, and what it leaves is shared among the others.
- ``minChargingRate`` (7.13: charging below it is inefficient) is honoured in the order transactions began:
  if some connector would get less than its minimum, the transaction that began last is paused (offered
  nothing, so its connector reports SuspendedEVSE) and the limit is shared again among the others.
- A connector without a transaction is offered what the others leave, up to its own limit: what it could
  draw at once if a transaction began (sharing is done again as soon as one does).
"""

from collections.abc import Sequence
from datetime import datetime

import attrs

__all__ = ["Claim", "share"]

_TOLERANCE_W = 1e-6


@attrs.frozen
class Claim:
    """What one connector could draw, in W, and whether (and since when) it charges."""

    connector_id: int
    cap_w: float
    """Its own limit: the least of its transaction's profiles and its maximum power."""
    minimum_w: float = 0.0
    """The schedule's minChargingRate, in W."""
    since: datetime | None = None
    """When its transaction began; ``None`` if it has none."""


def share(maximum_w: float | None, claims: Sequence[Claim]) -> dict[int, float]:
    """The power offered to each connector, in W, when they may draw ``maximum_w`` together (``None``: no
    ChargePointMaxProfile applies)."""
    if maximum_w is None:
        return {claim.connector_id: claim.cap_w for claim in claims}
    charging = sorted(
        (claim for claim in claims if claim.since is not None),
        key=lambda claim: (claim.since, claim.connector_id),
    )
    while True:
        given = _water_fill(max(0.0, maximum_w), charging)
        short = [
            claim
            for claim in charging
            if given[claim.connector_id] + _TOLERANCE_W < min(claim.minimum_w, claim.cap_w)
        ]
        if not short:
            break
        charging = charging[:-1]
    left = max(0.0, maximum_w - sum(given.values()))
    offered = {}
    for claim in claims:
        if claim.connector_id in given:
            offered[claim.connector_id] = given[claim.connector_id]
        elif claim.since is not None:
            offered[claim.connector_id] = 0.0  # paused: below its minChargingRate
        else:
            offered[claim.connector_id] = min(claim.cap_w, left)
    return offered


def _water_fill(maximum_w: float, claims: Sequence[Claim]) -> dict[int, float]:
    """Equal parts of ``maximum_w``, but nobody more than its cap; what one leaves goes to the others."""
    given = {}
    remaining = maximum_w
    by_cap = sorted(claims, key=lambda claim: claim.cap_w)
    for index, claim in enumerate(by_cap):
        part = min(claim.cap_w, remaining / (len(by_cap) - index))
        given[claim.connector_id] = part
        remaining -= part
    return given
