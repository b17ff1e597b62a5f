"""Spark job: bronze_midi_files → silver_scores, silver_chords, silver_tracks and silver_quarantine.

The job pins one bronze version and skips every file already done (in all three feature tables,
or quarantined). Each remaining file goes through :func:`analyze_midi` in Python on the executors
(``mapInArrow``): byte checks, symusic parse, the per-file caps of :class:`~lake.midi_features.Limits`
(notes, duration, tempo, bars) and a wall-clock limit, then every feature of
:func:`lake.midi_features.analyze`. A file that fails anywhere becomes one quarantine row naming the
stage, a reason code and the error; the job goes on. The outputs are committed with the app
transaction ``("features", bronze version)``; a re-run commits nothing, and a re-run after a crash
between two commits writes only the outputs still missing (each output skips the keys it holds).
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pyarrow as pa

from lake.delta import Lake
from lake.jobs.common import Clock, JobReport, finish, keys_of, read_snapshot, with_lineage, write_and_commit
from lake.midi_features import Limits, MidiError, analyze, check_midi_bytes, check_score, one_line, parse_midi, time_limit
from lake.schemas import BRONZE_MIDI, SILVER_CHORDS, SILVER_QUARANTINE, SILVER_SCORES, SILVER_TRACKS
from lake.spark import spark_ddl
from lake.vocab import normalize_style
from musiclake.progress import Progress
from musiclake.runinfo import code_version, new_run_id

APP_ID = "features"
OK, QUARANTINED = "ok", "quarantined"
PARTITION_BYTES = 64 * 1024 * 1024  # bronze bytes per task (parallelism)
ROWS_PER_BATCH = 64  # Arrow rows per batch to and from a Python worker: at most 64 files (4 MiB each) in flight,
# and their outputs (token lists are large as Python objects), so worker memory stays flat as the input grows
BRONZE_COLUMNS = ["sha256", "content", "size", "url", "title", "source", "attrs_json"]
_META = ("sha256", "url", "title", "source", "size", "style", "status", "stage", "reason", "error")
_LINEAGE = ("source_table", "source_version", "job_run_id", "code_version", "processed_at")
SCORE_FIELDS = [f for f in SILVER_SCORES.schema if f.name not in _META and f.name not in _LINEAGE]
CHORD_FIELDS = [f for f in SILVER_CHORDS.schema if f.name not in ("sha256", "n_bars") and f.name not in _LINEAGE]
TRACK_FIELDS = [f for f in SILVER_TRACKS.schema if f.name != "sha256" and f.name not in _LINEAGE]
TRACK_PREFIX = "track__"

# One row per bronze file: what it is, how it went, and (when it went well) its features, chords
# and tracks (as parallel arrays, exploded into silver_tracks rows by Spark).
RESULT_SCHEMA = pa.schema([
    pa.field("sha256", pa.string()), pa.field("url", pa.string()), pa.field("title", pa.string()),
    pa.field("source", pa.string()), pa.field("size", pa.int64()), pa.field("style", pa.string()),
    pa.field("status", pa.string()), pa.field("stage", pa.string()), pa.field("reason", pa.string()),
    pa.field("error", pa.string()),
    *[pa.field(f.name, f.type) for f in SCORE_FIELDS],
    *[pa.field(f.name, f.type) for f in CHORD_FIELDS],
    *[pa.field(TRACK_PREFIX + f.name, pa.list_(f.type)) for f in TRACK_FIELDS],
])


def style_of(attrs_json: str | None) -> str:
    """The link's ``data-style`` attribute as a known style, else 'other'."""
    try:
        attrs = json.loads(attrs_json or "{}")
    except ValueError:
        return normalize_style(None)
    return normalize_style(attrs.get("style") if isinstance(attrs, dict) else None)


def quarantined(stage: str, e: BaseException) -> dict:
    return dict(status=QUARANTINED, stage=stage, reason=getattr(e, "reason", "failed"), error=one_line(e))


def analyze_midi(data: bytes, limits: Limits = Limits()) -> dict:
    """Check, parse and describe one file: status, stage, reason, error, then features, chords and tracks.

    Never raises for a bad file: any failure is returned as ``status='quarantined'`` with its
    stage (validate, parse, features), a reason code and the one-line error.
    """
    stage = "validate"
    try:
        with time_limit(limits.max_seconds, "features"):
            check_midi_bytes(data, max_bytes=limits.max_bytes, max_tracks=limits.max_tracks)
            stage = "parse"
            score = parse_midi(data)
            stage = "features"
            result = analyze(score, limits, check_score(score, limits))
    except Exception as e:  # any failure of one file quarantines that file, never the job
        return quarantined(stage, e)
    row = dict(status=OK, **result.features, **{k: v for k, v in result.chords.items() if k != "n_bars"})
    for f in TRACK_FIELDS:
        row[TRACK_PREFIX + f.name] = [t[f.name] for t in result.tracks]
    return row


@contextmanager
def arrow_batch_rows(spark, rows: int = ROWS_PER_BATCH):
    """Run the block with Spark's Arrow batches to Python workers capped at ``rows`` rows (restored after)."""
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    previous = spark.conf.get(key, None)
    spark.conf.set(key, str(rows))
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)


def slices(batches, rows: int = ROWS_PER_BATCH):
    """Arrow batches cut to at most ``rows`` rows (whatever size Spark sends)."""
    for batch in batches:
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


def _features_partition(limits: Limits):
    """The ``mapInArrow`` function: bronze rows in, result rows out (one output batch per input slice)."""

    def run(batches):
        for batch in slices(batches):
            rows = []
            for r in batch.to_pylist():
                out = dict(sha256=r["sha256"], url=r["url"], title=r["title"], source=r["source"],
                           size=r["size"], style=style_of(r["attrs_json"]))
                out.update(analyze_midi(r["content"] or b"", limits))
                rows.append(out)
            yield pa.RecordBatch.from_pylist(rows, schema=RESULT_SCHEMA)

    return run


def _tracks_frame(ok):
    from pyspark.sql import functions as F

    cols = [TRACK_PREFIX + f.name for f in TRACK_FIELDS]
    exploded = ok.select("sha256", F.explode(F.arrays_zip(*[F.col(c) for c in cols])).alias("t"))
    return exploded.select("sha256", *[F.col(f"t.{TRACK_PREFIX}{f.name}").alias(f.name) for f in TRACK_FIELDS])


def run_features(cfg, spark) -> JobReport:
    """Describe every bronze MIDI file not yet in silver; returns what was read and committed."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    clock = Clock()
    progress = Progress("features", unit="files", every_s=float("inf"))  # one line, at the end
    lake = Lake.from_config(cfg)
    run_id = new_run_id("features")
    limits = Limits.from_config(cfg)
    outputs = (SILVER_SCORES, SILVER_CHORDS, SILVER_TRACKS, SILVER_QUARANTINE)

    bronze_version, bronze = read_snapshot(spark, lake, BRONZE_MIDI, columns=BRONZE_COLUMNS)
    report = JobReport("features", run_id, inputs={BRONZE_MIDI.name: bronze_version})
    if bronze is None:
        report.note = f"{BRONZE_MIDI.name} holds no files yet"
    elif all(lake.already_committed(s, APP_ID, bronze_version) for s in outputs):
        report.note = f"{BRONZE_MIDI.name}@v{bronze_version} already described"
    if report.note:
        report.elapsed_s = clock.elapsed()
        return report

    keys = {spec: keys_of(spark, lake, spec) for spec in outputs}
    done = (keys[SILVER_SCORES].join(keys[SILVER_CHORDS], "sha256").join(keys[SILVER_TRACKS], "sha256")
            .union(keys[SILVER_QUARANTINE]))
    pending = bronze.join(F.broadcast(done), "sha256", "left_anti")
    partitions = max(spark.sparkContext.defaultParallelism, -(-lake.info(BRONZE_MIDI).size_bytes // PARTITION_BYTES))
    results = (pending.repartition(partitions)
               .mapInArrow(_features_partition(limits), spark_ddl(RESULT_SCHEMA))
               .persist(StorageLevel.MEMORY_AND_DISK))
    with arrow_batch_rows(spark):
        try:
            by_status = {r["status"]: r["count"] for r in results.groupBy("status").count().collect()}
            ok = results.where(F.col("status") == OK)
            failed = results.where(F.col("status") == QUARANTINED).withColumn("job", F.lit(APP_ID))

            def fresh(frame, spec):
                return frame.join(F.broadcast(keys[spec]), "sha256", "left_anti")

            frames = {
                SILVER_SCORES: fresh(ok, SILVER_SCORES),
                SILVER_CHORDS: fresh(ok, SILVER_CHORDS),
                SILVER_TRACKS: _tracks_frame(fresh(ok, SILVER_TRACKS)),
                SILVER_QUARANTINE: fresh(failed, SILVER_QUARANTINE),
            }
            metadata = dict(job="features", job_run_id=run_id, source_table=BRONZE_MIDI.name,
                            source_version=bronze_version, code_version=code_version())
            for spec, frame in frames.items():
                report.outputs[spec.name] = write_and_commit(
                    with_lineage(frame, BRONZE_MIDI.name, bronze_version, run_id), lake, spec, run_id, APP_ID,
                    bronze_version, metadata)
        finally:
            results.unpersist()

    return finish(report, clock, progress, by_status, OK, QUARANTINED)


__all__ = ["run_features", "analyze_midi", "MidiError", "RESULT_SCHEMA"]
