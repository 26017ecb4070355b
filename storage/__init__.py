"""The persistent state of charge points: what a real charge point keeps in flash.

Nothing here imports the other packages of this project.
"""

from storage.memory import MemoryStorage
from storage.state import ChargePointState

__all__ = ["ChargePointState", "MemoryStorage"]
