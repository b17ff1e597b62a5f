"""Spark job: silver_scores (+ bronze_lyrics_pages) → gold_text_music_pairs.

Each parsed piece becomes one text–music pair: its lyrics when a lyrics page links to its URL
(the first such page, by fetch time), else the caption written from its features. The caption,
tempo bin, key name and split come from the same Python functions training and serving use
(``lake.captions``, ``lake.vocab``), run on the executors with ``mapInArrow``. Pieces already in
gold are skipped; the commit carries the app transaction ``("align", silver_scores version)``.
"""

from __future__ import annotations

import pyarrow as pa

from lake.captions import caption_en
from lake.delta import Lake
from lake.jobs.common import Clock, JobReport, keys_of, read_snapshot, with_lineage, write_and_commit
from lake.schemas import BRONZE_LYRICS, GOLD_PAIRS, SILVER_SCORES
from lake.spark import spark_ddl
from lake.vocab import key_name, split_of, tempo_bin
from musiclake.runinfo import code_version, new_run_id

APP_ID = "align"
SCORE_COLUMNS = ["sha256", "url", "style", "bpm", "time_signature", "key_tonic", "key_mode", "instruments"]
PAIR_SCHEMA = pa.schema([pa.field(f.name, f.type) for f in GOLD_PAIRS.schema
                         if f.name in ("sha256", "text", "text_kind", "caption", "style", "bpm", "tempo_bin",
                                       "key_name", "time_signature", "split")])


def make_pair(piece: dict) -> dict:
    """One gold pair from a silver_scores row plus its ``lyrics`` (None when it has none)."""
    caption = caption_en(piece)
    lyrics = (piece.get("lyrics") or "").strip()
    return dict(sha256=piece["sha256"], text=lyrics or caption, text_kind="lyrics" if lyrics else "caption",
                caption=caption, style=piece["style"], bpm=piece["bpm"], tempo_bin=tempo_bin(piece["bpm"]),
                key_name=key_name(piece["key_tonic"], piece["key_mode"]),
                time_signature=piece["time_signature"], split=split_of(piece["sha256"]))


def _pair_batches(batches):
    for batch in batches:
        yield pa.RecordBatch.from_pylist([make_pair(r) for r in batch.to_pylist()], schema=PAIR_SCHEMA)


def _first_lyrics(lyrics):
    """One lyrics text per MIDI URL: the earliest fetched page that links to it (ties by page URL)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first = Window.partitionBy("midi_url").orderBy("fetched_at", "url")
    return (lyrics.where(F.col("midi_url").isNotNull() & (F.trim(F.col("lyrics")) != ""))
            .withColumn("rank", F.row_number().over(first)).where(F.col("rank") == 1)
            .select(F.col("midi_url").alias("url"), "lyrics"))


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
    elif lake.already_committed(GOLD_PAIRS, APP_ID, silver_version):
        report.note = f"{SILVER_SCORES.name}@v{silver_version} already aligned"
    if report.note:
        report.elapsed_s = clock.elapsed()
        return report

    pending = scores.join(F.broadcast(keys_of(spark, lake, GOLD_PAIRS)), "sha256", "left_anti")
    if lyrics is None:
        joined = pending.withColumn("lyrics", F.lit(None).cast("string"))
    else:
        joined = pending.join(_first_lyrics(lyrics), "url", "left")
    pairs = joined.mapInArrow(_pair_batches, spark_ddl(PAIR_SCHEMA)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        kinds = {r["text_kind"]: r["count"] for r in pairs.groupBy("text_kind").count().collect()}
        metadata = dict(job="align", job_run_id=run_id, source_table=SILVER_SCORES.name,
                        source_version=silver_version, lyrics_version=lyrics_version, code_version=code_version())
        report.outputs[GOLD_PAIRS.name] = write_and_commit(
            with_lineage(pairs, SILVER_SCORES.name, silver_version, run_id), lake, GOLD_PAIRS, run_id,
            APP_ID, silver_version, metadata)
    finally:
        pairs.unpersist()
    report.counts = dict(pairs=sum(kinds.values()), lyrics=kinds.get("lyrics", 0), captions=kinds.get("caption", 0))
    report.elapsed_s = clock.elapsed()
    return report
