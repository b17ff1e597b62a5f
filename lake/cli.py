"""`musiclake lake ...`: list the lake's tables, read their history, run its Spark jobs and maintenance.

    musiclake lake tables                    every table: layer, version, rows, files, size, description
    musiclake lake history TABLE             a table's commits with the job and run that made them
    musiclake lake encode|features|dedup|split|align   the Spark jobs (incremental, idempotent)
    musiclake lake melody-index              bronze -> gold_melody_index (similarity screening)
    musiclake lake optimize [TABLE ...]      compact small files (no data change)
    musiclake lake vacuum [TABLE ...]        delete files no retained version needs (7 days by default)
    musiclake lake agreement --source pop909 the lake's chords and keys against an annotated set's labels

Spark jobs take ``--master`` as a shortcut for ``--set spark.master=...`` (``local[2]``,
``spark://host:7077``, ``k8s://https://...``).
"""

from __future__ import annotations

import importlib
from typing import Optional

import typer

from common.cli_common import ConfigOpt, SetOpt, load_or_exit

app = typer.Typer(help="Lake tables and the Spark jobs that fill silver and gold.", no_args_is_help=True,
                  add_completion=False)

MasterOpt = typer.Option(None, "--master", help="Spark master (shortcut for --set spark.master=...): local[2], "
                                                "spark://host:7077, k8s://https://host:443")
TablesArg = typer.Argument(None, help="table names (default: every table)")


def _load(config: Optional[str], overrides: Optional[list[str]], master: Optional[str] = None):
    return load_or_exit(config, [*(overrides or []), *([f"spark.master={master}"] if master else [])])


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n}B"


@app.command(help="Every Delta table: name, layer, version, rows, files, size and description.")
def tables(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt,
           wide: bool = typer.Option(False, "--wide", help="print the key and the whole description")):
    from lake.delta import Lake

    lake = Lake.from_config(_load(config, set_))
    typer.echo(f"lake: {lake.uri}")
    typer.echo(f"{'table':<24} {'layer':<7} {'version':>7} {'rows':>9} {'files':>6} {'size':>9}  description")
    for t in lake.describe():
        desc = t.description if wide else (t.description[:60] + ("..." if len(t.description) > 60 else ""))
        key = f" [key: {', '.join(t.key)}]" if wide else ""
        typer.echo(f"{t.name:<24} {t.layer:<7} {t.version:>7} {t.rows:>9} {t.files:>6} {_size(t.size_bytes):>9}  "
                   f"{desc}{key}")


@app.command(help="A table's commits, newest first: version, time, operation, job and run id, rows added.")
def history(table: str = typer.Argument(..., help="table name, see `musiclake lake tables`"),
            limit: int = typer.Option(20, "--limit", "-n", min=1),
            config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt):
    from lake.delta import Lake
    from lake.schemas import spec

    try:
        s = spec(table)
    except KeyError as e:
        typer.echo(str(e.args[0]), err=True)
        raise typer.Exit(2)
    for c in Lake.from_config(_load(config, set_)).history(s, limit):
        rows = c.metrics.get("num_added_rows", c.metrics.get("num_target_rows_inserted", ""))
        src = c.metadata.get("source_table")
        src = f" from {src}@v{c.metadata.get('source_version')}" if src else ""
        typer.echo(f"v{c.version:<5} {c.timestamp:%Y-%m-%d %H:%M:%S}Z {c.operation:<14} {c.job or '-':<16} "
                   f"{c.job_run_id or '-':<22} {rows!s:>7}{src}")


def _run(module: str, function: str, config, set_, master) -> None:
    from lake.spark import spark_session

    job = getattr(importlib.import_module(module), function)
    cfg = _load(config, set_, master)
    spark = spark_session(cfg, app_name=f"musiclake-{function}")
    try:
        result = job(cfg, spark)
        if not isinstance(result, list):
            typer.echo(result.summary())
    finally:
        spark.stop()


@app.command("all", help="Every Spark job in order: features, encode, dedup, split, align, melody-index (each only on "
                         "new data).")
def run_all(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt, master: Optional[str] = MasterOpt):
    _run("lake.jobs.pipeline", "run_all", config, set_, master)


@app.command(help="Spark: bronze MIDI files + silver scores -> silver tokens, whole piece and per track (new files only).")
def encode(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt, master: Optional[str] = MasterOpt):
    _run("lake.jobs.encode", "run_encode", config, set_, master)


@app.command(help="Spark: bronze MIDI files -> silver features (tempo map, meter, key, chords, roles, flags).")
def features(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt,
             master: Optional[str] = MasterOpt):
    _run("lake.jobs.features", "run_features", config, set_, master)


@app.command(help="Spark: exact and near-duplicate (MinHash/LSH) clusters of the parsed pieces.")
def dedup(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt, master: Optional[str] = MasterOpt):
    _run("lake.jobs.dedup", "run_dedup", config, set_, master)


@app.command(help="Spark: train/validation/test per duplicate cluster -> gold_splits (+ the gold split columns).")
def split(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt, master: Optional[str] = MasterOpt):
    _run("lake.jobs.split", "run_split", config, set_, master)


@app.command("melody-index", help="Spark: bronze MIDI files -> gold_melody_index (melody shingles for similarity "
                                  "screening; new files only).")
def melody_index(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt,
                 master: Optional[str] = MasterOpt):
    _run("lake.jobs.melody_index", "run_melody_index", config, set_, master)


@app.command(help="Spark: silver scores + lyrics + source captions -> gold text-music pairs and lyric segments.")
def align(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt, master: Optional[str] = MasterOpt):
    _run("lake.jobs.align", "run_align", config, set_, master)


@app.command(help="Compact small files of every table (or those named); no data changes, time travel intact.")
def optimize(tables_: Optional[list[str]] = TablesArg, config: Optional[str] = ConfigOpt,
             set_: Optional[list[str]] = SetOpt,
             target_mb: Optional[int] = typer.Option(None, "--target-mb", min=1, help="target file size (default 100)")):
    from lake.jobs.maintenance import run_optimize

    cfg = _load(config, set_)
    try:
        report = run_optimize(cfg, tables_ or None, target_size=target_mb * 1024 * 1024 if target_mb else None)
    except KeyError as e:
        typer.echo(str(e.args[0]), err=True)
        raise typer.Exit(2)
    typer.echo(report.summary())


@app.command(help="Delete files that no table version younger than --retain-hours (default 168 = 7 days) needs.")
def vacuum(tables_: Optional[list[str]] = TablesArg, config: Optional[str] = ConfigOpt,
           set_: Optional[list[str]] = SetOpt,
           retain_hours: int = typer.Option(168, "--retain-hours", min=0,
                                            help="keep every version younger than this; < 168 needs --force"),
           force: bool = typer.Option(False, "--force", help="allow --retain-hours below 168"),
           keep: Optional[list[str]] = typer.Option(None, "--keep", help="TABLE=VERSION that must stay readable "
                                                                          "(a pinned training version; repeatable)"),
           dry_run: bool = typer.Option(False, "--dry-run", help="list what would be deleted, delete nothing")):
    from lake.delta import RetentionError
    from lake.jobs.maintenance import run_vacuum

    pins: dict[str, list[int]] = {}
    for item in keep or []:
        name, _, version = item.partition("=")
        if not version.isdigit():
            typer.echo(f"--keep {item!r} must look like TABLE=VERSION", err=True)
            raise typer.Exit(2)
        pins.setdefault(name, []).append(int(version))
    cfg = _load(config, set_)
    try:
        report = run_vacuum(cfg, tables_ or None, retain_hours=retain_hours, dry_run=dry_run, force=force, keep=pins)
    except (RetentionError, KeyError) as e:
        typer.echo(str(e.args[0]) if isinstance(e, KeyError) else str(e), err=True)
        raise typer.Exit(2)
    typer.echo(report.summary())


@app.command(help="How often the lake's own chords and keys agree with an annotated set's labels (POP909), "
                  "after `musiclake ingest import PATH --source pop909`.")
def agreement(source: str = typer.Option("pop909", "--source", "-s", help="the annotated set's source name"),
              limit: Optional[int] = typer.Option(None, "--limit", min=1, help="only the first N pieces"),
              workers: int = typer.Option(2, "--workers", min=1, help="worker processes"),
              json_out: Optional[str] = typer.Option(None, "--json", help="also write summary and per-piece rows"),
              config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt):
    import json

    from lake.delta import Lake
    from lake.label_agreement import _jsonable, agreement as measure, report

    result = measure(Lake.from_config(_load(config, set_)), source, limit, workers)
    if not result["pieces"]:
        typer.echo(f"no labelled pieces of source {source!r} in the lake: import them first "
                   f"(musiclake ingest import PATH --source {source})", err=True)
        raise typer.Exit(2)
    typer.echo(report(result))
    if json_out:
        with open(json_out, "w", encoding="utf-8") as fh:
            json.dump(_jsonable(result), fh, indent=1)
