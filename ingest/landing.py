"""Landing fetch and import outcomes in the bronze tables, exactly once, through :class:`lake.delta.Lake` only.

Identity is content: a MIDI file is its sha256 (md5 kept too). Each outcome is buffered and the
buffers are committed every few hundred rows or tens of megabytes, in this order:

1. contents: ``bronze_midi_files`` (key sha256) and ``bronze_lyrics_pages`` (key url), by MERGE, so
   bytes already in the lake, under any URL, are never stored again;
2. places: ``bronze_urls`` (key source, url, sha256, validators), by MERGE: every URL or archive
   member a content was found at, with its ETag / Last-Modified, so the same bytes at two URLs are
   one file and two URL rows, and a file that changed at its URL is a new file and a new URL row
   while the old ones stay;
3. what happened: ``bronze_crawl_errors`` and ``bronze_crawl_log`` (one row per URL outcome: landed,
   duplicate, not_modified, skipped, error, fetched), appended under a Delta app transaction
   ``("lander:<run>:<lander>:<table>", flush number)`` so a retried commit never lands twice.

Because a URL row is only written after its content, and the crawler treats a URL as done only
once it has a URL row (:func:`load_url_state`), a crash at any moment followed by a re-run neither
duplicates nor loses a file: whatever was not committed is fetched again, whatever was is merged
away. Two runs landing at the same time conflict at most on a MERGE; delta-rs then refuses the
later commit (``CommitFailedError``) and it is retried on the new snapshot, which inserts only what
the other run did not.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc
from deltalake.exceptions import CommitFailedError

from lake.delta import Lake
from lake.schemas import (BRONZE_CRAWL_ERRORS, BRONZE_CRAWL_LOG, BRONZE_LYRICS, BRONZE_MIDI, BRONZE_URLS,
                          TableSpec)
from lake.schemas.bronze import CRAWL_OUTCOMES
from common.runinfo import code_version

LAND_EVERY_ROWS = 200
LAND_EVERY_BYTES = 32 * 1024 * 1024
COMMIT_ATTEMPTS = 30  # a MERGE that lost a race is retried on the new snapshot this many times
CONTENT = {"midi": BRONZE_MIDI, "lyrics": BRONZE_LYRICS}


@dataclass(frozen=True)
class UrlState:
    """What the lake last saw at a URL: its content and the validators for a conditional request."""

    url: str
    kind: str
    sha256: str
    etag: str | None
    last_modified: str | None
    fetched_at: datetime


def validators_key(etag: str | None, last_modified: str | None) -> str:
    return f"{etag or ''}|{last_modified or ''}"


def load_url_state(lake: Lake, source_name: str) -> dict[str, UrlState]:
    """The latest observation of every MIDI / lyrics URL of a source (for ETag / Last-Modified requests)."""
    return _url_observations(lake, source_name)[0]


def _url_observations(lake: Lake, source_name: str) -> tuple[dict[str, UrlState], set[tuple[str, str, str]]]:
    rows = lake.read(BRONZE_URLS, columns=["url", "kind", "sha256", "etag", "last_modified", "validators", "fetched_at"],
                     filters=[("source", "=", source_name)])
    if rows.num_rows:
        rows = rows.sort_by([("fetched_at", "ascending")])
    state: dict[str, UrlState] = {}
    seen: set[tuple[str, str, str]] = set()
    cols = {name: rows.column(name).to_pylist() for name in rows.column_names}
    for i in range(rows.num_rows):
        url, sha = cols["url"][i], cols["sha256"][i]
        seen.add((url, sha, cols["validators"][i]))
        state[url] = UrlState(url, cols["kind"][i], sha, cols["etag"][i], cols["last_modified"][i], cols["fetched_at"][i])
    return state, seen


def known_content(lake: Lake, spec: TableSpec) -> set[str]:
    """sha256 of every content already in a bronze content table."""
    return set(lake.read(spec, columns=["sha256"]).column("sha256").to_pylist())


def retry_commit(commit: Callable[[], object], attempts: int = COMMIT_ATTEMPTS):
    """Run ``commit`` again while delta-rs refuses it because a concurrent writer won the race."""
    for attempt in range(attempts):
        try:
            return commit()
        except CommitFailedError:
            if attempt == attempts - 1:
                raise
            time.sleep(min(2.0, 0.02 * 2 ** attempt) * random.uniform(0.5, 1.5))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _fields(out) -> dict:
    """The optional outcome fields (``final_url``, validators, timing), None where the fetcher has none."""
    return {name: getattr(out, name, None) for name in ("final_url", "etag", "last_modified", "elapsed_ms")}


def midi_row(out, source, run_id: str) -> dict:
    t = out.task
    return {"sha256": out.sha256, "md5": out.md5, "content": out.body, "size": len(out.body), "url": t.url,
            "referrer": t.referrer, "title": t.title,
            "attrs_json": json.dumps(t.attrs or {}, sort_keys=True, ensure_ascii=False),
            "source": source.name, "license": source.license, "http_status": out.http_status,
            "content_type": out.content_type, "fetched_at": out.fetched_at, "ingest_run_id": run_id}


def lyrics_row(out, source, run_id: str) -> dict:
    page = out.lyrics
    return {"url": out.task.url, "sha256": out.sha256, "title": page.title or out.task.title, "lyrics": page.text,
            "language": page.language, "midi_url": page.midi_url,
            "match_method": getattr(page, "match_method", None) or ("page_link" if page.midi_url else "none"),
            "source": source.name, "license": source.license, "http_status": out.http_status,
            "content_type": out.content_type, "fetched_at": out.fetched_at, "ingest_run_id": run_id}


def error_row(task, stage: str, reason: str, source, run_id: str, out=None) -> dict:
    return {"url": task.url, "source": source.name, "stage": stage, "reason": reason,
            "http_status": out.http_status if out else None, "content_type": out.content_type if out else None,
            "size": out.size if out else None, "referrer": task.referrer,
            "fetched_at": out.fetched_at if out else _now(), "ingest_run_id": run_id}


class Lander:
    """Buffers outcomes of one run of one source and commits them exactly once (see the module doc).

    ``source`` needs only ``name`` and ``license``. Known contents and URL observations are read
    from the lake unless given. ``on_flush(urls)`` is called after each commit with the URLs whose
    outcome is now durable (what a persisted frontier may mark done).
    """

    def __init__(self, lake: Lake, source, run_id: str, known_midi: set[str] | None = None,
                 known_lyrics: set[str] | None = None, every_rows: int = LAND_EVERY_ROWS,
                 every_bytes: int = LAND_EVERY_BYTES, on_flush: Callable[[list[str]], None] | None = None):
        self.lake, self.source, self.run_id = lake, source, run_id
        self.known = {"midi": known_content(lake, BRONZE_MIDI) if known_midi is None else known_midi,
                      "lyrics": known_content(lake, BRONZE_LYRICS) if known_lyrics is None else known_lyrics}
        self.url_state, self._observed = _url_observations(lake, source.name)
        self.every_rows, self.every_bytes, self.on_flush = every_rows, every_bytes, on_flush
        self.landed = {"midi": 0, "lyrics": 0}
        self.duplicates = {"midi": 0, "lyrics": 0}
        self.not_modified = 0
        self.skipped = 0
        self.errors = 0  # rows for bronze_crawl_errors (failed fetches and refused URLs)
        self.bytes_landed = 0
        self.flushes = 0
        self._content: dict[str, list[dict]] = {"midi": [], "lyrics": []}
        self._urls: list[dict] = []
        self._errors: list[dict] = []
        self._log: list[dict] = []
        self._bytes = 0
        self._id = uuid.uuid4().hex[:8]  # one run may land through several landers (files, then captions)
        self.metadata = {"ingest_run_id": run_id, "source": source.name, "code_version": code_version()}

    # -- recording outcomes -------------------------------------------------------------------
    def add(self, out) -> str:
        """Record one fetch (or import) outcome; returns the crawl-log outcome it became."""
        task, extra = out.task, _fields(out)
        kind = task.kind
        skipped = getattr(out, "skipped", None)
        if skipped:
            return self._note(task, "skipped", skipped, out, **extra)
        if getattr(out, "not_modified", False):
            self.not_modified += 1
            known = self.url_state.get(task.url)
            return self._note(task, "not_modified", "304 Not Modified", out, sha256=known.sha256 if known else None,
                              size=0, **extra)
        if not out.ok:
            self._errors.append(error_row(task, out.error_stage, out.reason, self.source, self.run_id, out))
            self.errors += 1
            return self._note(task, "error", f"{out.error_stage}: {out.reason}", out, size=out.size, **extra)
        if kind not in CONTENT:
            return self._note(task, "fetched", None, out, sha256=out.sha256, size=out.size, **extra)

        size = len(out.body) if kind == "midi" else (out.size or 0)
        if out.sha256 in self.known[kind]:
            self.duplicates[kind] += 1
            outcome, reason = "duplicate", f"content already in {CONTENT[kind].name}"
        else:
            self.known[kind].add(out.sha256)
            self._content[kind].append(midi_row(out, self.source, self.run_id) if kind == "midi"
                                       else lyrics_row(out, self.source, self.run_id))
            self._bytes += size
            outcome, reason = "landed", None
        self._observe(task.url, kind, out, size, extra)
        return self._note(task, outcome, reason, out, sha256=out.sha256, size=size, **extra)

    def refuse(self, task, reason: str) -> None:
        """A URL the crawler would not fetch (host not allowed, scheme): a crawl error and a skip."""
        self._errors.append(error_row(task, "fetch", reason, self.source, self.run_id))
        self.errors += 1
        self._note(task, "skipped", reason, None)

    def note(self, task, outcome: str, reason: str | None = None, sha256: str | None = None,
             size: int | None = None) -> str:
        """Log the outcome of something landed beside the contents (an annotated set's labels)."""
        return self._note(task, outcome, reason, None, sha256=sha256, size=size)

    def skip(self, task, reason: str) -> None:
        """A URL left out on purpose (robots.txt, an opt-out) before any fetch: a crawl-log skip only."""
        self._note(task, "skipped", reason, None)

    def _observe(self, url: str, kind: str, out, size: int, extra: dict) -> None:
        validators = validators_key(extra["etag"], extra["last_modified"])
        key = (url, out.sha256, validators)
        if key not in self._observed:
            self._observed.add(key)
            self._urls.append({"source": self.source.name, "url": url, "sha256": out.sha256,
                               "md5": getattr(out, "md5", None), "kind": kind, "validators": validators,
                               "etag": extra["etag"], "last_modified": extra["last_modified"],
                               "final_url": extra["final_url"], "http_status": out.http_status, "size": size,
                               "fetched_at": out.fetched_at, "ingest_run_id": self.run_id})
        self.url_state[url] = UrlState(url, kind, out.sha256, extra["etag"], extra["last_modified"], out.fetched_at)

    def _note(self, task, outcome: str, reason: str | None, out, sha256: str | None = None, size: int | None = None,
              final_url: str | None = None, etag: str | None = None, last_modified: str | None = None,
              elapsed_ms: float | None = None) -> str:
        if outcome == "skipped":
            self.skipped += 1
        self._log.append({"ingest_run_id": self.run_id, "source": self.source.name, "url": task.url, "kind": task.kind,
                          "outcome": outcome, "reason": reason, "http_status": out.http_status if out else None,
                          "sha256": sha256, "size": size, "elapsed_ms": elapsed_ms, "etag": etag,
                          "last_modified": last_modified, "final_url": final_url, "referrer": task.referrer,
                          "fetched_at": out.fetched_at if out else _now()})
        self._maybe_flush()
        return outcome

    # -- committing ---------------------------------------------------------------------------
    def pending(self) -> int:
        return len(self._log)

    def _maybe_flush(self) -> None:
        if len(self._log) >= self.every_rows or self._bytes >= self.every_bytes:
            self.flush()

    def flush(self) -> None:
        if not self._log:
            return
        for kind, rows in self._content.items():
            if rows:
                self._land_content(kind, rows)
        if self._urls:
            retry_commit(lambda: self.lake.insert_new(BRONZE_URLS, _table(BRONZE_URLS, self._urls),
                                                      metadata=self.metadata))
        self.flushes += 1
        self._append_once(BRONZE_CRAWL_ERRORS, self._errors)
        self._append_once(BRONZE_CRAWL_LOG, self._log)
        urls = [r["url"] for r in self._log]
        self._content, self._urls, self._errors, self._log, self._bytes = {"midi": [], "lyrics": []}, [], [], [], 0
        if self.on_flush is not None:
            self.on_flush(urls)

    def _land_content(self, kind: str, rows: list[dict]) -> None:
        spec = CONTENT[kind]
        _, inserted = retry_commit(lambda: self.lake.insert_new(spec, _table(spec, rows), metadata=self.metadata))
        if inserted < len(rows):
            # the table already held some keys: another run landed them between our read and our
            # commit (or, for a lyrics page keyed by URL, an earlier version of the page stays)
            key = spec.key[0]
            mine = pa.array([r[key] for r in rows], pa.string())
            theirs = self.lake.read(spec, columns=list(dict.fromkeys([key, "sha256", "ingest_run_id"])))
            theirs = theirs.filter(pc.is_in(theirs.column(key), value_set=mine)).to_pylist()
            held = {r[key]: r for r in theirs if r["ingest_run_id"] != self.run_id}
            by_sha = {r["sha256"]: r for r in rows if r[key] in held}
            for row in self._log:
                other = by_sha.get(row["sha256"]) if row["outcome"] == "landed" and row["kind"] == kind else None
                if other is not None:
                    kept = held[other[key]]
                    row["outcome"] = "duplicate"
                    row["reason"] = (f"landed concurrently by {kept['ingest_run_id']}" if kept["sha256"] == row["sha256"]
                                     else f"{spec.name} keeps the version landed by {kept['ingest_run_id']}")
                    self.duplicates[kind] += 1
            rows = [r for r in rows if r[key] not in held]
        self.landed[kind] += len(rows)
        if kind == "midi":
            self.bytes_landed += sum(r["size"] for r in rows)

    def _append_once(self, spec: TableSpec, rows: list[dict]) -> None:
        if not rows:
            return
        app_id = f"lander:{self.run_id}:{self._id}:{spec.name}"

        def commit():
            if not self.lake.already_committed(spec, app_id, self.flushes):
                self.lake.append(spec, _table(spec, rows), app_id=app_id, app_version=self.flushes, metadata=self.metadata)
        retry_commit(commit)

    def close(self) -> None:
        self.flush()

    def counts(self) -> dict[str, int]:
        return {"midi_landed": self.landed["midi"], "midi_duplicates": self.duplicates["midi"],
                "lyrics_landed": self.landed["lyrics"], "lyrics_duplicates": self.duplicates["lyrics"],
                "not_modified": self.not_modified, "skipped": self.skipped, "errors": self.errors,
                "bytes_landed": self.bytes_landed}


def _table(spec: TableSpec, rows: Iterable[dict]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=spec.schema)


_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s)\]>,'\"]*", re.I)
_HOST = re.compile(r"\[[0-9a-f:.]+\](?::\d+)?|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"  # IPs, [v6]
                   r"|\b(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?\b(?!\.)"  # example.org, h1.example.org:8000
                   r"|\b[a-z0-9-]+:\d+\b", re.I)  # localhost:8000
_FILE_EXT = re.compile(r"\.(?:mid|midi|html?|txt|kar|zip|gz|tar|jsonl?)$", re.I)
_QUOTED = re.compile(r"\bb?'(?:[^'\\]|\\.)*'|\bb?\"(?:[^\"\\]|\\.)*\"")
_PATH = re.compile(r"(?<![\w/<])/[^\s)\]]*")
_OBJECT = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>", re.I)
_NUMBER = re.compile(r"(?<![\w.])(?<!HTTP )(?:0x[0-9a-f]+|[-+]?\d+(?:[.,]\d+)*)", re.I)


def reason_kind(reason: str) -> str:
    """``reason`` with its particulars taken out, so that reasons of one kind group together:
    URLs become ``<url>``, hosts and addresses ``<host>``, paths ``<path>``, quoted values ``'…'``,
    numbers ``N`` but HTTP statuses (``too large: 9000001 bytes announced > max_file_bytes 8388608`` ->
    ``too large: N bytes announced > max_file_bytes N``)."""
    text = _OBJECT.sub("<object>", reason)
    text = _URL.sub("<url>", text)
    text = _QUOTED.sub(lambda m: ("b" if m.group(0).startswith("b") else "") + "'…'", text)
    text = _HOST.sub(lambda m: m.group(0) if _FILE_EXT.search(m.group(0)) else "<host>", text)
    text = _PATH.sub("<path>", text)
    return _NUMBER.sub("N", text)


def run_log_summary(lake: Lake, run_id: str | None = None, source: str | None = None, top: int = 10) -> str:
    """Outcome counts and the most common reasons of one ingest run (default: the latest one)."""
    filters = [("source", "=", source)] if source else None
    log = lake.read(BRONZE_CRAWL_LOG, columns=["ingest_run_id", "source", "outcome", "reason", "size", "fetched_at"],
                    filters=filters)
    if log.num_rows == 0:
        return "no ingest runs recorded" + (f" for source {source!r}" if source else "")
    if run_id is None:
        latest = log.sort_by([("fetched_at", "descending")]).slice(0, 1).to_pylist()[0]
        run_id = latest["ingest_run_id"]
    log = log.filter(pc.equal(log.column("ingest_run_id"), run_id))
    if log.num_rows == 0:
        return f"no crawl-log rows for run {run_id!r}"
    rows = log.to_pylist()
    sources = sorted({r["source"] for r in rows})
    first, last = min(r["fetched_at"] for r in rows), max(r["fetched_at"] for r in rows)
    counts: dict[str, int] = {}
    reasons: dict[tuple[str, str], list] = {}  # (outcome, reason kind) -> [count, one example]
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        if r["reason"] and r["outcome"] != "duplicate":
            group = reasons.setdefault((r["outcome"], reason_kind(r["reason"])), [0, r["reason"]])
            group[0] += 1
    landed_bytes = sum(r["size"] or 0 for r in rows if r["outcome"] == "landed")
    lines = [f"run {run_id} (source {', '.join(sources)}): {len(rows)} URLs from {first:%Y-%m-%d %H:%M:%S} "
             f"to {last:%H:%M:%S} UTC, {landed_bytes / 1e6:.2f} MB landed"]
    lines += [f"  {outcome:<13}{counts[outcome]:>8}" for outcome in CRAWL_OUTCOMES if outcome in counts]
    if reasons:
        lines.append("most common reasons:")
        for (outcome, kind), (n, example) in sorted(reasons.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]:
            lines.append(f"  {n:>6}  {outcome:<9} {kind}")
            if example != kind:
                lines.append(f"  {'':>6}  {'':<9} e.g. {example}")
    return "\n".join(lines)
