"""A small lake of generated multi-track pieces for training tests: bronze MIDI bytes and gold pairs.

Each piece is a few bars of a melody (scale steps on eighths and quarters), a chordal harmony part
(the bar's triad held) and a bass on the roots, in a key, tempo and meter that vary with the
piece's number, over a I-IV-V-I (or i-iv-V-i) progression. They are real MIDI files that the lake's
parser and the generator's note table read like any crawled file.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pyarrow as pa
from symusic import Note, Score, Tempo, TimeSignature, Track

from lake.delta import Lake
from lake.schemas import BRONZE_MIDI, GOLD_PAIRS, SILVER_TOKENS
from lake.tokenizer import build_tokenizer, encode_ids, tokenizer_id
from lake.vocab import PITCH_CLASSES, SCALES, STYLES, sha256_hex, tempo_bin

METERS = ((4, 4), (3, 4), (4, 4), (6, 8))


def piece(i: int, bars: int = 8) -> tuple[Score, dict]:
    """Piece number ``i`` and its attributes (style, bpm, key, time signature)."""
    tonic, minor = (i * 7) % 12, i % 4 == 1
    mode = "minor" if minor else "major"
    scale = SCALES[mode]
    num, den = METERS[i % len(METERS)]
    bpm = 64.0 + (i * 17) % 110
    tpq = 480
    bar_ticks = tpq * 4 * num // den
    s = Score(tpq)
    s.tempos.append(Tempo(0, qpm=bpm))
    s.time_signatures.append(TimeSignature(0, num, den))
    melody = Track(name="melody", program=(73, 40, 65, 71)[i % 4])
    harmony = Track(name="harmony", program=(0, 48, 19, 4)[i % 4])
    bass = Track(name="bass", program=32 + i % 4)
    degrees = (0, 3, 4, 0)  # I IV V I
    for bar in range(bars):
        deg = degrees[bar % 4]
        root = 48 + tonic + scale[deg]
        triad = [root + (scale[(deg + k) % 7] - scale[deg]) % 12 for k in (0, 2, 4)]
        if minor and deg == 4:  # harmonic minor's dominant
            triad[1] += 1
        t0 = bar * bar_ticks
        for p in triad:
            harmony.notes.append(Note(t0, bar_ticks, p + 12, 64))
        bass.notes.append(Note(t0, bar_ticks // 2, root - 12, 80))
        bass.notes.append(Note(t0 + bar_ticks // 2, bar_ticks // 2, root - 12, 76))
        step = tpq // 2 if (i + bar) % 2 else tpq
        for k, t in enumerate(range(t0, t0 + bar_ticks, step)):
            d = (deg + (k * (1 + i % 3))) % 7
            melody.notes.append(Note(t, step, 72 + tonic + scale[d] - (12 if tonic > 6 else 0), 90))
    s.tracks.extend([melody, harmony, bass])
    key = f"{PITCH_CLASSES[tonic]} {mode}"
    return s, {"style": STYLES[i % 4], "bpm": bpm, "key_name": key, "time_signature": f"{num}/{den}"}


def _lineage(n: int, source: str) -> dict:
    now = datetime.now(timezone.utc)
    return {"source_table": [source] * n, "source_version": [0] * n, "job_run_id": ["test-fixture"] * n,
            "code_version": ["test"] * n, "processed_at": [now] * n}


def write_music_lake(cfg, n: int = 16, bars: int = 8, validation: tuple[int, ...] = (3, 8)) -> list[dict]:
    """Land ``n`` pieces in bronze_midi_files, their REMI ids in silver_tokens and a gold pair each."""
    tok = build_tokenizer(cfg.tokenizer)
    tid = tokenizer_id(cfg.tokenizer)
    now = datetime.now(timezone.utc)
    bronze, gold, tokens = [], [], []
    for i in range(n):
        score, attrs = piece(i, bars)
        data = score.dumps_midi()
        sha = sha256_hex(data)
        bronze.append({"sha256": sha, "md5": sha[:32], "content": data, "size": len(data),
                       "url": f"http://test.invalid/{i}.mid", "referrer": None, "title": f"piece {i}",
                       "attrs_json": json.dumps({}), "source": "test", "license": "test", "http_status": 200,
                       "content_type": "audio/midi", "fetched_at": now, "ingest_run_id": "test"})
        caption = f"a {attrs['style']} piece in {attrs['key_name']} at {attrs['bpm']:.0f} bpm"
        gold.append({"sha256": sha, "text": caption, "text_kind": "caption", "caption": caption,
                     "style": attrs["style"], "bpm": attrs["bpm"], "tempo_bin": tempo_bin(attrs["bpm"]),
                     "key_name": attrs["key_name"], "time_signature": attrs["time_signature"],
                     "split": "validation" if i in validation else "train"})
        ids = encode_ids(tok, score)
        tokens.append({"sha256": sha, "tokenizer_id": tid, "tokens": ids, "n_tokens": len(ids)})
    lake = Lake.from_config(cfg)
    lake.append(BRONZE_MIDI, pa.table({k: [r[k] for r in bronze] for k in bronze[0]}))
    lake.append(GOLD_PAIRS, pa.table({k: [r[k] for r in gold] for k in gold[0]} | _lineage(n, "silver_scores")))
    lake.append(SILVER_TOKENS, pa.table({k: [r[k] for r in tokens] for k in tokens[0]} | _lineage(n, "bronze_midi_files")))
    return gold
