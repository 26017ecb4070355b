"""The payloads of all 28 OCPP 1.6 actions: one request and one response class per action (section 6).

Class names follow the official JSON schema files (``Authorize.json`` → :class:`AuthorizeRequest`,
``AuthorizeResponse.json`` → :class:`AuthorizeResponse`); fields are the schema's camelCase names in
snake_case. Every class knows its :class:`Action`. :data:`REQUESTS` and :data:`RESPONSES` map each action to
its classes, and :data:`CENTRAL_SYSTEM_INITIATED` / :data:`CHARGE_POINT_INITIATED` tell who sends which.
"""

from datetime import datetime
from typing import ClassVar

import attrs

from actors.ocpp.datatypes import (
    AuthorizationData,
    ChargingProfile,
    ChargingSchedule,
    IdTagInfo,
    KeyValue,
    MeterValue,
)
from actors.ocpp.enums import (
    Action,
    AvailabilityStatus,
    AvailabilityType,
    CancelReservationStatus,
    ChargePointErrorCode,
    ChargePointStatus,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ClearCacheStatus,
    ClearChargingProfileStatus,
    ConfigurationStatus,
    DataTransferStatus,
    DiagnosticsStatus,
    FirmwareStatus,
    GetCompositeScheduleStatus,
    MessageTrigger,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    ReservationStatus,
    ResetStatus,
    ResetType,
    TriggerMessageStatus,
    UnlockStatus,
    UpdateStatus,
    UpdateType,
)
from actors.ocpp.errors import ConstraintViolation, ErrorCode
from actors.ocpp.fields import (
    max_length,
    non_empty,
    non_negative,
    optional,
    optional_ci_string,
    optional_connector_id,
)


@attrs.frozen
class Payload:
    """Base of every payload class."""

    action: ClassVar[Action]


class Request(Payload):
    """The payload of a CALL."""


class Response(Payload):
    """The payload of a CALLRESULT."""


# --- Authorize (4.1) ---------------------------------------------------------------------------------


@attrs.frozen
class AuthorizeRequest(Request):
    action = Action.AUTHORIZE
    id_tag: str = attrs.field(validator=max_length(20))


@attrs.frozen
class AuthorizeResponse(Response):
    action = Action.AUTHORIZE
    id_tag_info: IdTagInfo


# --- BootNotification (4.2) --------------------------------------------------------------------------


@attrs.frozen
class BootNotificationRequest(Request):
    action = Action.BOOT_NOTIFICATION
    charge_point_vendor: str = attrs.field(validator=max_length(20))
    charge_point_model: str = attrs.field(validator=max_length(20))
    charge_point_serial_number: str | None = optional_ci_string(25)
    charge_box_serial_number: str | None = optional_ci_string(25)
    firmware_version: str | None = optional_ci_string(50)
    iccid: str | None = optional_ci_string(20)
    imsi: str | None = optional_ci_string(20)
    meter_type: str | None = optional_ci_string(25)
    meter_serial_number: str | None = optional_ci_string(25)


@attrs.frozen
class BootNotificationResponse(Response):
    action = Action.BOOT_NOTIFICATION
    status: RegistrationStatus
    current_time: datetime
    interval: int


# --- CancelReservation (5.1) -------------------------------------------------------------------------


@attrs.frozen
class CancelReservationRequest(Request):
    action = Action.CANCEL_RESERVATION
    reservation_id: int


@attrs.frozen
class CancelReservationResponse(Response):
    action = Action.CANCEL_RESERVATION
    status: CancelReservationStatus


# --- ChangeAvailability (5.2) ------------------------------------------------------------------------


@attrs.frozen
class ChangeAvailabilityRequest(Request):
    action = Action.CHANGE_AVAILABILITY
    connector_id: int = attrs.field(validator=non_negative)
    type: AvailabilityType = attrs.field()


@attrs.frozen
class ChangeAvailabilityResponse(Response):
    action = Action.CHANGE_AVAILABILITY
    status: AvailabilityStatus


# --- ChangeConfiguration (5.3) -----------------------------------------------------------------------


@attrs.frozen
class ChangeConfigurationRequest(Request):
    action = Action.CHANGE_CONFIGURATION
    key: str = attrs.field(validator=max_length(50))
    value: str = attrs.field(validator=max_length(500))


@attrs.frozen
class ChangeConfigurationResponse(Response):
    action = Action.CHANGE_CONFIGURATION
    status: ConfigurationStatus


# --- ClearCache (5.4) --------------------------------------------------------------------------------


@attrs.frozen
class ClearCacheRequest(Request):
    action = Action.CLEAR_CACHE


@attrs.frozen
class ClearCacheResponse(Response):
    action = Action.CLEAR_CACHE
    status: ClearCacheStatus


# --- ClearChargingProfile (5.5) ----------------------------------------------------------------------


@attrs.frozen
class ClearChargingProfileRequest(Request):
    action = Action.CLEAR_CHARGING_PROFILE
    id: int | None = optional()
    connector_id: int | None = optional_connector_id()
    charging_profile_purpose: ChargingProfilePurposeType | None = optional()
    stack_level: int | None = optional()


@attrs.frozen
class ClearChargingProfileResponse(Response):
    action = Action.CLEAR_CHARGING_PROFILE
    status: ClearChargingProfileStatus


# --- DataTransfer (4.3, 5.6) -------------------------------------------------------------------------


@attrs.frozen
class DataTransferRequest(Request):
    action = Action.DATA_TRANSFER
    vendor_id: str = attrs.field(validator=max_length(255))
    message_id: str | None = optional_ci_string(50)
    data: str | None = optional()


@attrs.frozen
class DataTransferResponse(Response):
    action = Action.DATA_TRANSFER
    status: DataTransferStatus
    data: str | None = optional()


# --- DiagnosticsStatusNotification (4.4) -------------------------------------------------------------


@attrs.frozen
class DiagnosticsStatusNotificationRequest(Request):
    action = Action.DIAGNOSTICS_STATUS_NOTIFICATION
    status: DiagnosticsStatus


@attrs.frozen
class DiagnosticsStatusNotificationResponse(Response):
    action = Action.DIAGNOSTICS_STATUS_NOTIFICATION


# --- FirmwareStatusNotification (4.5) ----------------------------------------------------------------


@attrs.frozen
class FirmwareStatusNotificationRequest(Request):
    action = Action.FIRMWARE_STATUS_NOTIFICATION
    status: FirmwareStatus


@attrs.frozen
class FirmwareStatusNotificationResponse(Response):
    action = Action.FIRMWARE_STATUS_NOTIFICATION


# --- GetCompositeSchedule (5.7) ----------------------------------------------------------------------


@attrs.frozen
class GetCompositeScheduleRequest(Request):
    action = Action.GET_COMPOSITE_SCHEDULE
    connector_id: int = attrs.field(validator=non_negative)
    duration: int = attrs.field()
    charging_rate_unit: ChargingRateUnitType | None = optional()


@attrs.frozen
class GetCompositeScheduleResponse(Response):
    action = Action.GET_COMPOSITE_SCHEDULE
    status: GetCompositeScheduleStatus
    connector_id: int | None = optional_connector_id()
    schedule_start: datetime | None = optional()
    charging_schedule: ChargingSchedule | None = optional()


# --- GetConfiguration (5.8) --------------------------------------------------------------------------


@attrs.frozen
class GetConfigurationRequest(Request):
    action = Action.GET_CONFIGURATION
    key: tuple[str, ...] | None = optional()

    @key.validator
    def _check_key_lengths(self, _attribute: "attrs.Attribute[object]", keys: tuple[str, ...] | None) -> None:
        _check_keys(keys)


@attrs.frozen
class GetConfigurationResponse(Response):
    action = Action.GET_CONFIGURATION
    configuration_key: tuple[KeyValue, ...] | None = optional()
    unknown_key: tuple[str, ...] | None = optional()

    @unknown_key.validator
    def _check_key_lengths(self, _attribute: "attrs.Attribute[object]", keys: tuple[str, ...] | None) -> None:
        _check_keys(keys)


def _check_keys(keys: tuple[str, ...] | None) -> None:
    for key in keys or ():
        if len(key) > 50:
            raise ConstraintViolation(
                ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                f"key is {len(key)} characters long, at most 50 allowed",
            )


# --- GetDiagnostics (5.9) ----------------------------------------------------------------------------


@attrs.frozen
class GetDiagnosticsRequest(Request):
    action = Action.GET_DIAGNOSTICS
    location: str
    retries: int | None = optional()
    retry_interval: int | None = optional()
    start_time: datetime | None = optional()
    stop_time: datetime | None = optional()


@attrs.frozen
class GetDiagnosticsResponse(Response):
    action = Action.GET_DIAGNOSTICS
    file_name: str | None = optional_ci_string(255)


# --- GetLocalListVersion (5.10) ----------------------------------------------------------------------


@attrs.frozen
class GetLocalListVersionRequest(Request):
    action = Action.GET_LOCAL_LIST_VERSION


@attrs.frozen
class GetLocalListVersionResponse(Response):
    action = Action.GET_LOCAL_LIST_VERSION
    list_version: int


# --- Heartbeat (4.6) ---------------------------------------------------------------------------------


@attrs.frozen
class HeartbeatRequest(Request):
    action = Action.HEARTBEAT


@attrs.frozen
class HeartbeatResponse(Response):
    action = Action.HEARTBEAT
    current_time: datetime


# --- MeterValues (4.7) -------------------------------------------------------------------------------


@attrs.frozen
class MeterValuesRequest(Request):
    action = Action.METER_VALUES
    connector_id: int = attrs.field(validator=non_negative)
    meter_value: tuple[MeterValue, ...] = attrs.field(validator=non_empty)
    transaction_id: int | None = optional()


@attrs.frozen
class MeterValuesResponse(Response):
    action = Action.METER_VALUES


# --- RemoteStartTransaction (5.11) -------------------------------------------------------------------


@attrs.frozen
class RemoteStartTransactionRequest(Request):
    action = Action.REMOTE_START_TRANSACTION
    id_tag: str = attrs.field(validator=max_length(20))
    connector_id: int | None = optional_connector_id()
    charging_profile: ChargingProfile | None = optional()


@attrs.frozen
class RemoteStartTransactionResponse(Response):
    action = Action.REMOTE_START_TRANSACTION
    status: RemoteStartStopStatus


# --- RemoteStopTransaction (5.12) --------------------------------------------------------------------


@attrs.frozen
class RemoteStopTransactionRequest(Request):
    action = Action.REMOTE_STOP_TRANSACTION
    transaction_id: int


@attrs.frozen
class RemoteStopTransactionResponse(Response):
    action = Action.REMOTE_STOP_TRANSACTION
    status: RemoteStartStopStatus


# --- ReserveNow (5.13) -------------------------------------------------------------------------------


@attrs.frozen
class ReserveNowRequest(Request):
    action = Action.RESERVE_NOW
    connector_id: int = attrs.field(validator=non_negative)
    expiry_date: datetime = attrs.field()
    id_tag: str = attrs.field(validator=max_length(20))
    reservation_id: int = attrs.field()
    parent_id_tag: str | None = optional_ci_string(20)


@attrs.frozen
class ReserveNowResponse(Response):
    action = Action.RESERVE_NOW
    status: ReservationStatus


# --- Reset (5.14) ------------------------------------------------------------------------------------


@attrs.frozen
class ResetRequest(Request):
    action = Action.RESET
    type: ResetType


@attrs.frozen
class ResetResponse(Response):
    action = Action.RESET
    status: ResetStatus


# --- SendLocalList (5.15) ----------------------------------------------------------------------------


@attrs.frozen
class SendLocalListRequest(Request):
    action = Action.SEND_LOCAL_LIST
    list_version: int
    update_type: UpdateType
    local_authorization_list: tuple[AuthorizationData, ...] | None = optional()


@attrs.frozen
class SendLocalListResponse(Response):
    action = Action.SEND_LOCAL_LIST
    status: UpdateStatus


# --- SetChargingProfile (5.16) -----------------------------------------------------------------------


@attrs.frozen
class SetChargingProfileRequest(Request):
    action = Action.SET_CHARGING_PROFILE
    connector_id: int = attrs.field(validator=non_negative)
    cs_charging_profiles: ChargingProfile = attrs.field()


@attrs.frozen
class SetChargingProfileResponse(Response):
    action = Action.SET_CHARGING_PROFILE
    status: ChargingProfileStatus


# --- StartTransaction (4.8) --------------------------------------------------------------------------


@attrs.frozen
class StartTransactionRequest(Request):
    action = Action.START_TRANSACTION
    connector_id: int = attrs.field(validator=non_negative)
    id_tag: str = attrs.field(validator=max_length(20))
    meter_start: int = attrs.field()
    timestamp: datetime = attrs.field()
    reservation_id: int | None = optional()


@attrs.frozen
class StartTransactionResponse(Response):
    action = Action.START_TRANSACTION
    id_tag_info: IdTagInfo
    transaction_id: int


# --- StatusNotification (4.9) ------------------------------------------------------------------------


@attrs.frozen
class StatusNotificationRequest(Request):
    action = Action.STATUS_NOTIFICATION
    connector_id: int = attrs.field(validator=non_negative)
    error_code: ChargePointErrorCode = attrs.field()
    status: ChargePointStatus = attrs.field()
    info: str | None = optional_ci_string(50)
    timestamp: datetime | None = optional()
    vendor_id: str | None = optional_ci_string(255)
    vendor_error_code: str | None = optional_ci_string(50)


@attrs.frozen
class StatusNotificationResponse(Response):
    action = Action.STATUS_NOTIFICATION


# --- StopTransaction (4.10) --------------------------------------------------------------------------


@attrs.frozen
class StopTransactionRequest(Request):
    action = Action.STOP_TRANSACTION
    meter_stop: int
    timestamp: datetime
    transaction_id: int
    id_tag: str | None = optional_ci_string(20)
    reason: Reason | None = optional()
    transaction_data: tuple[MeterValue, ...] | None = optional()


@attrs.frozen
class StopTransactionResponse(Response):
    action = Action.STOP_TRANSACTION
    id_tag_info: IdTagInfo | None = optional()


# --- TriggerMessage (5.17) ---------------------------------------------------------------------------


@attrs.frozen
class TriggerMessageRequest(Request):
    action = Action.TRIGGER_MESSAGE
    requested_message: MessageTrigger
    connector_id: int | None = optional_connector_id()


@attrs.frozen
class TriggerMessageResponse(Response):
    action = Action.TRIGGER_MESSAGE
    status: TriggerMessageStatus


# --- UnlockConnector (5.18) --------------------------------------------------------------------------


@attrs.frozen
class UnlockConnectorRequest(Request):
    action = Action.UNLOCK_CONNECTOR
    connector_id: int = attrs.field(validator=non_negative)


@attrs.frozen
class UnlockConnectorResponse(Response):
    action = Action.UNLOCK_CONNECTOR
    status: UnlockStatus


# --- UpdateFirmware (5.19) ---------------------------------------------------------------------------


@attrs.frozen
class UpdateFirmwareRequest(Request):
    action = Action.UPDATE_FIRMWARE
    location: str
    retrieve_date: datetime
    retries: int | None = optional()
    retry_interval: int | None = optional()


@attrs.frozen
class UpdateFirmwareResponse(Response):
    action = Action.UPDATE_FIRMWARE


REQUESTS: dict[Action, type[Request]] = {cls.action: cls for cls in Request.__subclasses__()}
"""The request class of each action."""

RESPONSES: dict[Action, type[Response]] = {cls.action: cls for cls in Response.__subclasses__()}
"""The response class of each action."""

CHARGE_POINT_INITIATED: frozenset[Action] = frozenset(
    {
        Action.AUTHORIZE,
        Action.BOOT_NOTIFICATION,
        Action.DATA_TRANSFER,
        Action.DIAGNOSTICS_STATUS_NOTIFICATION,
        Action.FIRMWARE_STATUS_NOTIFICATION,
        Action.HEARTBEAT,
        Action.METER_VALUES,
        Action.START_TRANSACTION,
        Action.STATUS_NOTIFICATION,
        Action.STOP_TRANSACTION,
    }
)
"""Actions whose CALL the charge point sends."""

CENTRAL_SYSTEM_INITIATED: frozenset[Action] = frozenset(
    set(Action) - CHARGE_POINT_INITIATED | {Action.DATA_TRANSFER}
)
"""Actions whose CALL the Central System sends (DataTransfer goes both ways)."""
