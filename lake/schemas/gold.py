"""Gold: what training reads: text-music pairs, lyrics aligned to the music, and the split of every piece.

Columns are only ever added (nullable) so tables evolve in place; training reads ``sha256``,
``split``, ``style``, ``tempo_bin``, ``key_name``, ``text``, ``caption`` and ``bpm`` of the pairs.
Gold tables are small (one row per piece or per lyric line) and are not partitioned: Spark reads
them by the file list of a pinned version, and a split is a filter, not a folder.
"""

from __future__ import annotations

import pyarrow as pa

from lake.schemas.spec import LINEAGE, TableSpec

SPLITS = ("train", "validation", "test")

GOLD_PAIRS = TableSpec(
    name="gold_text_music_pairs",
    layer="gold",
    key=("sha256",),
    description="Text-music pairs for contrastive training: per piece its lyrics where it has some, else its caption "
                "(a source caption such as MidiCaps where present, else one written from its features, EN + ZH); "
                "split by duplicate cluster.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("text_kind", pa.string(), nullable=False),  # "lyrics" | "caption"
        pa.field("caption", pa.string(), nullable=False),  # English caption: the source caption if any, else from features
        pa.field("style", pa.string(), nullable=False),
        pa.field("bpm", pa.float64(), nullable=False),
        pa.field("tempo_bin", pa.int32(), nullable=False),  # index into lake.vocab.TEMPO_BIN_EDGES
        pa.field("key_name", pa.string(), nullable=False),  # "C major"
        pa.field("time_signature", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),  # one of SPLITS, the same for every piece of a duplicate cluster
        *LINEAGE,
        # Added in place (nullable: rows written before read null).
        pa.field("caption_zh", pa.string()),  # Chinese caption written from the features
        pa.field("feature_caption", pa.string()),  # English caption written from the features (== caption unless sourced)
        pa.field("caption_source", pa.string()),  # "features" | the source table's ``source`` (e.g. "midicaps")
        pa.field("mood", pa.string()),  # lake.captions.mood_of(key mode, tempo)
        pa.field("chord_progression", pa.list_(pa.string())),  # e.g. ["C", "G", "Am", "F"], when chords are known
        pa.field("instruments", pa.list_(pa.string())),
        pa.field("lyrics_source", pa.string()),  # "midi" (lyric events) | "page" (a linked lyrics page) | null
        pa.field("lyrics_level", pa.string()),  # "line" | "phrase" (segments in gold_lyric_segments) | "piece" | null
        pa.field("n_lyric_segments", pa.int32()),
        pa.field("cluster_id", pa.string()),  # the duplicate cluster the split was drawn for
        # Labels win: where the piece came with labels (bronze_annotations) its key, chords and bars are theirs.
        pa.field("key_source", pa.string()),  # "labels:<source>" (e.g. "labels:pop909") | "analysis"
        pa.field("chord_source", pa.string()),  # "labels:<source>" | "analysis" | null (no chords known)
        pa.field("bar_start_s", pa.list_(pa.float64())),  # bar starts: the labels' downbeats, else the lake's bars
        pa.field("bar_chords", pa.list_(pa.string())),  # lake chord label per bar ("C:maj", "A:min7", "N")
    ]),
)

GOLD_LYRIC_SEGMENTS = TableSpec(
    name="gold_lyric_segments",
    layer="gold",
    key=("sha256", "verse", "segment"),
    description="Lyrics aligned to the music: one row per line or phrase of a piece whose MIDI carries lyric events, "
                "with its time span in seconds and in beats.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("verse", pa.int32(), nullable=False),  # 1-based; MIDI lyrics hold one syllable per verse, newline-separated
        pa.field("segment", pa.int32(), nullable=False),  # 0-based order within the verse
        pa.field("level", pa.string(), nullable=False),  # "line" (ends at . ; : ! ? or a karaoke line mark) | "phrase"
        pa.field("text", pa.string(), nullable=False),
        pa.field("n_syllables", pa.int32(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("start_beat", pa.float64(), nullable=False),  # quarter notes from the start
        pa.field("end_beat", pa.float64(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        *LINEAGE,
    ]),
)

GOLD_SPLITS = TableSpec(
    name="gold_splits",
    layer="gold",
    key=("sha256",),
    description="Train/validation/test split of every parsed piece, drawn per duplicate cluster so that no cluster "
                "straddles two splits; a piece keeps its split unless a new duplicate joins its cluster to another.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("cluster_id", pa.string(), nullable=False),  # near-duplicate cluster, else the piece's own sha256
        pa.field("cluster_method", pa.string(), nullable=False),  # "duplicate_cluster" (silver_duplicates) | "content_hash"
        pa.field("cluster_size", pa.int32(), nullable=False),
        pa.field("split", pa.string(), nullable=False),  # one of SPLITS
        *LINEAGE,
    ]),
)

GOLD_MUSIC_EMBEDDINGS = TableSpec(
    name="gold_music_embeddings",
    layer="gold",
    key=("sha256", "model_name", "model_version"),
    description="Every tokenized piece embedded by a registered CLAP model version (training.clap): unit vectors "
                "in the model's text-music space, for text->piece search and nearest pieces of a MIDI file.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("model_name", pa.string(), nullable=False),  # "musiclake-clap"
        pa.field("model_version", pa.int32(), nullable=False),  # the registered version that embedded it
        pa.field("embedding", pa.list_(pa.float32()), nullable=False),  # L2-normalised, length ``dim``
        pa.field("dim", pa.int32(), nullable=False),
        pa.field("tokenizer_id", pa.string(), nullable=False),  # the silver_tokens ids the music tower read
        *LINEAGE,  # source_table silver_tokens, source_version: the version read
    ]),
)


GOLD_MELODY_INDEX = TableSpec(
    name="gold_melody_index",
    layer="gold",
    key=("sha256",),
    description="Every lake piece's lines (melody, skyline, each track) as tokens of intervals and inter-onset "
                "ratios and their shingles (lake.similarity): blind to transposition, tempo and re-timing; what "
                "screening checks a generated piece against.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("shingles", pa.list_(pa.int64()), nullable=False),  # sampled shingles: place << 32 | 32-bit hash
        pa.field("n_notes", pa.int32(), nullable=False),  # tokens of the lines read (scheme 1: melody notes)
        pa.field("source", pa.string(), nullable=False),  # bronze_midi_files' source, url, title and licence
        pa.field("url", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("license", pa.string(), nullable=False),
        pa.field("tokens", pa.binary()),  # every line's tokens (uint8, lines joined by 255): what a check aligns
        pa.field("scheme", pa.int32()),  # lake.similarity.SCHEME of the row (null: 1, the melody-only shingles)
        *LINEAGE,  # source_table bronze_midi_files, source_version: the version read
    ]),
)
