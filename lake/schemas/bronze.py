"""Bronze: what the crawler and importers land, as fetched."""

from __future__ import annotations

import pyarrow as pa

from lake.schemas.spec import TS, TableSpec

BRONZE_MIDI = TableSpec(
    name="bronze_midi_files",
    layer="bronze",
    key=("sha256",),
    description="Raw MIDI bytes as fetched, one row per distinct content (sha256), with where and how it was found.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("md5", pa.string(), nullable=False),
        pa.field("content", pa.binary(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("referrer", pa.string()),
        pa.field("title", pa.string()),
        pa.field("attrs_json", pa.string(), nullable=False),  # data-* attributes of the link, JSON object
        pa.field("source", pa.string(), nullable=False),
        pa.field("license", pa.string(), nullable=False),
        pa.field("http_status", pa.int32(), nullable=False),
        pa.field("content_type", pa.string()),
        pa.field("fetched_at", TS, nullable=False),
        pa.field("ingest_run_id", pa.string(), nullable=False),
    ]),
)

BRONZE_LYRICS = TableSpec(
    name="bronze_lyrics_pages",
    layer="bronze",
    key=("url",),
    description="Lyrics pages as clean text, linked to the MIDI they belong to by the page's own link.",
    schema=pa.schema([
        pa.field("url", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),  # of the page body
        pa.field("title", pa.string()),
        pa.field("lyrics", pa.string(), nullable=False),
        pa.field("language", pa.string()),
        pa.field("midi_url", pa.string()),  # the MIDI the page links to, if any
        pa.field("match_method", pa.string(), nullable=False),  # "page_link" | "none"
        pa.field("source", pa.string(), nullable=False),
        pa.field("license", pa.string(), nullable=False),
        pa.field("http_status", pa.int32(), nullable=False),
        pa.field("content_type", pa.string()),
        pa.field("fetched_at", TS, nullable=False),
        pa.field("ingest_run_id", pa.string(), nullable=False),
    ]),
)

BRONZE_CRAWL_ERRORS = TableSpec(
    name="bronze_crawl_errors",
    layer="bronze",
    key=("ingest_run_id", "url", "stage"),
    description="Every URL the crawler could not land, with the reason (HTTP error, not MIDI, too large, ...).",
    schema=pa.schema([
        pa.field("url", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),  # "fetch" | "validate" | "parse_page"
        pa.field("reason", pa.string(), nullable=False),
        pa.field("http_status", pa.int32()),
        pa.field("content_type", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("referrer", pa.string()),
        pa.field("fetched_at", TS, nullable=False),
        pa.field("ingest_run_id", pa.string(), nullable=False),
    ]),
)
