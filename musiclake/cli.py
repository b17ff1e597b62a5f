"""`musiclake`: one console script, a subcommand per stage.

    musiclake ingest ...     crawl sources into the bronze tables        (ingest/cli.py)
    musiclake lake ...       Spark jobs and table listings               (lake/cli.py)
    musiclake train ...      fit, register and list models               (training/cli.py)
    musiclake serve          run the Ray Serve endpoint                  (serving/cli.py)
    musiclake generate       call a running endpoint, write a MIDI file  (serving/cli.py)
    musiclake demo           the whole pipeline on embedded defaults
    musiclake config         print the effective config

Every command takes ``--config PATH`` and repeatable ``--set section.key=value``.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from ingest.cli import app as ingest_app
from lake.cli import app as lake_app
from musiclake.config import ConfigError, dump_config, load_config
from serving import cli as serving_cli
from training.cli import app as train_app

app = typer.Typer(help="musiclake: crawl -> Delta lake -> Spark -> Ray Train -> MLflow -> Ray Serve.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(ingest_app, name="ingest", help="Crawl sources into the bronze Delta tables.")
app.add_typer(lake_app, name="lake", help="Lake tables and the Spark jobs that fill silver and gold.")
app.add_typer(train_app, name="train", help="Fit the generator with Ray Train; register it in MLflow.")
app.command("serve", help="Run the Ray Serve endpoint (POST /v1/generate) until Ctrl-C.")(serving_cli.serve)
app.command("generate", help="Call a running endpoint with a prompt and write the MIDI file.")(serving_cli.generate)
app.command("recommend", help="Prompt -> style recommendation (BPM, key, instruments, chords).")(serving_cli.recommend)

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config file (default: $MUSICLAKE_CONFIG or ./musiclake.yaml)")
SetOpt = typer.Option(None, "--set", help="override one key, e.g. --set spark.master=local[2] (repeatable)")


def _load(config: Optional[str], overrides: Optional[list[str]]):
    try:
        return load_config(config, overrides or [])
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2)


@app.command(help="Run the whole pipeline on embedded defaults and print where every result is.")
def demo(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt,
         keep_serving: bool = typer.Option(False, "--keep-serving", help="leave the endpoint up until Ctrl-C")):
    from musiclake.demo import run_demo

    run_demo(_load(config, set_), keep_serving=keep_serving)


@app.command("config", help="Print the effective config (defaults < file < env < --set) as YAML.")
def show_config(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt):
    typer.echo(dump_config(_load(config, set_)))


def main() -> None:  # pragma: no cover - console entry for `python -m musiclake.cli`
    app(prog_name="musiclake")


if __name__ == "__main__":
    sys.exit(main())
