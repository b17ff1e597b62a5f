"""Spark job: bronze_midi_files → silver_scores, silver_chords, silver_tracks and silver_quarantine.

The job pins one bronze version and skips every file already done (in all three feature tables,
or quarantined). Each remaining file goes through :func:`analyze_midi` in a Python worker
(:mod:`lake.jobs.per_file`: one pass, outputs staged as parquet by the workers): byte checks,
symusic parse, the per-file caps of :class:`~lake.midi_features.Limits` (notes, duration, tempo,
bars) and a wall-clock limit, then every feature of :func:`lake.midi_features.analyze`. A file that
fails anywhere becomes one quarantine row naming the stage, a reason code and the error; the job
goes on. The outputs are committed with the app transaction ``("features", bronze version)``; a
re-run commits nothing, and a re-run after a crash between two commits writes only the outputs
still missing (each output skips the keys it holds).
"""

from __future__ import annotations

import functools
import json

from lake.delta import Lake
from lake.jobs.common import Clock, JobReport, keys_of, lineage, read_snapshot, run_job
from lake.jobs.per_file import PerFileJob, Stage
from lake.midi_features import Limits, MidiError, analyze, check_midi_bytes, check_score, one_line, parse_midi, time_limit
from lake.schemas import BRONZE_MIDI, SILVER_CHORDS, SILVER_QUARANTINE, SILVER_SCORES, SILVER_TRACKS
from lake.vocab import normalize_style
from common.runinfo import code_version, new_run_id

APP_ID = "features"
OK, QUARANTINED = "ok", "quarantined"
PARTITION_BYTES = 4 * 1024 * 1024  # bronze bytes per Spark task (about one bronze file: the lander writes ~500 rows a file)
BRONZE_COLUMNS = ["sha256", "content", "size", "url", "title", "source", "attrs_json"]
OUTPUTS = (SILVER_SCORES, SILVER_CHORDS, SILVER_TRACKS, SILVER_QUARANTINE)


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
    """Check, parse and describe one file: status, stage, reason, error, then its features, chords and tracks.

    Never raises for a bad file: any failure is returned as ``status='quarantined'`` with its
    stage (validate, parse, features), a reason code and the one-line error. A good file's result
    also holds the parsed ``score`` (a fused pass tokenizes it without parsing again).
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
    return dict(status=OK, features=result.features, chords=result.chords, tracks=result.tracks, score=score)


def quarantine_row(row: dict, result: dict, job: str) -> dict:
    """The silver_quarantine row of an input row whose file failed."""
    return dict(sha256=row["sha256"], url=row["url"], source=row["source"], size=row["size"], stage=result["stage"],
                error=result["error"], reason=result["reason"], job=job)


def feature_rows(row: dict, result: dict) -> dict[str, list[dict]]:
    """The silver rows of one bronze row: its score, its chords and its tracks (or its quarantine row)."""
    if result["status"] != OK:
        return {SILVER_QUARANTINE.name: [quarantine_row(row, result, APP_ID)]}
    sha = row["sha256"]
    score = dict(sha256=sha, url=row["url"], title=row["title"], source=row["source"],
                 style=style_of(row["attrs_json"]), **result["features"])
    return {SILVER_SCORES.name: [score], SILVER_CHORDS.name: [dict(result["chords"], sha256=sha)],
            SILVER_TRACKS.name: [dict(t, sha256=sha) for t in result["tracks"]]}


def features_process(limits: Limits):
    """``process(bronze row) -> (status, reason, {table: rows})`` for :mod:`lake.jobs.per_file`."""

    def process(row: dict):
        result = analyze_midi(row["content"] or b"", limits)
        return result["status"], result.get("reason"), feature_rows(row, result)

    return process


def run_features(cfg, spark) -> JobReport:
    """Describe every bronze MIDI file not yet in silver; returns what was read and committed."""
    from pyspark.sql import functions as F

    clock = Clock()
    lake = Lake.from_config(cfg)
    run_id = new_run_id("features")
    limits = Limits.from_config(cfg)

    bronze_version, bronze = read_snapshot(spark, lake, BRONZE_MIDI, columns=BRONZE_COLUMNS)
    report = JobReport("features", run_id, inputs={BRONZE_MIDI.name: bronze_version})
    if bronze is None:
        report.note = f"{BRONZE_MIDI.name} holds no files yet"
    elif all(lake.already_committed(s, APP_ID, bronze_version) for s in OUTPUTS):
        report.note = f"{BRONZE_MIDI.name}@v{bronze_version} already described"
    if report.note:
        report.elapsed_s = clock.elapsed()
        return report

    stage = features_stage(spark, lake, bronze_version)
    job = PerFileJob(
        name="features", pending=bronze.join(F.broadcast(stage.done), "sha256", "left_anti"), done=stage.done,
        stages=[stage],
        run_id=run_id, lineage=lineage(BRONZE_MIDI, bronze_version, run_id),
        make_process=functools.partial(features_process, limits), partition_bytes=PARTITION_BYTES,
        metadata=dict(job="features", job_run_id=run_id, source_table=BRONZE_MIDI.name, source_version=bronze_version,
                      code_version=code_version()))
    return run_job(spark, lake, job, cfg, report, clock, BRONZE_MIDI)


def features_stage(spark, lake: Lake, bronze_version: int) -> Stage:
    """The features job's outputs, the keys they hold and the files it has finished (in all three tables, or quarantined)."""
    keys = {spec: keys_of(spark, lake, spec) for spec in OUTPUTS}
    done = (keys[SILVER_SCORES].join(keys[SILVER_CHORDS], "sha256").join(keys[SILVER_TRACKS], "sha256")
            .union(keys[SILVER_QUARANTINE]))
    return Stage(APP_ID, bronze_version, keys, done)


__all__ = ["run_features", "analyze_midi", "MidiError"]
