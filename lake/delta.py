"""The one code path between musiclake and its Delta tables (delta-rs).

Every writer goes through :class:`Lake`:

* Python writers (the crawler) call :meth:`Lake.append` or :meth:`Lake.insert_new` (a MERGE on the
  table's key, so landing the same row twice inserts it once).
* Spark jobs cannot load the Delta connector here, so they work on the files underneath:
  :meth:`Lake.snapshot_files` lists the parquet files of one pinned table version for
  ``spark.read.parquet``; the job writes parquet into ``<table>/<STAGING_DIR>/<run_id>/`` and
  :meth:`Lake.commit_files` commits those files with deltalake's transaction API. On an object
  store the executors do the reading and writing with pyarrow (:mod:`lake.jobs.remote_files`),
  through :meth:`Lake.filesystem`, opened from the same ``storage_options`` delta-rs takes.

Commits carry a Delta app transaction ``(app_id, version)``; :meth:`Lake.already_committed` tells a
job that it has committed that input version before, which makes a re-run after a crash commit
nothing twice.

Schemas evolve in place: when a spec gains nullable columns, :meth:`Lake.ensure` adds them to the
existing table (older files read them as null); anything else (a dropped, retyped or non-nullable
new column) is refused with one line naming it. Maintenance lives here too: :meth:`Lake.history`,
:meth:`Lake.optimize` (compaction, no data change) and :meth:`Lake.vacuum` (with a retention guard,
so every version younger than the retention window, and every version named in ``keep_versions``,
stays readable for training runs that pinned it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake import Schema as DeltaSchema
from deltalake.transaction import AddAction

from lake.objectstore import filesystem, is_local
from lake.schemas import TABLES, TableSpec

STAGING_DIR = "spark"
DEFAULT_RETENTION_HOURS = 168  # 7 days, Delta's own default for deletedFileRetentionDuration


class SchemaEvolutionError(ValueError):
    """A spec change that cannot be applied in place (the message names the table and the column)."""


class RetentionError(ValueError):
    """A vacuum that would make retained table versions unreadable."""


@dataclass(frozen=True)
class TableInfo:
    name: str
    layer: str
    version: int
    rows: int
    files: int
    size_bytes: int
    uri: str
    description: str = ""
    key: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Commit:
    """One entry of a table's history, with the job facts musiclake writes into its commits."""
    version: int
    timestamp: datetime
    operation: str
    job: str | None
    job_run_id: str | None
    metrics: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


class Lake:
    def __init__(self, uri: str, storage_options: dict[str, str] | None = None):
        self.uri = uri.rstrip("/")
        self.storage_options = dict(storage_options or {}) or None

    @classmethod
    def from_config(cls, cfg) -> "Lake":
        """Build from a :class:`common.config.Config` (or its ``lake`` section)."""
        section = getattr(cfg, "lake", cfg)
        return cls(section.uri, section.storage_options)

    # -- locating and opening -------------------------------------------------------------
    def table_uri(self, spec: TableSpec) -> str:
        return f"{self.uri}/{spec.name}"

    @property
    def local(self) -> bool:
        """Whether the lake is a local folder (Spark reads and writes its files itself then)."""
        return is_local(self.uri)

    def filesystem(self, uri: str | None = None) -> tuple[pafs.FileSystem, str]:
        """(pyarrow filesystem, path) for a URI under the lake, opened with ``storage_options``."""
        return filesystem(uri or self.uri, self.storage_options)

    def exists(self, spec: TableSpec) -> bool:
        return DeltaTable.is_deltatable(self.table_uri(spec), storage_options=self.storage_options)

    def ensure(self, spec: TableSpec) -> DeltaTable:
        """Open the table, creating it empty with its canonical schema on first use.

        An existing table that lacks some of the spec's columns gets them added in place (they must
        be nullable: rows written before read them as null).
        """
        uri = self.table_uri(spec)
        if not DeltaTable.is_deltatable(uri, storage_options=self.storage_options):
            if self.local:
                import os
                os.makedirs(local_path(uri), exist_ok=True)
            DeltaTable.create(uri, spec.schema, mode="ignore", partition_by=list(spec.partition_by) or None,
                              name=spec.name, description=spec.description, storage_options=self.storage_options)
        dt = DeltaTable(uri, storage_options=self.storage_options)
        if self._new_columns(spec, dt):
            dt = self._evolve(spec, dt)
        return dt

    @staticmethod
    def _new_columns(spec: TableSpec, dt: DeltaTable) -> list[pa.Field]:
        have = {f.name for f in dt.schema().fields}
        return [f for f in spec.schema if f.name not in have]

    def _evolve(self, spec: TableSpec, dt: DeltaTable) -> DeltaTable:
        """Add the spec's new (nullable) columns to the table; a concurrent writer adding them too is fine."""
        have = {f.name: f for f in dt.schema().fields}
        gone = [n for n in have if n not in spec.schema.names]
        if gone:
            raise SchemaEvolutionError(f"{spec.name}: table has columns {gone} the spec no longer defines; "
                                       "columns are never dropped in place")
        new = self._new_columns(spec, dt)
        required = [f.name for f in new if not f.nullable]
        if required:
            raise SchemaEvolutionError(f"{spec.name}: new columns {required} must be nullable to be added "
                                       "to a table that already holds rows")
        try:
            dt.alter.add_columns(DeltaSchema.from_arrow(pa.schema(new)).fields,
                                 commit_properties=self._props(None, None, {
                                     "job": "schema-evolution", "added_columns": ",".join(f.name for f in new)}))
        except Exception:
            dt = DeltaTable(self.table_uri(spec), storage_options=self.storage_options)
            if self._new_columns(spec, dt):  # not a lost race with another writer: a real failure
                raise
        return DeltaTable(self.table_uri(spec), storage_options=self.storage_options)

    def table(self, spec: TableSpec, version: int | None = None) -> DeltaTable:
        dt = self.ensure(spec)
        if version is not None:
            dt.load_as_version(version)
        return dt

    def version(self, spec: TableSpec) -> int:
        return self.ensure(spec).version()

    # -- reading --------------------------------------------------------------------------
    def read(self, spec: TableSpec, version: int | None = None, columns: list[str] | None = None,
             filters=None) -> pa.Table:
        return self.table(spec, version).to_pyarrow_table(columns=columns, filters=filters)

    def snapshot_files(self, spec: TableSpec, version: int | None = None) -> tuple[int, list[str]]:
        """The pinned version and the parquet file URIs of that snapshot (for Spark to read)."""
        dt = self.table(spec, version)
        return dt.version(), dt.file_uris()

    def snapshot_file_sizes(self, spec: TableSpec, version: int | None = None) -> tuple[int, list[tuple[str, int]]]:
        """The pinned version and ``(file URI, bytes)`` of each file of that snapshot, from its Delta log."""
        dt = self.table(spec, version)
        actions = dt.get_add_actions(flatten=True)
        if not actions.num_rows:
            return dt.version(), []
        base = self.table_uri(spec)
        return dt.version(), [(p if "://" in p else f"{base}/{unquote(p)}", int(n)) for p, n in
                              zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist())]

    # -- writing from Python --------------------------------------------------------------
    def _conform(self, spec: TableSpec, data: pa.Table) -> pa.Table:
        """Exactly the spec's columns, cast to its types; a nullable column the rows lack is filled with nulls."""
        missing = [f.name for f in spec.schema if f.name not in data.column_names and not f.nullable]
        if missing:
            raise ValueError(f"{spec.name}: rows lack columns {missing}")
        for f in spec.schema:
            if f.name not in data.column_names:
                data = data.append_column(f.name, pa.nulls(data.num_rows, f.type))
        return data.select(spec.schema.names).cast(spec.schema)

    def append(self, spec: TableSpec, data: pa.Table, app_id: str | None = None, app_version: int | None = None,
               metadata: dict | None = None) -> int:
        """Append rows; returns the new table version (unchanged when ``data`` is empty)."""
        dt = self.ensure(spec)
        if data.num_rows == 0:
            return dt.version()
        write_deltalake(dt, self._conform(spec, data), mode="append",
                        commit_properties=self._props(app_id, app_version, metadata))
        return DeltaTable(self.table_uri(spec), storage_options=self.storage_options).version()

    def insert_new(self, spec: TableSpec, data: pa.Table, metadata: dict | None = None) -> tuple[int, int]:
        """MERGE rows whose key is not in the table yet; returns (new version, rows inserted)."""
        dt = self.ensure(spec)
        if data.num_rows == 0:
            return dt.version(), 0
        data = self._conform(spec, data)
        predicate = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
        result = (dt.merge(data, predicate, source_alias="s", target_alias="t",
                           commit_properties=self._props(None, None, metadata))
                  .when_not_matched_insert_all().execute())
        return dt.version(), int(result.get("num_target_rows_inserted", 0))

    def upsert(self, spec: TableSpec, data: pa.Table, app_id: str | None = None, app_version: int | None = None,
               metadata: dict | None = None) -> tuple[int, int, int]:
        """MERGE on the table's key: update matching rows, insert the rest; returns (version, updated, inserted).

        With ``(app_id, app_version)`` the commit records an app transaction, and a call for a
        version already committed changes nothing.
        """
        dt = self.ensure(spec)
        if data.num_rows == 0 or (app_id is not None and self.already_committed(spec, app_id, app_version)):
            return dt.version(), 0, 0
        data = self._conform(spec, data)
        predicate = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
        result = (dt.merge(data, predicate, source_alias="s", target_alias="t",
                           commit_properties=self._props(app_id, app_version, metadata))
                  .when_matched_update_all().when_not_matched_insert_all().execute())
        return (dt.version(), int(result.get("num_target_rows_updated", 0)),
                int(result.get("num_target_rows_inserted", 0)))

    def update_columns(self, spec: TableSpec, data: pa.Table, on: tuple[str, ...], columns: list[str],
                       metadata: dict | None = None) -> tuple[int, int]:
        """Set ``columns`` of the rows matching ``data`` on ``on`` (a MERGE that inserts nothing); returns (version, rows updated).

        ``on`` may be a prefix of the key (every segment of a piece takes the piece's split).
        """
        dt = self.ensure(spec)
        if data.num_rows == 0:
            return dt.version(), 0
        predicate = " AND ".join(f"t.{k} = s.{k}" for k in on)
        result = (dt.merge(data, predicate, source_alias="s", target_alias="t",
                           commit_properties=self._props(None, None, metadata))
                  .when_matched_update({c: f"s.{c}" for c in columns}).execute())
        return dt.version(), int(result.get("num_target_rows_updated", 0))

    # -- committing files written by Spark ------------------------------------------------
    def staging_dir(self, spec: TableSpec, run_id: str) -> str:
        return f"{self.table_uri(spec)}/{STAGING_DIR}/{run_id}"

    def already_committed(self, spec: TableSpec, app_id: str, app_version: int) -> bool:
        done = self.ensure(spec).transaction_version(app_id)
        return done is not None and done >= app_version

    def commit_files(self, spec: TableSpec, run_id: str, app_id: str | None, app_version: int | None,
                     metadata: dict | None = None, paths: list[str] | None = None,
                     txns: list[tuple[str, int]] | None = None) -> tuple[int, int]:
        """Commit parquet files of the run's staging dir; returns (new version, rows added).

        ``paths`` (relative to the staging dir) names the files to commit; by default every parquet
        file under it. Idempotent per ``(app_id, app_version)``: a second call for an input version
        that was already committed commits nothing. Without an app id the caller keeps it exactly
        once (the per-file jobs commit only files they wrote for keys the table lacks). ``txns``
        records several app transactions in the one commit (a pass that does two jobs' work).
        """
        dt = self.ensure(spec)
        txns = list(txns or []) + ([(app_id, app_version)] if app_id is not None else [])
        if txns and all(self.already_committed(spec, a, v) for a, v in txns):
            return dt.version(), 0
        fs, root = self.filesystem(self.table_uri(spec))
        staging = f"{root}/{STAGING_DIR}/{run_id}"
        if paths is None:
            infos = [i for i in fs.get_file_info(pafs.FileSelector(staging, allow_not_found=True, recursive=True))
                     if i.type == pafs.FileType.File and i.base_name.endswith(".parquet")]
        else:
            infos = fs.get_file_info([f"{staging}/{p}" for p in paths])
            missing = [i.path for i in infos if i.type != pafs.FileType.File]
            if missing:
                raise FileNotFoundError(f"{spec.name}: staged files are missing: {missing[:3]}")
        actions, rows = [], 0
        for info in infos:
            with fs.open_input_file(info.path) as f:
                n = pq.ParquetFile(f).metadata.num_rows
            rows += n
            rel = info.path[len(root) + 1:]
            actions.append(AddAction(path=rel, size=info.size, partition_values={},
                                     modification_time=int((info.mtime.timestamp() if info.mtime else time.time()) * 1000),
                                     data_change=True, stats=json.dumps({"numRecords": n})))
        dt.create_write_transaction(actions, mode="append", schema=spec.schema,
                                    commit_properties=self._props(None, None, metadata, txns))
        return DeltaTable(self.table_uri(spec), storage_options=self.storage_options).version(), rows

    @staticmethod
    def _props(app_id, app_version, metadata, txns: list[tuple[str, int]] | None = None) -> CommitProperties:
        pairs = list(txns or []) + ([(app_id, app_version)] if app_id is not None else [])
        txns = [Transaction(app_id=a, version=int(v)) for a, v in pairs] or None
        meta = {k: str(v) for k, v in (metadata or {}).items()} or None
        return CommitProperties(custom_metadata=meta, app_transactions=txns)

    # -- history and maintenance ----------------------------------------------------------
    def history(self, spec: TableSpec, limit: int | None = None) -> list[Commit]:
        """The table's commits, newest first, with the job, run id and metadata musiclake stamped on them."""
        out = []
        for h in self.ensure(spec).history(limit):
            meta = {k: v for k, v in h.items() if k not in (
                "timestamp", "operation", "operationParameters", "operationMetrics", "engineInfo", "clientVersion",
                "version", "readVersion", "isBlindAppend", "txnId")}
            out.append(Commit(version=int(h["version"]),
                              timestamp=datetime.fromtimestamp(h["timestamp"] / 1000, tz=timezone.utc),
                              operation=h.get("operation", ""), job=meta.get("job"), job_run_id=meta.get("job_run_id"),
                              metrics=dict(h.get("operationMetrics") or {}), metadata=meta))
        return out

    def optimize(self, spec: TableSpec, target_size: int | None = None, metadata: dict | None = None) -> dict:
        """Compact small files into larger ones (a commit that changes no data); returns delta-rs's metrics."""
        dt = self.ensure(spec)
        before = dt.version()
        metrics = dt.optimize.compact(target_size=target_size,
                                      commit_properties=self._props(None, None, {"job": "optimize", **(metadata or {})}))
        after = DeltaTable(self.table_uri(spec), storage_options=self.storage_options).version()
        return dict(metrics, version_before=before, version_after=after)

    def vacuum(self, spec: TableSpec, retain_hours: int = DEFAULT_RETENTION_HOURS, dry_run: bool = False,
               force: bool = False, keep_versions: list[int] | None = None) -> list[str]:
        """Delete data files no version younger than ``retain_hours`` needs; returns the files (to be) deleted.

        Versions younger than the window, and the versions in ``keep_versions`` (pins), stay readable.
        A window shorter than :data:`DEFAULT_RETENTION_HOURS` is refused unless ``force`` is set:
        it can break time travel for a training run that pinned an older version.
        """
        if retain_hours < 0:
            raise RetentionError(f"{spec.name}: retain_hours must be >= 0, got {retain_hours}")
        if retain_hours < DEFAULT_RETENTION_HOURS and not force:
            raise RetentionError(
                f"{spec.name}: vacuum with retain_hours={retain_hours:g} < {DEFAULT_RETENTION_HOURS} would make versions "
                f"older than {retain_hours:g}h unreadable (time travel, pinned training data); pass force "
                "(--force) and name the versions to keep (--keep) if you mean it")
        dt = self.ensure(spec)
        current = dt.version()
        bad = [v for v in keep_versions or [] if not 0 <= v <= current]
        if bad:
            raise RetentionError(f"{spec.name}: keep_versions {bad} outside 0..{current}")
        return dt.vacuum(retention_hours=int(retain_hours), dry_run=dry_run, enforce_retention_duration=False,
                         keep_versions=sorted(set(keep_versions)) if keep_versions else None,
                         commit_properties=None if dry_run else self._props(None, None, {"job": "vacuum"}))

    # -- describing -----------------------------------------------------------------------
    def info(self, spec: TableSpec) -> TableInfo:
        dt = self.ensure(spec)
        actions = dt.get_add_actions(flatten=True)
        sizes = actions.column("size_bytes").to_pylist() if actions.num_rows else []
        return TableInfo(spec.name, spec.layer, dt.version(), dt.count(), len(sizes), sum(sizes), self.table_uri(spec),
                         spec.description, tuple(spec.key), tuple(spec.partition_by))

    def describe(self) -> list[TableInfo]:
        return [self.info(spec) for spec in TABLES.values()]


def local_path(uri: str) -> str:
    """``file:///x`` or ``/x`` to ``/x`` (for Spark, which wants plain paths or its own schemes)."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("", "file") else uri
