"""The fleet file: which charge points a run simulates, where they connect and where their state lives.

The format (``examples/fleet.toml`` is a commented example)::

    csms_url = "ws://127.0.0.1:9000/ocpp"  # required unless every group has its own
    database = "fleet.db"                   # optional, this default

    [[charge_points]]              # a group of alike charge points; at least one
    id = "CP-{n:04}"               # required: a str.format pattern of n = 1..count
    count = 10                     # default 1
    connectors = 2                 # default 1, at most 32
    vendor = "Acme"                # default "ocpp-fleet", CiString20
    model = "AC22"                 # default "Simulated", CiString20
    firmware = "1.0.0"             # optional, CiString50
    serial = "SN-{n:06}"           # optional pattern of n, CiString25 once formatted
    csms_url = "wss://..."         # optional, overrides the top-level csms_url for this group
    [charge_points.configuration]  # optional initial configuration: OCPP key = value
    HeartbeatInterval = 300

Rules:

- A charge point connects to ``csms_url + "/" + id``, the id percent-encoded. A URL is ws:// or
  wss:// with a host and no query or fragment.
- A relative ``database`` path is relative to the folder of the fleet file, not to the working directory.
- Ids must be unique across the whole file, ignoring case (a CSMS may compare them case-insensitively).
- Configuration values are given as TOML integers, booleans, strings or lists of strings and kept in OCPP's
  string form: ``300`` → ``"300"``, ``true`` → ``"true"``, ``["a", "b"]`` → ``"a,b"``.
- Unknown keys are errors, so that a typo is never silently ignored; later versions add keys.
"""

import difflib
import json
import re
import string
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attrs

from actors.charge_point import SUPPORTED_MEASURANDS, configuration_keys
from actors.configuration import Configuration
from actors.ocpp import ChargePointErrorCode, ConfigurationStatus, RemoteProtocolError
from actors.security import HIGHEST_PROFILE, TlsFiles
from fleet.drivers import SessionSettings
from fleet.scenario import ALL_CHARGE_POINTS, ScenarioEvent, ScenarioKind, csms_request

__all__ = [
    "ChargePointGroup",
    "ChargePointSpec",
    "FleetFile",
    "FleetFileError",
    "check_charge_point_group",
    "check_scenario_event",
    "load_fleet_file",
    "parse_fleet_file",
]

DEFAULT_DATABASE = "fleet.db"
DEFAULT_VENDOR = "ocpp-fleet"
DEFAULT_MODEL = "Simulated"
MAX_CONNECTORS = 32
# The charge point identity limit of OCPP's security whitepaper, where it is also the Basic Auth username.
MAX_IDENTITY_LENGTH = 48

FLEET_KEYS = ("csms_url", "database", "charge_points", "scenario")
SCENARIO_KEYS = ("at", "charge_point", "connector", "error_code", "event", "id_tag", "info")
CSMS_CALL_KEYS = ("action", "payload")
GROUP_KEYS = (
    "connectors",
    "count",
    "csms_url",
    "firmware",
    "id",
    "max_power_w",
    "model",
    "remote_start_delay",
    "serial",
    "vendor",
    "configuration",
    "sessions",
    "security_profile",
    "authorization_key",
    "ca_file",
    "client_certificate",
    "client_key",
)
SESSION_KEYS = ("arrivals_per_hour", "duration_minutes", "id_tags")
DEFAULT_MAX_POWER_W = 22_000.0
DEFAULT_REMOTE_START_DELAY = 10.0
_EXAMPLE_PATTERN = '"CP-{n:04}"'
_EXAMPLE_URL = '"ws://127.0.0.1:9000/ocpp"'

T = TypeVar("T")


class FleetFileError(Exception):
    """A fleet file that cannot be used. Its ``str()`` is one line: ``<file>: <where>: <what is wrong>``."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        super().__init__(source, where, problem)
        self.source = source
        self.where = where
        """The key path (``charge_points[1].count``), a TOML position, or empty."""
        self.problem = problem

    def __str__(self) -> str:
        return ": ".join(part for part in (self.source, self.where, self.problem) if part)


def _read_only(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@attrs.frozen
class ChargePointSpec:
    """One concrete charge point of the fleet."""

    id: str
    serial: str | None
    connectors: int
    vendor: str
    model: str
    firmware: str | None
    csms_url: str
    configuration: Mapping[str, str] = attrs.field(converter=_read_only)
    max_power_w: float = DEFAULT_MAX_POWER_W
    """The most power each connector can deliver."""
    sessions: SessionSettings | None = None
    """Drivers arriving at random, if any."""
    remote_start_delay: float = DEFAULT_REMOTE_START_DELAY
    """Seconds after a connector starts waiting for a cable (a remote start) until a simulated EV plugs in."""
    tls: TlsFiles = attrs.Factory(TlsFiles)
    """CA file and client certificate (security profiles 2 and 3)."""


@attrs.frozen
class ChargePointGroup:
    """One ``[[charge_points]]`` table: ``count`` alike charge points; id and serial are patterns of n."""

    id: str
    count: int = 1
    connectors: int = 1
    vendor: str = DEFAULT_VENDOR
    model: str = DEFAULT_MODEL
    firmware: str | None = None
    serial: str | None = None
    csms_url: str | None = None
    configuration: Mapping[str, str] = attrs.field(factory=dict, converter=_read_only)
    max_power_w: float = DEFAULT_MAX_POWER_W
    sessions: SessionSettings | None = None
    remote_start_delay: float = DEFAULT_REMOTE_START_DELAY
    security: "GroupSecurity | None" = None


@attrs.frozen
class GroupSecurity:
    """The security settings of a group: patterns of n and id; files relative to the fleet file."""

    profile: int
    authorization_key: str | None
    ca_file: Path | None
    client_certificate: Path | None
    client_key: Path | None


@attrs.frozen
class FleetFile:
    """A whole fleet file: where charge points connect, where state lives, and the groups of charge points."""

    csms_url: str | None
    database: Path
    groups: tuple[ChargePointGroup, ...]
    source: str = "fleet file"
    """The file name used in error messages."""
    scenario: tuple[ScenarioEvent, ...] = ()
    """Timed events, in the order of the file."""
    base_dir: Path = Path()
    """The folder of the fleet file: relative file names in it are relative to this folder."""

    def charge_points(self) -> tuple[ChargePointSpec, ...]:
        """Every charge point, group by group, n = 1..count in each; raises :class:`FleetFileError`.

        Checks what only the expanded ids and serials show: a CSMS URL for every group, valid and unique ids,
        serials of at most 25 characters.
        """
        return self._specs((f"charge_points[{index}]", group) for index, group in enumerate(self.groups))

    def _specs(self, groups: Iterable[tuple[str, ChargePointGroup]]) -> tuple[ChargePointSpec, ...]:
        """The charge points of the groups, each with its key path."""
        specs: list[ChargePointSpec] = []
        first_use: dict[str, str] = {}
        for path, group in groups:
            for n, spec in enumerate(self._expand(group, path), start=1):
                earlier = first_use.get(spec.id.lower())
                if earlier is not None:
                    problem = (
                        f"{_show(spec.id)} (n={n}) duplicates {earlier}; ids must be unique, ignoring case"
                    )
                    raise FleetFileError(self.source, _join(path, "id"), problem)
                first_use[spec.id.lower()] = f"{_show(spec.id)} of {path or 'this group'} (n={n})"
                specs.append(spec)
        return tuple(specs)

    def _expand(self, group: ChargePointGroup, path: str) -> Iterator[ChargePointSpec]:
        csms_url = group.csms_url or self.csms_url
        if csms_url is None:
            problem = (
                "missing; required unless every [[charge_points]] group has its own "
                f"({path or 'this group'} has none)"
            )
            raise FleetFileError(self.source, "csms_url", problem)
        try:
            for n in range(1, group.count + 1):
                yield _charge_point(group, n, csms_url)
        except _Invalid as invalid:
            raise FleetFileError(self.source, _join(path, invalid.path), invalid.problem) from None


def load_fleet_file(path: Path) -> FleetFile:
    """Read and check the fleet file at ``path``; raises :class:`FleetFileError`."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise FleetFileError(str(path), "", f"cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise FleetFileError(str(path), "", f"cannot read: not UTF-8 text ({error.reason})") from None
    return parse_fleet_file(text, str(path), path.absolute().parent)


def parse_fleet_file(text: str, source: str, base_dir: Path) -> FleetFile:
    """Check the TOML ``text`` of the fleet file ``source``; a relative database is relative to ``base_dir``.

    Raises :class:`FleetFileError` for the first problem found, those of :meth:`FleetFile.charge_points`
    included.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        where, problem = _toml_problem(error)
        raise FleetFileError(source, where, f"invalid TOML: {problem}") from None
    try:
        fleet = _fleet(document, source, base_dir)
    except _Invalid as invalid:
        raise FleetFileError(source, invalid.path, invalid.problem) from None
    specs = {spec.id: spec for spec in fleet.charge_points()}
    try:
        for index, event in enumerate(fleet.scenario):
            _check_scenario_target(event, specs, f"scenario[{index}]")
    except _Invalid as invalid:
        raise FleetFileError(source, invalid.path, invalid.problem) from None
    return fleet


def check_charge_point_group(table: Any, fleet: FleetFile, source: str) -> tuple[ChargePointSpec, ...]:
    """The charge points of one group given as a table of the keys of ``[[charge_points]]`` (the control
    API adds them at run time), checked as the groups of ``fleet`` are; files are relative to its folder and
    its ``csms_url`` is the default.

    Raises :class:`FleetFileError` naming ``source`` and key paths within the table.
    """
    try:
        group = _group(table, "", fleet.base_dir)
    except _Invalid as invalid:
        raise FleetFileError(source, invalid.path, invalid.problem) from None
    return attrs.evolve(fleet, source=source)._specs([("", group)])


def check_scenario_event(table: Any, source: str) -> ScenarioEvent:
    """One scenario event given as a table of the keys of ``[[scenario]]`` (the control API receives them),
    checked as the fleet file's are, but not its charge point and connector against a fleet.

    Raises :class:`FleetFileError` naming ``source`` and key paths within the table.
    """
    try:
        return _scenario_event(table, "")
    except _Invalid as invalid:
        raise FleetFileError(source, invalid.path, invalid.problem) from None


class _Invalid(Exception):
    """A problem at a key path, before the file name is known."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(path, problem)
        self.path = path
        self.problem = problem


def _toml_problem(error: tomllib.TOMLDecodeError) -> tuple[str, str]:
    """``("line 3, column 7", "Invalid value")`` from tomllib's ``Invalid value (at line 3, column 7)``."""
    match = re.fullmatch(r"(.*) \(at (line \d+, column \d+|end of document)\)", str(error))
    return (match[2], match[1]) if match else ("", str(error))


def _fleet(document: dict[str, Any], source: str, base_dir: Path) -> FleetFile:
    _known_keys(document, "", FLEET_KEYS)
    groups = document.get("charge_points")
    if not isinstance(groups, list) or not groups:
        problem = "a fleet needs at least one [[charge_points]] group"
        raise _Invalid("charge_points", problem if groups is None else f"{problem}, got {_show(groups)}")
    return FleetFile(
        csms_url=_field(document, "", "csms_url", _url, None),
        database=base_dir / _field(document, "", "database", _database, DEFAULT_DATABASE),
        groups=tuple(
            _group(group, f"charge_points[{index}]", base_dir) for index, group in enumerate(groups)
        ),
        source=source,
        scenario=_field(document, "", "scenario", _scenario, ()),
        base_dir=base_dir,
    )


def _group(table: Any, path: str, base_dir: Path) -> ChargePointGroup:
    if not isinstance(table, dict):
        raise _Invalid(path, f"must be a table, written [[charge_points]], got {_show(table)}")
    _known_keys(table, path, GROUP_KEYS)
    if "id" not in table:
        raise _Invalid(_join(path, "id"), f"missing; give a pattern of n such as {_EXAMPLE_PATTERN}")
    connectors = _field(table, path, "connectors", _connectors, 1)
    configuration: dict[str, str] = _field(table, path, "configuration", _configuration, {})
    _check_configuration(configuration, connectors, _join(path, "configuration"))
    return ChargePointGroup(
        id=_pattern(table["id"], _join(path, "id")),
        count=_field(table, path, "count", _positive, 1),
        connectors=connectors,
        vendor=_field(table, path, "vendor", _ci_string(20), DEFAULT_VENDOR),
        model=_field(table, path, "model", _ci_string(20), DEFAULT_MODEL),
        firmware=_field(table, path, "firmware", _ci_string(50), None),
        serial=_field(table, path, "serial", _pattern, None),
        csms_url=_field(table, path, "csms_url", _url, None),
        configuration=configuration,
        max_power_w=_field(table, path, "max_power_w", _power, DEFAULT_MAX_POWER_W),
        sessions=_field(table, path, "sessions", _sessions, None),
        remote_start_delay=_field(table, path, "remote_start_delay", _delay, DEFAULT_REMOTE_START_DELAY),
        security=_security(table, path, base_dir, configuration),
    )


def _security(
    table: Mapping[str, Any], path: str, base_dir: Path, configuration: Mapping[str, str]
) -> GroupSecurity | None:
    """The group's security settings, checked against each other; ``None`` if it has none."""
    keys = ("security_profile", "authorization_key", "ca_file", "client_certificate", "client_key")
    if not any(key in table for key in keys):
        return None

    def file(key: str) -> Path | None:
        pattern = _field(table, path, key, _id_pattern, None)
        return None if pattern is None else base_dir / pattern

    profile = _field(table, path, "security_profile", _security_profile, 0)
    key = _field(table, path, "authorization_key", _id_pattern, None)
    certificate = file("client_certificate")
    has_key = key is not None or any(name.lower() == "authorizationkey" for name in configuration)
    where = _join(path, "security_profile")
    if profile in (1, 2) and not has_key:
        raise _Invalid(
            where, f"profile {profile} needs an authorization_key (the Basic authentication password)"
        )
    if profile == HIGHEST_PROFILE and certificate is None:
        raise _Invalid(where, "profile 3 needs a client_certificate (and client_key unless in the same file)")
    return GroupSecurity(profile, key, file("ca_file"), certificate, file("client_key"))


def _security_profile(value: Any, path: str) -> int:
    if type(value) is not int or not 0 <= value <= HIGHEST_PROFILE:
        raise _Invalid(path, f"must be a security profile from 0 to {HIGHEST_PROFILE}, got {_show(value)}")
    return value


def _id_pattern(value: Any, path: str) -> str:
    """A string that may use n and id as str.format fields, e.g. ``certs/{id}.pem``."""
    if not isinstance(value, str) or not value:
        raise _Invalid(path, f"must be a string, got {_show(value)}")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        if not names <= {"n", "id"}:
            raise _Invalid(
                path, f'{_show(value)} may use no other names than n and id, as in "certs/{{id}}.pem"'
            )
        value.format(n=1, id="CP")
    except (ValueError, IndexError) as error:
        raise _Invalid(path, f"{_show(value)} is not a valid str.format pattern: {error}") from None
    return value


def _charge_point(group: ChargePointGroup, n: int, csms_url: str) -> ChargePointSpec:
    """The n-th charge point of ``group``; raises :class:`_Invalid` with a path relative to the group."""
    serial = None if group.serial is None else group.serial.format(n=n)
    charge_point_id = group.id.format(n=n)
    _check_identity(charge_point_id, n)
    if serial is not None and not 1 <= len(serial) <= 25:
        problem = (
            f"{_show(serial)} (n={n}) has {len(serial)} characters; a serial number has 1 to 25 (CiString25)"
        )
        raise _Invalid("serial", problem)
    spec = ChargePointSpec(
        id=charge_point_id,
        serial=serial,
        connectors=group.connectors,
        vendor=group.vendor,
        model=group.model,
        firmware=group.firmware,
        csms_url=csms_url,
        configuration=group.configuration,
        max_power_w=group.max_power_w,
        sessions=group.sessions,
        remote_start_delay=group.remote_start_delay,
    )
    if group.security is None:
        return spec
    return _secured(spec, group.security, n)


def _secured(spec: ChargePointSpec, security: GroupSecurity, n: int) -> ChargePointSpec:
    """``spec`` with its security settings: the profile and key in its configuration, its TLS files, which
    must be readable."""
    configuration = dict(spec.configuration)
    configuration["SecurityProfile"] = str(security.profile)
    if security.authorization_key is not None:
        key = security.authorization_key.format(n=n, id=spec.id)
        if not 16 <= len(key) <= 40:
            problem = f"has {len(key)} characters for {spec.id}; an AuthorizationKey has 16 to 40"
            raise _Invalid("authorization_key", problem)
        configuration["AuthorizationKey"] = key

    def readable(key: str, pattern: Path | None) -> str | None:
        if pattern is None:
            return None
        file = Path(str(pattern).format(n=n, id=spec.id))
        try:
            file.read_bytes()
        except OSError as error:
            raise _Invalid(key, f"cannot read {file} for {spec.id}: {error.strerror or error}") from None
        return str(file)

    tls = TlsFiles(
        ca_file=readable("ca_file", security.ca_file),
        client_certificate=readable("client_certificate", security.client_certificate),
        client_key=readable("client_key", security.client_key),
    )
    return attrs.evolve(spec, configuration=configuration, tls=tls)


def _check_identity(charge_point_id: str, n: int) -> None:
    shown = f"{_show(charge_point_id)} (n={n})"
    if not 1 <= len(charge_point_id) <= MAX_IDENTITY_LENGTH:
        length = len(charge_point_id)
        problem = f"{shown} has {length} characters; a charge point identity has 1 to {MAX_IDENTITY_LENGTH}"
        raise _Invalid("id", problem)
    bad = next((c for c in charge_point_id if not ("!" <= c <= "~") or c == "/"), None)
    if bad is not None:
        problem = (
            f'{shown} contains {_show(bad)}; a charge point identity is printable ASCII without spaces or "/"'
        )
        raise _Invalid("id", problem)


def _known_keys(table: Mapping[str, Any], path: str, known: tuple[str, ...]) -> None:
    for key in table:
        if key not in known:
            raise _Invalid(_join(path, key), f"unknown key; known keys are {', '.join(known)}")


def _field(table: Mapping[str, Any], path: str, key: str, check: Callable[[Any, str], T], default: T) -> T:
    """``check(value, key path)`` if ``key`` is in ``table``, else ``default``."""
    return check(table[key], _join(path, key)) if key in table else default


def _positive(value: Any, path: str) -> int:
    if type(value) is not int or value < 1:
        raise _Invalid(path, f"must be a positive integer, got {_show(value)}")
    return value


def _connectors(value: Any, path: str) -> int:
    if type(value) is not int or not 1 <= value <= MAX_CONNECTORS:
        raise _Invalid(path, f"must be an integer from 1 to {MAX_CONNECTORS}, got {_show(value)}")
    return value


def _scenario(value: Any, path: str) -> tuple[ScenarioEvent, ...]:
    if not isinstance(value, list):
        raise _Invalid(path, f"must be tables written [[scenario]], got {_show(value)}")
    return tuple(_scenario_event(entry, f"{path}[{index}]") for index, entry in enumerate(value))


def _scenario_event(table: Any, path: str) -> ScenarioEvent:
    if not isinstance(table, dict):
        raise _Invalid(path, f"must be a table, written [[scenario]], got {_show(table)}")
    _known_keys(table, path, SCENARIO_KEYS + CSMS_CALL_KEYS)
    for key in ("at", "charge_point", "event"):
        if key not in table:
            raise _Invalid(_join(path, key), "missing")
    at = table["at"]
    if type(at) not in (int, float) or at < 0:
        raise _Invalid(_join(path, "at"), f"must be seconds after the start, 0 or more, got {_show(at)}")
    try:
        kind = ScenarioKind(table["event"])
    except ValueError:
        known = ", ".join(kind.value for kind in ScenarioKind)
        raise _Invalid(
            _join(path, "event"), f"unknown event {_show(table['event'])}; known: {known}"
        ) from None
    connector = table.get("connector")
    if kind.needs_connector and (type(connector) is not int or connector < 1):
        given = "nothing" if connector is None else _show(connector)
        raise _Invalid(_join(path, "connector"), f"{kind} needs a connector number from 1, got {given}")
    if not kind.needs_connector and connector is not None:
        raise _Invalid(_join(path, "connector"), f"{kind} happens to the whole charge point: no connector")
    id_tag = _field(table, path, "id_tag", _ci_string(20), None)
    if kind is ScenarioKind.PRESENT_ID_TAG and id_tag is None:
        raise _Invalid(_join(path, "id_tag"), "present_id_tag needs the idTag presented")
    error_code = table.get("error_code", str(ChargePointErrorCode.OTHER_ERROR))
    try:
        code = ChargePointErrorCode(error_code)
    except ValueError:
        raise _Invalid(
            _join(path, "error_code"), f"not an OCPP ChargePointErrorCode: {_show(error_code)}"
        ) from None
    return ScenarioEvent(
        at=float(at),
        charge_point=_ci_string(48)(table["charge_point"], _join(path, "charge_point")),
        kind=kind,
        connector=connector,
        id_tag=id_tag,
        error_code=code,
        info=_field(table, path, "info", _ci_string(50), None),
        **_csms_call(table, path, kind),
    )


def _csms_call(table: Mapping[str, Any], path: str, kind: ScenarioKind) -> dict[str, Any]:
    """The action and payload of a ``csms_call`` event, checked as the charge point would check them."""
    if kind is not ScenarioKind.CSMS_CALL:
        for key in ("action", "payload"):
            if key in table:
                raise _Invalid(_join(path, key), f"only a csms_call has an {key}")
        return {}
    if "action" not in table:
        raise _Invalid(_join(path, "action"), "csms_call needs the action of the Central System's CALL")
    action, payload = table["action"], table.get("payload", {})
    if not isinstance(payload, dict):
        raise _Invalid(_join(path, "payload"), f"must be a table (the CALL's payload), got {_show(payload)}")
    try:
        csms_request(str(action), payload, now=datetime(2000, 1, 1, tzinfo=UTC), files="http://files")
    except ValueError as error:
        raise _Invalid(_join(path, "action"), str(error)) from None
    except RemoteProtocolError as error:
        raise _Invalid(_join(path, "payload"), f"not a valid {action}: {error.description}") from None
    return {"action": str(action), "payload": payload}


def _check_scenario_target(event: ScenarioEvent, specs: Mapping[str, ChargePointSpec], path: str) -> None:
    if event.charge_point == ALL_CHARGE_POINTS:
        targets = list(specs.values())
    elif event.charge_point in specs:
        targets = [specs[event.charge_point]]
    else:
        raise _Invalid(
            _join(path, "charge_point"), f"no charge point {_show(event.charge_point)} in this fleet"
        )
    if event.connector is not None and any(event.connector > spec.connectors for spec in targets):
        raise _Invalid(
            _join(path, "connector"), f"connector {event.connector} does not exist on every target"
        )


def _delay(value: Any, path: str) -> float:
    if type(value) not in (int, float) or not 0 <= value <= 3600:
        raise _Invalid(path, f"must be seconds from 0 to 3600, got {_show(value)}")
    return float(value)


def _power(value: Any, path: str) -> float:
    if type(value) not in (int, float) or not 0 < value <= 1_000_000:
        raise _Invalid(path, f"must be a power in W above 0 and at most 1000000, got {_show(value)}")
    return float(value)


def _sessions(value: Any, path: str) -> SessionSettings:
    if not isinstance(value, dict):
        raise _Invalid(path, f"must be a table of {', '.join(SESSION_KEYS)}, got {_show(value)}")
    _known_keys(value, path, SESSION_KEYS)
    for key in SESSION_KEYS:
        if key not in value:
            raise _Invalid(_join(path, key), "missing")
    id_tags = value["id_tags"]
    if not isinstance(id_tags, list) or not id_tags:
        raise _Invalid(_join(path, "id_tags"), f"must be a non-empty list of idTags, got {_show(id_tags)}")
    tags = tuple(
        _ci_string(20)(tag, f"{_join(path, 'id_tags')}[{index}]") for index, tag in enumerate(id_tags)
    )
    rate = value["arrivals_per_hour"]
    if type(rate) not in (int, float) or rate <= 0:
        raise _Invalid(_join(path, "arrivals_per_hour"), f"must be a number above 0, got {_show(rate)}")
    duration = value["duration_minutes"]
    if (
        not isinstance(duration, list)
        or len(duration) != 2
        or not all(type(bound) in (int, float) and bound > 0 for bound in duration)
        or duration[0] > duration[1]
    ):
        problem = f"must be [shortest, longest] in minutes, both above 0, got {_show(duration)}"
        raise _Invalid(_join(path, "duration_minutes"), problem)
    return SessionSettings(tags, float(rate), (float(duration[0]), float(duration[1])))


def _ci_string(limit: int) -> Callable[[Any, str], str]:
    def check(value: Any, path: str) -> str:
        if not isinstance(value, str) or not 1 <= len(value) <= limit:
            raise _Invalid(
                path, f"must be a string of 1 to {limit} characters (CiString{limit}), got {_show(value)}"
            )
        return value

    return check


def _database(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _Invalid(path, f'must be a file path such as "{DEFAULT_DATABASE}", got {_show(value)}')
    return value


def _url(value: Any, path: str) -> str:
    if isinstance(value, str) and value.isascii() and value.isprintable() and not set(" ?#") & set(value):
        try:
            parts = urlsplit(value)
            _ = parts.port  # a port that is not a number raises ValueError
        except ValueError:
            pass
        else:
            if parts.scheme in ("ws", "wss") and parts.hostname:
                return value
    problem = (
        f"must be a ws:// or wss:// URL with a host and no query, such as {_EXAMPLE_URL}, got {_show(value)}"
    )
    raise _Invalid(path, problem)


def _pattern(value: Any, path: str) -> str:
    """A str.format pattern whose only replacement field is n, e.g. ``CP-{n:04}``."""
    if not isinstance(value, str):
        raise _Invalid(
            path, f"must be a str.format pattern of n such as {_EXAMPLE_PATTERN}, got {_show(value)}"
        )
    try:
        fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(value) if name is not None]
        if any(name != "n" or "{" in (spec or "") for name, spec in fields):
            problem = f"the pattern {_show(value)} may use no other name than n, as in {_EXAMPLE_PATTERN}"
            raise _Invalid(path, problem)
        value.format(n=1)
    except ValueError as error:
        raise _Invalid(
            path, f"the pattern {_show(value)} is not a valid str.format pattern: {error}"
        ) from None
    return value


def _configuration(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Invalid(path, f"must be a table of OCPP configuration keys and values, got {_show(value)}")
    converted: dict[str, str] = {}
    spelled: dict[str, str] = {}
    for key, item in value.items():
        where = _join(path, key)
        if not 1 <= len(key) <= 50:
            raise _Invalid(where, "a configuration key must have 1 to 50 characters (CiString50)")
        earlier = spelled.setdefault(key.lower(), key)
        if earlier != key:
            raise _Invalid(where, f"the same key as {earlier}; configuration keys ignore case")
        converted[key] = _configuration_value(item, where)
    return converted


def _check_configuration(values: Mapping[str, str], connectors: int, path: str) -> None:
    """Every key must be one the charge point knows and may be set, to a value it accepts."""
    definitions = configuration_keys(connectors, SUPPORTED_MEASURANDS)
    configuration = Configuration(definitions)
    for key, value in values.items():
        definition = configuration.definition(key)
        where = _join(path, key)
        if definition is None:
            names = [known.name for known in definitions]
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise _Invalid(where, f"not a configuration key of these charge points{hint}")
        if not definition.writable:
            raise _Invalid(where, "read-only; the charge point sets it itself")
        if configuration.check_change(key, value) is ConfigurationStatus.REJECTED:
            raise _Invalid(where, f"{_show(value)} is not a valid {definition.type.value} value for this key")


def _configuration_value(value: Any, path: str) -> str:
    """OCPP's string form of a configuration value: ``300`` → ``"300"``, ``["a", "b"]`` → ``"a,b"``."""
    match value:
        case bool():
            text = "true" if value else "false"
        case int() | str():
            text = str(value)
        case list():
            text = ",".join(_list_item(item, f"{path}[{index}]") for index, item in enumerate(value))
        case _:
            problem = f"must be an integer, a boolean, a string or a list of strings, got {_show(value)}"
            raise _Invalid(path, problem)
    if len(text) > 500:
        raise _Invalid(
            path, f"has {len(text)} characters as an OCPP string, at most 500 allowed (CiString500)"
        )
    return text


def _list_item(value: Any, path: str) -> str:
    if not isinstance(value, str) or "," in value:
        raise _Invalid(path, f'must be a string without ",", got {_show(value)}')
    return value


def _join(path: str, key: str) -> str:
    """A TOML key path: ``charge_points[0].configuration."odd key"``."""
    shown = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
    return f"{path}.{shown}" if path else shown


def _show(value: Any) -> str:
    """A value as TOML would write it, on one line; ``a table`` for a table."""
    match value:
        case bool():
            return "true" if value else "false"
        case str():
            return json.dumps(value)
        case dict():
            return "a table"
        case list():
            return f"[{', '.join(_show(item) for item in value)}]"
        case _:
            return str(value)
