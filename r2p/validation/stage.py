"""The validate stage: run each due source's suite on its offline partition, keep the evidence.

Per run it commits ``validation/<dataset>/ds=YYYY-MM-DD/`` with ``results.json`` (every
expectation's outcome, per source) and ``docs/`` (GX Data Docs HTML, ``docs/index.html``).
A failed suite raises ValidationFailed (a data problem: not retried) after saving both.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from great_expectations.data_context.types.base import ProgressBarsConfig

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.errors import DataError, ValidationFailed
from r2p.ingest.contract import due_sources
from r2p.ingest.offline import read_offline
from r2p.intervals import Interval
from r2p.validation.suite import build_expectations, gx

log = logging.getLogger(__name__)
DOCS_KEEP = (".html", ".css")  # the pages and their styles; fonts and images stay out


def _context(docs_dir: Path) -> Any:
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    ctx.add_data_docs_site(
        site_name="r2p",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return ctx


def _run_suite(ctx: Any, cfg: PipelineConfig, source: str, df: Any, run_id: str) -> dict:
    asset = ctx.data_sources.add_or_update_pandas(f"{cfg.pipeline}_{source}").add_dataframe_asset(
        source
    )
    batch = asset.add_batch_definition_whole_dataframe("partition")
    suite = ctx.suites.add(gx.ExpectationSuite(name=f"{cfg.pipeline}.{source}"))
    for exp in build_expectations(cfg, source):
        suite.add_expectation(exp)
    vd = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=f"{cfg.pipeline}.{source}", data=batch, suite=suite)
    )
    checkpoint = ctx.checkpoints.add(
        gx.Checkpoint(
            name=f"{cfg.pipeline}.{source}",
            validation_definitions=[vd],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs")],
            result_format="SUMMARY",
        )
    )
    result = checkpoint.run(
        batch_parameters={"dataframe": df},
        run_id=gx.core.run_identifier.RunIdentifier(run_name=run_id),
    )
    (suite_result,) = result.run_results.values()
    failed = [
        {
            "source": source,
            "expectation": r.expectation_config.type,
            "kwargs": {k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"},
            "observed": {
                k: r.result.get(k)
                for k in (
                    "observed_value",
                    "unexpected_count",
                    "unexpected_percent",
                    "partial_unexpected_list",
                )
                if r.result.get(k) is not None
            },
        }
        for r in suite_result.results
        if not r.success
    ]
    return {
        "success": bool(suite_result.success),
        "rows": len(df),
        "statistics": suite_result.statistics,
        "failed": failed,
        "result": suite_result.to_json_dict(),
    }


def validate_partition(cfg: PipelineConfig, interval: Interval, run_id: str) -> dict:
    """Validate every due source's offline partition for ``interval``; raise if any suite fails."""
    ds = interval.ds
    with tempfile.TemporaryDirectory(prefix="r2p-gx-") as tmp:
        docs_dir = Path(tmp)
        ctx = _context(docs_dir)
        results = {}
        for source in due_sources(cfg, ds):
            table = read_offline(cfg, source, ds)
            if table is None:
                raise DataError(
                    f"{cfg.pipeline}/{source} ds={ds} has no offline partition: "
                    "ingest did not commit it (rerun ingest for this interval)"
                )
            results[source] = _run_suite(ctx, cfg, source, table.to_pandas(), run_id)
        summary = {
            "pipeline": cfg.pipeline,
            "ds": ds.isoformat(),
            "run_id": run_id,
            "interval": interval.as_json(),
            "success": all(r["success"] for r in results.values()),
            "sources": results,
        }

        def write(prefix: storage.ObjectStoragePath) -> None:
            storage.write_json(prefix / "results.json", summary)
            for path in sorted(docs_dir.rglob("*")):
                if path.suffix in DOCS_KEEP:
                    target = prefix / "docs" / str(path.relative_to(docs_dir))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(path.read_bytes())

        uri = storage.commit(
            f"validation/{cfg.dataset.name}/ds={ds.isoformat()}",
            write,
            meta={"success": summary["success"], "run_id": run_id},
        )
    failed = [f for r in results.values() for f in r["failed"]]
    out = {
        "ds": ds.isoformat(),
        "success": summary["success"],
        "results_uri": f"{uri}/results.json",
        "docs_uri": f"{uri}/docs/index.html",
        "sources": {
            s: {
                "rows": r["rows"],
                "success": r["success"],
                "evaluated": r["statistics"]["evaluated_expectations"],
            }
            for s, r in results.items()
        },
        "failed": failed,
    }
    if failed:
        lines = "; ".join(
            f"{f['source']}: {f['expectation']}({f['kwargs'].get('column', '')}) "
            f"observed {f['observed']}"
            for f in failed[:5]
        )
        raise ValidationFailed(
            f"{cfg.pipeline} ds={ds}: {len(failed)} expectation(s) failed: "
            f"{lines}; results {out['results_uri']}, docs {out['docs_uri']}",
            failed,
        )
    log.info("%s ds=%s: every suite passed (%s)", cfg.pipeline, ds, out["sources"])
    return out
