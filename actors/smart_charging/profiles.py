"""The charging profiles a charge point has installed, and what SetChargingProfile, ClearChargingProfile and
a RemoteStartTransaction with a profile do to them (spec 3.13.1, 3.13.2, 5.5, 5.11, 5.16, 6.13, 7.8, 9.4).

Pure decisions: each function takes the installed profiles and returns the answer with the profiles as
they are afterwards, and which ids are gone, so that the caller keeps exactly that in its state.

Where the specification leaves room, this charge point decides so:

- "Same stackLevel and purpose" replaces a profile of the same connector only (3.13.2 read per connector,
  or two connectors could not have TxDefaultProfiles of the same level); the same chargingProfileId
  replaces a profile anywhere. Profiles whose ``validTo`` has passed are forgotten when a new one arrives.
- A SetChargingProfile is Rejected when: the connector is unknown; a ChargePointMaxProfile is not for
  connector 0 or a TxProfile is (3.13.1); a TxProfile's connector has no transaction (3.13.1, TC_058_1) or
  has one with another transactionId (5.16, TC_058_2), or one whose id is not known yet (started offline);
  a profile of another purpose carries a transactionId (7.8: "only valid if ... TxProfile"); the stack
  level exceeds ``ChargeProfileMaxStackLevel``; the schedule has more periods than
  ``ChargingScheduleMaxPeriods``, a unit that ``ChargingScheduleAllowedChargingRateUnit`` does not list,
  periods that do not start at 0 and increase (7.13), a negative limit, duration or minChargingRate, or
  ``validTo`` not after ``validFrom``; a Recurring profile has no ``recurrencyKind``; or the charge point
  would hold more than ``MaxChargingProfilesInstalled`` profiles.
- A TxProfile without transactionId is for the transaction running on its connector.
- ClearChargingProfile with an ``id`` clears that profile only, whatever the other fields say (6.13: "either
  a specific charging profile ... or a selection"); without one it clears every profile matching all the
  fields given, and without any field every profile. Unknown if nothing matched (7.21).
"""

import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from actors.ocpp import (
    ChargingProfile,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ClearChargingProfileRequest,
    ClearChargingProfileStatus,
)

__all__ = [
    "UNIT_NAMES",
    "Change",
    "InstalledProfile",
    "ProfileLimits",
    "RunningTransaction",
    "clear_charging_profiles",
    "end_transaction",
    "install_for_transaction",
    "remote_start_profile_status",
    "set_charging_profile",
    "well_formed",
]

Purpose = ChargingProfilePurposeType

UNIT_NAMES = {"Current": ChargingRateUnitType.A, "Power": ChargingRateUnitType.W}
"""The items of ChargingScheduleAllowedChargingRateUnit (9.4.2) and the units they allow."""


@attrs.frozen
class InstalledProfile:
    """A charging profile as the charge point holds it: for which connector, and for a TxProfile, which
    transaction (its local id, known before the Central System's transactionId)."""

    connector_id: int
    profile: ChargingProfile
    transaction: int | None = None

    @property
    def id(self) -> int:
        """The chargingProfileId."""
        return self.profile.charging_profile_id

    @property
    def purpose(self) -> ChargingProfilePurposeType:
        """The chargingProfilePurpose."""
        return self.profile.charging_profile_purpose

    @property
    def stack_level(self) -> int:
        """The stackLevel."""
        return self.profile.stack_level


@attrs.frozen
class ProfileLimits:
    """What the charge point accepts (the keys of 9.4)."""

    max_stack_level: int
    max_periods: int
    max_installed: int
    units: frozenset[ChargingRateUnitType]


@attrs.frozen
class RunningTransaction:
    """The transaction running on a connector: its local id, and the Central System's id once known."""

    local_id: int
    transaction_id: int | None


@attrs.frozen
class Change:
    """The outcome of a request: the answer, the profiles installed afterwards, and the ids gone."""

    profiles: tuple[InstalledProfile, ...]
    removed: frozenset[int] = frozenset()
    added: InstalledProfile | None = None
    accepted: bool = True


def well_formed(profile: ChargingProfile, limits: ProfileLimits) -> bool:
    """Whether the charge point can execute ``profile`` at all, whatever it is for (7.8, 7.13, 9.4)."""
    schedule = profile.charging_schedule
    periods = schedule.charging_schedule_period
    starts = [period.start_period for period in periods]
    return (
        profile.stack_level <= limits.max_stack_level
        and len(periods) <= limits.max_periods
        and schedule.charging_rate_unit in limits.units
        and starts[0] == 0
        and all(earlier < later for earlier, later in itertools.pairwise(starts))
        and all(period.limit >= 0 for period in periods)
        and all(period.number_phases is None or 1 <= period.number_phases <= 3 for period in periods)
        and (schedule.duration is None or schedule.duration >= 0)
        and (schedule.min_charging_rate is None or schedule.min_charging_rate >= 0)
        and (profile.valid_from is None or profile.valid_to is None or profile.valid_from < profile.valid_to)
        and (
            profile.charging_profile_kind is not ChargingProfileKindType.RECURRING
            or profile.recurrency_kind is not None
        )
        and (profile.charging_profile_purpose is Purpose.TX_PROFILE or profile.transaction_id is None)
    )


def set_charging_profile(
    installed: Sequence[InstalledProfile],
    connector_id: int,
    profile: ChargingProfile,
    *,
    connectors: int,
    running: RunningTransaction | None,
    limits: ProfileLimits,
    now: datetime,
) -> Change:
    """SetChargingProfile (5.16) for ``connector_id``, whose transaction (if any) is ``running``."""
    rejected = Change(tuple(installed), accepted=False)
    purpose = profile.charging_profile_purpose
    if connector_id > connectors or not well_formed(profile, limits):
        return rejected
    if purpose is Purpose.CHARGE_POINT_MAX_PROFILE and connector_id != 0:
        return rejected
    transaction = None
    if purpose is Purpose.TX_PROFILE:
        if connector_id == 0 or running is None:
            return rejected
        if profile.transaction_id is not None and profile.transaction_id != running.transaction_id:
            return rejected
        transaction = running.local_id
    return _install(installed, InstalledProfile(connector_id, profile, transaction), limits, now)


def remote_start_profile_status(profile: ChargingProfile, limits: ProfileLimits) -> ChargingProfileStatus:
    """Whether a RemoteStartTransaction may carry ``profile`` (5.11, 5.16.2): a TxProfile without
    transactionId that the charge point can execute."""
    if (
        profile.charging_profile_purpose is not Purpose.TX_PROFILE
        or profile.transaction_id is not None
        or not well_formed(profile, limits)
    ):
        return ChargingProfileStatus.REJECTED
    return ChargingProfileStatus.ACCEPTED


def install_for_transaction(
    installed: Sequence[InstalledProfile],
    connector_id: int,
    profile: ChargingProfile,
    local_id: int,
    *,
    limits: ProfileLimits,
    now: datetime,
) -> Change:
    """A RemoteStartTransaction's TxProfile, for the transaction it started (5.16.2)."""
    return _install(installed, InstalledProfile(connector_id, profile, local_id), limits, now)


def _install(
    installed: Sequence[InstalledProfile], new: InstalledProfile, limits: ProfileLimits, now: datetime
) -> Change:
    kept, removed = [], set()
    for old in installed:
        replaced = old.id == new.id or (
            old.connector_id == new.connector_id
            and old.purpose is new.purpose
            and old.stack_level == new.stack_level
        )
        expired = old.profile.valid_to is not None and old.profile.valid_to <= now
        if replaced or expired:
            removed.add(old.id)
        else:
            kept.append(old)
    if len(kept) + 1 > limits.max_installed:
        return Change(tuple(installed), accepted=False)
    return Change((*kept, new), frozenset(removed - {new.id}), new)


def clear_charging_profiles(
    installed: Sequence[InstalledProfile], request: ClearChargingProfileRequest
) -> tuple[ClearChargingProfileStatus, Change]:
    """ClearChargingProfile (5.5, 6.13): the answer and what remains."""
    cleared = [profile for profile in installed if _matches(profile, request)]
    if not cleared:
        return ClearChargingProfileStatus.UNKNOWN, Change(tuple(installed))
    remaining = tuple(profile for profile in installed if not _matches(profile, request))
    return ClearChargingProfileStatus.ACCEPTED, Change(remaining, frozenset(p.id for p in cleared))


def _matches(installed: InstalledProfile, request: ClearChargingProfileRequest) -> bool:
    if request.id is not None:
        return installed.id == request.id
    return (
        (request.connector_id is None or installed.connector_id == request.connector_id)
        and (
            request.charging_profile_purpose is None or installed.purpose is request.charging_profile_purpose
        )
        and (request.stack_level is None or installed.stack_level == request.stack_level)
    )


def end_transaction(installed: Iterable[InstalledProfile], local_id: int) -> Change:
    """A transaction ended: its TxProfiles cease to be valid (7.10) and are forgotten (3.13.1)."""
    profiles = tuple(installed)
    ended = frozenset(
        profile.id
        for profile in profiles
        if profile.purpose is Purpose.TX_PROFILE and profile.transaction == local_id
    )
    return Change(tuple(profile for profile in profiles if profile.id not in ended), ended)
