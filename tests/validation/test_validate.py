"""Great Expectations: suites from config, results and Data Docs per run, failures named."""

from __future__ import annotations

import datetime as dt

import pytest

from r2p import storage
from r2p.config import load_all
from r2p.config.schema import Expectation
from r2p.errors import DataError, ValidationFailed
from r2p.ingest.stage import ingest_source
from r2p.intervals import day_interval
from r2p.sample.landing import generate_days
from r2p.validation.stage import validate_partition
from r2p.validation.suite import build_expectations, expectation_class
from tests.ingest.helpers import DAY, INTERVAL


def _land_and_ingest(cfg, day=DAY):
    generate_days(cfg, day, 1, entities=60)
    for s in cfg.source_names:
        ingest_source(cfg, s, day_interval(day), "r1")


@pytest.mark.parametrize("cfg", load_all(), ids=lambda c: c.pipeline)
def test_every_configured_expectation_exists(cfg) -> None:
    for exp in cfg.expectations:
        expectation_class(exp.type)
    for source in cfg.source_names:
        kinds = {type(e).__name__ for e in build_expectations(cfg, source)}
        assert {"ExpectTableColumnsToMatchSet", "ExpectCompoundColumnsToBeUnique"} <= kinds


def test_passing_suite_saves_results_and_data_docs(churn) -> None:
    _land_and_ingest(churn)
    out = validate_partition(churn, INTERVAL, "manual__r1")
    assert out["success"] and set(out["sources"]) == set(churn.source_names)
    assert all(s["evaluated"] >= 8 for s in out["sources"].values())
    results = storage.read_json(storage.path(out["results_uri"]))
    assert results["run_id"] == "manual__r1" and results["success"] is True
    docs = storage.path(out["docs_uri"])
    html = docs.read_text()
    assert "<html" in html.lower() and "churn.profile" in html
    pages = [p for p in (docs.parent / "validations").rglob("*.html")]
    assert len(pages) == 3


def test_failed_suite_names_the_expectation_and_keeps_evidence(churn) -> None:
    strict = churn.model_copy(
        update={
            "expectations": [
                Expectation(
                    type="expect_column_mean_to_be_between",
                    source="profile",
                    kwargs={"column": "age", "min_value": 80, "max_value": 90},
                ),
            ]
        }
    )
    _land_and_ingest(strict)
    with pytest.raises(ValidationFailed) as err:
        validate_partition(strict, INTERVAL, "manual__r2")
    msg = str(err.value)
    assert "1 expectation(s) failed" in msg and "expect_column_mean_to_be_between(age)" in msg
    assert err.value.failures[0]["source"] == "profile"
    assert isinstance(err.value, DataError)  # not retried
    pointer = storage.pointer("validation/churn/ds=2026-11-16")
    assert pointer["success"] is False and pointer["run_id"] == "manual__r2"


def test_unknown_expectation_type_is_a_clear_error(churn) -> None:
    bad = churn.model_copy(
        update={
            "expectations": [
                Expectation(type="expect_column_to_be_lovely", source="profile", kwargs={})
            ]
        }
    )
    with pytest.raises(
        DataError, match="unknown Great Expectations expectation 'expect_column_to_be_lovely'"
    ):
        build_expectations(bad, "profile")


def test_a_source_that_was_not_ingested_is_an_error(churn) -> None:
    generate_days(churn, DAY, 1, entities=20)
    ingest_source(churn, "profile", INTERVAL, "r1")
    with pytest.raises(DataError, match="churn/activity ds=2026-11-16 has no offline partition"):
        validate_partition(churn, INTERVAL, "r1")


def test_weekly_source_is_only_validated_when_due(fleet) -> None:
    tuesday = DAY + dt.timedelta(days=1)
    generate_days(fleet, tuesday, 1, entities=30)
    for s in ("telemetry", "inspections"):
        ingest_source(fleet, s, day_interval(tuesday), "r1")
    out = validate_partition(fleet, day_interval(tuesday), "r1")
    assert set(out["sources"]) == {"telemetry", "inspections"}
