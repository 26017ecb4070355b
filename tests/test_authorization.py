"""Authorization decisions (specification 3.5, 3.10, 4.1, 4.8, 4.10), without any I/O."""

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.authorization import (
    AuthorizationSettings,
    StartAction,
    StartDecision,
    StopAction,
    StopDecision,
    apply_expiry,
    decide_start,
    decide_start_after_authorize,
    decide_stop,
    decide_stop_after_authorize,
    local_entry,
    same_id_tag,
    should_cache,
)
from actors.configuration import Configuration, core_keys
from actors.ocpp import AuthorizationStatus, IdTagInfo

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)

ACCEPTED = IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag="FAMILY")
ACCEPTED_UNTIL_LATER = IdTagInfo(status=AuthorizationStatus.ACCEPTED, expiry_date=NOW + TICK)
ACCEPTED_UNTIL_NOW = IdTagInfo(status=AuthorizationStatus.ACCEPTED, expiry_date=NOW)
EXPIRED_NOW = IdTagInfo(status=AuthorizationStatus.EXPIRED, expiry_date=NOW)
BLOCKED = IdTagInfo(status=AuthorizationStatus.BLOCKED)
INVALID = IdTagInfo(status=AuthorizationStatus.INVALID)
EXPIRED = IdTagInfo(status=AuthorizationStatus.EXPIRED)
CONCURRENT = IdTagInfo(status=AuthorizationStatus.CONCURRENT_TX)
UNKNOWN = IdTagInfo(status=AuthorizationStatus.INVALID)

_FLAG_NAMES = {
    "list": "local_auth_list_enabled",
    "cache": "authorization_cache_enabled",
    "offline": "local_authorize_offline",
    "pre": "local_pre_authorize",
    "unknown": "allow_offline_tx_for_unknown_id",
}
ALL = " ".join(_FLAG_NAMES)


def flags(enabled: str) -> AuthorizationSettings:
    """Settings with the named flags true ("list cache offline pre unknown"), the others false."""
    names = enabled.split()
    assert set(names) <= set(_FLAG_NAMES), names
    return AuthorizationSettings(**{field: short in names for short, field in _FLAG_NAMES.items()})


# --- expiryDate -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "now", "expected"),
    [
        # 7.27: "If expiryDate is not given, the status has no end date."
        (ACCEPTED, NOW, ACCEPTED),
        # Before its expiryDate an entry keeps its status.
        (ACCEPTED_UNTIL_LATER, NOW, ACCEPTED_UNTIL_LATER),
        # 7.27: expiryDate is "the date at which idTag should be removed": at that very instant it is expired.
        (ACCEPTED_UNTIL_NOW, NOW, EXPIRED_NOW),
        (ACCEPTED_UNTIL_NOW, NOW - TICK, ACCEPTED_UNTIL_NOW),
        # 3.5.1: "When the validity of a Cache entry expires, it SHALL be changed to expired in the Cache."
        (ACCEPTED_UNTIL_NOW, NOW + timedelta(days=1), EXPIRED_NOW),
        # 3.5.2: Accepted and ConcurrentTx are both "valid"; both expire.
        (attrs.evolve(CONCURRENT, expiry_date=NOW), NOW, EXPIRED_NOW),
        # Blocked and Invalid say more than Expired and are kept.
        (attrs.evolve(BLOCKED, expiry_date=NOW), NOW, attrs.evolve(BLOCKED, expiry_date=NOW)),
        (attrs.evolve(INVALID, expiry_date=NOW), NOW, attrs.evolve(INVALID, expiry_date=NOW)),
    ],
)
def test_apply_expiry(info: IdTagInfo, now: datetime, expected: IdTagInfo) -> None:
    assert apply_expiry(info, now) == expected


def test_expiry_keeps_the_parent_id_tag() -> None:
    info = attrs.evolve(ACCEPTED, expiry_date=NOW)
    assert apply_expiry(info, NOW) == IdTagInfo(AuthorizationStatus.EXPIRED, NOW, "FAMILY")


# --- idTag comparison and cache updates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        # 7.28: "IdToken is case insensitive."
        ("04A2B3C4", "04a2b3c4", True),
        ("Alice", "ALICE", True),
        ("ALICE", "ALICE", True),
        ("ALICE", "ALICE2", False),
        ("ALICE", " ALICE", False),
    ],
)
def test_same_id_tag(a: str, b: str, same: bool) -> None:
    assert same_id_tag(a, b) is same
    assert same_id_tag(b, a) is same


@pytest.mark.parametrize(
    ("id_tag", "in_local_list", "cache_enabled", "cache"),
    [
        # 3.5.1: "The Cache is updated using all received IdTagInfo (from Authorize.conf,
        # StartTransaction.conf and StopTransaction.conf)".
        ("ALICE", False, True, True),
        # 3.5.3: "Identifiers known in the Local Authorization List SHALL NOT be added to the Authorization
        # Cache." (4.1, 4.8, 4.10: "if the idTag is not in the Local Authorization List").
        ("ALICE", True, True, False),
        # 9.1.2 AuthorizationCacheEnabled false: no cache to update.
        ("ALICE", False, False, False),
        ("ALICE", True, False, False),
        # 4.10: "The idTag in the request PDU MAY be omitted": nothing to cache the answer under.
        (None, False, True, False),
    ],
)
def test_should_cache(id_tag: str | None, in_local_list: bool, cache_enabled: bool, cache: bool) -> None:
    assert should_cache(id_tag, in_local_list=in_local_list, cache_enabled=cache_enabled) is cache


# --- settings ---------------------------------------------------------------------------------------------


def test_settings_from_configuration_values() -> None:
    read = AuthorizationSettings.from_configuration(
        {
            "authorizationcacheenabled": "TRUE",  # keys and values are CiStrings
            "LocalAuthListEnabled": " true ",
            "LocalAuthorizeOffline": "false",
            "LocalPreAuthorize": None,  # known but without value
            # AllowOfflineTxForUnknownId absent: 9.1.1 "If this key exists, the Charge Point supports ..."
        }
    )
    assert read == flags("cache list")


def test_settings_from_the_default_configuration() -> None:
    known, _ = Configuration(core_keys(1, ())).get(None)
    read = AuthorizationSettings.from_configuration({item.key: item.value for item in known})
    # The Core defaults; no LocalAuthListManagement profile, so no LocalAuthListEnabled key.
    assert read == flags("cache offline")


@pytest.mark.parametrize(
    ("local_list_entry", "cache_entry", "enabled", "expected"),
    [
        # 3.5.3: "a Charge Point SHALL treat Local Authorization List entries as having priority over
        # Authorization Cache entries for the same identifiers."
        (BLOCKED, ACCEPTED, "list cache", BLOCKED),
        (ACCEPTED, BLOCKED, "list cache", ACCEPTED),
        (None, BLOCKED, "list cache", BLOCKED),
        # 9.2.1 LocalAuthListEnabled / 9.1.2 AuthorizationCacheEnabled: a disabled store is not consulted.
        (BLOCKED, ACCEPTED, "cache", ACCEPTED),
        (BLOCKED, ACCEPTED, "list", BLOCKED),
        (None, ACCEPTED, "list", None),
        (BLOCKED, ACCEPTED, "", None),
        (None, None, "list cache", None),
    ],
)
def test_local_entry(
    local_list_entry: IdTagInfo | None,
    cache_entry: IdTagInfo | None,
    enabled: str,
    expected: IdTagInfo | None,
) -> None:
    found = local_entry(local_list_entry=local_list_entry, cache_entry=cache_entry, settings=flags(enabled))
    assert found == expected


# --- starting ---------------------------------------------------------------------------------------------

ASK = StartDecision(StartAction.ASK_CENTRAL_SYSTEM)
UNKNOWN_OFFLINE = StartDecision(StartAction.ACCEPT_UNKNOWN_OFFLINE)


def accept(info: IdTagInfo) -> StartDecision:
    return StartDecision(StartAction.ACCEPT, info)


def refuse(info: IdTagInfo) -> StartDecision:
    return StartDecision(StartAction.REFUSE, info)


START_CASES = [
    # (online, local list entry, cache entry, enabled flags, decision)
    # 4.1: "If an idTag presented by the user is not present in the Local Authorization List or Authorization
    # Cache, then the Charge Point SHALL send an Authorize.req".
    (True, None, None, ALL, ASK),
    # 9.1.13 LocalPreAuthorize: "when online, will start a transaction for locally-authorized identifiers
    # without waiting for or requesting an Authorize.conf".
    (True, ACCEPTED, None, "list pre", accept(ACCEPTED)),
    (True, None, ACCEPTED, "cache pre", accept(ACCEPTED)),
    (True, ACCEPTED_UNTIL_LATER, None, "list pre", accept(ACCEPTED_UNTIL_LATER)),
    # ... and without LocalPreAuthorize it asks (4.1: "the Charge Point MAY send an Authorize.req").
    (True, ACCEPTED, None, "list cache offline unknown", ASK),
    (True, None, ACCEPTED, "list cache offline unknown", ASK),
    # 9.1.2 / 9.2.1: a disabled cache or list authorises nothing.
    (True, None, ACCEPTED, "list pre", ASK),
    (True, ACCEPTED, None, "cache pre", ASK),
    # 3.5.1: "When an identifier is presented that is stored in the cache as NOT-valid, and the Charge Point
    # is online: an Authorize.req SHOULD be sent".
    (True, None, BLOCKED, ALL, ASK),
    (True, None, INVALID, ALL, ASK),
    # 4.1: a (not valid) list entry MAY be checked with the Central System, which is authoritative online.
    (True, BLOCKED, None, ALL, ASK),
    # 3.5.4: "valid but apparently expired due to passage of time" is not locally authorised.
    (True, ACCEPTED_UNTIL_NOW, None, ALL, ASK),
    # 3.5.3: list priority over the cache, both ways.
    (True, BLOCKED, ACCEPTED, ALL, ASK),
    (True, ACCEPTED, BLOCKED, ALL, accept(ACCEPTED)),
    # 9.1.12 LocalAuthorizeOffline: "whether the Charge Point, when offline, will start a transaction for
    # locally-authorized identifiers".
    (False, ACCEPTED, None, "list offline", accept(ACCEPTED)),
    (False, None, ACCEPTED, "cache offline", accept(ACCEPTED)),
    (False, ACCEPTED, BLOCKED, ALL, accept(ACCEPTED)),
    # LocalPreAuthorize is about online only.
    (False, ACCEPTED, None, "list pre", refuse(UNKNOWN)),
    # 3.5.4: "Identifiers that are present in a Local Authorization List that have a status other than
    # "Accepted" (Invalid, Blocked, Expired) MUST be rejected."
    (False, BLOCKED, None, ALL, refuse(BLOCKED)),
    (False, INVALID, None, ALL, refuse(INVALID)),
    (False, EXPIRED, None, ALL, refuse(EXPIRED)),
    (False, CONCURRENT, None, ALL, refuse(CONCURRENT)),
    (False, BLOCKED, ACCEPTED, ALL, refuse(BLOCKED)),
    # 3.5.4: "Identifiers that were valid but are apparently expired due to passage of time MUST also be
    # rejected." (at the expiryDate itself, and just before it still valid)
    (False, ACCEPTED_UNTIL_NOW, None, ALL, refuse(EXPIRED_NOW)),
    (False, None, ACCEPTED_UNTIL_NOW, ALL, refuse(EXPIRED_NOW)),
    (False, ACCEPTED_UNTIL_LATER, None, ALL, accept(ACCEPTED_UNTIL_LATER)),
    # A NOT-valid cache entry is known, not "unknown": rejected too.
    (False, None, BLOCKED, ALL, refuse(BLOCKED)),
    # 3.5.4: "When offline, a Charge Point MAY allow automatic authorization of any "unknown" identifiers"
    # (9.1.1 AllowOfflineTxForUnknownId) ...
    (False, None, None, "unknown", UNKNOWN_OFFLINE),
    (False, None, None, ALL, UNKNOWN_OFFLINE),
    # ... otherwise an unknown identifier is refused as Invalid ("Identifier is unknown", 7.2).
    (False, None, None, "list cache offline pre", refuse(UNKNOWN)),
    # Known valid but LocalAuthorizeOffline false: it "cannot be explicitly authorized by Local Authorization
    # List or Authorization Cache entries", so it is treated as unknown.
    (False, ACCEPTED, None, "list unknown", UNKNOWN_OFFLINE),
    (False, ACCEPTED, None, "list", refuse(UNKNOWN)),
    # A disabled store is not consulted, so its entries neither authorise nor reject.
    (False, None, ACCEPTED, "list offline", refuse(UNKNOWN)),
    (False, None, BLOCKED, "list offline unknown", UNKNOWN_OFFLINE),
]


@pytest.mark.parametrize(("online", "local_list_entry", "cache_entry", "enabled", "decision"), START_CASES)
def test_decide_start(
    online: bool,
    local_list_entry: IdTagInfo | None,
    cache_entry: IdTagInfo | None,
    enabled: str,
    decision: StartDecision,
) -> None:
    assert (
        decide_start(
            "ALICE",
            online=online,
            local_list_entry=local_list_entry,
            cache_entry=cache_entry,
            settings=flags(enabled),
            now=NOW,
        )
        == decision
    )


@pytest.mark.parametrize(
    ("answer", "decision"),
    [
        # 7.2 AuthorizationStatus: only Accepted is "allowed for charging".
        (ACCEPTED, accept(ACCEPTED)),
        (ACCEPTED_UNTIL_LATER, accept(ACCEPTED_UNTIL_LATER)),
        (BLOCKED, refuse(BLOCKED)),
        (INVALID, refuse(INVALID)),
        (EXPIRED, refuse(EXPIRED)),
        (CONCURRENT, refuse(CONCURRENT)),
        # 3.5.4: apparently expired due to passage of time.
        (ACCEPTED_UNTIL_NOW, refuse(EXPIRED_NOW)),
    ],
)
def test_decide_start_after_authorize(answer: IdTagInfo, decision: StartDecision) -> None:
    assert decide_start_after_authorize(answer, now=NOW) == decision


def test_start_flow_online_then_answer_without_reply_falls_back_to_offline() -> None:
    enabled = flags("list cache offline")
    first = decide_start(
        "ALICE", online=True, local_list_entry=None, cache_entry=ACCEPTED, settings=enabled, now=NOW
    )
    assert first == ASK
    # Authorize.req unanswered: the charge point is offline; the cache entry authorises (9.1.12).
    again = decide_start(
        "ALICE", online=False, local_list_entry=None, cache_entry=ACCEPTED, settings=enabled, now=NOW
    )
    assert again == accept(ACCEPTED)
    assert again.starts
    assert not first.starts
    assert UNKNOWN_OFFLINE.starts
    assert not refuse(BLOCKED).starts


NOT_VALID = st.one_of(
    st.sampled_from([BLOCKED, INVALID, EXPIRED, CONCURRENT]).flatmap(
        lambda info: st.builds(
            attrs.evolve,
            st.just(info),
            expiry_date=st.none() | st.datetimes(timezones=st.just(UTC)),
            parent_id_tag=st.none() | st.just("FAMILY"),
        )
    ),
    # Valid, but apparently expired due to passage of time (3.5.4): expiryDate at or before now.
    st.builds(
        IdTagInfo,
        status=st.sampled_from([AuthorizationStatus.ACCEPTED, AuthorizationStatus.CONCURRENT_TX]),
        expiry_date=st.just(NOW) | st.datetimes(max_value=NOW.replace(tzinfo=None), timezones=st.just(UTC)),
    ),
)
ANY_ENTRY = st.none() | st.just(ACCEPTED) | st.just(ACCEPTED_UNTIL_LATER) | NOT_VALID
ANY_SETTINGS = st.builds(AuthorizationSettings, **{field: st.booleans() for field in _FLAG_NAMES.values()})


@settings(max_examples=300)
@given(
    bad=NOT_VALID,
    other=ANY_ENTRY,
    in_list=st.booleans(),
    online=st.booleans(),
    any_settings=ANY_SETTINGS,
)
def test_a_not_valid_local_entry_never_authorises_a_start(
    bad: IdTagInfo, other: IdTagInfo | None, in_list: bool, online: bool, any_settings: AuthorizationSettings
) -> None:
    # 3.5.4: entries "that have a status other than "Accepted" (Invalid, Blocked, Expired) MUST be rejected",
    # and so must those "apparently expired due to passage of time". Whatever the other flags, the entry
    # consulted (list first, 3.5.3) is ``bad``: its store is enabled and it wins over ``other``.
    local_list_entry: IdTagInfo | None
    cache_entry: IdTagInfo | None
    if in_list:
        enabled = attrs.evolve(any_settings, local_auth_list_enabled=True)
        local_list_entry, cache_entry = bad, other
    else:
        enabled = attrs.evolve(any_settings, authorization_cache_enabled=True)
        local_list_entry = None if enabled.local_auth_list_enabled else other
        cache_entry = bad
    decision = decide_start(
        "ALICE",
        online=online,
        local_list_entry=local_list_entry,
        cache_entry=cache_entry,
        settings=enabled,
        now=NOW,
    )
    assert not decision.starts
    if online:
        assert decision == ASK
    else:
        assert decision.action is StartAction.REFUSE
        assert decision.id_tag_info is not None
        assert decision.id_tag_info.status is not AuthorizationStatus.ACCEPTED


# --- stopping ---------------------------------------------------------------------------------------------

OTHER_IN_FAMILY = IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag="family")
OTHER_FAMILY = IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag="NEIGHBOURS")
NO_PARENT = IdTagInfo(status=AuthorizationStatus.ACCEPTED)
BLOCKED_IN_FAMILY = IdTagInfo(status=AuthorizationStatus.BLOCKED, parent_id_tag="FAMILY")
EXPIRED_IN_FAMILY = IdTagInfo(status=AuthorizationStatus.ACCEPTED, expiry_date=NOW, parent_id_tag="FAMILY")
STOP = StopDecision(StopAction.ACCEPT)


def stop_with(info: IdTagInfo | None, action: StopAction) -> StopDecision:
    return StopDecision(action, None if info is None else apply_expiry(info, NOW))


STOP_CASES = [
    # (presented idTag, transaction's parentIdTag, presented_info, online, decision)
    # 3.4: "A Charge Point MUST NOT send an Authorize.req before stopping a transaction if the presented
    # idTag is the same as the idTag presented to start the transaction." Whatever is known of it, offline
    # too.
    ("ALICE", "FAMILY", None, True, STOP),
    ("ALICE", None, BLOCKED, False, STOP),
    # 7.28: "IdToken is case insensitive."
    ("alice", "FAMILY", None, True, STOP),
    ("Alice", None, None, False, STOP),
    # 3.10: "another token in the same group" may stop it; parentIdTags compare case-insensitively too.
    ("BOB", "FAMILY", OTHER_IN_FAMILY, True, stop_with(OTHER_IN_FAMILY, StopAction.ACCEPT)),
    ("BOB", "Family", OTHER_IN_FAMILY, False, stop_with(OTHER_IN_FAMILY, StopAction.ACCEPT)),
    # 3.10: "two idTags are considered to be in the same group if their ParentId Tags match": a different
    # parent, or a transaction without a parent, is no group.
    ("BOB", "FAMILY", OTHER_FAMILY, True, stop_with(OTHER_FAMILY, StopAction.REFUSE)),
    ("BOB", None, OTHER_IN_FAMILY, True, stop_with(OTHER_IN_FAMILY, StopAction.REFUSE)),
    ("BOB", None, None, True, stop_with(None, StopAction.REFUSE)),
    # 4.1: "the Charge Point SHALL only send an Authorize.req when the identifier used for stopping the
    # transaction is different"; 5.13: if the parent "is not found in the Local Authorization List or
    # Authorization Cache, then the Charge Point SHALL send an Authorize.req".
    ("BOB", "FAMILY", None, True, stop_with(None, StopAction.ASK_CENTRAL_SYSTEM)),
    ("BOB", "FAMILY", NO_PARENT, True, stop_with(NO_PARENT, StopAction.ASK_CENTRAL_SYSTEM)),
    # 3.5.1: a NOT-valid local entry SHOULD be checked with the Central System when online.
    ("BOB", "FAMILY", BLOCKED_IN_FAMILY, True, stop_with(BLOCKED_IN_FAMILY, StopAction.ASK_CENTRAL_SYSTEM)),
    ("BOB", "FAMILY", EXPIRED_IN_FAMILY, True, stop_with(EXPIRED_IN_FAMILY, StopAction.ASK_CENTRAL_SYSTEM)),
    # Offline nobody can be asked: without local proof of the group the transaction keeps running.
    ("BOB", "FAMILY", None, False, stop_with(None, StopAction.REFUSE)),
    ("BOB", "FAMILY", NO_PARENT, False, stop_with(NO_PARENT, StopAction.REFUSE)),
    ("BOB", "FAMILY", BLOCKED_IN_FAMILY, False, stop_with(BLOCKED_IN_FAMILY, StopAction.REFUSE)),
    ("BOB", "FAMILY", EXPIRED_IN_FAMILY, False, stop_with(EXPIRED_IN_FAMILY, StopAction.REFUSE)),
    # 3.10: the ParentId "SHOULD NOT be used for comparison against a presented Token value".
    ("FAMILY", "FAMILY", None, True, stop_with(None, StopAction.ASK_CENTRAL_SYSTEM)),
    ("FAMILY", "FAMILY", None, False, stop_with(None, StopAction.REFUSE)),
]


@pytest.mark.parametrize(("presented", "parent", "presented_info", "online", "decision"), STOP_CASES)
def test_decide_stop(
    presented: str, parent: str | None, presented_info: IdTagInfo | None, online: bool, decision: StopDecision
) -> None:
    assert (
        decide_stop(
            presented,
            transaction_id_tag="ALICE",
            transaction_parent_id_tag=parent,
            presented_info=presented_info,
            online=online,
            now=NOW,
        )
        == decision
    )


@pytest.mark.parametrize(
    ("answer", "parent", "action"),
    [
        # 3.10: same group (parentIdTags match, in any case) and authorised (4.1): it stops.
        (OTHER_IN_FAMILY, "FAMILY", StopAction.ACCEPT),
        (IdTagInfo(AuthorizationStatus.ACCEPTED, NOW + TICK, "FAMILY"), "FAMILY", StopAction.ACCEPT),
        # Another group, no group, or no group on the transaction: it does not.
        (OTHER_FAMILY, "FAMILY", StopAction.REFUSE),
        (NO_PARENT, "FAMILY", StopAction.REFUSE),
        (OTHER_IN_FAMILY, None, StopAction.REFUSE),
        # 4.1 "the Charge Point has to authorize the operation": a group member that is not Accepted
        # (7.2: "Not allowed for charging") does not stop it; nor one expired by passage of time (3.5.4).
        (BLOCKED_IN_FAMILY, "FAMILY", StopAction.REFUSE),
        (EXPIRED_IN_FAMILY, "FAMILY", StopAction.REFUSE),
    ],
)
def test_decide_stop_after_authorize(answer: IdTagInfo, parent: str | None, action: StopAction) -> None:
    decision = decide_stop_after_authorize(answer, transaction_parent_id_tag=parent, now=NOW)
    assert decision == StopDecision(action, apply_expiry(answer, NOW))


@pytest.mark.parametrize(
    ("answer", "action"),
    [(OTHER_IN_FAMILY, StopAction.ACCEPT), (OTHER_FAMILY, StopAction.REFUSE), (NO_PARENT, StopAction.REFUSE)],
)
def test_stop_by_another_id_tag_asks_the_central_system_then_decides_from_its_answer(
    answer: IdTagInfo, action: StopAction
) -> None:
    # 3.10 with 4.1: BOB's parent is not known locally, so the charge point sends Authorize.req for BOB ...
    first = decide_stop(
        "BOB",
        transaction_id_tag="ALICE",
        transaction_parent_id_tag="FAMILY",
        presented_info=None,
        online=True,
        now=NOW,
    )
    assert first.action is StopAction.ASK_CENTRAL_SYSTEM
    # ... and the Authorize.conf decides, once: an answer without parentIdTag refuses instead of asking again.
    second = decide_stop_after_authorize(answer, transaction_parent_id_tag="FAMILY", now=NOW)
    assert second == StopDecision(action, answer)
