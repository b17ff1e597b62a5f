"""Spark job: silver_scores fingerprints → silver_duplicates (exact and near-duplicate clusters).

Spark does the part that grows with the lake: it hashes every piece's MinHash signature into LSH
band keys (``mapInArrow``), groups pieces by band key and by note hash, and keeps only those that
share a bucket with another piece. Those candidates (a small share of the lake) are clustered on
the driver by :func:`lake.dedup.build_clusters`. Clusters only grow as pieces arrive, so the table
is kept current with a MERGE on ``sha256`` of the rows that are new or changed (a piece whose cluster
merged with another gets the new ``cluster_id``); the commit carries the app transaction
``("dedup", silver_scores version)``, so a re-run on the same version commits nothing.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

from lake.dedup import BANDS, build_clusters
from lake.delta import Lake
from lake.jobs.common import Clock, JobReport, read_snapshot
from lake.midi_features import MINHASH_PERMUTATIONS
from lake.schemas import SILVER_DUPLICATES, SILVER_SCORES
from common.runinfo import code_version, new_run_id

APP_ID = "dedup"
VALUE_COLUMNS = ["sha256", "cluster_id", "method", "representative", "similarity", "cluster_size"]
BAND_SCHEMA = pa.schema([pa.field("sha256", pa.string()), pa.field("band", pa.int32()), pa.field("key", pa.int64())])


def _band_rows(batches):
    from lake.dedup import band_keys

    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        sigs = batch.column("minhash").flatten().to_numpy(zero_copy_only=False).reshape(n, MINHASH_PERMUTATIONS)
        keys = band_keys(sigs)
        shas = np.repeat(np.array(batch.column("sha256").to_pylist(), dtype=object), BANDS)
        yield pa.RecordBatch.from_arrays(
            [pa.array(shas, pa.string()), pa.array(np.tile(np.arange(BANDS, dtype=np.int32), n)),
             pa.array(keys.reshape(-1))], schema=BAND_SCHEMA)


def candidates(spark, scores):
    """The pieces that share an LSH bucket or a note hash with another piece (DataFrame of sha256)."""
    from pyspark.sql import functions as F

    signed = scores.where(F.col("minhash").isNotNull() & (F.size("minhash") == MINHASH_PERMUTATIONS))
    bands = signed.select("sha256", "minhash").mapInArrow(_band_rows, "sha256 string, band int, key bigint")
    crowded = bands.groupBy("band", "key").count().where(F.col("count") >= 2).select("band", "key")
    near = bands.join(crowded, ["band", "key"]).select("sha256")
    twins = (scores.where(F.col("note_hash").isNotNull()).groupBy("note_hash").count()
             .where(F.col("count") >= 2).select("note_hash"))
    exact = scores.join(twins, "note_hash").select("sha256")
    return near.union(exact).distinct()


def run_dedup(cfg, spark) -> JobReport:
    """Cluster the duplicates among all parsed pieces; returns what was read and committed."""
    from pyspark.sql import functions as F

    clock = Clock()
    lake = Lake.from_config(cfg)
    run_id = new_run_id("dedup")
    scores_version, scores = read_snapshot(spark, lake, SILVER_SCORES,
                                           columns=["sha256", "note_hash", "minhash", "note_count"])
    report = JobReport("dedup", run_id, inputs={SILVER_SCORES.name: scores_version})
    if scores is None:
        report.note = f"{SILVER_SCORES.name} holds no pieces yet"
    elif lake.already_committed(SILVER_DUPLICATES, APP_ID, scores_version):
        report.note = f"{SILVER_SCORES.name}@v{scores_version} already deduplicated"
    if report.note:
        report.elapsed_s = clock.elapsed()
        return report

    rows = scores.join(F.broadcast(candidates(spark, scores)), "sha256").collect()
    clusters = build_clusters([r["sha256"] for r in rows], [r["note_hash"] for r in rows],
                              [r["minhash"] for r in rows], [r["note_count"] for r in rows])
    current = {r["sha256"]: r for r in lake.read(SILVER_DUPLICATES, columns=VALUE_COLUMNS).to_pylist()}
    changed = [c for c in clusters if current.get(c["sha256"]) != c]
    metadata = dict(job="dedup", job_run_id=run_id, source_table=SILVER_SCORES.name, source_version=scores_version,
                    code_version=code_version(), candidates=len(rows))
    if changed:
        now = datetime.now(timezone.utc)
        table = pa.Table.from_pylist([dict(c, source_table=SILVER_SCORES.name, source_version=scores_version,
                                           job_run_id=run_id, code_version=code_version(), processed_at=now)
                                      for c in changed], schema=SILVER_DUPLICATES.schema)
        version, updated, inserted = lake.upsert(SILVER_DUPLICATES, table, app_id=APP_ID, app_version=scores_version,
                                                 metadata=metadata)
        report.outputs[SILVER_DUPLICATES.name] = (version, inserted)
        updated_n = updated
    else:  # nothing new: an empty commit records the input version as done
        report.outputs[SILVER_DUPLICATES.name] = lake.commit_files(SILVER_DUPLICATES, run_id, app_id=APP_ID,
                                                                   app_version=scores_version, metadata=metadata)
        updated_n = 0
    n_clusters = len({c["cluster_id"] for c in clusters})
    report.counts = dict(candidates=len(rows), clusters=n_clusters, in_clusters=len(clusters),
                         exact=sum(c["method"] == "exact" for c in clusters),
                         near=sum(c["method"] == "near" for c in clusters), updated=updated_n)
    report.elapsed_s = clock.elapsed()
    return report
