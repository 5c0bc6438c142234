"""The declared schema of one landing source, feature or label, as ingest needs it."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from r2p.config.schema import PipelineConfig

ARROW = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "string": pa.string(),
    "category": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("ms", tz="UTC"),
}


@dataclass(frozen=True)
class Field:
    name: str
    dtype: str  # a key of ARROW
    nullable: bool = False
    categories: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SourceSchema:
    """Columns in landing order; ``partition_ts`` decides which interval a row belongs to."""

    dataset: str
    name: str
    key: str
    partition_ts: str
    event_ts: str  # with the key, identifies a row (the label's observation time for labels)
    fields: tuple[Field, ...]
    label: str | None = None
    classes: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def arrow_schema(self) -> pa.Schema:
        """The typed schema of the committed offline partition."""
        return pa.schema(
            [pa.field(f.name, ARROW[f.dtype], nullable=f.nullable) for f in self.fields]
        )


def source_schema(cfg: PipelineConfig, name: str) -> SourceSchema:
    """The schema of feature source or label source ``name`` of ``cfg``."""
    ds, key = cfg.dataset, cfg.dataset.entity.key
    key_field = Field(key, "int64" if ds.entity.dtype == "int64" else "string")
    if name == ds.label.name:
        lab = ds.label
        fields = (
            key_field,
            Field(lab.timestamp, "timestamp"),
            Field(lab.arrival_timestamp, "timestamp"),
            Field(lab.column, "string"),
        )
        return SourceSchema(
            ds.name,
            name,
            key,
            lab.arrival_timestamp,
            lab.timestamp,
            fields,
            lab.column,
            tuple(lab.classes),
        )
    src = cfg.source(name)
    cols = tuple(
        Field(c.name, c.dtype, c.nullable, tuple(c.categories) if c.categories else None)
        for c in src.columns
    )
    return SourceSchema(
        ds.name,
        name,
        key,
        src.timestamp,
        src.timestamp,
        (key_field, Field(src.timestamp, "timestamp"), *cols),
    )
