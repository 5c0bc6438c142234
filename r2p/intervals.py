"""Data intervals: every data task works on the partition of its run's interval."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from r2p.errors import IntervalError

HOW_TO_TRIGGER = (
    "trigger it with a logical date, e.g. `airflow dags test {dag} 2026-11-25` or a REST "
    'POST with {{"logical_date": "2026-11-25T00:00:00Z"}}'
)


@dataclass(frozen=True)
class Interval:
    """A half-open UTC interval [start, end); its partition is the UTC date of ``start``."""

    start: dt.datetime
    end: dt.datetime

    @property
    def ds(self) -> dt.date:
        """The partition date: the UTC date of the interval's start."""
        return self.start.astimezone(dt.UTC).date()

    def contains(self, ts: dt.datetime) -> bool:
        return self.start <= ts < self.end

    def as_json(self) -> dict[str, str]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "ds": self.ds.isoformat(),
        }


def _aware(value: object, name: str, dag: str) -> dt.datetime:
    if value is None:
        raise IntervalError(
            f"{dag}: the run has no data interval ({name} is missing); "
            + HOW_TO_TRIGGER.format(dag=dag)
        )
    if not isinstance(value, dt.datetime):
        raise IntervalError(f"{dag}: {name} is not a datetime: {value!r}")
    if value.tzinfo is None:
        raise IntervalError(f"{dag}: {name} {value.isoformat()} has no time zone")
    return dt.datetime.fromtimestamp(value.timestamp(), dt.UTC)


def interval_of(start: object, end: object, dag: str = "this DAG") -> Interval:
    """The run's interval, refusing a missing, zero-width or reversed one with a clear message."""
    s, e = _aware(start, "data_interval_start", dag), _aware(end, "data_interval_end", dag)
    if e <= s:
        raise IntervalError(
            f"{dag}: zero-width or reversed data interval [{s.isoformat()}, {e.isoformat()}): "
            "the data DAG needs a daily interval (CronDataIntervalTimetable); "
            + HOW_TO_TRIGGER.format(dag=dag)
        )
    return Interval(s, e)


def day_interval(day: dt.date) -> Interval:
    """The daily interval whose partition is ``day`` (what a scheduled run of that day has)."""
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    return Interval(start, start + dt.timedelta(days=1))
