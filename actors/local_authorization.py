"""The Local Authorization List and the Authorization Cache as a charge point keeps them (spec 3.5, 5.4, 5.10,
5.15).

The decisions are pure functions: which version GetLocalListVersion reports (:func:`reported_list_version`),
what a SendLocalList gets (:func:`send_local_list_status`), and whether the Central System's IdTagInfo
contradicts the list (:func:`conflicts_with_local_list`). :class:`LocalAuthorization` reads and writes the
charge point's state (``storage.ChargePointState``) according to them and to the configuration; what an
idTag's entries mean for a transaction is decided in :mod:`actors.authorization`.

Where the specification leaves room, this charge point decides so:

- GetLocalListVersion reports -1 while LocalAuthListEnabled is false (the list "is not supported" then, as
  compliance case TC_042_1 expects), and 0 whenever the list is empty, whatever version the last update
  carried (5.10: 0 "SHALL be used to indicate that the local authorization list is empty"; TC_042_2).
- A Differential update must carry a version above the reported one, else VersionMismatch (7.47); a Full
  update may carry any version, as it replaces the list, but a non-empty list needs a version of at least 1,
  since 0 and -1 mean "empty" and "not supported".
- A SendLocalList is Failed, and changes nothing, if it has more entries than SendLocalListMaxLength, would
  make the list longer than LocalAuthListMaxLength, names an idTag twice (6.41: "All idTags ... MUST be
  unique"), or is Full with an entry without idTagInfo (7.1: "Required when UpdateType is Full").
- ClearCache clears the cache and is Accepted even while AuthorizationCacheEnabled is false: the charge
  point is able to clear it (6.12), and a cache enabled again later starts empty.
- While LocalAuthListEnabled is false the list is not consulted at all: not for authorising, not to keep an
  idTag out of the cache, not for conflicts.

If the storage refuses a write (``actors.storage_health``): a lookup finds nothing in the cache (it counts
as a use, which is a write), an IdTagInfo is not cached, ClearCache is Rejected and SendLocalList Failed,
with the cache and the list as they were.
"""

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from actors.authorization import AuthorizationSettings, apply_expiry, same_id_tag, should_cache
from actors.clock import WallClock
from actors.configuration import Configuration
from actors.ocpp import (
    AuthorizationData,
    AuthorizationStatus,
    AuthorizeResponse,
    ClearCacheStatus,
    IdTagInfo,
    SendLocalListRequest,
    UpdateStatus,
    UpdateType,
    decode,
    encode,
)
from storage import ChargePointState, JsonObject, StorageError

__all__ = [
    "LocalAuthorization",
    "conflicts_with_local_list",
    "reported_list_version",
    "send_local_list_status",
]

_log = logging.getLogger(__name__)

_AUTHORIZATION_KEYS = (
    "AuthorizationCacheEnabled",
    "LocalAuthListEnabled",
    "LocalAuthorizeOffline",
    "LocalPreAuthorize",
    "AllowOfflineTxForUnknownId",
)


def reported_list_version(*, enabled: bool, version: int, size: int) -> int:
    """The listVersion of GetLocalListVersion.conf (5.10): -1 if the list is disabled, 0 if it is empty."""
    if not enabled:
        return -1
    return version if size > 0 else 0


def send_local_list_status(
    request: SendLocalListRequest,
    *,
    enabled: bool,
    current_version: int,
    current_size: int,
    listed: Collection[str],
    send_max: int,
    list_max: int,
) -> UpdateStatus:
    """The answer to a SendLocalList (5.15, 7.47); the update is applied only if it is Accepted.

    ``current_version`` is the version GetLocalListVersion reports (:func:`reported_list_version`),
    ``current_size`` how many idTags the list holds, ``listed`` which of the request's idTags (lower case) it
    holds; ``send_max`` is SendLocalListMaxLength, ``list_max`` LocalAuthListMaxLength.
    """
    if not enabled:
        return UpdateStatus.NOT_SUPPORTED
    entries = request.local_authorization_list or ()
    full = request.update_type is UpdateType.FULL
    if not full and request.list_version <= current_version:
        # 7.47: "Version number in the request for a differential update is less or equal then version
        # number of current list."
        return UpdateStatus.VERSION_MISMATCH
    keys = [entry.id_tag.lower() for entry in entries]
    if len(entries) > send_max or len(set(keys)) != len(keys):
        return UpdateStatus.FAILED
    if full and any(entry.id_tag_info is None for entry in entries):
        return UpdateStatus.FAILED
    size = _size_after(request.update_type, entries, current_size, {key.lower() for key in listed})
    if size > list_max or (size > 0 and request.list_version < 1):
        return UpdateStatus.FAILED
    return UpdateStatus.ACCEPTED


def _size_after(
    update_type: UpdateType, entries: Sequence[AuthorizationData], current_size: int, listed: Collection[str]
) -> int:
    """How many idTags the list holds after the update (its idTags unique, ``listed`` those it holds now)."""
    if update_type is UpdateType.FULL:
        return len(entries)
    added = sum(1 for e in entries if e.id_tag_info is not None and e.id_tag.lower() not in listed)
    removed = sum(1 for e in entries if e.id_tag_info is None and e.id_tag.lower() in listed)
    return current_size + added - removed


def conflicts_with_local_list(listed: IdTagInfo, received: IdTagInfo, *, now: datetime) -> bool:
    """Whether the Central System's IdTagInfo for an idTag contradicts its Local Authorization List entry
    (3.5.2: the charge point then sends StatusNotification connectorId 0, errorCode LocalListConflict).

    They conflict if their statuses differ once the expiryDate rule has been applied to both, Accepted and
    ConcurrentTx counting as the same (3.5.2 calls both "valid"; ConcurrentTx speaks of a running
    transaction, which no list can know), or if both name a parentIdTag and these differ. Another
    expiryDate alone is no conflict: the Central System may bound what it says by a date of its own.
    """

    def validity(info: IdTagInfo) -> AuthorizationStatus:
        status = apply_expiry(info, now).status
        return AuthorizationStatus.ACCEPTED if status is AuthorizationStatus.CONCURRENT_TX else status

    if validity(listed) is not validity(received):
        return True
    ours, theirs = listed.parent_id_tag, received.parent_id_tag
    return ours is not None and theirs is not None and not same_id_tag(ours, theirs)


def _to_json(info: IdTagInfo) -> JsonObject:
    """An IdTagInfo as stored: the JSON it has on the wire (in an Authorize.conf)."""
    body: JsonObject = encode(AuthorizeResponse(id_tag_info=info))["idTagInfo"]
    return body


def _from_json(body: JsonObject) -> IdTagInfo:
    """The IdTagInfo of a stored JSON body (:func:`_to_json`)."""
    return decode(AuthorizeResponse, {"idTagInfo": body}).id_tag_info


class LocalAuthorization:
    """The Local Authorization List and Authorization Cache of one charge point, as its configuration says
    to use them. It keeps nothing itself: every connector and the charge point may have one."""

    __slots__ = ("_clock", "_configuration", "_state")

    def __init__(self, state: ChargePointState, configuration: Configuration, clock: WallClock) -> None:
        self._state = state
        self._configuration = configuration
        self._clock = clock

    def settings(self) -> AuthorizationSettings:
        """The configuration keys that govern local authorization, as they are now (9.1, 9.2)."""
        values: dict[str, str | None] = {}
        for name in _AUTHORIZATION_KEYS:
            if self._configuration.definition(name) is not None:
                values[name] = self._configuration.value(name)
        return AuthorizationSettings.from_configuration(values)

    async def lookup(self, id_tag: str) -> tuple[IdTagInfo | None, IdTagInfo | None]:
        """The idTag's entries in the Local Authorization List and in the Authorization Cache, each ``None``
        if it has none there or that store is disabled. The cache is not consulted (nor its entry counted as
        used) when the list has the idTag, which has priority (3.5.3)."""
        settings = self.settings()
        listed = await self._listed(id_tag, settings)
        if listed is not None or not settings.authorization_cache_enabled:
            return listed, None
        try:
            cached = await self._state.cache_get(id_tag)
        except StorageError as error:
            _log.info("Authorization Cache not read for %s: %s", id_tag, error)
            return None, None
        return None, None if cached is None else _from_json(cached.info)

    async def remember(self, id_tag: str | None, info: IdTagInfo) -> bool:
        """Take in the Central System's IdTagInfo for ``id_tag`` (of an Authorize.conf, StartTransaction.conf
        or StopTransaction.conf); whether it conflicts with the idTag's Local Authorization List entry.

        It goes into the Authorization Cache (3.5.1) unless the idTag is in the list (3.5.3) or the cache is
        disabled. On a conflict the caller reports LocalListConflict (3.5.2); the list stays as it is, as
        only SendLocalList changes it.
        """
        if id_tag is None:
            return False
        settings = self.settings()
        listed = await self._listed(id_tag, settings)
        if should_cache(
            id_tag, in_local_list=listed is not None, cache_enabled=settings.authorization_cache_enabled
        ):
            try:
                await self._state.cache_put(
                    id_tag,
                    _to_json(info),
                    status=str(info.status),
                    expiry=info.expiry_date,
                    now=self._clock.now(),
                )
            except StorageError as error:
                _log.info("IdTagInfo of %s not cached: %s", id_tag, error)
        return listed is not None and conflicts_with_local_list(listed, info, now=self._clock.now())

    async def clear_cache(self) -> ClearCacheStatus:
        """ClearCache (5.4): empty the Authorization Cache; Rejected if the storage refuses."""
        try:
            await self._state.cache_clear()
        except StorageError as error:
            _log.warning("Authorization Cache not cleared: %s", error)
            return ClearCacheStatus.REJECTED
        return ClearCacheStatus.ACCEPTED

    async def list_version(self) -> int:
        """GetLocalListVersion (5.10): the version of the list, 0 if it is empty, -1 if it is disabled."""
        if not self.settings().local_auth_list_enabled:
            return -1
        return reported_list_version(
            enabled=True,
            version=await self._state.local_list_version(),
            size=await self._state.local_list_size(),
        )

    async def send_local_list(self, request: SendLocalListRequest) -> UpdateStatus:
        """SendLocalList (5.15): apply a Full or Differential update if it is acceptable; its answer."""
        if not self.settings().local_auth_list_enabled:
            return UpdateStatus.NOT_SUPPORTED
        entries = request.local_authorization_list or ()
        send_max = self._configuration.integer("SendLocalListMaxLength")
        listed: set[str] = set()
        if request.update_type is UpdateType.DIFFERENTIAL and len(entries) <= send_max:
            for entry in entries:
                if await self._state.local_list_get(entry.id_tag) is not None:
                    listed.add(entry.id_tag.lower())
        status = send_local_list_status(
            request,
            enabled=True,
            current_version=await self.list_version(),
            current_size=await self._state.local_list_size(),
            listed=listed,
            send_max=send_max,
            list_max=self._configuration.integer("LocalAuthListMaxLength"),
        )
        if status is not UpdateStatus.ACCEPTED:
            return status
        try:
            if request.update_type is UpdateType.FULL:
                replacement = {e.id_tag: _to_json(e.id_tag_info) for e in entries if e.id_tag_info}
                await self._state.local_list_replace(request.list_version, replacement)
            else:
                changes: Mapping[str, JsonObject | None] = {
                    e.id_tag: None if e.id_tag_info is None else _to_json(e.id_tag_info) for e in entries
                }
                await self._state.local_list_update(request.list_version, changes)
        except StorageError as error:  # nothing changed: each update is atomic
            _log.warning("Local Authorization List not updated: %s", error)
            return UpdateStatus.FAILED
        return status

    async def _listed(self, id_tag: str, settings: AuthorizationSettings) -> IdTagInfo | None:
        if not settings.local_auth_list_enabled:
            return None
        body = await self._state.local_list_get(id_tag)
        return None if body is None else _from_json(body)
