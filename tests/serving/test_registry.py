"""The in-process model holder: swap only after a good load, keep the old version on a bad
one, snapshots that never change under a request, and the input check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from r2p.serving.registry import BadInput, ModelRegistry, ReloadEvent, Served
from tests.serving.conftest import Published, as_columns, publish, sample_rows

pytestmark = pytest.mark.slow


@pytest.fixture
def registry(tmp_path: Path) -> Any:
    serving = tmp_path / "serving"
    serving.mkdir()
    events: list[ReloadEvent] = []
    reg = ModelRegistry("churn", serving, on_reload=events.append)
    reg.events = events  # type: ignore[attr-defined]
    return reg


@pytest.fixture(scope="module")
def served(published: Published) -> Served:
    from r2p.serving.loader import FrozenModel

    model = FrozenModel.load(published.builds[1] / "1")
    return Served("churn", 1, model, model.contract, published.builds[1] / "1")


def test_load_poll_and_failed_reload(registry: ModelRegistry, published: Published) -> None:
    assert registry.poll() is False  # nothing to serve yet
    assert registry.current is None
    publish(registry.link.parent, published.builds[1])
    assert registry.poll() is True
    first = registry.current
    assert first is not None and first.version == 1
    assert registry.poll() is False  # same target: nothing to do

    broken = publish(registry.link.parent, published.builds[2], version=3)
    (broken / "3" / "model.pb").write_bytes(b"\x0a\xff\xff\xff")  # not a GraphDef
    assert registry.poll() is True
    assert registry.current is first  # the old version keeps serving
    assert registry.last_error and "3" in str(registry.events[-1].version)
    assert registry.poll() is False  # a failed target is not retried in a loop

    publish(registry.link.parent, published.builds[2])
    assert registry.poll() is True
    assert registry.current is not None and registry.current.version == 2
    assert registry.last_error is None
    assert [(e.version, e.ok) for e in registry.events] == [(1, True), (3, False), (2, True)]

    # the snapshot a request took is unchanged by the swap and still answers
    rows = sample_rows(published.contract, 4)
    proba = first.predict(as_columns(rows))
    assert proba.shape == (4, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def test_a_version_folder_missing(registry: ModelRegistry, tmp_path: Path) -> None:
    assert registry.load(tmp_path / "7") is False
    assert "FileNotFoundError" in (registry.last_error or "")


def _case(contract: dict[str, Any], case: str) -> dict[str, list]:
    cols = as_columns(sample_rows(contract, 2))
    num = next(i["name"] for i in contract["inputs"] if i["dtype"] == "float64")
    text = next(i["name"] for i in contract["inputs"] if i["dtype"] == "string")
    changes = {
        "missing": lambda: cols.pop(num),
        "extra": lambda: cols.update(other=[1.0, 2.0]),
        "ragged": lambda: cols.update({num: [1.0]}),
        "empty": lambda: cols.update({k: [] for k in cols}),
        "too-many": lambda: cols.update({k: v * 6 for k, v in cols.items()}),
        "nan-text": lambda: cols.update({text: [float("nan"), "a"]}),
        "inf": lambda: cols.update({num: [float("inf"), 1.0]}),
        "bool": lambda: cols.update({num: [True, 1.0]}),
    }
    changes[case]()
    return cols


@pytest.mark.parametrize(
    "case", ["missing", "extra", "ragged", "empty", "too-many", "nan-text", "inf", "bool"]
)
def test_check_rejects(published: Published, served: Served, case: str) -> None:
    with pytest.raises(BadInput):
        served.check(_case(published.contract, case), max_rows=10)


def test_check_accepts_missing_and_unseen(published: Published, served: Served) -> None:
    cols = as_columns(sample_rows(published.contract, 3))
    num = next(i["name"] for i in published.contract["inputs"] if i["dtype"] == "float64")
    cols[num] = [None, float("nan"), 3]
    assert served.check(cols, max_rows=10) == 3
