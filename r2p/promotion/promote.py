"""Promote, roll back and force: one protocol, one lock (DESIGN §5).

intent → register → previous_champion → champion → publish → commit → notify

* **intent**: an entry in the promotion record naming the action, the target, who and why,
  and the committed state it starts from; creating it is the lock (compare-and-swap on the
  record's next entry number). Another operation waits for it, or, when its owner is dead
  (or its lease expired), completes it (same target) or abandons it.
* **register**: the export becomes an MLflow registry version (idempotent by export key).
* **previous_champion**, **champion**: the registry aliases move.
* **publish**: the serving build is made beside the served one and loaded and warmed by the
  server's loader in a separate process; nothing served changes yet.
* **commit**: the record's ``committed`` entry makes the new champion current, then one
  symlink rename makes it served.
* **notify**: the team hears it; a ``notified`` entry records that it did.

A kill before commit leaves the old champion served and recorded as current (the aliases may
be ahead: they follow the record, and the next operation puts them back). After commit, the
next operation finds followers (aliases, serving folder, notification) behind the record and
brings them up to it.
"""

from __future__ import annotations

import getpass
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from r2p.config.schema import PipelineConfig
from r2p.errors import DataError
from r2p.promotion import record, registry, serving_folder
from r2p.promotion.record import ABANDONED, COMMITTED, INTENT, NOTIFIED, STEP, RecordConflict

log = logging.getLogger(__name__)
STEPS = ("intent", "register", "previous_champion", "champion", "publish", "commit", "notify")
OUTCOMES = {
    "promote": "promoted",
    "rollback": "rolled_back",
    "force": "forced",
    "reconcile": "reconciled",
}
_LOCAL = threading.Lock()  # operations of one process run one at a time


def _after_step(step: str) -> None:
    """Called after every step; crash tests replace it to kill the process right there."""


class PromotionError(DataError):
    """A promotion request that cannot be carried out as asked (nothing was changed)."""


def default_who() -> str:
    """``user@host`` of this process."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _slim(ref: dict[str, Any] | None) -> dict[str, Any] | None:
    keep = (
        "pipeline", "model", "export_uri", "export_key", "pb_sha256", "registry_version",
        "mlflow_run_id", "dataset_uri", "manifest_uri", "dataset_hash", "feature_service",
        "data_end", "train_valid_end", "from_backfill", "trained_by_run",
    )  # fmt: skip
    return {k: ref.get(k) for k in keep} if ref else None


def _announce(cfg: PipelineConfig, committed: dict[str, Any]) -> None:
    from r2p.promotion.announce import announce

    announce(cfg, committed)


def _append(cfg: PipelineConfig, kind: str, op: str, **fields: Any) -> dict[str, Any]:
    state = record.read(cfg.pipeline)
    return record.append(cfg.pipeline, state.next_seq, kind, op, **fields)


def _version(ref: dict[str, Any] | None) -> int | None:
    return ref.get("registry_version") if ref else None


def _run(cfg: PipelineConfig, state: record.State, intent: dict[str, Any]) -> dict[str, Any]:
    """Carry out (or resume) the open ``intent``; steps already recorded are not redone."""
    op, steps, pipeline = intent["op"], dict(state.steps), cfg.pipeline
    target, new_previous = intent["target"], intent["new_previous"]
    try:
        if "register" in steps:
            version = steps["register"]["version"]
        else:
            extra = {k: v for k, v in (intent.get("attachments") or {}).items() if v}
            version = registry.register(target, extra)
            _append(cfg, STEP, op, step="register", version=version)
            _after_step("register")
        if "previous_champion" not in steps:
            registry.set_alias(pipeline, registry.PREVIOUS, _version(new_previous))
            _append(cfg, STEP, op, step="previous_champion", version=_version(new_previous))
            _after_step("previous_champion")
        if "champion" not in steps:
            registry.set_alias(pipeline, registry.CHAMPION, version)
            _append(cfg, STEP, op, step="champion", version=version)
            _after_step("champion")
        build = steps.get("publish", {}).get("build")
        if not build or not Path(build).exists():
            build = str(serving_folder.stage(pipeline, version, target["export_uri"]))
            _append(cfg, STEP, op, step="publish", build=build)
            _after_step("publish")
        champion = {**target, "registry_version": version}
        committed = _append(
            cfg,
            COMMITTED,
            op,
            action=intent["action"],
            champion=champion,
            previous_champion=new_previous,
            reason=intent["reason"],
            who=intent["who"],
            decision_uri=intent.get("decision_uri"),
            intent_seq=intent["seq"],
        )
        serving_folder.switch(pipeline, Path(build))
        _after_step("commit")
    except RecordConflict:
        raise  # another operation took the lock over: it owns the record now
    except BaseException as exc:
        _abandon(cfg, f"{intent['action']} failed: {type(exc).__name__}: {exc}")
        raise
    _notify(cfg, committed)
    return _result(cfg, intent["action"], committed, resumed=bool(steps))


def _notify(cfg: PipelineConfig, committed: dict[str, Any]) -> None:
    try:
        _announce(cfg, committed)
    except Exception:  # a notification that fails never fails the promotion
        log.exception("announcing %s of %s failed", committed["action"], cfg.pipeline)
        return
    _append(cfg, NOTIFIED, committed["op"], committed_seq=committed["seq"])
    _after_step("notify")


def _result(
    cfg: PipelineConfig, action: str, committed: dict[str, Any], resumed: bool = False
) -> dict[str, Any]:
    return {
        "pipeline": cfg.pipeline,
        "action": action,
        "outcome": OUTCOMES[action],
        "op": committed["op"],
        "seq": committed["seq"],
        "champion": committed["champion"],
        "previous_champion": committed["previous_champion"],
        "reason": committed["reason"],
        "who": committed["who"],
        "resumed": resumed,
        "served": serving_folder.served(cfg.pipeline),
    }


def _abandon(cfg: PipelineConfig, reason: str) -> None:
    """Close the open intent as abandoned, then bring the followers back to the record."""
    state = record.read(cfg.pipeline)
    intent = state.open_intent
    if intent is None:
        return
    record.append(cfg.pipeline, state.next_seq, ABANDONED, intent["op"], reason=reason)
    log.warning("%s: abandoned %s %s: %s", cfg.pipeline, intent["action"], intent["op"], reason)
    serving_folder.discard(state.steps.get("publish", {}).get("build"))
    _follow(cfg, record.read(cfg.pipeline))


def _follow(cfg: PipelineConfig, state: record.State) -> list[str]:
    """Make the aliases and the serving folder match the committed state; what was fixed."""
    fixed = []
    want = {
        registry.CHAMPION: _version(state.champion),
        registry.PREVIOUS: _version(state.previous_champion),
    }
    have = registry.aliases(cfg.pipeline)
    for alias, version in want.items():
        if have.get(alias) != version:
            registry.set_alias(cfg.pipeline, alias, version)
            fixed.append(f"alias {alias} -> {version}")
    served = serving_folder.served(cfg.pipeline)
    champion = state.champion
    if champion and (
        served is None
        or served["version"] != champion["registry_version"]
        or served["pb_sha256"] != champion["pb_sha256"]
    ):
        build = serving_folder.stage(
            cfg.pipeline, champion["registry_version"], champion["export_uri"]
        )
        serving_folder.switch(cfg.pipeline, build)
        fixed.append(f"serving folder -> version {champion['registry_version']}")
    return fixed


def _acquire(cfg: PipelineConfig) -> record.State:
    return record.wait_for_lock(
        cfg.pipeline, cfg.promotion.lock_wait_seconds, cfg.promotion.stale_intent_seconds
    )


def _operate(
    cfg: PipelineConfig,
    action: str,
    choose: Callable[[record.State], tuple[dict[str, Any], dict[str, Any] | None]],
    reason: str,
    who: str | None,
    decision_uri: str | None = None,
    attachments: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Take the lock, recover what a dead operation left, then run ``action``.

    ``choose(state)`` gives (target, new previous champion) from the committed state.
    """
    if not reason or not reason.strip():
        raise PromotionError(f"{action} of {cfg.pipeline} needs a reason; nothing was changed")
    who = who or default_who()
    with _LOCAL:
        while True:
            state = _acquire(cfg)
            try:
                if state.open_intent is not None:
                    intent = state.open_intent
                    target, _ = choose(state) if intent["action"] == action else (None, None)
                    if target and intent["target"]["export_key"] == target["export_key"]:
                        log.info("%s: resuming %s %s", cfg.pipeline, action, intent["op"])
                        return _run(cfg, state, intent)
                    _abandon(cfg, f"its owner stopped; superseded by {action} by {who}")
                    continue
                fixed = _follow(cfg, state)
                if fixed:
                    log.warning("%s: followers were behind the record: %s", cfg.pipeline, fixed)
                if state.committed and state.committed["op"] not in state.notified:
                    _notify(cfg, state.committed)
                    continue
                target, new_previous = choose(state)
                if state.champion and state.champion["export_key"] == target["export_key"]:
                    return {
                        **_result(cfg, action, state.committed),
                        "outcome": "unchanged",
                        "detail": f"{target['model']} ({target['export_key'][:12]}) is the "
                        "champion already: nothing changed",
                    }
                intent = record.append(
                    cfg.pipeline,
                    state.next_seq,
                    INTENT,
                    record.new_op(),
                    action=action,
                    target=_slim(target),
                    new_previous=_slim(new_previous),
                    from_champion=_slim(state.champion),
                    reason=reason.strip(),
                    who=who,
                    decision_uri=decision_uri,
                    attachments=attachments or {},
                )
            except RecordConflict:
                continue  # another writer got that entry number: wait for it
            _after_step("intent")
            return _run(cfg, record.read(cfg.pipeline), intent)


def promote(
    cfg: PipelineConfig,
    candidate: dict[str, Any],
    *,
    reason: str,
    who: str | None = None,
    decision_uri: str | None = None,
    attachments: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Make ``candidate`` (an export's lineage, ``r2p.export.lineage.describe``) the champion.

    The caller has judged it (the evaluation's decision); this only carries it out.
    """
    return _operate(
        cfg,
        "promote",
        lambda state: (candidate, state.champion),
        reason,
        who,
        decision_uri,
        attachments,
    )


def rollback(cfg: PipelineConfig, *, reason: str, who: str | None = None) -> dict[str, Any]:
    """Make ``previous_champion`` the champion again (and the champion its previous)."""

    def choose(state: record.State) -> tuple[dict[str, Any], dict[str, Any] | None]:
        if state.previous_champion is None:
            raise PromotionError(
                f"{cfg.pipeline} has no previous champion to roll back to "
                f"(champion: {_version(state.champion)}); force a version instead"
            )
        return state.previous_champion, state.champion

    return _operate(cfg, "rollback", choose, reason, who)


def force(
    cfg: PipelineConfig, *, version: int, reason: str, who: str | None = None
) -> dict[str, Any]:
    """Make registry ``version`` the champion, skipping the gates (the reason is recorded)."""
    from r2p.export.lineage import describe

    try:
        target = describe(registry.version_export_uri(cfg.pipeline, version))
    except Exception as exc:
        raise PromotionError(
            f"{registry.model_name(cfg.pipeline)} has no usable version {version}: {exc}"
        ) from exc
    return _operate(cfg, "force", lambda state: (target, state.champion), reason, who)


def reconcile(cfg: PipelineConfig, *, reason: str, who: str | None = None) -> dict[str, Any]:
    """Abandon an intent whose owner died, and bring the aliases, the serving folder and the
    announcement up to the record (what every operation does first, on its own)."""
    if not reason or not reason.strip():
        raise PromotionError(f"reconcile of {cfg.pipeline} needs a reason; nothing was changed")
    who = who or default_who()
    with _LOCAL:
        state = _acquire(cfg)
        abandoned = state.open_intent
        if abandoned is not None:
            _abandon(cfg, f"its owner stopped; reconcile by {who}: {reason.strip()}")
            state = record.read(cfg.pipeline)
        fixed = _follow(cfg, state)
        if state.committed and state.committed["op"] not in state.notified:
            _notify(cfg, state.committed)
            fixed.append("announced the last change")
    if abandoned is not None:
        fixed.insert(0, f"abandoned {abandoned['action']} {abandoned['op'][:8]}")
    return {
        "pipeline": cfg.pipeline,
        "action": "reconcile",
        "outcome": "reconciled" if fixed else "unchanged",
        "detail": "; ".join(fixed) or "aliases and serving folder already follow the record",
        "fixed": fixed,
        "champion": state.champion,
        "previous_champion": state.previous_champion,
        "served": serving_folder.served(cfg.pipeline),
    }


def status(pipeline: str) -> dict[str, Any]:
    """The committed champion and previous champion, any open intent, and what is served."""
    state = record.read(pipeline)
    return {
        "pipeline": pipeline,
        "champion": state.champion,
        "previous_champion": state.previous_champion,
        "open_intent": state.open_intent,
        "served": serving_folder.served(pipeline),
        "entries": len(state.entries),
    }


def history(pipeline: str) -> list[dict[str, Any]]:
    """Every committed or abandoned operation, oldest first, with who, when and why."""
    state = record.read(pipeline)
    intents = {e["op"]: e for e in state.entries if e["kind"] == INTENT}
    out = []
    for e in state.entries:
        if e["kind"] not in (COMMITTED, ABANDONED):
            continue
        intent = intents.get(e["op"], {})
        out.append(
            {
                "seq": e["seq"],
                "at": e["at"],
                "kind": e["kind"],
                "action": intent.get("action"),
                "who": intent.get("who"),
                "reason": intent.get("reason"),
                "version": _version(e.get("champion")),
                "previous": _version(e.get("previous_champion")),
                "abandoned_because": e.get("reason") if e["kind"] == ABANDONED else None,
            }
        )
    return out
