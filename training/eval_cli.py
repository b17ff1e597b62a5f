"""``musiclake evaluate``: measure a registered generator on the fixed request set and log it to MLflow."""

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
             config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Generate every request of the evaluation set, measure the notes, print the table, log to MLflow."""
    from training.evaluate import EvalSetError, evaluate_version
    from training.registry import ModelNotFound

    cfg = load_or_exit(config, set_)
    try:
        report = evaluate_version(cfg, model, limit=limit, set_path=eval_set)
    except (ModelNotFound, EvalSetError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(report.table())
    typer.echo(f"logged to MLflow run {report.run_id} (experiment {cfg.mlflow.experiment})")
    if strict and not report.passed:
        raise typer.Exit(1)


# Standalone (`python -m training.eval_cli --model champion`); `musiclake evaluate` wires the same function.
app = typer.Typer(help="Evaluate a registered generator from the notes it writes.", add_completion=False)
app.command()(evaluate)

if __name__ == "__main__":  # pragma: no cover
    app()
