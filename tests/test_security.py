"""Security profiles 1-3 of the OCPP 1.6 Security Extension against real loopback servers: HTTP Basic
authentication, TLS with a test CA made here (trustme), client certificates; raising SecurityProfile (and
falling back when the new profile does not connect), refusing to lower it; the AuthorizationKey kept secret.

These tests use real sockets, so they run on the real clock; every wait is for a condition, under a deadline.
"""

import base64
import io
import logging
import random
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trio
import trustme
from trio_websocket import WebSocketRequest, serve_websocket

from actors.backoff import Backoff
from actors.charge_point import ChargePoint, ChargePointSettings
from actors.connection import CsmsAddress, tcp_dialer
from actors.ocpp import (
    ChangeConfigurationRequest,
    ChangeConfigurationResponse,
    ConfigurationStatus,
    GetConfigurationRequest,
    GetConfigurationResponse,
    KeyValue,
)
from actors.security import TlsFiles, basic_authentication, profile_change, url_for_profile
from fleet.commands import _RecordPrinter
from fleet.csms import CentralSystem, Record
from fleet.fleetfile import FleetFileError, parse_fleet_file
from fleet.simulated import SimulatedConnector
from storage.memory import MemoryChargePointState

KEY = "0123456789abcdef0123"
DEADLINE = 20.0
A, R = ConfigurationStatus.ACCEPTED, ConfigurationStatus.REJECTED


# Pure parts


def test_basic_authentication_is_rfc_7617() -> None:
    # RFC 7617, section 2: user "Aladdin", password "open sesame".
    assert basic_authentication("Aladdin", "open sesame") == (
        b"Authorization",
        b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
    )


@pytest.mark.parametrize(
    ("url", "profile", "expected"),
    [
        ("ws://csms.example/ocpp", 0, "ws://csms.example/ocpp"),
        ("ws://csms.example/ocpp", 1, "ws://csms.example/ocpp"),
        ("ws://csms.example:9000/ocpp", 2, "wss://csms.example:9000/ocpp"),
        ("ws://csms.example/ocpp", 3, "wss://csms.example/ocpp"),
        ("wss://csms.example/ocpp", 0, "wss://csms.example/ocpp"),
    ],
)
def test_tls_from_profile_2_on(url: str, profile: int, expected: str) -> None:
    assert url_for_profile(url, profile) == expected


@pytest.mark.parametrize(
    ("current", "requested", "key", "certificate", "status"),
    [
        (0, 0, False, False, A),
        (0, 1, True, False, A),
        (0, 1, False, False, R),  # Basic authentication needs a password
        (1, 2, True, False, A),
        (1, 3, True, True, A),
        (2, 3, True, False, R),  # mutual TLS needs a client certificate
        (2, 1, True, True, R),  # never lower
        (3, 0, True, True, R),
        (1, 4, True, True, R),
    ],
)
def test_which_profile_changes_are_accepted(
    current: int, requested: int, key: bool, certificate: bool, status: ConfigurationStatus
) -> None:
    outcome = profile_change(
        current, requested, has_authorization_key=key, has_client_certificate=certificate
    )
    assert outcome is status


# Against real servers


@attrs.define
class Pki:
    """A test CA, a server certificate for localhost, and files of a client certificate."""

    ca: trustme.CA
    ca_file: Path
    server: ssl.SSLContext
    client_certificate: Path

    def tls(self) -> TlsFiles:
        return TlsFiles(ca_file=str(self.ca_file), client_certificate=str(self.client_certificate))


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    ca.configure_trust(server)
    server.verify_mode = ssl.CERT_OPTIONAL  # a client certificate, if presented, must be the CA's
    client_certificate = tmp_path / "CP-1.pem"
    ca.issue_cert("CP-1").private_key_and_cert_chain_pem.write_to_path(str(client_certificate))
    return Pki(ca, ca_file, server, client_certificate)


@attrs.define
class SecuredCsms:
    """The embedded Central System behind a plain and a TLS port that check Basic authentication."""

    central_system: CentralSystem
    password: str | None
    authorizations: list[bytes | None] = attrs.Factory(list)
    """The Authorization header of each upgrade request (``None``: none)."""
    refused: int = 0
    plain_port: int = 0
    tls_port: int = 0
    _arrived: trio.Event = attrs.Factory(trio.Event)

    async def handle(self, request: WebSocketRequest) -> None:
        header = dict(request.headers).get(b"authorization")
        self.authorizations.append(header)
        self._arrived.set()
        self._arrived = trio.Event()
        if self.password is not None and header != basic_authentication("CP-1", self.password)[1]:
            self.refused += 1
            await request.reject(401)
            return
        await self.central_system.handle_request(request)

    async def requests(self, count: int) -> None:
        """Wait until ``count`` upgrade requests have arrived."""
        with trio.fail_after(DEADLINE):
            while len(self.authorizations) < count:
                await self._arrived.wait()

    async def connected_again(self, requests: int) -> None:
        """Wait for the ``requests``-th upgrade request and for the charge point to be connected then."""
        await self.requests(requests)
        with trio.fail_after(DEADLINE):
            await self.central_system.wait_connected("CP-1")

    async def dial(self, address: CsmsAddress) -> trio.abc.Stream:
        """The charge point's dialer: ws:// and wss:// of localhost go to the two ports."""
        return await tcp_dialer(attrs.evolve(address, port=self.tls_port if address.tls else self.plain_port))


@pytest.fixture
async def csms(pki: Pki) -> AsyncIterator[SecuredCsms]:
    secured = SecuredCsms(CentralSystem(heartbeat_interval=3600), password=KEY)
    async with trio.open_nursery() as nursery:
        plain = await nursery.start(serve_websocket, secured.handle, "127.0.0.1", 0, None)
        tls = await nursery.start(serve_websocket, secured.handle, "127.0.0.1", 0, pki.server)
        secured.plain_port, secured.tls_port = plain.port, tls.port
        yield secured
        nursery.cancel_scope.cancel()


def charge_point(csms: SecuredCsms, tls: TlsFiles, **configuration: str) -> ChargePoint:
    settings = ChargePointSettings(
        "CP-1",
        "ws://localhost/ocpp",
        configuration=configuration,
        tls=tls,
        backoff=Backoff(initial=0.05, maximum=0.2),
        connect_timeout=2.0,  # a server that aborts TLS 1.3 after the handshake leaves the upgrade unanswered
    )
    return ChargePoint(
        settings,
        MemoryChargePointState(),
        dialer=csms.dial,
        rng=random.Random(1),
        hardware=[SimulatedConnector()],
    )


def boots(csms: SecuredCsms) -> int:
    return sum(
        1
        for record in csms.central_system.records
        if record.action == "BootNotification" and record.kind == "CALLRESULT"
    )


async def test_profile_1_sends_basic_authentication_and_is_accepted(csms: SecuredCsms, pki: Pki) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(charge_point(csms, pki.tls(), SecurityProfile="1", AuthorizationKey=KEY).run)
        await csms.central_system.wait_connected("CP-1")
        expected = b"Basic " + base64.b64encode(f"CP-1:{KEY}".encode())
        assert csms.authorizations == [expected]
        nursery.cancel_scope.cancel()


async def test_a_wrong_password_is_refused_and_nothing_is_sent(csms: SecuredCsms, pki: Pki) -> None:
    csms.password = "another password of 24 c"
    async with trio.open_nursery() as nursery:
        point = charge_point(csms, pki.tls(), SecurityProfile="1", AuthorizationKey=KEY)
        nursery.start_soon(point.run)
        await csms.requests(2)
        assert csms.refused == 2
        assert not point.connected
        assert list(csms.central_system.records) == []
        nursery.cancel_scope.cancel()


async def test_profile_2_uses_tls_verified_against_the_ca_file(csms: SecuredCsms, pki: Pki) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(charge_point(csms, pki.tls(), SecurityProfile="2", AuthorizationKey=KEY).run)
        await csms.central_system.wait_connected("CP-1")
        assert len(csms.authorizations) == 1
        nursery.cancel_scope.cancel()


async def test_profile_2_does_not_trust_a_server_outside_its_cas(csms: SecuredCsms, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    async with trio.open_nursery() as nursery:
        point = charge_point(csms, TlsFiles(ca_file=str(other_ca)), SecurityProfile="2", AuthorizationKey=KEY)
        nursery.start_soon(point.run)
        with trio.move_on_after(1.0):
            await csms.central_system.wait_connected("CP-1")
        assert csms.authorizations == [], "the TLS handshake fails before any HTTP is sent"
        nursery.cancel_scope.cancel()


async def test_profile_3_presents_its_client_certificate_without_a_password(
    csms: SecuredCsms, pki: Pki
) -> None:
    csms.password = None
    pki.server.verify_mode = ssl.CERT_REQUIRED
    async with trio.open_nursery() as nursery:
        nursery.start_soon(charge_point(csms, pki.tls(), SecurityProfile="3").run)
        await csms.central_system.wait_connected("CP-1")
        assert csms.authorizations == [None]
        nursery.cancel_scope.cancel()


async def test_raising_the_profile_reconnects_with_it_and_lowering_is_rejected(
    csms: SecuredCsms, pki: Pki
) -> None:
    """Profile 1 to 2 (ws:// to wss://), then a lower profile is Rejected."""
    async with trio.open_nursery() as nursery:
        point = charge_point(csms, pki.tls(), SecurityProfile="1", AuthorizationKey=KEY)
        nursery.start_soon(point.run)
        await csms.central_system.wait_connected("CP-1")
        answer = await csms.central_system.call(
            "CP-1", ChangeConfigurationRequest(key="SecurityProfile", value="2")
        )
        assert answer == ChangeConfigurationResponse(status=ConfigurationStatus.ACCEPTED)
        await csms.connected_again(2)
        assert point.configuration.value("SecurityProfile") == "2"
        assert boots(csms) == 1, "a reconnect, not a reboot"
        lower = await csms.central_system.call(
            "CP-1", ChangeConfigurationRequest(key="SecurityProfile", value="1")
        )
        assert lower == ChangeConfigurationResponse(status=ConfigurationStatus.REJECTED)
        nursery.cancel_scope.cancel()


async def test_a_raised_profile_that_cannot_connect_falls_back(
    csms: SecuredCsms, pki: Pki, tmp_path: Path
) -> None:
    """Profile 2 to 3 with a client certificate the server does not trust: back to 2, connected again."""
    stranger = tmp_path / "stranger.pem"
    trustme.CA().issue_cert("CP-1").private_key_and_cert_chain_pem.write_to_path(str(stranger))
    tls = TlsFiles(ca_file=str(pki.ca_file), client_certificate=str(stranger))
    async with trio.open_nursery() as nursery:
        point = charge_point(csms, tls, SecurityProfile="2", AuthorizationKey=KEY)
        nursery.start_soon(point.run)
        await csms.central_system.wait_connected("CP-1")
        answer = await csms.central_system.call(
            "CP-1", ChangeConfigurationRequest(key="SecurityProfile", value="3")
        )
        assert answer == ChangeConfigurationResponse(status=ConfigurationStatus.ACCEPTED)
        await csms.connected_again(2)  # the attempt with profile 3 fails in the TLS handshake, before HTTP
        assert point.configuration.value("SecurityProfile") == "2"
        assert csms.authorizations[1] == csms.authorizations[0], "back to Basic authentication over TLS"
        nursery.cancel_scope.cancel()


async def test_the_authorization_key_never_shows(
    csms: SecuredCsms, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    """Write-only: GetConfiguration lists it without a value; no log line holds it."""
    caplog.set_level(logging.DEBUG)
    records: list[Record] = []
    csms.central_system = CentralSystem(heartbeat_interval=3600, on_record=records.append)
    async with trio.open_nursery() as nursery:
        point = charge_point(csms, pki.tls(), SecurityProfile="1", AuthorizationKey=KEY)
        nursery.start_soon(point.run)
        await csms.central_system.wait_connected("CP-1")
        new_key = "fedcba9876543210fedcba98"
        changed = await csms.central_system.call(
            "CP-1", ChangeConfigurationRequest(key="AuthorizationKey", value=new_key)
        )
        assert changed == ChangeConfigurationResponse(status=ConfigurationStatus.ACCEPTED)
        short = await csms.central_system.call(
            "CP-1", ChangeConfigurationRequest(key="AuthorizationKey", value="short")
        )
        assert short == ChangeConfigurationResponse(status=ConfigurationStatus.REJECTED)
        listed = await csms.central_system.call("CP-1", GetConfigurationRequest(key=("AuthorizationKey",)))
        assert listed == GetConfigurationResponse(
            configuration_key=(KeyValue(key="AuthorizationKey", readonly=False, value=None),)
        )
        everything = await csms.central_system.call("CP-1", GetConfigurationRequest())
        assert new_key not in repr(everything)
        assert KEY not in repr(everything)
        nursery.cancel_scope.cancel()
    for secret in (KEY, "fedcba9876543210fedcba98"):
        assert secret not in caplog.text


# The fleet file


def fleet(tmp_path: Path, settings: str) -> str:
    text = f'csms_url = "ws://csms.example/ocpp"\n[[charge_points]]\nid = "CP-{{n}}"\ncount = 2\n{settings}\n'
    (tmp_path / "fleet.toml").write_text(text)
    return text


def test_fleet_file_security_settings_reach_each_charge_point(tmp_path: Path, pki: Pki) -> None:
    (tmp_path / "certs").mkdir()
    for n in (1, 2):
        pki.ca.issue_cert(f"CP-{n}").private_key_and_cert_chain_pem.write_to_path(
            str(tmp_path / f"certs/CP-{n}.pem")
        )
    settings = 'security_profile = 3\nca_file = "ca.pem"\nclient_certificate = "certs/{id}.pem"'
    (tmp_path / "ca.pem").write_bytes(pki.ca_file.read_bytes())
    specs = parse_fleet_file(fleet(tmp_path, settings), "fleet.toml", tmp_path).charge_points()
    assert [spec.tls for spec in specs] == [
        TlsFiles(str(tmp_path / "ca.pem"), str(tmp_path / f"certs/CP-{n}.pem"), None) for n in (1, 2)
    ]
    assert [spec.configuration["SecurityProfile"] for spec in specs] == ["3", "3"]
    settings = f'security_profile = 1\nauthorization_key = "{KEY}-{{n}}"'
    specs = parse_fleet_file(fleet(tmp_path, settings), "fleet.toml", tmp_path).charge_points()
    assert [spec.configuration["AuthorizationKey"] for spec in specs] == [f"{KEY}-1", f"{KEY}-2"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            "security_profile = 1",
            "charge_points[0].security_profile: profile 1 needs an authorization_key "
            "(the Basic authentication password)",
        ),
        (
            "security_profile = 3",
            "charge_points[0].security_profile: profile 3 needs a client_certificate "
            "(and client_key unless in the same file)",
        ),
        (
            "security_profile = 4",
            "charge_points[0].security_profile: must be a security profile from 0 to 3, got 4",
        ),
        (
            'security_profile = 1\nauthorization_key = "short"',
            "charge_points[0].authorization_key: has 5 characters for CP-1; an AuthorizationKey has 16 to 40",
        ),
        (
            'security_profile = 3\nclient_certificate = "certs/{id}.pem"',
            "charge_points[0].client_certificate: cannot read {dir}/certs/CP-1.pem for CP-1: "
            "No such file or directory",
        ),
        (
            'ca_file = "{serial}.pem"',
            'charge_points[0].ca_file: "{serial}.pem" may use no other names than n and id, '
            'as in "certs/{id}.pem"',
        ),
    ],
)
def test_fleet_file_security_mistakes_are_one_line(tmp_path: Path, settings: str, message: str) -> None:
    with pytest.raises(FleetFileError) as caught:
        parse_fleet_file(fleet(tmp_path, settings), "fleet.toml", tmp_path).charge_points()
    assert str(caught.value) == "fleet.toml: " + message.replace("{dir}", str(tmp_path))


async def test_the_central_systems_printout_hides_an_authorization_key() -> None:
    out = io.StringIO()
    payload = {"key": "AuthorizationKey", "value": KEY}
    record = Record(
        time=1.0,
        charge_point_id="CP-1",
        direction="out",
        kind="CALL",
        action="ChangeConfiguration",
        unique_id="1",
        payload=payload,
    )
    _RecordPrinter(out, verbose=True)(record)
    assert KEY not in out.getvalue()
    assert '"value":"(hidden)"' in out.getvalue()
