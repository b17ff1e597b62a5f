"""How a per-file Spark job (features, encode) runs: one pass over the bytes, outputs staged by the executors.

Spark reads the pinned bronze snapshot and hands each task's rows to Python (``mapInArrow``, in
batches of :data:`ROWS_PER_BATCH`). The Python worker runs the job's per-file function, which
returns rows for each output table, and writes them itself as parquet files into that table's
staging folder (``<table>/spark/<run_id>/``), already conformed to the table's schema and stamped
with the lineage columns. What goes back to the JVM is only a small summary: each file's status,
and the files written (table, path, rows). So the job's results are never cached or shuffled in
Spark, memory stays flat as the input grows, and each file is parsed once per job.

The driver then commits exactly the files the successful task attempts reported
(:meth:`lake.delta.Lake.commit_files` with ``paths``), one commit per output with the app
transaction ``(app_id, input version)``. A failed or retried attempt writes under its own attempt
number and is never committed; a run killed before its commits leaves only uncommitted staging
files, and the re-run does the work again. Per output, rows whose key the table already holds
(a crash between two outputs' commits) are not written again.

The pending files are cut into chunks of at most ``lake.chunk_files`` (by a hash of the key), each
chunk committed before the next starts, so a job killed mid-way over a Lakh-sized input keeps the
chunks it finished and the re-run does only the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lake.delta import Lake
from lake.schemas import TableSpec

ROWS_PER_BATCH = 64  # Arrow rows per batch to a Python worker: at most 64 files (4 MiB each) in flight
TASKS_PER_CORE = 4  # at least this many tasks per core, so the last wave of tasks leaves no core idle for long
FLUSH_ROWS = 2048  # rows of one output buffered in a worker before they are written as a parquet file
FLUSH_VALUES = 2_000_000  # ... or this many list elements (token ids), whichever comes first

SUMMARY_SCHEMA = pa.schema([
    pa.field("sha256", pa.string()), pa.field("status", pa.string()), pa.field("reason", pa.string()),
    pa.field("table", pa.string()), pa.field("path", pa.string()), pa.field("rows", pa.int64()),
])


@dataclass(frozen=True)
class Lineage:
    """The lineage columns every silver and gold row carries (one timestamp per run)."""

    source_table: str
    source_version: int
    job_run_id: str
    code_version: str
    processed_at: datetime

    def columns(self) -> dict:
        return dict(source_table=self.source_table, source_version=int(self.source_version),
                    job_run_id=self.job_run_id, code_version=self.code_version, processed_at=self.processed_at)


def _offsets(lengths) -> pa.Array:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.array(offsets)


def column(values: list, type_: pa.DataType) -> pa.Array:
    """An arrow column of ``type_``; integer lists given as numpy arrays are built from their buffers."""
    if pa.types.is_list(type_) and pa.types.is_integer(type_.value_type) and any(
            isinstance(v, np.ndarray) for v in values):
        dtype = type_.value_type.to_pandas_dtype()
        present = [np.asarray(v, dtype=dtype) for v in values if v is not None]
        flat = pa.array(np.concatenate(present) if present else np.zeros(0, dtype=dtype), type=type_.value_type)
        nulls = [v is None for v in values]
        return pa.ListArray.from_arrays(_offsets([0 if v is None else len(v) for v in values]), flat,
                                        mask=pa.array(nulls) if any(nulls) else None)
    return pa.array(values, type=type_)


def to_table(rows: list[dict], spec: TableSpec, lineage: Lineage) -> pa.Table:
    """Rows as an arrow table of exactly ``spec``'s schema with the lineage columns; a missing required value is an error."""
    stamp = lineage.columns()
    arrays = []
    for f in spec.schema:
        if f.name in stamp:
            arrays.append(pa.array([stamp[f.name]] * len(rows), type=f.type))
            continue
        arr = column([r.get(f.name) for r in rows], f.type)
        if not f.nullable and arr.null_count:
            raise ValueError(f"{spec.name}.{f.name}: {arr.null_count} rows lack this required value")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=spec.schema)


def _n_values(rows: list[dict]) -> int:
    return sum(len(v) for r in rows for v in r.values() if isinstance(v, (np.ndarray, list)))


class StagedWriter:
    """Executor side: buffers each output's rows and writes them as parquet into the table's staging folder.

    File names carry the task's partition, attempt and a sequence number, so two attempts of a task
    never write the same file; :meth:`add` and :meth:`close` return the files written.
    """

    def __init__(self, lake: Lake, specs: list[TableSpec], run_id: str, lineage: Lineage, task: str):
        self.lake = lake
        self.specs = {s.name: s for s in specs}
        self.run_id, self.lineage, self.task = run_id, lineage, task
        self.buffers: dict[str, list[dict]] = {name: [] for name in self.specs}
        self.values = {name: 0 for name in self.specs}
        self.seq = 0

    def add(self, table: str, rows: list[dict]) -> list[tuple[str, str, int]]:
        if not rows:
            return []
        self.buffers[table].extend(rows)
        self.values[table] += _n_values(rows)
        if len(self.buffers[table]) >= FLUSH_ROWS or self.values[table] >= FLUSH_VALUES:
            return [self._write(table)]
        return []

    def close(self) -> list[tuple[str, str, int]]:
        return [self._write(t) for t, rows in self.buffers.items() if rows]

    def _write(self, table: str) -> tuple[str, str, int]:
        spec, rows = self.specs[table], self.buffers[table]
        data = to_table(rows, spec, self.lineage)
        fs, folder = self.lake.filesystem(self.lake.staging_dir(spec, self.run_id))
        fs.create_dir(folder, recursive=True)
        name = f"part-{self.task}-{self.seq:05d}.parquet"
        self.seq += 1
        pq.write_table(data, f"{folder}/{name}", filesystem=fs)
        self.buffers[table], self.values[table] = [], 0
        return table, name, data.num_rows


def slices(batches, rows: int = ROWS_PER_BATCH):
    """Arrow batches cut to at most ``rows`` rows (whatever size Spark sends)."""
    for batch in batches:
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


def summary_batch(statuses: list[tuple[str, str, str | None]], files: list[tuple[str, str, int]]) -> pa.RecordBatch:
    n, m = len(statuses), len(files)
    return pa.RecordBatch.from_arrays([
        pa.array([s[0] for s in statuses] + [None] * m, pa.string()),
        pa.array([s[1] for s in statuses] + [None] * m, pa.string()),
        pa.array([s[2] for s in statuses] + [None] * m, pa.string()),
        pa.array([None] * n + [f[0] for f in files], pa.string()),
        pa.array([None] * n + [f[1] for f in files], pa.string()),
        pa.array([None] * n + [f[2] for f in files], pa.int64()),
    ], schema=SUMMARY_SCHEMA)


def partition_function(make_process, lake: Lake, specs: list[TableSpec], run_id: str, lineage: Lineage,
                       skip: dict[str, frozenset[str]], chunk: int = 0):
    """The ``mapInArrow`` function: input rows in, each file's status and the staged files out.

    ``make_process()`` runs once per task and returns ``process(row) -> (status, reason, {table: rows})``;
    ``skip`` names, per output, keys whose rows are not written (the table holds them already);
    ``chunk`` goes into the file names (each chunk is a Spark job of its own, its task numbers from 0).
    """

    def run(batches):
        from pyspark import TaskContext

        ctx = TaskContext.get()
        where = f"{ctx.partitionId():05d}-{ctx.attemptNumber()}" if ctx is not None else "00000-0"
        task = f"c{chunk:05d}-{where}"
        process = make_process()
        writer = StagedWriter(lake, specs, run_id, lineage, task)
        for batch in slices(batches):
            statuses, files = [], []
            for row in batch.to_pylist():
                status, reason, outputs = process(row)
                statuses.append((row["sha256"], status, reason))
                for table, rows in outputs.items():
                    if table not in writer.specs:  # an output this input version has already been committed to
                        continue
                    held = skip.get(table)
                    files += writer.add(table, [r for r in rows if r["sha256"] not in held] if held else rows)
            yield summary_batch(statuses, files)
        files = writer.close()
        if files:
            yield summary_batch([], files)

    return run


@dataclass
class ChunkResult:
    by_status: dict[str, int]
    files: dict[str, list[tuple[str, int]]]  # table -> [(path relative to the staging folder, rows)]


def run_chunk(pending, partitions: int | None, function) -> ChunkResult:
    """Run the per-file function over ``pending`` (a DataFrame) and gather the summary on the driver.

    ``partitions``: spread the rows over that many tasks first (a shuffle of the input); None keeps
    the scan's own splits (enough when the input has enough files: no bytes are shuffled).
    """
    from lake.spark import spark_ddl

    if partitions:
        pending = pending.repartition(partitions)
    summary = pending.mapInArrow(function, spark_ddl(SUMMARY_SCHEMA)).toArrow()
    by_status: dict[str, int] = {}
    files: dict[str, list[tuple[str, int]]] = {}
    for sha, status, table, path, rows in zip(*(summary.column(c).to_pylist()
                                                for c in ("sha256", "status", "table", "path", "rows"))):
        if sha is not None:
            by_status[status] = by_status.get(status, 0) + 1
        else:
            files.setdefault(table, []).append((path, rows))
    return ChunkResult(by_status, files)


def held_keys(keys: dict, done) -> dict[str, frozenset[str]]:
    """Per output, the pending keys it already holds (normally none: left by a crash between two commits).

    Only ``done`` keys leave the pending set and every output key is an input key, so what an output
    holds beyond ``done`` is exactly what is pending and must not be written to it twice. Only key
    columns are read: no input bytes.
    """
    from pyspark.sql import functions as F

    frames = [k.join(F.broadcast(done), "sha256", "left_anti").withColumn("table", F.lit(spec.name))
              for spec, k in keys.items()]
    union = frames[0]
    for f in frames[1:]:
        union = union.unionByName(f)
    held: dict[str, set[str]] = {}
    for row in union.collect():
        held.setdefault(row["table"], set()).add(row["sha256"])
    return {t: frozenset(v) for t, v in held.items()}


def chunks(pending, n_input: int, chunk_files: int):
    """``pending`` cut into parts of at most about ``chunk_files`` rows of the input (by a hash of the key, stable across runs)."""
    from pyspark.sql import functions as F

    n = max(1, -(-n_input // max(chunk_files, 1)))
    if n == 1:
        yield 0, 1, pending
        return
    bucket = F.pmod(F.xxhash64("sha256"), F.lit(n))
    for i in range(n):
        yield i, n, pending.where(bucket == i)


def commit_staged(lake: Lake, spec: TableSpec, run_id: str, files: list[tuple[str, int]], txns: list[tuple[str, int]],
                  metadata: dict) -> tuple[int, int]:
    """Commit the staged files one chunk wrote for ``spec`` (the last chunk carries the app transactions)."""
    return lake.commit_files(spec, run_id, None, None, metadata, paths=[p for p, _ in files], txns=txns)


@dataclass
class Stage:
    """One job's share of a per-file pass: its outputs, what they hold, and its app transaction.

    ``app_version`` is the input version the outputs are committed for, or a function of the
    versions committed so far in the pass (encode inside a fused pass: the new silver_scores version).
    """

    app_id: str
    app_version: object  # int | (dict[table name, version committed] -> int)
    keys: dict  # output TableSpec -> DataFrame of the keys it holds
    done: object  # DataFrame of the keys this stage has finished (every output holds it, or it was quarantined)

    def version(self, committed: dict[str, int]) -> int:
        return self.app_version(committed) if callable(self.app_version) else int(self.app_version)


@dataclass
class PerFileJob:
    """What a per-file job hands :func:`run_per_file`: its input, its stages' outputs, the function run on each file."""

    name: str
    pending: object  # DataFrame of the input rows still to do (with the columns ``make_process`` reads)
    done: object  # DataFrame of the keys left out of ``pending``: an output's other keys are pending ones it holds
    stages: list[Stage]
    run_id: str
    lineage: Lineage
    make_process: object  # () -> process(row) -> (status, reason, {table name: [rows]})
    metadata: dict
    partition_bytes: int  # input bytes per Spark task: the scan split size, and the shuffle target when files are few

    def outputs(self) -> list[TableSpec]:
        """Every output in commit order (a table two stages share comes once, at its last stage)."""
        seen: dict[str, TableSpec] = {}
        for stage in self.stages:
            for spec in stage.keys:
                seen.pop(spec.name, None)
                seen[spec.name] = spec
        return list(seen.values())


def run_per_file(spark, lake: Lake, job: PerFileJob, chunk_files: int, input_info, progress) -> tuple[dict, dict]:
    """Run ``job`` chunk by chunk (``input_info``: the input table's :class:`~lake.delta.TableInfo`, for sizing);
    returns ({status: files}, {table: (version, rows added)}).

    An output already committed for a fixed-version stage is closed: nothing is written to it.
    """
    outputs = job.outputs()
    closed = {spec.name for st in job.stages if not callable(st.app_version) for spec in st.keys
              if lake.already_committed(spec, st.app_id, st.version({}))}
    open_specs = [s for s in outputs if s.name not in closed]
    held: dict[str, frozenset[str]] = {}
    for st in job.stages:
        filled = {s: k for s, k in st.keys.items() if s.name not in closed and lake.info(s).rows}
        for table, keys in (held_keys(filled, job.done) if filled else {}).items():
            held[table] = held.get(table, frozenset()) | keys
    by_status: dict[str, int] = {}
    committed = {s.name: (lake.version(s), 0) for s in outputs}
    parallelism = spark.sparkContext.defaultParallelism
    for i, n, part in chunks(job.pending, input_info.rows, chunk_files):
        last = i == n - 1
        # enough input files: the scan's splits (about one file each) spread the work; else a shuffle spreads the rows
        partitions = (None if input_info.files >= TASKS_PER_CORE * parallelism
                      else max(TASKS_PER_CORE * parallelism, -(-(input_info.size_bytes // n) // job.partition_bytes)))
        fn = partition_function(job.make_process, lake, open_specs, job.run_id, job.lineage, held, chunk=i)
        result = run_chunk(part, partitions, fn)
        for status, count in result.by_status.items():
            by_status[status] = by_status.get(status, 0) + count
        versions = {name: v for name, (v, _) in committed.items()}
        for spec in open_specs:  # an output with no rows is still committed on the last chunk (the txn says done)
            files = result.files.get(spec.name, [])
            if not files and not last:
                continue
            txns = [(st.app_id, st.version(versions)) for st in job.stages if spec in st.keys] if last else []
            version, rows = commit_staged(lake, spec, job.run_id, files, txns, dict(job.metadata, chunk=f"{i + 1}/{n}"))
            committed[spec.name] = (version, committed[spec.name][1] + rows)
            versions[spec.name] = version
        progress.advance(sum(result.by_status.values()), **result.by_status)
    return by_status, committed
