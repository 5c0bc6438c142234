"""Where it broke: the innermost frame of a traceback that is the project's own code."""

from __future__ import annotations

import linecache
import traceback
from pathlib import Path
from typing import Any

from r2p.home import REPO_ROOT

_OWN = tuple(str(REPO_ROOT / d) + "/" for d in ("r2p", "dags", "plugins"))


def _is_project(filename: str) -> bool:
    return filename.startswith(_OWN)


def innermost_project_frame(exc: BaseException | None) -> dict[str, Any] | None:
    """File (repository-relative), line, function and source line of the deepest project
    frame among ``exc`` and its causes (the cause raised first, deepest in the call)."""
    from r2p.alerts.outcomes import chain

    for err in reversed(chain(exc)):  # the root cause first
        frames = [f for f in traceback.extract_tb(err.__traceback__) if _is_project(f.filename)]
        if frames:
            f = frames[-1]
            source = f.line or linecache.getline(f.filename, f.lineno or 0).strip()
            return {
                "file": str(Path(f.filename).relative_to(REPO_ROOT)),
                "line": f.lineno,
                "function": f.name,
                "source": source,
            }
    return None
