"""Driving the loopback cluster (infra/loopback/cluster.py) from tests: up/down in a folder of their own, clients.

Each test module brings up its own cluster on its own port base (so ``make cluster-up`` on the
default ports can run beside it) in a short folder under /tmp (Ray's unix sockets live under
``DIR/ray/session_*/sockets``: a 108-byte limit).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from contextlib import contextmanager
from pathlib import Path

from infra.loopback import cluster as lc

ROOT = Path(__file__).resolve().parents[2]
# What a user's shell may hold that would let a run work without its config file: left out of "config only" runs.
CLUSTER_ENV_VARS = ("RAY_ADDRESS", "RAY_AUTH_MODE", "MUSICLAKE_CONFIG", "MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL",
                    "SPARK_MASTER", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                    "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE")


def cli(d: Path, base: int, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    env = {**os.environ, "MUSICLAKE_CLUSTER_DIR": str(d), lc.BASE_ENV: str(base)}
    return subprocess.run([sys.executable, "-m", "infra.loopback.cluster", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def cluster_env(d: Path) -> dict[str, str]:
    """This environment plus the cluster's ``cluster.env``, as a user's shell after ``source``."""
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    for line in (d / "cluster.env").read_text().splitlines():
        if line.startswith("export "):
            k, _, v = line[len("export "):].partition("=")
            env[k] = v
    return env


def config_only_env() -> dict[str, str]:
    """This environment without anything that names the cluster or holds its credentials: the config file must do."""
    return {k: v for k, v in os.environ.items() if k not in CLUSTER_ENV_VARS}


def run_py(d: Path, code: str, timeout: float = 240):
    """Run ``code`` in a fresh interpreter with the cluster's environment; its stdout's last line, parsed as JSON."""
    # ends with os._exit after a flush: a bare interpreter that read a Delta table can die at finalisation
    # ("terminate called without an active exception", pyarrow's pool threads; musiclake's CLI does the same)
    code = textwrap.dedent(code) + "\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_os._exit(0)\n"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=cluster_env(d),
                       capture_output=True, text=True, timeout=timeout, check=False)
    assert r.returncode == 0, f"client failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


@contextmanager
def running_cluster(base: int, prefix: str = "mlc-"):
    """A cluster brought up for the block (its folder yielded), always brought down and removed after."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    r = cli(d, base, "up")
    try:
        assert r.returncode == 0, f"cluster up failed:\n{r.stdout}\n{r.stderr[-3000:]}"
        yield d
    finally:
        cli(d, base, "down")
        shutil.rmtree(d, ignore_errors=True)


def running_default_cluster() -> dict | None:
    """The cluster `make cluster-up` runs (``$MUSICLAKE_CLUSTER_DIR`` or ./data/cluster), when all its services are alive.

    Its config file is the checked-in ``infra/config/loopback-cluster.yaml`` on the default ports,
    else the ``musiclake.yaml`` that ``up`` wrote for the ports in force.
    """
    d = Path(os.environ.get("MUSICLAKE_CLUSTER_DIR") or ROOT / "data" / "cluster")
    state = lc.read_state(d)
    if not state or len(state["services"]) != 6 or not all(lc.alive(e) for e in state["services"]):
        return None
    checked_in = ROOT / "infra" / "config" / "loopback-cluster.yaml"
    config = checked_in if state["base"] == lc.DEFAULT_BASE else d / "musiclake.yaml"
    return {"dir": d, "base": state["base"], "config": config, "own": False}


def service(d: Path, name: str) -> dict:
    """The state record (pid, ports, log) of one running service."""
    state = json.loads((d / "cluster.json").read_text())
    return next(e for e in state["services"] if e["name"] == name)
