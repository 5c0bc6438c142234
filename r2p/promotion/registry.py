"""The MLflow model registry follows the promotion record: one registered model per pipeline
(``r2p-<pipeline>``), one version per exported model (idempotent by its export key), and the
aliases ``champion`` and ``previous_champion``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from r2p import storage

CHAMPION, PREVIOUS = "champion", "previous_champion"
KEY_TAG = "r2p.export_key"
ARTIFACT_PATH = "serving"


def model_name(pipeline: str) -> str:
    """The registered model of a pipeline."""
    return f"r2p-{pipeline}"


def _client() -> Any:
    from r2p.training.tracking import tracking_client

    return tracking_client()


def find_version(pipeline: str, export_key: str) -> int | None:
    """The registry version of an export, if it was registered."""
    client = _client()
    try:
        found = client.search_model_versions(
            f"name='{model_name(pipeline)}' and tags.`{KEY_TAG}` = '{export_key}'"
        )
    except Exception as exc:  # no registered model yet
        if "RESOURCE_DOES_NOT_EXIST" in str(exc):
            return None
        raise
    return min(int(v.version) for v in found) if found else None


def _download(uri: str, folder: Path) -> None:
    base = storage.path(uri)
    for p in base.rglob("*"):
        if p.is_file():
            rel = str(p)[len(str(base)) :].lstrip("/")
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(p.read_bytes())


def register(ref: dict[str, Any], extra_files: dict[str, str] | None = None) -> int:
    """Register ``ref``'s export (``.pb``, SavedModel, contract, dataset manifest, and
    ``extra_files`` such as the report) as a version; the existing version when it was."""
    pipeline = ref["pipeline"]
    if (version := find_version(pipeline, ref["export_key"])) is not None:
        return version
    from r2p.training.tracking import experiment_id

    client = _client()
    name = model_name(pipeline)
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name, description=f"r2p pipeline {pipeline}")
    run_id = ref.get("mlflow_run_id")
    if not run_id:
        run_id = client.create_run(experiment_id(pipeline), tags={"r2p.export": "1"}).info.run_id
        client.set_terminated(run_id)
    with tempfile.TemporaryDirectory(prefix="r2p-register-") as tmp:
        folder = Path(tmp)
        _download(ref["export_uri"], folder)
        (folder / "dataset_manifest.json").write_bytes(
            storage.path(ref["manifest_uri"]).read_bytes()
        )
        for name_, uri in (extra_files or {}).items():
            (folder / name_).write_bytes(storage.path(uri).read_bytes())
        client.log_artifacts(run_id, str(folder), ARTIFACT_PATH)
    source = f"{client.get_run(run_id).info.artifact_uri}/{ARTIFACT_PATH}"
    mv = client.create_model_version(
        name,
        source,
        run_id,
        tags={
            KEY_TAG: ref["export_key"],
            "r2p.pb_sha256": ref["pb_sha256"],
            "r2p.export_uri": ref["export_uri"],
            "r2p.dataset_hash": ref["dataset_hash"],
            "r2p.data_end": ref["data_end"],
        },
        description=f"{ref['model']} trained on data up to {ref['data_end']}",
    )
    return int(mv.version)


def version_export_uri(pipeline: str, version: int) -> str:
    """The export a registry version was made from (its ``r2p.export_uri`` tag)."""
    mv = _client().get_model_version(model_name(pipeline), str(version))
    uri = mv.tags.get("r2p.export_uri")
    if not uri:
        raise KeyError(f"{model_name(pipeline)} version {version} was not registered by r2p")
    return storage.resolve(uri)  # re-based when the home moved since it was registered


def set_alias(pipeline: str, alias: str, version: int | None) -> None:
    """Point ``alias`` at ``version``, or remove it (None)."""
    client = _client()
    if version is None:
        if alias in aliases(pipeline):
            client.delete_registered_model_alias(model_name(pipeline), alias)
        return
    client.set_registered_model_alias(model_name(pipeline), alias, str(version))


def aliases(pipeline: str) -> dict[str, int]:
    """The registered model's aliases (empty before the first registration)."""
    client = _client()
    found = client.search_registered_models(f"name='{model_name(pipeline)}'")
    return {k: int(v) for k, v in found[0].aliases.items()} if found else {}
