"""The one converter between payload objects and JSON-ready dicts: camelCase on the wire, snake_case here.

Built once at import: for every payload class cattrs generates a structuring function with the explicit
camelCase name of each field, and an unstructuring function that leaves absent optional fields out (never
``null``). Decoding is strict about JSON types, so a received payload is either a valid object or a
:class:`RemoteProtocolError` with the CALLERROR code of the table in :mod:`actors.ocpp.errors`.

Date-times: any ISO 8601 date and time is accepted, with fractional seconds and any UTC offset (none means
UTC); they are held as aware UTC ``datetime`` objects and sent as UTC with ``Z``.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar, get_args

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError, IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from actors.ocpp import datatypes, enums, messages
from actors.ocpp.errors import ConstraintViolation, ErrorCode, RemoteProtocolError
from actors.ocpp.fields import wire_name
from actors.ocpp.messages import Payload

__all__ = ["decode", "encode", "format_datetime", "parse_datetime"]

P = TypeVar("P", bound=Payload)


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 date-time into an aware UTC datetime; raise ``ValueError`` if it is not one."""
    if len(text) < 16 or text[10] not in "Tt ":
        raise ValueError(f"{text!r} is not an ISO 8601 date-time")
    if text[-1] == "z":  # RFC 3339 allows the lower-case designator; fromisoformat does not
        text = text[:-1] + "Z"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_datetime(moment: datetime) -> str:
    """Format a datetime as UTC with ``Z``, with milliseconds when it has a fraction of a second."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(payload: Payload) -> dict[str, Any]:
    """The JSON-ready dict of a payload object."""
    result: dict[str, Any] = _converter.unstructure(payload)
    return result


def decode(cls: type[P], payload: object) -> P:
    """Build a payload object of ``cls`` from received JSON, or raise :class:`RemoteProtocolError`."""
    if type(payload) is not dict:
        raise RemoteProtocolError(
            ErrorCode.FORMATION_VIOLATION, f"payload must be a JSON object, got {_json_type(payload)}"
        )
    try:
        return _converter.structure(payload, cls)
    except Exception as exc:  # translated below; anything unexpected is re-raised as the bug it is
        raise _protocol_error(exc, cls) from None


# --- strict JSON types ----------------------------------------------------------------------------------


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _structure_int(value: object, _type: object) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {_json_type(value)} {value!r}")
    return value


def _structure_decimal(value: object, _type: object) -> float:
    if type(value) is float:
        return value
    if type(value) is not int:
        raise TypeError(f"expected a number, got {_json_type(value)} {value!r}")
    return float(value)


def _structure_str(value: object, _type: object) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {_json_type(value)} {value!r}")
    return value


def _structure_bool(value: object, _type: object) -> bool:
    if type(value) is not bool:
        raise TypeError(f"expected a boolean, got {_json_type(value)} {value!r}")
    return value


def _structure_datetime(value: object, _type: object) -> datetime:
    if type(value) is not str:
        raise TypeError(f"expected a date-time string, got {_json_type(value)} {value!r}")
    return parse_datetime(value)


def _enum_hook(enum_type: type[StrEnum]) -> Callable[[object, object], StrEnum]:
    members = enum_type._value2member_map_

    def structure(value: object, _type: object) -> StrEnum:
        if type(value) is not str:
            raise TypeError(f"expected a string, got {_json_type(value)} {value!r}")
        member = members.get(value)
        if member is None:
            raise ValueError(f"{value!r} is not a valid {enum_type.__name__}")
        return member  # type: ignore[return-value]

    return structure


def _tuple_hook(tuple_type: Any) -> Callable[[object, object], tuple[Any, ...]]:
    item_type = get_args(tuple_type)[0]
    structure_item = _converter.get_structure_hook(item_type)

    def structure(value: object, _type: object) -> tuple[Any, ...]:
        if type(value) is not list:
            raise TypeError(f"expected an array, got {_json_type(value)}")
        try:
            return tuple([structure_item(item, item_type) for item in value])
        except Exception:
            pass
        errors = []  # the slow path: find which elements failed, so the error names them
        for index, item in enumerate(value):
            try:
                structure_item(item, item_type)
            except Exception as exc:
                exc.add_note(IterableValidationNote(f"@ index {index}", index, item_type))
                errors.append(exc)
        raise IterableValidationError("invalid array elements", errors, tuple_type)

    return structure


def _class_hook(cls: type[Any]) -> Callable[[object, object], Any]:
    renames: dict[str, Any] = {
        field.name: override(rename=wire_name(field.name)) for field in attrs.fields(cls)
    }
    structure_fields = make_dict_structure_fn(cls, _converter, **renames)

    def structure(value: object, _type: object) -> Any:
        if type(value) is not dict:
            raise TypeError(f"expected an object, got {_json_type(value)}")
        return structure_fields(value, cls)

    return structure


def _class_unstructure_hook(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
    renames: dict[str, Any] = {
        field.name: override(rename=wire_name(field.name)) for field in attrs.fields(cls)
    }
    return make_dict_unstructure_fn(cls, _converter, _cattrs_omit_if_default=True, **renames)


_ENUM_TYPES = [
    value
    for value in vars(enums).values()
    if isinstance(value, type) and issubclass(value, StrEnum) and value is not StrEnum
]


def _is_tuple(cls: Any) -> bool:
    return getattr(cls, "__origin__", None) is tuple


def _build_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_decimal)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_unstructure_hook(datetime, format_datetime)
    for enum_type in _ENUM_TYPES:  # each one by name: the hook for str would otherwise catch them
        converter.register_structure_hook(enum_type, _enum_hook(enum_type))
        converter.register_unstructure_hook(enum_type, str)
    converter.register_structure_hook_factory(_is_tuple, _tuple_hook)
    converter.register_unstructure_hook_factory(
        _is_tuple,
        lambda tuple_type: _list_unstructurer(get_args(tuple_type)[0], converter),
    )
    converter.register_structure_hook_factory(attrs.has, _class_hook)
    converter.register_unstructure_hook_factory(attrs.has, _class_unstructure_hook)
    return converter


def _list_unstructurer(item_type: Any, converter: cattrs.Converter) -> Callable[[Any], list[Any]]:
    unstructure_item = converter.get_unstructure_hook(item_type)
    return lambda items: [unstructure_item(item) for item in items]


_converter = _build_converter()


def _warm_up() -> None:
    """Generate every class's functions now, so the first message of a run does not pay for it."""
    for module in (datatypes, messages):
        for value in vars(module).values():
            if isinstance(value, type) and attrs.has(value):
                _converter.get_structure_hook(value)
                _converter.get_unstructure_hook(value)


_warm_up()


# --- translating decoding errors to CALLERROR codes ------------------------------------------------------


def _protocol_error(exc: BaseException, cls: type[Payload]) -> RemoteProtocolError:
    leaf, path = _first_leaf(exc, [])
    where = f"{cls.action}{''.join(path)}"
    if isinstance(leaf, ConstraintViolation):
        return RemoteProtocolError(leaf.code, f"{where}: {leaf}")
    if isinstance(leaf, ForbiddenExtraKeysError):
        unknown = ", ".join(sorted(leaf.extra_fields))
        return RemoteProtocolError(ErrorCode.FORMATION_VIOLATION, f"{where}: unknown field {unknown}")
    if isinstance(leaf, KeyError):
        return RemoteProtocolError(
            ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION, f"{where}: required field is missing"
        )
    if isinstance(leaf, TypeError):
        return RemoteProtocolError(ErrorCode.TYPE_CONSTRAINT_VIOLATION, f"{where}: {leaf}")
    if isinstance(leaf, ValueError):
        return RemoteProtocolError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, f"{where}: {leaf}")
    raise exc  # not a problem of the payload: a bug of ours, which must not become a CALLERROR


def _first_leaf(exc: BaseException, path: list[str]) -> tuple[BaseException, list[str]]:
    """The first innermost error of a cattrs error group, with the JSON path that leads to it."""
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, IterableValidationNote):
            path.append(f"[{note.index}]")
        elif hasattr(note, "name"):
            path.append(f".{wire_name(note.name)}")
    if isinstance(exc, BaseExceptionGroup):
        return _first_leaf(exc.exceptions[0], path)
    return exc, path
