"""`musiclake lake ...`: list the lake's tables and run its Spark jobs."""

from __future__ import annotations

from typing import Optional

import typer

from musiclake.config import ConfigError, load_config

app = typer.Typer(help="Lake tables and the Spark jobs that fill silver and gold.", no_args_is_help=True,
                  add_completion=False)

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config file (default: $MUSICLAKE_CONFIG or ./musiclake.yaml)")
SetOpt = typer.Option(None, "--set", help="override one key, e.g. --set spark.master=local[2] (repeatable)")


def _load(config: Optional[str], overrides: Optional[list[str]]):
    try:
        return load_config(config, overrides or [])
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2)


@app.command(help="Every Delta table: name, layer, version, rows, size.")
def tables(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt):
    from lake.delta import Lake

    lake = Lake.from_config(_load(config, set_))
    typer.echo(f"{'table':<24} {'layer':<7} {'version':>7} {'rows':>8} {'size':>9}  ({lake.uri})")
    for t in lake.describe():
        typer.echo(f"{t.name:<24} {t.layer:<7} {t.version:>7} {t.rows:>8} {t.size_bytes / 1e6:>7.2f}MB")


def _run(job, config, set_) -> None:
    from lake.spark import spark_session

    cfg = _load(config, set_)
    spark = spark_session(cfg, app_name=f"musiclake-{job.__name__}")
    try:
        typer.echo(job(cfg, spark).summary())
    finally:
        spark.stop()


@app.command(help="Spark: bronze MIDI files -> silver scores, tokens and quarantine (new files only).")
def encode(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt):
    from lake.jobs.encode import run_encode

    _run(run_encode, config, set_)


@app.command(help="Spark: silver scores + lyrics pages -> gold text-music pairs (new pieces only).")
def align(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt):
    from lake.jobs.align import run_align

    _run(run_align, config, set_)
