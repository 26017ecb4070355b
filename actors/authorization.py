"""Authorization of idTags (specification 3.5, 3.10, 4.1, 4.8, 4.10), as pure decisions.

Nothing here touches the network, the database or a clock: the connector actor looks the presented idTag up
in the Local Authorization List and the Authorization Cache, passes in what it found and the current time,
and carries out the decision it gets back.

Starting (:func:`decide_start`), with ``entry`` the Local Authorization List entry if the list is enabled
and holds the idTag, else the Authorization Cache entry if the cache is enabled and holds it (3.5.3), after
the expiryDate rule; "valid" means its status is Accepted:

============  =========================  ================================  =================================
connection    entry                      setting                           decision
============  =========================  ================================  =================================
online        valid                      LocalPreAuthorize                 ACCEPT (the entry)
online        any other                  —                                 ASK_CENTRAL_SYSTEM
offline       valid                      LocalAuthorizeOffline             ACCEPT (the entry)
offline       not valid                  —                                 REFUSE (the entry)
offline       none, or valid without     AllowOfflineTxForUnknownId        ACCEPT_UNKNOWN_OFFLINE
              LocalAuthorizeOffline
offline       none, or valid without     not AllowOfflineTxForUnknownId    REFUSE (Invalid)
              LocalAuthorizeOffline
============  =========================  ================================  =================================

After ASK_CENTRAL_SYSTEM, :func:`decide_start_after_authorize` decides from the Authorize.conf; if the
Authorize.req gets no answer, the charge point is offline: call :func:`decide_start` again with
``online=False``.

Stopping (:func:`decide_stop`), with ``info`` what is known locally about the presented idTag:

=================================================  ========  ==================================
presented idTag                                    online    decision
=================================================  ========  ==================================
the transaction's idTag (any case)                 any       ACCEPT, without Authorize.req
another, transaction without parentIdTag           any       REFUSE
another, ``info`` parent differs                   any       REFUSE
another, ``info`` parent matches, valid            any       ACCEPT
another, parent unknown or ``info`` not valid      yes       ASK_CENTRAL_SYSTEM
another, parent unknown or ``info`` not valid      no        REFUSE
=================================================  ========  ==================================

After ASK_CENTRAL_SYSTEM, :func:`decide_stop_after_authorize` decides from the Authorize.conf: ACCEPT if it
is valid and its parentIdTag matches the transaction's, REFUSE otherwise.

IdTokens (idTags and parentIdTags) are CiStrings: they compare case-insensitively (7.28).
"""

from collections.abc import Mapping
from datetime import datetime
from enum import Enum

import attrs

from actors.ocpp import AuthorizationStatus, IdTagInfo

__all__ = [
    "AuthorizationSettings",
    "StartAction",
    "StartDecision",
    "StopAction",
    "StopDecision",
    "apply_expiry",
    "decide_start",
    "decide_start_after_authorize",
    "decide_stop",
    "decide_stop_after_authorize",
    "local_entry",
    "same_id_tag",
    "should_cache",
]

_VALID_UNTIL_EXPIRY = frozenset({AuthorizationStatus.ACCEPTED, AuthorizationStatus.CONCURRENT_TX})
"""Statuses that turn to Expired once their expiryDate has passed (3.5.2 calls both "valid")."""

_UNKNOWN = IdTagInfo(status=AuthorizationStatus.INVALID)
"""What a refusal of an idTag that cannot be authorised offline reports: Invalid, "Identifier is unknown"."""


@attrs.frozen(kw_only=True)
class AuthorizationSettings:
    """The configuration keys that govern local authorization (9.1, 9.2)."""

    authorization_cache_enabled: bool
    """AuthorizationCacheEnabled: the Authorization Cache is consulted (3.5.1)."""
    local_auth_list_enabled: bool
    """LocalAuthListEnabled: the Local Authorization List is consulted (3.5.2)."""
    local_authorize_offline: bool
    """LocalAuthorizeOffline: offline, locally valid idTags may start a transaction (3.5)."""
    local_pre_authorize: bool
    """LocalPreAuthorize: online, locally valid idTags start without waiting for Authorize.conf (3.5)."""
    allow_offline_tx_for_unknown_id: bool
    """AllowOfflineTxForUnknownId: offline, idTags not known locally may start a transaction (3.5.4)."""

    @classmethod
    def from_configuration(cls, values: Mapping[str, str | None]) -> "AuthorizationSettings":
        """Read the settings from configuration values ("true"/"false"; keys in any case).

        A key that is absent or has no value counts as false: for the optional keys, absence means the
        feature is not supported (9.1.1, 9.1.2); LocalAuthListEnabled exists only with the
        LocalAuthListManagement profile.
        """
        lowered = {key.lower(): value for key, value in values.items()}

        def flag(key: str) -> bool:
            return (lowered.get(key.lower()) or "").strip().lower() == "true"

        return cls(
            authorization_cache_enabled=flag("AuthorizationCacheEnabled"),
            local_auth_list_enabled=flag("LocalAuthListEnabled"),
            local_authorize_offline=flag("LocalAuthorizeOffline"),
            local_pre_authorize=flag("LocalPreAuthorize"),
            allow_offline_tx_for_unknown_id=flag("AllowOfflineTxForUnknownId"),
        )


class StartAction(Enum):
    """What the connector does with an idTag presented to start charging."""

    ACCEPT = "accept"
    """Start the transaction now, authorised by the IdTagInfo of the decision."""
    ASK_CENTRAL_SYSTEM = "ask the Central System"
    """Send Authorize.req and wait; then :func:`decide_start_after_authorize`."""
    ACCEPT_UNKNOWN_OFFLINE = "accept unknown offline"
    """Start the transaction although nothing is known about the idTag (3.5.4, AllowOfflineTxForUnknownId)."""
    REFUSE = "refuse"
    """Do not start; the IdTagInfo of the decision says why."""


@attrs.frozen
class StartDecision:
    """The decision on an idTag presented to start charging."""

    action: StartAction
    id_tag_info: IdTagInfo | None = None
    """ACCEPT: the IdTagInfo that authorised (its parentIdTag is the transaction's group).
    REFUSE: the IdTagInfo with the reason (Blocked, Expired, Invalid, ConcurrentTx).
    ASK_CENTRAL_SYSTEM and ACCEPT_UNKNOWN_OFFLINE: ``None``."""

    @property
    def starts(self) -> bool:
        """Whether a transaction starts without further ado."""
        return self.action in (StartAction.ACCEPT, StartAction.ACCEPT_UNKNOWN_OFFLINE)


class StopAction(Enum):
    """What the connector does with an idTag presented to stop a running transaction."""

    ACCEPT = "accept"
    """Stop the transaction."""
    ASK_CENTRAL_SYSTEM = "ask the Central System"
    """Send Authorize.req and wait; then :func:`decide_stop_after_authorize`."""
    REFUSE = "refuse"
    """Keep the transaction running."""


@attrs.frozen
class StopDecision:
    """The decision on an idTag presented to stop a running transaction."""

    action: StopAction
    id_tag_info: IdTagInfo | None = None
    """What is known of the presented idTag (``None`` when it is the transaction's own or is unknown)."""


def same_id_tag(a: str, b: str) -> bool:
    """Whether two IdTokens are the same: they are CiStrings, compared case-insensitively (7.28)."""
    return a.lower() == b.lower()


def apply_expiry(info: IdTagInfo, now: datetime) -> IdTagInfo:
    """``info`` as it stands at ``now``: a valid status whose expiryDate has come is Expired.

    3.5.1: "When the validity of a Cache entry expires, it SHALL be changed to expired"; 3.5.4: "Identifiers
    that were valid but are apparently expired due to passage of time MUST also be rejected". The expiryDate
    is "the date at which idTag should be removed" (7.27), so at that very instant it is expired already.
    Other statuses (Blocked, Invalid) say more than Expired and are kept.
    """
    if info.status in _VALID_UNTIL_EXPIRY and info.expiry_date is not None and now >= info.expiry_date:
        return attrs.evolve(info, status=AuthorizationStatus.EXPIRED)
    return info


def local_entry(
    *, local_list_entry: IdTagInfo | None, cache_entry: IdTagInfo | None, settings: AuthorizationSettings
) -> IdTagInfo | None:
    """What the charge point knows locally about an idTag, before the expiryDate rule.

    The Local Authorization List has priority over the Authorization Cache (3.5.3); each is consulted only
    when enabled (LocalAuthListEnabled, AuthorizationCacheEnabled).
    """
    if settings.local_auth_list_enabled and local_list_entry is not None:
        return local_list_entry
    if settings.authorization_cache_enabled and cache_entry is not None:
        return cache_entry
    return None


def decide_start(
    id_tag: str,
    *,
    online: bool,
    local_list_entry: IdTagInfo | None,
    cache_entry: IdTagInfo | None,
    settings: AuthorizationSettings,
    now: datetime,
) -> StartDecision:
    """What to do with ``id_tag`` presented to start charging (3.5, 4.1); see the table of the module.

    ``local_list_entry`` and ``cache_entry`` are the idTag's entries in the Local Authorization List and the
    Authorization Cache, ``None`` where it has none. A remote start with AuthorizeRemoteTxRequests true is
    decided the same way (5.11).
    """
    found = local_entry(local_list_entry=local_list_entry, cache_entry=cache_entry, settings=settings)
    entry = None if found is None else apply_expiry(found, now)
    valid = entry is not None and entry.status is AuthorizationStatus.ACCEPTED
    if online:
        # 3.5 / 9.1.13 LocalPreAuthorize: start locally-authorised idTags "without waiting for or requesting
        # an Authorize.conf". 4.1: an idTag not known locally SHALL be sent in Authorize.req; a known one MAY
        # be; 3.5.1: a NOT-valid one SHOULD be, "to check the current state of the identifier".
        if valid and settings.local_pre_authorize:
            return StartDecision(StartAction.ACCEPT, entry)
        return StartDecision(StartAction.ASK_CENTRAL_SYSTEM)
    if entry is not None and not valid:
        # 3.5.4: entries "that have a status other than Accepted (Invalid, Blocked, Expired) MUST be
        # rejected"; so must valid ones "apparently expired due to passage of time".
        return StartDecision(StartAction.REFUSE, entry)
    if valid and settings.local_authorize_offline:
        # 9.1.12 LocalAuthorizeOffline: offline, "start a transaction for locally-authorized identifiers".
        return StartDecision(StartAction.ACCEPT, entry)
    # Not known locally, or known but local authorization offline is off: such an idTag "cannot be explicitly
    # authorized by Local Authorization List or Authorization Cache entries" (3.5.4).
    if settings.allow_offline_tx_for_unknown_id:
        return StartDecision(StartAction.ACCEPT_UNKNOWN_OFFLINE)
    return StartDecision(StartAction.REFUSE, _UNKNOWN)


def decide_start_after_authorize(answer: IdTagInfo, *, now: datetime) -> StartDecision:
    """Decide a start from the Authorize.conf's IdTagInfo: only Accepted authorises (4.1, 7.2).

    The expiryDate rule applies to the answer as to a stored entry (3.5.4).
    """
    info = apply_expiry(answer, now)
    if info.status is AuthorizationStatus.ACCEPTED:
        return StartDecision(StartAction.ACCEPT, info)
    return StartDecision(StartAction.REFUSE, info)


def decide_stop(
    presented_id_tag: str,
    *,
    transaction_id_tag: str,
    transaction_parent_id_tag: str | None,
    presented_info: IdTagInfo | None,
    online: bool,
    now: datetime,
) -> StopDecision:
    """Whether ``presented_id_tag`` may stop a running transaction (3.10, 4.1); see the table of the module.

    ``presented_info`` is what is known locally of the presented idTag (:func:`local_entry`). The
    transaction's parentIdTag is that of the IdTagInfo that authorised its start, updated from its
    StartTransaction.conf.
    """
    if same_id_tag(presented_id_tag, transaction_id_tag):
        # 3.4 (Figure 1): "A Charge Point MUST NOT send an Authorize.req before stopping a transaction if the
        # presented idTag is the same as the idTag presented to start the transaction."
        return StopDecision(StopAction.ACCEPT)
    if transaction_parent_id_tag is None:
        # 3.10: "two idTags are considered to be in the same group if their ParentId Tags match"; a
        # transaction without one has no group, so only its own idTag stops it.
        return StopDecision(StopAction.REFUSE, presented_info)
    info = None if presented_info is None else apply_expiry(presented_info, now)
    if info is not None and info.parent_id_tag is not None:
        if not same_id_tag(info.parent_id_tag, transaction_parent_id_tag):
            return StopDecision(StopAction.REFUSE, info)
        if info.status is AuthorizationStatus.ACCEPTED:
            # 3.10: "another token in the same group" may stop the transaction.
            return StopDecision(StopAction.ACCEPT, info)
    # 4.1: "the Charge Point SHALL only send an Authorize.req when the identifier used for stopping the
    # transaction is different"; 5.13 (parent idTag of a reservation): "If it is not found in the Local
    # Authorization List or Authorization Cache, then the Charge Point SHALL send an Authorize.req".
    if online:
        return StopDecision(StopAction.ASK_CENTRAL_SYSTEM, info)
    return StopDecision(StopAction.REFUSE, info)


def decide_stop_after_authorize(
    answer: IdTagInfo, *, transaction_parent_id_tag: str | None, now: datetime
) -> StopDecision:
    """Decide a stop by another idTag from its Authorize.conf's IdTagInfo (3.10).

    It stops the transaction if it is Accepted and its parentIdTag matches the transaction's; the parentIdTag
    is never compared with the presented idTag itself (3.10: it "SHOULD NOT be used for comparison against a
    presented Token value").
    """
    info = apply_expiry(answer, now)
    same_group = (
        info.parent_id_tag is not None
        and transaction_parent_id_tag is not None
        and same_id_tag(info.parent_id_tag, transaction_parent_id_tag)
    )
    if same_group and info.status is AuthorizationStatus.ACCEPTED:
        return StopDecision(StopAction.ACCEPT, info)
    return StopDecision(StopAction.REFUSE, info)


def should_cache(id_tag: str | None, *, in_local_list: bool, cache_enabled: bool) -> bool:
    """Whether an IdTagInfo received for ``id_tag`` goes into the Authorization Cache.

    The cache "is updated using all received IdTagInfo (from Authorize.conf, StartTransaction.conf and
    StopTransaction.conf)" (3.5.1), but "Identifiers known in the Local Authorization List SHALL NOT be added
    to the Authorization Cache" (3.5.3; also 4.1, 4.8, 4.10). A StopTransaction.req without idTag (the
    charge point stopped on its own) leaves nothing to cache.
    """
    return cache_enabled and id_tag is not None and not in_local_list
