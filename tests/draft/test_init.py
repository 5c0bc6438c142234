"""r2p init: a commented draft from a sample table that the loader accepts as written; every
bad input exits 2, names the column and what to do, and writes nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from r2p.cli import main
from r2p.config.loader import load_config
from r2p.draft.infer import widen
from r2p.draft.read import TableError, read_table, sniff_delimiter


def _package_file(package: str, *parts: str) -> Path:
    module = __import__(package)
    return Path(module.__file__).parent.joinpath(*parts)


PENGUINS = _package_file("palmerpenguins", "data", "penguins.csv")
ANES96 = _package_file("statsmodels", "datasets", "anes96", "anes96.csv")
MODECHOICE = _package_file("statsmodels", "datasets", "modechoice", "modechoice.csv")


@pytest.fixture
def configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    folder = tmp_path / "configs"
    monkeypatch.setenv("R2P_CONFIGS", str(folder))
    return folder


def _init(*args: str) -> int:
    return main(["init", *args])


def _table(rows: int = 300, seed: int = 0, **extra) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(5, 2, rows).round(3),
            "n": rng.integers(0, 9, rows),
            "label": rng.integers(0, 2, rows),
        }
    )
    for name, values in extra.items():
        frame[name] = values
    return frame


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "t.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


# --- the real tables ------------------------------------------------------------------------


def test_penguins(configs: Path, capsys) -> None:
    assert _init("penguins", "--from", str(PENGUINS), "--label", "species") == 0
    out = capsys.readouterr().out
    assert "no --entity: each row is its own entity, numbered by r2p land as row_id" in out
    cfg = load_config(configs / "penguins.yaml")
    lab = cfg.dataset.label
    assert lab.classes == ["Adelie", "Chinstrap", "Gentoo"] and lab.positive_class is None
    assert lab.inline and lab.column == "species"
    cols = {c.name: c for c in cfg.feature_columns}
    assert "species" not in cols
    assert {n for n, c in cols.items() if c.nullable} == {
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
    }
    assert cols["flipper_length_mm"].dtype == "int64"  # whole numbers with gaps stay int64
    assert cols["island"].categories == ["Biscoe", "Dream", "Torgersen"]
    assert cols["year"].dtype == "int64"  # few distinct values, still numeric
    assert cols["body_mass_g"].min <= 2700 and cols["body_mass_g"].max >= 6300
    assert cfg.dataset.entity.generate == "row_number"
    assert cfg.dataset.sources[0].timestamp_generate == "partition_date"
    assert cfg.training.split.method == "random"
    assert cfg.gates.min_eval_rows == 34  # half of 20% of 344
    assert cfg.models[0].batch_size == 32 and cfg.models[0].early_stopping.patience == 10
    text = (configs / "penguins.yaml").read_text()
    assert text.startswith(f"# Drafted by r2p init from {PENGUINS} on ")


def test_anes96_quoted_headers(configs: Path) -> None:
    frame = read_table(ANES96)
    assert list(frame.columns)[:3] == ["popul", "TVnews", "selfLR"]  # tab, quotes stripped
    assert _init("anes96", "--from", str(ANES96), "--label", "vote") == 0
    cfg = load_config(configs / "anes96.yaml")
    assert cfg.dataset.label.classes == ["0", "1"] and cfg.dataset.label.positive_class == "1"
    names = {c.name: c.source_name for c in cfg.feature_columns}
    assert names["tvnews"] == "TVnews" and names["pid"] == "PID" and names["popul"] is None
    assert all(c.dtype == "int64" and not c.nullable for c in cfg.feature_columns)
    assert len(cfg.feature_columns) == 9


def test_modechoice_semicolons(configs: Path, capsys) -> None:
    assert sniff_delimiter(MODECHOICE.read_text()) == ";"
    assert _init("modechoice", "--from", str(MODECHOICE), "--label", "choice", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 840 and summary["split"]["method"] == "random"
    assert summary["label"]["classes"] == ["0", "1"]
    roles = {c["column"]: c["role"] for c in summary["columns"]}
    assert roles["choice"] == "label" and roles["individual"] == "feature"
    cfg = load_config(configs / "modechoice.yaml")
    assert cfg.dataset.label.positive_class == "1"
    assert cfg.gates.min_eval_rows == 84


@pytest.mark.parametrize(
    ("name", "path", "label", "rows"),
    [
        ("penguins", PENGUINS, "species", 344),
        ("anes96", ANES96, "vote", 944),
        ("modechoice", MODECHOICE, "choice", 840),
    ],
    ids=["penguins", "anes96", "modechoice"],
)
def test_real_table_lands_and_ingests(configs: Path, name, path, label, rows) -> None:
    from r2p.ingest.stage import ingest_source
    from r2p.intervals import day_interval

    assert _init(name, "--from", str(path), "--label", label) == 0
    assert main(["land", name, str(path), "--ds", "2026-12-06"]) == 0  # the same reader
    cfg = load_config(configs / f"{name}.yaml")
    out = ingest_source(cfg, "rows", day_interval(dt.date(2026, 12, 6)), "r1")
    assert (out["rows_accepted"], out["rows_quarantined"]) == (rows, 0)


# --- inference ------------------------------------------------------------------------------


def test_time_split_with_entity_and_timestamp(configs: Path, tmp_path: Path) -> None:
    days = pd.date_range("2026-03-01", periods=60, freq="D", tz="UTC")
    frame = _table(600)
    frame["Customer ID"] = [f"c{i % 10}" for i in range(600)]
    frame["Seen At"] = np.repeat(days, 10).strftime("%Y-%m-%dT%H:%M:%SZ")
    frame["plan"] = np.where(np.arange(600) % 3 == 0, "basic", "premium")
    path = _csv(tmp_path, frame)
    args = ["--entity", "Customer ID", "--timestamp", "Seen At"]
    assert _init("subs", "--from", str(path), *args) == 0  # the label: the column "label"
    cfg = load_config(configs / "subs.yaml")
    ent = cfg.dataset.entity
    assert (ent.key, ent.source_name, ent.dtype, ent.generate) == (
        "customer_id",
        "Customer ID",
        "string",
        None,
    )
    src = cfg.dataset.sources[0]
    assert (src.timestamp, src.timestamp_source_name) == ("seen_at", "Seen At")
    assert src.ttl_days == 60
    split = cfg.training.split
    assert (split.method, split.test_days, split.valid_days) == ("time", 9, 9)
    assert cfg.training.window_days >= 60
    assert cfg.start_date == dt.date(2026, 3, 1)
    assert cfg.gates.min_eval_rows == 45  # half of the 90 rows of the newest 9 days
    assert {c.name for c in cfg.feature_columns} == {"x", "n", "plan"}


def test_few_days_random_grouped_by_entity(configs: Path, tmp_path: Path) -> None:
    frame = _table(400)
    frame["id"] = np.arange(400) % 200
    frame["ts"] = np.where(np.arange(400) < 200, "2026-01-01", "2026-01-02")
    path = _csv(tmp_path, frame)
    assert _init("few", "--from", str(path), "--entity", "id", "--timestamp", "ts") == 0
    cfg = load_config(configs / "few.yaml")
    assert cfg.training.split.method == "random" and cfg.training.split.group_by_entity
    assert cfg.training.window_days >= 9 and cfg.dataset.entity.dtype == "int64"
    assert "fewer than 14" in (configs / "few.yaml").read_text()


def test_parquet_sample_and_binary_strings(configs: Path, tmp_path: Path, capsys) -> None:
    frame = _table(300)
    frame["outcome"] = np.where(np.arange(300) % 4 == 0, "churned", "stayed")
    frame["flag"] = np.arange(300) % 2 == 0
    path = tmp_path / "t.parquet"
    frame.drop(columns=["label"]).to_parquet(path)
    assert _init("pq", "--from", str(path), "--label", "outcome") == 0
    assert "wrote" in capsys.readouterr().out
    cfg = load_config(configs / "pq.yaml")
    assert cfg.landing.format == "parquet"
    assert cfg.dataset.label.classes == ["churned", "stayed"]
    assert cfg.dataset.label.positive_class == "churned"  # the minority
    assert {c.name: c.dtype for c in cfg.feature_columns}["flag"] == "bool"


def test_bool_label_lands_as_its_classes(configs: Path, tmp_path: Path) -> None:
    from r2p.ingest.stage import ingest_source
    from r2p.intervals import day_interval

    frame = _table(300, label=np.arange(300) % 3 == 0)
    path = _csv(tmp_path, frame)
    assert _init("boo", "--from", str(path)) == 0
    cfg = load_config(configs / "boo.yaml")
    assert cfg.dataset.label.classes == ["false", "true"]
    assert cfg.dataset.label.positive_class == "true"
    assert main(["land", "boo", str(path), "--ds", "2026-12-06"]) == 0
    out = ingest_source(cfg, "rows", day_interval(dt.date(2026, 12, 6)), "r1")
    assert out["rows_accepted"] == 300


def test_default_label_is_named_and_force(configs: Path, tmp_path: Path, capsys) -> None:
    path = _csv(tmp_path, _table(300).rename(columns={"label": "Target"}))
    assert _init("named", "--from", str(path)) == 0
    assert "the label is column 'Target', by its name" in capsys.readouterr().out
    cfg = load_config(configs / "named.yaml")
    assert (cfg.dataset.label.column, cfg.dataset.label.column_source_name) == (
        "target",
        "Target",
    )
    before = (configs / "named.yaml").read_text()
    assert _init("named", "--from", str(path)) == 2
    assert "pass --force" in capsys.readouterr().err
    assert (configs / "named.yaml").read_text() == before
    assert _init("named", "--from", str(path), "--force") == 0


def test_unique_identifiers_for_clashing_headers(configs: Path, tmp_path: Path) -> None:
    frame = _table(300, **{"Total Spend": 1.5, "total_spend": 2.5, "2nd": 3})
    assert _init("clash", "--from", str(_csv(tmp_path, frame))) == 0
    cols = {c.name: c.source_name for c in load_config(configs / "clash.yaml").feature_columns}
    assert cols["total_spend"] is None and cols["total_spend_2"] == "Total Spend"
    assert cols["c_2nd"] == "2nd"


def test_widen() -> None:
    assert widen(32.1, 59.6, False) == (29.0, 63.0)
    assert widen(0, 7, True) == (0, 8)  # non-negative data keeps min >= 0
    assert widen(-5, 5, True) == (-6, 6)
    assert widen(7, 7, True) == (6, 8)  # a constant column still gets a range


def test_read_table_quotes_only_when_every_header_is_quoted(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("'a'|b\n1|2\n")
    assert list(read_table(tmp_path / "a.csv").columns) == ["'a'", "b"]
    (tmp_path / "b.csv").write_text('"x";"y"\n1;2\n')
    assert list(read_table(tmp_path / "b.csv").columns) == ["x", "y"]
    with pytest.raises(TableError, match="no such file"):
        read_table(tmp_path / "missing.csv")


# --- bad input: exit 2, the column named, nothing written -----------------------------------


def _bad_cases(tmp_path: Path) -> dict[str, tuple[bytes | pd.DataFrame, list[str], list[str]]]:
    """name -> (file content, extra arguments, fragments the message must hold)."""
    ts = pd.date_range("2026-01-01", periods=300, freq="h", tz="UTC").strftime("%Y-%m-%dT%H:%MZ")
    words = [f"word{i}" for i in range(5000)]
    big = _table(5000, comment=words)
    return {
        "header_only": (b"x,n,label\n", [], ["no rows"]),
        "empty": (b"", [], ["empty file"]),
        "duplicate_header": (b"x,x,label\n1,2,0\n", [], ["duplicate header 'x'"]),
        "non_utf8_header": (b"caf\xe9,label\n1,0\n", [], ["header 'caf\xe9'", "UTF-8"]),
        "non_utf8_value": (b"name,label\nok,0\nd\xfcsseldorf,1\n", [], ["line 3", "'name'"]),
        "one_class": (_table(300, label=1), [], ["'label'", "one class"]),
        "entity_dupes_per_ts": (
            _table(300, id=np.arange(300) % 150, ts="2026-01-01"),
            ["--entity", "id", "--timestamp", "ts"],
            ["'id'", "same timestamp"],
        ),
        "entity_dupes": (_table(300, id=np.arange(300) % 150), ["--entity", "id"], ["'id'"]),
        "bad_timestamp": (
            _table(300, ts=[*ts[:-1], "next tuesday"]),
            ["--timestamp", "ts"],
            ["'ts'", "next tuesday"],
        ),
        "numeric_timestamp": (_table(300), ["--timestamp", "n"], ["'n'", "numbers"]),
        "many_categories": (big, [], ["'comment'", "5000", "--entity", "drop the column"]),
        "absent_entity": (_table(), ["--entity", "nope"], ["--entity 'nope'", "'x', 'n'"]),
        "absent_timestamp": (_table(), ["--timestamp", "when"], ["'when'", "'label'"]),
        "absent_label": (_table(), ["--label", "what"], ["'what'", "'label'"]),
        "no_label": (_table().drop(columns="label"), [], ["--label", "'x'"]),
        "label_is_entity": (_table(), ["--entity", "label"], ["'label'", "entity"]),
        "label_is_timestamp": (
            _table(300, ts=ts),
            ["--timestamp", "ts", "--label", "ts"],
            ["'ts'", "timestamp"],
        ),
        "too_few_rows": (_table(60), [], ["60 rows", "at least 200 rows"]),
        "row_id_clash": (_table(300, row_id=np.arange(300)), [], ["'row_id'", "--entity"]),
        "label_gaps": (_table(300, label=[0, 1, None] * 100), [], ["'label'", "empty"]),
    }


CASES = [
    "header_only",
    "empty",
    "duplicate_header",
    "non_utf8_header",
    "non_utf8_value",
    "one_class",
    "entity_dupes_per_ts",
    "entity_dupes",
    "bad_timestamp",
    "numeric_timestamp",
    "many_categories",
    "absent_entity",
    "absent_timestamp",
    "absent_label",
    "no_label",
    "label_is_entity",
    "label_is_timestamp",
    "too_few_rows",
    "row_id_clash",
    "label_gaps",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case: str, configs: Path, tmp_path: Path, capsys) -> None:
    content, extra, fragments = _bad_cases(tmp_path)[case]
    path = tmp_path / "bad.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        content.to_csv(path, index=False)
    assert _init("bad", "--from", str(path), *extra) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing was written" in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not configs.exists() or not any(configs.iterdir())


def test_bad_pipeline_name(configs: Path, tmp_path: Path, capsys) -> None:
    path = _csv(tmp_path, _table())
    assert _init("My-Pipe", "--from", str(path)) == 2
    err = capsys.readouterr().err
    assert "'My-Pipe' is not an identifier" in err and "use my_pipe" in err
    assert not configs.exists()


def test_missing_file(configs: Path, tmp_path: Path, capsys) -> None:
    assert _init("gone", "--from", str(tmp_path / "gone.csv")) == 2
    assert "no such file" in capsys.readouterr().err
