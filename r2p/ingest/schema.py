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
    header: str | None = None  # the landing file's header, when it differs from ``name``

    @property
    def source_header(self) -> str:
        """The column's header in the landing file."""
        return self.header or self.name


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

    @property
    def headers(self) -> list[str]:
        """The landing file's headers, in the order of ``fields``."""
        return [f.source_header for f in self.fields]

    def labels_schema(self, name: str) -> SourceSchema:
        """The label partitions derived from this source's rows (a label column beside the
        features): entity key, timestamp and label only."""
        keep = {self.key, self.event_ts, self.label}
        return SourceSchema(
            self.dataset,
            name,
            self.key,
            self.event_ts,
            self.event_ts,
            tuple(Field(f.name, f.dtype) for f in self.fields if f.name in keep),
            self.label,
            self.classes,
        )

    def without_label(self) -> SourceSchema:
        """This source's feature partition: every field but the label column."""
        return SourceSchema(
            self.dataset,
            self.name,
            self.key,
            self.partition_ts,
            self.event_ts,
            tuple(f for f in self.fields if f.name != self.label),
        )

    def arrow_schema(self) -> pa.Schema:
        """The typed schema of the committed offline partition."""
        return pa.schema(
            [pa.field(f.name, ARROW[f.dtype], nullable=f.nullable) for f in self.fields]
        )


def source_schema(cfg: PipelineConfig, name: str) -> SourceSchema:
    """The schema of feature source or label source ``name`` of ``cfg``."""
    ds, key = cfg.dataset, cfg.dataset.entity.key
    key_field = Field(
        key, "int64" if ds.entity.dtype == "int64" else "string", header=ds.entity.source_name
    )
    lab = ds.label
    if name == lab.name and lab.inline:
        return source_schema(cfg, lab.source).labels_schema(name)
    if name == lab.name:
        stamps = dict.fromkeys([lab.timestamp, lab.arrival_timestamp])  # one field if the same
        fields = (
            key_field,
            *(Field(t, "timestamp", header=ds.landing_header(t, name)) for t in stamps),
            Field(lab.column, "string", header=lab.column_source_name),
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
        Field(
            c.name,
            c.dtype,
            c.nullable,
            tuple(c.categories) if c.categories else None,
            c.source_name,
        )
        for c in src.columns
    )
    ts = Field(src.timestamp, "timestamp", header=src.timestamp_source_name)
    if lab.source == name:  # the label is a column of this source's rows
        label = Field(lab.column, "string", header=lab.column_source_name)
        return SourceSchema(
            ds.name,
            name,
            key,
            src.timestamp,
            src.timestamp,
            (key_field, ts, *cols, label),
            lab.column,
            tuple(lab.classes),
        )
    return SourceSchema(ds.name, name, key, src.timestamp, src.timestamp, (key_field, ts, *cols))


def offline_schema(cfg: PipelineConfig, name: str) -> SourceSchema:
    """The schema of ``name``'s committed offline partitions: as landed, except that a feature
    source carrying the label column keeps its label in the derived label partitions."""
    schema = source_schema(cfg, name)
    if cfg.dataset.label.source == name:
        return schema.without_label()
    return schema
