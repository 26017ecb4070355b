"""How values are written into the database: JSON bodies, instants, idTag keys.

Both implementations of :class:`storage.state.ChargePointState` use these, so that the in-memory one stores
and returns exactly what the SQLite one would.
"""

import json
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonObject", "dump_json", "id_tag_key", "instant_from_text", "instant_to_text", "load_json"]

JsonObject = dict[str, Any]
"""A body the storage keeps without interpreting it: a message payload, an IdTagInfo, a record."""


def dump_json(value: Any) -> str:
    """Compact JSON text; raises ``TypeError`` or ``ValueError`` (NaN, infinity) if ``value`` is not JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def load_json(text: str) -> Any:
    """The value of JSON text written by :func:`dump_json`."""
    return json.loads(text)


def instant_to_text(instant: datetime) -> str:
    """An aware datetime as fixed-width UTC text, so that text order is time order (also in SQL)."""
    if instant.utcoffset() is None:
        raise ValueError(f"a naive datetime has no place in time: {instant!r}")
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def instant_from_text(text: str) -> datetime:
    """The aware UTC datetime written by :func:`instant_to_text`."""
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def id_tag_key(id_tag: str) -> str:
    """The key an idTag is stored under: IdTokens are CiStrings, compared case-insensitively (7.28)."""
    return id_tag.lower()
