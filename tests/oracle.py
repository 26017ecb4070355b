"""The independent oracle: the official OCPP 1.6 JSON schemas shipped in the ``ocpp`` package.

Also generates payloads from those schemas (valid ones, minimal and maximal ones, and one-fault mutations)
without looking at our own classes, so that our codec is checked against the schemas and not against itself.
"""

import json
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft4Validator

ACTIONS = (
    "Authorize",
    "BootNotification",
    "CancelReservation",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetLocalListVersion",
    "Heartbeat",
    "MeterValues",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
)
"""The 28 actions of OCPP 1.6's six feature profiles, as the specification names them."""

KINDS = ("req", "conf")

# Where the specification (which governs) is stricter than the schemas, the generated payloads follow it.
_SPEC_MINIMUM_ZERO = {"connectorId", "stackLevel", "startPeriod"}  # "connectorId >= 0", "stackLevel >= 0"
_SPEC_AT_LEAST_ONE = {"sampledValue", "chargingSchedulePeriod", "meterValue"}  # cardinality 1..*


@cache
def schema(action: str, kind: str) -> dict[str, Any]:
    """The official schema of ``action``'s request (``req``) or response (``conf``)."""
    name = f"{action}.json" if kind == "req" else f"{action}Response.json"
    text = (files("ocpp") / "v16" / "schemas" / name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text, parse_float=Decimal)
    return loaded


@cache
def _validator(action: str, kind: str) -> Draft4Validator:
    return Draft4Validator(schema(action, kind))


def errors(action: str, kind: str, payload: dict[str, Any]) -> list[str]:
    """The schema's complaints about a payload (empty if it is valid).

    Numbers are compared as decimals, so that ``multipleOf: 0.1`` means one decimal digit, as intended.
    """
    instance = json.loads(json.dumps(payload), parse_float=Decimal)
    return [error.message for error in _validator(action, kind).iter_errors(instance)]


# --- generating payloads from a schema ------------------------------------------------------------------

_CI_ALPHABET = string.ascii_letters + string.digits + " -_.:/#@"


def _datetimes() -> st.SearchStrategy[str]:
    """ISO 8601 date-times as other implementations write them: any offset, 0 to 9 fraction digits."""
    moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))
    offsets = st.sampled_from([None, 0, 60, -300, 330, 840])
    digits = st.sampled_from([0, 1, 3, 6, 9])

    @st.composite
    def build(draw: st.DrawFn) -> str:
        moment, offset, fraction = draw(moments), draw(offsets), draw(digits)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        if fraction:
            text += "." + f"{moment.microsecond:06d}{draw(st.integers(0, 999)):03d}"[:fraction]
        if offset is None:
            return text + "Z"
        sign = "+" if offset >= 0 else "-"
        return text + f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"

    return build()


def payloads(node: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    """Valid values of a schema node (the subset of JSON Schema the OCPP 1.6 schemas use)."""
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object":
        properties = node.get("properties", {})
        required = set(node.get("required", ()))
        return st.fixed_dictionaries(
            {key: payloads(sub, key) for key, sub in properties.items() if key in required},
            optional={key: payloads(sub, key) for key, sub in properties.items() if key not in required},
        )
    if kind == "array":
        minimum = max(node.get("minItems", 0), 1 if name in _SPEC_AT_LEAST_ONE else 0)
        return st.lists(payloads(node["items"]), min_size=minimum, max_size=4)
    if kind == "string":
        if node.get("format") == "date-time":
            return _datetimes()
        if node.get("format") == "uri":
            return st.builds("ftp://{}/{}.bin".format, st.sampled_from(["host", "10.0.0.1"]), st.text("ab"))
        return st.text(_CI_ALPHABET, max_size=node.get("maxLength", 80))
    if kind == "integer":
        return st.integers(0 if name in _SPEC_MINIMUM_ZERO else -(2**31), 2**31 - 1)
    if kind == "number":  # the schemas' numbers are all "multipleOf 0.1" decimals
        return st.integers(0, 10**6).map(lambda tenths: tenths // 10 if tenths % 3 == 0 else tenths / 10)
    if kind == "boolean":
        return st.booleans()
    raise AssertionError(f"schema construct not covered: {node}")


def minimal(node: dict[str, Any], name: str = "") -> Any:
    """The smallest valid value: required fields only, shortest strings, one element per 1..* list."""
    return _example(node, name, full=False)


def maximal(node: dict[str, Any], name: str = "") -> Any:
    """The largest valid value: every field, longest strings, the last enum value."""
    return _example(node, name, full=True)


def _example(node: dict[str, Any], name: str, full: bool) -> Any:
    if "enum" in node:
        return node["enum"][-1 if full else 0]
    kind = node.get("type")
    if kind == "object":
        required = set(node.get("required", ()))
        return {
            key: _example(sub, key, full)
            for key, sub in node.get("properties", {}).items()
            if full or key in required
        }
    if kind == "array":
        at_least_one = full or node.get("minItems", 0) > 0 or name in _SPEC_AT_LEAST_ONE
        return [_example(node["items"], "", full)] if at_least_one else []
    if kind == "string":
        if node.get("format") == "date-time":
            return "2026-11-21T23:59:59.999+01:00" if full else "2026-11-21T10:00:00Z"
        if node.get("format") == "uri":
            return "ftp://user:secret@diagnostics.example.com:2121/upload/cp-0001"
        return "X" * node.get("maxLength", 500) if full else ""
    if kind == "integer":
        return 2**31 - 1 if full else 0
    if kind == "number":
        return 99999.9 if full else 0
    if kind == "boolean":
        return full
    raise AssertionError(f"schema construct not covered: {node}")


# --- one-fault mutations, with the CALLERROR code the specification's table gives them --------------------

_WRONG_TYPE = {
    "string": 12345,
    "integer": "12",
    "number": "1.5",
    "boolean": "true",
    "array": {},
    "object": [],
}


def mutations(action: str, kind: str) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(what was broken, broken payload, expected error code) for each single fault of the maximal payload."""
    root = schema(action, kind)
    base = maximal(root)
    yield "extra field at top level", {**base, "unexpectedField": 1}, "FormationViolation"
    for path, node in _object_nodes(root, ()):
        target = _get(base, path)
        where = ".".join(str(step) for step in path) or "payload"
        if path:
            yield (
                f"extra field in {where}",
                _with(base, path, {**target, "unexpectedField": 1}),
                ("FormationViolation"),
            )
        for key, sub in node.get("properties", {}).items():
            field_path = (*path, key)
            label = ".".join(str(step) for step in field_path)
            if key in node.get("required", ()):
                without = {k: v for k, v in target.items() if k != key}
                yield f"{label} missing", _with(base, path, without), "OccurenceConstraintViolation"
            if "enum" in sub:
                yield (
                    f"{label} unknown enum value",
                    _with(base, field_path, "NoSuchValue"),
                    ("PropertyConstraintViolation"),
                )
                yield f"{label} enum as number", _with(base, field_path, 7), "TypeConstraintViolation"
                continue
            wrong = _WRONG_TYPE[sub["type"]]
            yield f"{label} wrong type", _with(base, field_path, wrong), "TypeConstraintViolation"
            if sub["type"] == "integer":
                yield f"{label} decimal for integer", _with(base, field_path, 1.5), "TypeConstraintViolation"
            if "maxLength" in sub:
                too_long = "X" * (sub["maxLength"] + 1)
                yield f"{label} too long", _with(base, field_path, too_long), "PropertyConstraintViolation"
            if "multipleOf" in sub:
                yield f"{label} two decimals", _with(base, field_path, 8.25), "PropertyConstraintViolation"
            if sub["type"] == "array" and sub["items"].get("maxLength"):
                too_long = ["X" * (sub["items"]["maxLength"] + 1)]
                yield (
                    f"{label} element too long",
                    _with(base, field_path, too_long),
                    ("PropertyConstraintViolation"),
                )


def _object_nodes(node: dict[str, Any], path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if node.get("type") == "object":
        yield path, node
        for key, sub in node.get("properties", {}).items():
            yield from _object_nodes(sub, (*path, key))
    elif node.get("type") == "array":
        yield from _object_nodes(node["items"], (*path, 0))


def _get(payload: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        payload = payload[step]
    return payload


def _with(payload: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``payload`` with the value at ``path`` replaced."""
    if not path:
        return value
    head, *rest = path
    copy = list(payload) if isinstance(payload, list) else dict(payload)
    copy[head] = _with(payload[head], tuple(rest), value)
    return copy


def same_instant(ours: str, theirs: str) -> bool:
    """Whether two ISO 8601 date-times name the same instant, to the millisecond we send."""
    ours_moment, their_moment = _parse(ours), _parse(theirs)
    return abs(ours_moment - their_moment) < timedelta(milliseconds=1)


def _parse(text: str) -> datetime:
    text = text.replace("Z", "+00:00")
    if "." in text:  # keep microseconds: fromisoformat wants at most 6 fraction digits
        head, tail = text.split(".", 1)
        zone_at = next((i for i, c in enumerate(tail) if not c.isdigit()), len(tail))
        digits, zone = tail[:zone_at], tail[zone_at:]
        text = f"{head}.{(digits + '000000')[:6]}{zone}"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


__all__ = [
    "ACTIONS",
    "KINDS",
    "errors",
    "maximal",
    "minimal",
    "mutations",
    "payloads",
    "same_instant",
    "schema",
]
