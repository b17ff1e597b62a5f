"""``musiclake training``: train and register the generator, list its registered versions."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from musiclake.cli_common import ConfigOpt, SetOpt, load_or_exit

app = typer.Typer(help="Train the generator with Ray Train and register it in MLflow.", no_args_is_help=True)



@app.command()
def run(force: bool = typer.Option(False, "--force", help="train even if an identical model is registered"),
        config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Train on the lake's current gold pairs + tokens and register the model as champion."""
    from training.data import NoTrainingData
    from training.train import run_training

    cfg = load_or_exit(config, set_)
    try:
        result = run_training(cfg, force=force)
    except NoTrainingData as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(result.summary())


@app.command()
def models(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """List the registered generator versions with their aliases and tags."""
    from training.registry import MODEL_NAME, list_versions

    cfg = load_or_exit(config, set_)
    versions = list_versions(cfg)
    if not versions:
        typer.echo(f"no versions of {MODEL_NAME} registered in {cfg.mlflow.tracking_uri}")
        return
    for v in versions:
        aliases = ",".join(v.aliases) or "-"
        tags = " ".join(f"{k}={val}" for k, val in sorted(v.tags.items()))
        typer.echo(f"{MODEL_NAME} v{v.version} @{aliases} run={v.run_id} {tags}")
