"""What every Spark job of the lake shares: its report, pinned reads, lineage, and the commit path.

Spark reads the parquet files of one pinned Delta version (:meth:`Lake.snapshot_files`) and
writes parquet into the output table's staging folder (on an object store the executors do both
with pyarrow: :mod:`lake.jobs.remote_files`), which :meth:`Lake.commit_files` commits
with an app transaction ``(app_id, input version)``. An output with no rows is still committed
(an empty commit) so that the transaction records the input version as done and a re-run skips.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

from lake.delta import Lake, local_path
from lake.jobs.per_file import ROWS_PER_BATCH, Lineage, PerFileJob, run_per_file
from lake.schemas import TableSpec
from lake.spark import spark_ddl, spark_type
from common.progress import Progress
from common.runinfo import code_version


@dataclass
class JobReport:
    job: str
    run_id: str
    inputs: dict[str, int] = field(default_factory=dict)  # table -> pinned version
    outputs: dict[str, tuple[int, int]] = field(default_factory=dict)  # table -> (version, rows added)
    counts: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    note: str = ""

    def summary(self) -> str:
        ins = ", ".join(f"{t}@v{v}" for t, v in self.inputs.items()) or "-"
        outs = ", ".join(f"{t}@v{v} (+{n})" for t, (v, n) in self.outputs.items()) or "nothing committed"
        line = f"{self.job} {self.run_id}: {ins} -> {outs} in {self.elapsed_s:.1f}s"
        if self.counts:
            line += "; " + " ".join(f"{k}={v}" for k, v in self.counts.items())
        return line + (f" ({self.note})" if self.note else "")


class Clock:
    """Elapsed seconds since the job started."""

    def __init__(self):
        self.t0 = time.monotonic()

    def elapsed(self) -> float:
        return round(time.monotonic() - self.t0, 3)


def read_snapshot(spark, lake: Lake, spec: TableSpec, columns: list[str] | None = None, version: int | None = None):
    """(pinned version, DataFrame) of the table at ``version`` (default: now); the DataFrame is None when it has no files.

    Spark reads the snapshot's parquet files with the spec's schema, so files written before a
    column was added read it as null (no per-file schema merging, no surprises).
    """
    if not lake.local:  # an object store: the executors read the files (lake/jobs/remote_files.py)
        from lake.jobs.remote_files import read_files

        version, sized = lake.snapshot_file_sizes(spec, version)
        return version, read_files(spark, lake, spec, sized, columns) if sized else None
    version, files = lake.snapshot_files(spec, version)
    if not files:
        return version, None
    df = spark.read.schema(spark_ddl(spec.schema)).parquet(*[local_path(f) for f in files])
    return version, df.select(*columns) if columns else df


def read_optional(spark, lake: Lake, spec: TableSpec | None, columns: list[str] | None = None):
    """Like :func:`read_snapshot` for an input that may not exist yet (another job's table): (None, None) then."""
    if spec is None or not lake.exists(spec):
        return None, None
    return read_snapshot(spark, lake, spec, columns)


def lineage_metadata(job: str, run_id: str, source: TableSpec, source_version: int, **more) -> dict:
    """The commit metadata every job stamps on its commits (``Lake.history`` reads it back)."""
    return dict(job=job, job_run_id=run_id, source_table=source.name, source_version=source_version,
                code_version=code_version(), **{k: v for k, v in more.items() if v is not None})


def keys_of(spark, lake: Lake, spec: TableSpec, where=None):
    """The ``sha256`` keys in the table's current snapshot (an empty DataFrame when none)."""
    _, df = read_snapshot(spark, lake, spec)
    if df is None:
        return spark.createDataFrame([], "sha256 string")
    return (df.where(where) if where is not None else df).select("sha256").distinct()


def with_lineage(df, source_table: str, source_version: int, run_id: str):
    """Add the lineage columns every silver and gold row carries (one timestamp per run)."""
    from pyspark.sql import functions as F

    now = datetime.now(timezone.utc)
    return df.select("*", F.lit(source_table).alias("source_table"),
                     F.lit(int(source_version)).cast("bigint").alias("source_version"),
                     F.lit(run_id).alias("job_run_id"), F.lit(code_version()).alias("code_version"),
                     F.lit(now).cast("timestamp").alias("processed_at"))


def conform(df, spec: TableSpec):
    """Exactly the table's columns, in order, cast to its types; a nullable column the job does not produce is null."""
    from pyspark.sql import functions as F

    missing = [f.name for f in spec.schema if f.name not in df.columns and not f.nullable]
    if missing:
        raise ValueError(f"{spec.name}: job output lacks columns {missing}")
    return df.select(*[(F.col(f.name) if f.name in df.columns else F.lit(None)).cast(spark_type(f.type)).alias(f.name)
                       for f in spec.schema])


def write_and_commit(df, lake: Lake, spec: TableSpec, run_id: str, app_id: str, app_version: int,
                     metadata: dict) -> tuple[int, int]:
    """Write ``df`` as parquet into the run's staging folder and commit it; returns (version, rows added).

    Skips an output that already holds this input version's commit (a re-run after a crash
    between two outputs' commits completes only the missing ones).
    """
    if lake.already_committed(spec, app_id, app_version):
        return lake.version(spec), 0
    if not lake.local:  # an object store: the executors write the files (lake/jobs/remote_files.py)
        from lake.jobs.remote_files import write_files

        names = write_files(conform(df, spec), lake, spec, lake.staging_dir(spec, run_id))
        return lake.commit_files(spec, run_id, app_id=app_id, app_version=app_version, metadata=metadata,
                                 paths=names)
    if df.limit(1).count():
        conform(df, spec).write.mode("overwrite").parquet(local_path(lake.staging_dir(spec, run_id)))
    return lake.commit_files(spec, run_id, app_id=app_id, app_version=app_version, metadata=metadata)


def lineage(source: TableSpec, source_version: int, run_id: str) -> Lineage:
    """The lineage a per-file job stamps on its rows (one timestamp per run)."""
    return Lineage(source.name, int(source_version), run_id, code_version(), datetime.now(timezone.utc))


@contextmanager
def spark_conf(spark, settings: dict[str, str]):
    """Run the block with these Spark SQL settings (the previous values restored after)."""
    previous = {k: spark.conf.get(k, None) for k in settings}
    for k, v in settings.items():
        spark.conf.set(k, str(v))
    try:
        yield
    finally:
        for k, v in previous.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


def run_job(spark, lake: Lake, job: PerFileJob, cfg, report: JobReport, clock: Clock, input_spec: TableSpec,
            statuses: tuple[str, ...] = ("ok", "quarantined")) -> JobReport:
    """Run a per-file job (:mod:`lake.jobs.per_file`) and close its report: counts, commits, the progress line."""
    progress = Progress(job.name, unit="files", every_s=0.0)  # one line per committed chunk
    # Arrow batches to Python capped at ROWS_PER_BATCH files; scan splits of at most partition_bytes
    settings = {"spark.sql.execution.arrow.maxRecordsPerBatch": ROWS_PER_BATCH,
                "spark.sql.files.maxPartitionBytes": job.partition_bytes}
    with spark_conf(spark, settings):
        by_status, report.outputs = run_per_file(spark, lake, job, cfg.lake.chunk_files, lake.info(input_spec),
                                                 progress)
    report.counts = dict(files_in=sum(by_status.values()), **{s: by_status.get(s, 0) for s in statuses})
    progress.close()
    report.elapsed_s = clock.elapsed()
    return report
