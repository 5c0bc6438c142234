"""A deterministic generator of realistic labelled data for any pipeline config.

Every value is a function of (config, seed, day) only, so one day can be regenerated alone
and a backfill sees the same bytes as the original run. Structure:

* each entity has a fixed latent vector; every feature column is a noisy function of it, so
  features are correlated the way real ones are;
* snapshot sources give one row per entity on each due day; event sources give a Poisson
  number of timestamped events per entity and day;
* a label describes one entity at a moment right after its last event of the day; its class
  depends on exactly the feature values a point-in-time join sees at that moment (the
  latest snapshot and the latest event), through fixed per-class weights;
* ``drift=True`` replaces most of those weights, which changes P(label | features).
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from r2p.config.schema import Column, FeatureSource, PipelineConfig

LATENT_DIM = 4
LOGIT_SD = 1.7  # spread of the true label logit; sets how much signal the features carry
EVENT_DAY_SECONDS = 22 * 3600  # events fall in [00:00, 22:00) so labels follow within the day
DRIFT_KEEP = 0.25  # share of the clean weights kept on a drifted day


def _rng(seed: int, *parts: object) -> np.random.Generator:
    keys = [seed] + [zlib.crc32(str(p).encode()) for p in parts]
    return np.random.default_rng(np.random.SeedSequence(keys))


def _day_start(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def entity_ids(cfg: PipelineConfig, n: int) -> np.ndarray:
    """The entity keys 1..n, as int64 or as zero-padded strings (``V000042``)."""
    ids = np.arange(1, n + 1, dtype=np.int64)
    if cfg.dataset.entity.dtype == "string":
        prefix = cfg.dataset.entity.name[0].upper()
        return np.array([f"{prefix}{i:06d}" for i in ids], dtype=object)
    return ids


@dataclass(frozen=True)
class Generator:
    """Draws sources and labels of one pipeline for any day, deterministically."""

    cfg: PipelineConfig
    entities: int
    seed: int

    @classmethod
    def for_config(
        cls, cfg: PipelineConfig, entities: int | None = None, seed: int | None = None
    ) -> Generator:
        """A generator with the config's ``sample`` settings unless overridden."""
        return cls(cfg, entities or cfg.sample.entities, cfg.sample.seed if seed is None else seed)

    # -- latent structure ---------------------------------------------------------------
    def _latent(self) -> np.ndarray:
        return _rng(self.seed, "latent").standard_normal((self.entities, LATENT_DIM))

    def _loading(self, source: str, col: str) -> np.ndarray:
        return _rng(self.seed, "loading", source, col).standard_normal(LATENT_DIM)

    def _draw(self, col: Column, source: str, z: np.ndarray, rng: np.random.Generator):
        """Values of ``col`` for latent rows ``z``: 70% latent, 30% fresh noise."""
        mix = 0.84 * (z @ self._loading(source, col.name)) / np.sqrt(LATENT_DIM)
        m = mix + 0.55 * rng.standard_normal(len(z))
        hint = col.sample
        if col.dtype == "category":
            return self._categories(col, source, m, rng)
        if col.dtype == "bool":
            return m > 0
        if hint.dist == "lognormal":
            v = np.exp(hint.mean + hint.sd * m)
        elif hint.dist == "poisson":
            v = rng.poisson(hint.mean * np.exp(0.5 * m - 0.125)).astype(float)
        elif hint.dist == "uniform":
            v = hint.low + (hint.high - hint.low) * ndtr(m)
        else:
            v = hint.mean + hint.sd * m
        v = np.clip(v, col.min if col.min is not None else -np.inf, col.max or np.inf)
        return np.round(v).astype(np.int64) if col.dtype == "int64" else np.round(v, 4)

    def _categories(self, col: Column, source: str, m: np.ndarray, rng: np.random.Generator):
        cats = col.categories or []
        weights = np.array(col.sample.weights or [1.0] * len(cats), dtype=float)
        tilt = _rng(self.seed, "tilt", source, col.name).standard_normal(len(cats))
        logits = np.log(weights / weights.sum()) + np.outer(m, tilt)
        gumbel = -np.log(-np.log(rng.uniform(1e-12, 1.0, logits.shape)))
        return pd.Categorical.from_codes(np.argmax(logits + gumbel, axis=1), categories=cats)

    # -- sources ------------------------------------------------------------------------
    def snapshot(self, src: FeatureSource, day: dt.date) -> pd.DataFrame:
        """One row per entity, stamped at the start of ``day`` (whether due or not)."""
        rng = _rng(self.seed, "snapshot", src.name, day.toordinal())
        z = self._latent()
        frame = {self.cfg.dataset.entity.key: entity_ids(self.cfg, self.entities)}
        frame[src.timestamp] = np.repeat(_day_start(day), self.entities)
        for col in src.columns:
            frame[col.name] = self._draw(col, src.name, z, rng)
        return pd.DataFrame(frame)

    def events(self, src: FeatureSource, day: dt.date) -> pd.DataFrame:
        """A Poisson number of events per entity on ``day``, unique per (entity, timestamp)."""
        rng = _rng(self.seed, "events", src.name, day.toordinal())
        counts = rng.poisson(src.events_per_entity, self.entities)
        idx = np.repeat(np.arange(self.entities), counts)
        ms = rng.integers(0, EVENT_DAY_SECONDS * 1000, len(idx))
        order = np.lexsort((ms, idx))
        idx, ms = idx[order], ms[order]
        # a (entity, timestamp) pair must be unique: nudge exact ties by a millisecond each
        same = np.r_[False, (idx[1:] == idx[:-1]) & (ms[1:] <= ms[:-1])]
        while same.any():
            ms[same] = ms[np.flatnonzero(same) - 1] + 1
            same = np.r_[False, (idx[1:] == idx[:-1]) & (ms[1:] <= ms[:-1])]
        key = self.cfg.dataset.entity.key
        frame = {key: entity_ids(self.cfg, self.entities)[idx]}
        frame[src.timestamp] = _day_start(day) + pd.to_timedelta(ms, unit="ms")
        z = self._latent()[idx]
        for col in src.columns:
            frame[col.name] = self._draw(col, src.name, z, rng)
        return pd.DataFrame(frame)

    def source(self, name: str, day: dt.date) -> pd.DataFrame | None:
        """The landing rows of a feature source for ``day``; None when it is not due."""
        src = self.cfg.source(name)
        if not src.is_due(day):
            return None
        return self.snapshot(src, day) if src.kind == "snapshot" else self.events(src, day)

    # -- labels -------------------------------------------------------------------------
    def _as_of_features(self, day: dt.date) -> pd.DataFrame:
        """For entities with an event on ``day``: the features a PIT join sees after it."""
        key = self.cfg.dataset.entity.key
        joined: pd.DataFrame | None = None
        for src in (s for s in self.cfg.dataset.sources if s.kind == "events"):
            ev = self.events(src, day)
            last = ev.groupby(key, sort=True).tail(1).set_index(key)
            last = last.rename(columns={src.timestamp: f"_ts_{src.name}"})
            joined = last if joined is None else joined.join(last, how="inner")
        if joined is None:  # no event source: every entity, as of noon
            joined = pd.DataFrame(index=pd.Index(entity_ids(self.cfg, self.entities), name=key))
            joined["_ts_noon"] = _day_start(day) + pd.Timedelta(hours=12)
        for src in (s for s in self.cfg.dataset.sources if s.kind == "snapshot"):
            due = next(day - dt.timedelta(d) for d in range(8) if src.is_due(day - dt.timedelta(d)))
            snap = self.snapshot(src, due).set_index(key).drop(columns=[src.timestamp])
            joined = joined.join(snap, how="inner")
        return joined

    def _weights(self, drift: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
        n_cls = len(self.cfg.dataset.label.classes)
        out = 1 if n_cls == 2 else n_cls
        weights = {}
        for col in self.cfg.feature_columns:
            width = len(col.categories) if col.dtype == "category" else 1
            w = _rng(self.seed, "weight", col.name).standard_normal((width, out))
            if col.sample.effect is not None:
                w *= col.sample.effect
            if drift:
                fresh = _rng(self.seed, "drift", col.name).standard_normal((width, out))
                w = DRIFT_KEEP * w + np.sqrt(1 - DRIFT_KEEP**2) * fresh
            weights[col.name] = w
        bias = np.full(out, -1.0) if n_cls == 2 else np.linspace(0.8, -0.8, n_cls)
        return weights, bias

    def _logits(self, feats: pd.DataFrame, drift: bool) -> np.ndarray:
        weights, bias = self._weights(drift)
        lp = np.zeros((len(feats), len(bias)))
        for col in (c for c in self.cfg.feature_columns if c.name in feats.columns):
            v = feats[col.name]
            if col.dtype == "category":
                lp += weights[col.name][pd.Categorical(v, categories=col.categories).codes]
                continue
            x = v.to_numpy(dtype=float)
            if col.sample.dist in ("lognormal", "poisson"):
                x = np.log1p(np.maximum(x, 0))
            sd = x.std() or 1.0
            lp += np.outer((x - x.mean()) / sd, weights[col.name][0])
        lp = (lp - lp.mean(axis=0)) / (lp.std(axis=0) + 1e-12)
        return LOGIT_SD * self.cfg.sample.signal * lp + bias

    def labels_observed(self, day: dt.date, drift: bool = False) -> pd.DataFrame:
        """Labels describing moments on ``day`` (they land ``delay_days`` later)."""
        lab = self.cfg.dataset.label
        key = self.cfg.dataset.entity.key
        rng = _rng(self.seed, "labels", day.toordinal())
        feats = self._as_of_features(day)
        pick = np.sort(
            rng.permutation(len(feats))[: max(1, round(lab.label_fraction * len(feats)))]
        )
        feats = feats.iloc[pick]
        cls = _draw_classes(self._logits(feats, drift), rng)
        last_seen = feats[[c for c in feats.columns if c.startswith("_ts_")]].max(axis=1)
        observed = last_seen + pd.to_timedelta(rng.integers(60, 3600, len(feats)), unit="s")
        arrived = observed + pd.Timedelta(days=lab.delay_days)
        arrived += pd.to_timedelta(rng.integers(0, 1800, len(feats)), unit="s")
        return pd.DataFrame(
            {
                key: feats.index.to_numpy(),
                lab.timestamp: observed.to_numpy(),
                lab.arrival_timestamp: arrived.to_numpy(),
                lab.column: np.asarray(lab.classes, dtype=object)[cls],
            }
        )

    def with_labels(self, frame: pd.DataFrame, drift: bool = False) -> pd.DataFrame:
        """``frame`` (rows of the label's own source) with the label column: each row's class
        drawn from that row's features (a label beside the features, known with its row)."""
        lab = self.cfg.dataset.label
        ts = pd.to_datetime(frame[self.cfg.source(lab.source).timestamp], utc=True)
        day = ts.min().date() if len(frame) else dt.date(2000, 1, 1)
        rng = _rng(self.seed, "inline_labels", day.toordinal())
        cls = _draw_classes(self._logits(frame, drift), rng) if len(frame) else []
        return frame.assign(**{lab.column: np.asarray(lab.classes, dtype=object)[cls]})

    def labels_arriving(self, day: dt.date, drift: bool = False) -> pd.DataFrame:
        """The label landing partition of ``day``: labels whose arrival date is ``day``."""
        return self.labels_observed(
            day - dt.timedelta(days=self.cfg.dataset.label.delay_days), drift
        )

    def training_frame(self, day: dt.date, drift: bool = False) -> pd.DataFrame:
        """Labels observed on ``day`` with the features a PIT join gives them (for checks)."""
        lab = self.labels_observed(day, drift)
        feats = self._as_of_features(day)
        cols = [c.name for c in self.cfg.feature_columns]
        key = self.cfg.dataset.entity.key
        return lab.join(feats[cols], on=key)


def _draw_classes(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A class index per row: Bernoulli on one logit, Gumbel-max on several."""
    if logits.shape[1] == 1:
        return (rng.uniform(size=len(logits)) < 1 / (1 + np.exp(-logits[:, 0]))).astype(int)
    gumbel = -np.log(-np.log(rng.uniform(1e-12, 1.0, logits.shape)))
    return np.argmax(logits + gumbel, axis=1)
