"""Fleets of simulated OCPP 1.6J charge points: fleet file, supervisor, simulated EVs, report and CLI."""

from importlib.metadata import version

__version__ = version("ocpp-fleet")

__all__ = ["__version__"]
