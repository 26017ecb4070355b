"""Field constructors for payload classes: the constraints of section 7's primitive types.

JSON types (integer vs decimal vs string, enum membership, date-time syntax) are checked by the converter
in :mod:`actors.ocpp.codec` when a payload is decoded; these validators check what remains: string lengths,
ranges, the one-decimal rule and non-empty lists. They raise :class:`ConstraintViolation` with the
CALLERROR code a received payload breaking them would get.

CiString values are kept as received; comparing them case-insensitively is the job of the code that
compares them (idTags, configuration keys).
"""

from collections.abc import Sized
from typing import Any

import attrs

from actors.ocpp.errors import ConstraintViolation, ErrorCode

_PROPERTY = ErrorCode.PROPERTY_CONSTRAINT_VIOLATION


def max_length(limit: int) -> Any:
    def check(_instance: Any, attribute: "attrs.Attribute[Any]", value: str | None) -> None:
        if value is not None and len(value) > limit:
            raise ConstraintViolation(
                _PROPERTY,
                f"{wire_name(attribute.name)} is {len(value)} characters long, at most {limit} allowed",
            )

    return check


def non_negative(_instance: Any, attribute: "attrs.Attribute[Any]", value: int | None) -> None:
    if value is not None and value < 0:
        raise ConstraintViolation(_PROPERTY, f"{wire_name(attribute.name)} must be >= 0, got {value}")


def one_decimal(_instance: Any, attribute: "attrs.Attribute[Any]", value: float | None) -> None:
    if value is not None and round(value, 1) != value:
        raise ConstraintViolation(
            _PROPERTY, f"{wire_name(attribute.name)} accepts at most one decimal digit, got {value}"
        )


def non_empty(_instance: Any, attribute: "attrs.Attribute[Any]", value: Sized) -> None:
    if not value:
        raise ConstraintViolation(
            ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
            f"{wire_name(attribute.name)} needs at least one element",
        )


def optional_ci_string(limit: int) -> Any:
    """An optional CiString[limit]; absent is ``None``."""
    return attrs.field(default=None, validator=max_length(limit))


def optional_connector_id() -> Any:
    """An optional connector number (>= 0)."""
    return attrs.field(default=None, validator=non_negative)


def optional_one_decimal() -> Any:
    """An optional decimal with at most one digit after the point."""
    return attrs.field(default=None, validator=one_decimal)


def optional() -> Any:
    """An optional field without further constraints; absent is ``None``."""
    return attrs.field(default=None)


def wire_name(python_name: str) -> str:
    """The JSON name of a field: ``charge_point_vendor`` → ``chargePointVendor``."""
    first, *rest = python_name.split("_")
    return first + "".join(word.capitalize() for word in rest)
