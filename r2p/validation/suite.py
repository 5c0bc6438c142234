"""Great Expectations suites built from the pipeline config, one per source.

Each declared column gives its expectations (present, not null unless nullable, within
min/max, categories in their set); every source gets a row count, an exact column set and a
unique (entity, timestamp); labels get their classes and arrival after observation; extra
expectations come from the config's ``expectations:`` list, by GX class name.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx

from r2p.config.schema import PipelineConfig
from r2p.errors import DataError
from r2p.ingest.schema import SourceSchema, offline_schema

CATEGORY_MOSTLY = 0.99  # a new category in more than 1% of rows is a contract change


def expectation_class(type_name: str) -> type:
    """The GX expectation class for a snake_case name (DataError naming it when unknown)."""
    camel = "".join(part.capitalize() for part in type_name.split("_"))
    cls = getattr(gx.expectations, camel, None)
    if cls is None:
        raise DataError(f"unknown Great Expectations expectation {type_name!r} (no {camel})")
    return cls


def _column_expectations(cfg: PipelineConfig, schema: SourceSchema) -> list[Any]:
    e = gx.expectations
    out: list[Any] = []
    declared = {c.name: c for s in cfg.dataset.sources for c in s.columns}
    for f in schema.fields:
        col = declared.get(f.name)
        if not f.nullable:
            out.append(e.ExpectColumnValuesToNotBeNull(column=f.name))
        if col is not None and (col.min is not None or col.max is not None):
            out.append(
                e.ExpectColumnValuesToBeBetween(column=f.name, min_value=col.min, max_value=col.max)
            )
        if f.categories:
            out.append(
                e.ExpectColumnValuesToBeInSet(
                    column=f.name, value_set=list(f.categories), mostly=CATEGORY_MOSTLY
                )
            )
    return out


def build_expectations(cfg: PipelineConfig, source: str) -> list[Any]:
    """Every expectation for ``source``: derived from the declared schema, then the extras."""
    e = gx.expectations
    schema = offline_schema(cfg, source)
    out: list[Any] = [
        e.ExpectTableColumnsToMatchSet(column_set=schema.names, exact_match=True),
        e.ExpectTableRowCountToBeBetween(min_value=1),
        e.ExpectCompoundColumnsToBeUnique(column_list=[schema.key, schema.event_ts]),
        *_column_expectations(cfg, schema),
    ]
    if schema.label:
        out.append(
            e.ExpectColumnValuesToBeInSet(column=schema.label, value_set=list(schema.classes))
        )
        if schema.partition_ts != schema.event_ts:  # a label that arrives after its moment
            out.append(
                e.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=schema.partition_ts, column_B=schema.event_ts, or_equal=True
                )
            )
    for extra in cfg.expectations:
        if extra.source == source:
            out.append(expectation_class(extra.type)(**extra.kwargs))
    return out
