"""A deferrable sensor that waits for a landing partition's contract until its deadline.

Late data is not bad data: the sensor defers to a trigger (no worker slot held) and fails
only at the deadline (interval end + ``landing.deadline_hours``), naming what is missing.
A source that is not due on the partition's day (by its cadence) is skipped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from r2p.orchestration.context import interval_from_context


def _exists(uri: str) -> bool:
    from r2p import storage

    return storage.path(uri).exists()


class LandingContractTrigger(BaseTrigger):
    """Polls for one contract file until it exists or the deadline passes (in the triggerer)."""

    def __init__(self, uri: str, deadline: str, poke_interval: float) -> None:
        super().__init__()
        self.uri, self.deadline, self.poke_interval = uri, deadline, poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"uri": self.uri, "deadline": self.deadline, "poke_interval": self.poke_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = dt.datetime.fromisoformat(self.deadline)
        while True:
            if await asyncio.to_thread(_exists, self.uri):
                yield TriggerEvent({"status": "present", "uri": self.uri})
                return
            left = (deadline - dt.datetime.now(dt.UTC)).total_seconds()
            if left <= 0:
                yield TriggerEvent({"status": "late", "uri": self.uri})
                return
            await asyncio.sleep(min(self.poke_interval, left))


class LandingSensor(BaseOperator):
    """Wait for ``source``'s landing contract for the run's partition (deferrable)."""

    ui_color = "#e8f4ff"

    def __init__(self, *, pipeline: str, source: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline, self.source = pipeline, source

    def _target(self, context: Any) -> tuple[str, dt.datetime, Any, Any]:
        from r2p import storage
        from r2p.errors import DataError
        from r2p.ingest.contract import contract_path, is_due
        from r2p.orchestration.tasks import run_config

        try:
            interval = interval_from_context(context)
        except DataError as exc:
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
        cfg, _ = run_config(self.pipeline, context)  # the run's snapshot, as every task
        if not is_due(cfg, self.source, interval.ds):
            raise AirflowSkipException(
                f"{self.source} is not due on {interval.ds} (cadence "
                f"{cfg.source(self.source).cadence}); nothing to wait for"
            )
        deadline = interval.end + dt.timedelta(hours=cfg.landing.deadline_hours)
        uri = storage.uri_of(contract_path(cfg, self.source, interval.ds))
        return uri, deadline, cfg, interval

    def execute(self, context: Any) -> dict[str, str]:
        uri, deadline, cfg, _ = self._target(context)
        if _exists(uri):
            return {"contract_uri": uri}
        if dt.datetime.now(dt.UTC) >= deadline:
            self._late(uri, deadline, cfg)
        self.log.info("waiting for %s until %s", uri, deadline.isoformat())
        self.defer(
            trigger=LandingContractTrigger(
                uri, deadline.isoformat(), float(cfg.landing.poke_interval_seconds)
            ),
            method_name="execute_complete",
        )
        raise AssertionError("defer() returns only by raising")  # pragma: no cover

    def execute_complete(self, context: Any, event: dict[str, str]) -> dict[str, str]:
        if event["status"] == "present":
            return {"contract_uri": event["uri"]}
        uri, deadline, cfg, _ = self._target(context)
        self._late(uri, deadline, cfg)
        raise AssertionError("_late() returns only by raising")  # pragma: no cover

    def _late(self, uri: str, deadline: dt.datetime, cfg: Any) -> None:
        """Fail at once (a data problem: no retry), with LandingLate as the cause alerts read."""
        from r2p.errors import LandingLate

        message = self._late_message(uri, deadline, cfg)
        raise AirflowFailException(f"LandingLate: {message}") from LandingLate(message)

    def _late_message(self, uri: str, deadline: dt.datetime, cfg: Any) -> str:
        from r2p import storage
        from r2p.ingest.contract import data_files

        part = storage.path(uri).parent
        present = [p.name for p in data_files(part)]
        seen = (
            f"files present without it: {present}"
            if present
            else "the partition is empty or absent"
        )
        return (
            f"landing data late: {cfg.dataset.name}/{self.source} has no {storage.path(uri).name} "
            f"at {uri} by its deadline {deadline.isoformat()} (interval end + "
            f"{cfg.landing.deadline_hours}h); {seen}"
        )
