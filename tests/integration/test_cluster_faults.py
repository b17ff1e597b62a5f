"""Faults on the loopback cluster, injected the way an operator's bad day brings them: processes die mid-work.

One cluster, one lake on its S3, one score site; the stages run as the CLI runs them, in fresh
processes that know the cluster from the config file only. In order:

1. **A Ray worker node is SIGKILLed during a crawl** (and started again, as a replaced node would be).
   The crawl finishes (or a re-run finishes it): every piece of the site is in bronze exactly once.
2. **The Spark worker is SIGKILLed during the lake jobs** (and started again). The job finishes on
   the new executor, or its re-run commits only what is missing: each table holds each key once.
3. **A Ray worker node is SIGKILLed during training**: Ray Train restarts the worker group from the
   last checkpoint (``train.max_failures``) and the run finishes, its model registered.
4. **The MLflow server is restarted during training**: the client's retries carry the logging over
   the gap; the run ends FINISHED with every logged step, its model registered.

Marked ``cluster`` (``make cluster-test``); about 5 minutes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.support import loopback as lb

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1800)]

BASE = int(os.environ.get("MUSICLAKE_CLUSTER_FAULTS_PORT_BASE", "23000"))
PIECES = 40
MUSICLAKE = str(Path(sys.executable).parent / "musiclake")


class Stage:
    """One CLI run in the background, its output in a log the test watches."""

    def __init__(self, work: Path, name: str, args: list[str], config: Path):
        self.log = work / f"{name}.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([MUSICLAKE, *args, "-c", str(config)], cwd=work, env=lb.config_only_env(),
                                         stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = 600) -> None:
        """Until the log matches ``needle`` (a regular expression)."""
        deadline = time.monotonic() + timeout
        while not re.search(needle, self.text()):
            assert self.proc.poll() is None, f"ended ({self.proc.returncode}) before {needle!r}:\n{self.text()[-5000:]}"
            assert time.monotonic() < deadline, f"no {needle!r} after {timeout}s:\n{self.text()[-5000:]}"
            time.sleep(0.5)

    def finish(self, timeout: float = 900) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"still running after {timeout}s:\n{self.text()[-5000:]}") from None


def fault(cluster: Path, verb: str, service: str) -> str:
    r = lb.cli(cluster, BASE, verb, service, timeout=300)
    assert r.returncode == 0, f"{verb} {service} failed:\n{r.stdout}\n{r.stderr[-2000:]}"
    return r.stdout.strip()


@pytest.fixture(scope="module")
def cluster():
    with lb.running_cluster(BASE, prefix="mlf-") as d:
        yield d


@pytest.fixture(scope="module")
def env(cluster, tmp_path_factory):
    """The work folder, the score site (served by this process) and the config file every stage runs with."""
    from common.config import load_config
    from common.score_site import ScoreSite, build_site, site_source

    work = tmp_path_factory.mktemp("cluster-faults")
    manifest = build_site(str(work / "site"), PIECES, faults=False)
    site = ScoreSite(str(work / "site"), port=0)
    site.start()
    tree = yaml.safe_load((cluster / "musiclake.yaml").read_text())
    # a polite crawl (4 requests/s, 2 in flight) so that the node can be killed while it runs
    source = site_source(site.url).model_copy(update={"requests_per_second": 4.0, "per_host_concurrency": 2})
    tree.setdefault("ingest", {})["sources"] = [json.loads(source.model_dump_json())]
    tree["ingest"]["batch_size"] = 4
    tree["train"] = {"max_steps": 160, "checkpoint_every": 20, "num_workers": 2, "n_embd": 64, "n_layer": 2,
                     "block_size": 128, "log_every": 10, "max_failures": 3,
                     "gates": {"val_loss": {"better": "lower", "tolerance": 0.1}}}
    tree["demo"] = {"site_dir": str(work / "site")}
    config = work / "musiclake.yaml"
    config.write_text(yaml.safe_dump(tree, sort_keys=False))
    cfg = load_config(config, environ={})
    try:
        yield {"work": work, "config": config, "cfg": cfg, "manifest": manifest, "site": site}
    finally:
        site.stop()


def table(cfg, name: str, columns=None):
    from deltalake import DeltaTable

    return DeltaTable(f"{cfg.lake.uri}/{name}", storage_options=cfg.lake.storage_options).to_pyarrow_table(columns=columns)


def good_pieces(env) -> set[str]:
    manifest = json.loads((env["work"] / "site" / "manifest.json").read_text())
    return {p["sha256"] for p in manifest["pieces"]}


def test_1_a_worker_node_killed_during_the_crawl_loses_and_duplicates_nothing(cluster, env):
    run = Stage(env["work"], "ingest-1", ["ingest", "run", "--source", "score-site"], env["config"])
    run.wait_for(r"files=[1-9]", timeout=300)  # files are landing: fetch tasks run on both nodes
    assert run.proc.poll() is None, "the crawl is still running when the node dies"
    events = [fault(cluster, "kill", "ray-worker")]  # returns once the GCS has marked the node dead
    assert re.search(r"killed ray-worker: [1-9]\d* processes", events[0]), events
    time.sleep(3)
    events.append(fault(cluster, "start", "ray-worker"))
    code = run.finish()
    if code != 0:  # a crawl cut short by the lost node is resumed by running it again
        rerun = Stage(env["work"], "ingest-2", ["ingest", "run", "--source", "score-site"], env["config"])
        assert rerun.finish() == 0, rerun.text()[-4000:]
    landed = table(env["cfg"], "bronze_midi_files", ["sha256"]).column("sha256").to_pylist()
    assert len(landed) == len(set(landed)), "no piece landed twice"
    assert good_pieces(env) <= set(landed), f"missing {len(good_pieces(env) - set(landed))} pieces; {events}"


def test_2_the_spark_worker_killed_during_a_lake_job_then_the_rerun_commits_only_what_is_missing(cluster, env):
    run = Stage(env["work"], "lake-1", ["lake", "all"], env["config"])
    run.wait_for(r"\[Stage \d+", timeout=400)  # an executor on the worker is running tasks
    time.sleep(2)
    fault(cluster, "kill", "spark-worker")
    assert run.proc.poll() is None, "the lake job was still running when its executor died"
    time.sleep(3)
    fault(cluster, "start", "spark-worker")
    first = run.finish()
    # the worker's folder for the first application: an executor per start, so the lost one was replaced
    apps = sorted((cluster / "spark" / "work").glob("app-*"))
    assert len([p for p in apps[0].iterdir() if p.name.isdigit()]) >= 2, "the killed executor was replaced"
    before = {t: table(env["cfg"], t).num_rows for t in ("silver_scores", "silver_tokens", "gold_text_music_pairs")}
    rerun = Stage(env["work"], "lake-2", ["lake", "all"], env["config"])
    assert rerun.finish() == 0, rerun.text()[-4000:]
    good = good_pieces(env)
    for name in ("silver_scores", "silver_tokens", "gold_text_music_pairs", "gold_splits"):
        keys = table(env["cfg"], name, ["sha256"]).column("sha256").to_pylist()
        assert len(keys) == len(set(keys)), f"{name}: a key committed twice"
        assert set(keys) == good, f"{name}: {len(good - set(keys))} missing"
    if first == 0:  # the job survived the lost executor: the re-run has nothing left to do
        after = {t: table(env["cfg"], t).num_rows for t in before}
        assert after == before


def mlflow_runs(cfg, name_prefix: str):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=cfg.mlflow.tracking_uri)
    exp = client.get_experiment_by_name(cfg.mlflow.experiment)
    return client, client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])


def test_3_a_worker_node_killed_during_training_finishes_from_its_checkpoint(cluster, env):
    run = Stage(env["work"], "train-1", ["train", "run", "--no-evaluate"], env["config"])
    run.wait_for("checkpoint_step00000040", timeout=600)  # two checkpoints written: the kill lands between saves
    assert run.proc.poll() is None, "training is still running when the node dies"
    fault(cluster, "kill", "ray-worker")
    time.sleep(5)
    fault(cluster, "start", "ray-worker")
    assert run.finish() == 0, run.text()[-5000:]
    text = run.text()
    assert "trained: musiclake-generator v" in text
    # Ray Train counted the lost worker group as one failure and restarted it from the last checkpoint
    assert re.search(r"Error count: [1-9]\d* \(max allowed", text), "the fault reached the worker group"
    client, runs = mlflow_runs(env["cfg"], "train-")
    latest = next(r for r in runs if r.info.run_name.startswith("train-"))
    assert latest.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(latest.info.run_id, "train_loss")]
    assert max(steps) == 160, steps


def test_4_the_mlflow_server_restarted_during_training_leaves_a_complete_run(cluster, env):
    run = Stage(env["work"], "train-2", ["train", "run", "--no-evaluate", "--force"], env["config"])
    run.wait_for("generator step 30/", timeout=600)
    restarted = fault(cluster, "restart", "mlflow")
    assert run.proc.poll() is None, "training was still running when the server came back"
    assert run.finish() == 0, run.text()[-5000:]
    client, runs = mlflow_runs(env["cfg"], "train-")
    latest = next(r for r in runs if r.info.run_name.startswith("train-"))
    assert latest.info.status == "FINISHED", restarted
    steps = {m.step for m in client.get_metric_history(latest.info.run_id, "train_loss")}
    assert set(range(10, 161, 10)) <= steps, f"every logged step is on the server: {sorted(steps)}"
    versions = client.search_model_versions(f"run_id='{latest.info.run_id}'")
    assert versions, "the model of the run was registered after the restart"
