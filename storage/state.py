"""What a charge point keeps across reboots, as an interface the actors use.

``storage.memory`` implements it in memory (state survives a simulated reboot within one process);
the SQLite implementation keeps it on disk.
"""

from typing import Protocol


class ChargePointState(Protocol):
    """The persistent state of one charge point. Every write returns only once it is durable."""

    async def load_configuration(self) -> dict[str, str]:
        """The configuration values changed since the first boot, by key."""
        ...

    async def save_configuration(self, key: str, value: str) -> None:
        """Keep a configuration value."""
        ...
