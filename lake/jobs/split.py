"""Spark job: silver_scores (+ duplicate clusters) → gold_splits, and the split column of the gold tables.

Every parsed piece gets train, validation or test, drawn per duplicate cluster so that a cluster
never straddles two splits: the clusters come from the dedup job's table when it exists (near
duplicates, transposition-invariant), else each piece is its own cluster (its content hash; exact
duplicates cannot occur, bronze holds one row per sha256).

Assignments are sticky: a cluster whose members already hold a split keeps it; when a new
duplicate joins two clusters that hold different splits, the merged cluster takes the most
protected one (test, then validation, then train) so that no evaluation piece ever leaks into
training. A new cluster draws its split from a hash of its id (:func:`lake.vocab.split_of`), so the same
clusters give the same splits on any machine. The job reconciles state rather than appending: it
computes the assignment, upserts only the rows that changed into ``gold_splits``, then brings the
``split`` column of ``gold_text_music_pairs`` and ``gold_lyric_segments`` in line. A re-run, or a run
after a crash, finds nothing (or only the missing part) to change and commits nothing else.
"""

from __future__ import annotations

import pyarrow as pa

from lake.delta import Lake
from lake.jobs.common import Clock, JobReport, lineage_metadata, read_optional, read_snapshot
from lake.schemas import GOLD_LYRIC_SEGMENTS, GOLD_PAIRS, GOLD_SPLITS, SILVER_SCORES, TABLES
from lake.vocab import split_of
from common.runinfo import code_version, new_run_id


def duplicates_spec():
    """The dedup job's table (``sha256``, ``cluster_id``), when the lake defines one."""
    for spec in TABLES.values():
        if spec.layer == "silver" and "dup" in spec.name and {"sha256", "cluster_id"} <= set(spec.columns):
            return spec
    return None


def assign_splits(spark, pieces, clusters, existing):
    """DataFrame (sha256, cluster_id, cluster_method, cluster_size, split) for every piece.

    ``pieces``: sha256; ``clusters``: sha256, cluster_id (or None); ``existing``: sha256, split (or None).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if clusters is not None:
        if "processed_at" in clusters.columns:  # the latest assignment of each piece
            latest = Window.partitionBy("sha256").orderBy(F.col("processed_at").desc(), F.col("cluster_id"))
            clusters = clusters.withColumn("_n", F.row_number().over(latest)).where(F.col("_n") == 1)
        df = pieces.join(clusters.select("sha256", F.col("cluster_id").cast("string").alias("dup_cluster"))
                         .dropDuplicates(["sha256"]), "sha256", "left")
    else:
        df = pieces.withColumn("dup_cluster", F.lit(None).cast("string"))
    df = df.select("sha256", F.coalesce("dup_cluster", "sha256").alias("cluster_id"),
                   F.when(F.col("dup_cluster").isNull(), "content_hash").otherwise("duplicate_cluster")
                   .alias("cluster_method"))
    if existing is not None:
        df = df.join(existing.select("sha256", F.col("split").alias("held")), "sha256", "left")
    else:
        df = df.withColumn("held", F.lit(None).cast("string"))
    rank = F.when(F.col("held") == "test", 2).when(F.col("held") == "validation", 1).when(F.col("held") == "train", 0)
    cluster = Window.partitionBy("cluster_id")
    draw = F.udf(lambda cluster_id: split_of(cluster_id), "string")
    protected = F.max(rank).over(cluster)
    return (df.withColumn("cluster_size", F.count("*").over(cluster).cast("int"))
            .withColumn("protected", protected)
            .withColumn("split", F.when(F.col("protected") == 2, "test").when(F.col("protected") == 1, "validation")
                        .when(F.col("protected") == 0, "train").otherwise(draw("cluster_id")))
            .select("sha256", "cluster_id", "cluster_method", "cluster_size", "split"))


def run_split(cfg, spark) -> JobReport:
    """Assign (or re-assign) the split of every parsed piece; returns what was read and committed."""
    from pyspark.sql import functions as F

    clock = Clock()
    lake = Lake.from_config(cfg)
    run_id = new_run_id("split")
    silver_version, scores = read_snapshot(spark, lake, SILVER_SCORES, columns=["sha256"])
    report = JobReport("split", run_id, inputs={SILVER_SCORES.name: silver_version})
    if scores is None:
        report.note = f"{SILVER_SCORES.name} holds no files yet"
        report.elapsed_s = clock.elapsed()
        return report
    dup = duplicates_spec()
    dup_version, clusters = read_optional(spark, lake, dup, ["sha256", "cluster_id", "processed_at"])
    if dup_version is not None:
        report.inputs[dup.name] = dup_version
    splits_version, existing = read_optional(spark, lake, GOLD_SPLITS,
                                             ["sha256", "cluster_id", "cluster_method", "cluster_size", "split"])
    report.inputs[GOLD_SPLITS.name] = splits_version if splits_version is not None else -1

    assigned = assign_splits(spark, scores.distinct(), clusters, existing).cache()
    try:
        if existing is not None:
            old = existing.select("sha256", *[F.col(c).alias(f"old_{c}") for c in
                                              ("cluster_id", "cluster_method", "cluster_size", "split")])
            changed = (assigned.join(old, "sha256", "left")
                       .where(F.col("old_split").isNull() | (F.col("old_split") != F.col("split"))
                              | (F.col("old_cluster_id") != F.col("cluster_id"))
                              | (F.col("old_cluster_size") != F.col("cluster_size"))
                              | (F.col("old_cluster_method") != F.col("cluster_method")))
                       .select(*assigned.columns))
        else:
            changed = assigned
        rows = changed.toArrow()
        totals = {r["split"]: r["count"] for r in assigned.groupBy("split").count().collect()}
        metadata = lineage_metadata("split", run_id, SILVER_SCORES, silver_version,
                                    clusters_table=dup.name if dup_version is not None else None,
                                    clusters_version=dup_version)
        moved = 0
        if rows.num_rows:
            if existing is not None:
                moved = (changed.join(existing.select("sha256", F.col("split").alias("was")), "sha256")
                         .where(F.col("was") != F.col("split")).count())
            now = pa.scalar(_now(), type=pa.timestamp("us", tz="UTC"))
            n = rows.num_rows
            rows = (rows.append_column("source_table", pa.array([SILVER_SCORES.name] * n))
                    .append_column("source_version", pa.array([silver_version] * n, pa.int64()))
                    .append_column("job_run_id", pa.array([run_id] * n))
                    .append_column("code_version", pa.array([code_version()] * n))
                    .append_column("processed_at", pa.array([now.as_py()] * n, pa.timestamp("us", tz="UTC"))))
            version, updated, inserted = lake.upsert(GOLD_SPLITS, rows, metadata=metadata)
            report.outputs[GOLD_SPLITS.name] = (version, updated + inserted)
        final = assigned.select("sha256", "split", "cluster_id")
        for spec in (GOLD_PAIRS, GOLD_LYRIC_SEGMENTS):
            fixed = _sync_split(spark, lake, spec, final, metadata)
            if fixed:
                report.outputs[spec.name] = fixed
    finally:
        assigned.unpersist()
    report.counts = dict(pieces=sum(totals.values()), **{s: totals.get(s, 0) for s in ("train", "validation", "test")},
                         assigned=rows.num_rows, moved=moved)
    report.elapsed_s = clock.elapsed()
    return report


def _sync_split(spark, lake: Lake, spec, final, metadata) -> tuple[int, int] | None:
    """Update ``split`` (and the pairs' ``cluster_id``) of a gold table where it differs from ``final``."""
    from pyspark.sql import functions as F

    _, df = read_optional(spark, lake, spec, ["sha256", "split"])
    if df is None:
        return None
    stale = (df.select("sha256", F.col("split").alias("was")).distinct().join(final, "sha256")
             .where(F.col("was") != F.col("split")).select("sha256", "split", "cluster_id").distinct())
    data = stale.toArrow()
    if not data.num_rows:
        return None
    columns = ["split", "cluster_id"] if "cluster_id" in spec.columns else ["split"]
    return lake.update_columns(spec, data.select(["sha256", *columns]), on=("sha256",), columns=columns,
                               metadata=metadata)


def _now():
    from datetime import datetime, timezone
    return datetime.now(timezone.utc)
