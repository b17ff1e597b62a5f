"""``musiclake evaluate``: measure a registered generator on the fixed request set (controls and realism
against real songs) and log it to MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from common.cli_common import ConfigOpt, SetOpt, load_or_exit


def evaluate(model: str = typer.Option("champion", "--model", "-m",
                                       help="alias (champion, challenger) or version number to evaluate"),
             eval_set: Optional[Path] = typer.Option(None, "--eval-set", "--requests",
                                                     help="evaluation set YAML (default: training/eval_requests.yaml)"),
             limit: Optional[int] = typer.Option(None, "--limit", min=1, help="only the first N cases"),
             strict: bool = typer.Option(False, "--strict", help="exit with status 1 when a target is missed"),
             real: Optional[Path] = typer.Option(
                 None, "--real", help="folder of real MIDI songs to measure realism against (default: the held-out "
                                      "POP909 songs when POP909_DIR, default ../shared/data/pop909, is there; else "
                                      "the lake's test and validation pieces)"),
             realism: bool = typer.Option(True, "--realism/--no-realism",
                                          help="measure the pieces against real songs (training.realism)"),
             config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Generate every request of the evaluation set, measure the notes, print the table, log to MLflow."""
    from training.evaluate import EvalSetError, evaluate_version
    from training.registry import ModelNotFound

    cfg = load_or_exit(config, set_)
    try:
        report = evaluate_version(cfg, model, limit=limit, set_path=eval_set, real=real if realism else False)
    except (ModelNotFound, EvalSetError, FileNotFoundError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(report.table())
    if realism and report.realism is None:
        typer.echo("realism: no real songs to compare with (give --real PATH, set POP909_DIR, or run the lake jobs)")
    typer.echo(f"logged to MLflow run {report.run_id} (experiment {cfg.mlflow.experiment})")
    if strict and not report.passed:
        raise typer.Exit(1)


# Standalone (`python -m training.eval_cli --model champion`); `musiclake evaluate` wires the same function.
app = typer.Typer(help="Evaluate a registered generator from the notes it writes.", add_completion=False)
app.command()(evaluate)

if __name__ == "__main__":  # pragma: no cover
    app()
