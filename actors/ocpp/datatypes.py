"""The composite types of OCPP 1.6 (specification section 7) that several messages share."""

from datetime import datetime

import attrs

from actors.ocpp.enums import (
    AuthorizationStatus,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingRateUnitType,
    Location,
    Measurand,
    Phase,
    ReadingContext,
    RecurrencyKindType,
    UnitOfMeasure,
    ValueFormat,
)
from actors.ocpp.fields import (
    max_length,
    non_empty,
    non_negative,
    one_decimal,
    optional,
    optional_ci_string,
    optional_one_decimal,
)


@attrs.frozen
class IdTagInfo:
    """What the Central System says about an idTag (7.27)."""

    status: AuthorizationStatus
    expiry_date: datetime | None = optional()
    parent_id_tag: str | None = optional_ci_string(20)


@attrs.frozen
class AuthorizationData:
    """One entry of a local authorization list update (7.1); no ``id_tag_info`` means delete it."""

    id_tag: str = attrs.field(validator=max_length(20))
    id_tag_info: IdTagInfo | None = optional()


@attrs.frozen
class ChargingSchedulePeriod:
    """A limit that holds from ``start_period`` seconds after the schedule's start (7.14)."""

    start_period: int = attrs.field(validator=non_negative)
    limit: float = attrs.field(validator=one_decimal)
    number_phases: int | None = optional()


@attrs.frozen
class ChargingSchedule:
    """Limits over time (7.13)."""

    charging_rate_unit: ChargingRateUnitType
    charging_schedule_period: tuple[ChargingSchedulePeriod, ...] = attrs.field(validator=non_empty)
    duration: int | None = optional()
    start_schedule: datetime | None = optional()
    min_charging_rate: float | None = optional_one_decimal()


@attrs.frozen
class ChargingProfile:
    """A charging schedule with its purpose, kind and validity (7.8)."""

    charging_profile_id: int
    stack_level: int = attrs.field(validator=non_negative)
    charging_profile_purpose: ChargingProfilePurposeType = attrs.field()
    charging_profile_kind: ChargingProfileKindType = attrs.field()
    charging_schedule: ChargingSchedule = attrs.field()
    transaction_id: int | None = optional()
    recurrency_kind: RecurrencyKindType | None = optional()
    valid_from: datetime | None = optional()
    valid_to: datetime | None = optional()


@attrs.frozen
class SampledValue:
    """One measured value (7.43). Absent optional fields take the specification's defaults."""

    value: str
    context: ReadingContext | None = optional()
    format: ValueFormat | None = optional()
    measurand: Measurand | None = optional()
    phase: Phase | None = optional()
    location: Location | None = optional()
    unit: UnitOfMeasure | None = optional()


@attrs.frozen
class MeterValue:
    """Sampled values taken at one point in time (7.33)."""

    timestamp: datetime
    sampled_value: tuple[SampledValue, ...] = attrs.field(validator=non_empty)


@attrs.frozen
class KeyValue:
    """A configuration key with its value, as returned by GetConfiguration (7.29)."""

    key: str = attrs.field(validator=max_length(50))
    readonly: bool = attrs.field()
    value: str | None = optional_ci_string(500)
