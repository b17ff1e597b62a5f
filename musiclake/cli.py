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
from musiclake.cli_common import ConfigOpt, SetOpt, load_or_exit
from musiclake.config import dump_config
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



@app.command(help="Run the whole pipeline on embedded defaults and print where every result is.")
def demo(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt,
         keep_serving: bool = typer.Option(False, "--keep-serving", help="leave the endpoint up until Ctrl-C")):
    from musiclake.demo import run_demo

    run_demo(load_or_exit(config, set_), keep_serving=keep_serving)


@app.command("config", help="Print the effective config (defaults < file < env < --set) as YAML.")
def show_config(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt):
    typer.echo(dump_config(load_or_exit(config, set_)))


def main() -> None:  # pragma: no cover - console entry for `python -m musiclake.cli`
    app(prog_name="musiclake")


if __name__ == "__main__":
    sys.exit(main())
