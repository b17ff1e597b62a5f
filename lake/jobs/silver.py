"""features + encode in one pass over the bytes, when that gives exactly what the two jobs give one after the other.

``musiclake lake all`` (and the demo) call :func:`run_silver`. When the encode job is up to date
with silver_scores and the features job has not started on the pinned bronze version, each new
file is read, parsed and checked once: its features, chords and tracks and its tokens come from the
same parsed score (:func:`lake.jobs.features.analyze_midi`, then
:func:`lake.jobs.encode.tokenize_score`), in the same Python worker. The commits are those of the
two jobs: the features tables with ``("features", bronze version)``, then the token tables with
``("tokens:<tokenizer_id>", the silver_scores version just committed)``, and silver_quarantine,
which both jobs write, with both transactions. So every later run of ``features`` or ``encode``
alone sees its work done, and lineage reads the same as after two jobs.

In any other state (a crash left one job's outputs half committed, silver_scores holds pieces not
yet tokenized, a new tokenizer config) :func:`run_silver` runs ``features`` and then ``encode``,
each of which finishes what is missing.
"""

from __future__ import annotations

import functools

from lake.delta import Lake
from lake.jobs.common import Clock, JobReport, lineage, read_snapshot, run_job
from lake.jobs.encode import OUTPUTS as ENCODE_OUTPUTS
from lake.jobs.encode import app_id as encode_app_id
from lake.jobs.encode import encode_stage, run_encode, token_rows, tokenize_score
from lake.jobs.features import APP_ID, BRONZE_COLUMNS, OK, PARTITION_BYTES, QUARANTINED
from lake.jobs.features import OUTPUTS as FEATURE_OUTPUTS
from lake.jobs.features import analyze_midi, feature_rows, features_stage, run_features
from lake.jobs.per_file import PerFileJob
from lake.midi_features import Limits
from lake.schemas import BRONZE_MIDI, SILVER_SCORES
from lake.tokenizer import ProgramSplitter, build_tokenizer, save_tokenizer, tokenizer_id
from common.runinfo import code_version, new_run_id

TOKENIZE_FAILED = "quarantined_tokenize"  # described, but the tokenizer failed: a silver_quarantine row of encode


def silver_process(limits: Limits, tok_cfg):
    """``process(bronze row)``: features, chords, tracks and tokens of one file from one parse."""
    tokenizer = build_tokenizer(tok_cfg)
    splitter = ProgramSplitter(tokenizer)
    tid = tokenizer_id(tok_cfg)

    def process(row: dict):
        described = analyze_midi(row["content"] or b"", limits)
        outputs = feature_rows(row, described)
        if described["status"] != OK:
            return described["status"], described.get("reason"), outputs
        tokens = tokenize_score(described["score"], tokenizer, splitter, limits)
        for table, rows in token_rows(row, tokens, tid).items():
            outputs.setdefault(table, []).extend(rows)
        if tokens["status"] != OK:
            return TOKENIZE_FAILED, tokens.get("reason"), outputs
        return OK, None, outputs

    return process


def fusable(lake: Lake, bronze_version: int, tid: str) -> bool:
    """True when one pass gives what features then encode give: no features output has this
    bronze version yet, and encode is done with silver_scores as it is now (or it holds no piece)."""
    if any(lake.already_committed(s, APP_ID, bronze_version) for s in FEATURE_OUTPUTS):
        return False
    scores_version = lake.version(SILVER_SCORES)
    return lake.info(SILVER_SCORES).rows == 0 or all(
        lake.already_committed(s, encode_app_id(tid), scores_version) for s in ENCODE_OUTPUTS)


def run_silver(cfg, spark) -> list[JobReport]:
    """The features and encode jobs' work: in one pass when :func:`fusable`, else the two jobs in turn."""
    from pyspark.sql import functions as F

    clock = Clock()
    lake = Lake.from_config(cfg)
    tid = tokenizer_id(cfg.tokenizer)
    bronze_version, bronze = read_snapshot(spark, lake, BRONZE_MIDI, columns=BRONZE_COLUMNS)
    if bronze is None or not fusable(lake, bronze_version, tid):
        return [run_features(cfg, spark), run_encode(cfg, spark)]

    run_id = new_run_id("silver")
    limits = Limits.from_config(cfg)
    save_tokenizer(cfg.lake.uri, cfg.tokenizer, cfg.lake.storage_options)
    described = features_stage(spark, lake, bronze_version)
    tokenized = encode_stage(spark, lake, tid, lambda committed: committed[SILVER_SCORES.name])
    report = JobReport("features+encode", run_id, inputs={BRONZE_MIDI.name: bronze_version})
    job = PerFileJob(
        name="features+encode", pending=bronze.join(F.broadcast(described.done), "sha256", "left_anti"),
        done=described.done, stages=[described, tokenized], run_id=run_id,
        lineage=lineage(BRONZE_MIDI, bronze_version, run_id), partition_bytes=PARTITION_BYTES,
        make_process=functools.partial(silver_process, limits, cfg.tokenizer),
        metadata=dict(job="features+encode", job_run_id=run_id, source_table=BRONZE_MIDI.name,
                      source_version=bronze_version, code_version=code_version(), tokenizer_id=tid))
    return [run_job(spark, lake, job, cfg, report, clock, BRONZE_MIDI,
                    statuses=(OK, QUARANTINED, TOKENIZE_FAILED))]
