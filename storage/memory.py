"""Persistent state kept in memory: it survives a simulated reboot, not the end of the process."""

from storage.state import ChargePointState


class MemoryChargePointState:
    """The state of one charge point, in memory."""

    def __init__(self) -> None:
        self._configuration: dict[str, str] = {}

    async def load_configuration(self) -> dict[str, str]:
        """The configuration values changed since the first boot, by key."""
        return dict(self._configuration)

    async def save_configuration(self, key: str, value: str) -> None:
        """Keep a configuration value."""
        self._configuration[key] = value


class MemoryStorage:
    """The state of many charge points, in memory, keyed by charge point id."""

    def __init__(self) -> None:
        self._charge_points: dict[str, MemoryChargePointState] = {}

    def charge_point(self, charge_point_id: str) -> ChargePointState:
        """The state of one charge point, created empty on first use."""
        return self._charge_points.setdefault(charge_point_id, MemoryChargePointState())
