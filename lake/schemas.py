"""Every Delta table of the lake, defined once: name, layer, schema, key, description.

Everything else (the crawler, the Spark jobs, training) imports these specs; nothing restates a
column list. Tables stay on the simplest Delta protocol: UTC microsecond timestamps, no deletion
vectors, no column mapping, so both delta-rs and Spark read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

# Lineage columns carried by every silver and gold row.
LINEAGE = [
    pa.field("source_table", pa.string(), nullable=False),
    pa.field("source_version", pa.int64(), nullable=False),
    pa.field("job_run_id", pa.string(), nullable=False),
    pa.field("code_version", pa.string(), nullable=False),
    pa.field("processed_at", TS, nullable=False),
]


@dataclass(frozen=True)
class TableSpec:
    name: str
    layer: str
    schema: pa.Schema
    key: tuple[str, ...]
    description: str
    partition_by: tuple[str, ...] = field(default_factory=tuple)

    @property
    def columns(self) -> list[str]:
        return self.schema.names


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

SILVER_SCORES = TableSpec(
    name="silver_scores",
    layer="silver",
    key=("sha256",),
    description="One row per parsed MIDI: tempo, meter, key, instruments, size, duration (symusic).",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("style", pa.string(), nullable=False),  # the link's data-style normalized to lake.vocab.STYLES, else "other"
        pa.field("bpm", pa.float64(), nullable=False),
        pa.field("time_signature", pa.string(), nullable=False),  # "4/4"
        pa.field("key_tonic", pa.string(), nullable=False),  # "C", "F#", ...
        pa.field("key_mode", pa.string(), nullable=False),  # "major" | "minor"
        pa.field("key_confidence", pa.float64(), nullable=False),
        pa.field("programs", pa.list_(pa.int32()), nullable=False),  # GM programs, -1 for drums
        pa.field("instruments", pa.list_(pa.string()), nullable=False),
        pa.field("n_tracks", pa.int32(), nullable=False),
        pa.field("note_count", pa.int64(), nullable=False),
        pa.field("duration_s", pa.float64(), nullable=False),
        *LINEAGE,
    ]),
)

SILVER_TOKENS = TableSpec(
    name="silver_tokens",
    layer="silver",
    key=("sha256", "tokenizer_id"),
    description="miditok token ids per MIDI (one multi-track sequence), with the tokenizer that made them.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("tokenizer_id", pa.string(), nullable=False),  # hash of the tokenizer config, see lake.tokenizer
        pa.field("tokens", pa.list_(pa.int32()), nullable=False),
        pa.field("n_tokens", pa.int32(), nullable=False),
        *LINEAGE,
    ]),
)

SILVER_QUARANTINE = TableSpec(
    name="silver_quarantine",
    layer="silver",
    key=("sha256",),
    description="Bronze MIDI files that failed to parse or tokenize, with the stage and the error.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),  # "validate" | "parse" | "features" | "tokenize"
        pa.field("error", pa.string(), nullable=False),
        *LINEAGE,
    ]),
)

GOLD_PAIRS = TableSpec(
    name="gold_text_music_pairs",
    layer="gold",
    key=("sha256",),
    description="Text-music pairs: lyrics where a piece has them, else a caption from its features; split by content hash.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("text_kind", pa.string(), nullable=False),  # "lyrics" | "caption"
        pa.field("caption", pa.string(), nullable=False),  # always the feature caption
        pa.field("style", pa.string(), nullable=False),
        pa.field("bpm", pa.float64(), nullable=False),
        pa.field("tempo_bin", pa.int32(), nullable=False),  # index into lake.vocab.TEMPO_BIN_EDGES
        pa.field("key_name", pa.string(), nullable=False),  # "C major"
        pa.field("time_signature", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),  # "train" | "validation"
        *LINEAGE,
    ]),
)

TABLES: dict[str, TableSpec] = {t.name: t for t in (
    BRONZE_MIDI, BRONZE_LYRICS, BRONZE_CRAWL_ERRORS,
    SILVER_SCORES, SILVER_TOKENS, SILVER_QUARANTINE,
    GOLD_PAIRS,
)}


def spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no table named {name!r}; known: {', '.join(TABLES)}") from None
