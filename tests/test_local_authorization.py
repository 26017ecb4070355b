"""The Local Authorization List and the Authorization Cache (spec 3.5, 4.1, 5.4, 5.10, 5.15, 9.2): the pure
decisions, then whole charge points against a scripted Central System in virtual time, in the manner of the
official compliance test cases (TC_007, TC_008, TC_042, TC_043, TC_061)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
import trio.testing
from scripted_csms import ScriptedCsms
from test_connector import CSMS_TIME, Csms, Site, bring_up

from actors.charge_point import SUPPORTED_MEASURANDS, configuration_keys
from actors.clock import WallClock
from actors.configuration import Configuration
from actors.local_authorization import (
    LocalAuthorization,
    conflicts_with_local_list,
    reported_list_version,
    send_local_list_status,
)
from actors.ocpp import (
    AuthorizationData,
    AuthorizationStatus,
    AuthorizeRequest,
    AuthorizeResponse,
    ChangeConfigurationRequest,
    ChangeConfigurationResponse,
    ChargePointErrorCode,
    ChargePointStatus,
    ClearCacheRequest,
    ClearCacheResponse,
    ClearCacheStatus,
    ConfigurationStatus,
    GetLocalListVersionRequest,
    GetLocalListVersionResponse,
    IdTagInfo,
    SendLocalListRequest,
    SendLocalListResponse,
    StartTransactionRequest,
    StatusNotificationRequest,
    UpdateStatus,
    UpdateType,
)
from storage import ChargePointState, open_database
from storage.memory import MemoryChargePointState

S = ChargePointStatus
FULL, DIFFERENTIAL = UpdateType.FULL, UpdateType.DIFFERENTIAL
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACCEPTED = IdTagInfo(status=AuthorizationStatus.ACCEPTED)
BLOCKED = IdTagInfo(status=AuthorizationStatus.BLOCKED)
INVALID = IdTagInfo(status=AuthorizationStatus.INVALID)
EXPIRED = IdTagInfo(status=AuthorizationStatus.EXPIRED)
CONCURRENT = IdTagInfo(status=AuthorizationStatus.CONCURRENT_TX)


def request(
    update_type: UpdateType, version: int, entries: dict[str, IdTagInfo | None]
) -> SendLocalListRequest:
    """A SendLocalList; no entries means the list is omitted."""
    listed = tuple(AuthorizationData(id_tag=tag, id_tag_info=info) for tag, info in entries.items())
    return SendLocalListRequest(
        list_version=version, update_type=update_type, local_authorization_list=listed or None
    )


# --- GetLocalListVersion (5.10) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enabled", "version", "size", "reported"),
    [
        (False, 7, 3, -1),  # 5.10: -1 "the Charge Point does not support Local Authorization Lists"; TC_042_1
        (True, 0, 0, 0),  # 5.10: 0 "the local authorization list is empty"
        (True, 1, 0, 0),  # TC_042_2: a Full update with version 1 and no list, then listVersion 0
        (True, 7, 3, 7),
    ],
)
def test_reported_list_version(enabled: bool, version: int, size: int, reported: int) -> None:
    assert reported_list_version(enabled=enabled, version=version, size=size) == reported


# --- SendLocalList (5.15) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "enabled", "current", "listed", "status"),
    [
        # 7.47 NotSupported: "Update of Local Authorization List is not supported by Charge Point."
        (request(FULL, 3, {"A": ACCEPTED}), False, 0, (), UpdateStatus.NOT_SUPPORTED),
        # Full replaces the list: any version (7.47 VersionMismatch is for differential updates).
        (request(FULL, 3, {"A": ACCEPTED}), True, 0, (), UpdateStatus.ACCEPTED),
        (request(FULL, 3, {"A": ACCEPTED}), True, 5, (), UpdateStatus.ACCEPTED),
        (request(FULL, 5, {"A": ACCEPTED}), True, 5, (), UpdateStatus.ACCEPTED),
        (request(FULL, 1, {}), True, 0, (), UpdateStatus.ACCEPTED),  # 6.41: empties the list; TC_042_2
        (request(FULL, 0, {}), True, 4, (), UpdateStatus.ACCEPTED),
        # A non-empty list with version 0 would be reported as empty (5.10).
        (request(FULL, 0, {"A": ACCEPTED}), True, 0, (), UpdateStatus.FAILED),
        # 7.47 VersionMismatch: "Version number in the request for a differential update is less or equal
        # then version number of current list."
        (request(DIFFERENTIAL, 5, {"A": ACCEPTED}), True, 5, (), UpdateStatus.VERSION_MISMATCH),
        (request(DIFFERENTIAL, 4, {"A": ACCEPTED}), True, 5, (), UpdateStatus.VERSION_MISMATCH),
        (request(DIFFERENTIAL, 6, {"A": ACCEPTED}), True, 5, (), UpdateStatus.ACCEPTED),
        (request(DIFFERENTIAL, 1, {"A": ACCEPTED}), True, 0, (), UpdateStatus.ACCEPTED),
        (request(DIFFERENTIAL, 6, {}), True, 5, (), UpdateStatus.ACCEPTED),  # 6.41: "no effect on the list"
        (request(DIFFERENTIAL, 6, {"A": None}), True, 5, ("a",), UpdateStatus.ACCEPTED),  # 7.1: deletes
        # 7.1: idTagInfo "Required when UpdateType is Full".
        (request(FULL, 2, {"A": ACCEPTED, "B": None}), True, 0, (), UpdateStatus.FAILED),
        # 6.41: "All idTags in the localAuthorizationList MUST be unique" (IdTokens ignore case, 7.28).
        (
            SendLocalListRequest(
                list_version=2,
                update_type=FULL,
                local_authorization_list=(
                    AuthorizationData(id_tag="A", id_tag_info=ACCEPTED),
                    AuthorizationData(id_tag="a", id_tag_info=BLOCKED),
                ),
            ),
            True,
            0,
            (),
            UpdateStatus.FAILED,
        ),
    ],
)
def test_send_local_list_status(
    sent: SendLocalListRequest, enabled: bool, current: int, listed: tuple[str, ...], status: UpdateStatus
) -> None:
    size = 3 if current else 0
    answer = send_local_list_status(
        sent,
        enabled=enabled,
        current_version=current,
        current_size=size,
        listed=listed,
        send_max=10,
        list_max=10,
    )
    assert answer is status


@pytest.mark.parametrize(
    ("sent", "current_size", "listed", "status"),
    [
        # 9.2.3 SendLocalListMaxLength = 2: "Maximum number of identifications that can be send in a single
        # SendLocalList.req".
        (request(FULL, 1, {"A": ACCEPTED, "B": ACCEPTED}), 0, (), UpdateStatus.ACCEPTED),
        (request(FULL, 1, {"A": ACCEPTED, "B": ACCEPTED, "C": ACCEPTED}), 0, (), UpdateStatus.FAILED),
        (
            request(DIFFERENTIAL, 2, {"A": None, "B": None, "C": None}),
            3,
            ("a", "b", "c"),
            UpdateStatus.FAILED,
        ),
        # 9.2.2 LocalAuthListMaxLength = 3: "Maximum number of identifications that can be stored".
        (request(DIFFERENTIAL, 2, {"D": ACCEPTED}), 3, (), UpdateStatus.FAILED),
        (request(DIFFERENTIAL, 2, {"C": BLOCKED}), 3, ("c",), UpdateStatus.ACCEPTED),  # replaces an entry
        (request(DIFFERENTIAL, 2, {"C": None, "D": ACCEPTED}), 3, ("c",), UpdateStatus.ACCEPTED),
        (request(DIFFERENTIAL, 2, {"X": None, "D": ACCEPTED}), 3, (), UpdateStatus.FAILED),  # X is not listed
        (request(DIFFERENTIAL, 2, {"D": ACCEPTED}), 2, (), UpdateStatus.ACCEPTED),
    ],
)
def test_send_local_list_limits(
    sent: SendLocalListRequest, current_size: int, listed: tuple[str, ...], status: UpdateStatus
) -> None:
    answer = send_local_list_status(
        sent,
        enabled=True,
        current_version=1,
        current_size=current_size,
        listed=listed,
        send_max=2,
        list_max=3,
    )
    assert answer is status


# --- LocalListConflict (3.5.2, 7.6) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listed", "received", "conflict"),
    [
        (ACCEPTED, ACCEPTED, False),
        (ACCEPTED, BLOCKED, True),
        (BLOCKED, ACCEPTED, True),
        (BLOCKED, INVALID, True),
        (EXPIRED, EXPIRED, False),
        # 3.5.2: Accepted and ConcurrentTx are both "valid"; ConcurrentTx speaks of a running transaction.
        (ACCEPTED, CONCURRENT, False),
        # The expiryDate rule applies to both (3.5.4): a listed entry past its date is Expired.
        (IdTagInfo(status=AuthorizationStatus.ACCEPTED, expiry_date=NOW), EXPIRED, False),
        (IdTagInfo(status=AuthorizationStatus.ACCEPTED, expiry_date=NOW), ACCEPTED, True),
        # Another expiryDate alone is no conflict.
        (
            ACCEPTED,
            IdTagInfo(status=AuthorizationStatus.ACCEPTED, expiry_date=NOW + timedelta(days=1)),
            False,
        ),
        # parentIdTag: a different group conflicts; one left out does not; CiStrings ignore case (7.28).
        (
            IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag="FLEET-1"),
            IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag="FLEET-2"),
            True,
        ),
        (
            IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag="FLEET-1"),
            IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag="fleet-1"),
            False,
        ),
        (IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag="FLEET-1"), ACCEPTED, False),
    ],
)
def test_conflicts_with_local_list(listed: IdTagInfo, received: IdTagInfo, conflict: bool) -> None:
    assert conflicts_with_local_list(listed, received, now=NOW) is conflict


# --- on the charge point's state ---------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
async def state(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ChargePointState]:
    if request.param == "memory":
        yield MemoryChargePointState()
        return
    database = await open_database(tmp_path / "state.db", synchronous="NORMAL")
    yield database.charge_point("CP-1")
    await database.aclose()


async def test_what_the_list_and_the_cache_keep_comes_back_the_same(state: ChargePointState) -> None:
    configuration = Configuration(configuration_keys(1, SUPPORTED_MEASURANDS))
    local = LocalAuthorization(state, configuration, WallClock(NOW))
    grouped = IdTagInfo(
        status=AuthorizationStatus.ACCEPTED, expiry_date=NOW + timedelta(days=1), parent_id_tag="FLEET-1"
    )
    assert await local.send_local_list(request(FULL, 4, {"LIST-1": grouped})) is UpdateStatus.ACCEPTED
    assert await local.list_version() == 4
    assert await local.lookup("list-1") == (grouped, None)
    assert await local.remember("CARD-1", grouped) is False
    assert await local.lookup("CARD-1") == (None, grouped)
    assert await local.remember("LIST-1", BLOCKED) is True, "a conflict, and not cached (3.5.3)"
    assert await state.cache_size() == 1
    assert await local.remember(None, ACCEPTED) is False, "a StopTransaction.req without idTag"
    configuration.set("LocalAuthListEnabled", "false")
    assert await local.lookup("LIST-1") == (None, None)
    assert await local.list_version() == -1
    assert await local.clear_cache() is ClearCacheStatus.ACCEPTED
    assert await local.lookup("CARD-1") == (None, None)


# --- whole charge points ----------------------------------------------------------------------------------


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedCsms]:
    async with trio.open_nursery() as nursery:
        yield ScriptedCsms(nursery)
        nursery.cancel_scope.cancel()


async def send_list(
    csms: Csms, update_type: UpdateType, version: int, entries: dict[str, IdTagInfo | None]
) -> UpdateStatus:
    answer = await csms.call(request(update_type, version, entries))
    assert isinstance(answer, SendLocalListResponse)
    return answer.status


async def list_version(csms: Csms) -> int:
    answer = await csms.call(GetLocalListVersionRequest())
    assert isinstance(answer, GetLocalListVersionResponse)
    return answer.list_version


async def authorize_and_let_lapse(site: Site, id_tag: str, answer: IdTagInfo = ACCEPTED) -> None:
    """The idTag is presented at connector 1 without a cable: Authorize.req with ``answer``; no cable comes
    within ConnectionTimeout (30 s in these tests), so the connector is Available again."""
    site.plugs[0].present_id_tag(id_tag)
    authorize = await site.csms.expect(AuthorizeRequest, AuthorizeResponse(id_tag_info=answer))
    assert authorize.request == AuthorizeRequest(id_tag=id_tag)
    await trio.sleep(31)
    assert site.charge_point.connectors[1].status is S.AVAILABLE


async def go_offline(site: Site, scripted: ScriptedCsms) -> None:
    """The Central System goes away and stays away."""
    scripted.refusing = True
    await site.csms.connection.close()
    await trio.sleep(1)


async def test_tc_007_a_cached_id_starts_without_authorize(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, LocalPreAuthorize="true", ConnectionTimeout="30")
        await authorize_and_let_lapse(site, "TAG-1")  # Memory State: IdTagCached (3.5.1, 4.1)
        plug, csms = site.plugs[0], site.csms
        plug.present_id_tag("tag-1")  # IdTokens ignore case (7.28)
        await trio.sleep(1)
        plug.plug_in()
        start = await csms.expect(StartTransactionRequest)  # not an Authorize.req: LocalPreAuthorize (3.5)
        assert (start.request.connector_id, start.request.id_tag) == (1, "tag-1")
        await trio.sleep(1)
        assert csms.statuses_of(1) == [S.PREPARING, S.AVAILABLE, S.PREPARING, S.CHARGING]
        nursery.cancel_scope.cancel()


async def test_tc_061_after_clear_cache_the_id_needs_authorize_again(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, LocalPreAuthorize="true", ConnectionTimeout="30")
        csms = site.csms
        await authorize_and_let_lapse(site, "TAG-1")
        assert csms.statuses_of(1) == [S.PREPARING, S.AVAILABLE]
        assert await csms.call(ClearCacheRequest()) == ClearCacheResponse(status=ClearCacheStatus.ACCEPTED)
        site.plugs[0].present_id_tag("TAG-1")
        authorize = await csms.expect(AuthorizeRequest)
        assert authorize.request == AuthorizeRequest(id_tag="TAG-1")
        nursery.cancel_scope.cancel()


async def test_clear_cache_is_accepted_while_the_cache_is_disabled(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, AuthorizationCacheEnabled="false")
        answer = await site.csms.call(ClearCacheRequest())
        assert answer == ClearCacheResponse(status=ClearCacheStatus.ACCEPTED)
        nursery.cancel_scope.cancel()


async def test_tc_008_an_id_in_the_local_list_starts_without_authorize(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, LocalPreAuthorize="true", AuthorizationCacheEnabled="false")
        plug, csms = site.plugs[0], site.csms
        assert await list_version(csms) == 0
        assert await send_list(csms, FULL, 1, {"LIST-1": ACCEPTED}) is UpdateStatus.ACCEPTED
        plug.present_id_tag("LIST-1")
        await trio.sleep(1)
        plug.plug_in()
        start = await csms.expect(StartTransactionRequest)
        assert start.request.id_tag == "LIST-1"
        await trio.sleep(1)
        assert csms.statuses_of(1) == [S.PREPARING, S.CHARGING]
        nursery.cancel_scope.cancel()


async def test_tc_042_1_get_local_list_version_while_the_list_is_disabled(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, LocalAuthListEnabled="false")
        assert await list_version(site.csms) == -1
        nursery.cancel_scope.cancel()


async def test_tc_042_2_get_local_list_version_of_an_empty_list(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        assert await send_list(site.csms, FULL, 1, {}) is UpdateStatus.ACCEPTED
        assert await list_version(site.csms) == 0
        nursery.cancel_scope.cancel()


async def test_tc_043_full_then_differential_and_the_listed_id_is_authorized_locally(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, LocalPreAuthorize="true")
        csms = site.csms
        assert (
            await send_list(csms, FULL, 1, {"LIST-1": ACCEPTED, "LIST-2": BLOCKED}) is UpdateStatus.ACCEPTED
        )
        assert await send_list(csms, DIFFERENTIAL, 2, {"LIST-3": ACCEPTED}) is UpdateStatus.ACCEPTED
        assert await list_version(csms) == 2
        site.plugs[1].plug_in()
        site.plugs[1].present_id_tag("LIST-3")
        start = await csms.expect(StartTransactionRequest)
        assert (start.request.connector_id, start.request.id_tag) == (2, "LIST-3")
        nursery.cancel_scope.cancel()


async def test_tc_043_1_send_local_list_while_the_list_is_disabled_is_not_supported(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, LocalAuthListEnabled="false")
        csms = site.csms
        assert await send_list(csms, FULL, 1, {"LIST-1": ACCEPTED}) is UpdateStatus.NOT_SUPPORTED
        enable = await csms.call(ChangeConfigurationRequest(key="LocalAuthListEnabled", value="true"))
        assert enable == ChangeConfigurationResponse(status=ConfigurationStatus.ACCEPTED)
        assert await list_version(csms) == 0, "the refused list was not installed"
        nursery.cancel_scope.cancel()


async def test_tc_043_2_a_differential_update_needs_a_higher_version(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms = site.csms
        assert await send_list(csms, FULL, 2, {"LIST-1": ACCEPTED}) is UpdateStatus.ACCEPTED
        assert await list_version(csms) == 2
        assert await send_list(csms, DIFFERENTIAL, 5, {"LIST-2": ACCEPTED}) is UpdateStatus.ACCEPTED
        assert await list_version(csms) == 5
        for version in (5, 4):
            status = await send_list(csms, DIFFERENTIAL, version, {"LIST-3": ACCEPTED})
            assert status is UpdateStatus.VERSION_MISMATCH
        assert await list_version(csms) == 5
        assert await send_list(csms, FULL, 3, {"LIST-1": ACCEPTED}) is UpdateStatus.ACCEPTED
        assert await list_version(csms) == 3, "a Full update replaces the list, whatever its version"
        nursery.cancel_scope.cancel()


async def test_tc_043_3_an_update_beyond_the_limits_fails_and_changes_nothing(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(
            nursery,
            scripted,
            LocalAuthListMaxLength="3",
            SendLocalListMaxLength="2",
            LocalPreAuthorize="true",
        )
        csms = site.csms
        too_many = {"A": ACCEPTED, "B": ACCEPTED, "C": ACCEPTED}
        assert await send_list(csms, FULL, 2, too_many) is UpdateStatus.FAILED
        assert await list_version(csms) == 0
        assert await send_list(csms, FULL, 2, {"A": ACCEPTED, "B": ACCEPTED}) is UpdateStatus.ACCEPTED
        assert await send_list(csms, DIFFERENTIAL, 3, {"C": ACCEPTED}) is UpdateStatus.ACCEPTED
        status = await send_list(csms, DIFFERENTIAL, 4, {"A": None, "D": ACCEPTED})
        assert status is UpdateStatus.ACCEPTED
        assert await send_list(csms, DIFFERENTIAL, 5, {"E": ACCEPTED}) is UpdateStatus.FAILED  # 4 > 3
        assert await list_version(csms) == 4
        site.plugs[0].plug_in()
        site.plugs[0].present_id_tag("E")  # not installed: asked for
        await csms.expect(AuthorizeRequest)
        nursery.cancel_scope.cancel()


async def test_local_list_entries_never_enter_the_cache(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, ConnectionTimeout="30")  # LocalPreAuthorize false
        csms = site.csms
        assert await send_list(csms, FULL, 1, {"LIST-1": ACCEPTED}) is UpdateStatus.ACCEPTED
        await authorize_and_let_lapse(site, "LIST-1")  # answered, but not cached (3.5.3)
        assert await send_list(csms, DIFFERENTIAL, 2, {"LIST-1": None}) is UpdateStatus.ACCEPTED
        answer = await csms.call(ChangeConfigurationRequest(key="LocalPreAuthorize", value="true"))
        assert answer == ChangeConfigurationResponse(status=ConfigurationStatus.ACCEPTED)
        site.plugs[0].present_id_tag("LIST-1")
        await csms.expect(AuthorizeRequest)
        nursery.cancel_scope.cancel()


async def test_the_list_beats_the_cache(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, LocalPreAuthorize="true", ConnectionTimeout="30")
        csms = site.csms
        await authorize_and_let_lapse(site, "TAG-1")  # cached Accepted
        assert await send_list(csms, FULL, 1, {"TAG-1": BLOCKED}) is UpdateStatus.ACCEPTED
        site.plugs[0].plug_in()
        site.plugs[0].present_id_tag("TAG-1")
        # Listed Blocked, not valid: online, the Central System is asked (3.5.1) instead of starting from the
        # cache's Accepted entry.
        await csms.expect(AuthorizeRequest, AuthorizeResponse(id_tag_info=BLOCKED))
        await trio.sleep(5)
        assert site.charge_point.connectors[1].transaction is None
        assert [request.connector_id for request in csms.status_requests] == [1, 1, 1], "no conflict"
        nursery.cancel_scope.cancel()


async def test_a_not_valid_cached_id_is_authorized_online_again(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, LocalPreAuthorize="true", ConnectionTimeout="30")
        await authorize_and_let_lapse(site, "TAG-1", BLOCKED)  # cached Blocked
        site.plugs[0].plug_in()
        site.plugs[0].present_id_tag("TAG-1")
        # 3.5.1: "When an identifier is presented that is stored in the cache as NOT-valid, and the Charge
        # Point is online: an Authorize.req SHOULD be sent".
        await site.csms.expect(AuthorizeRequest)
        start = await site.csms.expect(StartTransactionRequest)
        assert start.request.id_tag == "TAG-1"
        nursery.cancel_scope.cancel()


async def test_an_expired_cached_id_is_asked_for_online_and_refused_offline(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(
            nursery,
            scripted,
            LocalPreAuthorize="true",
            ConnectionTimeout="30",
            AllowOfflineTxForUnknownId="true",
        )
        until = CSMS_TIME + timedelta(minutes=10)
        await authorize_and_let_lapse(
            site, "TAG-1", IdTagInfo(status=AuthorizationStatus.ACCEPTED, expiry_date=until)
        )
        await trio.sleep(600)
        site.plugs[1].present_id_tag("TAG-1")  # 3.5.1: expired, so NOT-valid: asked for
        await site.csms.expect(AuthorizeRequest, AuthorizeResponse(id_tag_info=EXPIRED))
        await go_offline(site, scripted)
        site.plugs[0].plug_in()
        site.plugs[0].present_id_tag("TAG-1")
        await trio.sleep(5)
        # 3.5.4: "Identifiers that were valid but are apparently expired due to passage of time MUST also be
        # rejected", even where unknown ones would be allowed (AllowOfflineTxForUnknownId).
        assert site.charge_point.connectors[1].transaction is None
        site.plugs[0].present_id_tag("UNKNOWN")
        await trio.sleep(1)
        transaction = site.charge_point.connectors[1].transaction
        assert transaction is not None
        assert transaction.id_tag == "UNKNOWN"
        nursery.cancel_scope.cancel()


async def test_offline_a_listed_valid_id_starts_with_local_authorize_offline(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, LocalAuthorizeOffline="true")
        csms = site.csms
        assert await send_list(csms, FULL, 1, {"LIST-1": ACCEPTED}) is UpdateStatus.ACCEPTED
        await go_offline(site, scripted)
        site.plugs[1].plug_in()
        site.plugs[1].present_id_tag("UNKNOWN")  # AllowOfflineTxForUnknownId false: refused
        await trio.sleep(1)
        assert site.charge_point.connectors[2].transaction is None
        site.plugs[0].plug_in()
        site.plugs[0].present_id_tag("LIST-1")
        await trio.sleep(1)
        assert site.charge_point.connectors[1].transaction is not None
        scripted.refusing = False
        again = Csms(await scripted.accept(), nursery)
        start = await again.expect(StartTransactionRequest)
        assert (start.request.connector_id, start.request.id_tag) == (1, "LIST-1")
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "info",
    [BLOCKED, IdTagInfo(status=AuthorizationStatus.ACCEPTED, expiry_date=CSMS_TIME - timedelta(seconds=1))],
    ids=["blocked", "expired"],
)
async def test_offline_a_listed_id_that_is_not_valid_never_starts_even_if_unknown_ones_may(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms, info: IdTagInfo
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(
            nursery, scripted, LocalAuthorizeOffline="true", AllowOfflineTxForUnknownId="true"
        )
        assert await send_list(site.csms, FULL, 1, {"LIST-1": info}) is UpdateStatus.ACCEPTED
        await go_offline(site, scripted)
        site.plugs[0].plug_in()
        site.plugs[0].present_id_tag("LIST-1")
        await trio.sleep(5)
        # 3.5.4: listed identifiers "that have a status other than Accepted (Invalid, Blocked, Expired) MUST
        # be rejected. Identifiers that were valid but are apparently expired due to passage of time MUST also
        # be rejected."
        assert site.charge_point.connectors[1].transaction is None
        nursery.cancel_scope.cancel()


async def test_an_unanswered_authorize_is_decided_again_offline(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, LocalAuthorizeOffline="true")  # answer timeout: 30 s
        csms = site.csms
        assert await send_list(csms, FULL, 1, {"LIST-1": ACCEPTED}) is UpdateStatus.ACCEPTED
        site.plugs[0].plug_in()
        site.plugs[0].present_id_tag("LIST-1")  # LocalPreAuthorize false: asked for
        authorize = await csms.take(AuthorizeRequest)  # and never answered
        start = await csms.expect(StartTransactionRequest)
        assert start.time == pytest.approx(authorize.time + 30, abs=0.1), (
            "listed valid, LocalAuthorizeOffline"
        )
        site.plugs[1].plug_in()
        site.plugs[1].present_id_tag("UNKNOWN")
        unanswered = await csms.take(AuthorizeRequest)
        await trio.sleep(40)
        assert unanswered.request.id_tag == "UNKNOWN"
        assert site.charge_point.connectors[2].transaction is None, (
            "unknown, AllowOfflineTxForUnknownId false"
        )
        nursery.cancel_scope.cancel()


async def test_an_answer_that_contradicts_the_local_list_is_reported_as_a_local_list_conflict(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)  # LocalPreAuthorize false: listed ids are asked for too
        csms = site.csms
        assert await send_list(csms, FULL, 1, {"LIST-1": ACCEPTED}) is UpdateStatus.ACCEPTED
        site.plugs[0].plug_in()
        site.plugs[0].present_id_tag("LIST-1")
        await csms.expect(AuthorizeRequest, AuthorizeResponse(id_tag_info=BLOCKED))
        await trio.sleep(1)
        # 3.5.2: "the Charge Point SHALL inform the Central System by sending a StatusNotification with
        # ConnectorId set to 0, and ErrorCode set to 'LocalListConflict'."
        (conflict,) = [request for request in csms.status_requests if request.connector_id == 0]
        assert conflict == StatusNotificationRequest(
            connector_id=0,
            error_code=ChargePointErrorCode.LOCAL_LIST_CONFLICT,
            status=S.AVAILABLE,
            timestamp=conflict.timestamp,
        )
        assert site.charge_point.connectors[1].transaction is None, "the Central System's answer counts"
        assert await list_version(csms) == 1, "only SendLocalList changes the list (3.5.2)"
        nursery.cancel_scope.cancel()
