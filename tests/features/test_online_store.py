"""The online store policy: a backfill never regresses values; a corrected rerun lands.

The very same tests run on SQLite and on Redis (``online_backend``, tests/features/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from r2p.features.store import REPO, feature_store, materialize_interval
from r2p.ingest.offline import read_offline
from r2p.ingest.stage import ingest_source
from r2p.intervals import day_interval
from r2p.sample.landing import generate_days
from tests.features.helpers import load_days, online, write_activity

D1, D2 = dt.date(2026, 11, 16), dt.date(2026, 11, 17)


def _profile(cfg, ds) -> dict:
    df = read_offline(cfg, "profile", ds).to_pandas().set_index("customer_id")
    return df.loc[1].to_dict()


def _feast_cli(*args: str, resolved: bool = False) -> subprocess.CompletedProcess[str]:
    """Feast's own CLI on feature_repo/ (``resolved``: through ``python -m r2p.features``,
    which follows the environment's backends)."""
    feast = Path(sys.executable).parent / "feast"
    command = [sys.executable, "-m", "r2p.features"] if resolved else [str(feast), "-c", str(REPO)]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )


def test_backfill_never_regresses_online_values(churn, online_backend) -> None:
    load_days(churn, D2, 1)  # the newer day first
    newer = online(feature_store(), churn, [1])
    assert newer["age"] == [_profile(churn, D2)["age"]]
    load_days(churn, D1, 1)  # then a backfill of the older day
    assert online(feature_store(), churn, [1]) == newer


def test_corrected_rerun_of_an_interval_lands(churn, online_backend) -> None:
    load_days(churn, D1, 1)
    before = online(feature_store(), churn, [1])
    load_days(churn, D1, 1, seed=99)  # the producer re-delivers the day, same timestamps
    after = online(feature_store(), churn, [1])
    assert after != before and after["age"] == [_profile(churn, D1)["age"]]


def test_feast_cli_obeys_the_policy(churn, online_backend) -> None:
    load_days(churn, D1, 2)
    newest = online(feature_store(), churn, [1, 2])
    done = _feast_cli(
        "materialize",
        "2026-11-16T00:00:00",
        "2026-11-16T23:59:59",
        "-v",
        "churn_profile",
        "-v",
        "churn_activity",
        resolved=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert online(feature_store(), churn, [1, 2]) == newest  # the CLI backfill did not regress


def test_feast_cli_plan_and_apply(churn) -> None:
    load_days(churn, D1, 1, materialize=False)
    from r2p.features.store import publish

    for s in churn.source_names:
        publish(churn, s, D1)
    plan = _feast_cli("plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    applied = _feast_cli("apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    services = {fs.name for fs in feature_store().list_feature_services()}
    assert {"churn_mlp_v1", "fleet_mlp_v1"} <= services


def test_materialize_covers_exactly_the_interval(churn) -> None:
    """Snapshots stamped at the next midnight belong to the next day, never to this one."""
    generate_days(churn, D1, 2, entities=20)
    for ds in (D1, D2):
        for s in churn.source_names:
            ingest_source(churn, s, day_interval(ds), "t")
    from r2p.features.store import publish

    for s in churn.source_names:  # the next day is published before this one is materialised
        publish(churn, s, D2)
    materialize_interval(churn, day_interval(D1), "t")
    assert online(feature_store(), churn, [1])["age"] == [_profile(churn, D1)["age"]]


def test_policy_orders_events_within_one_second(churn, online_backend) -> None:
    """Feast keeps whole seconds; the policy still orders 12:00:00.300 before 12:00:00.700."""
    import pandas as pd

    from r2p.features.store import apply_definitions

    store = feature_store()
    apply_definitions(store, churn)
    base = pd.Timestamp("2026-11-16T12:00:00Z")

    def write(offset_ms: int, pages: int) -> None:
        write_activity(store, [(base + pd.Timedelta(milliseconds=offset_ms), pages)])

    write(700, 1)
    write(300, 2)  # older by 400 ms: must not land
    assert online(store, churn, [7])["pages_viewed"] == [1]
    write(700, 3)  # the same event time, corrected: lands
    assert online(store, churn, [7])["pages_viewed"] == [3]
