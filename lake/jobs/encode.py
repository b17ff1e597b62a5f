"""Spark job: bronze_midi_files → silver_scores, silver_tokens and silver_quarantine.

The job pins one bronze version, skips every file already done (in silver_scores and in
silver_tokens for this tokenizer, or in silver_quarantine), and runs each remaining file through
check → parse → features → tokenize in Python on the executors (``mapInArrow``, one tokenizer per
partition). Each file yields one result row with a status; a file that fails at any stage becomes
a quarantine row naming the stage and the error, and the job goes on. The three outputs are
committed with the app transaction ``("encode:<tokenizer_id>", bronze version)``, so running the
job again on the same bronze version commits nothing.
"""

from __future__ import annotations

import json

import pyarrow as pa

from lake.delta import Lake
from lake.jobs.common import Clock, JobReport, keys_of, read_snapshot, with_lineage, write_and_commit
from lake.midi_features import check_midi_bytes, extract_features, one_line, parse_midi
from lake.schemas import BRONZE_MIDI, SILVER_QUARANTINE, SILVER_SCORES, SILVER_TOKENS
from lake.spark import spark_ddl
from lake.tokenizer import build_tokenizer, save_tokenizer, tokenizer_id
from lake.vocab import normalize_style
from musiclake.progress import Progress
from musiclake.runinfo import code_version, new_run_id

OK, QUARANTINED = "ok", "quarantined"
PARTITION_BYTES = 64 * 1024 * 1024  # bronze bytes per encode task: bounds the arrow batches a Python worker holds
BRONZE_COLUMNS = ["sha256", "content", "size", "url", "title", "source", "attrs_json"]
FEATURE_FIELDS = [f for f in SILVER_SCORES.schema
                  if f.name in ("bpm", "time_signature", "key_tonic", "key_mode", "key_confidence", "programs",
                                "instruments", "n_tracks", "note_count", "duration_s")]

# One row per bronze file: what it is, how it went, and (when it went well) its features and tokens.
RESULT_SCHEMA = pa.schema([
    pa.field("sha256", pa.string()), pa.field("url", pa.string()), pa.field("title", pa.string()),
    pa.field("source", pa.string()), pa.field("size", pa.int64()), pa.field("style", pa.string()),
    pa.field("status", pa.string()), pa.field("stage", pa.string()), pa.field("error", pa.string()),
    *[pa.field(f.name, f.type) for f in FEATURE_FIELDS],
    pa.field("tokens", pa.list_(pa.int32())), pa.field("n_tokens", pa.int32()),
])


def style_of(attrs_json: str | None) -> str:
    """The link's ``data-style`` attribute as a known style, else 'other'."""
    try:
        attrs = json.loads(attrs_json or "{}")
    except ValueError:
        return normalize_style(None)
    return normalize_style(attrs.get("style") if isinstance(attrs, dict) else None)


def encode_midi(data: bytes, tokenizer, max_bytes: int) -> dict:
    """Check, parse, describe and tokenize one file: status, stage, error, features, tokens."""
    stage = "validate"
    try:
        check_midi_bytes(data, max_bytes=max_bytes)
        stage = "parse"
        score = parse_midi(data)
        stage = "features"
        features = extract_features(score)
        stage = "tokenize"
        ids = tokenizer.encode(score).ids
        if not ids:
            raise ValueError("tokenizer produced no tokens")
    except Exception as e:  # any failure of one file quarantines that file, never the job
        return dict(status=QUARANTINED, stage=stage, error=one_line(e))
    return dict(status=OK, **features, tokens=[int(i) for i in ids], n_tokens=len(ids))


def _encode_partition(tok_cfg):
    """The ``mapInArrow`` function: bronze rows in, result rows out (tokenizer built once per partition)."""

    def run(batches):
        tokenizer = build_tokenizer(tok_cfg)
        for batch in batches:
            rows = []
            for r in batch.to_pylist():
                out = dict(sha256=r["sha256"], url=r["url"], title=r["title"], source=r["source"],
                           size=r["size"], style=style_of(r["attrs_json"]))
                out.update(encode_midi(r["content"], tokenizer, tok_cfg.max_file_bytes))
                rows.append(out)
            yield pa.RecordBatch.from_pylist(rows, schema=RESULT_SCHEMA)

    return run


def run_encode(cfg, spark) -> JobReport:
    """Encode every bronze MIDI file not yet in silver; returns what was read and committed."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    clock = Clock()
    progress = Progress("encode", unit="files", every_s=float("inf"))  # one line, at the end
    lake = Lake.from_config(cfg)
    run_id = new_run_id("encode")
    tid = tokenizer_id(cfg.tokenizer)
    app_id = f"encode:{tid}"
    outputs = (SILVER_SCORES, SILVER_TOKENS, SILVER_QUARANTINE)

    bronze_version, bronze = read_snapshot(spark, lake, BRONZE_MIDI, columns=BRONZE_COLUMNS)
    report = JobReport("encode", run_id, inputs={BRONZE_MIDI.name: bronze_version})
    if bronze is None:
        report.note = f"{BRONZE_MIDI.name} holds no files yet"
    elif all(lake.already_committed(s, app_id, bronze_version) for s in outputs):
        report.note = f"{BRONZE_MIDI.name}@v{bronze_version} already encoded with {tid}"
    if report.note:
        report.elapsed_s = clock.elapsed()
        return report

    save_tokenizer(cfg.lake.uri, cfg.tokenizer)
    scores_keys = keys_of(spark, lake, SILVER_SCORES)
    tokens_keys = keys_of(spark, lake, SILVER_TOKENS, F.col("tokenizer_id") == tid)
    quarantine_keys = keys_of(spark, lake, SILVER_QUARANTINE)
    done = scores_keys.join(tokens_keys, "sha256").union(quarantine_keys)
    pending = bronze.join(F.broadcast(done), "sha256", "left_anti")
    partitions = max(spark.sparkContext.defaultParallelism, -(-lake.info(BRONZE_MIDI).size_bytes // PARTITION_BYTES))
    results = (pending.repartition(partitions)
               .mapInArrow(_encode_partition(cfg.tokenizer), spark_ddl(RESULT_SCHEMA))
               .persist(StorageLevel.MEMORY_AND_DISK))
    try:
        by_status = {r["status"]: r["count"] for r in results.groupBy("status").count().collect()}
        ok = results.where(F.col("status") == OK)
        failed = results.where(F.col("status") == QUARANTINED)
        lineage = dict(source_table=BRONZE_MIDI.name, source_version=bronze_version, run_id=run_id)
        frames = {
            SILVER_SCORES: ok.join(F.broadcast(scores_keys), "sha256", "left_anti"),
            SILVER_TOKENS: (ok.join(F.broadcast(tokens_keys), "sha256", "left_anti")
                            .withColumn("tokenizer_id", F.lit(tid))),
            SILVER_QUARANTINE: failed.join(F.broadcast(quarantine_keys), "sha256", "left_anti"),
        }
        metadata = dict(job="encode", job_run_id=run_id, source_table=BRONZE_MIDI.name,
                        source_version=bronze_version, code_version=code_version(), tokenizer_id=tid)
        for spec, frame in frames.items():
            report.outputs[spec.name] = write_and_commit(with_lineage(frame, **lineage), lake, spec, run_id,
                                                         app_id, bronze_version, metadata)
    finally:
        results.unpersist()

    n_ok, n_bad = by_status.get(OK, 0), by_status.get(QUARANTINED, 0)
    report.counts = dict(files_in=n_ok + n_bad, ok=n_ok, quarantined=n_bad)
    progress.advance(n_ok + n_bad, ok=n_ok, quarantined=n_bad)
    progress.close()
    report.elapsed_s = clock.elapsed()
    return report
