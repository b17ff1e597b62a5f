"""Silver: one row per parsed MIDI (features), its tokens, and what failed to parse."""

from __future__ import annotations

import pyarrow as pa

from lake.schemas.spec import LINEAGE, TableSpec

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
