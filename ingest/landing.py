"""Landing fetch outcomes in the bronze tables, in batches, through :class:`lake.delta.Lake` only.

MIDI files go to ``bronze_midi_files`` and lyrics pages to ``bronze_lyrics_pages`` with
``Lake.insert_new`` (a MERGE on the key, so the same content never lands twice); every failure goes
to ``bronze_crawl_errors`` with ``Lake.append``. Rows are buffered and committed every few hundred
rows or tens of megabytes, never one commit per file.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pyarrow as pa

from ingest.fetch import Outcome, Task
from lake.delta import Lake
from lake.schemas import BRONZE_CRAWL_ERRORS, BRONZE_LYRICS, BRONZE_MIDI, TableSpec
from musiclake.config import SourceConfig
from musiclake.runinfo import code_version

LAND_EVERY_ROWS = 200
LAND_EVERY_BYTES = 32 * 1024 * 1024


def midi_row(out: Outcome, source: SourceConfig, run_id: str) -> dict:
    t = out.task
    return {"sha256": out.sha256, "md5": out.md5, "content": out.body, "size": len(out.body), "url": t.url,
            "referrer": t.referrer, "title": t.title, "attrs_json": json.dumps(t.attrs, sort_keys=True, ensure_ascii=False),
            "source": source.name, "license": source.license, "http_status": out.http_status,
            "content_type": out.content_type, "fetched_at": out.fetched_at, "ingest_run_id": run_id}


def lyrics_row(out: Outcome, source: SourceConfig, run_id: str) -> dict:
    page = out.lyrics
    return {"url": out.task.url, "sha256": out.sha256, "title": page.title or out.task.title, "lyrics": page.text,
            "language": page.language, "midi_url": page.midi_url,
            "match_method": "page_link" if page.midi_url else "none", "source": source.name,
            "license": source.license, "http_status": out.http_status, "content_type": out.content_type,
            "fetched_at": out.fetched_at, "ingest_run_id": run_id}


def error_row(task: Task, stage: str, reason: str, source: SourceConfig, run_id: str, out: Outcome | None = None) -> dict:
    return {"url": task.url, "source": source.name, "stage": stage, "reason": reason,
            "http_status": out.http_status if out else None, "content_type": out.content_type if out else None,
            "size": out.size if out else None, "referrer": task.referrer,
            "fetched_at": out.fetched_at if out else datetime.now(timezone.utc), "ingest_run_id": run_id}


class Lander:
    def __init__(self, lake: Lake, source: SourceConfig, run_id: str, known_midi: set[str], known_lyrics: set[str],
                 every_rows: int = LAND_EVERY_ROWS, every_bytes: int = LAND_EVERY_BYTES):
        self.lake, self.source, self.run_id = lake, source, run_id
        # sha256 of content already in bronze (or buffered) under some URL: not landed again, so a
        # site that moved (a new port, a mirror) adds no duplicates
        self.known = {"midi": known_midi, "lyrics": known_lyrics}
        self.every_rows, self.every_bytes = every_rows, every_bytes
        self.duplicates = {"midi": 0, "lyrics": 0}
        self.errors = 0
        self._midi: list[dict] = []
        self._lyrics: list[dict] = []
        self._errors: list[dict] = []
        self._bytes = 0
        self.metadata = {"ingest_run_id": run_id, "source": source.name, "code_version": code_version()}

    def add(self, out: Outcome) -> None:
        kind = out.task.kind
        if not out.ok:
            self._errors.append(error_row(out.task, out.error_stage, out.reason, self.source, self.run_id, out))
        elif kind in self.known:
            if out.sha256 in self.known[kind]:
                self.duplicates[kind] += 1
                return
            self.known[kind].add(out.sha256)
            if kind == "midi":
                self._midi.append(midi_row(out, self.source, self.run_id))
                self._bytes += len(out.body)
            else:
                self._lyrics.append(lyrics_row(out, self.source, self.run_id))
        self._maybe_flush()

    def refuse(self, task: Task, reason: str) -> None:
        """Record a URL the crawler decided not to fetch (disallowed host, scheme)."""
        self._errors.append(error_row(task, "fetch", reason, self.source, self.run_id))
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if len(self._midi) + len(self._lyrics) + len(self._errors) >= self.every_rows or self._bytes >= self.every_bytes:
            self.flush()

    def flush(self) -> None:
        if self._midi:
            self.lake.insert_new(BRONZE_MIDI, _table(BRONZE_MIDI, self._midi), metadata=self.metadata)
        if self._lyrics:
            self.lake.insert_new(BRONZE_LYRICS, _table(BRONZE_LYRICS, self._lyrics), metadata=self.metadata)
        if self._errors:
            self.lake.append(BRONZE_CRAWL_ERRORS, _table(BRONZE_CRAWL_ERRORS, self._errors), metadata=self.metadata)
            self.errors += len(self._errors)
        self._midi, self._lyrics, self._errors, self._bytes = [], [], [], 0


def _table(spec: TableSpec, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=spec.schema)
