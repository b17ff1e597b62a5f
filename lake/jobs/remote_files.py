"""Spark over a lake on an object store: the executors read and write the parquet files with pyarrow.

pyspark ships no Hadoop S3 connector (``s3a://`` needs hadoop-aws and the AWS SDK, from Maven),
and the Hadoop connectors take credentials from Hadoop settings or the environment, not from
``lake.storage_options``. So for a lake that is not a local folder the jobs do not hand paths to
Spark's file sources. Instead:

* :func:`read_files`: the driver lists the pinned snapshot's files with their sizes
  (:meth:`lake.delta.Lake.snapshot_file_sizes`, from the Delta log),
  packs them into tasks of about ``spark.sql.files.maxPartitionBytes``, and each task opens its
  files with :func:`lake.objectstore.filesystem` (built from the same options delta-rs uses) and
  streams their row batches to Spark (``mapInArrow``). A column a file lacks (added to the table
  after the file was written) reads as null, as Spark's own reader does with the spec's schema.
* :func:`write_files`: each task writes its rows as one parquet file into the staging folder, named
  by partition and attempt, and returns the name; the driver commits exactly the files of the
  successful attempts (:meth:`lake.delta.Lake.commit_files` with ``paths``).

The options travel inside the task closures (never in the executors' environment or Spark conf).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from lake.delta import Lake
from lake.schemas import TableSpec
from lake.spark import spark_ddl

BINARY_BATCH_ROWS = 64  # rows per batch when a binary column (MIDI bytes, up to MiBs each) is read
BATCH_ROWS = 4096
WRITTEN = pa.schema([pa.field("path", pa.string()), pa.field("rows", pa.int64())])


def pack(files: list[tuple[str, int]], target_bytes: int) -> list[list[str]]:
    """Files grouped into tasks of about ``target_bytes`` each (a bigger file is a task of its own); order kept."""
    groups, current, size = [], [], 0
    for uri, n in files:
        if current and size + n > target_bytes:
            groups.append(current)
            current, size = [], 0
        current.append(uri)
        size += n
    if current:
        groups.append(current)
    return groups


def _conformed(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch with exactly ``schema``'s columns: a missing one as nulls, every one cast to its type."""
    have = set(batch.schema.names)
    arrays = [batch.column(f.name).cast(f.type) if f.name in have else pa.nulls(batch.num_rows, f.type) for f in schema]
    loose = pa.schema([f.with_nullable(True) for f in schema])  # Spark declares every output column nullable
    return pa.RecordBatch.from_arrays(arrays, schema=loose)


def read_files(spark, lake: Lake, spec: TableSpec, files: list[tuple[str, int]], columns: list[str] | None = None):
    """A DataFrame of the snapshot ``files`` with the spec's schema (``columns`` only), read by the executors."""
    schema = pa.schema([spec.schema.field(c) for c in (columns or spec.schema.names)])
    target = int(spark.conf.get("spark.sql.files.maxPartitionBytes", "134217728").rstrip("b"))
    groups = pack(files, target)
    rows = BINARY_BATCH_ROWS if any(pa.types.is_binary(f.type) for f in schema) else BATCH_ROWS

    def read(batches):
        for ids in batches:
            for i in ids.column("id").to_pylist():
                for uri in groups[i]:
                    fs, path = lake.filesystem(uri)
                    with fs.open_input_file(path) as handle:
                        pf = pq.ParquetFile(handle)
                        present = [c for c in schema.names if c in pf.schema_arrow.names]
                        for batch in pf.iter_batches(batch_size=rows, columns=present):
                            yield _conformed(batch, schema)

    return spark.range(len(groups), numPartitions=max(1, len(groups))).mapInArrow(read, spark_ddl(schema))


def write_files(df, lake: Lake, spec: TableSpec, folder_uri: str) -> list[str]:
    """Write ``df`` (already conformed to ``spec``) as parquet files under ``folder_uri``; returns their names.

    One file per task that had rows, named ``part-<partition>-<attempt>.parquet``: a retried attempt
    writes a file of its own, and only the names the successful attempts return are committed.
    """
    schema = spec.schema

    def write(batches):
        from pyspark import TaskContext

        ctx = TaskContext.get()
        name = f"part-{ctx.partitionId():05d}-{ctx.attemptNumber()}.parquet" if ctx else "part-00000-0.parquet"
        fs, folder = lake.filesystem(folder_uri)
        writer, rows = None, 0
        try:
            for batch in batches:
                if not batch.num_rows:
                    continue
                if writer is None:
                    fs.create_dir(folder, recursive=True)
                    writer = pq.ParquetWriter(f"{folder}/{name}", schema, filesystem=fs)
                writer.write_batch(pa.RecordBatch.from_arrays(
                    [batch.column(f.name).cast(f.type) for f in schema], schema=schema))
                rows += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        if writer is not None:
            yield pa.RecordBatch.from_arrays([pa.array([name]), pa.array([rows], pa.int64())], schema=WRITTEN)

    out = df.mapInArrow(write, spark_ddl(WRITTEN)).toArrow()
    return out.column("path").to_pylist()
