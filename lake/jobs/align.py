"""Spark job: silver_scores (+ bronze MIDI, lyrics pages, source captions, chords, splits) → gold pairs and lyric segments.

Each parsed piece becomes one text–music pair in ``gold_text_music_pairs``:

* **text**: its lyrics when it has some (a lyrics page linking to its URL, the first one fetched;
  else the lyric events of the MIDI file itself), otherwise its caption;
* **caption**: a source caption (``bronze_captions``, e.g. MidiCaps, matched by the file's MD5)
  where one exists, otherwise the caption written from its features (``lake.captions``); the
  feature captions in English and Chinese are kept alongside, with mood and chord progression;
* **split**: from ``gold_splits`` (drawn per duplicate cluster by the split job) when the piece has
  one there, else drawn for the piece's own content hash (the split job reconciles later);
* **labels win**: a piece that came with labels (``bronze_annotations``, e.g. POP909) takes its key
  (the labelled key held longest), its bars (the labelled downbeats) and its chord per bar (the
  labelled chord covering most of each bar, in the lake's vocabulary: :mod:`lake.annotations`) from
  them; any other piece from the lake's analysis (``silver_scores`` key, ``silver_chords`` bars).
  ``key_source`` and ``chord_source`` say which; the captions, mood and progression follow.

Where the MIDI carries lyric events (symusic reads them as track lyrics; music21 writes one syllable
per note, verses separated by newlines), ``gold_lyric_segments`` gets one row per line or phrase
with its time span in seconds and beats: line-level alignment. Pieces already in gold are skipped;
both outputs commit with the app transaction ``("align", silver_scores version)``.
"""

from __future__ import annotations

import json
import re

import pyarrow as pa

from lake.annotations import bar_grid, labelled_bar_chords
from lake.captions import caption_en, caption_zh, chord_progression, mood_of
from lake.delta import Lake
from lake.jobs.common import (Clock, JobReport, keys_of, lineage_metadata, read_optional, read_snapshot,
                              with_lineage, write_and_commit)
from lake.schemas import (BRONZE_ANNOTATIONS, BRONZE_LYRICS, BRONZE_MIDI, GOLD_LYRIC_SEGMENTS, GOLD_PAIRS, GOLD_SPLITS, SILVER_SCORES,
                          TABLES)
from lake.spark import spark_ddl
from lake.vocab import key_name, split_of, tempo_bin
from common.runinfo import new_run_id

APP_ID = "align"
SCORE_COLUMNS = ["sha256", "url", "style", "bpm", "time_signature", "key_tonic", "key_mode", "instruments"]
LYRIC_META = b"\xff\x05"  # a MIDI lyric meta event: files without it are not parsed again
MAX_SYLLABLES = 20_000  # per piece; more is not a song
LINE_END = re.compile(r"[.;:!?。！？；：]$")
PHRASE_END = re.compile(r"[,，、]$")
GAP_BEATS = 1.0  # a rest this long after a sung note ends a phrase
HELD_BEATS = 2.0  # so does a note held this long (phrase-final notes are long) ...
MIN_PHRASE = 4  # ... once the phrase has this many syllables

PAIR_FIELDS = ("sha256", "text", "text_kind", "caption", "style", "bpm", "tempo_bin", "key_name", "time_signature",
               "split", "caption_zh", "feature_caption", "caption_source", "mood", "chord_progression",
               "instruments", "lyrics_source", "lyrics_level", "n_lyric_segments", "cluster_id", "key_source",
               "chord_source", "bar_start_s", "bar_chords")
LABEL_COLUMNS = {"source": "label_source", "key_name": "label_key", "chord_start_s": "label_chord_start_s",
                 "chord_end_s": "label_chord_end_s", "chord_labels": "label_chords", "beat_s": "label_beat_s",
                 "beat_downbeat": "label_downbeat"}
PAIR_SCHEMA = pa.schema([pa.field(f.name, f.type) for f in GOLD_PAIRS.schema if f.name in PAIR_FIELDS]
                        + [pa.field("segments_json", pa.string())])
SEGMENT_FIELDS = [f for f in GOLD_LYRIC_SEGMENTS.schema if f.name in (
    "sha256", "verse", "segment", "level", "text", "n_syllables", "start_s", "end_s", "start_beat", "end_beat", "split")]
SEGMENT_SCHEMA = pa.schema([pa.field(f.name, f.type) for f in SEGMENT_FIELDS])


# -- lyrics in the MIDI file ------------------------------------------------------------------
def lyric_segments(data: bytes) -> list[dict]:
    """Lines and phrases of the lyric events in a MIDI file, with their spans; [] when it has none.

    The track with the most lyric events is read; each event's text splits on newlines into one
    syllable per verse. Within a verse a segment ends after a syllable ending a sentence or clause
    (``. ; : ! ?`` or a karaoke ``/`` / ``\\`` line mark on the next one: level ``line``), after a
    comma, before a rest of :data:`GAP_BEATS` beats in the melody, or after a note held for
    :data:`HELD_BEATS` beats (level ``phrase``); the verse's last segment is a line.
    """
    if LYRIC_META not in data:
        return []
    from symusic import Score

    try:
        score = Score.from_midi(data)
    except Exception:  # encode already parsed it; a file that fails here simply has no aligned lyrics
        return []
    tracks = [t for t in score.tracks if len(t.lyrics)]
    if not tracks:
        return []
    lyr = max(tracks, key=lambda t: len(t.lyrics))
    events = sorted(((int(e.time), e.text) for e in lyr.lyrics), key=lambda e: e[0])[:MAX_SYLLABLES]
    tpq = float(score.ticks_per_quarter)
    ticks = [t for t, _ in events]
    note_ends = _note_ends(score, ticks)
    seconds = _tick_to_seconds(score, ticks + note_ends)
    ends = dict(zip(ticks, note_ends))

    verses: dict[int, list[tuple[int, str, bool]]] = {}
    for tick, text in events:
        for v, part in enumerate(text.replace("\r", "\n").split("\n"), start=1):
            mark = part.lstrip().startswith(("/", "\\"))
            syllable = part.strip().lstrip("/\\").strip()
            if syllable:
                verses.setdefault(v, []).append((tick, syllable, mark))

    out = []
    for v in sorted(verses):
        syl = verses[v]
        current: list[tuple[int, str]] = []
        n = 0
        for i, (tick, syllable, _) in enumerate(syl):
            current.append((tick, syllable))
            nxt = syl[i + 1] if i + 1 < len(syl) else None
            level = None
            if nxt is None or LINE_END.search(syllable) or nxt[2]:
                level = "line"
            elif (PHRASE_END.search(syllable) or (nxt[0] - ends[tick]) / tpq >= GAP_BEATS
                  or (len(current) >= MIN_PHRASE and (ends[tick] - tick) / tpq >= HELD_BEATS)):
                level = "phrase"
            if level:
                start, last = current[0][0], current[-1][0]
                end = max(ends[last], last)
                out.append(dict(verse=v, segment=n, level=level, text=_join(s for _, s in current),
                                n_syllables=len(current), start_s=round(seconds[start], 4),
                                end_s=round(seconds[end], 4), start_beat=round(start / tpq, 4),
                                end_beat=round(end / tpq, 4)))
                n += 1
                current = []
    return out


def _join(syllables) -> str:
    """Syllables as text: a trailing '-' (karaoke hyphenation) joins the next syllable without a space."""
    text = ""
    for s in syllables:
        if text and not text.endswith("-"):
            text += " "
        text = text[:-1] if text.endswith("-") else text
        text += s
    return text.rstrip("-")


def _note_ends(score, ticks: list[int]) -> list[int]:
    """For each lyric tick, the end of the melody note starting there (the tick itself when none does).

    The melody is the pitched track with the most note onsets on the lyric ticks, and within it
    the highest note starting on the tick (the sung line is on top when exporters put the
    accompaniment on the same channel; its chords would be held over the singer's rests).
    """
    import numpy as np

    q = np.asarray(ticks, dtype=np.int64)
    best, best_hits = None, 0
    for t in score.tracks:
        if t.is_drum or not t.note_num():
            continue
        arr = t.notes.numpy()
        order = np.lexsort((-arr["pitch"].astype(np.int64), arr["time"]))
        starts, ends = arr["time"][order], (arr["time"] + arr["duration"])[order]
        idx = np.searchsorted(starts, q, side="left")  # the first (highest) note starting at or after the tick
        hit = (idx < len(starts)) & (starts[np.clip(idx, 0, len(starts) - 1)] == q)
        if int(hit.sum()) > best_hits:
            best, best_hits = (ends, idx, hit), int(hit.sum())
    if best is None:
        return [int(t) for t in ticks]
    ends, idx, hit = best
    return [int(ends[i]) if h else int(t) for t, i, h in zip(ticks, idx, hit)]


def _tick_to_seconds(score, ticks: list[int]) -> dict[int, float]:
    """Seconds of each tick under the score's tempo map."""
    tempos = sorted(((int(t.time), float(t.qpm)) for t in score.tempos), key=lambda x: x[0]) or [(0, 120.0)]
    if tempos[0][0] > 0:
        tempos.insert(0, (0, 120.0))
    tpq = float(score.ticks_per_quarter)
    marks, acc = [], 0.0
    for i, (t, qpm) in enumerate(tempos):
        if i:
            pt, pq = tempos[i - 1]
            acc += (t - pt) / tpq * 60.0 / pq
        marks.append((t, acc, qpm))
    out = {}
    import bisect
    times = [m[0] for m in marks]
    for tick in set(ticks):
        t0, s0, qpm = marks[max(bisect.bisect_right(times, tick) - 1, 0)]
        out[tick] = s0 + (tick - t0) / tpq * 60.0 / qpm
    return out


# -- one pair per piece -----------------------------------------------------------------------
def split_for_piece(piece: dict) -> tuple[str, str]:
    """(split, cluster_id): the split job's assignment when present, else drawn for the piece's own hash."""
    if piece.get("split"):
        return piece["split"], piece.get("cluster_id") or piece["sha256"]
    return split_of(piece["sha256"]), piece["sha256"]


def harmony(piece: dict) -> dict:
    """Key, bars and chord per bar of a piece: from its labels where it has them, else from the lake's analysis.

    Returns ``key_tonic``, ``key_mode``, ``key_source``, ``bar_start_s``, ``bar_chords`` (lake labels),
    ``chord_source`` and ``progression`` (the analysis's own, or None to be derived from the bars).
    """
    out = dict(key_tonic=piece["key_tonic"], key_mode=piece["key_mode"], key_source="analysis",
               bar_start_s=piece.get("bar_start_s"), bar_chords=piece.get("chords"),
               chord_source="analysis" if piece.get("chords") else None, progression=piece.get("progression"))
    if piece.get("label_key"):
        label = f"labels:{piece.get('label_source') or 'unknown'}"
        out["key_tonic"], out["key_mode"] = piece["label_key"].split()
        out["key_source"] = label
        bars = bar_grid(piece.get("label_beat_s") or [], piece.get("label_downbeat") or [])
        if len(bars) >= 2 and piece.get("label_chords"):
            out["bar_start_s"] = [round(float(x), 4) for x in bars[:-1]]
            out["bar_chords"] = labelled_bar_chords(piece["label_chord_start_s"], piece["label_chord_end_s"],
                                                    piece["label_chords"], bars[:-1], last_end_s=float(bars[-1]))
            out["chord_source"], out["progression"] = label, None
    return out


def make_pair(piece: dict) -> dict:
    """One gold pair from a silver_scores row plus what the job joined to it.

    Optional keys: ``lyrics`` (a lyrics page's text), ``content`` (the MIDI bytes, for lyric
    events), ``source_caption`` / ``caption_source``, ``chords`` / ``bar_start_s`` (per bar),
    ``split`` / ``cluster_id``, and a piece's labels (``label_*``, see :data:`LABEL_COLUMNS`).
    """
    h = harmony(piece)
    piece = dict(piece, key_tonic=h["key_tonic"], key_mode=h["key_mode"])
    features = dict(piece, chords=_symbols(h["bar_chords"]))
    features["progression"] = list(h["progression"] or []) or chord_progression(features["chords"])
    feature_caption = caption_en(features)
    segments = lyric_segments(piece["content"]) if piece.get("content") else []
    page = (piece.get("lyrics") or "").strip()
    sung = "\n".join(s["text"] for s in segments if s["verse"] == 1)
    lyrics, lyrics_source = (page, "page") if page else (sung, "midi") if sung else ("", None)
    level = None
    if segments:
        level = "line" if any(s["level"] == "line" for s in segments[:-1]) or len(segments) == 1 else "phrase"
    elif lyrics:
        level = "piece"
    source_caption = (piece.get("source_caption") or "").strip()
    caption = source_caption or feature_caption
    split, cluster = split_for_piece(piece)
    for s in segments:
        s.update(sha256=piece["sha256"], split=split)
    return dict(sha256=piece["sha256"], text=lyrics or caption, text_kind="lyrics" if lyrics else "caption",
                caption=caption, style=piece["style"], bpm=piece["bpm"], tempo_bin=tempo_bin(piece["bpm"]),
                key_name=key_name(piece["key_tonic"], piece["key_mode"]), time_signature=piece["time_signature"],
                split=split, caption_zh=caption_zh(features), feature_caption=feature_caption,
                caption_source=(piece.get("caption_source") or "source") if source_caption else "features",
                mood=mood_of(piece["key_mode"], piece["bpm"]), chord_progression=features["progression"],
                instruments=list(piece.get("instruments") or []), lyrics_source=lyrics_source, lyrics_level=level,
                n_lyric_segments=len(segments), cluster_id=cluster, key_source=h["key_source"],
                chord_source=h["chord_source"], bar_start_s=h["bar_start_s"],
                bar_chords=list(h["bar_chords"]) if h["bar_chords"] else None,
                segments_json=json.dumps(segments) if segments else None)


def _symbols(chords) -> list[str] | None:
    """Chord labels as lead-sheet symbols ('C:maj' -> 'C'); symbols pass through."""
    if not chords:
        return None
    if any(c and ":" in c for c in chords):
        from lake.chords import chord_symbol
        return [chord_symbol(c) if c and ":" in c else c for c in chords]
    return list(chords)


def _pair_batches(batches):
    for batch in batches:
        yield pa.RecordBatch.from_pylist([make_pair(r) for r in batch.to_pylist()], schema=PAIR_SCHEMA)


def _segment_batches(batches):
    for batch in batches:
        rows = [s for r in batch.to_pylist() for s in json.loads(r["segments_json"])]
        yield pa.RecordBatch.from_pylist(rows, schema=SEGMENT_SCHEMA)


# -- the inputs beside silver_scores ------------------------------------------------------------
def _first_lyrics(lyrics):
    """One lyrics text per MIDI URL: the earliest fetched page that links to it (ties by page URL)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first = Window.partitionBy("midi_url").orderBy("fetched_at", "url")
    return (lyrics.where(F.col("midi_url").isNotNull() & (F.trim(F.col("lyrics")) != ""))
            .withColumn("rank", F.row_number().over(first)).where(F.col("rank") == 1)
            .select(F.col("midi_url").alias("url"), "lyrics"))


def _first_caption(captions):
    """One source caption per MD5: by caption set name, then line number."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first = Window.partitionBy("md5").orderBy("source", "line_no")
    return (captions.where(F.trim(F.col("caption")) != "")
            .withColumn("rank", F.row_number().over(first)).where(F.col("rank") == 1)
            .select("md5", F.col("caption").alias("source_caption"), F.col("source").alias("caption_source")))


def chords_spec():
    """Part of the lake that knows chords per bar, when it exists: a table with ``sha256`` and a chord list."""
    for spec in TABLES.values():
        if spec.layer == "silver" and "chord" in spec.name and "sha256" in spec.columns:
            return spec
    return None


def _chords_per_piece(spark, lake: Lake):
    """(version, DataFrame sha256 -> chords: array<string> per bar in order), or (None, None)."""
    from pyspark.sql import functions as F

    spec = chords_spec()
    version, df = read_optional(spark, lake, spec)
    if df is None:
        return version, None
    cols = set(df.columns)
    if "bar_chords" in cols:  # silver_chords: labels per bar, and the progression the features job found
        prog = F.col("progression") if "progression" in cols else F.lit(None).cast("array<string>")
        starts = F.col("bar_start_s") if "bar_start_s" in cols else F.lit(None).cast("array<double>")
        return version, df.select("sha256", F.col("bar_chords").alias("chords"), prog.alias("progression"),
                                  starts.alias("bar_start_s"))
    if "chords" in cols:  # one row per piece, chords per bar as a list
        return version, df.select("sha256", F.col("chords").cast("array<string>").alias("chords"))
    label = next((c for c in ("chord", "label", "symbol") if c in cols), None)
    bar = next((c for c in ("bar", "bar_index", "measure") if c in cols), None)
    if label is None or bar is None:
        return version, None
    if "grid" in cols:
        df = df.where(F.col("grid") == "bar")
    return version, (df.groupBy("sha256")
                     .agg(F.sort_array(F.collect_list(F.struct(F.col(bar).alias("b"), F.col(label).alias("c"))))
                          .alias("bars"))
                     .select("sha256", F.col("bars.c").alias("chords")))


def _labels_per_piece(spark, lake: Lake):
    """(version, DataFrame sha256 -> the piece's labels as ``label_*`` columns), or (None, None).

    A piece labelled by several sets takes the set whose source name sorts first.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    version, df = read_optional(spark, lake, BRONZE_ANNOTATIONS, ["sha256", *LABEL_COLUMNS])
    if df is None:
        return version, None
    first = Window.partitionBy("sha256").orderBy("source")
    df = df.withColumn("_n", F.row_number().over(first)).where(F.col("_n") == 1)
    return version, df.select("sha256", *[F.col(c).alias(a) for c, a in LABEL_COLUMNS.items()])


def run_align(cfg, spark) -> JobReport:
    """Pair every silver piece not yet in gold with its text; returns what was read and committed."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    clock = Clock()
    lake = Lake.from_config(cfg)
    run_id = new_run_id("align")
    silver_version, scores = read_snapshot(spark, lake, SILVER_SCORES, columns=SCORE_COLUMNS)
    lyrics_version, lyrics = read_snapshot(spark, lake, BRONZE_LYRICS,
                                           columns=["url", "midi_url", "lyrics", "fetched_at"])
    report = JobReport("align", run_id, inputs={SILVER_SCORES.name: silver_version,
                                                BRONZE_LYRICS.name: lyrics_version})
    if scores is None:
        report.note = f"{SILVER_SCORES.name} holds no files yet"
    elif all(lake.already_committed(s, APP_ID, silver_version) for s in (GOLD_PAIRS, GOLD_LYRIC_SEGMENTS)):
        report.note = f"{SILVER_SCORES.name}@v{silver_version} already aligned"
    if report.note:
        report.elapsed_s = clock.elapsed()
        return report

    bronze_version, bronze = read_snapshot(spark, lake, BRONZE_MIDI, columns=["sha256", "md5", "content"])
    captions_version, captions = read_optional(spark, lake, TABLES.get("bronze_captions"),
                                               ["source", "md5", "caption", "line_no"])
    splits_version, splits = read_optional(spark, lake, GOLD_SPLITS, ["sha256", "split", "cluster_id"])
    chords_version, chords = _chords_per_piece(spark, lake)
    labels_version, labels = _labels_per_piece(spark, lake)
    report.inputs[BRONZE_MIDI.name] = bronze_version
    for spec_name, v in (("bronze_captions", captions_version), (GOLD_SPLITS.name, splits_version),
                         (getattr(chords_spec(), "name", None), chords_version),
                         (BRONZE_ANNOTATIONS.name, labels_version)):
        if v is not None and spec_name:
            report.inputs[spec_name] = v

    pending = scores.join(F.broadcast(keys_of(spark, lake, GOLD_PAIRS)), "sha256", "left_anti")
    joined = pending.join(bronze, "sha256", "left") if bronze is not None else (
        pending.withColumn("md5", F.lit(None).cast("string")).withColumn("content", F.lit(None).cast("binary")))
    joined = (joined.join(_first_lyrics(lyrics), "url", "left") if lyrics is not None
              else joined.withColumn("lyrics", F.lit(None).cast("string")))
    if captions is not None:
        joined = joined.join(F.broadcast(_first_caption(captions)), "md5", "left")
    if splits is not None:
        joined = joined.join(splits, "sha256", "left")
    if chords is not None:
        joined = joined.join(chords, "sha256", "left")
    if labels is not None:
        joined = joined.join(labels, "sha256", "left")
    pairs = joined.mapInArrow(_pair_batches, spark_ddl(PAIR_SCHEMA)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        stats = pairs.agg(F.count("*").alias("pairs"),
                          F.sum((F.col("text_kind") == "lyrics").cast("int")).alias("lyrics"),
                          F.sum((F.col("caption_source") != "features").cast("int")).alias("sourced"),
                          F.sum(F.col("key_source").startswith("labels:").cast("int")).alias("labelled"),
                          F.sum(F.col("n_lyric_segments")).alias("segments")).collect()[0]
        metadata = lineage_metadata("align", run_id, SILVER_SCORES, silver_version, lyrics_version=lyrics_version,
                                    bronze_version=bronze_version, captions_version=captions_version,
                                    splits_version=splits_version, chords_version=chords_version,
                                    labels_version=labels_version)
        segments = (pairs.where(F.col("segments_json").isNotNull()).select("sha256", "split", "segments_json")
                    .mapInArrow(_segment_batches, spark_ddl(SEGMENT_SCHEMA)))
        # Segments first: a crash between the two commits leaves pairs pending, and the re-run completes both.
        report.outputs[GOLD_LYRIC_SEGMENTS.name] = write_and_commit(
            with_lineage(segments, SILVER_SCORES.name, silver_version, run_id), lake, GOLD_LYRIC_SEGMENTS, run_id,
            APP_ID, silver_version, metadata)
        report.outputs[GOLD_PAIRS.name] = write_and_commit(
            with_lineage(pairs.drop("segments_json"), SILVER_SCORES.name, silver_version, run_id), lake, GOLD_PAIRS,
            run_id, APP_ID, silver_version, metadata)
    finally:
        pairs.unpersist()
    n = int(stats["pairs"] or 0)
    n_lyrics = int(stats["lyrics"] or 0)
    report.counts = dict(pairs=n, lyrics=n_lyrics, captions=n - n_lyrics)
    for name, value in (("source_captions", stats["sourced"]), ("lyric_segments", stats["segments"]),
                        ("labelled", stats["labelled"])):
        if value:
            report.counts[name] = int(value)
    report.elapsed_s = clock.elapsed()
    return report
