"""The crawl: a pool of Ray actors fetching with DrissionPage, a driver that walks and lands.

For each source the driver keeps the breadth-first frontier (:mod:`ingest.frontier`), hands batches
of URLs to ``cfg.ingest.workers`` fetch actors (each one :class:`ingest.fetch.Fetcher`, one HTTP
session), follows the links they report back and lands files, lyrics and errors in the bronze
tables (:mod:`ingest.landing`). URLs already in bronze are not fetched again, and landing merges on
content hash, so running ingest twice lands nothing twice.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import ray
from ray.util.actor_pool import ActorPool

from ingest.fetch import Fetcher, Outcome, Task
from ingest.frontier import Frontier
from ingest.landing import Lander
from lake.delta import Lake
from lake.schemas import BRONZE_CRAWL_ERRORS, BRONZE_LYRICS, BRONZE_MIDI
from musiclake.cluster import init_ray
from musiclake.config import Config, ConfigError, SourceConfig
from musiclake.progress import Progress
from musiclake.runinfo import new_run_id

FETCH_ACTOR_CPUS = 0.25  # fetching waits on the network, not the CPU

_FetchActor = ray.remote(num_cpus=FETCH_ACTOR_CPUS)(Fetcher)


@dataclass
class IngestReport:
    source: str
    run_id: str
    pages: int = 0
    midi_landed: int = 0
    midi_already_present: int = 0
    lyrics_landed: int = 0
    lyrics_already_present: int = 0
    errors: int = 0
    bytes_landed: int = 0
    elapsed_s: float = 0.0
    table_versions: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        versions = ", ".join(f"{name}@v{v}" for name, v in self.table_versions.items())
        return (f"ingest {self.source} ({self.run_id}): {self.pages} pages, {self.midi_landed} MIDI landed "
                f"({self.bytes_landed / 1e6:.2f} MB), {self.midi_already_present} already present, "
                f"{self.lyrics_landed} lyrics landed ({self.lyrics_already_present} already present), "
                f"{self.errors} errors in {self.elapsed_s:.1f}s\n  tables: {versions}")


def run_ingest(cfg: Config, sources: list[str] | None = None) -> list[IngestReport]:
    """Crawl the named sources (None: every configured source) into the bronze tables."""
    names = list(sources) if sources else [s.name for s in cfg.ingest.sources]
    if not names:
        raise ConfigError("config error: ingest.sources: no crawl source configured")
    chosen = [cfg.source(n) for n in names]  # an unknown name raises ConfigError before anything starts
    init_ray(cfg)
    lake = Lake.from_config(cfg)
    return [crawl_source(lake, src, workers=cfg.ingest.workers, batch_size=cfg.ingest.batch_size) for src in chosen]


def _known(lake: Lake, spec) -> tuple[set[str], set[str]]:
    """URLs and content hashes already in a bronze table."""
    rows = lake.read(spec, columns=["url", "sha256"])
    return set(rows.column("url").to_pylist()), set(rows.column("sha256").to_pylist())


def crawl_source(lake: Lake, source: SourceConfig, workers: int, batch_size: int) -> IngestReport:
    t0 = time.monotonic()
    report = IngestReport(source=source.name, run_id=new_run_id("ingest"))
    midi_urls, midi_shas = _known(lake, BRONZE_MIDI)
    lyrics_urls, lyrics_shas = _known(lake, BRONZE_LYRICS)
    frontier = Frontier(source, known={"midi": midi_urls, "lyrics": lyrics_urls})
    lander = Lander(lake, source, report.run_id, known_midi=midi_shas, known_lyrics=lyrics_shas)
    progress = Progress(f"ingest {source.name}", unit="urls")

    def add(task: Task) -> None:
        refusal = frontier.add(task)
        if refusal is not None:
            lander.refuse(task, refusal)
            progress.advance(0, errors=1)

    def follow(out: Outcome) -> None:
        t = out.task
        if t.kind == "page":
            for kind, links in (("page", out.links.pages), ("midi", out.links.midi), ("lyrics", out.links.lyrics)):
                for link in links:
                    add(Task(kind, link.url, t.depth + 1, referrer=t.url, title=link.title, attrs=link.attrs))
        elif t.kind == "lyrics" and out.lyrics.midi_url:
            add(Task("midi", out.lyrics.midi_url, t.depth + 1, referrer=t.url))

    actors = [_FetchActor.remote(source) for _ in range(workers)]
    pool = ActorPool(actors)
    try:
        for seed in source.seeds:
            add(Task("page", seed, 0))
        while True:
            while pool.has_free() and len(frontier):
                n = max(1, min(batch_size, math.ceil(len(frontier) / workers)))
                pool.submit(lambda actor, batch: actor.fetch_batch.remote(batch), frontier.pop_batch(n))
            if not pool.has_next():
                break
            for out in pool.get_next_unordered():
                lander.add(out)
                if out.ok:
                    follow(out)
                    report.pages += out.task.kind == "page"
                progress.advance(1, pages=int(out.ok and out.task.kind == "page"),
                                 files=int(out.ok and out.task.kind != "page"),
                                 bytes=(out.size or 0) if out.ok else 0, errors=int(not out.ok))
        lander.flush()
    finally:
        for actor in actors:
            ray.kill(actor)
        progress.close()

    mine = [("ingest_run_id", "=", report.run_id)]
    landed = lake.read(BRONZE_MIDI, columns=["size"], filters=mine)
    report.midi_landed = landed.num_rows
    report.bytes_landed = sum(landed.column("size").to_pylist())
    report.midi_already_present = frontier.skipped["midi_already_present"] + lander.duplicates["midi"]
    report.lyrics_landed = lake.read(BRONZE_LYRICS, columns=["url"], filters=mine).num_rows
    report.lyrics_already_present = frontier.skipped["lyrics_already_present"] + lander.duplicates["lyrics"]
    report.errors = lander.errors
    report.table_versions = {spec.name: lake.version(spec) for spec in (BRONZE_MIDI, BRONZE_LYRICS, BRONZE_CRAWL_ERRORS)}
    report.elapsed_s = time.monotonic() - t0
    return report
