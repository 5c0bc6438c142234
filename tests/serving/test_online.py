"""The entity endpoint's request checks and input building (no server, no store): keys by
type, the training set's conversion of online values, and why an entity cannot be predicted."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from r2p.serving.online import (
    NOT_FOUND,
    PRESENT,
    STALE,
    Feature,
    OnlineSpec,
    entity_keys,
    missing_reason,
    model_columns,
)
from r2p.serving.registry import BadInput

DAY = dt.timedelta(days=1)
TS = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)


def _spec(key_dtype: str) -> OnlineSpec:
    return OnlineSpec("fleet_mlp_v1", "vehicle_id", key_dtype, {"km": "fleet_trips"},
                      {"fleet_trips": DAY})  # fmt: skip


@pytest.mark.parametrize(
    "key_dtype,value",
    [pytest.param("int64", 7, id="int"), pytest.param("string", "truck-7", id="string")],
)
def test_keys_of_the_right_type_pass(key_dtype: str, value: Any) -> None:
    body = {"entities": [{"vehicle_id": value}, {"vehicle_id": value}]}
    assert entity_keys(body, _spec(key_dtype), 10) == [value, value]


@pytest.mark.parametrize(
    "key_dtype,body,message",
    [
        pytest.param("string", {"entities": [{"vehicle_id": 7}]}, "non-empty string", id="int"),
        pytest.param("string", {"entities": [{"vehicle_id": ""}]}, "non-empty string", id="empty"),
        pytest.param("int64", {"entities": [{"vehicle_id": None}]}, "integer", id="null"),
        pytest.param("int64", {"entities": [{"id": 1}]}, "unknown keys ['id']", id="other-key"),
        pytest.param("int64", {"entities": [{"vehicle_id": 1}] * 11}, "at most 10", id="too-many"),
        pytest.param("int64", {"entities": [1]}, "list of objects", id="not-objects"),
        pytest.param("int64", {"entities": [], "x": 1}, "the body must be", id="extra-field"),
    ],
)
def test_bad_keys_are_bad_input(key_dtype: str, body: Any, message: str) -> None:
    with pytest.raises(BadInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        entity_keys(body, _spec(key_dtype), 10)


def test_model_columns_convert_as_the_training_rows() -> None:
    contract = {
        "inputs": [
            {"name": "autopay", "dtype": "float64"},
            {"name": "age", "dtype": "float64"},
            {"name": "plan", "dtype": "string"},
        ]
    }
    records = [
        {"autopay": Feature(True, TS, PRESENT), "age": Feature(41, TS, PRESENT),
         "plan": Feature("basic", TS, PRESENT)},
        {"autopay": Feature(None, TS, STALE), "age": Feature(None, None, NOT_FOUND),
         "plan": Feature(None, None, NOT_FOUND)},
    ]  # fmt: skip
    assert model_columns(contract, records) == {
        "autopay": [1.0, None],
        "age": [41.0, None],
        "plan": ["basic", None],
    }


def test_missing_reason() -> None:
    found = {"a": Feature(1, TS, PRESENT), "b": Feature(None, None, NOT_FOUND)}
    assert missing_reason(found) is None
    assert missing_reason({"a": Feature(None, None, NOT_FOUND)}) == "not found"
    stale = {"a": Feature(None, TS, STALE), "b": Feature(None, None, NOT_FOUND)}
    assert missing_reason(stale) == "stale: every feature is past its TTL"
