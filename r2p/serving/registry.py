"""The served model held in process: one immutable snapshot, swapped whole on reload.

``<serving dir>/<model>`` is a symlink switched atomically by a promotion. A watcher thread
polls the link's target; when it changes, the new version is loaded and warmed with the
loader, and only then made current by one reference assignment. A version that fails to load
leaves the old one serving and is recorded (``last_error``). A request reads ``current`` once
and uses that snapshot throughout, so no answer mixes two versions.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from r2p.serving.loader import FrozenModel, SavedModel, warmup_inputs

log = logging.getLogger(__name__)
WARM_ROUNDS = 5


class Predictor(Protocol):
    """What the loader's models offer: ``predict`` on raw columns, and the contract."""

    contract: dict[str, Any]

    def predict(self, inputs: dict[str, list]) -> np.ndarray: ...


@dataclass(frozen=True)
class Served:
    """One loaded, warmed version: what a request uses from start to end."""

    name: str
    version: int
    model: Predictor
    contract: dict[str, Any]
    folder: Path
    loaded_at: float = field(default_factory=time.time)

    def predict(self, columns: dict[str, list]) -> np.ndarray:
        """Class probabilities for columns that passed ``check``."""
        return self.model.predict(columns)

    def check(self, columns: dict[str, list], max_rows: int) -> int:
        """The number of rows, or BadInput naming what the model cannot take: a missing or
        extra feature, ragged columns, no or too many rows, a value of the wrong type."""
        names = [item["name"] for item in self.contract["inputs"]]
        missing = [n for n in names if n not in columns]
        extra = sorted(set(columns) - set(names))
        if missing or extra:
            raise BadInput(f"missing features {missing}, unknown features {extra}")
        lengths = {len(values) for values in columns.values()}
        if len(lengths) != 1:
            raise BadInput("every input must have the same number of values")
        rows = lengths.pop()
        if rows == 0:
            raise BadInput("no instances")
        if rows > max_rows:
            raise BadInput(f"{rows} instances: at most {max_rows} per request")
        for item in self.contract["inputs"]:
            ok = _is_text if item["dtype"] == "string" else _is_number
            for value in columns[item["name"]]:
                if value is not None and not ok(value):
                    want = "a string" if item["dtype"] == "string" else "a finite number"
                    raise BadInput(f"{item['name']}: expected {want} or null, got {value!r:.40}")
        return rows


class BadInput(ValueError):
    """A request the served model cannot answer (HTTP 400, gRPC INVALID_ARGUMENT)."""


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isnan(value) or math.isfinite(float(value))  # NaN = missing
    except OverflowError:
        return False


def _is_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate, as JSON can carry
        return False
    return True


@dataclass
class ReloadEvent:
    """The outcome of one load attempt (for metrics and logs)."""

    target: str
    version: int | None
    ok: bool
    error: str | None
    seconds: float


def version_folder(link: Path) -> tuple[str, Path]:
    """The link's resolved target and the single ``<version>/`` folder inside it."""
    target = os.path.realpath(link)
    versions = [p for p in Path(target).iterdir() if p.name.isdigit() and p.is_dir()]
    if len(versions) != 1:
        raise RuntimeError(f"{link} must hold exactly one version folder, found {len(versions)}")
    return target, versions[0]


def load_warm(folder: Path, saved_model: bool = False) -> Predictor:
    """Load the version in ``folder`` and answer warm-up requests; raise if the answers are
    not probabilities."""
    model = SavedModel(folder) if saved_model else FrozenModel.load(folder)
    inputs = warmup_inputs(model.contract)
    for _ in range(WARM_ROUNDS):
        proba = model.predict(inputs)
    rows, n_classes = len(next(iter(inputs.values()))), len(model.contract["classes"])
    ok = proba.shape == (rows, n_classes) and bool(
        np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    )
    if not ok:
        raise ValueError(f"warm-up answers are not probabilities: shape {proba.shape}")
    return model


class ModelRegistry:
    """Holds the current ``Served`` snapshot of one model and reloads it on promotion."""

    def __init__(
        self,
        name: str,
        serving_dir: Path,
        saved_model: bool = False,
        poll_seconds: float = 1.0,
        on_reload: Callable[[ReloadEvent], None] | None = None,
    ) -> None:
        self.name = name
        self.link = Path(serving_dir) / name
        self.saved_model = saved_model
        self.poll_seconds = poll_seconds
        self.on_reload = on_reload
        self.current: Served | None = None
        self.last_error: str | None = None
        self.reloads = 0
        self.failures = 0
        self._seen: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()  # one load at a time (watcher vs. explicit calls)

    def load(self, folder: Path, target: str | None = None) -> bool:
        """Load and warm ``folder``; swap it in only if that worked (else keep the old one)."""
        with self._lock:
            t0 = time.perf_counter()
            version = int(folder.name) if folder.name.isdigit() else None
            try:
                if version is None:
                    raise ValueError(f"{folder.name!r} is not a version number")
                model = load_warm(folder, self.saved_model)
                served = Served(self.name, version, model, model.contract, folder)
            except Exception as exc:  # any load failure: keep serving the old version
                self._failed(target or str(folder), version, f"{type(exc).__name__}: {exc}", t0)
                return False
            self.current = served  # the swap: one reference assignment
            self.last_error, self.reloads = None, self.reloads + 1
            log.info("serving %s version %s from %s", self.name, version, folder)
            seconds = time.perf_counter() - t0
            self._report(ReloadEvent(target or str(folder), version, True, None, seconds))
            return True

    def _failed(self, target: str, version: int | None, error: str, t0: float) -> None:
        self.last_error, self.failures = error[:500], self.failures + 1
        log.error("cannot load %s (version %s): %s", target, version, self.last_error)
        seconds = time.perf_counter() - t0
        self._report(ReloadEvent(target, version, False, self.last_error, seconds))

    def _report(self, event: ReloadEvent) -> None:
        if self.on_reload is not None:
            self.on_reload(event)

    def poll(self) -> bool:
        """Reload when the symlink points somewhere new; True when a load was attempted."""
        with self._lock:
            if not self.link.exists():
                return False
            t0 = time.perf_counter()
            try:
                target, folder = version_folder(self.link)
            except (OSError, RuntimeError) as exc:
                target = os.path.realpath(self.link)
                if target != self._seen:
                    self._seen = target
                    self._failed(target, None, f"{type(exc).__name__}: {exc}", t0)
                return False
            if target == self._seen:
                return False
            self._seen = target  # a failed target is not retried until the link moves again
            self.load(folder, target)
            return True

    def start(self) -> None:
        """Start the watcher thread (its first poll loads the served version)."""
        self._thread = threading.Thread(target=self._watch, name="model-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the watcher thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # the watcher must survive anything a bad folder does
                log.exception("model watcher poll failed")
            self._stop.wait(self.poll_seconds)
