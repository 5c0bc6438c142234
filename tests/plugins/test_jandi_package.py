"""The package as Airflow sees it: importable, and skipped by the plugins-folder loader."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import r2p_jandi

PACKAGE = Path(r2p_jandi.__file__).parent


def test_public_api():
    assert sorted(r2p_jandi.__all__) == [
        "JandiError",
        "JandiHook",
        "JandiMessage",
        "read_outbox",
    ]
    assert all(getattr(r2p_jandi, name) for name in r2p_jandi.__all__)


@pytest.mark.parametrize("syntax", ["glob", "regexp"])
def test_plugin_loader_skips_the_package_files(tmp_path, syntax):
    from airflow._shared.plugins_manager.plugins_manager import (
        _load_plugins_from_plugin_directory,
    )

    plugins = tmp_path / "plugins"
    shutil.copytree(PACKAGE, plugins / "r2p_jandi", ignore=shutil.ignore_patterns("__pycache__"))
    modules_before = set(sys.modules)

    loaded, errors = _load_plugins_from_plugin_directory(str(plugins), ignore_file_syntax=syntax)

    assert (loaded, errors) == ([], {})
    stray = {"__init__", "hook", "message", "outbox", "errors", "redact"}
    assert not (set(sys.modules) - modules_before) & stray
