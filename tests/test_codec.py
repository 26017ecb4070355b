"""What the codec does beyond the schemas: date-times, absent vs null, JSON types, and CALLERROR codes."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from actors.ocpp import (
    AuthorizeResponse,
    BootNotificationRequest,
    ChargePointErrorCode,
    ChargePointStatus,
    ChargingRateUnitType,
    ChargingSchedule,
    ChargingSchedulePeriod,
    ErrorCode,
    MeterValuesRequest,
    RemoteProtocolError,
    RemoteStartTransactionRequest,
    StatusNotificationRequest,
    decode,
    encode,
    format_datetime,
    parse_datetime,
)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-21T10:00:00Z", datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2026-11-21T10:00:00z", datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2026-11-21T10:00:00.5Z", datetime(2026, 11, 21, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-21T10:00:00.123456789Z", datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-21T11:30:00+01:30", datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2026-11-21T05:00:00.000-05:00", datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2026-11-21T10:00:00", datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2026-11-21 10:00:00Z", datetime(2026, 11, 21, 10, tzinfo=UTC)),
    ],
)
def test_any_iso8601_date_time_is_accepted_as_utc(text: str, moment: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == moment
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["yesterday", "2026-11-21", "2026-13-01T00:00:00Z", "10:00:00", ""])
def test_what_is_not_a_date_time_is_a_property_constraint_violation(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_datetime(text)
    with pytest.raises(RemoteProtocolError) as raised:
        decode(AuthorizeResponse, {"idTagInfo": {"status": "Accepted", "expiryDate": text}})
    assert raised.value.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 21, 10, tzinfo=UTC), "2026-11-21T10:00:00Z"),
        (datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC), "2026-11-21T10:00:00.123Z"),
        (datetime(2026, 11, 21, 11, tzinfo=timezone(timedelta(hours=1))), "2026-11-21T10:00:00Z"),
    ],
)
def test_date_times_are_sent_in_utc_with_z(moment: datetime, text: str) -> None:
    assert format_datetime(moment) == text


def test_absent_optional_fields_are_left_out_never_null() -> None:
    request = StatusNotificationRequest(
        connector_id=1, error_code=ChargePointErrorCode.NO_ERROR, status=ChargePointStatus.AVAILABLE
    )
    assert encode(request) == {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    assert "null" not in json.dumps(
        encode(BootNotificationRequest(charge_point_vendor="A", charge_point_model="B"))
    )


def test_null_for_an_optional_field_is_read_as_absent() -> None:
    assert decode(RemoteStartTransactionRequest, {"idTag": "T", "connectorId": None}) == (
        RemoteStartTransactionRequest(id_tag="T")
    )


def test_null_for_a_required_field_is_a_type_constraint_violation() -> None:
    with pytest.raises(RemoteProtocolError) as raised:
        decode(RemoteStartTransactionRequest, {"idTag": None})
    assert raised.value.code == ErrorCode.TYPE_CONSTRAINT_VIOLATION


@pytest.mark.parametrize("value", [True, 1.0, "1"])
def test_an_integer_must_be_a_json_integer(value: object) -> None:
    with pytest.raises(RemoteProtocolError) as raised:
        decode(RemoteStartTransactionRequest, {"idTag": "T", "connectorId": value})
    assert raised.value.code == ErrorCode.TYPE_CONSTRAINT_VIOLATION


def test_connector_id_below_zero_is_a_property_constraint_violation() -> None:
    with pytest.raises(RemoteProtocolError) as raised:
        decode(RemoteStartTransactionRequest, {"idTag": "T", "connectorId": -1})
    assert raised.value.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    assert "connectorId" in raised.value.description


def test_a_decimal_limit_accepts_an_integer_and_one_decimal() -> None:
    period = {"startPeriod": 0, "limit": 16}
    schedule = decode_schedule([period, {"startPeriod": 60, "limit": 8.1}])
    assert schedule.charging_schedule_period == (
        ChargingSchedulePeriod(start_period=0, limit=16.0),
        ChargingSchedulePeriod(start_period=60, limit=8.1),
    )


def decode_schedule(periods: list[dict[str, object]]) -> ChargingSchedule:
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": periods},
    }
    request = decode(RemoteStartTransactionRequest, {"idTag": "T", "chargingProfile": profile})
    assert request.charging_profile is not None
    return request.charging_profile.charging_schedule


def test_limit_with_two_decimals_is_a_property_constraint_violation_naming_its_place() -> None:
    with pytest.raises(RemoteProtocolError) as raised:
        decode_schedule([{"startPeriod": 0, "limit": 8.25}])
    assert raised.value.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    assert raised.value.description.startswith(
        "RemoteStartTransaction.chargingProfile.chargingSchedule.chargingSchedulePeriod[0]"
    )


def test_empty_list_where_one_element_is_required_is_an_occurrence_constraint_violation() -> None:
    with pytest.raises(RemoteProtocolError) as raised:
        decode_schedule([])
    assert raised.value.code == ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION


def test_the_error_names_the_element_at_fault() -> None:
    payload = {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": "2026-11-21T10:00:00Z",
                "sampledValue": [{"value": "1"}, {"value": "2", "unit": "parsec"}],
            }
        ],
    }
    with pytest.raises(RemoteProtocolError) as raised:
        decode(MeterValuesRequest, payload)
    assert raised.value.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    assert raised.value.description == (
        "MeterValues.meterValue[0].sampledValue[1].unit: 'parsec' is not a valid UnitOfMeasure"
    )


def test_a_payload_that_is_not_an_object_is_a_formation_violation() -> None:
    with pytest.raises(RemoteProtocolError) as raised:
        decode(AuthorizeResponse, ["idTagInfo"])
    assert raised.value.code == ErrorCode.FORMATION_VIOLATION


def test_decoded_objects_are_immutable_and_enums_compare_to_their_wire_values() -> None:
    response = decode(AuthorizeResponse, {"idTagInfo": {"status": "Blocked"}})
    assert response.id_tag_info.status == "Blocked"
    with pytest.raises(AttributeError):
        response.id_tag_info.status = "Accepted"  # type: ignore[misc]


def test_encoding_a_schedule_keeps_units_and_limits() -> None:
    schedule = ChargingSchedule(
        charging_rate_unit=ChargingRateUnitType.W,
        charging_schedule_period=(ChargingSchedulePeriod(start_period=0, limit=11000.0, number_phases=3),),
        start_schedule=datetime(2026, 11, 21, tzinfo=UTC),
    )
    assert encode(schedule) == {  # type: ignore[arg-type]
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0, "numberPhases": 3}],
        "startSchedule": "2026-11-21T00:00:00Z",
    }
