"""TriggerMessage (spec 5.17), as pure decisions: whether a requested message is sent, and for which
connectors.

The requested message is leading: a connectorId that does not matter to it (BootNotification, Heartbeat,
the firmware and diagnostics status) is ignored. Where it matters, an absent connectorId means every
allowed one: StatusNotification for the charge point (0) and each connector, MeterValues for each connector.
A connectorId the charge point does not have is Rejected.
"""

from actors.ocpp import MessageTrigger, TriggerMessageStatus

__all__ = ["CONNECTOR_MESSAGES", "trigger_status", "triggered_connectors"]

CONNECTOR_MESSAGES = frozenset({MessageTrigger.STATUS_NOTIFICATION, MessageTrigger.METER_VALUES})
"""The requested messages that are about connectors."""


def trigger_status(
    requested: MessageTrigger, connector_id: int | None, connectors: int
) -> TriggerMessageStatus:
    """The answer to TriggerMessage for ``requested`` on ``connector_id`` with ``connectors`` connectors."""
    if requested in CONNECTOR_MESSAGES and connector_id is not None and connector_id > connectors:
        return TriggerMessageStatus.REJECTED
    return TriggerMessageStatus.ACCEPTED


def triggered_connectors(requested: MessageTrigger, connector_id: int | None, connectors: int) -> list[int]:
    """The connectors an accepted trigger sends the message for, in order (0 is the charge point)."""
    if requested not in CONNECTOR_MESSAGES:
        return []
    if connector_id is not None:
        return [connector_id]
    first = 0 if requested is MessageTrigger.STATUS_NOTIFICATION else 1
    return list(range(first, connectors + 1))
