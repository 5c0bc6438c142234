"""The r2p command: what it prints, and clear refusals for bad arguments that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r2p.cli import main


def test_config_show_prints_resolved_json(capsys) -> None:
    assert main(["config", "show", "fleet"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["pipeline"] == "fleet" and cfg["landing"]["poke_interval_seconds"] == 60


def test_config_defaults_and_validate(capsys) -> None:
    assert main(["config", "defaults"]) == 0
    defaults = json.loads(capsys.readouterr().out)
    assert defaults["landing"]["max_bad_row_fraction"] == 0.0
    assert main(["config", "validate"]) == 0
    out = capsys.readouterr().out
    assert "ok  " in out and "churn.yaml" in out and "fleet.yaml" in out


def test_sample_writes_landing_partitions(home: Path, capsys) -> None:
    argv = [
        "sample",
        "churn",
        "--start",
        "2026-11-20",
        "--days",
        "2",
        "--entities",
        "30",
        "--defect",
        "null_label:churn_labels:2026-11-21",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("contract=manifest.json") == 6 and "defects=null_label" in out
    assert (home / "storage/landing/churn/profile/ds=2026-11-21/manifest.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["sample", "churn", "--start", "2026-13-01"], "not a date", id="bad-date"),
        pytest.param(
            ["sample", "churn", "--start", "2026-11-01", "--days", "0"],
            "must be at least 1",
            id="zero-days",
        ),
        pytest.param(
            ["sample", "churn", "--start", "2026-11-01", "--entities", "ten"],
            "not an integer",
            id="non-integer",
        ),
        pytest.param(
            ["sample", "churn", "--start", "2026-11-01", "--defect", "bogus"],
            "unknown defect 'bogus'",
            id="unknown-defect",
        ),
        pytest.param(
            ["sample", "churn"], "the following arguments are required: --start", id="missing-start"
        ),
        pytest.param(["demo", "--end", "yesterday"], "not a date", id="demo-bad-end"),
        pytest.param(["launch"], "invalid choice", id="unknown-command"),
        pytest.param(
            ["promotion", "rollback", "churn"],
            "the following arguments are required: --reason",
            id="rollback-without-reason",
        ),
        pytest.param(
            ["promotion", "rollback", "churn", "--reason", "   "],
            "a reason must say something",
            id="blank-reason",
        ),
        pytest.param(
            ["promotion", "force", "churn", "--reason", "x"],
            "the following arguments are required: --version",
            id="force-without-version",
        ),
        pytest.param(
            ["promotion", "force", "churn", "--reason", "x", "--version", "0"],
            "must be at least 1",
            id="force-version-zero",
        ),
        pytest.param(["promotion", "promote", "churn"], "invalid choice", id="unknown-action"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(home: Path, capsys, argv, message) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (home / "storage").exists()


def test_unknown_pipeline_and_defect_source(home: Path, capsys) -> None:
    assert main(["config", "show", "nope"]) == 2
    assert "nope.yaml: no such config file" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--defect source 'nowhere' is not one of"):
        main(["sample", "churn", "--start", "2026-11-01", "--defect", "null_label:nowhere"])
    assert not (home / "storage").exists()


def test_broken_config_exits_2_naming_the_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "churn.yaml"
    path.write_text("pipeline: churn\n")
    assert main(["config", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}" in err and "dataset: Field required" in err


def test_feast_passes_its_arguments_to_feasts_cli(home: Path) -> None:
    """``r2p feast ARGS`` hands ARGS to Feast's own CLI on the resolved backends."""
    import subprocess
    import sys

    done = subprocess.run(
        [str(Path(sys.executable).parent / "r2p"), "feast", "version"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Feast SDK Version" in done.stdout + done.stderr
