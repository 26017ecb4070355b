"""The configuration keys of a charge point (specification chapter 9): reading and changing them.

Pure code: :class:`Configuration` answers GetConfiguration and decides ChangeConfiguration; the actor persists
an accepted change before it answers, then applies it with :meth:`Configuration.set`.

Keys compare case-insensitively (they are CiStrings) and are reported with the specification's spelling.
Values are kept as the strings OCPP carries; :meth:`Configuration.integer`, :meth:`Configuration.boolean` and
:meth:`Configuration.items` read them typed.
"""

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from types import MappingProxyType
from typing import Any

import attrs

from actors.ocpp import ConfigurationStatus, KeyValue, Measurand, Phase

__all__ = [
    "PHASE_ROTATIONS",
    "Configuration",
    "KeyDefinition",
    "KeyType",
    "core_keys",
    "firmware_management_keys",
    "local_auth_list_keys",
    "reservation_keys",
    "smart_charging_keys",
]


class KeyType(Enum):
    """The value types of chapter 9."""

    BOOLEAN = "boolean"
    INTEGER = "integer"
    CSL = "CSL"  # comma-separated list
    STRING = "string"


@attrs.frozen
class KeyDefinition:
    """One configuration key: its type, whether the Central System may write it, and its allowed values."""

    name: str
    type: KeyType
    writable: bool
    default: str | None
    """The value at first boot; ``None`` means known but not set."""
    minimum: int | None = None
    maximum: int | None = None
    item_allowed: Callable[[str], bool] | None = None
    """For a CSL: whether one item is allowed."""
    max_items_key: str | None = None
    """For a CSL: the key holding its maximum number of items."""
    reboot_required: bool = False
    """A change takes effect only after a reboot."""
    write_only: bool = False
    """A secret: GetConfiguration lists the key without its value."""


PHASE_ROTATIONS = frozenset({"NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR"})
FEATURE_PROFILES = (
    "Core",
    "FirmwareManagement",
    "LocalAuthListManagement",
    "Reservation",
    "SmartCharging",
    "RemoteTrigger",
)
_TRUE, _FALSE = "true", "false"
_DEFAULT: Any = object()
"""What :class:`Configuration` finds for a key whose value was never set: the definition's default."""


class Configuration:
    """The configuration of one charge point: definitions plus current values."""

    __slots__ = ("_definitions", "_values")

    def __init__(self, definitions: Iterable[KeyDefinition], values: Mapping[str, str] | None = None) -> None:
        self._definitions = _by_name(tuple(definitions))
        # Only the values set for this charge point; the others are the definitions' defaults, which every
        # charge point of a fleet shares (a full dict of some 60 keys each was 1.5 KiB per charge point).
        self._values: dict[str, str | None] = {}
        for key, value in (values or {}).items():
            if key.lower() in self._definitions:
                self._values[key.lower()] = value

    def definition(self, key: str) -> KeyDefinition | None:
        """The definition of ``key`` (any case), or ``None`` if this charge point does not know it."""
        return self._definitions.get(key.lower())

    def value(self, key: str) -> str | None:
        """The current value of a known key (``None`` if not set)."""
        name = key.lower()
        value = self._values.get(name, _DEFAULT)
        return self._definitions[name].default if value is _DEFAULT else value

    def integer(self, key: str) -> int:
        """The value of an integer key."""
        return int(self.value(key) or 0)

    def boolean(self, key: str) -> bool:
        """The value of a boolean key."""
        return (self.value(key) or "").lower() == _TRUE

    def items(self, key: str) -> list[str]:
        """The items of a CSL key, without surrounding spaces."""
        return split_csl(self.value(key) or "")

    def get(self, keys: Sequence[str] | None) -> tuple[list[KeyValue], list[str]]:
        """GetConfiguration: the known keys with their values, and the requested keys that are unknown.

        No keys (or an empty list) means all of them.
        """
        if not keys:
            return [self._key_value(definition) for definition in self._definitions.values()], []
        known, unknown = [], []
        for key in keys:
            definition = self.definition(key)
            if definition is None:
                unknown.append(key)
            else:
                known.append(self._key_value(definition))
        return known, unknown

    def _key_value(self, definition: KeyDefinition) -> KeyValue:
        return KeyValue(
            key=definition.name,
            readonly=not definition.writable,
            value=None if definition.write_only else self.value(definition.name),
        )

    def check_change(self, key: str, value: str) -> ConfigurationStatus:
        """ChangeConfiguration's answer for setting ``key`` to ``value`` (spec 5.3); changes nothing."""
        definition = self.definition(key)
        if definition is None:
            return ConfigurationStatus.NOT_SUPPORTED
        if not definition.writable or not self._valid(definition, value):
            return ConfigurationStatus.REJECTED
        if definition.reboot_required:
            return ConfigurationStatus.REBOOT_REQUIRED
        return ConfigurationStatus.ACCEPTED

    def set(self, key: str, value: str) -> str:
        """Store a value that :meth:`check_change` accepted; returns the key's specification spelling."""
        definition = self.definition(key)
        assert definition is not None, f"unknown configuration key {key!r}"
        self._values[definition.name.lower()] = _normalised(definition, value)
        return definition.name

    def _valid(self, definition: KeyDefinition, value: str) -> bool:
        if definition.type is KeyType.BOOLEAN:
            return value.strip().lower() in (_TRUE, _FALSE)
        if definition.type is KeyType.INTEGER:
            return _integer_in_range(value, definition.minimum, definition.maximum)
        if definition.type is KeyType.STRING:  # minimum and maximum are lengths
            return (definition.minimum or 0) <= len(value) <= (definition.maximum or len(value))
        if definition.type is KeyType.CSL:
            items = split_csl(value)
            if definition.max_items_key is not None and len(items) > self.integer(definition.max_items_key):
                return False
            allowed = definition.item_allowed
            return allowed is None or all(allowed(item) for item in items)
        return True


@functools.lru_cache(maxsize=64)
def _by_name(definitions: tuple[KeyDefinition, ...]) -> Mapping[str, KeyDefinition]:
    """Definitions by lower-case name; shared by every configuration with the same definitions."""
    return MappingProxyType({definition.name.lower(): definition for definition in definitions})


def split_csl(value: str) -> list[str]:
    """The items of a comma-separated list, stripped; an empty string is an empty list."""
    return [item.strip() for item in value.split(",") if item.strip()]


def _normalised(definition: KeyDefinition, value: str) -> str:
    if definition.type is KeyType.BOOLEAN:
        return value.strip().lower()
    if definition.type is KeyType.INTEGER:
        return str(int(value.strip()))
    if definition.type is KeyType.CSL:
        return ",".join(split_csl(value))
    return value


def _integer_in_range(value: str, minimum: int | None, maximum: int | None) -> bool:
    text = value.strip()
    if not text.lstrip("+-").isdigit() or not text.isascii():
        return False
    number = int(text)
    return (minimum is None or number >= minimum) and (maximum is None or number <= maximum)


def measurand_item_check(supported: Iterable[Measurand]) -> Callable[[str], bool]:
    """A CSL item check for measurands this hardware supports, optionally with a phase (``Voltage.L1``)."""
    names = frozenset(str(measurand) for measurand in supported)
    phases = frozenset(str(phase) for phase in Phase)

    def allowed(item: str) -> bool:
        if item in names:
            return True
        measurand, _, phase = item.rpartition(".")
        return measurand in names and phase in phases

    return allowed


def phase_rotation_check(number_of_connectors: int) -> Callable[[str], bool]:
    """A CSL item check for ConnectorPhaseRotation: ``<connector>.<rotation>`` or a bare rotation."""

    def allowed(item: str) -> bool:
        connector, _, rotation = item.rpartition(".")
        if not connector:
            return rotation in PHASE_ROTATIONS
        return connector.isdigit() and int(connector) <= number_of_connectors and rotation in PHASE_ROTATIONS

    return allowed


def core_keys(
    number_of_connectors: int,
    supported_measurands: Iterable[Measurand],
    supported_profiles: Iterable[str] = ("Core",),
) -> tuple[KeyDefinition, ...]:
    """The keys of the Core profile (9.1) with this product's defaults (the same objects for the same
    arguments, so that many charge points share them).

    Two keys are this product's own: ``AuthorizationCacheMaxEntries`` (how many idTags the Authorization
    Cache holds before it evicts) and ``TransactionMessageQueueMaxLength`` (how many transaction-related
    messages wait offline before intermediate MeterValues are dropped; StartTransaction and StopTransaction
    never are).
    """
    return _core_keys(number_of_connectors, frozenset(supported_measurands), tuple(supported_profiles))


@functools.lru_cache(maxsize=64)
def _core_keys(
    number_of_connectors: int, supported_measurands: frozenset[Measurand], supported_profiles: tuple[str, ...]
) -> tuple[KeyDefinition, ...]:
    measurands = measurand_item_check(supported_measurands)
    max_measurands = str(len(Measurand) * 2)
    boolean, integer, csl = KeyType.BOOLEAN, KeyType.INTEGER, KeyType.CSL
    return (
        KeyDefinition("AllowOfflineTxForUnknownId", boolean, True, _FALSE),
        KeyDefinition("AuthorizationCacheEnabled", boolean, True, _TRUE),
        KeyDefinition("AuthorizationCacheMaxEntries", integer, True, "1000", minimum=1, maximum=100_000),
        KeyDefinition("AuthorizeRemoteTxRequests", boolean, True, _FALSE),
        KeyDefinition("ClockAlignedDataInterval", integer, True, "0", minimum=0, maximum=86400),
        KeyDefinition("ConnectionTimeout", integer, True, "60", minimum=1, maximum=3600),
        KeyDefinition(
            "ConnectorPhaseRotation",
            csl,
            True,
            ",".join(f"{n}.Unknown" for n in range(1, number_of_connectors + 1)),
            item_allowed=phase_rotation_check(number_of_connectors),
            max_items_key="ConnectorPhaseRotationMaxLength",
        ),
        KeyDefinition("ConnectorPhaseRotationMaxLength", integer, False, str(number_of_connectors + 1)),
        KeyDefinition("GetConfigurationMaxKeys", integer, False, "64"),
        KeyDefinition("HeartbeatInterval", integer, True, "300", minimum=0, maximum=86400 * 7),
        KeyDefinition("LocalAuthorizeOffline", boolean, True, _TRUE),
        KeyDefinition("LocalPreAuthorize", boolean, True, _FALSE),
        KeyDefinition("MaxEnergyOnInvalidId", integer, True, None, minimum=0),
        _measurand_list("MeterValuesAlignedData", "Energy.Active.Import.Register", measurands),
        KeyDefinition("MeterValuesAlignedDataMaxLength", integer, False, max_measurands),
        _measurand_list("MeterValuesSampledData", "Energy.Active.Import.Register", measurands),
        KeyDefinition("MeterValuesSampledDataMaxLength", integer, False, max_measurands),
        KeyDefinition("MeterValueSampleInterval", integer, True, "60", minimum=0, maximum=86400),
        KeyDefinition("MinimumStatusDuration", integer, True, "0", minimum=0, maximum=3600),
        KeyDefinition("NumberOfConnectors", integer, False, str(number_of_connectors)),
        KeyDefinition("ResetRetries", integer, True, "1", minimum=0, maximum=10),
        KeyDefinition("StopTransactionOnEVSideDisconnect", boolean, True, _TRUE),
        KeyDefinition("StopTransactionOnInvalidId", boolean, True, _TRUE),
        _measurand_list("StopTxnAlignedData", "", measurands),
        KeyDefinition("StopTxnAlignedDataMaxLength", integer, False, max_measurands),
        _measurand_list("StopTxnSampledData", "", measurands),
        KeyDefinition("StopTxnSampledDataMaxLength", integer, False, max_measurands),
        KeyDefinition("SupportedFeatureProfiles", csl, False, ",".join(supported_profiles)),
        KeyDefinition("SupportedFeatureProfilesMaxLength", integer, False, str(len(FEATURE_PROFILES))),
        KeyDefinition("TransactionMessageAttempts", integer, True, "3", minimum=1, maximum=100),
        KeyDefinition("TransactionMessageQueueMaxLength", integer, True, "10000", minimum=10, maximum=10**6),
        KeyDefinition("TransactionMessageRetryInterval", integer, True, "60", minimum=0, maximum=86400),
        KeyDefinition("UnlockConnectorOnEVSideDisconnect", boolean, True, _TRUE),
        KeyDefinition("WebSocketPingInterval", integer, True, "60", minimum=0, maximum=86400),
    )


_LOCAL_AUTH_LIST_KEYS = (
    KeyDefinition("LocalAuthListEnabled", KeyType.BOOLEAN, True, _TRUE),
    KeyDefinition("LocalAuthListMaxLength", KeyType.INTEGER, False, "10000"),
    KeyDefinition("SendLocalListMaxLength", KeyType.INTEGER, False, "1000"),
)


_SECURITY_KEYS = (
    KeyDefinition("AuthorizationKey", KeyType.STRING, True, None, minimum=16, maximum=40, write_only=True),
    KeyDefinition("SecurityProfile", KeyType.INTEGER, True, "0", minimum=0, maximum=3),
)


def security_keys() -> tuple[KeyDefinition, ...]:
    """The keys of the OCPP 1.6 Security Extension this product implements: ``AuthorizationKey`` (the
    password of HTTP Basic authentication, 16 to 40 characters, write-only) and ``SecurityProfile`` (0 to 3;
    whether a change is accepted is decided by ``actors.security``)."""
    return _SECURITY_KEYS


_FIRMWARE_MANAGEMENT_KEYS = (
    KeyDefinition("SupportedFileTransferProtocols", KeyType.CSL, False, "FTP,FTPS,HTTP,HTTPS"),
)


def firmware_management_keys() -> tuple[KeyDefinition, ...]:
    """The key chapter 8 names for the Firmware Management profile: ``SupportedFileTransferProtocols``,
    read-only, the protocols ``actors.transfer`` speaks."""
    return _FIRMWARE_MANAGEMENT_KEYS


def local_auth_list_keys() -> tuple[KeyDefinition, ...]:
    """The keys of the Local Auth List Management profile (9.2) with this product's defaults."""
    return _LOCAL_AUTH_LIST_KEYS


_RESERVATION_KEYS = (
    KeyDefinition("ReservationEnabled", KeyType.BOOLEAN, True, _TRUE),
    KeyDefinition("ReserveConnectorZeroSupported", KeyType.BOOLEAN, False, _TRUE),
)


def reservation_keys() -> tuple[KeyDefinition, ...]:
    """The keys of the Reservation profile (9.3) with this product's defaults.

    ``ReservationEnabled`` is this product's own: while false, every ReserveNow is Rejected ("not configured
    to accept reservations", 5.13); reservations already made stay.
    """
    return _RESERVATION_KEYS


_SMART_CHARGING_KEYS = (
    KeyDefinition("ChargeProfileMaxStackLevel", KeyType.INTEGER, False, "10"),
    KeyDefinition("ChargingScheduleAllowedChargingRateUnit", KeyType.CSL, False, "Current,Power"),
    KeyDefinition("ChargingScheduleMaxPeriods", KeyType.INTEGER, False, "48"),
    KeyDefinition("ConnectorSwitch3to1PhaseSupported", KeyType.BOOLEAN, False, _FALSE),
    KeyDefinition("MaxChargingProfilesInstalled", KeyType.INTEGER, False, "32"),
)


def smart_charging_keys() -> tuple[KeyDefinition, ...]:
    """The keys of the Smart Charging profile (9.4), read-only, with this product's values: stack levels 0
    to 10, schedules in A or W of at most 48 periods (a day in half hours), at most 32 profiles installed,
    no switching from 3 phases to 1 during a transaction."""
    return _SMART_CHARGING_KEYS


def _measurand_list(name: str, default: str, allowed: Callable[[str], bool]) -> KeyDefinition:
    return KeyDefinition(
        name, KeyType.CSL, True, default, item_allowed=allowed, max_items_key=f"{name}MaxLength"
    )
