"""Training runs side by side: parameters and metrics as a plain-text table."""

from __future__ import annotations

from typing import Any

KEY_METRICS = (
    "torch_test_log_loss",
    "tf_test_log_loss",
    "torch_test_roc_auc",
    "tf_test_roc_auc",
    "torch_test_roc_auc_macro",
    "tf_test_roc_auc_macro",
    "torch_test_accuracy",
    "tf_test_accuracy",
)


def table(runs: list[dict[str, Any]]) -> str:
    """One column per run; rows: tags that matter, every parameter that differs, key metrics."""
    if not runs:
        return "no training runs yet"
    params = sorted({k for r in runs for k in r["params"]})
    varying = [p for p in params if len({r["params"].get(p) for r in runs}) > 1]
    rows = [
        ("run", [r["run_id"][:12] for r in runs]),
        ("status", [r["status"] for r in runs]),
        ("code", [r["tags"].get("r2p.code_version", "") for r in runs]),
        ("from backfill", [r["tags"].get("r2p.from_backfill", "") for r in runs]),
    ]
    rows += [
        (p, [str(r["params"].get(p, ""))[:28] for r in runs])
        for p in (varying or ["cutoff", "dataset_hash"])
    ]
    rows += [
        (m, [f"{r['metrics'][m]:.4f}" if m in r["metrics"] else "" for r in runs])
        for m in KEY_METRICS
        if any(m in r["metrics"] for r in runs)
    ]
    width = max(len(name) for name, _ in rows)
    cols = [max(len(v) for _, vals in rows for v in [vals[i]]) for i in range(len(runs))]
    return "\n".join(
        f"{name:<{width}}  " + "  ".join(f"{v:<{cols[i]}}" for i, v in enumerate(vals))
        for name, vals in rows
    )
