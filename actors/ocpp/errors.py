"""OCPP-J error codes and the two kinds of protocol error.

The distinction follows h11: a :class:`RemoteProtocolError` means the peer sent something wrong and carries
the CALLERROR code to answer with; a :class:`LocalProtocolError` means we tried to do something wrong (a bug
or a misuse of the API), and is never sent to the peer.

How a bad incoming CALL maps to a CALLERROR code (the most specific code wins):

======================================================  ===============================
what is wrong                                           code
======================================================  ===============================
not JSON, not an array, wrong frame length or types     ``FormationViolation``
payload not a JSON object, or a field it does not know  ``FormationViolation``
unknown action                                          ``NotImplemented``
known action that this side does not handle             ``NotSupported``
required field missing, required list empty             ``OccurenceConstraintViolation``
field of the wrong JSON type (``"5"`` for an integer)   ``TypeConstraintViolation``
unknown enum value, too long a string, number out of    ``PropertyConstraintViolation``
range, more than one decimal, unparseable date-time
======================================================  ===============================
"""

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """The CALLERROR codes of OCPP-J 1.6, spelled as the specification spells them."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"

    @classmethod
    def from_wire(cls, text: str) -> "ErrorCode":
        """Read a received code, accepting the variant spellings other implementations send.

        An unknown code becomes ``GenericError``: the peer reported an error, we just cannot classify it.
        """
        try:
            return cls(text)
        except ValueError:
            return _VARIANT_SPELLINGS.get(text, cls.GENERIC_ERROR)


_VARIANT_SPELLINGS = {
    "OccurrenceConstraintViolation": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "FormatViolation": ErrorCode.FORMATION_VIOLATION,
}


class ConstraintViolation(ValueError):
    """Raised by a payload validator; names the CALLERROR code a received payload would get."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class OcppError(Exception):
    """Base of the protocol errors: an error code, a description and details, as in a CALLERROR."""

    def __init__(self, code: ErrorCode, description: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {description}" if description else str(code))
        self.code = code
        self.description = description
        self.details: dict[str, Any] = details if details is not None else {}


class RemoteProtocolError(OcppError):
    """The peer sent something that breaks the protocol; answer (if at all) with :attr:`code`."""


class LocalProtocolError(OcppError):
    """We tried to do something the protocol forbids; a bug in the caller, never sent to the peer."""
