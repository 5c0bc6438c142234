"""A small training set per shipped config, built once per module through the real stages."""

from __future__ import annotations

import datetime as dt

import pytest

START = dt.date(2026, 11, 2)
DAYS = 12


@pytest.fixture(scope="module")
def built(request, tmp_path_factory):
    """(cfg, training-set outputs, arrays) for the config named by the test's ``name`` param."""
    import os

    from r2p.config import load_pipeline
    from r2p.training.data import arrays
    from r2p.training.stage import load_training_set
    from r2p.training_set.build import build_training_set
    from tests.features.helpers import load_days

    name = request.param
    home = tmp_path_factory.mktemp(f"train-{name}")
    old = os.environ.get("R2P_HOME")
    os.environ["R2P_HOME"] = str(home)
    try:
        cfg = load_pipeline(name)
        load_days(cfg, START, DAYS, entities=250, materialize=False)
        dataset = build_training_set(cfg, START + dt.timedelta(days=DAYS), "t")
        frame, _ = load_training_set(dataset)
        yield cfg, dataset, arrays(cfg, frame), home
    finally:
        if old is None:
            os.environ.pop("R2P_HOME", None)
        else:
            os.environ["R2P_HOME"] = old
