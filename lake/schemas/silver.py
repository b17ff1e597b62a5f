"""Silver: one row per parsed MIDI (features), its chords, its tracks, its tokens, duplicates, and what failed.

Columns added after a table first shipped are nullable, so the table evolves in place
(:meth:`lake.delta.Lake.ensure`) and rows written before read them as null.
"""

from __future__ import annotations

import pyarrow as pa

from lake.schemas.spec import LINEAGE, TableSpec

SILVER_SCORES = TableSpec(
    name="silver_scores",
    layer="silver",
    key=("sha256",),
    description="One row per parsed MIDI: tempo map, meters, key, instruments, range, polyphony, density, "
                "duration, quality flags and dedup fingerprints (symusic, lake.midi_features).",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("style", pa.string(), nullable=False),  # the link's data-style normalized to lake.vocab.STYLES, else "other"
        pa.field("bpm", pa.float64(), nullable=False),  # main tempo: the one held longest
        pa.field("time_signature", pa.string(), nullable=False),  # the first meter, "4/4"
        pa.field("key_tonic", pa.string(), nullable=False),  # "C", "F#", ...
        pa.field("key_mode", pa.string(), nullable=False),  # "major" | "minor"
        pa.field("key_confidence", pa.float64(), nullable=False),
        pa.field("programs", pa.list_(pa.int32()), nullable=False),  # GM programs, -1 for drums
        pa.field("instruments", pa.list_(pa.string()), nullable=False),
        pa.field("n_tracks", pa.int32(), nullable=False),
        pa.field("note_count", pa.int64(), nullable=False),
        pa.field("duration_s", pa.float64(), nullable=False),
        # -- added with issue 4 (nullable: the table evolves in place) --
        pa.field("tempo_times_s", pa.list_(pa.float64())),  # tempo map: change times ...
        pa.field("tempo_bpms", pa.list_(pa.float64())),  # ... and BPMs (first 4096 changes)
        pa.field("time_signatures", pa.list_(pa.string())),  # every meter change, "4/4", "3/4", ...
        pa.field("time_signature_times_s", pa.list_(pa.float64())),
        pa.field("families", pa.list_(pa.string())),  # GM family of each program ("Piano", "Bass", "Drums")
        pa.field("pitch_min", pa.int32()),  # pitched notes; null when drums only
        pa.field("pitch_max", pa.int32()),
        pa.field("polyphony_mean", pa.float64()),  # pitched notes sounding together, on average while any sound
        pa.field("polyphony_max", pa.int32()),
        pa.field("note_density", pa.float64()),  # notes per second
        pa.field("n_bars", pa.int32()),
        pa.field("n_beats", pa.int32()),
        pa.field("quality_flags", pa.list_(pa.string())),  # too_short, few_notes, drums_only, implausible_tempo, ...
        pa.field("note_hash", pa.string()),  # hash of the notes: exact musical duplicates share it
        pa.field("minhash", pa.list_(pa.int64())),  # MinHash of interval/IOI 4-grams (null: too few pitched notes)
        *LINEAGE,
    ]),
)

SILVER_CHORDS = TableSpec(
    name="silver_chords",
    layer="silver",
    key=("sha256",),
    description="Chords per bar and per beat of each parsed MIDI (root:quality template matching, lake.chords), "
                "with the bar and beat start times and the piece's characteristic progression.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("n_bars", pa.int32(), nullable=False),
        pa.field("bar_start_s", pa.list_(pa.float64()), nullable=False),
        pa.field("bar_chords", pa.list_(pa.string()), nullable=False),  # "C:maj", "A:min7", "N" (nothing sounding)
        pa.field("beat_start_s", pa.list_(pa.float64()), nullable=False),
        pa.field("beat_chords", pa.list_(pa.string()), nullable=False),
        pa.field("progression", pa.list_(pa.string()), nullable=False),  # lead-sheet symbols, e.g. ["C", "Am", "F", "G7"]
        *LINEAGE,
    ]),
)

SILVER_TRACKS = TableSpec(
    name="silver_tracks",
    layer="silver",
    key=("sha256", "track_index"),
    description="One row per track with notes: program, GM family, pitch statistics, polyphony and its role "
                "(melody, bass, drums, accompaniment).",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("track_index", pa.int32(), nullable=False),  # index among the MIDI file's tracks as symusic reads them
        pa.field("name", pa.string()),
        pa.field("program", pa.int32(), nullable=False),  # -1 for drums
        pa.field("is_drum", pa.bool_(), nullable=False),
        pa.field("instrument", pa.string(), nullable=False),
        pa.field("family", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),  # "melody" | "bass" | "drums" | "accompaniment"
        pa.field("n_notes", pa.int64(), nullable=False),
        pa.field("pitch_min", pa.int32(), nullable=False),
        pa.field("pitch_max", pa.int32(), nullable=False),
        pa.field("pitch_mean", pa.float64(), nullable=False),
        pa.field("low_share", pa.float64(), nullable=False),  # share of notes below C3 (MIDI 48)
        pa.field("polyphony", pa.float64(), nullable=False),  # mean notes sounding together while the track sounds
        pa.field("monophonic", pa.float64(), nullable=False),  # share of notes starting after the earlier ones ended
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
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

SILVER_TRACK_TOKENS = TableSpec(
    name="silver_track_tokens",
    layer="silver",
    key=("sha256", "tokenizer_id", "program"),
    description="Per-instrument token sequences for multi-track generation: the piece's stream restricted to one "
                "program (bars, positions, tempos and meters kept), decodable by the same tokenizer.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("tokenizer_id", pa.string(), nullable=False),
        pa.field("program", pa.int32(), nullable=False),  # -1 for drums
        pa.field("tokens", pa.list_(pa.int32()), nullable=False),
        pa.field("n_tokens", pa.int32(), nullable=False),
        *LINEAGE,
    ]),
)

SILVER_DUPLICATES = TableSpec(
    name="silver_duplicates",
    layer="silver",
    key=("sha256",),
    description="Members of duplicate clusters (size >= 2): exact (same notes) or near (MinHash/LSH over "
                "transposition-invariant note n-grams). A piece not listed is its own cluster.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("cluster_id", pa.string(), nullable=False),  # the smallest sha256 in the cluster
        pa.field("method", pa.string(), nullable=False),  # "exact" | "near": how this piece joined its cluster
        pa.field("representative", pa.string(), nullable=False),  # the member with the most notes (ties: smallest sha)
        pa.field("similarity", pa.float64(), nullable=False),  # estimated Jaccard with the piece that linked it
        pa.field("cluster_size", pa.int32(), nullable=False),
        *LINEAGE,
    ]),
)

SILVER_QUARANTINE = TableSpec(
    name="silver_quarantine",
    layer="silver",
    key=("sha256",),
    description="Bronze MIDI files that failed a check, the parse, the features or the tokenizer, with the stage, "
                "a reason code and the error.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),  # "validate" | "parse" | "limits" | "features" | "tokenize"
        pa.field("error", pa.string(), nullable=False),
        # -- added with issue 4 --
        pa.field("reason", pa.string()),  # short code: empty_file, not_midi, corrupted, too_long, absurd_tempo, timeout, ...
        pa.field("job", pa.string()),  # "features" | "encode:<tokenizer_id>"
        *LINEAGE,
    ]),
)
