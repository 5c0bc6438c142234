"""``models[].kind`` is checked against the model registry on load (which imports neither
PyTorch nor TensorFlow); an unknown kind names the key, its line and the known kinds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from r2p.config import ConfigError, load_config, load_pipeline

REPO = Path(__file__).resolve().parents[2]


def test_a_config_without_kind_gets_mlp() -> None:
    assert [m.kind for m in load_pipeline("churn").models] == ["mlp"]


def test_an_unknown_kind_is_a_config_error_naming_key_line_and_known_kinds(tmp_path) -> None:
    data = yaml.safe_load((REPO / "configs" / "churn.yaml").read_text())
    data["models"].append({"name": "conv", "kind": "cnn", "layers": [{"units": 8}]})
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "kind: cnn" in t)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    known = "['linear', 'mlp', 'resmlp', 'wide_deep']"
    assert f"{path}:{line}: models[1].kind: unknown model kind 'cnn'; known: {known}" in str(
        err.value
    )


def test_loading_a_config_imports_no_framework() -> None:
    script = (
        "import json, sys\n"
        "from r2p.config import load_pipeline\n"
        "cfg = load_pipeline('churn')\n"
        "from r2p.config.schema import ModelSpec\n"
        "ModelSpec.model_validate({'name': 'm', 'kind': 'mlp', 'layers': [{'units': 2}]})\n"
        "print(json.dumps(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in "
        "sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
