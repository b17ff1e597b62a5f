"""``musiclake clap train|evaluate|embed|search`` and ``musiclake search`` (the same search).

Registered versions side by side, promotion and rollback: ``musiclake train models|promote|rollback --model clap``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from common.cli_common import ConfigOpt, SetOpt, load_or_exit

app = typer.Typer(help="The CLAP text-music model: train, evaluate, embed the lake, search it.", no_args_is_help=True)


def _model_or_exit(cfg, ref: str):
    from training.clap.api import ClapModel
    from training.registry import ModelNotFound

    try:
        return ClapModel.load(cfg, ref)
    except ModelNotFound as e:
        typer.echo(f"error: {e}; train one with `musiclake clap train`", err=True)
        raise typer.Exit(1) from None


@app.command()
def train(force: bool = typer.Option(False, "--force", help="train even if an identical model is registered"),
          resume: bool = typer.Option(False, "--resume", help="continue the last unfinished run of these settings"),
          preset: Optional[str] = typer.Option(None, "--preset", help="tiny | small | base (default: clap.preset)"),
          config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Fit on the lake's gold pairs + tokens, register as challenger, promote if the gate passes, embed the lake."""
    from training.clap.data import NoClapData
    from training.clap.train import NothingToResume, run_clap_training

    cfg = load_or_exit(config, [*(set_ or []), *([f"clap.preset={preset}"] if preset else [])])
    try:
        result = run_clap_training(cfg, force=force, resume=resume)
    except (NoClapData, NothingToResume) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(result.summary())


@app.command()
def evaluate(model: str = typer.Option("champion", "--model", help="alias or version"),
             splits: str = typer.Option("validation,test", "--splits", help="comma-separated gold splits"),
             log: bool = typer.Option(False, "--log", help="also log the metrics into the version's MLflow run"),
             config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Retrieval R@1/R@10/MRR per language beside chance and the attribute baseline, on the lake as it is now."""
    from lake.delta import Lake
    from training.clap.data import load_pairs, pin_versions
    from training.clap.evaluate import evaluate_pairs

    cfg = load_or_exit(config, set_)
    clap = _model_or_exit(cfg, model)
    lake = Lake.from_config(cfg)
    versions = pin_versions(lake)
    pairs = load_pairs(lake, versions, clap.encoder.tokenizer_id)
    report = evaluate_pairs(clap.encoder, pairs, splits=[s.strip() for s in splits.split(",") if s.strip()])
    data = ", ".join(f"{k} v{v}" for k, v in sorted(versions.items()))
    typer.echo(f"{clap.name} v{clap.version} (@{clap.ref.ref}) on {data}")
    typer.echo(report.table())
    if log:
        from training.clap.train import _log_metrics
        from training.registry import client

        _log_metrics(client(cfg), clap.ref.run_id, report.metrics())


@app.command()
def embed(model: str = typer.Option("champion", "--model", help="alias or version"),
          config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Embed every lake piece the version has not embedded yet into gold_music_embeddings."""
    from lake.delta import Lake
    from training.clap import MODEL_NAME
    from training.clap.embeddings import embed_lake

    cfg = load_or_exit(config, set_)
    clap = _model_or_exit(cfg, model)
    typer.echo(embed_lake(Lake.from_config(cfg), clap.encoder, MODEL_NAME, clap.version).summary())


def search(query: Optional[str] = typer.Argument(None, help="free text, English or Chinese"),
           k: int = typer.Option(10, "-k", "--k", min=1, help="how many pieces"),
           model: str = typer.Option("champion", "--model", help="CLAP alias or version"),
           midi: Optional[Path] = typer.Option(None, "--midi", help="search by this MIDI file instead of the text"),
           evaluate_: bool = typer.Option(False, "--eval", help="measure search on queries from held-out pieces"),
           limit: Optional[int] = typer.Option(None, "--limit", min=1, help="--eval: at most this many pieces"),
           rebuild: bool = typer.Option(False, "--rebuild", help="rebuild the cached search index first"),
           config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Lake pieces for a text: what it asks for (key, meter, tempo, instruments, style, mood, collection) matched
    against the lake's labels, ranked within by the CLAP model; or the pieces nearest a MIDI file under CLAP."""
    if evaluate_:
        return _search_eval(model, limit, rebuild, config, set_)
    if not query and midi is None:
        typer.echo("error: give a text to search for, or --midi FILE", err=True)
        raise typer.Exit(2)
    cfg = load_or_exit(config, set_)
    if midi is not None:
        return _search_midi(cfg, model, midi, k)
    searcher = _searcher_or_exit(cfg, model, rebuild)
    r = searcher.search(query, k=k)
    meta = searcher.index.meta
    clap = f"CLAP v{meta['clap_version']}" if meta.get("clap_version") is not None else "no CLAP version"
    typer.echo(f"{len(r.hits)} of {r.total} lake pieces for {query!r} (ranked by {r.ranked_by}; {clap}; "
               f"{r.candidates} pass the written key/mode/meter)")
    for note in r.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"{'#':>3} {'score':>5}  {'key':<9} {'meter':<5} {'bpm':>4} {'mood':<11} {'collection':<13} "
               f"title  [matched | missed]")
    for i, h in enumerate(r.hits, 1):
        why = ", ".join(h.matched) + (f" | missed: {', '.join(h.missed)}" if h.missed else "")
        typer.echo(f"{i:>3} {h.score:>5.3f}  {h.key:<9} {h.time_signature:<5} {h.bpm:>4.0f} {h.mood:<11} "
                   f"{h.collection:<13} {h.title or h.sha256[:12]}  [{why}]")


def _searcher_or_exit(cfg, model: str, rebuild: bool):
    from training.search import Searcher

    searcher = Searcher.load(cfg, model, rebuild=rebuild)
    if not len(searcher):
        typer.echo("error: the lake has no pieces to search: fill it with `musiclake lake all`", err=True)
        raise typer.Exit(1)
    if model != "champion" and searcher.index.meta.get("clap_version") is None:
        typer.echo(f"error: no CLAP version {model!r} is registered; see `musiclake train models --model clap`",
                   err=True)
        raise typer.Exit(1)
    return searcher


def _search_midi(cfg, model: str, midi: Path, k: int) -> None:
    from training.clap.api import NoEmbeddings

    clap = _model_or_exit(cfg, model)
    try:
        hits = clap.nearest(midi.read_bytes(), k=k)
        total = len(clap.index()[0])
    except NoEmbeddings as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{clap.name} v{clap.version} (@{clap.ref.ref}): {len(hits)} of {total} lake pieces nearest to "
               f"MIDI {midi}")
    typer.echo(f"{'#':>3} {'score':>6}  {'sha256':<12} {'style':<10} {'key':<9} title / url")
    for i, h in enumerate(hits, 1):
        typer.echo(f"{i:>3} {h.score:>6.3f}  {h.sha256[:12]:<12} {h.style or '-':<10} {h.key_name or '-':<9} "
                   f"{h.title or '-'}  {h.url or ''}")


def _search_eval(model: str, limit: Optional[int], rebuild: bool, config, set_) -> None:
    import time

    from training.search.evaluate import evaluate, table

    cfg = load_or_exit(config, set_)
    t0 = time.perf_counter()
    searcher = _searcher_or_exit(cfg, model, rebuild)
    loaded = time.perf_counter() - t0
    report = evaluate(searcher, limit=limit)
    if not report["held_out"]:
        typer.echo("error: the lake has no held-out (test split) pieces to build queries from", err=True)
        raise typer.Exit(1)
    meta = searcher.index.meta
    typer.echo(f"search index: {meta['pieces']} pieces ({meta['embedded']} with CLAP v{meta['clap_version']} "
               f"embeddings), tables {meta['tables']}; loaded in {loaded:.2f} s")
    typer.echo(table(report))
    t0 = time.perf_counter()
    queries = ["melancholic waltz in a minor key", "lively Irish jig for fiddle", "悲伤的中国民歌",
               "a calm pop song in D major for piano", "一首欢快的古典作品，G大调，3/4拍"] * 4
    for q in queries:
        searcher.search(q, k=10)
    typer.echo(f"one search (k=10, index loaded): {1000 * (time.perf_counter() - t0) / len(queries):.1f} ms on average "
               f"over {len(queries)} queries")


app.command("search")(search)
