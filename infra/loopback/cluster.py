"""A real multi-process cluster on this one machine, on loopback: ``python -m infra.loopback.cluster up|down|status``.

What ``up`` starts, each a separate process (group) of the real system, all under one folder
(``$MUSICLAKE_CLUSTER_DIR``, default ``./data/cluster``: ports, data, pid records, logs):

* ``s3``            moto's S3 server (in memory: its buckets live as long as the process), buckets
                    ``musiclake-lake`` and ``musiclake-mlflow`` made at start
* ``mlflow``        ``mlflow server``: runs in sqlite under the folder, artifacts proxied into ``s3://musiclake-mlflow/``
* ``spark-master``  Spark standalone master (``spark-class ...deploy.master.Master`` from pyspark's own jars)
* ``spark-worker``  one Spark standalone worker: 1 core, 1g
* ``ray-head``      ``ray start --head --block``: 1 CPU, resource ``head``
* ``ray-worker``    ``ray start --address=... --block``: a second Ray node, 1 CPU, resource ``worker``

Ports are fixed (see ``PORTS``) and move together with ``MUSICLAKE_CLUSTER_PORT_BASE`` (default 18000):
a port already taken by something else is refused with one line naming that variable.

Stopping never runs ``ray stop`` (it stops every Ray on the machine, other people's too): every
service is started as the leader of its own session, ``down`` sends SIGTERM to the processes of
the recorded sessions only (Ray drains for a few seconds), SIGKILL after a grace period, and waits
until every recorded port is free.

``up`` writes ``DIR/cluster.env`` (``source`` it: RAY_ADDRESS, AWS_*, MLFLOW_*, MUSICLAKE_CONFIG)
and ``DIR/musiclake.yaml`` (the musiclake config for this cluster, the same keys as
``infra/config/loopback-cluster.yaml``, with the ports in force).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
# Ray rewrites 127.0.0.1/localhost to the machine's routable address (services.resolve_ip_for_localhost);
# another address of the loopback range is taken as given, so the Ray nodes stay on loopback.
RAY_IP = os.environ.get("MUSICLAKE_CLUSTER_RAY_IP", "127.0.0.2")
BUCKETS = ("musiclake-lake", "musiclake-mlflow")
# moto accepts any key pair; these are not secrets, they only have to match between client and server.
AWS_KEY, AWS_SECRET, AWS_REGION = "musiclake", "musiclake-loopback", "us-east-1"
RAY_OBJECT_STORE_MB = int(os.environ.get("MUSICLAKE_CLUSTER_RAY_OBJECT_STORE_MB", "200"))
SPARK_WORKER_MEMORY = os.environ.get("MUSICLAKE_CLUSTER_SPARK_WORKER_MEMORY", "1g")
BASE_ENV = "MUSICLAKE_CLUSTER_PORT_BASE"
DEFAULT_BASE = 18000

# name -> offset from the port base (defaults: 18000 + offset)
PORTS = {
    "s3": 900,                      # moto S3 endpoint            18900
    "mlflow": 500,                  # MLflow tracking server      18500
    "spark_master": 77,             # spark://127.0.0.1:18077
    "spark_master_ui": 80,          # master web UI (+ /json)     18080
    "spark_worker": 78,             # worker RPC                  18078
    "spark_worker_ui": 81,          # worker web UI               18081
    "ray_gcs": 379,                 # Ray GCS (RAY_ADDRESS)       18379
    "ray_head_node_manager": 380,
    "ray_head_object_manager": 381,
    "ray_client": 382,              # ray://127.0.0.2:18382
    "ray_head_agent": 383,
    "ray_head_agent_grpc": 384,
    "ray_head_runtime_env": 385,
    "ray_head_metrics": 386,
    "ray_dashboard": 387,
    "serve": 800,                   # Ray Serve HTTP (not started by `up`; musiclake serve binds it) 18800
    "ray_worker_node_manager": 390,
    "ray_worker_object_manager": 391,
    "ray_worker_agent": 393,
    "ray_worker_agent_grpc": 394,
    "ray_worker_runtime_env": 395,
    "ray_worker_metrics": 396,
}
RAY_HEAD_WORKER_PORTS = (400, 449)    # Ray worker processes of the head: 18400-18449
RAY_WORKER_WORKER_PORTS = (450, 499)  # ... of the worker node:            18450-18499


class ClusterError(RuntimeError):
    """One line for the user; ``up`` stops what it started and exits 1."""


def cluster_dir() -> Path:
    return Path(os.environ.get("MUSICLAKE_CLUSTER_DIR", ROOT / "data" / "cluster")).expanduser().resolve()


def port_base() -> int:
    raw = os.environ.get(BASE_ENV, str(DEFAULT_BASE))
    try:
        base = int(raw)
    except ValueError:
        raise ClusterError(f"{BASE_ENV}={raw!r} is not a number") from None
    if not 1024 <= base <= 65535 - 1000:
        raise ClusterError(f"{BASE_ENV}={base} must lie between 1024 and {65535 - 1000}")
    return base


def ports(base: int | None = None) -> dict[str, int]:
    base = port_base() if base is None else base
    return {k: base + v for k, v in PORTS.items()}


def all_ports(p: dict[str, int], base: int) -> list[int]:
    out = list(p.values())
    for lo, hi in (RAY_HEAD_WORKER_PORTS, RAY_WORKER_WORKER_PORTS):
        out += range(base + lo, base + hi + 1)
    return sorted(out)


def port_free(port: int) -> bool:
    """Nothing listens on (or holds) the port, on any address: Ray binds the wildcard address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            raise
    return True


# ---------------------------------------------------------------------------------------------- processes

@dataclass
class Service:
    name: str
    argv: list[str]
    address: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    started: float | None = None   # create_time of the session leader (guards against pid reuse)
    ready_s: float | None = None


def _pid_create_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def session_procs(sid: int, started: float | None = None):
    """Every live process of the session ``sid`` (the service's leader and everything it spawned, reparented or not)."""
    import psutil

    if started is not None:
        ct = _pid_create_time(sid)
        if ct is not None and abs(ct - started) > 1.0:
            return []  # the leader's pid now belongs to a stranger's new session: none of it is ours
    procs = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                procs.append(p)
        except (ProcessLookupError, PermissionError, psutil.Error, OSError):
            continue
    return procs


def launch(svc: Service, base_env: dict[str, str]) -> None:
    svc.log.parent.mkdir(parents=True, exist_ok=True)
    with open(svc.log, "ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(svc.argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(svc.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**base_env, **svc.env}, start_new_session=True, cwd=str(svc.log.parent))
    svc.pid = proc.pid
    svc.started = _pid_create_time(proc.pid)
    svc._proc = proc  # type: ignore[attr-defined]


def log_tail(path: Path, n: int = 6) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return "\n".join("    " + ln[:300] for ln in lines[-n:])


def http_ok(url: str, timeout: float = 2.0) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read() if r.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------- environment

def java_bin() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def s3_env(p: dict[str, int]) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": AWS_KEY, "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_DEFAULT_REGION": AWS_REGION,
            "AWS_REGION": AWS_REGION, "AWS_ENDPOINT_URL": f"http://{LOOPBACK}:{p['s3']}",
            "MLFLOW_S3_ENDPOINT_URL": f"http://{LOOPBACK}:{p['s3']}"}


def storage_options(p: dict[str, int]) -> dict[str, str]:
    """delta-rs storage options for the lake on the moto endpoint."""
    return {"AWS_ENDPOINT_URL": f"http://{LOOPBACK}:{p['s3']}", "AWS_ACCESS_KEY_ID": AWS_KEY,
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_REGION": AWS_REGION, "AWS_ALLOW_HTTP": "true",
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}


def ray_env() -> dict[str, str]:
    # Token auth as Ray does it by default for `ray start`: the token in ~/.ray/auth_token (made when missing);
    # the mode is set explicitly so `ray status` and drivers started from cluster.env send it too.
    return {"RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0"}


def ray_node_env(p: dict[str, int]) -> dict[str, str]:
    # The nodes hold the object store's credentials, as cluster nodes would: Ray tasks that log MLflow artifacts
    # straight to s3:// find MLFLOW_S3_ENDPOINT_URL + AWS_*; a short drain keeps `down` quick (no Serve upgrades here).
    # Ray starts its workers at nice 15 unless told: below everything else on the machine
    return {**ray_env(), **s3_env(p), "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "3", "RAY_worker_niceness": "0"}


def services(d: Path, p: dict[str, int], base: int) -> list[Service]:
    logs = d / "logs"
    sh = spark_home()
    spark_env = {"SPARK_HOME": str(sh), "SPARK_LOCAL_IP": LOOPBACK, "SPARK_LOG_DIR": str(logs),
                 "SPARK_LOCAL_DIRS": str(d / "spark" / "local"), "SPARK_WORKER_DIR": str(d / "spark" / "work"),
                 "SPARK_DAEMON_MEMORY": "512m", "SPARK_NO_DAEMONIZE": "1",
                 "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    master = f"spark://{LOOPBACK}:{p['spark_master']}"
    ray = str(VENV_BIN / "ray")
    mb = RAY_OBJECT_STORE_MB * 1024 * 1024
    common_ray = ["--block", f"--node-ip-address={RAY_IP}", "--num-cpus=1", "--num-gpus=0",
                  f"--object-store-memory={mb}", "--disable-usage-stats", "--log-style=record", "--log-color=false"]
    gcs = f"{RAY_IP}:{p['ray_gcs']}"
    return [
        Service("s3", [str(VENV_BIN / "moto_server"), "-H", LOOPBACK, "-p", str(p["s3"])],
                f"http://{LOOPBACK}:{p['s3']}", logs / "s3.log"),
        Service("mlflow", [str(VENV_BIN / "mlflow"), "server",
                           "--backend-store-uri", f"sqlite:///{d / 'mlflow' / 'mlflow.db'}",
                           "--artifacts-destination", "s3://musiclake-mlflow/",
                           "--host", LOOPBACK, "--port", str(p["mlflow"]), "--workers", "1"],
                f"http://{LOOPBACK}:{p['mlflow']}", logs / "mlflow.log",
                # the server's job runner (GenAI jobs, 8 more processes, ~1 GB) is not used by musiclake
                env={**s3_env(p), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}),
        Service("spark-master", [str(sh / "bin" / "spark-class"), "org.apache.spark.deploy.master.Master",
                                 "--host", LOOPBACK, "--port", str(p["spark_master"]),
                                 "--webui-port", str(p["spark_master_ui"])],
                master, logs / "spark-master.log", env=spark_env),
        Service("spark-worker", [str(sh / "bin" / "spark-class"), "org.apache.spark.deploy.worker.Worker", master,
                                 "--host", LOOPBACK, "--port", str(p["spark_worker"]),
                                 "--webui-port", str(p["spark_worker_ui"]), "--cores", "1",
                                 "--memory", SPARK_WORKER_MEMORY, "--work-dir", str(d / "spark" / "work")],
                f"{LOOPBACK}:{p['spark_worker']}", logs / "spark-worker.log", env=spark_env),
        Service("ray-head", [ray, "start", "--head", f"--port={p['ray_gcs']}", *common_ray,
                             '--resources={"head": 1}', "--node-name=head", f"--temp-dir={d / 'ray'}",
                             "--include-dashboard=false", f"--dashboard-port={p['ray_dashboard']}",
                             f"--ray-client-server-port={p['ray_client']}",
                             f"--node-manager-port={p['ray_head_node_manager']}",
                             f"--object-manager-port={p['ray_head_object_manager']}",
                             f"--dashboard-agent-listen-port={p['ray_head_agent']}",
                             f"--dashboard-agent-grpc-port={p['ray_head_agent_grpc']}",
                             f"--runtime-env-agent-port={p['ray_head_runtime_env']}",
                             f"--metrics-export-port={p['ray_head_metrics']}",
                             f"--min-worker-port={base + RAY_HEAD_WORKER_PORTS[0]}",
                             f"--max-worker-port={base + RAY_HEAD_WORKER_PORTS[1]}"],
                gcs, logs / "ray-head.log", env=ray_node_env(p)),
        Service("ray-worker", [ray, "start", f"--address={gcs}", *common_ray,
                               '--resources={"worker": 1}', "--node-name=worker-1",
                               f"--node-manager-port={p['ray_worker_node_manager']}",
                               f"--object-manager-port={p['ray_worker_object_manager']}",
                               f"--dashboard-agent-listen-port={p['ray_worker_agent']}",
                               f"--dashboard-agent-grpc-port={p['ray_worker_agent_grpc']}",
                               f"--runtime-env-agent-port={p['ray_worker_runtime_env']}",
                               f"--metrics-export-port={p['ray_worker_metrics']}",
                               f"--min-worker-port={base + RAY_WORKER_WORKER_PORTS[0]}",
                               f"--max-worker-port={base + RAY_WORKER_WORKER_PORTS[1]}"],
                gcs, logs / "ray-worker.log", env=ray_node_env(p)),
    ]


# ---------------------------------------------------------------------------------------------- readiness

def s3_ready(p: dict[str, int]) -> bool:
    import boto3
    from botocore.config import Config as BotoConfig

    try:
        s3 = boto3.client("s3", endpoint_url=f"http://{LOOPBACK}:{p['s3']}", aws_access_key_id=AWS_KEY,
                          aws_secret_access_key=AWS_SECRET, region_name=AWS_REGION,
                          config=BotoConfig(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}))
        have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for b in BUCKETS:
            if b not in have:
                s3.create_bucket(Bucket=b)
        return True
    except Exception:  # noqa: BLE001 - not up yet
        return False


def spark_master_json(p: dict[str, int]) -> dict | None:
    raw = http_ok(f"http://{LOOPBACK}:{p['spark_master_ui']}/json")
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def spark_alive_workers(p: dict[str, int]) -> int:
    j = spark_master_json(p) or {}
    return sum(1 for w in j.get("workers", []) if w.get("state") == "ALIVE")


def ray_status(p: dict[str, int]) -> str | None:
    env = {**os.environ, **ray_env()}
    try:
        r = subprocess.run([str(VENV_BIN / "ray"), "status", f"--address={RAY_IP}:{p['ray_gcs']}"],
                           capture_output=True, text=True, timeout=30, env=env, check=False)
    except subprocess.TimeoutExpired:
        return None
    return r.stdout if r.returncode == 0 else None


def ray_nodes(p: dict[str, int]) -> int:
    out = ray_status(p) or ""
    # "Active:" section lists one "1 node_<id>" line per alive node
    active = out.split("Active:", 1)[-1].split("Pending:", 1)[0] if "Active:" in out else ""
    return sum(1 for ln in active.splitlines() if "node_" in ln)


def checks(p: dict[str, int]) -> dict[str, callable]:
    return {
        "s3": lambda: s3_ready(p),
        "mlflow": lambda: http_ok(f"http://{LOOPBACK}:{p['mlflow']}/health") is not None,
        "spark-master": lambda: spark_master_json(p) is not None,
        "spark-worker": lambda: spark_alive_workers(p) >= 1,
        "ray-head": lambda: ray_nodes(p) >= 1,
        "ray-worker": lambda: ray_nodes(p) >= 2,
    }


# ---------------------------------------------------------------------------------------------- state

def state_file(d: Path) -> Path:
    return d / "cluster.json"


def read_state(d: Path) -> dict | None:
    try:
        return json.loads(state_file(d).read_text())
    except (OSError, ValueError):
        return None


def write_state(d: Path, base: int, svcs: list[Service]) -> None:
    save_state(d, {"base": base, "dir": str(d), "services": [
        {"name": s.name, "pid": s.pid, "started": s.started, "address": s.address, "log": str(s.log),
         "ready_s": s.ready_s} for s in svcs if s.pid]})


def save_state(d: Path, state: dict) -> None:
    """Write the state record atomically, and a pid file per service."""
    tmp = state_file(d).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(state_file(d))
    (d / "pids").mkdir(exist_ok=True)
    for e in state["services"]:
        (d / "pids" / f"{e['name']}.pid").write_text(f"{e['pid']}\n")


def launch_env() -> dict[str, str]:
    """The environment services start with: this one, without a RAY_ADDRESS that would point a node elsewhere."""
    return {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}


def alive(entry: dict) -> bool:
    return bool(session_procs(entry["pid"], entry.get("started")))


def rss_mb(entry: dict) -> tuple[int, float]:
    procs = session_procs(entry["pid"])
    import psutil

    total = 0
    for pr in procs:
        with contextlib.suppress(psutil.Error):
            total += pr.memory_info().rss
    return len(procs), total / 2**20


def print_table(state: dict) -> None:
    rows = [("service", "pid", "procs", "rss MB", "ready s", "address", "log")]
    for e in state["services"]:
        n, mb = rss_mb(e)
        rows.append((e["name"], str(e["pid"]), str(n), f"{mb:.0f}",
                     f"{e['ready_s']:.1f}" if e.get("ready_s") is not None else "-", e["address"], e["log"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


# ---------------------------------------------------------------------------------------------- config out

def config_tree(p: dict[str, int]) -> dict:
    return {
        "ray": {"address": f"{RAY_IP}:{p['ray_gcs']}", "auth_mode": "token"},
        "spark": {"master": f"spark://{LOOPBACK}:{p['spark_master']}", "driver_memory": "1g",
                  "conf": {"spark.executor.memory": SPARK_WORKER_MEMORY, "spark.cores.max": "1"}},
        "lake": {"uri": "s3://musiclake-lake/lake", "storage_options": storage_options(p)},
        "mlflow": {"tracking_uri": f"http://{LOOPBACK}:{p['mlflow']}", "artifact_location": None},
        "serve": {"host": LOOPBACK, "port": p["serve"], "replica_resources": {"worker": 0.01}},
    }


def write_outputs(d: Path, p: dict[str, int]) -> None:
    import yaml

    (d / "musiclake.yaml").write_text(
        "# Written by `python -m infra.loopback.cluster up` for the ports in force; see infra/config/loopback-cluster.yaml.\n"
        + yaml.safe_dump(config_tree(p), sort_keys=False))
    env = {"MUSICLAKE_CLUSTER_DIR": str(d), "MUSICLAKE_CONFIG": str(d / "musiclake.yaml"),
           "RAY_ADDRESS": f"{RAY_IP}:{p['ray_gcs']}", **ray_env(),
           "SPARK_MASTER": f"spark://{LOOPBACK}:{p['spark_master']}",
           "MLFLOW_TRACKING_URI": f"http://{LOOPBACK}:{p['mlflow']}", **s3_env(p)}
    (d / "cluster.env").write_text("# source me: the loopback cluster's addresses (python -m infra.loopback.cluster up)\n"
                                   + "".join(f"export {k}={v}\n" for k, v in env.items()))


# ---------------------------------------------------------------------------------------------- commands

def stop_entries(entries: list[dict], grace_s: float = 20.0) -> list[str]:
    """Stop the recorded sessions only: SIGTERM to each leader (the Ray worker node first, so it drains while the
    head still runs), then SIGTERM to whatever of the session is left, SIGKILL after ``grace_s``.

    Names the services that needed SIGKILL.
    """
    import psutil

    order = ["ray-worker", "ray-head", "spark-worker", "spark-master", "mlflow", "s3"]
    entries = sorted(entries, key=lambda e: order.index(e["name"]) if e["name"] in order else -1)
    members = {e["name"]: session_procs(e["pid"], e.get("started")) for e in entries}

    def signal_all(procs, sig):
        for pr in procs:
            try:
                pr.send_signal(sig)
            except psutil.Error:
                pass

    for e in entries:
        leader = [pr for pr in members[e["name"]] if pr.pid == e["pid"]]
        signal_all(leader or members[e["name"]], signal.SIGTERM)  # `ray start --block` tears its node down itself
        if e["name"] == "ray-worker" and leader:
            psutil.wait_procs(leader, timeout=grace_s / 2)
    deadline, termed_all = time.monotonic() + grace_s, False
    while time.monotonic() < deadline and any(session_procs(e["pid"]) for e in entries):
        time.sleep(0.5)
        if not termed_all and time.monotonic() > deadline - grace_s / 2:  # half the grace gone: SIGTERM every member
            termed_all = True
            for e in entries:
                signal_all(session_procs(e["pid"]), signal.SIGTERM)
    killed = []
    for e in entries:
        left = session_procs(e["pid"])
        signal_all(left, signal.SIGKILL)
        if left:
            killed.append(e["name"])
    if killed:
        psutil.wait_procs([pr for e in entries for pr in session_procs(e["pid"])], timeout=5)
    return killed


def cmd_down(d: Path, quiet: bool = False) -> int:
    state = read_state(d)
    if not state:
        print(f"no loopback cluster recorded under {d}: nothing to stop")
        return 0
    t0 = time.monotonic()
    killed = stop_entries(state["services"])
    p = ports(state["base"])
    busy = [q for q in all_ports(p, state["base"]) if not port_free(q)]
    deadline = time.monotonic() + 30
    while busy and time.monotonic() < deadline:
        time.sleep(0.5)
        busy = [q for q in busy if not port_free(q)]
    left = [e["name"] for e in state["services"] if session_procs(e["pid"])]
    if left or busy:
        print(f"still running after down: services {left or 'none'}, ports in use {busy or 'none'}")
        return 1
    state_file(d).unlink(missing_ok=True)
    for f in (d / "pids").glob("*.pid") if (d / "pids").exists() else []:
        f.unlink()
    note = f" (SIGKILL needed for {', '.join(killed)})" if killed else ""
    if not quiet:
        print(f"stopped {len(state['services'])} services in {time.monotonic() - t0:.1f}s{note}; "
              f"nothing left running (no recorded process alive, ports {all_ports(p, state['base'])[0]}-"
              f"{all_ports(p, state['base'])[-1]} free)")
    return 0


def cmd_up(d: Path, timeout_s: float = 180.0) -> int:
    state = read_state(d)
    if state:
        up = [e for e in state["services"] if alive(e)]
        if len(up) == len(state["services"]) == 6:
            print(f"the loopback cluster is already running (under {d}); `cluster-down` stops it")
            print_table(state)
            return 0
        dead = sorted({e["name"] for e in state["services"]} - {e["name"] for e in up})
        print(f"a partly running cluster is recorded under {d} (not running: {', '.join(dead) or '-'}); stopping it first")
        if cmd_down(d, quiet=True) != 0:
            return 1
    if java_bin() is None:
        print("java not found: Spark's master and worker need Java 17 (apt-get install openjdk-17-jre-headless, or set JAVA_HOME)")
        return 1
    base = port_base()
    p = ports(base)
    names = {v: k for k, v in p.items()}
    for q in all_ports(p, base):
        if not port_free(q):
            what = names.get(q, "ray worker-process range")
            used = all_ports(p, base)
            print(f"port {q} ({what}) is in use by another program: set {BASE_ENV} (now {base}; the cluster uses "
                  f"ports {used[0]}-{used[-1]}) to a free range, e.g. {BASE_ENV}={base + 1000}")
            return 1
    # moto keeps its buckets in memory: a cold start has an empty object store, so MLflow starts empty too
    # (a registry whose artifacts are gone would only mislead)
    shutil.rmtree(d / "mlflow", ignore_errors=True)
    for sub in ("logs", "mlflow", "spark/local", "spark/work", "ray", "pids"):
        (d / sub).mkdir(parents=True, exist_ok=True)

    svcs = {s.name: s for s in services(d, p, base)}
    ready = checks(p)
    base_env = launch_env()
    # After what each service is launched: s3 -> mlflow, spark-master -> spark-worker, ray-head -> ray-worker.
    after = {"s3": None, "spark-master": None, "ray-head": None, "mlflow": "s3", "spark-worker": "spark-master",
             "ray-worker": "ray-head"}
    launched_at: dict[str, float] = {}
    t_start = time.monotonic()
    print(f"starting the loopback cluster under {d} (ports {base}+, Ray on {RAY_IP}) ...", flush=True)
    try:
        while True:
            for name, dep in after.items():
                s = svcs[name]
                if s.pid is None and (dep is None or svcs[dep].ready_s is not None):
                    launch(s, base_env)
                    launched_at[name] = time.monotonic()
                    write_state(d, base, list(svcs.values()))
            for name, s in svcs.items():
                if s.pid is None or s.ready_s is not None:
                    continue
                if s._proc.poll() is not None:  # type: ignore[attr-defined]
                    raise ClusterError(f"{name} exited with code {s._proc.returncode} before it answered; "  # type: ignore[attr-defined]
                                       f"last lines of {s.log}:\n{log_tail(s.log)}")
                if ready[name]():
                    s.ready_s = time.monotonic() - launched_at[name]
                    print(f"  {name:<13} ready after {s.ready_s:5.1f}s", flush=True)
                    write_state(d, base, list(svcs.values()))
                elif time.monotonic() - launched_at[name] > timeout_s:
                    raise ClusterError(f"{name} did not answer within {timeout_s:.0f}s; last lines of {s.log}:\n"
                                       f"{log_tail(s.log)}")
            if all(s.ready_s is not None for s in svcs.values()):
                break
            time.sleep(0.5)
    except BaseException as e:  # whatever stops `up` half-way, it leaves nothing running
        write_state(d, base, list(svcs.values()))
        cmd_down(d, quiet=True)
        try:
            why = (f"failed: {e}" if isinstance(e, ClusterError) else "interrupted" if isinstance(e, KeyboardInterrupt)
                   else f"stopped by {type(e).__name__}: {e}")
            print(f"cluster-up {why}; what it had started is stopped again", flush=True)
        except OSError:
            pass
        if not isinstance(e, (ClusterError, KeyboardInterrupt)):
            raise
        return 1
    write_outputs(d, p)
    print(f"loopback cluster up in {time.monotonic() - t_start:.1f}s; `source {d / 'cluster.env'}` "
          f"or MUSICLAKE_CONFIG={d / 'musiclake.yaml'}")
    print_table(read_state(d))
    return 0


def _entry(d: Path, name: str) -> tuple[dict, dict]:
    state = read_state(d)
    if not state:
        raise ClusterError(f"no loopback cluster recorded under {d}: `up` first")
    names = [e["name"] for e in state["services"]]
    if name not in names:
        raise ClusterError(f"no service {name!r} in the cluster under {d}; services: {', '.join(names)}")
    return state, next(e for e in state["services"] if e["name"] == name)


def cmd_kill(d: Path, name: str) -> int:
    """SIGKILL every process of one service at once, as a crash or a lost node would (no drain, no clean-up)."""
    import psutil

    _, entry = _entry(d, name)
    procs = session_procs(entry["pid"], entry.get("started"))
    for pr in procs:
        with contextlib.suppress(psutil.Error):
            pr.kill()
    psutil.wait_procs(procs, timeout=10)
    if not procs:
        print(f"{name} was not running")
        return 0
    note = ""
    if name == "ray-worker":  # as with a lost machine, its replacement comes after the GCS has marked it dead
        state, _ = _entry(d, name)
        p, t0 = ports(state["base"]), time.monotonic()
        while ray_nodes(p) >= 2 and time.monotonic() - t0 < 120:
            time.sleep(1)
        note = f"; the GCS marked the node dead after {time.monotonic() - t0:.0f}s"
    print(f"killed {name}: {len(procs)} processes (SIGKILL){note}")
    return 0


def ready_again(name: str, p: dict[str, int], svc: Service):
    """The readiness check for a service started again (call before launching it).

    The cluster may still count the killed instance: a Spark master lists the dead worker as alive
    for a while, the GCS the dead Ray node. So a restarted worker must answer itself, and a Ray node
    must have said "Ray runtime started" in its log since this launch.
    """
    check = checks(p)[name]
    if name == "spark-worker":
        return lambda: http_ok(f"http://{LOOPBACK}:{p['spark_worker_ui']}/json") is not None and check()
    if name.startswith("ray-"):
        offset = svc.log.stat().st_size if svc.log.exists() else 0

        def node_started() -> bool:
            with open(svc.log, "rb") as f:
                f.seek(offset)
                return b"Ray runtime started" in f.read() and check()
        return node_started
    return check


def cmd_start(d: Path, name: str, timeout_s: float = 180.0, restart: bool = False) -> int:
    """Start one service of a recorded cluster again (after ``kill``, or stopped first with ``restart``), as before."""
    state, entry = _entry(d, name)
    if alive(entry):
        if not restart:
            print(f"{name} is already running (pid {entry['pid']})")
            return 0
        stop_entries([entry])
    base = state["base"]
    p = ports(base)
    svc = next(s for s in services(d, p, base) if s.name == name)
    ready = ready_again(name, p, svc)
    t0 = time.monotonic()
    launch(svc, launch_env())
    while not ready():
        if svc._proc.poll() is not None:  # type: ignore[attr-defined]
            raise ClusterError(f"{name} exited with code {svc._proc.returncode}; last lines of {svc.log}:\n"  # type: ignore[attr-defined]
                               f"{log_tail(svc.log)}")
        if time.monotonic() - t0 > timeout_s:
            raise ClusterError(f"{name} did not answer within {timeout_s:.0f}s; last lines of {svc.log}:\n{log_tail(svc.log)}")
        time.sleep(0.5)
    entry.update(pid=svc.pid, started=svc.started, ready_s=time.monotonic() - t0)
    save_state(d, state)
    print(f"{'restarted' if restart else 'started'} {name} (pid {svc.pid}), ready after {entry['ready_s']:.1f}s")
    return 0


def cmd_status(d: Path) -> int:
    state = read_state(d)
    if not state:
        print(f"no loopback cluster recorded under {d}")
        return 1
    p = ports(state["base"])
    ok = checks(p)
    print_table(state)
    bad = []
    for e in state["services"]:
        if not alive(e) or not ok[e["name"]]():
            bad.append(e["name"])
    print("all services answer" if not bad else f"not answering: {', '.join(bad)}")
    return 0 if not bad else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m infra.loopback.cluster", description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["up", "down", "status", "kill", "start", "restart"],
                    help="kill/start/restart act on one service (for fault drills): e.g. `kill ray-worker`")
    ap.add_argument("service", nargs="?", help="with kill/start/restart: s3, mlflow, spark-master, spark-worker, "
                                               "ray-head or ray-worker")
    ap.add_argument("--dir", help="the cluster's folder (default $MUSICLAKE_CLUSTER_DIR or ./data/cluster)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds each service may take to answer")
    a = ap.parse_args(argv)
    if a.dir:
        os.environ["MUSICLAKE_CLUSTER_DIR"] = a.dir
    d = cluster_dir()
    try:
        if a.command == "up":
            d.mkdir(parents=True, exist_ok=True)
            return cmd_up(d, a.timeout)
        if a.command == "down":
            return cmd_down(d)
        if a.command in ("kill", "start", "restart"):
            if not a.service:
                print(f"{a.command} needs a service name, e.g. `{a.command} ray-worker`")
                return 2
            if a.command == "kill":
                return cmd_kill(d, a.service)
            return cmd_start(d, a.service, a.timeout, restart=a.command == "restart")
        return cmd_status(d)
    except ClusterError as e:
        print(str(e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
