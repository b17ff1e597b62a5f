"""From a newly registered version to champion, for any registered model (generator, CLAP).

    register a version            (the model's own training code logs and registers it)
    challenge(...)                alias "challenger", evaluate, then promote_if_better(...)
    promote_if_better(...)        "champion" only when every gate passes: the absolute threshold
                                  (``min`` / ``max``) and no regression beyond ``tolerance``
                                  against the current champion's metrics
    promote(...) / rollback(...)  by hand, always recorded with who and why

Gates are ``{metric: common.config.Gate}`` (``train.gates`` for the generator). A gate whose
metric was not measured fails: a version nobody could check is not promoted. The champion's
metrics are its ``metric.*`` version tags (written here when it was evaluated), or, for a metric
missing there, the latest value its run logged.

Realism: when the evaluation measured ``realism.classifier_bacc`` (how well a classifier tells the
version's pieces from real songs; lower is more real, training.realism) and the configured gates
do not name it, :data:`REALISM_GATE` applies too: a challenger further from real music than the
champion by more than its tolerance is not promoted. The champion's figure counts only when it
was measured against the same real songs (``realism.real_set_id``); otherwise the gate says the
champion has no value and judges the challenger alone.

Copying: when the evaluation measured ``copy.share_4bar`` (the share of its pieces that repeat 4 bars
or more of a training song's melody, training.copycheck) and the gates do not name it,
:data:`COPY_GATE` applies too: a challenger whose share is above 0.001 is not promoted.

What is recorded in MLflow:

* version tags ``metric.<name>`` (every evaluated metric), ``lifecycle.decision`` (promoted,
  rejected, forced; rollback on the champion a rollback demoted), ``lifecycle.reasons`` (one clause per gate), ``lifecycle.compared_with``
  (the champion version it was measured against), ``lifecycle.decided_by``, ``lifecycle.decided_at``;
* the registered model's tag ``lifecycle.history``: a JSON list of every champion change
  (``{"event", "version", "previous", "by", "reason", "at"}``). ``rollback`` replays it as a
  stack (promote pushes, rollback pops) to find the previous champion.

Read-modify-write of the history is not atomic: two people promoting the same model at the same
second can lose one history entry (the alias itself is always consistent).
"""

from __future__ import annotations

import getpass
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from mlflow.exceptions import MlflowException

from training import registry

METRIC_TAG = "metric."
HISTORY_TAG = "lifecycle.history"
_HISTORY_KEEP = 500  # events kept in the history tag
_REASONS_MAX = 4000


REALISM_METRIC = "realism.classifier_bacc"
REALISM_SET_METRIC = "realism.real_set_id"
# Lower is better; 0.05 of balanced accuracy is about one case in twenty of a 30-piece evaluation.
REALISM_GATE = {"better": "lower", "tolerance": 0.05}


def with_realism_gate(gates: Mapping[str, Any], metrics: Mapping[str, float]) -> dict[str, Any]:
    """``gates`` plus :data:`REALISM_GATE` when ``metrics`` has the realism figure and no gate names it."""
    out = dict(gates)
    if REALISM_METRIC in metrics and REALISM_METRIC not in out:
        out[REALISM_METRIC] = REALISM_GATE
    return out


COPY_METRIC = "copy.share_4bar"
# Absolute: at most 0.1 % of pieces may copy 4 bars (issue 16). The tolerance equals the maximum, so a
# champion measured against other training songs cannot turn a passing share into a regression.
COPY_GATE = {"max": 0.001, "better": "lower", "tolerance": 0.001}


def with_copy_gate(gates: Mapping[str, Any], metrics: Mapping[str, float]) -> dict[str, Any]:
    """``gates`` plus :data:`COPY_GATE` when ``metrics`` has the copy share and no gate names it."""
    out = dict(gates)
    if COPY_METRIC in metrics and COPY_METRIC not in out:
        out[COPY_METRIC] = COPY_GATE
    return out


def _same_real_set(champion: dict[str, float], metrics: Mapping[str, float]) -> dict[str, float]:
    """The champion's metrics without its realism figures when they were measured on other real songs."""
    if champion.get(REALISM_SET_METRIC) == metrics.get(REALISM_SET_METRIC):
        return champion
    return {k: v for k, v in champion.items() if not k.startswith("realism.")}


class LifecycleError(RuntimeError):
    """A promotion or rollback that cannot be done (no such version, no previous champion)."""


@dataclass(frozen=True)
class GateCheck:
    metric: str
    value: float | None
    passed: bool
    reason: str


@dataclass
class Decision:
    model_name: str
    version: int
    promoted: bool
    kind: str  # promoted | rejected | forced | rollback
    champion_before: int | None
    champion_after: int | None
    checks: list[GateCheck] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    by: str = ""
    reason: str = ""
    at: str = ""

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.checks] or ([self.reason] if self.reason else [])

    def summary(self) -> str:
        before = f"v{self.champion_before}" if self.champion_before is not None else "none"
        after = f"v{self.champion_after}" if self.champion_after is not None else "none"
        head = {"promoted": f"PROMOTED to champion (champion was {before})",
                "rejected": f"REJECTED, stays challenger (champion stays {after})",
                "forced": f"FORCED to champion by {self.by} (champion was {before}): {self.reason}",
                "rollback": f"ROLLBACK by {self.by}: champion {before} -> {after}: {self.reason}"}[self.kind]
        lines = [f"{self.model_name} v{self.version}: {head}"]
        lines += [f"  {'ok  ' if c.passed else 'FAIL'} {c.reason}" for c in self.checks]
        return "\n".join(lines)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers)
        return "unknown"


def _gate(g) -> Any:
    from common.config import Gate

    return g if isinstance(g, Gate) else Gate.model_validate(g)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def check_gates(metrics: Mapping[str, float], gates: Mapping[str, Any],
                champion: Mapping[str, float] | None = None, champion_version: int | None = None) -> list[GateCheck]:
    """Each gate against ``metrics`` (and, when given, against the ``champion``'s metrics). Pure."""
    checks = []
    for name, raw in sorted(gates.items()):
        gate = _gate(raw)
        value = metrics.get(name)
        if value is None or not math.isfinite(float(value)):
            checks.append(GateCheck(name, None, False, f"{name}: not measured"))
            continue
        value = float(value)
        problems, parts = [], []
        if gate.min is not None:
            parts.append(f">= {gate.min:g}")
            if value < gate.min:
                problems.append(f"below the minimum {gate.min:g}")
        if gate.max is not None:
            parts.append(f"<= {gate.max:g}")
            if value > gate.max:
                problems.append(f"above the maximum {gate.max:g}")
        theirs = None if champion is None else champion.get(name)
        if theirs is not None and math.isfinite(float(theirs)):
            theirs = float(theirs)
            worse = theirs - value if gate.higher_is_better else value - theirs
            parts.append(f"champion v{champion_version} {_fmt(theirs)}, tolerance {gate.tolerance:g}")
            if worse > gate.tolerance + 1e-12:
                problems.append(f"worse than the champion by {worse:.4g}")
        elif champion is not None:
            parts.append("champion has no value")
        said = f"{name} {_fmt(value)} ({'; '.join(parts) or 'no threshold'})"
        checks.append(GateCheck(name, value, not problems, said + (": " + "; ".join(problems) if problems else "")))
    return checks


def _champion(c, name: str) -> int | None:
    try:
        return int(c.get_model_version_by_alias(name, registry.CHAMPION).version)
    except MlflowException:
        return None


def _alias_points_at(c, name: str, alias: str, version: int) -> bool:
    try:
        return int(c.get_model_version_by_alias(name, alias).version) == version
    except MlflowException:
        return False


def _version(c, name: str, version: int):
    try:
        return c.get_model_version(name, str(version))
    except MlflowException:
        raise LifecycleError(f"model {name!r} has no version {version}") from None


def mark_challenger(cfg, model: str, version: int) -> None:
    """Point the ``challenger`` alias at ``version`` (a version just registered)."""
    name = registry.model_name(model)
    c = registry.client(cfg)
    _version(c, name, version)
    c.set_registered_model_alias(name, registry.CHALLENGER, str(version))


def record_metrics(cfg, model: str, version: int, metrics: Mapping[str, float]) -> dict[str, float]:
    """Store ``metrics`` as ``metric.<name>`` tags of the version; returns the numeric ones it stored."""
    name = registry.model_name(model)
    c = registry.client(cfg)
    stored = {}
    for key, value in sorted(metrics.items()):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        stored[key] = float(value)
        c.set_model_version_tag(name, str(version), METRIC_TAG + key, repr(float(value)))
    return stored


def version_metrics(cfg, model: str, version: int) -> dict[str, float]:
    """A version's metrics: its ``metric.*`` tags, completed by its run's logged metrics."""
    name = registry.model_name(model)
    c = registry.client(cfg)
    mv = _version(c, name, version)
    metrics: dict[str, float] = {}
    if mv.run_id:
        try:
            metrics.update({k: float(v) for k, v in c.get_run(mv.run_id).data.metrics.items()})
        except MlflowException:
            pass
    for key, value in (mv.tags or {}).items():
        if key.startswith(METRIC_TAG):
            try:
                metrics[key[len(METRIC_TAG):]] = float(value)
            except ValueError:
                continue
    return metrics


def history(cfg, model: str) -> list[dict]:
    """Every recorded champion change of ``model``, oldest first."""
    name = registry.model_name(model)
    c = registry.client(cfg)
    try:
        raw = (c.get_registered_model(name).tags or {}).get(HISTORY_TAG)
    except MlflowException:
        return []
    return json.loads(raw) if raw else []


def champion_stack(events: list[dict]) -> list[int]:
    """The champions in order, replaying the history: a promotion pushes, a rollback pops."""
    stack: list[int] = []
    for e in events:
        if e["event"] == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != e["version"]:
                stack.append(e["version"])
        else:
            stack.append(e["version"])
    return stack


def _record(c, name: str, decision: Decision) -> None:
    """Write the decision as tags of the version it is about and, when the champion changed, a history event.

    A rollback is about the champion it demotes: that version gets ``lifecycle.decision=rollback``.
    """
    reasons = "; ".join(decision.reasons)[:_REASONS_MAX]
    compared = decision.champion_before if decision.kind in ("promoted", "rejected") else None
    tags = {"lifecycle.decision": decision.kind, "lifecycle.reasons": reasons,
            "lifecycle.compared_with": "" if compared in (None, decision.version) else str(compared),
            "lifecycle.decided_by": decision.by, "lifecycle.decided_at": decision.at}
    for key, value in tags.items():
        c.set_model_version_tag(name, str(decision.version), key, value)
    if decision.champion_after != decision.champion_before:
        event = {"event": {"promoted": "promote", "forced": "force", "rollback": "rollback"}[decision.kind],
                 "version": decision.champion_after, "previous": decision.champion_before, "by": decision.by,
                 "reason": decision.reason or reasons, "at": decision.at}
        raw = (c.get_registered_model(name).tags or {}).get(HISTORY_TAG)
        events = (json.loads(raw) if raw else []) + [event]
        c.set_registered_model_tag(name, HISTORY_TAG, json.dumps(events[-_HISTORY_KEEP:]))


def _make_champion(c, name: str, version: int) -> None:
    c.set_registered_model_alias(name, registry.CHAMPION, str(version))
    if _alias_points_at(c, name, registry.CHALLENGER, version):
        c.delete_registered_model_alias(name, registry.CHALLENGER)


def promote_if_better(cfg, model: str, version: int, metrics: Mapping[str, float], gates: Mapping[str, Any], *,
                      by: str = "gates") -> Decision:
    """Make ``version`` champion if every gate passes against ``metrics`` and the current champion.

    The metrics are stored on the version (``metric.*`` tags) whatever the outcome, and the
    decision with its reasons is recorded; a rejected version keeps whatever aliases it had.
    """
    name = registry.model_name(model)
    c = registry.client(cfg)
    _version(c, name, version)
    stored = record_metrics(cfg, name, version, metrics)
    current = _champion(c, name)
    against = current if current is not None and current != version else None
    champion_metrics = version_metrics(cfg, name, against) if against is not None else None
    if champion_metrics is not None:
        champion_metrics = _same_real_set(champion_metrics, stored)
    checks = check_gates(stored, gates, champion_metrics, against)
    passed = bool(checks) and all(ch.passed for ch in checks)
    if not checks:
        checks = [GateCheck("-", None, False, "no gates configured: nothing says this version is good")]
    if passed:
        _make_champion(c, name, version)
    decision = Decision(model_name=name, version=version, promoted=passed, kind="promoted" if passed else "rejected",
                        champion_before=current, champion_after=version if passed else current, checks=checks,
                        metrics=stored, by=by, at=_now())
    _record(c, name, decision)
    return decision


def challenge(cfg, model: str, version: int, gates: Mapping[str, Any], *, metrics: Mapping[str, float] | None = None,
              evaluate: Callable[[Any, str], Any] | None = None, by: str = "gates") -> Decision:
    """The whole path of a new version: alias ``challenger``, evaluate, then :func:`promote_if_better`.

    ``metrics`` are what is already known (the training run's losses); ``evaluate(cfg, ref)``, when
    given, measures the version named by ``ref`` (its number as a string) and returns a mapping of
    metrics or an object with a ``metrics`` mapping (``training.evaluate.EvalReport``); its
    metrics win over ``metrics`` of the same name. When the evaluation measured realism, the
    realism gate joins the others (:func:`with_realism_gate`); when it measured copying, the copy gate
    (:func:`with_copy_gate`).
    """
    mark_challenger(cfg, model, version)
    measured = dict(metrics or {})
    if evaluate is not None:
        report = evaluate(cfg, str(version))
        found = getattr(report, "metrics", report)
        measured.update(dict(found() if callable(found) else found))  # EvalReport.metrics() is all cases
        gates = with_copy_gate(with_realism_gate(gates, measured), measured)
    return promote_if_better(cfg, model, version, measured, gates, by=by)


def promote(cfg, model: str, version: int, *, reason: str, by: str | None = None) -> Decision:
    """Make ``version`` champion without gates (a person's call), recording who and why."""
    if not reason.strip():
        raise LifecycleError("a forced promotion needs a reason")
    name = registry.model_name(model)
    c = registry.client(cfg)
    _version(c, name, version)
    current = _champion(c, name)
    if current == version:
        raise LifecycleError(f"{name} v{version} is already champion")
    _make_champion(c, name, version)
    decision = Decision(model_name=name, version=version, promoted=True, kind="forced", champion_before=current,
                        champion_after=version, by=by or _user(), reason=reason.strip(), at=_now())
    _record(c, name, decision)
    return decision


def rollback(cfg, model: str, *, reason: str, by: str | None = None) -> Decision:
    """Champion back to the one before it, as the history records; the change is recorded too."""
    if not reason.strip():
        raise LifecycleError("a rollback needs a reason")
    name = registry.model_name(model)
    c = registry.client(cfg)
    current = _champion(c, name)
    if current is None:
        raise LifecycleError(f"{name} has no champion to roll back")
    stack = champion_stack(history(cfg, name))
    if not stack or stack[-1] != current:  # the alias was moved outside the lifecycle
        stack.append(current)
    if len(stack) < 2:
        raise LifecycleError(f"{name} has no previous champion recorded before v{current}")
    previous = stack[-2]
    _version(c, name, previous)
    c.set_registered_model_alias(name, registry.CHAMPION, str(previous))
    decision = Decision(model_name=name, version=current, promoted=False, kind="rollback", champion_before=current,
                        champion_after=previous, by=by or _user(), reason=reason.strip(), at=_now())
    _record(c, name, decision)
    return decision
