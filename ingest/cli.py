"""`musiclake ingest ...`: crawl sources into bronze; import folders and archives; build and serve the local score site.

``ingest run`` and ``ingest import`` hold the source's lease (:mod:`ingest.lock`) while they work,
so they are safe to start again and again from cron, a Kubernetes CronJob or a Ray Job: a run that
finds the source busy says so and exits 0 without touching anything (``--wait`` waits for it).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Optional

import typer

from common.cli_common import ConfigOpt, SetOpt, load_or_exit
from common.config import ConfigError

app = typer.Typer(help="Crawl sources into the bronze Delta tables; build and serve the demo score site.",
                  no_args_is_help=True, add_completion=False)
site_app = typer.Typer(help="The local score site built from music21's corpus.", no_args_is_help=True)
app.add_typer(site_app, name="site")

LimitOpt = typer.Option(None, "--limit", min=1, help="corpus pieces to export (default: demo.corpus_limit)")




# What `ingest run` says when the config has no source: where one goes, with the smallest one that loads.
SOURCE_EXAMPLE = """\
ingest:
  sources:
    - name: my-scores
      seeds: ["https://scores.example.org/index.html"]
      license: "CC-BY-4.0"
"""
NO_SOURCES = (
    "config error: ingest.sources: no crawl source configured\n"
    "add one under ingest.sources in a YAML file and pass it with --config FILE (./musiclake.yaml is read\n"
    "without --config), for example (a name and seeds are required, the rest has defaults):\n"
    + "".join(f"  {line}\n" for line in SOURCE_EXAMPLE.splitlines())
    + "every key a source takes (locators, rate, robots, licence): README.md, \"Ingest for data engineers\";\n"
    "to crawl the demo's score site again, `musiclake ingest site serve` prints its --set line")


WaitOpt = typer.Option(0.0, "--wait", min=0, help="seconds to wait for a source another run holds (default: skip it)")


def _leased(lake, name: str, ttl_s: float, wait_s: float):
    """The source's lease, held; None (after saying why) when another run keeps it past ``wait_s``."""
    from ingest.lock import LeaseHeld, SourceLease

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return SourceLease(lake, name, ttl_s=ttl_s).__enter__()
        except LeaseHeld as e:
            if time.monotonic() >= deadline:
                typer.echo(f"skipped: {e}", err=True)
                return None
            time.sleep(min(5.0, max(0.5, deadline - time.monotonic())))


@app.command(help="Crawl the configured sources (all, or each --source NAME) into the bronze tables. "
                  "Safe to schedule: a source another run is ingesting is skipped (exit 0).")
def run(source: Optional[list[str]] = typer.Option(None, "--source", "-s", help="source name (repeatable)"),
        wait: float = WaitOpt, config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt):
    from ingest.crawler import run_ingest
    from lake.delta import Lake

    cfg = load_or_exit(config, set_)
    try:
        names = list(source) if source else [s.name for s in cfg.ingest.sources]
        if not names:
            typer.echo(NO_SOURCES, err=True)
            raise typer.Exit(2)
        for name in names:
            cfg.source(name)  # an unknown name fails before anything starts
        lake = Lake.from_config(cfg)
        for name in names:
            lease = _leased(lake, name, cfg.ingest.lease_ttl_s, wait)
            if lease is None:
                continue
            try:
                for report in run_ingest(cfg, [name]):
                    typer.echo(report.summary())
            finally:
                lease.release()
            if lease.lost:
                typer.echo(f"warning: {lease.lost}", err=True)
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2)


@app.command("import", help="Land a folder, .tar.gz/.tar/.zip of MIDI files (e.g. Lakh's lmd_full.tar.gz, streamed) "
                            "and/or a MidiCaps-style captions JSONL (joined by MD5) into bronze; an annotated set "
                            "(--source pop909, or --labels LAYOUT) lands its labels in bronze_annotations too.")
def import_(path: Optional[str] = typer.Argument(None, help="folder, MIDI file, tar archive or .zip"),
            source: str = typer.Option(..., "--source", "-s", help="source name the rows carry (a configured "
                                                                     "source's licence is used when it exists)"),
            captions: Optional[str] = typer.Option(None, "--captions", help="MidiCaps-style JSON lines file"),
            license_: Optional[str] = typer.Option(None, "--license", help="licence tag for every row (default: the "
                                                                           "configured source's, else 'unknown')"),
            labels: Optional[str] = typer.Option(None, "--labels", help="label layout of an annotated set (pop909); "
                                                                         "default: the source's name when it is one"),
            check: str = typer.Option("parse", "--check", help="parse: a file lands only if its header checks and it "
                                                               "parses; header: header checks only"),
            wait: float = WaitOpt, config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt):
    import re

    from ingest.annotated import ANNOTATED_SETS, import_annotated
    from ingest.importers import ImportSource, import_captions, import_midi
    from lake.delta import Lake

    cfg = load_or_exit(config, set_)
    problem = None
    layout = ANNOTATED_SETS.get(labels or source)
    if labels is not None and layout is None:
        problem = f"--labels {labels!r}: known label layouts are {', '.join(ANNOTATED_SETS)}"
    elif layout is not None and path is not None and not Path(path).is_dir():
        problem = f"{path}: an annotated set ({layout.name}) is imported from a folder of song folders"
    elif path is None and captions is None:
        problem = "nothing to import: give a PATH, --captions FILE, or both"
    elif not re.match(r"^[a-z0-9][a-z0-9_-]*$", source):
        problem = f"--source {source!r}: use lowercase letters, digits, '-' and '_'"
    elif check not in ("parse", "header"):
        problem = f"--check {check!r}: expected 'parse' or 'header'"
    else:
        for given, what in ((path, "PATH"), (captions, "--captions")):
            if given is not None and not Path(given).exists():
                problem = f"{what} {given}: no such file or folder"
    if problem:
        typer.echo(problem, err=True)
        raise typer.Exit(2)
    known = {s.name: s for s in cfg.ingest.sources}
    default_license = layout.license if layout is not None else "unknown"
    src = ImportSource(source, license_ or (known[source].license if source in known else default_license))
    lake = Lake.from_config(cfg)
    lease = _leased(lake, source, cfg.ingest.lease_ttl_s, wait)
    if lease is None:
        return
    try:
        report = None
        if path is not None and layout is not None:
            report = import_annotated(lake, path, src, layout, max_bytes=cfg.ingest.import_max_file_bytes, check=check)
        elif path is not None:
            try:
                report = import_midi(lake, path, src, max_bytes=cfg.ingest.import_max_file_bytes, check=check,
                                     every_rows=cfg.ingest.land_every_rows)
            except ValueError as e:  # not a folder, archive or MIDI file
                typer.echo(str(e), err=True)
                raise typer.Exit(2)
        if captions is not None:
            report = import_captions(lake, captions, src, report=report)
        typer.echo(report.summary())
    finally:
        lease.release()


@app.command(help="What ingest runs did: outcome counts and the most common reasons, from bronze_crawl_log.")
def log(run_id: Optional[str] = typer.Option(None, "--run", help="one run id (default: the latest run)"),
        source: Optional[str] = typer.Option(None, "--source", "-s", help="only this source"),
        top: int = typer.Option(10, "--top", min=1, help="reasons to list"),
        config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt):
    from ingest.landing import run_log_summary
    from lake.delta import Lake

    typer.echo(run_log_summary(Lake.from_config(load_or_exit(config, set_)), run_id=run_id, source=source, top=top))


def _build(cfg, limit: Optional[int]) -> dict:
    from common.score_site import build_site

    manifest = build_site(cfg.demo.site_dir, limit or cfg.demo.corpus_limit, faults=True)
    lyrics = sum(p["has_lyrics"] for p in manifest["pieces"])
    typer.echo(f"score site in {cfg.demo.site_dir}: {len(manifest['pieces'])} pieces ({lyrics} with lyrics), "
               f"{len(manifest['fault_files'])} fault links, {len(manifest['skipped'])} pieces skipped")
    return manifest


@site_app.command("build", help="Export music21 corpus pieces to MIDI and write the static site (cached).")
def site_build(limit: Optional[int] = LimitOpt, config: Optional[str] = ConfigOpt,
               set_: Optional[list[str]] = SetOpt):
    _build(load_or_exit(config, set_), limit)


@site_app.command("serve", help="Build the site if needed and serve it on 127.0.0.1 until Ctrl-C.")
def site_serve(port: Optional[int] = typer.Option(None, "--port", "-p", min=0, max=65535,
                                                  help="port (default: demo.site_port; 0: any free port)"),
               limit: Optional[int] = LimitOpt, config: Optional[str] = ConfigOpt,
               set_: Optional[list[str]] = SetOpt):
    from common.score_site import ScoreSite, site_source

    cfg = load_or_exit(config, set_)
    _build(cfg, limit)
    with ScoreSite(cfg.demo.site_dir, port=cfg.demo.site_port if port is None else port) as site:
        src = site_source(site.url).model_dump(mode="json", exclude_defaults=True)
        typer.echo(f"serving {site.url}  (Ctrl-C to stop)\ncrawl it with:\n"
                   f"  musiclake ingest run --set 'ingest.sources=[{json.dumps(src, ensure_ascii=False)}]'")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            typer.echo("stopped")
