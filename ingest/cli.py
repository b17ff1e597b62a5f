"""`musiclake ingest ...`: crawl sources into bronze; build and serve the local score site."""

from __future__ import annotations

import json
import threading
from typing import Optional

import typer

from musiclake.config import ConfigError, load_config

app = typer.Typer(help="Crawl sources into the bronze Delta tables; build and serve the demo score site.",
                  no_args_is_help=True, add_completion=False)
site_app = typer.Typer(help="The local score site built from music21's corpus.", no_args_is_help=True)
app.add_typer(site_app, name="site")

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config file (default: $MUSICLAKE_CONFIG or ./musiclake.yaml)")
SetOpt = typer.Option(None, "--set", help="override one key, e.g. --set ingest.workers=4 (repeatable)")
LimitOpt = typer.Option(None, "--limit", min=1, help="corpus pieces to export (default: demo.corpus_limit)")


def _load(config: Optional[str], overrides: Optional[list[str]]):
    try:
        return load_config(config, overrides or [])
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2)


@app.command(help="Crawl the configured sources (all, or each --source NAME) into the bronze tables.")
def run(source: Optional[list[str]] = typer.Option(None, "--source", "-s", help="source name (repeatable)"),
        config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt):
    from ingest.crawler import run_ingest

    cfg = _load(config, set_)
    try:
        reports = run_ingest(cfg, source or None)
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2)
    for report in reports:
        typer.echo(report.summary())


def _build(cfg, limit: Optional[int]) -> dict:
    from ingest.score_site import build_site

    manifest = build_site(cfg.demo.site_dir, limit or cfg.demo.corpus_limit, faults=True)
    lyrics = sum(p["has_lyrics"] for p in manifest["pieces"])
    typer.echo(f"score site in {cfg.demo.site_dir}: {len(manifest['pieces'])} pieces ({lyrics} with lyrics), "
               f"{len(manifest['fault_files'])} fault links, {len(manifest['skipped'])} pieces skipped")
    return manifest


@site_app.command("build", help="Export music21 corpus pieces to MIDI and write the static site (cached).")
def site_build(limit: Optional[int] = LimitOpt, config: Optional[str] = ConfigOpt,
               set_: Optional[list[str]] = SetOpt):
    _build(_load(config, set_), limit)


@site_app.command("serve", help="Build the site if needed and serve it on 127.0.0.1 until Ctrl-C.")
def site_serve(port: Optional[int] = typer.Option(None, "--port", "-p", min=0, max=65535,
                                                  help="port (default: demo.site_port; 0: any free port)"),
               limit: Optional[int] = LimitOpt, config: Optional[str] = ConfigOpt,
               set_: Optional[list[str]] = SetOpt):
    from ingest.score_site import ScoreSite, site_source

    cfg = _load(config, set_)
    _build(cfg, limit)
    with ScoreSite(cfg.demo.site_dir, port=cfg.demo.site_port if port is None else port) as site:
        src = site_source(site.url).model_dump(mode="json", exclude_defaults=True)
        typer.echo(f"serving {site.url}  (Ctrl-C to stop)\ncrawl it with:\n"
                   f"  musiclake ingest run --set 'ingest.sources=[{json.dumps(src, ensure_ascii=False)}]'")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            typer.echo("stopped")
