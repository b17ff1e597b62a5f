"""lake.objectstore and lake.jobs.remote_files without a server: what the options open, how files become tasks."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from lake.delta import Lake
from lake.jobs.remote_files import _conformed, pack
from lake.objectstore import StorageError, filesystem, is_local

OPTS = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_REGION": "eu-west-1", "AWS_ALLOW_HTTP": "true"}


def test_local_uris_open_the_local_filesystem(tmp_path):
    for uri in (str(tmp_path), f"file://{tmp_path}"):
        fs, path = filesystem(uri)
        assert isinstance(fs, pafs.LocalFileSystem) and path == str(tmp_path)
    assert is_local(str(tmp_path)) and is_local(f"file://{tmp_path}") and not is_local("s3://b/lake")


def test_s3_options_become_the_pyarrow_filesystem():
    fs, path = filesystem("s3://bucket/lake/silver_scores", OPTS)
    assert isinstance(fs, pafs.S3FileSystem) and path == "bucket/lake/silver_scores"
    assert fs.region == "eu-west-1"
    assert filesystem("s3://bucket/x", dict(OPTS))[0] is fs, "one filesystem per option set and process"
    lower = {k.lower(): v for k, v in OPTS.items()}
    assert isinstance(filesystem("s3a://bucket/x", lower)[0], pafs.S3FileSystem)


def test_plain_http_endpoint_needs_allow_http():
    with pytest.raises(StorageError, match="AWS_ALLOW_HTTP"):
        filesystem("s3://bucket/lake", {k: v for k, v in OPTS.items() if k != "AWS_ALLOW_HTTP"})


def test_half_a_key_pair_is_refused():
    with pytest.raises(StorageError, match="go together"):
        filesystem("s3://bucket/lake", {"AWS_ACCESS_KEY_ID": "k"})
    with pytest.raises(StorageError, match="names no bucket"):
        filesystem("s3:///lake", OPTS)


def test_the_lake_opens_its_files_with_its_options():
    lake = Lake("s3://bucket/lake", OPTS)
    assert not lake.local
    fs, path = lake.filesystem(lake.uri + "/t/spark/run-1")
    assert isinstance(fs, pafs.S3FileSystem) and path == "bucket/lake/t/spark/run-1"


def test_pack_groups_files_to_the_target_size_in_order():
    files = [("a", 40), ("b", 40), ("c", 40), ("d", 500), ("e", 10)]
    assert pack(files, 100) == [["a", "b"], ["c"], ["d"], ["e"]]
    assert pack([], 100) == []
    assert pack([("x", 1)] * 3, 1) == [["x"], ["x"], ["x"]]


def test_conformed_fills_a_column_the_file_lacks_and_casts(tmp_path):
    schema = pa.schema([pa.field("sha256", pa.string(), nullable=False), pa.field("n", pa.int32()),
                        pa.field("later", pa.list_(pa.int32()))])
    old = pa.table({"sha256": ["x", "y"], "n": pa.array([1, 2], pa.int64())})  # written before "later" existed
    pq.write_table(old, tmp_path / "f.parquet")
    batch = next(pq.ParquetFile(tmp_path / "f.parquet").iter_batches(columns=["sha256", "n"]))
    out = _conformed(batch, schema)
    assert out.schema.names == ["sha256", "n", "later"]
    assert out.schema.field("n").type == pa.int32() and out.column(2).null_count == 2
    assert out.column(0).to_pylist() == ["x", "y"]
