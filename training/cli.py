"""``musiclake train``: train the generator, list registered versions, promote and roll back champions.

    musiclake train run [--resume] [--preset tiny|small|base] [--force] [--no-evaluate]
    musiclake train models [--model generator|clap]
    musiclake train promote VERSION --reason "..." [--model clap] [--by NAME]
    musiclake train rollback --reason "..." [--model clap] [--by NAME]
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from common.cli_common import ConfigOpt, SetOpt, load_or_exit

app = typer.Typer(help="Train with Ray Train, register in MLflow, gate, promote and roll back.", no_args_is_help=True)

ModelOpt = typer.Option("generator", "--model", "-m", help="generator or clap")
ReasonOpt = typer.Option(..., "--reason", "-r", help="why (recorded with the change)")
ByOpt = typer.Option(None, "--by", help="who (recorded; default: the login name)")


@app.command()
def run(force: bool = typer.Option(False, "--force", help="train even if an identical model is registered"),
        resume: bool = typer.Option(False, "--resume", help="continue the newest interrupted run from its checkpoint"),
        preset: Optional[str] = typer.Option(None, "--preset", help="tiny, small or base (explicit --set keys win)"),
        evaluate: bool = typer.Option(True, "--evaluate/--no-evaluate",
                                      help="measure the new version with training.evaluate before the gates"),
        config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Train the generator on the lake's pinned data, register it as challenger, promote it if its gates pass."""
    from training.data import NoTrainingData
    from training.train import NothingToResume, run_training

    cfg = load_or_exit(config, ([f"train.preset={preset}"] if preset else []) + list(set_ or []))
    evaluator = None
    if evaluate:
        try:
            from training.evaluate import evaluate_version as evaluator
        except ImportError as e:
            typer.echo(f"error: cannot evaluate ({e}); run with --no-evaluate to gate on the training losses only",
                       err=True)
            raise typer.Exit(1) from None
    try:
        result = run_training(cfg, force=force, resume=resume, evaluate=evaluator)
    except (NoTrainingData, NothingToResume) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(result.summary())


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M") if ms else "-"


WIDTH = 100  # the widest line `train models` prints (a long cell aside: a reason wraps, a table wraps its columns)


def _table(rows: list[list[str]], width: int = WIDTH) -> list[str]:
    """Aligned columns, the first one repeated in each block of columns that fits ``width`` (blocks one
    under the other, a blank line between): a table of any number of columns prints in a terminal."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    blocks: list[list[int]] = [[0]]
    for i in range(1, len(widths)):
        used = sum(widths[j] + 2 for j in blocks[-1])
        if len(blocks[-1]) > 1 and used + widths[i] > width:
            blocks.append([0])
        blocks[-1].append(i)
    lines: list[str] = []
    for block in blocks:
        if lines:
            lines.append("")
        lines += ["  ".join(r[i].ljust(widths[i]) for i in block).rstrip() for r in rows]
    return lines


def models_lines(name: str, versions, metric_tag: str, events: list[dict], width: int = WIDTH) -> list[str]:
    """What `train models` prints: the versions (newest first), their metrics with one column per version,
    and the last champion changes, every line within ``width`` unless one cell alone is wider."""
    import textwrap

    lines = [f"{name}, newest first:"]
    lines += _table([["version", "aliases", "decision", "created", "fingerprint", "run"]]
                    + [[f"v{v.version}", ",".join(f"@{a}" for a in v.aliases) or "-",
                        v.tags.get("lifecycle.decision", "-"), _when(v.created_ms), v.tags.get("fingerprint", "-"),
                        v.run_id or "-"] for v in versions], width)
    metric_names = sorted({k[len(metric_tag):] for v in versions for k in v.tags if k.startswith(metric_tag)})
    if metric_names:
        rows = [["metric", *(f"v{v.version}" for v in versions)]]
        for m in metric_names:
            raw = [v.tags.get(metric_tag + m) for v in versions]
            rows.append([m, *(f"{float(x):.4f}" if x is not None else "-" for x in raw)])
        lines += ["", "metrics per version:"] + _table(rows, width)
    if events:
        lines += ["", "champion history (newest last):"]
        for e in events[-10:]:
            was = f"v{e['previous']}" if e.get("previous") is not None else "none"
            text = f"{e['at']}  {e['event']:<8} {was} -> v{e['version']}  by {e['by']}: {e['reason']}"
            lines += textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="      ",
                                   break_long_words=True, break_on_hyphens=False)
    return lines


@app.command()
def models(model: str = ModelOpt, config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """The registered versions with their aliases and gate decision, their metrics side by side, and the champion
    history."""
    from training.lifecycle import METRIC_TAG, history
    from training.registry import list_versions, model_name

    cfg = load_or_exit(config, set_)
    name = _model_or_exit(model, model_name)
    versions = list_versions(cfg, name)
    if not versions:
        typer.echo(f"no versions of {name} registered in {cfg.mlflow.tracking_uri}")
        return
    for line in models_lines(name, versions, METRIC_TAG, history(cfg, name)):
        typer.echo(line)


def _model_or_exit(model: str, model_name) -> str:
    try:
        return model_name(model)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


@app.command()
def promote(version: int = typer.Argument(..., help="the version number to make champion"),
            reason: str = ReasonOpt, by: Optional[str] = ByOpt, model: str = ModelOpt,
            config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Make VERSION champion without its gates (recorded with who and why)."""
    from training.lifecycle import LifecycleError
    from training.lifecycle import promote as do_promote
    from training.registry import model_name

    cfg = load_or_exit(config, set_)
    try:
        decision = do_promote(cfg, _model_or_exit(model, model_name), version, reason=reason, by=by)
    except LifecycleError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(decision.summary())


@app.command()
def rollback(reason: str = ReasonOpt, by: Optional[str] = ByOpt, model: str = ModelOpt,
             config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Put the previous champion back (as the recorded history says); recorded with who and why."""
    from training.lifecycle import LifecycleError
    from training.lifecycle import rollback as do_rollback
    from training.registry import model_name

    cfg = load_or_exit(config, set_)
    try:
        decision = do_rollback(cfg, _model_or_exit(model, model_name), reason=reason, by=by)
    except LifecycleError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(decision.summary())
