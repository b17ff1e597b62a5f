"""Gold: what training reads: text-music pairs with their split."""

from __future__ import annotations

import pyarrow as pa

from lake.schemas.spec import LINEAGE, TableSpec

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
