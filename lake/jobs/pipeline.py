"""The lake's jobs in dependency order: what `musiclake lake all` and the demo run.

features (silver_scores, chords, tracks, quarantine) → encode (silver_tokens) → dedup
(silver_duplicates) → split (gold_splits) → align (gold pairs and lyric segments); melody-index
(gold_melody_index, what generated pieces are screened against) reads bronze alone. Each job is
incremental and idempotent on its own, so running the chain again commits only what is new.
features and encode run as one pass over the bytes where that is exact (:mod:`lake.jobs.silver`).
"""

from __future__ import annotations

from lake.jobs.align import run_align
from lake.jobs.common import JobReport
from lake.jobs.dedup import run_dedup
from lake.jobs.encode import run_encode
from lake.jobs.features import run_features
from lake.jobs.melody_index import run_melody_index
from lake.jobs.silver import run_silver
from lake.jobs.split import run_split

JOBS = (("features", run_features), ("encode", run_encode), ("dedup", run_dedup),
        ("split", run_split), ("align", run_align), ("melody-index", run_melody_index))


def run_all(cfg, spark, echo=print) -> list[JobReport]:
    reports = []
    for report in run_silver(cfg, spark):
        echo(report.summary())
        reports.append(report)
    for name, job in JOBS:
        if name in ("features", "encode"):  # done by run_silver
            continue
        report = job(cfg, spark)
        echo(report.summary())
        reports.append(report)
    return reports
