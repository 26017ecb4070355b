"""How long to wait before reconnecting: exponential back-off with random jitter, capped.

Jitter keeps a fleet that lost its Central System at once from reconnecting in lock-step: the n-th wait is
drawn uniformly from the upper half of ``min(maximum, initial * 2**n)``.
"""

import random

import attrs


@attrs.frozen
class Backoff:
    """Back-off policy: ``initial`` seconds doubling per failed attempt up to ``maximum``."""

    initial: float = 1.0
    maximum: float = 300.0

    def ceiling(self, failures: int) -> float:
        """The longest wait after ``failures`` failed attempts in a row (0 = the first failure)."""
        return min(self.maximum, self.initial * 2.0 ** min(failures, 64))

    def delay(self, failures: int, rng: random.Random) -> float:
        """A wait between half the ceiling and the ceiling."""
        ceiling = self.ceiling(failures)
        delay: float = rng.uniform(ceiling / 2, ceiling)
        return delay
