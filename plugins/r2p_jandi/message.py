"""A Jandi incoming-webhook message and its exact wire JSON.

Jandi renders ``body`` as the message text and each ``connectInfo`` entry as a titled block
beside a colour bar (``connectColor``). Text over Jandi's limits is cut to fit with a visible
marker instead of being rejected: a notification that cannot be delivered is worse than a
shortened one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The colour bar by severity.
SEVERITY_COLORS: dict[str, str] = {
    "info": "#2D9CDB",  # blue
    "warning": "#F2994A",  # orange
    "error": "#EB5757",  # red
    "critical": "#9B1B30",  # dark red
    "resolved": "#27AE60",  # green
}

#: Maximum lengths (characters, marker included) kept well under Jandi's own limits.
MAX_BODY = 4000
MAX_TITLE = 300
MAX_DESCRIPTION = 2000

TRUNCATION_MARKER = "… (truncated)"


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its head plus the truncation marker,
    ``limit`` characters in all (just the head when the marker itself does not fit)."""
    if len(text) <= limit:
        return text
    if limit < len(TRUNCATION_MARKER):
        return text[: max(limit, 0)]
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


@dataclass(frozen=True)
class JandiMessage:
    """One message: body text, severity (picks the colour), (title, description) sections and
    an optional image shown with the first section.

    ``sections`` accepts any sequence of pairs and is stored as a tuple, so a message is
    immutable. An unknown severity raises ``ValueError``; over-long text never raises.
    """

    body: str
    severity: str = "info"
    sections: Sequence[tuple[str, str]] = ()
    image_url: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_COLORS:
            raise ValueError(
                f"unknown severity {self.severity!r}; expected one of {sorted(SEVERITY_COLORS)}"
            )
        pairs = tuple((str(title), str(description)) for title, description in self.sections)
        object.__setattr__(self, "sections", pairs)

    @property
    def color(self) -> str:
        """The ``connectColor`` for this message's severity."""
        return SEVERITY_COLORS[self.severity]

    def payload(self) -> dict[str, Any]:
        """The exact JSON object Jandi expects, with text truncated to the limits above.

        The image goes on the first ``connectInfo`` entry; with no sections, an entry with an
        empty title and description carries it.
        """
        info: list[dict[str, str]] = [
            {"title": truncate(title, MAX_TITLE), "description": truncate(text, MAX_DESCRIPTION)}
            for title, text in self.sections
        ]
        if self.image_url:
            if not info:
                info.append({"title": "", "description": ""})
            info[0]["imageUrl"] = self.image_url
        return {
            "body": truncate(str(self.body), MAX_BODY),
            "connectColor": self.color,
            "connectInfo": info,
        }
