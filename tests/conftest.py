"""Test settings shared by the whole suite."""

from hypothesis import HealthCheck, settings

# Deterministic and without timing checks, so that a slow shared machine never fails a test by itself.
settings.register_profile(
    "suite",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
settings.load_profile("suite")
