"""The fleet file: the example loads, defaults apply, and every mistake gives one exact line."""

from pathlib import Path

import pytest

from fleet.drivers import SessionSettings
from fleet.fleetfile import (
    ChargePointGroup,
    ChargePointSpec,
    FleetFile,
    FleetFileError,
    load_fleet_file,
    parse_fleet_file,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "fleet.toml"
URL = 'csms_url = "ws://127.0.0.1:9000/ocpp"\n'
KNOWN_GROUP_KEYS = (
    "connectors, count, csms_url, firmware, id, max_power_w, model, remote_start_delay, serial, vendor, "
    "configuration, sessions, security_profile, authorization_key, ca_file, client_certificate, client_key"
)


def parse(text: str) -> FleetFile:
    return parse_fleet_file(text, "fleet.toml", Path("/fleets"))


def error_of(text: str) -> str:
    with pytest.raises(FleetFileError) as caught:
        parse(text)
    return str(caught.value)


def group(body: str) -> str:
    """A fleet file with the top-level URL and one group with ``body``."""
    return f'{URL}[[charge_points]]\nid = "CP-{{n}}"\n{body}\n'


def test_the_example_expands_to_its_ids_and_settings() -> None:
    fleet = load_fleet_file(EXAMPLE)
    charge_points = fleet.charge_points()
    assert [cp.id for cp in charge_points] == [f"CP-{n:04}" for n in range(1, 11)] + ["DC-01", "DC-02"]
    assert fleet.database == EXAMPLE.parent / "fleet.db"
    assert charge_points[0] == ChargePointSpec(
        id="CP-0001",
        serial="AC-000001",
        connectors=2,
        vendor="Acme",
        model="AC22",
        firmware="1.4.2",
        csms_url="ws://127.0.0.1:9000/ocpp",
        configuration={
            "HeartbeatInterval": "300",
            "MeterValueSampleInterval": "60",
            "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
            "AuthorizeRemoteTxRequests": "false",
        },
    )
    assert charge_points[0].csms_url == "ws://127.0.0.1:9000/ocpp"
    assert (charge_points[-1].vendor, charge_points[-1].model, charge_points[-1].connectors) == (
        "Voltway",
        "DC150",
        1,
    )
    assert charge_points[-1].serial is None
    assert charge_points[-1].configuration == {"HeartbeatInterval": "600", "MeterValueSampleInterval": "15"}


def test_defaults() -> None:
    fleet = parse(f'{URL}[[charge_points]]\nid = "CP-1"\n')
    assert fleet.database == Path("/fleets/fleet.db")
    assert fleet.groups == (ChargePointGroup(id="CP-1"),)
    assert fleet.charge_points() == (
        ChargePointSpec(
            id="CP-1",
            serial=None,
            connectors=1,
            vendor="ocpp-fleet",
            model="Simulated",
            firmware=None,
            csms_url="ws://127.0.0.1:9000/ocpp",
            configuration={},
        ),
    )


def test_the_database_is_relative_to_the_folder_of_the_fleet_file(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    path = tmp_path / "site" / "fleet.toml"
    path.write_text(f'{URL}database = "state/sim.db"\n[[charge_points]]\nid = "CP-1"\n')
    assert load_fleet_file(path).database == tmp_path / "site" / "state" / "sim.db"
    path.write_text(f'{URL}database = "{tmp_path / "elsewhere.db"}"\n[[charge_points]]\nid = "CP-1"\n')
    assert load_fleet_file(path).database == tmp_path / "elsewhere.db"


def test_configuration_values_take_their_ocpp_string_form() -> None:
    fleet = parse(
        group(
            "[charge_points.configuration]\n"
            "HeartbeatInterval = 300\nLocalPreAuthorize = true\nStopTransactionOnEVSideDisconnect = false\n"
            'MeterValuesSampledData = ["Energy.Active.Import.Register", "Voltage"]\n'
            'ConnectorPhaseRotation = "RST"\n'
            "MeterValuesAlignedData = []\nClockAlignedDataInterval = 900\n"
        )
    )
    assert fleet.groups[0].configuration == {
        "HeartbeatInterval": "300",
        "LocalPreAuthorize": "true",
        "StopTransactionOnEVSideDisconnect": "false",
        "MeterValuesSampledData": "Energy.Active.Import.Register,Voltage",
        "ConnectorPhaseRotation": "RST",
        "MeterValuesAlignedData": "",
        "ClockAlignedDataInterval": "900",
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "HeartbeatIntervall = 60",
            "charge_points[0].configuration.HeartbeatIntervall: "
            "not a configuration key of these charge points; did you mean HeartbeatInterval?",
        ),
        (
            "Colour = 1",
            "charge_points[0].configuration.Colour: not a configuration key of these charge points",
        ),
        (
            "NumberOfConnectors = 4",
            "charge_points[0].configuration.NumberOfConnectors: read-only; the charge point sets it itself",
        ),
        (
            'HeartbeatInterval = "often"',
            "charge_points[0].configuration.HeartbeatInterval: "
            '"often" is not a valid integer value for this key',
        ),
        (
            'MeterValuesSampledData = ["Energy.Active.Import.Register", "RPM"]',
            "charge_points[0].configuration.MeterValuesSampledData: "
            '"Energy.Active.Import.Register,RPM" is not a valid CSL value for this key',
        ),
    ],
)
def test_configuration_keys_and_values_are_those_the_charge_point_accepts(line: str, message: str) -> None:
    with pytest.raises(FleetFileError) as raised:
        parse(group(f"[charge_points.configuration]\n{line}\n"))
    assert str(raised.value) == f"fleet.toml: {message}"


def test_a_group_may_have_its_own_csms_url_and_then_none_is_needed_at_the_top() -> None:
    fleet = parse('[[charge_points]]\nid = "A-{n}"\ncsms_url = "wss://csms.example.com:443/ocpp/"\n')
    assert fleet.csms_url is None
    assert fleet.charge_points()[0].csms_url == "wss://csms.example.com:443/ocpp/"
    fleet = parse(group('csms_url = "ws://other:9000"'))
    assert fleet.charge_points()[0].csms_url == "ws://other:9000"


def test_serial_pattern() -> None:
    fleet = parse(group('count = 2\nserial = "SN-{n:06}"'))
    assert [cp.serial for cp in fleet.charge_points()] == ["SN-000001", "SN-000002"]


def test_an_identity_of_48_characters_is_accepted() -> None:
    assert parse(f'{URL}[[charge_points]]\nid = "{"X" * 48}"\n').charge_points()[0].id == "X" * 48


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(FleetFileError) as caught:
        load_fleet_file(missing)
    assert str(caught.value) == f"{missing}: cannot read: No such file or directory"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"id = '\xff'\n")
    with pytest.raises(FleetFileError) as caught:
        load_fleet_file(binary)
    assert str(caught.value) == f"{binary}: cannot read: not UTF-8 text (invalid start byte)"


def test_invalid_toml_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(f"{URL}[[charge_points]]\nid = CP-1\n")
    with pytest.raises(FleetFileError) as caught:
        load_fleet_file(path)
    assert str(caught.value) == f"{path}: line 3, column 6: invalid TOML: Invalid value"
    assert error_of('csms_url = "ws://h"\ncsms_url = "ws://h"\n') == (
        "fleet.toml: line 2, column 20: invalid TOML: Cannot overwrite a value"
    )


def test_duplicate_ids_across_groups_name_both_groups() -> None:
    text = f'{URL}[[charge_points]]\nid = "CP-{{n}}"\ncount = 5\n'
    text += '[[charge_points]]\nid = "cp-{n:01}"\ncount = 5\n'
    assert error_of(text) == (
        'fleet.toml: charge_points[1].id: "cp-1" (n=1) duplicates "CP-1" of charge_points[0] (n=1); '
        "ids must be unique, ignoring case"
    )


ERRORS = [
    pytest.param(
        f"{URL}colour = 1\n",
        "fleet.toml: colour: unknown key; known keys are csms_url, database, charge_points, scenario",
        id="unknown top-level key",
    ),
    pytest.param(
        group("colour = 'red'"),
        f"fleet.toml: charge_points[0].colour: unknown key; known keys are {KNOWN_GROUP_KEYS}",
        id="unknown group key",
    ),
    pytest.param(
        group('"odd key" = 1'),
        f'fleet.toml: charge_points[0]."odd key": unknown key; known keys are {KNOWN_GROUP_KEYS}',
        id="unknown quoted key",
    ),
    pytest.param(
        URL,
        "fleet.toml: charge_points: a fleet needs at least one [[charge_points]] group",
        id="no group",
    ),
    pytest.param(
        f"{URL}charge_points = []\n",
        "fleet.toml: charge_points: a fleet needs at least one [[charge_points]] group, got []",
        id="empty groups",
    ),
    pytest.param(
        f'{URL}charge_points = ["CP-1"]\n',
        'fleet.toml: charge_points[0]: must be a table, written [[charge_points]], got "CP-1"',
        id="group not a table",
    ),
    pytest.param(
        '[[charge_points]]\nid = "A"\ncsms_url = "ws://a"\n[[charge_points]]\nid = "B"\n',
        "fleet.toml: csms_url: missing; required unless every [[charge_points]] group has its own "
        "(charge_points[1] has none)",
        id="csms_url missing",
    ),
    pytest.param(
        f'csms_url = "http://127.0.0.1:9000/ocpp"\n{group("")[len(URL) :]}',
        "fleet.toml: csms_url: must be a ws:// or wss:// URL with a host and no query, such as "
        '"ws://127.0.0.1:9000/ocpp", got "http://127.0.0.1:9000/ocpp"',
        id="csms_url scheme",
    ),
    pytest.param(
        group('csms_url = "ws:///ocpp"'),
        "fleet.toml: charge_points[0].csms_url: must be a ws:// or wss:// URL with a host and no query, "
        'such as "ws://127.0.0.1:9000/ocpp", got "ws:///ocpp"',
        id="group csms_url without host",
    ),
    pytest.param(
        group('csms_url = "ws://h/ocpp?token=1"'),
        "fleet.toml: charge_points[0].csms_url: must be a ws:// or wss:// URL with a host and no query, "
        'such as "ws://127.0.0.1:9000/ocpp", got "ws://h/ocpp?token=1"',
        id="csms_url with query",
    ),
    pytest.param(
        group('csms_url = "ws://h:port"'),
        "fleet.toml: charge_points[0].csms_url: must be a ws:// or wss:// URL with a host and no query, "
        'such as "ws://127.0.0.1:9000/ocpp", got "ws://h:port"',
        id="csms_url bad port",
    ),
    pytest.param(
        f'{URL}database = ""\n[[charge_points]]\nid = "A"\n',
        'fleet.toml: database: must be a file path such as "fleet.db", got ""',
        id="empty database",
    ),
    pytest.param(
        f"{URL}[[charge_points]]\ncount = 2\n",
        'fleet.toml: charge_points[0].id: missing; give a pattern of n such as "CP-{n:04}"',
        id="id missing",
    ),
    pytest.param(
        f"{URL}[[charge_points]]\nid = 7\n",
        'fleet.toml: charge_points[0].id: must be a str.format pattern of n such as "CP-{n:04}", got 7',
        id="id not a string",
    ),
    pytest.param(
        f'{URL}[[charge_points]]\nid = "CP-{{i}}"\n',
        'fleet.toml: charge_points[0].id: the pattern "CP-{i}" may use no other name than n, '
        'as in "CP-{n:04}"',
        id="pattern with another name",
    ),
    pytest.param(
        f'{URL}[[charge_points]]\nid = "CP-{{}}"\n',
        'fleet.toml: charge_points[0].id: the pattern "CP-{}" may use no other name than n, '
        'as in "CP-{n:04}"',
        id="positional pattern",
    ),
    pytest.param(
        f'{URL}[[charge_points]]\nid = "CP-{{n.real}}"\n',
        'fleet.toml: charge_points[0].id: the pattern "CP-{n.real}" may use no other name than n, '
        'as in "CP-{n:04}"',
        id="pattern with an attribute",
    ),
    pytest.param(
        f'{URL}[[charge_points]]\nid = "CP-{{n"\n',
        'fleet.toml: charge_points[0].id: the pattern "CP-{n" is not a valid str.format pattern: '
        "expected '}' before end of string",
        id="broken brace",
    ),
    pytest.param(
        f'{URL}[[charge_points]]\nid = "CP-}}"\n',
        'fleet.toml: charge_points[0].id: the pattern "CP-}" is not a valid str.format pattern: '
        "Single '}' encountered in format string",
        id="lone closing brace",
    ),
    pytest.param(
        group('serial = "SN-{n:q}"'),
        'fleet.toml: charge_points[0].serial: the pattern "SN-{n:q}" is not a valid str.format pattern: '
        "Unknown format code 'q' for object of type 'int'",
        id="bad format spec in serial",
    ),
    pytest.param(
        group("count = -3"),
        "fleet.toml: charge_points[0].count: must be a positive integer, got -3",
        id="negative count",
    ),
    pytest.param(
        f'{URL}[[charge_points]]\nid = "A"\n[[charge_points]]\nid = "B{{n}}"\ncount = "3"\n',
        'fleet.toml: charge_points[1].count: must be a positive integer, got "3"',
        id="count as string",
    ),
    pytest.param(
        group("count = true"),
        "fleet.toml: charge_points[0].count: must be a positive integer, got true",
        id="count as boolean",
    ),
    pytest.param(
        group("connectors = 0"),
        "fleet.toml: charge_points[0].connectors: must be an integer from 1 to 32, got 0",
        id="no connector",
    ),
    pytest.param(
        group("connectors = 33"),
        "fleet.toml: charge_points[0].connectors: must be an integer from 1 to 32, got 33",
        id="too many connectors",
    ),
    pytest.param(
        group(f'vendor = "{"V" * 21}"'),
        "fleet.toml: charge_points[0].vendor: must be a string of 1 to 20 characters (CiString20), "
        f'got "{"V" * 21}"',
        id="vendor too long",
    ),
    pytest.param(
        group('model = ""'),
        'fleet.toml: charge_points[0].model: must be a string of 1 to 20 characters (CiString20), got ""',
        id="empty model",
    ),
    pytest.param(
        group("firmware = 1.0"),
        "fleet.toml: charge_points[0].firmware: must be a string of 1 to 50 characters (CiString50), got 1.0",
        id="firmware as float",
    ),
    pytest.param(
        group('serial = "{n:026}"'),
        'fleet.toml: charge_points[0].serial: "00000000000000000000000001" (n=1) has 26 characters; '
        "a serial number has 1 to 25 (CiString25)",
        id="serial too long",
    ),
    pytest.param(
        f'{URL}[[charge_points]]\nid = "{"X" * 46}{{n:03}}"\n',
        f'fleet.toml: charge_points[0].id: "{"X" * 46}001" (n=1) has 49 characters; '
        "a charge point identity has 1 to 48",
        id="identity too long",
    ),
    pytest.param(
        f'{URL}[[charge_points]]\nid = ""\n',
        'fleet.toml: charge_points[0].id: "" (n=1) has 0 characters; a charge point identity has 1 to 48',
        id="empty identity",
    ),
    pytest.param(
        f'{URL}[[charge_points]]\nid = "CP {{n}}"\n',
        'fleet.toml: charge_points[0].id: "CP 1" (n=1) contains " "; a charge point identity is printable '
        'ASCII without spaces or "/"',
        id="identity with space",
    ),
    pytest.param(
        f'{URL}[[charge_points]]\nid = "site/{{n}}"\n',
        'fleet.toml: charge_points[0].id: "site/1" (n=1) contains "/"; a charge point identity is printable '
        'ASCII without spaces or "/"',
        id="identity with slash",
    ),
    pytest.param(
        f'{URL}[[charge_points]]\nid = "CP-\\u00e9{{n}}"\n',
        'fleet.toml: charge_points[0].id: "CP-\\u00e91" (n=1) contains "\\u00e9"; a charge point identity is '
        'printable ASCII without spaces or "/"',
        id="identity not ASCII",
    ),
    pytest.param(
        f'{URL}[[charge_points]]\nid = "CP-1\\n"\n',
        'fleet.toml: charge_points[0].id: "CP-1\\n" (n=1) contains "\\n"; a charge point identity is '
        'printable ASCII without spaces or "/"',
        id="identity with newline stays on one line",
    ),
    pytest.param(
        group("id_ = 1"),
        f"fleet.toml: charge_points[0].id_: unknown key; known keys are {KNOWN_GROUP_KEYS}",
        id="typo of a key",
    ),
    pytest.param(
        group("configuration = 3"),
        "fleet.toml: charge_points[0].configuration: must be a table of OCPP configuration keys and values, "
        "got 3",
        id="configuration not a table",
    ),
    pytest.param(
        group("[charge_points.configuration]\nHeartbeatInterval = 1.5"),
        "fleet.toml: charge_points[0].configuration.HeartbeatInterval: must be an integer, a boolean, "
        "a string or a list of strings, got 1.5",
        id="float configuration value",
    ),
    pytest.param(
        group("[charge_points.configuration.Nested]\nx = 1"),
        "fleet.toml: charge_points[0].configuration.Nested: must be an integer, a boolean, a string "
        "or a list of strings, got a table",
        id="table configuration value",
    ),
    pytest.param(
        group('[charge_points.configuration]\nMeterValuesSampledData = ["Voltage", 3]'),
        "fleet.toml: charge_points[0].configuration.MeterValuesSampledData[1]: "
        'must be a string without ",", got 3',
        id="list item not a string",
    ),
    pytest.param(
        group('[charge_points.configuration]\nMeterValuesSampledData = ["Voltage,Current"]'),
        "fleet.toml: charge_points[0].configuration.MeterValuesSampledData[0]: "
        'must be a string without ",", got "Voltage,Current"',
        id="list item with comma",
    ),
    pytest.param(
        group(f'[charge_points.configuration]\nAuthorizationKey = "{"k" * 501}"'),
        "fleet.toml: charge_points[0].configuration.AuthorizationKey: has 501 characters as an OCPP string, "
        "at most 500 allowed (CiString500)",
        id="configuration value too long",
    ),
    pytest.param(
        group(f"[charge_points.configuration]\n{'K' * 51} = 1"),
        f"fleet.toml: charge_points[0].configuration.{'K' * 51}: "
        "a configuration key must have 1 to 50 characters (CiString50)",
        id="configuration key too long",
    ),
    pytest.param(
        group("[charge_points.configuration]\nHeartbeatInterval = 300\nheartbeatinterval = 60"),
        "fleet.toml: charge_points[0].configuration.heartbeatinterval: "
        "the same key as HeartbeatInterval; configuration keys ignore case",
        id="configuration key twice in different case",
    ),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_each_mistake_gives_one_exact_line(text: str, message: str) -> None:
    assert error_of(text) == message
    assert "\n" not in message


def test_charge_points_of_a_fleet_built_in_code_are_checked_too() -> None:
    fleet = FleetFile(
        csms_url=None, database=Path("x.db"), groups=(ChargePointGroup(id="CP-{n}"),), source="code"
    )
    with pytest.raises(FleetFileError) as caught:
        fleet.charge_points()
    assert str(caught.value) == (
        "code: csms_url: missing; required unless every [[charge_points]] group has its own "
        "(charge_points[0] has none)"
    )


def test_the_configuration_cannot_be_changed_afterwards() -> None:
    configuration = (
        parse(group("[charge_points.configuration]\nHeartbeatInterval = 300")).groups[0].configuration
    )
    with pytest.raises(TypeError):
        configuration["HeartbeatInterval"] = "1"  # type: ignore[index]


def test_sessions_and_max_power() -> None:
    fleet = parse(
        group(
            "max_power_w = 11000\n[charge_points.sessions]\n"
            'id_tags = ["TAG-1", "TAG-2"]\narrivals_per_hour = 2\nduration_minutes = [20, 90]\n'
        )
    )
    (spec,) = fleet.charge_points()
    assert spec.max_power_w == 11_000
    assert spec.sessions == SessionSettings(("TAG-1", "TAG-2"), 2.0, (20.0, 90.0))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            "id_tags = []\narrivals_per_hour = 2\nduration_minutes = [20, 90]",
            "id_tags: must be a non-empty list of idTags, got []",
        ),
        (
            'id_tags = ["T"]\narrivals_per_hour = 0\nduration_minutes = [20, 90]',
            "arrivals_per_hour: must be a number above 0, got 0",
        ),
        (
            'id_tags = ["T"]\narrivals_per_hour = 1\nduration_minutes = [90, 20]',
            "duration_minutes: must be [shortest, longest] in minutes, both above 0, got [90, 20]",
        ),
        ('id_tags = ["T"]\narrivals_per_hour = 1', "duration_minutes: missing"),
    ],
)
def test_session_mistakes(table: str, message: str) -> None:
    with pytest.raises(FleetFileError) as raised:
        parse(group(f"[charge_points.sessions]\n{table}\n"))
    assert str(raised.value) == f"fleet.toml: charge_points[0].sessions.{message}"
