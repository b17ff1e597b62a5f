"""The whole pipeline on the loopback cluster, with the cluster's config file as the only link to it.

``musiclake demo`` (ingest -> lake -> generator + CLAP training -> serving -> generate) runs in a
fresh process whose environment holds no cluster address and no credential (``config_only_env``):
Ray, Spark standalone, the MLflow server and the S3 lake are found through
``DIR/musiclake.yaml`` alone. The results are then read back the way the embedded end-to-end test
reads them, but from where the cluster keeps them: the tables from S3 with deltalake, the model
through the tracking server (its files in the MLflow bucket), the endpoint on the cluster's Serve
with its replica on the worker node. Marked ``cluster``: ``make cluster-test`` runs it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from infra.loopback import cluster as lc
from tests.support import loopback as lb

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1800)]

BASE = int(os.environ.get("MUSICLAKE_CLUSTER_PIPELINE_PORT_BASE", "22000"))
SMALL = ["demo.corpus_limit=12", "demo.site_port=0", "train.max_steps=40", "train.num_workers=2", "train.n_embd=64",
         "train.n_layer=2", "train.block_size=128", "train.log_every=10",
         "train.gates={val_loss: {better: lower, tolerance: 0.1}}"]
SERVING_LINE = re.compile(r"serving at (http://\S+) until Ctrl-C")
MODEL_LINE = re.compile(r"^(?:trained|reused \(same config, tokenizer and data\)): musiclake-generator v(\d+)", re.M)


@pytest.fixture(scope="module")
def cluster():
    """The cluster of `make cluster-up` when one is running (its config file, checked in or written by `up`),
    else one of this module's own. Either way the run gets a lake prefix of its own."""
    running = lb.running_default_cluster()
    if running is not None:
        yield running
        return
    with lb.running_cluster(BASE, prefix="mlp-") as d:
        state = lc.read_state(d)
        yield {"dir": d, "base": state["base"], "config": d / "musiclake.yaml", "own": True}


@pytest.fixture(scope="module")
def run_sets():
    """This run's lake prefix (a cluster reused across runs keeps earlier runs' tables apart)."""
    return [*SMALL, f"lake.uri=s3://musiclake-lake/cluster-test-{uuid.uuid4().hex[:8]}/lake"]


@pytest.fixture(scope="module")
def cfg(cluster, run_sets):
    from common.config import load_config

    return load_config(cluster["config"], overrides=[run_sets[-1]], environ={})


@pytest.fixture(scope="module")
def demo(cluster, run_sets, tmp_path_factory):
    """The demo, left serving (``--keep-serving``) while the tests look at the endpoint; stopped with Ctrl-C after."""
    work = tmp_path_factory.mktemp("cluster-demo")
    log = work / "demo.log"
    cmd = [str(Path(sys.executable).parent / "musiclake"), "demo", "-c", str(cluster["config"]),
           "--keep-serving", *[a for kv in run_sets for a in ("--set", kv)]]
    with open(log, "w") as out:
        # SIGINT back to its default: a shell's background job (nohup, `&`) would hand the demo an ignored Ctrl-C
        proc = subprocess.Popen(cmd, cwd=work, env=lb.config_only_env(), stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline, url = time.monotonic() + 1500, None
    try:
        while url is None:
            text = log.read_text(errors="replace")
            m = SERVING_LINE.search(text)
            if m:
                url = m.group(1)
                break
            assert proc.poll() is None, f"demo exited with {proc.returncode} before serving:\n{text[-6000:]}"
            assert time.monotonic() < deadline, f"demo not serving after 1500s:\n{text[-6000:]}"
            time.sleep(2)
        trained = MODEL_LINE.search(log.read_text(errors="replace"))
        assert trained, "the demo names the generator version it trained or reused"
        yield {"work": work, "url": url, "proc": proc, "log": log, "config": cluster["config"], "sets": run_sets,
               "version": int(trained.group(1)),
               "key": json.loads((work / "data" / "serve" / "api_keys.json").read_text())["keys"][0]["key"]}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                proc.kill()


def table(cfg, name: str, columns=None):
    from deltalake import DeltaTable

    return DeltaTable(f"{cfg.lake.uri}/{name}", storage_options=cfg.lake.storage_options).to_pyarrow_table(columns=columns)


def test_the_lake_is_on_the_object_store_only(cfg, demo):
    assert cfg.lake.uri.startswith("s3://musiclake-lake/")
    assert not (demo["work"] / "data" / "lake").exists(), "nothing of the lake is written locally"
    assert not (demo["work"] / "s3:").exists(), "no s3: path taken for a local folder"


def test_tables_read_back_from_s3_hold_the_site_and_its_faults(cfg, demo):
    manifest = json.loads((demo["work"] / "data" / "site" / "manifest.json").read_text())
    good = {p["sha256"] for p in manifest["pieces"]}
    assert good <= set(table(cfg, "bronze_midi_files", ["sha256"]).column("sha256").to_pylist())
    reasons = {e["url"].rsplit("/", 1)[-1]: e["reason"] for e in table(cfg, "bronze_crawl_errors").to_pylist()}
    assert "404" in reasons["missing.mid"] and "not a MIDI" in reasons["not-midi.mid"]
    quarantine = table(cfg, "silver_quarantine").to_pylist()
    assert [q["url"].rsplit("/", 1)[-1] for q in quarantine] == ["truncated.mid"]
    assert set(table(cfg, "silver_scores", ["sha256"]).column("sha256").to_pylist()) == good
    pairs = table(cfg, "gold_text_music_pairs").to_pylist()
    assert {p["sha256"] for p in pairs} == good
    assert {p["text_kind"] for p in pairs} >= {"lyrics", "caption"}
    tokens = table(cfg, "silver_tokens", ["sha256", "tokens"])
    assert tokens.num_rows == len(good) and all(len(ids) > 10 for ids in tokens.column("tokens").to_pylist())


def test_the_lake_jobs_ran_on_the_spark_standalone_cluster(cluster, demo):
    ui = lc.ports(cluster["base"])["spark_master_ui"]
    master = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{ui}/json", timeout=10).read())
    apps = [a["name"] for a in master.get("completedapps", []) + master.get("activeapps", [])]
    assert "musiclake-demo" in apps, apps


def test_the_models_are_found_through_the_tracking_server(cluster, cfg, demo):
    import boto3
    import mlflow

    from training.registry import MODEL_NAME

    assert cfg.mlflow.tracking_uri.startswith("http://")
    client = mlflow.MlflowClient(tracking_uri=cfg.mlflow.tracking_uri)
    mv = client.get_model_version(MODEL_NAME, str(demo["version"]))  # what the demo trained (or reused)
    run = client.get_run(mv.run_id)
    assert len(client.get_metric_history(mv.run_id, "train_loss")) >= 2
    assert any(k.startswith("data.") for k in {**run.data.params, **run.data.tags})
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), "artifacts go through the server's proxy"
    so = cfg.lake.storage_options
    s3 = boto3.client("s3", endpoint_url=so["AWS_ENDPOINT_URL"], aws_access_key_id=so["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=so["AWS_SECRET_ACCESS_KEY"], region_name=so["AWS_REGION"])
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="musiclake-mlflow")
            for o in page.get("Contents", [])]
    # MLflow 3 keeps a logged model under its model id (the version's source is models:/<model id>)
    ids = {mv.run_id, getattr(mv, "model_id", None), mv.source.rsplit("/", 1)[-1]} - {None, ""}
    assert any(i in k for i in ids for k in keys), f"the model's files are in the MLflow bucket: {ids}, {keys[:5]}"
    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)  # models:/ URIs resolve through the process's tracking URI
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{MODEL_NAME}/{mv.version}")
    assert any(Path(local).rglob("*.pkl")) or any(Path(local).rglob("MLmodel")), "the model downloads through the server"


def test_the_serve_replica_runs_on_the_worker_node(cluster, demo):
    out = lb.run_py(cluster["dir"], """
        import json, os, ray
        from ray._private.state import actors  # the GCS's actor table (the state API needs the dashboard, off here)
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
        nodes = {n["NodeID"]: sorted(k for k in n["Resources"] if k in ("head", "worker")) for n in ray.nodes() if n["Alive"]}
        replicas = [a["Address"]["NodeID"] for a in actors(actor_state_name="ALIVE").values()
                    if a["ActorClassName"].startswith("ServeReplica")]
        print(json.dumps({"on": [nodes.get(n) for n in replicas]}))
    """)
    assert out["on"] and all(r == ["worker"] for r in out["on"]), out


def test_the_endpoint_generates_what_was_asked(demo):
    import requests
    import symusic

    http = requests.Session()
    http.headers["X-API-Key"] = demo["key"]
    resp = http.post(demo["url"] + "/v1/generate", json={"prompt": "a calm waltz", "bpm": 84, "bars": 8, "seed": 3, "model": str(demo["version"])},
                     timeout=120)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["attributes"]["bpm"] == 84 and body["provenance"]["generator_run_id"]
    versions = body["provenance"]["data_versions"]
    assert versions and min(versions.values()) >= 1, body["provenance"]  # the S3 table versions it trained on
    midi = http.get(demo["url"] + body["urls"]["mid"], timeout=120)
    assert midi.status_code == 200
    score = symusic.Score.from_midi(midi.content)
    assert sum(len(t.notes) for t in score.tracks) > 20
    assert abs(score.tempos[0].qpm - 84) < 0.5


def test_the_demo_wrote_midi_wav_and_musicxml_and_exits_cleanly(cfg, demo):
    out = sorted(p.name for p in (demo["work"] / "out").iterdir())
    for lang in ("en", "zh"):
        assert {f"demo-{lang}-v{demo['version']}.{x}" for x in ("mid", "wav", "musicxml")} <= set(out), out
    proc = demo["proc"]
    proc.send_signal(signal.SIGINT)  # what a user does: Ctrl-C ends serving, then the report prints
    assert proc.wait(timeout=180) == 0, demo["log"].read_text(errors="replace")[-4000:]
    text = demo["log"].read_text(errors="replace")
    assert f"Delta tables under {cfg.lake.uri}:" in text
    assert re.search(r"silver_scores\s+silver\s+\d+\s+12\b", text), "the report reads the row counts back from S3"


def test_the_files_hold_music(demo):
    import wave

    import music21
    from symusic import Score

    files = sorted((demo["work"] / "out").iterdir())
    for path in files:
        if path.suffix == ".mid":
            assert Score.from_midi(path.read_bytes()).note_num() > 0
        elif path.suffix == ".musicxml":
            assert len(music21.converter.parse(str(path)).flatten().notes) > 0
        elif path.suffix == ".wav":
            with wave.open(str(path)) as w:
                assert w.getnframes() / w.getframerate() > 1.0


def test_a_second_run_on_the_cluster_reuses_everything(cfg, demo):
    from lake.delta import Lake

    assert demo["proc"].poll() is not None, "runs after the first demo has stopped"
    watched = ("bronze_midi_files", "bronze_lyrics_pages", "silver_scores", "silver_tokens", "silver_quarantine",
               "gold_text_music_pairs")
    lake = Lake.from_config(cfg)
    before = {t.name: (t.version, t.rows) for t in lake.describe() if t.name in watched}
    cmd = [str(Path(sys.executable).parent / "musiclake"), "demo", "-c", str(demo["config"]),
           *[a for kv in demo["sets"] for a in ("--set", kv)]]
    r = subprocess.run(cmd, cwd=demo["work"], env=lb.config_only_env(), capture_output=True, text=True, timeout=1200,
                       check=False)
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    after = {t.name: (t.version, t.rows) for t in lake.describe() if t.name in watched}
    assert after == before, "a re-run on the cluster changes no table"
    assert f"reused (same config, tokenizer and data): musiclake-generator v{demo['version']}" in r.stdout
    assert re.search(r"\b0 MIDI landed\b", r.stdout), "the crawl lands nothing twice"
