"""JandiMessage: the wire JSON, colours by severity, truncation that never raises."""

from __future__ import annotations

import dataclasses

import pytest
from r2p_jandi import JandiMessage
from r2p_jandi.message import (
    MAX_BODY,
    MAX_DESCRIPTION,
    MAX_TITLE,
    SEVERITY_COLORS,
    TRUNCATION_MARKER,
    truncate,
)


def test_payload_is_the_wire_json():
    message = JandiMessage("body", "resolved", [("A", "1"), ("B", "2")])
    assert message.payload() == {
        "body": "body",
        "connectColor": "#27AE60",
        "connectInfo": [{"title": "A", "description": "1"}, {"title": "B", "description": "2"}],
    }


def test_no_sections_gives_an_empty_connect_info():
    assert JandiMessage("hi").payload() == {
        "body": "hi",
        "connectColor": SEVERITY_COLORS["info"],
        "connectInfo": [],
    }


def test_the_image_goes_on_the_first_section_or_its_own_entry():
    with_sections = JandiMessage("b", "info", [("A", "1"), ("B", "2")], image_url="https://i/x.png")
    alone = JandiMessage("b", "info", image_url="https://i/x.png")
    assert with_sections.payload()["connectInfo"] == [
        {"title": "A", "description": "1", "imageUrl": "https://i/x.png"},
        {"title": "B", "description": "2"},
    ]
    assert alone.payload()["connectInfo"] == [
        {"title": "", "description": "", "imageUrl": "https://i/x.png"}
    ]


def test_every_severity_has_a_hex_colour():
    assert set(SEVERITY_COLORS) == {"info", "warning", "error", "critical", "resolved"}
    for severity, color in SEVERITY_COLORS.items():
        assert JandiMessage("x", severity).payload()["connectColor"] == color
        assert len(color) == 7 and int(color[1:], 16) >= 0


def test_unknown_severity_is_rejected():
    with pytest.raises(ValueError, match="unknown severity 'fatal'"):
        JandiMessage("x", "fatal")


def test_message_is_immutable_and_sections_are_a_tuple():
    sections = [("A", "1")]
    message = JandiMessage("x", "info", sections)
    sections.append(("B", "2"))
    assert message.sections == (("A", "1"),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.body = "y"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("length", "limit", "expected_length", "truncated"),
    [
        pytest.param(10, 20, 10, False, id="short"),
        pytest.param(20, 20, 20, False, id="exactly-at-limit"),
        pytest.param(21, 20, 20, True, id="one-over"),
        pytest.param(10_000, 20, 20, True, id="far-over"),
        pytest.param(10, 5, 5, True, id="limit-below-marker"),
    ],
)
def test_truncate(length, limit, expected_length, truncated):
    out = truncate("x" * length, limit)
    assert len(out) == expected_length
    assert (out != "x" * length) is truncated
    if truncated and limit >= len(TRUNCATION_MARKER):
        assert out.endswith(TRUNCATION_MARKER) and out.startswith("x")


def test_payload_truncates_body_titles_and_descriptions():
    message = JandiMessage("b" * 9_999, "error", [("t" * 999, "d" * 9_999), ("ok", "short")])
    payload = message.payload()
    first, second = payload["connectInfo"]
    assert len(payload["body"]) == MAX_BODY and payload["body"].endswith(TRUNCATION_MARKER)
    assert len(first["title"]) == MAX_TITLE and first["title"].endswith(TRUNCATION_MARKER)
    assert len(first["description"]) == MAX_DESCRIPTION
    assert first["description"].endswith(TRUNCATION_MARKER)
    assert second == {"title": "ok", "description": "short"}
