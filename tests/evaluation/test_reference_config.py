"""``gates.reference``: the reported reference model is HGB by default, or none."""

from __future__ import annotations

import pytest


def test_gates_reference_is_hgb_or_none() -> None:
    from pydantic import ValidationError

    from r2p.config.schema import Gates

    assert Gates().reference == "hgb" and Gates(reference="none").reference == "none"
    with pytest.raises(ValidationError, match="reference"):
        Gates(reference="xgboost")
