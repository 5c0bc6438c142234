"""Feast objects derived from a pipeline config: entity, sources, feature views, services.

Names are prefixed with the pipeline so several pipelines share one Feast project:
``<pipeline>_<entity>``, ``<pipeline>_<source>`` (source and view), and a FeatureService per
model, ``<pipeline>_<model>_v<features.service_version>``. Feature names stay the config's
column names, so training sets and the model see the same names as the config.
"""

from __future__ import annotations

import datetime as dt

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import ParquetFormat
from feast.types import Bool, Float64, Int64, String

from r2p.config.schema import PipelineConfig
from r2p.features.paths import source_glob

FEAST_TYPES = {
    "int64": Int64,
    "float64": Float64,
    "string": String,
    "category": String,
    "bool": Bool,
}
LABEL_TTL = dt.timedelta(days=3650)  # labels never join as features; the TTL is nominal


def entity_name(cfg: PipelineConfig) -> str:
    return f"{cfg.pipeline}_{cfg.dataset.entity.name}"


def view_name(cfg: PipelineConfig, source: str) -> str:
    """The feature view (and data source) name of one of ``cfg``'s sources."""
    return f"{cfg.pipeline}_{source}"


def service_name(cfg: PipelineConfig, model: str) -> str:
    """The versioned FeatureService a model is trained and served through."""
    return f"{cfg.pipeline}_{model}_v{cfg.features.service_version}"


def _source(cfg: PipelineConfig, name: str, timestamp: str) -> FileSource:
    return FileSource(
        name=view_name(cfg, name),
        path=source_glob(cfg, name),
        timestamp_field=timestamp,
        file_format=ParquetFormat(),
        tags={"pipeline": cfg.pipeline},
    )


def feast_objects(cfg: PipelineConfig) -> list:
    """Every Feast object of one pipeline, in dependency order."""
    ds = cfg.dataset
    entity = Entity(
        name=entity_name(cfg),
        join_keys=[ds.entity.key],
        value_type=ValueType.INT64 if ds.entity.dtype == "int64" else ValueType.STRING,
        tags={"pipeline": cfg.pipeline},
    )
    views = [
        FeatureView(
            name=view_name(cfg, src.name),
            entities=[entity],
            ttl=dt.timedelta(days=src.ttl_days),
            schema=[Field(name=c.name, dtype=FEAST_TYPES[c.dtype]) for c in src.columns],
            source=_source(cfg, src.name, src.timestamp),
            online=True,
            tags={"pipeline": cfg.pipeline, "kind": src.kind, "cadence": src.cadence},
        )
        for src in ds.sources
    ]
    label_view = FeatureView(
        name=view_name(cfg, ds.label.name),
        entities=[entity],
        ttl=LABEL_TTL,
        schema=[Field(name=ds.label.column, dtype=String)],
        source=_source(cfg, ds.label.name, ds.label.timestamp),
        online=False,
        tags={
            "pipeline": cfg.pipeline,
            "kind": "label",
            "arrival_timestamp": ds.label.arrival_timestamp,
            "delay_days": str(ds.label.delay_days),
        },
    )
    services = [
        FeatureService(
            name=service_name(cfg, m.name),
            features=views,
            tags={
                "pipeline": cfg.pipeline,
                "model": m.name,
                "version": str(cfg.features.service_version),
            },
        )
        for m in cfg.models
    ]
    return [entity, *views, label_view, *services]
