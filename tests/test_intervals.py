"""Intervals: the partition is the UTC date of the start; missing or zero-width is refused."""

from __future__ import annotations

import datetime as dt

import pytest

from r2p.errors import DataError, IntervalError
from r2p.intervals import day_interval, interval_of

UTC = dt.UTC
START = dt.datetime(2026, 11, 23, tzinfo=UTC)


def test_partition_is_the_utc_date_of_the_start() -> None:
    iv = interval_of(START, START + dt.timedelta(days=1), "churn_data")
    assert iv.ds == dt.date(2026, 11, 23) and iv == day_interval(dt.date(2026, 11, 23))
    plus9 = dt.timezone(dt.timedelta(hours=9))
    shifted = interval_of(
        dt.datetime(2026, 11, 24, 8, tzinfo=plus9), dt.datetime(2026, 11, 25, 8, tzinfo=plus9)
    )
    assert shifted.ds == dt.date(2026, 11, 23)  # 08:00 +09:00 is 23:00 UTC the day before
    assert iv.contains(START) and not iv.contains(START + dt.timedelta(days=1))


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        pytest.param(START, START, "zero-width or reversed data interval", id="zero-width"),
        pytest.param(START, START - dt.timedelta(hours=1), "zero-width or reversed", id="reversed"),
        pytest.param(
            None, None, "has no data interval (data_interval_start is missing)", id="no-interval"
        ),
        pytest.param(START, None, "data_interval_end is missing", id="no-end"),
        pytest.param(dt.datetime(2026, 11, 23), START, "has no time zone", id="naive"),
        pytest.param("2026-11-23", START, "is not a datetime", id="string"),
    ],
)
def test_unusable_intervals_are_refused(start, end, message) -> None:
    with pytest.raises(IntervalError) as err:
        interval_of(start, end, "churn_data")
    assert message in str(err.value) and "churn_data" in str(err.value)
    assert isinstance(err.value, DataError)  # a data problem: never retried


def test_refusal_says_how_to_trigger() -> None:
    with pytest.raises(IntervalError, match="trigger it with a logical date"):
        interval_of(START, START, "churn_data")
