"""What the embedded Central System answers to each charge point CALL: decisions only, no I/O, no clock.

:class:`Answers` takes a request and the current wall-clock time and returns the response. It holds the
Central System's configuration and its one piece of state, the last transaction id handed out, so it is
tested without sockets or time.

====================================  ========================================================================
request                               response
====================================  ========================================================================
BootNotification                      status configured for the charge point (default Accepted); ``interval``
                                      the heartbeat interval if Accepted, else the retry interval
Heartbeat                             the current time
Authorize                             Accepted if the idTag is known (case-insensitive), else Invalid
StartTransaction                      the next transaction id (1, 2, ... for the whole Central System) and the
                                      idTag's status as for Authorize
StopTransaction                       the idTag's status as for Authorize if an idTag came, else none
StatusNotification, MeterValues,      empty
DiagnosticsStatusNotification,
FirmwareStatusNotification
DataTransfer                          the registered handler's answer for the vendorId (case-insensitive),
                                      else UnknownVendorId
====================================  ========================================================================
"""

from collections.abc import Callable, Collection, Mapping
from datetime import datetime

from actors.ocpp import (
    AuthorizationStatus,
    AuthorizeRequest,
    AuthorizeResponse,
    BootNotificationRequest,
    BootNotificationResponse,
    DataTransferRequest,
    DataTransferResponse,
    DataTransferStatus,
    DiagnosticsStatusNotificationRequest,
    DiagnosticsStatusNotificationResponse,
    FirmwareStatusNotificationRequest,
    FirmwareStatusNotificationResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    IdTagInfo,
    MeterValuesRequest,
    MeterValuesResponse,
    RegistrationStatus,
    Request,
    Response,
    StartTransactionRequest,
    StartTransactionResponse,
    StatusNotificationRequest,
    StatusNotificationResponse,
    StopTransactionRequest,
    StopTransactionResponse,
)

__all__ = ["Answers", "DataTransferHandler"]

DataTransferHandler = Callable[[DataTransferRequest], DataTransferResponse]
"""Answers the DataTransfer requests of one vendorId."""


class Answers:
    """The Central System's answers to charge point CALLs.

    ``registration`` maps charge point ids to the BootNotification status they get (everyone else is
    Accepted); ``id_tags`` are the accepted idTags, compared case-insensitively (``None`` accepts all).
    """

    def __init__(
        self,
        *,
        heartbeat_interval: int = 300,
        retry_interval: int = 30,
        registration: Mapping[str, RegistrationStatus] | None = None,
        id_tags: Collection[str] | None = None,
    ) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.retry_interval = retry_interval
        self._registration = dict(registration or {})
        self._id_tags = None if id_tags is None else frozenset(tag.casefold() for tag in id_tags)
        self._data_transfer: dict[str, DataTransferHandler] = {}
        self._last_transaction_id = 0

    def register_data_transfer(self, vendor_id: str, handler: DataTransferHandler) -> None:
        """Let ``handler`` answer the DataTransfer requests of ``vendor_id`` (compared case-insensitively)."""
        self._data_transfer[vendor_id.casefold()] = handler

    def answer(self, charge_point_id: str, request: Request, now: datetime) -> Response:
        """The response to ``request`` from ``charge_point_id``; ``now`` is the wall-clock time."""
        match request:
            case BootNotificationRequest():
                return self._boot(charge_point_id, now)
            case HeartbeatRequest():
                return HeartbeatResponse(current_time=now)
            case AuthorizeRequest():
                return AuthorizeResponse(id_tag_info=self.id_tag_info(request.id_tag))
            case StartTransactionRequest():
                return self._start_transaction(request)
            case StopTransactionRequest():
                info = None if request.id_tag is None else self.id_tag_info(request.id_tag)
                return StopTransactionResponse(id_tag_info=info)
            case DataTransferRequest():
                return self._data_transfer_answer(request)
            case StatusNotificationRequest():
                return StatusNotificationResponse()
            case MeterValuesRequest():
                return MeterValuesResponse()
            case DiagnosticsStatusNotificationRequest():
                return DiagnosticsStatusNotificationResponse()
            case FirmwareStatusNotificationRequest():
                return FirmwareStatusNotificationResponse()
        raise ValueError(f"{request.action} is not a request a charge point sends")

    def registration_status(self, charge_point_id: str) -> RegistrationStatus:
        """The BootNotification status of ``charge_point_id``."""
        return self._registration.get(charge_point_id, RegistrationStatus.ACCEPTED)

    def id_tag_info(self, id_tag: str) -> IdTagInfo:
        """Accepted for a known idTag (all are known without a list), Invalid for others."""
        if self._id_tags is None or id_tag.casefold() in self._id_tags:
            return IdTagInfo(status=AuthorizationStatus.ACCEPTED)
        return IdTagInfo(status=AuthorizationStatus.INVALID)

    def _boot(self, charge_point_id: str, now: datetime) -> BootNotificationResponse:
        status = self.registration_status(charge_point_id)
        interval = self.heartbeat_interval if status is RegistrationStatus.ACCEPTED else self.retry_interval
        return BootNotificationResponse(status=status, current_time=now, interval=interval)

    def _start_transaction(self, request: StartTransactionRequest) -> StartTransactionResponse:
        self._last_transaction_id += 1
        return StartTransactionResponse(
            id_tag_info=self.id_tag_info(request.id_tag), transaction_id=self._last_transaction_id
        )

    def _data_transfer_answer(self, request: DataTransferRequest) -> DataTransferResponse:
        handler = self._data_transfer.get(request.vendor_id.casefold())
        if handler is None:
            return DataTransferResponse(status=DataTransferStatus.UNKNOWN_VENDOR_ID)
        return handler(request)
