"""Retention's pure parts: the RETENTION_* variables, and an organization's setting over the default."""

import datetime

import pytest

from hookyard.core.config import Config
from hookyard.ops.retention import FOREVER, cutoff, effective_days

DEFAULTS = {
    "signal_payload_days": 90,
    "flow_event_payload_days": 90,
    "delivery_history_days": 90,
    "activity_days": None,
}


def test_the_defaults_keep_payloads_and_delivery_history_90_days_and_activities_for_ever():
    config = Config.from_env({})
    assert (config.retention_signal_payload_days, config.retention_flow_event_payload_days) == (90, 90)
    assert (config.retention_delivery_history_days, config.retention_activity_days) == (90, None)
    assert config.retention_purge_interval == 3600


def test_days_and_forever_are_read_from_the_environment():
    config = Config.from_env(
        {
            "RETENTION_SIGNAL_PAYLOAD_DAYS": "30",
            "RETENTION_DELIVERY_HISTORY_DAYS": "Forever",
            "RETENTION_ACTIVITY_DAYS": "365",
        }
    )
    assert (config.retention_signal_payload_days, config.retention_delivery_history_days) == (30, None)
    assert config.retention_activity_days == 365


def test_an_empty_variable_counts_as_unset():
    assert Config.from_env({"RETENTION_SIGNAL_PAYLOAD_DAYS": ""}).retention_signal_payload_days == 90


@pytest.mark.parametrize("value", ["0", "-1", "36501", "ten", "1.5", "never"])
def test_a_bad_number_of_days_stops_the_process_naming_the_variable(value):
    with pytest.raises(ValueError, match=r"RETENTION_ACTIVITY_DAYS: must be whole days from 1 to 36500, or forever"):
        Config.from_env({"RETENTION_ACTIVITY_DAYS": value})


@pytest.mark.parametrize("value", ["0", "-5", "hourly"])
def test_the_purge_interval_must_be_a_positive_number_of_seconds(value):
    with pytest.raises(ValueError, match="RETENTION_PURGE_INTERVAL: must be whole seconds, at least 1"):
        Config.from_env({"RETENTION_PURGE_INTERVAL": value})


def test_a_setting_the_organization_left_unset_follows_the_default():
    assert effective_days({}, DEFAULTS) == DEFAULTS
    assert effective_days(dict.fromkeys(DEFAULTS), DEFAULTS) == DEFAULTS


def test_the_organizations_own_days_and_for_ever_win_over_the_default():
    stored = {"signal_payload_days": 7, "delivery_history_days": FOREVER, "activity_days": 30}
    assert effective_days(stored, DEFAULTS) == {
        "signal_payload_days": 7,
        "flow_event_payload_days": 90,
        "delivery_history_days": None,
        "activity_days": 30,
    }


def test_the_cutoff_is_that_many_days_back_and_none_for_ever():
    now = datetime.datetime(2026, 12, 1, 12, 0)
    assert cutoff(now, 90) == datetime.datetime(2026, 9, 2, 12, 0)
    assert cutoff(now, None) is None
