"""Spark job: the pieces in silver_scores → silver_tokens, silver_track_tokens (and silver_quarantine).

Encode tokenizes what the features job accepted: it pins a silver_scores version and the bronze
version holding the bytes, skips every piece already tokenized with this tokenizer (in both token
tables) or quarantined by it, and runs each remaining file through :func:`tokenize_midi` in Python
on the executors (``mapInArrow``, one tokenizer and splitter per partition). The bytes are checked
again (the same caps and wall-clock limit as the features job), so bronze content never reaches
the tokenizer unchecked. A file the tokenizer fails on becomes a quarantine row (stage
``tokenize``, job ``encode:<tokenizer_id>``). The outputs are committed with the app transaction
``("tokens:<tokenizer_id>", silver_scores version)``: a re-run commits nothing; new pieces in
silver_scores make a new version and are the only ones tokenized.

Run ``features`` first; ``encode`` then ``align`` (or ``split``) follow it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lake.delta import Lake
from lake.jobs.common import Clock, JobReport, finish, keys_of, read_snapshot, with_lineage, write_and_commit
from lake.midi_features import Limits, check_midi_bytes, check_score, parse_midi, time_limit
from lake.jobs.features import OK, PARTITION_BYTES, QUARANTINED, arrow_batch_rows, quarantined, slices
from lake.schemas import BRONZE_MIDI, SILVER_QUARANTINE, SILVER_SCORES, SILVER_TOKENS, SILVER_TRACK_TOKENS
from lake.spark import spark_ddl
from lake.tokenizer import ProgramSplitter, build_tokenizer, encode_ids, save_tokenizer, tokenizer_id
from musiclake.progress import Progress
from musiclake.runinfo import code_version, new_run_id

RESULT_SCHEMA = pa.schema([
    pa.field("sha256", pa.string()), pa.field("url", pa.string()), pa.field("source", pa.string()),
    pa.field("size", pa.int64()), pa.field("status", pa.string()), pa.field("stage", pa.string()),
    pa.field("reason", pa.string()), pa.field("error", pa.string()),
    pa.field("tokens", pa.list_(pa.int32())), pa.field("n_tokens", pa.int32()),
    pa.field("track_programs", pa.list_(pa.int32())), pa.field("track_tokens", pa.list_(pa.list_(pa.int32()))),
])


def app_id(tid: str) -> str:
    return f"tokens:{tid}"


def tokenize_midi(data: bytes, tokenizer, splitter: ProgramSplitter | None = None, limits: Limits = Limits()) -> dict:
    """Check, parse and tokenize one file: status, stage, reason, error, tokens and per-program tokens.

    Never raises for a bad file: any failure is returned as ``status='quarantined'``.
    """
    stage = "validate"
    try:
        with time_limit(limits.max_seconds, "tokenize"):
            check_midi_bytes(data, max_bytes=limits.max_bytes, max_tracks=limits.max_tracks)
            stage = "parse"
            score = parse_midi(data)
            stage = "features"
            check_score(score, limits)
            stage = "tokenize"
            ids = encode_ids(tokenizer, score)
            if not ids.size:
                raise ValueError("tokenizer produced no tokens")
            per_program = splitter.split(ids) if splitter is not None else {}
    except Exception as e:  # any failure of one file quarantines that file, never the job
        return quarantined(stage, e)
    programs = sorted(per_program)
    return dict(status=OK, tokens=ids, n_tokens=int(ids.size), track_programs=programs,
                track_tokens=[per_program[p] for p in programs])


def _offsets(lengths: list[int]) -> pa.Array:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.array(offsets)


def int_lists(seqs: list) -> pa.Array:
    """A list<int32> arrow array from numpy arrays (None: null), without one Python int per element."""
    present = [np.asarray(s, dtype=np.int32) for s in seqs if s is not None]
    values = pa.array(np.concatenate(present) if present else np.zeros(0, dtype=np.int32))
    return pa.ListArray.from_arrays(_offsets([0 if s is None else len(s) for s in seqs]), values,
                                    mask=pa.array([s is None for s in seqs]))


def result_batch(batch: pa.RecordBatch, rows: list[dict]) -> pa.RecordBatch:
    """The result rows of one input batch: its key columns, then each file's status and tokens."""
    cols = {name: batch.column(name) for name in ("sha256", "url", "source", "size")}
    for name in ("status", "stage", "reason", "error"):
        cols[name] = pa.array([r.get(name) for r in rows], pa.string())
    cols["tokens"] = int_lists([r.get("tokens") for r in rows])
    cols["n_tokens"] = pa.array([r.get("n_tokens") for r in rows], pa.int32())
    cols["track_programs"] = pa.array([r.get("track_programs") for r in rows], pa.list_(pa.int32()))
    tracks = [r.get("track_tokens") for r in rows]
    cols["track_tokens"] = pa.ListArray.from_arrays(
        _offsets([0 if t is None else len(t) for t in tracks]), int_lists([s for t in tracks if t for s in t]),
        mask=pa.array([t is None for t in tracks]))
    return pa.RecordBatch.from_arrays([cols[f.name].cast(f.type) for f in RESULT_SCHEMA], schema=RESULT_SCHEMA)


def _encode_partition(tok_cfg, limits: Limits):
    """The ``mapInArrow`` function: bronze rows in, result rows out (tokenizer built once per partition)."""

    def run(batches):
        tokenizer = build_tokenizer(tok_cfg)
        splitter = ProgramSplitter(tokenizer)
        for batch in slices(batches):
            rows = [tokenize_midi(data or b"", tokenizer, splitter, limits)
                    for data in batch.column("content").to_pylist()]
            yield result_batch(batch, rows)

    return run


def run_encode(cfg, spark) -> JobReport:
    """Tokenize every piece of silver_scores not yet tokenized with ``config.tokenizer``."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    clock = Clock()
    progress = Progress("encode", unit="files", every_s=float("inf"))  # one line, at the end
    lake = Lake.from_config(cfg)
    run_id = new_run_id("encode")
    tid = tokenizer_id(cfg.tokenizer)
    job = f"encode:{tid}"
    limits = Limits.from_config(cfg)
    outputs = (SILVER_TOKENS, SILVER_TRACK_TOKENS, SILVER_QUARANTINE)

    scores_version, scores = read_snapshot(spark, lake, SILVER_SCORES, columns=["sha256"])
    bronze_version, bronze = read_snapshot(spark, lake, BRONZE_MIDI, columns=["sha256", "content", "size", "url",
                                                                             "source"])
    report = JobReport("encode", run_id, inputs={SILVER_SCORES.name: scores_version, BRONZE_MIDI.name: bronze_version})
    if scores is None or bronze is None:
        report.note = f"{SILVER_SCORES.name} holds no files yet (run the features job first)"
    elif all(lake.already_committed(s, app_id(tid), scores_version) for s in outputs):
        report.note = f"{SILVER_SCORES.name}@v{scores_version} already encoded with {tid}"
    if report.note:
        report.elapsed_s = clock.elapsed()
        return report

    save_tokenizer(cfg.lake.uri, cfg.tokenizer)
    is_tid = F.col("tokenizer_id") == tid
    keys = {SILVER_TOKENS: keys_of(spark, lake, SILVER_TOKENS, is_tid),
            SILVER_TRACK_TOKENS: keys_of(spark, lake, SILVER_TRACK_TOKENS, is_tid),
            SILVER_QUARANTINE: keys_of(spark, lake, SILVER_QUARANTINE, F.col("job") == job)}
    done = keys[SILVER_TOKENS].join(keys[SILVER_TRACK_TOKENS], "sha256").union(keys[SILVER_QUARANTINE])
    # only keys travel to the join (broadcast); the bronze bytes are never shuffled for it
    todo = scores.distinct().join(F.broadcast(done), "sha256", "left_anti")
    pending = bronze.join(F.broadcast(todo), "sha256", "left_semi")
    partitions = max(spark.sparkContext.defaultParallelism, -(-lake.info(BRONZE_MIDI).size_bytes // PARTITION_BYTES))
    results = (pending.repartition(partitions)
               .mapInArrow(_encode_partition(cfg.tokenizer, limits), spark_ddl(RESULT_SCHEMA))
               .persist(StorageLevel.MEMORY_AND_DISK))
    with arrow_batch_rows(spark):
        try:
            by_status = {r["status"]: r["count"] for r in results.groupBy("status").count().collect()}
            ok = results.where(F.col("status") == OK)

            def fresh(frame, spec):
                return frame.join(F.broadcast(keys[spec]), "sha256", "left_anti")

            per_track = (fresh(ok, SILVER_TRACK_TOKENS)
                         .select("sha256", F.explode(F.arrays_zip("track_programs", "track_tokens")).alias("t"))
                         .select("sha256", F.col("t.track_programs").alias("program"),
                                 F.col("t.track_tokens").alias("tokens"))
                         .withColumn("n_tokens", F.size("tokens")))
            frames = {
                SILVER_TOKENS: fresh(ok, SILVER_TOKENS),
                SILVER_TRACK_TOKENS: per_track,
                SILVER_QUARANTINE: fresh(results.where(F.col("status") == QUARANTINED), SILVER_QUARANTINE)
                .withColumn("job", F.lit(job)),
            }
            metadata = dict(job="encode", job_run_id=run_id, source_table=BRONZE_MIDI.name,
                            source_version=bronze_version, scores_version=scores_version,
                            code_version=code_version(), tokenizer_id=tid)
            for spec, frame in frames.items():
                frame = with_lineage(frame.withColumn("tokenizer_id", F.lit(tid)), BRONZE_MIDI.name, bronze_version,
                                     run_id)
                report.outputs[spec.name] = write_and_commit(frame, lake, spec, run_id, app_id(tid), scores_version,
                                                             metadata)
        finally:
            results.unpersist()

    return finish(report, clock, progress, by_status, OK, QUARANTINED)
