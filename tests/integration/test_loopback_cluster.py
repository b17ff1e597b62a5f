"""The loopback cluster (infra/loopback/cluster.py) for real: up, every service answers and does work, down.

Marked ``cluster``, not run by ``make test``; ``make cluster-test`` runs it (about 2 minutes). It uses its
own folder and port base (``MUSICLAKE_CLUSTER_TEST_PORT_BASE``, default 21000), so a ``make cluster-up``
on the default ports can run beside it. Every client check runs in a fresh interpreter with the
environment of the cluster's ``cluster.env``, as a user's shell would after ``source``.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from infra.loopback import cluster as lc
from tests.support import loopback as lb

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

BASE = int(os.environ.get("MUSICLAKE_CLUSTER_TEST_PORT_BASE", "21000"))


def cli(d: Path, *args: str, timeout: float = 400):
    return lb.cli(d, BASE, *args, timeout=timeout)


@pytest.fixture(scope="module")
def up():
    with lb.running_cluster(BASE) as d:
        yield d


def test_up_is_idempotent(up):
    r = cli(up, "up")
    assert r.returncode == 0 and "already running" in r.stdout, r.stdout + r.stderr
    assert cli(up, "status").returncode == 0


def test_ray_two_nodes_and_a_task_on_the_worker(up):
    out = lb.run_py(up, """
        import json, os, ray
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
        nodes = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}

        @ray.remote(num_cpus=1, resources={"worker": 1})
        def where():
            return ray.get_runtime_context().get_node_id()

        on = ray.get(where.remote(), timeout=120)
        print(json.dumps({"nodes": list(nodes.values()), "on": nodes[on]}))
    """)
    assert len(out["nodes"]) == 2
    assert sorted(k for r in out["nodes"] for k in r if k in ("head", "worker")) == ["head", "worker"]
    assert all(r["CPU"] == 1 for r in out["nodes"])
    assert out["on"].get("worker") == 1 and "head" not in out["on"]


def test_spark_standalone_runs_a_job(up):
    p = lc.ports(BASE)
    master = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{p['spark_master_ui']}/json", timeout=10).read())
    assert [w["state"] for w in master["workers"]] == ["ALIVE"]
    out = lb.run_py(up, """
        import json, os, sys
        os.environ["PYSPARK_PYTHON"] = sys.executable
        from pyspark.sql import SparkSession
        spark = (SparkSession.builder.master(os.environ["SPARK_MASTER"]).appName("loopback-test")
                 .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                 .config("spark.executor.memory", "1g").config("spark.ui.enabled", "false").getOrCreate())
        n = spark.range(1000).where("id % 3 = 0").count()
        app = spark.sparkContext.applicationId
        spark.stop()
        print(json.dumps({"count": n, "app": app}))
    """)
    assert out["count"] == 334 and out["app"].startswith("app-")  # app-*: a standalone application, not local


def test_mlflow_run_and_artifact_in_s3(up):
    out = lb.run_py(up, """
        import json, os, tempfile, boto3, mlflow
        from common.config import load_config
        cfg = load_config(os.environ["MUSICLAKE_CONFIG"])
        mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
        exp = mlflow.create_experiment("loopback-test", artifact_location=cfg.mlflow.artifact_location)  # None: the server's
        f = os.path.join(tempfile.mkdtemp(), "note.txt")
        open(f, "w").write("hello")
        with mlflow.start_run(experiment_id=exp) as run:
            mlflow.log_metric("m", 1.0)
            mlflow.log_artifact(f)
        got = mlflow.get_run(run.info.run_id)
        s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="musiclake-mlflow").get("Contents", [])]
        print(json.dumps({"metric": got.data.metrics["m"], "uri": got.info.artifact_uri, "keys": keys}))
    """)
    # the config leaves the artifact location to the server, which proxies it into the bucket
    assert out["metric"] == 1.0 and out["uri"].startswith("mlflow-artifacts:/")
    assert any(k.endswith("/artifacts/note.txt") for k in out["keys"]), out["keys"]


def test_delta_table_on_s3(up):
    out = lb.run_py(up, """
        import json, os
        import pyarrow as pa
        from deltalake import DeltaTable, write_deltalake
        from common.config import load_config
        cfg = load_config(os.environ["MUSICLAKE_CONFIG"])
        uri, so = cfg.lake.uri + "/loopback_test", cfg.lake.storage_options
        write_deltalake(uri, pa.table({"a": [1, 2, 3]}), storage_options=so)
        write_deltalake(uri, pa.table({"a": [4]}), storage_options=so, mode="append")
        t = DeltaTable(uri, storage_options=so)
        print(json.dumps({"uri": uri, "version": t.version(), "rows": t.to_pyarrow_table().num_rows}))
    """)
    assert out["uri"].startswith("s3://musiclake-lake/") and out["version"] == 1 and out["rows"] == 4


def test_down_leaves_nothing(up):
    # last in the module: stops the cluster the fixture brought up (the fixture's own down is then a no-op)
    state = json.loads((up / "cluster.json").read_text())
    r = cli(up, "down")
    assert r.returncode == 0 and "nothing left running" in r.stdout, r.stdout + r.stderr
    for e in state["services"]:
        assert not lc.session_procs(e["pid"]), f"{e['name']} still has processes"
    busy = [q for q in lc.all_ports(lc.ports(BASE), BASE) if not lc.port_free(q)]
    assert not busy, f"ports still in use: {busy}"
    assert "nothing to stop" in cli(up, "down").stdout
