"""Configuration keys (specification 9.1) and the ChangeConfiguration rules (5.3), without any I/O."""

import pytest

from actors.charge_point import SUPPORTED_MEASURANDS
from actors.configuration import Configuration, KeyDefinition, KeyType, core_keys
from actors.ocpp import ConfigurationStatus, KeyValue


@pytest.fixture
def configuration() -> Configuration:
    return Configuration(core_keys(2, SUPPORTED_MEASURANDS), {"HeartbeatInterval": "120", "NotAKey": "x"})


def test_initial_values_override_defaults_and_unknown_ones_are_ignored(configuration: Configuration) -> None:
    assert configuration.integer("HeartbeatInterval") == 120
    assert configuration.definition("NotAKey") is None


def test_keys_are_case_insensitive_and_reported_with_the_specification_spelling(
    configuration: Configuration,
) -> None:
    known, unknown = configuration.get(["HEARTBEATINTERVAL", "nope"])
    assert known == [KeyValue(key="HeartbeatInterval", readonly=False, value="120")]
    assert unknown == ["nope"]


def test_a_known_key_without_value_is_reported_without_value(configuration: Configuration) -> None:
    known, _ = configuration.get(["MaxEnergyOnInvalidId"])
    assert known == [KeyValue(key="MaxEnergyOnInvalidId", readonly=False, value=None)]


def test_supported_feature_profiles_lists_only_core_for_now(configuration: Configuration) -> None:
    assert configuration.items("SupportedFeatureProfiles") == ["Core"]


@pytest.mark.parametrize(
    ("key", "value", "status", "stored"),
    [
        ("HeartbeatInterval", " 60 ", ConfigurationStatus.ACCEPTED, "60"),
        ("LocalPreAuthorize", "True", ConfigurationStatus.ACCEPTED, "true"),
        ("StopTxnSampledData", "Power.Offered, Current.Import.L2", ConfigurationStatus.ACCEPTED,
         "Power.Offered,Current.Import.L2"),
        ("StopTxnSampledData", "", ConfigurationStatus.ACCEPTED, ""),
        ("ConnectorPhaseRotation", "0.RST,1.RST,2.RTS", ConfigurationStatus.ACCEPTED, "0.RST,1.RST,2.RTS"),
        ("ConnectorPhaseRotation", "3.RST", ConfigurationStatus.REJECTED, None),
        ("ConnectorPhaseRotation", "0.RST,1.RST,2.RTS,1.TSR", ConfigurationStatus.REJECTED, None),  # max 3
        ("HeartbeatInterval", "٣", ConfigurationStatus.REJECTED, None),  # a digit, but not an ASCII one
        ("HeartbeatInterval", "", ConfigurationStatus.REJECTED, None),
        ("ConnectionTimeout", "0", ConfigurationStatus.REJECTED, None),
        ("SupportedFeatureProfiles", "Core,SmartCharging", ConfigurationStatus.REJECTED, None),
        ("GetConfigurationMaxKeys", "10", ConfigurationStatus.REJECTED, None),
    ],
)  # fmt: skip
def test_change_rules(
    configuration: Configuration, key: str, value: str, status: ConfigurationStatus, stored: str | None
) -> None:
    before = configuration.value(key)
    assert configuration.check_change(key, value) == status
    assert configuration.value(key) == before, "deciding changes nothing"
    if stored is not None:
        configuration.set(key, value)
        assert configuration.value(key) == stored


def test_a_key_that_needs_a_reboot_answers_reboot_required() -> None:
    key = KeyDefinition("SecretSauce", KeyType.STRING, writable=True, default="mild", reboot_required=True)
    configuration = Configuration([key])
    assert configuration.check_change("secretsauce", "hot") == ConfigurationStatus.REBOOT_REQUIRED
