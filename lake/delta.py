"""The one code path between musiclake and its Delta tables (delta-rs).

Every writer goes through :class:`Lake`:

* Python writers (the crawler) call :meth:`Lake.append` or :meth:`Lake.insert_new` (a MERGE on the
  table's key, so landing the same row twice inserts it once).
* Spark jobs cannot load the Delta connector here, so they work on the files underneath:
  :meth:`Lake.snapshot_files` lists the parquet files of one pinned table version for
  ``spark.read.parquet``; the job writes parquet into ``<table>/<STAGING_DIR>/<run_id>/`` and
  :meth:`Lake.commit_files` commits those files with deltalake's transaction API.

Commits carry a Delta app transaction ``(app_id, version)``; :meth:`Lake.already_committed` tells a
job that it has committed that input version before, which makes a re-run after a crash commit
nothing twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.transaction import AddAction

from lake.schemas import TABLES, TableSpec

STAGING_DIR = "spark"


@dataclass(frozen=True)
class TableInfo:
    name: str
    layer: str
    version: int
    rows: int
    files: int
    size_bytes: int
    uri: str


class Lake:
    def __init__(self, uri: str, storage_options: dict[str, str] | None = None):
        self.uri = uri.rstrip("/")
        self.storage_options = dict(storage_options or {}) or None

    @classmethod
    def from_config(cls, cfg) -> "Lake":
        """Build from a :class:`musiclake.config.Config` (or its ``lake`` section)."""
        section = getattr(cfg, "lake", cfg)
        return cls(section.uri, section.storage_options)

    # -- locating and opening -------------------------------------------------------------
    def table_uri(self, spec: TableSpec) -> str:
        return f"{self.uri}/{spec.name}"

    def exists(self, spec: TableSpec) -> bool:
        return DeltaTable.is_deltatable(self.table_uri(spec), storage_options=self.storage_options)

    def ensure(self, spec: TableSpec) -> DeltaTable:
        """Open the table, creating it empty with its canonical schema on first use."""
        uri = self.table_uri(spec)
        if not DeltaTable.is_deltatable(uri, storage_options=self.storage_options):
            if "://" not in uri:
                import os
                os.makedirs(uri, exist_ok=True)
            DeltaTable.create(uri, spec.schema, mode="ignore", partition_by=list(spec.partition_by) or None,
                              name=spec.name, description=spec.description, storage_options=self.storage_options)
        return DeltaTable(uri, storage_options=self.storage_options)

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

    # -- writing from Python --------------------------------------------------------------
    def _conform(self, spec: TableSpec, data: pa.Table) -> pa.Table:
        missing = [n for n in spec.schema.names if n not in data.column_names]
        if missing:
            raise ValueError(f"{spec.name}: rows lack columns {missing}")
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

    # -- committing files written by Spark ------------------------------------------------
    def staging_dir(self, spec: TableSpec, run_id: str) -> str:
        return f"{self.table_uri(spec)}/{STAGING_DIR}/{run_id}"

    def already_committed(self, spec: TableSpec, app_id: str, app_version: int) -> bool:
        done = self.ensure(spec).transaction_version(app_id)
        return done is not None and done >= app_version

    def commit_files(self, spec: TableSpec, run_id: str, app_id: str, app_version: int,
                     metadata: dict | None = None) -> tuple[int, int]:
        """Commit every parquet file under the run's staging dir; returns (new version, rows added).

        Idempotent per ``(app_id, app_version)``: a second call for an input version that was
        already committed commits nothing.
        """
        dt = self.ensure(spec)
        if self.already_committed(spec, app_id, app_version):
            return dt.version(), 0
        fs, root = pafs.FileSystem.from_uri(self.table_uri(spec))
        staging = f"{root}/{STAGING_DIR}/{run_id}"
        infos = [i for i in fs.get_file_info(pafs.FileSelector(staging, allow_not_found=True, recursive=True))
                 if i.type == pafs.FileType.File and i.base_name.endswith(".parquet")]
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
                                    commit_properties=self._props(app_id, app_version, metadata))
        return DeltaTable(self.table_uri(spec), storage_options=self.storage_options).version(), rows

    @staticmethod
    def _props(app_id, app_version, metadata) -> CommitProperties:
        txns = [Transaction(app_id=app_id, version=int(app_version))] if app_id is not None else None
        meta = {k: str(v) for k, v in (metadata or {}).items()} or None
        return CommitProperties(custom_metadata=meta, app_transactions=txns)

    # -- describing -----------------------------------------------------------------------
    def info(self, spec: TableSpec) -> TableInfo:
        dt = self.ensure(spec)
        actions = dt.get_add_actions(flatten=True)
        sizes = actions.column("size_bytes").to_pylist() if actions.num_rows else []
        return TableInfo(spec.name, spec.layer, dt.version(), dt.count(), len(sizes), sum(sizes), self.table_uri(spec))

    def describe(self) -> list[TableInfo]:
        return [self.info(spec) for spec in TABLES.values()]


def local_path(uri: str) -> str:
    """``file:///x`` or ``/x`` to ``/x`` (for Spark, which wants plain paths or its own schemes)."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("", "file") else uri
