"""The preload wrapper imports what it can and never stops the scheduler from starting.

The real path (scheduler and Celery worker started through it, tasks forked with the stage
libraries already imported) runs in tests/integration/test_stack*.py.
"""

from __future__ import annotations

import sys

from r2p.orchestration.preload import MODULES, preload


def test_preload_imports_and_times_each_module() -> None:
    took = preload(("json", "csv"))
    assert set(took) == {"json", "csv"}
    assert all(seconds >= 0 for seconds in took.values())
    assert "csv" in sys.modules


def test_a_module_that_fails_to_import_is_skipped_not_fatal(caplog) -> None:
    took = preload(("json", "r2p_no_such_module"))
    assert set(took) == {"json"}
    assert "r2p_no_such_module" in caplog.text


def test_tensorflow_and_torch_are_never_preloaded() -> None:
    """Both start threads on import and are not fork-safe; training tasks import them."""
    assert not any(m.split(".")[0] in ("tensorflow", "torch", "keras") for m in MODULES)
