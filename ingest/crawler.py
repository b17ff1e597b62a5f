"""The crawl: Ray fetch actors pulling per-host batches from a persisted frontier, a driver that walks and lands.

For each source the driver

* opens the crawl state (:mod:`ingest.frontier_store`): an unfinished crawl (a run killed with
  SIGKILL, say) is resumed, otherwise a new crawl starts from the seeds;
* keeps the breadth-first frontier partitioned by host (:mod:`ingest.frontier`) and hands batches to
  ``cfg.ingest.workers`` fetch actors, each running ``source.fetch_threads`` requests at once (one
  :class:`ingest.fetch.Fetcher` per thread), never more than ``per_host_concurrency`` batches of one
  host at a time;
* shares one politeness actor (:mod:`ingest.politeness`) among all fetch actors, so robots.txt is
  fetched once per host and the per-host rate holds for all workers together;
* sends the ETag / Last-Modified last seen at a URL, so unchanged files are not downloaded again;
* lands every outcome through :class:`ingest.landing.Lander` and marks a URL done in the frontier
  only once the lander has committed its outcome; fetch tasks hold at most
  ``min(batch_size, land_every_rows)`` URLs, so a killed run loses (fetches again) at most the tasks
  in flight and the lander's unlanded buffer;
* links lyrics pages to MIDI files: by the page's own link, by the listing entry holding both links,
  or, at the end of the crawl, by title;
* shows a live progress line (pages, files, bytes, skips, errors, rate) and returns a summary.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace

import ray

from ingest.fetch import Fetcher, Outcome, Task
from ingest.frontier import Frontier
from ingest.frontier_store import FrontierStore
from ingest.landing import Lander, load_url_state
from ingest.parse import title_key
from ingest.politeness import RemoteGate, needs_gate, start_gate
from lake.delta import Lake
from lake.schemas import BRONZE_CRAWL_ERRORS, BRONZE_LYRICS, BRONZE_MIDI
from common.cluster import init_ray
from common.config import Config, ConfigError, SourceConfig
from common.progress import Progress
from common.runinfo import new_run_id

FETCH_ACTOR_CPUS = 0.25  # fetching waits on the network, not the CPU
FETCH_TASK_RETRIES = 2  # a batch whose fetch actor died is sent again this many times (to the restarted actor)


class FetchActorsNotReady(RuntimeError):
    """The fetch actors did not start in time, most often because Ray cannot schedule them: other actors or
    placement groups hold the CPUs they ask for. Without this check the crawl would wait on them forever."""


class FetchWorker:
    """A fetch actor: ``fetch_threads`` concurrent calls, one Fetcher (one SessionPage) per thread."""

    def __init__(self, source: SourceConfig, gate=None):
        self.source = source
        self.gate = RemoteGate(gate) if gate is not None else None
        self._local = threading.local()

    def ready(self) -> bool:
        """Answers once the actor is running: what the driver waits on before it hands out batches."""
        return True

    def fetch_batch(self, tasks: list[Task]) -> list[Outcome]:
        fetcher = getattr(self._local, "fetcher", None)
        if fetcher is None:
            fetcher = self._local.fetcher = Fetcher(self.source, self.gate)
        return fetcher.fetch_batch(tasks)


@dataclass
class IngestReport:
    source: str
    run_id: str
    crawl_id: str = ""
    resumed: bool = False
    pages: int = 0
    midi_landed: int = 0
    midi_already_present: int = 0
    lyrics_landed: int = 0
    lyrics_already_present: int = 0
    not_modified: int = 0
    skipped: int = 0
    errors: int = 0
    bytes_landed: int = 0
    bytes_fetched: int = 0
    requests: int = 0
    elapsed_s: float = 0.0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    lyrics_matches: dict[str, int] = field(default_factory=dict)
    table_versions: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        versions = ", ".join(f"{name}@v{v}" for name, v in self.table_versions.items())
        rate = self.requests / self.elapsed_s if self.elapsed_s else 0.0
        lines = [f"ingest {self.source} ({self.run_id}{', resumed crawl ' + self.crawl_id if self.resumed else ''}): "
                 f"{self.pages} pages, {self.midi_landed} MIDI landed ({self.bytes_landed / 1e6:.2f} MB), "
                 f"{self.midi_already_present} already present, {self.lyrics_landed} lyrics landed "
                 f"({self.lyrics_already_present} already present), {self.not_modified} not modified, "
                 f"{self.skipped} skipped, {self.errors} errors in {self.elapsed_s:.1f}s ({rate:.1f} URLs/s)"]
        if self.skip_reasons:
            top = sorted(self.skip_reasons.items(), key=lambda kv: -kv[1])[:5]
            lines.append("  skips: " + "; ".join(f"{n} x {r}" for r, n in top))
        if self.lyrics_matches:
            lines.append("  lyrics linked by: " + ", ".join(f"{m}={n}" for m, n in sorted(self.lyrics_matches.items())))
        lines.append(f"  tables: {versions}")
        return "\n".join(lines)


def run_ingest(cfg: Config, sources: list[str] | None = None) -> list[IngestReport]:
    """Crawl the named sources (None: every configured source) into the bronze tables."""
    names = list(sources) if sources else [s.name for s in cfg.ingest.sources]
    if not names:
        raise ConfigError("config error: ingest.sources: no crawl source configured (add one to the ingest.sources "
                          "list of the config file; README.md, 'Ingest for data engineers', shows one)")
    chosen = [cfg.source(n) for n in names]  # an unknown name raises ConfigError before anything starts
    init_ray(cfg)
    lake = Lake.from_config(cfg)
    return [crawl_source(lake, src, workers=cfg.ingest.workers, batch_size=cfg.ingest.batch_size,
                         checkpoint_s=cfg.ingest.checkpoint_s,
                         land_every_rows=getattr(cfg.ingest, "land_every_rows", 500),
                         actor_start_timeout_s=cfg.ingest.actor_start_timeout_s) for src in chosen]


class _Crawl:
    """One run over one source (the driver side)."""

    def __init__(self, lake: Lake, source: SourceConfig, run_id: str, land_every_rows: int):
        self.lake, self.source, self.run_id = lake, source, run_id
        self.store = FrontierStore(lake, source.name, run_id)
        self.resume = self.store.open()
        self.frontier = Frontier(source)
        self.url_state = load_url_state(lake, source.name)
        self.lander = Lander(lake, source, run_id, every_rows=land_every_rows, on_flush=self._landed)
        self.progress = Progress(f"ingest {source.name}", unit="urls")
        self.midi_titles: dict[str, set[str]] = {}  # title_key -> MIDI URLs linked under that title
        self.deferred: list[Outcome] = []  # lyrics pages waiting for the title index
        self.not_modified: Counter[str] = Counter()
        self.skip_reasons: Counter[str] = Counter()
        self.matches: Counter[str] = Counter()
        self.pages = self.requests = self.bytes_fetched = 0

    # -- the frontier --------------------------------------------------------------------
    def start(self) -> None:
        if self.resume.resumed:
            self.frontier.restore(self.resume.queued, self.resume.done)
            for task in self.resume.queued:
                self._index_title(task)
        else:
            for seed in self.source.seeds:
                self.add(Task("page", seed, 0))

    def add(self, task: Task) -> None:
        before = len(self.frontier)
        refusal = self.frontier.add(task)
        if refusal is not None:
            self.lander.refuse(task, refusal)
            self.progress.advance(0, errors=1)
        elif len(self.frontier) > before:
            self.store.queued(task)
            self._index_title(task)

    def _index_title(self, task: Task) -> None:
        key = title_key(task.title) if task.kind == "midi" else None
        if key:
            self.midi_titles.setdefault(key, set()).add(task.url)

    def with_validators(self, task: Task) -> Task:
        state = self.url_state.get(task.url)
        if state is None or task.kind == "page" or not (state.etag or state.last_modified):
            return task
        return replace(task, etag=state.etag, last_modified=state.last_modified)

    def _landed(self, urls: list[str]) -> None:
        """The lander committed these URLs' outcomes: mark them done, with the links found so far."""
        self.store.done(urls)
        self.store.commit()

    # -- outcomes ------------------------------------------------------------------------
    def handle(self, out: Outcome) -> None:
        t = out.task
        self.requests += 1
        self.bytes_fetched += out.size or 0
        if out.ok and t.kind == "page" and out.links is not None:
            self.pages += 1
            for kind, links in (("page", out.links.pages), ("midi", out.links.midi), ("lyrics", out.links.lyrics)):
                for link in links:
                    attrs = dict(link.attrs)
                    if link.midi_url:
                        attrs["listing_midi_url"] = link.midi_url
                    self.add(Task(kind, link.url, t.depth + 1, referrer=t.url, title=link.title, attrs=attrs))
        if out.landable and t.kind == "lyrics" and out.lyrics is not None:
            page = out.lyrics
            if page.midi_url:
                self.add(Task("midi", page.midi_url, t.depth + 1, referrer=t.url, title=page.title))
            elif t.attrs.get("listing_midi_url"):
                out.lyrics = replace(page, midi_url=t.attrs["listing_midi_url"], match_method="listing")
            else:
                self.deferred.append(out)  # linked by title once every MIDI title is known
                return
            self.matches[out.lyrics.match_method] += 1
        self._record(out)

    def _record(self, out: Outcome) -> None:
        if out.skipped:
            self.skip_reasons[_reason_kind(out.skipped)] += 1
        if out.not_modified:
            self.not_modified[out.task.kind] += 1
        self.lander.add(out)
        fetched_file = out.landable and out.task.kind != "page"
        self.progress.advance(1, pages=int(out.ok and out.task.kind == "page"),
                              files=int(fetched_file), bytes=(out.size or 0) if out.ok else 0,
                              not_modified=int(out.not_modified), skips=int(bool(out.skipped)),
                              errors=int(not out.ok))

    def match_deferred(self) -> None:
        for out in self.deferred:
            page = out.lyrics
            urls = self.midi_titles.get(title_key(page.title or out.task.title) or "", set())
            if len(urls) == 1:
                out.lyrics = replace(page, midi_url=next(iter(urls)), match_method="title")
            self.matches[out.lyrics.match_method] += 1
            self._record(out)
        self.deferred = []

    def checkpoint(self) -> None:
        self.lander.flush()  # calls _landed, which commits the frontier too
        self.store.commit()


def _reason_kind(reason: str) -> str:
    """A skip reason without its URL-specific part, for the summary's counts."""
    if reason.startswith("robots.txt disallows"):
        return "robots.txt disallows"
    return reason.split(" (")[0]


def crawl_source(lake: Lake, source: SourceConfig, workers: int, batch_size: int, checkpoint_s: float = 5.0,
                 land_every_rows: int = 500, actor_start_timeout_s: float = 120.0) -> IngestReport:
    t0 = time.monotonic()
    report = IngestReport(source=source.name, run_id=new_run_id("ingest"))
    crawl = _Crawl(lake, source, report.run_id, land_every_rows)
    report.crawl_id, report.resumed = crawl.resume.crawl_id, crawl.resume.resumed
    if crawl.resume.resumed:
        print(f"ingest {source.name}: resuming crawl {crawl.resume.crawl_id} "
              f"({len(crawl.resume.done)} URLs done, {crawl.resume.pending} pending)", flush=True)

    threads = source.fetch_threads
    gate = start_gate(source, report.run_id, workers * threads) if needs_gate(source) else None
    # A fetch actor lost with its node (or killed) is started again elsewhere and its batches in flight are sent
    # again (fetching is idempotent: landing is a MERGE on the content hash); a batch that kills it every time
    # (FETCH_TASK_RETRIES + 1 times) is recorded as errors, and the run goes on.
    actor_cls = ray.remote(num_cpus=FETCH_ACTOR_CPUS, max_concurrency=threads, max_restarts=-1,
                           max_task_retries=FETCH_TASK_RETRIES)(FetchWorker)
    actors = [actor_cls.remote(source, gate) for _ in range(workers)]
    capacity = workers * threads
    # A fetch task's outcomes reach the driver only when the whole task is done, so a SIGKILL loses
    # every task in flight: tasks of at most land_every_rows URLs bound that loss (with the lander's
    # own buffer) to about (in-flight tasks + 1) x land_every_rows outcomes fetched again on resume.
    task_size = max(1, min(batch_size, land_every_rows))
    inflight: dict = {}  # ObjectRef -> (origin, batch)
    busy: Counter[str] = Counter()
    turn = 0
    try:
        crawl.start()
        _wait_ready(actors, actor_start_timeout_s)
        last = time.monotonic()
        while True:
            for host in crawl.frontier.hosts():
                while len(inflight) < capacity and busy[host] < source.per_host_concurrency and crawl.frontier.queued(host):
                    free = max(1, capacity - len(inflight))
                    n = max(1, min(task_size, math.ceil(crawl.frontier.queued(host) / free)))
                    batch = [crawl.with_validators(t) for t in crawl.frontier.pop_batch(n, host)]
                    ref = actors[turn % workers].fetch_batch.remote(batch)
                    turn += 1
                    inflight[ref] = (host, batch)
                    busy[host] += 1
            if not inflight:
                break
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=checkpoint_s)
            for ref in ready:
                host, batch = inflight.pop(ref)
                busy[host] -= 1
                try:
                    outcomes = ray.get(ref)
                except (ray.exceptions.RayError) as e:  # the batch killed its actor every time: errors, the run goes on
                    outcomes = [_worker_lost(t, e) for t in batch]
                for out in outcomes:
                    crawl.handle(out)
            if time.monotonic() - last >= checkpoint_s:
                crawl.checkpoint()
                last = time.monotonic()
        crawl.match_deferred()
        crawl.checkpoint()
        crawl.store.finish()
    finally:
        for actor in actors:
            ray.kill(actor)
        if gate is not None:
            ray.kill(gate)
        crawl.progress.close()

    counts = crawl.lander.counts()
    report.pages = crawl.pages
    report.midi_landed, report.lyrics_landed = counts["midi_landed"], counts["lyrics_landed"]
    report.bytes_landed = counts["bytes_landed"]
    report.midi_already_present = counts["midi_duplicates"] + crawl.not_modified["midi"]
    report.lyrics_already_present = counts["lyrics_duplicates"] + crawl.not_modified["lyrics"]
    report.not_modified = sum(crawl.not_modified.values())
    report.skipped = sum(crawl.skip_reasons.values())
    report.skip_reasons = dict(crawl.skip_reasons)
    report.lyrics_matches = dict(crawl.matches)
    report.errors = counts["errors"]
    report.requests, report.bytes_fetched = crawl.requests, crawl.bytes_fetched
    report.table_versions = {spec.name: lake.version(spec) for spec in (BRONZE_MIDI, BRONZE_LYRICS, BRONZE_CRAWL_ERRORS)}
    report.elapsed_s = time.monotonic() - t0
    return report


def _wait_ready(actors: list, timeout_s: float) -> None:
    """Return once every fetch actor runs; FetchActorsNotReady naming what Ray is short of after ``timeout_s``."""
    refs = [actor.ready.remote() for actor in actors]
    ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    if not pending:
        ray.get(ready)  # an actor that could not be constructed raises here
        return
    free, total = ray.available_resources(), ray.cluster_resources()
    need = {"CPU": FETCH_ACTOR_CPUS}
    short = [f"{name}: {free.get(name, 0.0):g} of {total.get(name, 0.0):g} free, each fetch actor needs {n:g}"
             for name, n in need.items() if free.get(name, 0.0) < n]
    why = ("Ray is short of " + "; ".join(short) + " (other actors or placement groups hold the rest: `ray status`, "
           "ray.util.state.list_actors() and list_placement_groups() name them)" if short
           else "nothing they ask for is short (" + ", ".join(f"{k}: {free.get(k, 0.0):g} free" for k in need)
           + "); they may still be starting: raise ingest.actor_start_timeout_s")
    raise FetchActorsNotReady(f"{len(pending)} of {len(actors)} fetch actors did not start within {timeout_s:g} s "
                              f"(ingest.actor_start_timeout_s): {why}")


def _worker_lost(task: Task, error: Exception) -> Outcome:
    from datetime import datetime, timezone

    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return Outcome(task=task, fetched_at=datetime.now(timezone.utc), error_stage="fetch",
                   reason=f"fetch worker lost: {type(error).__name__}: {first[:160]}")
