"""Lineage, time travel and maintenance on real Delta tables: schema evolution in place, history, optimize,
vacuum with its retention guard, and the `musiclake lake` commands that drive them."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from lake.delta import Lake, RetentionError, SchemaEvolutionError
from lake.schemas import GOLD_PAIRS, GOLD_SPLITS, TABLES
from lake.schemas.spec import TableSpec
from tests.support.config import make_config

T0 = datetime(2026, 2, 1, tzinfo=timezone.utc)
V1 = TableSpec("gold_evolving", "gold", pa.schema([pa.field("sha256", pa.string(), nullable=False),
                                                   pa.field("n", pa.int64(), nullable=False)]),
               ("sha256",), "a table whose spec grows")
V2 = TableSpec(V1.name, "gold", pa.schema([*V1.schema, pa.field("tags", pa.list_(pa.string())),
                                           pa.field("score", pa.float64())]), ("sha256",), V1.description)


def split_rows(keys, split="train", run="run-a", version=1) -> pa.Table:
    return pa.Table.from_pylist([dict(sha256=k, cluster_id=k, cluster_method="content_hash", cluster_size=1,
                                      split=split, source_table="silver_scores", source_version=version,
                                      job_run_id=run, code_version="test", processed_at=T0) for k in keys],
                                schema=GOLD_SPLITS.schema)


def test_schema_evolves_in_place_and_old_versions_still_read(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    v1 = lake.append(V1, pa.table({"sha256": ["a", "b"], "n": [1, 2]}))
    v2 = lake.append(V2, pa.table({"sha256": ["c"], "n": [3], "tags": [["x"]], "score": [0.5]}))
    assert v2 == v1 + 2  # one commit adds the columns, one appends
    rows = sorted(lake.read(V2).to_pylist(), key=lambda r: r["sha256"])
    assert rows == [dict(sha256="a", n=1, tags=None, score=None), dict(sha256="b", n=2, tags=None, score=None),
                    dict(sha256="c", n=3, tags=["x"], score=0.5)]
    assert sorted(lake.read(V1, version=v1).column_names) == ["n", "sha256"]
    dt = lake.ensure(V2)
    assert (dt.protocol().min_reader_version, dt.protocol().min_writer_version) == (1, 2)
    assert not dt.protocol().reader_features and not dt.protocol().writer_features
    evolution = next(c for c in lake.history(V2) if c.version == v1 + 1)
    assert evolution.job == "schema-evolution" and evolution.metadata["added_columns"] == "tags,score"
    # A new column that is not nullable, or a column dropped from the spec, is refused and names the column.
    bad = TableSpec(V1.name, "gold", pa.schema([*V2.schema, pa.field("must", pa.int32(), nullable=False)]), ("sha256",), "")
    with pytest.raises(SchemaEvolutionError, match=r"gold_evolving: new columns \['must'\] must be nullable"):
        lake.ensure(bad)
    with pytest.raises(SchemaEvolutionError, match=r"\['tags', 'score'\] the spec no longer defines"):
        lake.ensure(TableSpec(V1.name, "gold", pa.schema([*V1.schema, pa.field("other", pa.int32())]), ("sha256",), ""))


def test_spark_reads_files_from_before_and_after_an_added_column(tmp_path, spark):
    from lake.jobs.common import read_snapshot

    lake = Lake(str(tmp_path / "lake"))
    lake.append(V1, pa.table({"sha256": ["a"], "n": [1]}))
    lake.append(V2, pa.table({"sha256": ["b"], "n": [2], "tags": [["y", "z"]], "score": [1.5]}))
    _, df = read_snapshot(spark, lake, V2)
    got = sorted((r["sha256"], r["n"], r["tags"], r["score"]) for r in df.collect())
    assert got == [("a", 1, None, None), ("b", 2, ["y", "z"], 1.5)]


def test_pinned_reads_survive_commits_optimize_and_vacuum(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    for i in range(4):
        lake.append(GOLD_SPLITS, split_rows([f"k{i}a", f"k{i}b"], run=f"run-{i}", version=i),
                    metadata={"job": "split", "job_run_id": f"run-{i}"})
    pinned = lake.version(GOLD_SPLITS)
    snapshot = sorted(lake.read(GOLD_SPLITS, version=pinned).to_pylist(), key=lambda r: r["sha256"])
    lake.upsert(GOLD_SPLITS, split_rows(["k0a"], split="test", run="run-x"))  # rewrites a file
    lake.append(GOLD_SPLITS, split_rows(["late"], run="run-y"))
    info = lake.info(GOLD_SPLITS)
    assert info.files >= 5
    stats = lake.optimize(GOLD_SPLITS)
    assert stats["numFilesRemoved"] == info.files and stats["numFilesAdded"] == 1
    assert lake.info(GOLD_SPLITS).files == 1 and lake.info(GOLD_SPLITS).rows == 9

    assert lake.vacuum(GOLD_SPLITS) == []  # default retention: everything removed today is still needed
    for v in (pinned, pinned + 1):
        assert len(lake.read(GOLD_SPLITS, version=v).to_pylist()) == 8
    assert sorted(lake.read(GOLD_SPLITS, version=pinned).to_pylist(), key=lambda r: r["sha256"]) == snapshot
    with pytest.raises(RetentionError, match="retain_hours=0 < 168 would make versions older than 0h unreadable"):
        lake.vacuum(GOLD_SPLITS, retain_hours=0)
    # Forced to zero hours, a version named in keep_versions stays readable; the others lose their files.
    lake.vacuum(GOLD_SPLITS, retain_hours=0, force=True, keep_versions=[pinned])
    assert sorted(lake.read(GOLD_SPLITS, version=pinned).to_pylist(), key=lambda r: r["sha256"]) == snapshot
    with pytest.raises(Exception):  # the merge's rewritten file, replaced by the compaction, is gone
        lake.read(GOLD_SPLITS, version=pinned + 1).to_pylist()
    current = {r["sha256"]: r["split"] for r in lake.read(GOLD_SPLITS).to_pylist()}
    assert current["k0a"] == "test" and len(current) == 9

    ops = [c.operation for c in lake.history(GOLD_SPLITS)]
    assert ops[:2] == ["VACUUM END", "VACUUM START"] and "OPTIMIZE" in ops and "MERGE" in ops
    writes = [c for c in lake.history(GOLD_SPLITS) if c.job == "split"]
    assert [c.job_run_id for c in writes] == ["run-3", "run-2", "run-1", "run-0"]


def test_lineage_columns_match_table_history_after_the_gold_jobs(tmp_path, spark):
    """Every row's job_run_id is a commit in the table's history made from the source version the row names."""
    from lake.jobs.align import run_align
    from lake.jobs.split import run_split
    from lake.schemas import BRONZE_MIDI, SILVER_SCORES
    from tests.support.lake_rows import GOOD, bronze_rows, silver_jobs

    cfg = make_config(tmp_path)
    lake = Lake.from_config(cfg)
    lake.insert_new(BRONZE_MIDI, bronze_rows(GOOD))
    for job in (*silver_jobs(), run_split, run_align):
        job(cfg, spark)
    for spec in (SILVER_SCORES, GOLD_SPLITS, GOLD_PAIRS):
        commits = {c.job_run_id: c for c in lake.history(spec) if c.job_run_id}
        rows = lake.read(spec).to_pylist()
        assert rows
        for r in rows:
            c = commits[r["job_run_id"]]
            assert (c.metadata["source_table"], int(c.metadata["source_version"])) == (
                r["source_table"], r["source_version"])
            assert c.metadata["code_version"] == r["code_version"]


def test_cli_lists_tables_and_guards_vacuum(tmp_path):
    from lake.cli import app

    cfg_root = tmp_path
    common = ["--set", f"lake.uri={cfg_root}/lake"]
    lake = Lake.from_config(make_config(cfg_root))
    lake.append(GOLD_SPLITS, split_rows(["a", "b", "c"]), metadata={"job": "split", "job_run_id": "run-cli"})
    lake.append(GOLD_SPLITS, split_rows(["d"]), metadata={"job": "split", "job_run_id": "run-cli2"})
    runner = CliRunner()
    out = runner.invoke(app, ["tables", *common])
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if x.startswith("gold_splits "))
    assert line.split()[1:5] == ["gold", "2", "4", "2"] and "Train/validation/test" in line
    assert all(name in out.output for name in TABLES)

    out = runner.invoke(app, ["history", "gold_splits", *common])
    assert out.exit_code == 0 and "run-cli2" in out.output.splitlines()[0] and "run-cli" in out.output

    out = runner.invoke(app, ["vacuum", "gold_splits", "--retain-hours", "1", *common])
    assert out.exit_code == 2 and "retain_hours=1 < 168" in out.output
    out = runner.invoke(app, ["optimize", "gold_splits", *common])
    assert out.exit_code == 0 and "tables_compacted=1" in out.output
    out = runner.invoke(app, ["vacuum", "gold_splits", "--retain-hours", "0", "--force", "--keep", "gold_splits=2",
                              "--dry-run", *common])
    assert out.exit_code == 0 and "files_eligible=0" in out.output  # version 2's files are kept
    out = runner.invoke(app, ["vacuum", "gold_splits", "--retain-hours", "0", "--force", "--dry-run", *common])
    assert out.exit_code == 0 and "files_eligible=2" in out.output
    out = runner.invoke(app, ["history", "no_such_table", *common])
    assert out.exit_code == 2 and "no table named 'no_such_table'" in out.output
