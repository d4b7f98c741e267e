"""The time axis of the dashboard's charts: clock times within a day, days past one."""

import datetime

from hookyard.dashboard.charts import time_labels

START = datetime.datetime(2026, 11, 23, 0, 0)


def test_a_day_or_less_is_labelled_by_clock_time_about_eight_times():
    moments = [START + datetime.timedelta(minutes=15 * n) for n in range(96)]
    labels, shown = time_labels(moments)
    assert labels[:2] == ["00:00", "00:15"]
    assert shown[:2] == ["00:00", "03:00"]
    assert len(shown) == 8


def test_a_week_of_hours_shows_each_day_once_by_name():
    moments = [START + datetime.timedelta(hours=n + 5) for n in range(7 * 24)]
    labels, shown = time_labels(moments)
    assert shown == ["Tue 24 Nov", "Wed 25 Nov", "Thu 26 Nov", "Fri 27 Nov", "Sat 28 Nov", "Sun 29 Nov", "Mon 30 Nov"]
    assert labels[0] == "Mon 23 Nov 05:00"
    assert set(shown) <= set(labels)


def test_a_window_with_no_midnight_in_it_still_shows_some_labels():
    moments = [START + datetime.timedelta(hours=1, minutes=n) for n in range(0, 60 * 30, 60)]
    assert 0 < len(time_labels(moments)[1]) <= 30
