"""`musiclake`: one console script, a subcommand per stage.

    musiclake ingest ...     crawl sources into the bronze tables        (ingest/cli.py)
    musiclake lake ...       Spark jobs and table listings               (lake/cli.py)
    musiclake train ...      fit, register, promote, roll back models    (training/cli.py)
    musiclake clap ...       the CLAP text-music model                   (training/clap/cli.py)
    musiclake evaluate       measure a generator from its notes          (training/eval_cli.py)
    musiclake search TEXT    nearest lake pieces to a text               (training/clap/cli.py)
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
from training.clap.cli import app as clap_app
from training.clap.cli import search as search_cmd
from training.cli import app as train_app
from training.eval_cli import evaluate as evaluate_cmd

app = typer.Typer(help="musiclake: crawl -> Delta lake -> Spark -> Ray Train -> MLflow -> Ray Serve.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(ingest_app, name="ingest", help="Crawl sources into the bronze Delta tables.")
app.add_typer(lake_app, name="lake", help="Lake tables and the Spark jobs that fill silver and gold.")
app.add_typer(train_app, name="train", help="Fit the generator with Ray Train; register it in MLflow.")
app.add_typer(clap_app, name="clap", help="The CLAP text-music model: train, evaluate, embed the lake, search it.")
app.command("evaluate", help="Measure a registered generator on the fixed request set, from the notes; log to MLflow.")(
    evaluate_cmd)
app.command("search", help="Text -> the nearest lake pieces under the CLAP model, with scores.")(search_cmd)
app.command("serve", help="Run the page and the API on Ray Serve until Ctrl-C.")(serving_cli.serve)
app.command("generate", help="Call a running endpoint with a prompt and write the MIDI file.")(serving_cli.generate)
app.command("keys", help="The API keys of the endpoint: list them, or --add NAME.")(serving_cli.keys)
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
