"""Registration with the Central System (specification 4.2), as pure decisions.

After every power-on a charge point must be registered by a BootNotification before it sends anything else.
Accepted: it works normally. Pending: it answers the Central System but sends nothing of its own (and refuses
remote start and stop). Rejected: it neither sends nor answers until the retry interval has passed. A
reconnect without a reboot keeps the registration.
"""

import random

import attrs

from actors.backoff import Backoff
from actors.ocpp import Action, RegistrationStatus


@attrs.define
class Registration:
    """The registration state of one power-on of a charge point."""

    status: RegistrationStatus | None = None
    """The last BootNotification answer since power-on; ``None`` before the first."""

    @property
    def accepted(self) -> bool:
        """Whether the Central System has accepted this charge point since it powered on."""
        return self.status is RegistrationStatus.ACCEPTED

    def answers_calls(self) -> bool:
        """Whether the Central System's CALLs are answered (not while Rejected)."""
        return self.status is not RegistrationStatus.REJECTED

    def allows(self, action: Action) -> bool:
        """Whether a CALL of the Central System may be carried out (Pending refuses remote start and stop)."""
        if self.status is RegistrationStatus.PENDING:
            return action not in (Action.REMOTE_START_TRANSACTION, Action.REMOTE_STOP_TRANSACTION)
        return self.status is RegistrationStatus.ACCEPTED


def boot_retry_delay(interval: int, failures: int, backoff: Backoff, rng: random.Random) -> float:
    """Seconds to wait before the next BootNotification after a Pending or Rejected answer.

    The answer's ``interval`` is the minimum wait; 0 lets the charge point choose (our back-off).
    """
    if interval > 0:
        return float(interval)
    return backoff.delay(failures, rng)
