"""Spark job: the pieces in silver_scores → silver_tokens, silver_track_tokens (and silver_quarantine).

Encode tokenizes what the features job accepted: it pins a silver_scores version and the bronze
version holding the bytes, skips every piece already tokenized with this tokenizer (in both token
tables) or quarantined by it, and runs each remaining file through :func:`tokenize_midi` in a
Python worker (:mod:`lake.jobs.per_file`: one tokenizer and splitter per task, outputs staged as
parquet by the workers). The bytes are checked again (the same caps and wall-clock limit as the
features job), so bronze content never reaches the tokenizer unchecked. A file the tokenizer fails
on becomes a quarantine row (stage ``tokenize``, job ``encode:<tokenizer_id>``). The outputs are
committed with the app transaction ``("tokens:<tokenizer_id>", silver_scores version)``: a re-run
commits nothing; new pieces in silver_scores make a new version and are the only ones tokenized.

Tokens come from :func:`lake.tokenizer.encode_ids`: miditok's ids, computed by
:class:`lake.remi_fast.FastREMI` for the default REMI configuration.

Run ``features`` first; ``encode`` then ``align`` (or ``split``) follow it.
"""

from __future__ import annotations

import functools

from lake.delta import Lake
from lake.jobs.common import Clock, JobReport, keys_of, lineage, read_snapshot, run_job
from lake.jobs.features import OK, PARTITION_BYTES, quarantine_row, quarantined
from lake.jobs.per_file import PerFileJob, Stage
from lake.midi_features import Limits, check_midi_bytes, check_score, parse_midi, time_limit
from lake.schemas import BRONZE_MIDI, SILVER_QUARANTINE, SILVER_SCORES, SILVER_TOKENS, SILVER_TRACK_TOKENS
from lake.tokenizer import ProgramSplitter, build_tokenizer, encode_ids, save_tokenizer, tokenizer_id
from common.runinfo import code_version, new_run_id

OUTPUTS = (SILVER_TOKENS, SILVER_TRACK_TOKENS, SILVER_QUARANTINE)


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
            return _tokens(score, tokenizer, splitter)
    except Exception as e:  # any failure of one file quarantines that file, never the job
        return quarantined(stage, e)


def tokenize_score(score, tokenizer, splitter: ProgramSplitter | None = None, limits: Limits = Limits()) -> dict:
    """:func:`tokenize_midi` for a score the features path has already parsed and checked."""
    try:
        with time_limit(limits.max_seconds, "tokenize"):
            return _tokens(score, tokenizer, splitter)
    except Exception as e:  # any failure of one file quarantines that file, never the job
        return quarantined("tokenize", e)


def _tokens(score, tokenizer, splitter) -> dict:
    ids = encode_ids(tokenizer, score)
    if not ids.size:
        raise ValueError("tokenizer produced no tokens")
    per_program = splitter.split(ids) if splitter is not None else {}
    programs = sorted(per_program)
    return dict(status=OK, tokens=ids, n_tokens=int(ids.size), track_programs=programs,
                track_tokens=[per_program[p] for p in programs])


def token_rows(row: dict, result: dict, tid: str) -> dict[str, list[dict]]:
    """The silver rows of one tokenized file: its token row and one row per program (or its quarantine row)."""
    if result["status"] != OK:
        return {SILVER_QUARANTINE.name: [quarantine_row(row, result, f"encode:{tid}")]}
    sha = row["sha256"]
    tracks = [dict(sha256=sha, tokenizer_id=tid, program=p, tokens=t, n_tokens=int(t.size))
              for p, t in zip(result["track_programs"], result["track_tokens"])]
    return {SILVER_TOKENS.name: [dict(sha256=sha, tokenizer_id=tid, tokens=result["tokens"],
                                      n_tokens=result["n_tokens"])],
            SILVER_TRACK_TOKENS.name: tracks}


def encode_process(tok_cfg, limits: Limits):
    """``process(bronze row) -> (status, reason, {table: rows})`` for :mod:`lake.jobs.per_file` (tokenizer built once)."""
    tokenizer = build_tokenizer(tok_cfg)
    splitter = ProgramSplitter(tokenizer)
    tid = tokenizer_id(tok_cfg)

    def process(row: dict):
        result = tokenize_midi(row["content"] or b"", tokenizer, splitter, limits)
        return result["status"], result.get("reason"), token_rows(row, result, tid)

    return process


def run_encode(cfg, spark) -> JobReport:
    """Tokenize every piece of silver_scores not yet tokenized with ``config.tokenizer``."""
    from pyspark.sql import functions as F

    clock = Clock()
    lake = Lake.from_config(cfg)
    run_id = new_run_id("encode")
    tid = tokenizer_id(cfg.tokenizer)
    limits = Limits.from_config(cfg)

    scores_version, scores = read_snapshot(spark, lake, SILVER_SCORES, columns=["sha256"])
    bronze_version, bronze = read_snapshot(spark, lake, BRONZE_MIDI, columns=["sha256", "content", "size", "url",
                                                                             "source"])
    report = JobReport("encode", run_id, inputs={SILVER_SCORES.name: scores_version, BRONZE_MIDI.name: bronze_version})
    if scores is None or bronze is None:
        report.note = f"{SILVER_SCORES.name} holds no files yet (run the features job first)"
    elif all(lake.already_committed(s, app_id(tid), scores_version) for s in OUTPUTS):
        report.note = f"{SILVER_SCORES.name}@v{scores_version} already encoded with {tid}"
    if report.note:
        report.elapsed_s = clock.elapsed()
        return report

    save_tokenizer(cfg.lake.uri, cfg.tokenizer, cfg.lake.storage_options)
    stage = encode_stage(spark, lake, tid, scores_version)
    # only keys travel to the join (broadcast); the bronze bytes are never shuffled for it
    todo = scores.distinct().join(F.broadcast(stage.done), "sha256", "left_anti")
    pending = bronze.join(F.broadcast(todo), "sha256", "left_semi")
    per_file = PerFileJob(
        name="encode", pending=pending, done=stage.done, stages=[stage], run_id=run_id,
        lineage=lineage(BRONZE_MIDI, bronze_version, run_id), partition_bytes=PARTITION_BYTES,
        make_process=functools.partial(encode_process, cfg.tokenizer, limits),
        metadata=dict(job="encode", job_run_id=run_id, source_table=BRONZE_MIDI.name, source_version=bronze_version,
                      scores_version=scores_version, code_version=code_version(), tokenizer_id=tid))
    return run_job(spark, lake, per_file, cfg, report, clock, BRONZE_MIDI)


def encode_stage(spark, lake: Lake, tid: str, scores_version) -> Stage:
    """The encode job's outputs for tokenizer ``tid``, the keys they hold and the pieces it has finished."""
    from pyspark.sql import functions as F

    is_tid = F.col("tokenizer_id") == tid
    keys = {SILVER_TOKENS: keys_of(spark, lake, SILVER_TOKENS, is_tid),
            SILVER_TRACK_TOKENS: keys_of(spark, lake, SILVER_TRACK_TOKENS, is_tid),
            SILVER_QUARANTINE: keys_of(spark, lake, SILVER_QUARANTINE, F.col("job") == f"encode:{tid}")}
    done = keys[SILVER_TOKENS].join(keys[SILVER_TRACK_TOKENS], "sha256").union(keys[SILVER_QUARANTINE])
    return Stage(app_id(tid), scores_version, keys, done)
