"""Messages measured wrong before: an empty entity value is a row defect (``null_entity``),
not a refused batch, and a wrong-type message never counts 0 values or shows no example."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from r2p.errors import BatchRejected
from r2p.ingest.contract import partition_path
from r2p.ingest.offline import read_offline
from r2p.ingest.stage import ingest_source
from r2p.intervals import day_interval
from r2p.landing.writer import write_partition
from r2p.sample.landing import generate_days
from tests.ingest.helpers import DAY, INTERVAL, with_landing
from tests.ingest.test_config_matrix import DAY as MDAY
from tests.ingest.test_config_matrix import _config


def _relanded(cfg, source: str, edit) -> None:
    """Land ``source`` again with ``edit`` applied to its rows as text (what a producer sends)."""
    generate_days(cfg, DAY, 1, entities=50)
    raw = (partition_path(cfg, source, DAY) / "part-00000.csv").read_bytes()
    df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    write_partition(cfg, source, DAY, edit(df))


def _blank_first_key(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[0, "customer_id"] = ""
    return df


def test_empty_entity_value_quarantines_the_row(churn) -> None:
    cfg = with_landing(churn, max_bad_row_fraction=0.1)
    _relanded(cfg, "profile", _blank_first_key)
    out = ingest_source(cfg, "profile", INTERVAL, "r1")
    assert out["reasons"] == {"null_entity": 1} and out["rows_quarantined"] == 1


def test_float_written_integers_are_integers(churn) -> None:
    def as_floats(df: pd.DataFrame) -> pd.DataFrame:
        df["customer_id"] = df["customer_id"] + ".0"  # a float column with gaps, written out
        return df

    _relanded(churn, "profile", as_floats)
    assert ingest_source(churn, "profile", INTERVAL, "r1")["rows_quarantined"] == 0


@pytest.mark.parametrize("bad", ["inf", "-inf", "NaN", "1.5", "12abc"])
def test_wrong_type_in_int_column_counts_and_shows_it(churn, bad: str) -> None:
    def spoil(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[3, "tenure_days"] = bad
        return df

    _relanded(churn, "profile", spoil)
    with pytest.raises(BatchRejected) as err:
        ingest_source(churn, "profile", INTERVAL, "r1")
    text = str(err.value)
    assert "wrong_type" in text and "'tenure_days'" in text
    assert "has 1 value(s) of another type" in text and repr(bad) in text, text
    assert "has 0 value" not in text and "e.g. ," not in text


def test_nan_in_a_nullable_column_is_a_gap_not_a_defect(home) -> None:
    """A gap in a nullable number (empty, or NaN as some producers write it) is data; in a
    column that is not nullable it stays a row defect."""
    cfg = _config("inline", "snapshot", "csv", "manifest")
    generate_days(cfg, MDAY, 1)
    raw = (partition_path(cfg, "rows", MDAY) / "part-00000.csv").read_bytes()
    df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    df.loc[0, "od280/od315"] = "NaN"  # nullable
    df.loc[1, "od280/od315"] = ""
    df.loc[2, "mean radius"] = "NaN"  # not nullable
    write_partition(cfg, "rows", MDAY, df)
    loose = cfg.model_copy(
        update={"landing": cfg.landing.model_copy(update={"max_bad_row_fraction": 0.5})}
    )
    out = ingest_source(loose, "rows", day_interval(MDAY), "r1")
    assert out["reasons"] == {"non_finite": 1}, out["reasons"]
    kept = read_offline(loose, "rows", MDAY).column("od_ratio")
    assert kept.null_count == 2 and not any(v != v for v in kept.to_pylist() if v is not None)
