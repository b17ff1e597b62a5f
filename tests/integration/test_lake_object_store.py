"""The lake's Spark jobs on an S3 lake, found through ``lake.storage_options`` alone.

A moto S3 server (moto_server, the loopback cluster's store) runs beside the test; the same bronze rows go to a local lake and to an
``s3://`` lake. ``run_all`` (silver pass, dedup, split, align) on each must give the same rows
(lineage aside). On S3 the executors read the pinned snapshots and write the staged files with
pyarrow (lake/jobs/remote_files.py): Spark's own file sources have no S3 connector here, and no
credential is in the environment (the test takes them out), so only the options can reach the store.
A second run commits nothing (the app transactions work the same on S3), and nothing of the S3
lake is written to the local disk.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lake.delta import Lake
from lake.schemas import (BRONZE_LYRICS, BRONZE_MIDI, GOLD_LYRIC_SEGMENTS, GOLD_SPLITS, GOLD_PAIRS,
                          SILVER_CHORDS, SILVER_DUPLICATES, SILVER_QUARANTINE, SILVER_SCORES, SILVER_TOKENS,
                          SILVER_TRACK_TOKENS, SILVER_TRACKS)
from tests.support.config import make_config
from tests.support.lake_rows import BAD, DUPES, GOOD, HOSTILE, LYRICS, bronze_rows, lyrics_rows

OUTPUTS = (SILVER_SCORES, SILVER_CHORDS, SILVER_TRACKS, SILVER_TOKENS, SILVER_TRACK_TOKENS, SILVER_QUARANTINE,
           SILVER_DUPLICATES, GOLD_SPLITS, GOLD_PAIRS, GOLD_LYRIC_SEGMENTS)
LINEAGE = {"job_run_id", "processed_at", "source_version", "code_version", "created_at", "updated_at"}
BUCKET = "lake-test"
CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                   "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    import boto3

    saved = {k: os.environ.pop(k) for k in CREDENTIAL_VARS if k in os.environ}  # only the options may reach it
    port = _free_port()
    # its own process: delta-rs holds the GIL while it waits on some calls, which would starve a server thread here
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, "moto_server did not start"
            time.sleep(0.3)
    options = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
               "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
               "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
    client = boto3.client("s3", endpoint_url=options["AWS_ENDPOINT_URL"], aws_access_key_id="test",
                          aws_secret_access_key="test-secret", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    try:
        yield {"options": options, "client": client}
    finally:
        server.terminate()
        server.wait(timeout=30)
        os.environ.update(saved)


def rows(lake: Lake, spec) -> list[tuple]:
    return sorted(tuple((k, repr(v)) for k, v in sorted(r.items()) if k not in LINEAGE)
                  for r in lake.read(spec).to_pylist())


@pytest.fixture(scope="module")
def lakes(tmp_path_factory, spark, s3):
    from lake.jobs.pipeline import run_all

    local_root, remote_root = tmp_path_factory.mktemp("local-lake"), tmp_path_factory.mktemp("s3-lake-work")
    local_cfg = make_config(local_root)
    remote_cfg = make_config(remote_root, f"lake.uri=s3://{BUCKET}/lake")
    remote_cfg = remote_cfg.model_copy(update={"lake": remote_cfg.lake.model_copy(
        update={"storage_options": s3["options"]})})
    local, remote = Lake.from_config(local_cfg), Lake.from_config(remote_cfg)
    for lake in (local, remote):
        lake.insert_new(BRONZE_MIDI, bronze_rows({**GOOD, **BAD, **DUPES, **HOSTILE}))
        lake.insert_new(BRONZE_LYRICS, lyrics_rows(LYRICS))
    run_all(local_cfg, spark, echo=lambda _: None)
    reports = run_all(remote_cfg, spark, echo=lambda _: None)
    versions = {t.name: remote.version(t) for t in OUTPUTS}
    again = run_all(remote_cfg, spark, echo=lambda _: None)
    return dict(local=local, remote=remote, remote_root=remote_root, reports=reports, versions=versions, again=again)


def test_every_output_on_s3_matches_the_local_lake(lakes):
    for spec in OUTPUTS:
        assert rows(lakes["remote"], spec) == rows(lakes["local"], spec), spec.name
    assert rows(lakes["remote"], SILVER_SCORES), "the silver pass landed rows on S3"
    assert rows(lakes["remote"], GOLD_PAIRS), "the gold jobs landed rows on S3"


def test_the_tables_and_their_staged_files_are_in_the_bucket(lakes, s3):
    keys = [o["Key"] for page in s3["client"].get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
            for o in page.get("Contents", [])]
    assert any(k.startswith("lake/silver_scores/_delta_log/") for k in keys)
    assert any(k.startswith("lake/gold_text_music_pairs/spark/") and k.endswith(".parquet") for k in keys), \
        "gold rows were staged by the executors straight into the bucket"
    assert any(k.startswith("lake/_meta/tokenizers/") for k in keys), "the tokenizer is saved beside the tables"
    work = lakes["remote_root"]
    assert not (work / "lake").exists() and not any(p.name.startswith("s3") for p in work.iterdir())


def test_a_second_run_on_s3_commits_nothing(lakes):
    assert {t.name: lakes["remote"].version(t) for t in OUTPUTS} == lakes["versions"]
    assert all(n == 0 for r in lakes["again"] for _, n in r.outputs.values())
