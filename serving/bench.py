"""``make bench-serve`` / ``make bench-load`` (``python -m serving.bench latency|load|sampling``): the service's figures.

* ``latency``: deploys the Ray Serve app once per sampling path, in one run (``--paths``, default
  ``batched,fast``: the batched path, then the one-request-per-thread fast path as it was served
  before batching, ``serve.max_concurrent=2``, ``serve.max_queue=8``; each on a fresh port; Ray stays up between them),
  warms each up, then sends ``--requests`` sequential ``POST /v1/generate`` (16 bars x 4 tracks,
  seeds 0..N-1) from one ``requests.Session`` and prints the client-side wall time p50/p95/max, the
  server's mean ``timings.generate_ms`` / ``timings.total_ms`` and steps, how much faster the first
  path is than each other and whether they wrote the same MIDI for each seed, and the goal (p95 <
  0.3 s). ``--files`` also times the WAV of one new piece (rendered on the first GET) and a second
  GET (cached).
* ``sampling``: no server: CPU time per piece in process, each piece alone (``Generator.generate``)
  and all together (``Generator.generate_many``), for the registered model (``serve.model_alias``)
  and a freshly initialised ``pop909`` preset (the bigger model), and whether the pieces are the same.
* ``load``: a bounded loopback load test per sampling path (``--paths``, same default and settings):
  ``--clients`` threads, each with its own API key (a key file of the bench's own in a temporary
  folder), loop ``POST /v1/generate`` (random seeds) for ``--duration`` seconds, honouring
  Retry-After on 503/429 (capped at 5 s); prints progress every 5 s, then throughput, latency of
  the 200s, counts per status, the 503s that carried Retry-After, the most requests in flight, the
  CPU time per answered piece of the replicas, their sampler actors, Serve's proxy and the clients
  (``cpu ms`` in the table: replicas and samplers), and a verdict; at the end one table with a line per path and the goal (at least 15 pieces/s answered,
  p95 < 1 s, no 5xx other than 503). ``--alias-move`` moves the generator's "champion" alias to
  another registered version halfway through each run and back at its end. ``--url URL --api-key
  K`` targets a server that is already running instead of deploying one (one key for every client).

The bench raises the key's rate limit (``serve.rate_limit_per_min=100000``, ``serve.rate_burst=10000``;
``--set`` wins over that) and turns Ray's dashboard off. It prints figures; it asserts nothing.
Serve is shut down at the end, on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import sys
import threading
import time
from collections import Counter

import numpy as np

PROMPT = "relaxed cafe afternoon with a touch of electronic"
INSTRUMENTS = ["flute", "piano", "acoustic bass", "drums"]
GOAL_P95_S = 0.3  # latency: one request at a time, 16 bars x 4 tracks (issue 16)
LOAD_GOAL_RATE, LOAD_GOAL_P95_S = 15.0, 1.0  # load: pieces/s answered, p95 of the 200s
RETRY_CAP_S = 5.0
# the settings each sampling path runs with: batched with the embedded defaults; fast and baseline with the
# replica's admission as it was before batching (2 worker threads), so the table is new vs old
PATH_SETTINGS = {"batched": [], "fast": ["serve.max_concurrent=2", "serve.max_queue=8"],
                 "baseline": ["serve.max_concurrent=2", "serve.max_queue=8"]}
BENCH_OVERRIDES = ["serve.rate_limit_per_min=100000", "serve.rate_burst=10000", "ray.include_dashboard=false"]


def _body(seed: int, bars: int) -> dict:
    return {"prompt": PROMPT, "bars": bars, "seed": seed, "instruments": INSTRUMENTS}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"


def _error_of(resp) -> str:
    try:
        return str(resp.json().get("error"))[:200]
    except ValueError:
        return resp.text[:200]


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class _Server:
    """Deploys the app (Ray started here, its workers' logs kept off this console) and shuts it down."""

    def __init__(self):
        self.up = False

    def deploy(self, cfg) -> str:
        from common.cluster import init_ray
        from serving import app as serving_app

        try:
            serving_app._check_port(cfg)  # before Ray starts, so a taken port costs one line, not a Ray start
            init_ray(cfg, log_to_driver=False)
            self.up = True
            return serving_app.deploy(cfg)
        except serving_app.PortInUse as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(1) from None

    def shutdown(self) -> None:
        if self.up:
            from serving import app as serving_app

            serving_app.shutdown()
            self.up = False

    def close(self) -> None:
        self.shutdown()
        import ray

        if ray.is_initialized():
            ray.shutdown()


def _config(args, port: int, extra: list[str] = ()):
    from common.config import ConfigError, load_config

    try:
        return load_config(args.config, BENCH_OVERRIDES + [f"serve.port={port}", *extra] + list(args.set or []))
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        raise SystemExit(2) from None


def _describe(cfg) -> str:
    s = cfg.serve
    return (f"replicas={s.num_replicas} replica_cpus={s.replica_cpus:g} sampling={s.sampling} "
            f"sampling_processes={s.sampling_processes} "
            f"max_concurrent={s.max_concurrent} max_queue={s.max_queue} rate_limit_per_min={s.rate_limit_per_min:g} "
            f"rate_burst={s.rate_burst} alias_ttl_s={s.alias_ttl_s:g} model_alias={s.model_alias} "
            f"ray.num_cpus={cfg.ray.num_cpus or 'all'}")


def _key(cfg) -> str:
    from serving.guard import ensure_keys

    keys, _ = ensure_keys(cfg.serve.api_keys_file)
    entry = keys[0]
    if entry.get("rate_limit_per_min") or entry.get("rate_burst"):
        print(f"note: key {entry.get('name')!r} has its own rate limit in {cfg.serve.api_keys_file}; "
              "it wins over the bench's serve.rate_limit_per_min", file=sys.stderr)
    return entry["key"]


def _session(key: str):
    import requests

    from serving.api import API_KEY_HEADER

    s = requests.Session()
    s.headers[API_KEY_HEADER] = key
    return s


# -- latency ---------------------------------------------------------------------------------------
def _run_path(args, server: _Server, sampling: str, port: int, files: bool) -> dict:
    from serving.api import GENERATE_PATH

    cfg = _config(args, port, [f"serve.sampling={sampling}", *PATH_SETTINGS.get(sampling, [])])
    print(f"\n[{sampling}] config: {_describe(cfg)}", flush=True)
    t0 = time.perf_counter()
    url = server.deploy(cfg)
    print(f"[{sampling}] deployed at {url} in {time.perf_counter() - t0:.1f} s", flush=True)
    session = _session(_key(cfg))
    endpoint = url + GENERATE_PATH
    out = {"sampling": sampling, "wall": [], "generate_ms": [], "total_ms": [], "steps": [], "sha": {},
           "errors": Counter(), "versions": Counter()}
    try:
        for i in range(args.warmup):
            t = time.perf_counter()
            r = session.post(endpoint, json=_body(1_000_000 + i, args.bars), timeout=600)
            print(f"[{sampling}] warm-up {i + 1}/{args.warmup}: {r.status_code} in {time.perf_counter() - t:.2f} s"
                  + ("" if r.status_code == 200 else f" ({_error_of(r)})"), flush=True)
        t_loop = time.perf_counter()
        for i in range(args.requests):
            t = time.perf_counter()
            r = session.post(endpoint, json=_body(i, args.bars), timeout=600)
            wall = time.perf_counter() - t
            if r.status_code != 200:
                out["errors"][f"{r.status_code} {_error_of(r)}"] += 1
                continue
            p = r.json()
            out["wall"].append(wall)
            out["generate_ms"].append(p["timings"]["generate_ms"])
            out["total_ms"].append(p["timings"]["total_ms"])
            out["steps"].append(p["n_steps"])
            out["sha"][i] = p["content_sha256"]
            out["versions"][p["provenance"]["generator"]["version"]] += 1
            if time.perf_counter() - t_loop > 5 and (i + 1) % 5 == 0:
                print(f"[{sampling}] {i + 1}/{args.requests} requests, last {wall:.2f} s", flush=True)
        if files:
            out["files"] = _time_wav(session, url, args.bars, sampling)
    finally:
        session.close()
        server.shutdown()
    return out


def _time_wav(session, url: str, bars: int, sampling: str) -> str:
    """A new piece (random seed, so its WAV is not on disk yet), its WAV fetched twice."""
    from serving.api import GENERATE_PATH

    r = session.post(url + GENERATE_PATH, json=_body(random.randrange(2**31 - 16), bars), timeout=600)
    if r.status_code != 200:
        return f"could not generate a piece for the WAV: {r.status_code} {_error_of(r)}"
    wav = url + r.json()["urls"]["wav"]
    times, size = [], 0
    for _ in range(2):
        t = time.perf_counter()
        g = session.get(wav, timeout=600)
        times.append(time.perf_counter() - t)
        if g.status_code != 200:
            return f"GET wav: {g.status_code} {_error_of(g)}"
        size = len(g.content)
    return (f"WAV of one {bars}-bar piece ({size / 1e6:.1f} MB): first GET (FluidSynth render) {times[0]:.2f} s, "
            f"second GET (cached) {times[1] * 1000:.0f} ms")


def latency(args, server: _Server) -> None:
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    print(f"bench-serve: {args.requests} sequential POST /v1/generate per sampling path ({', '.join(paths)}), "
          f"{args.bars} bars x {len(INSTRUMENTS)} tracks ({', '.join(INSTRUMENTS)}), {args.warmup} warm-up requests, "
          f"one HTTP client; load average at start {_load()}", flush=True)
    results = []
    for n, sampling in enumerate(paths):
        port = (args.port + n) if args.port else _free_port()
        results.append(_run_path(args, server, sampling, port, files=args.files and n == 0))
    print(f"\nload average at end {_load()}")
    print(f"{'path':<10}{'n':>4}{'p50 s':>8}{'p95 s':>8}{'max s':>8}{'gen ms':>9}{'total ms':>10}{'steps':>7}")
    for r in results:
        w = r["wall"]
        mean = (lambda k: float(np.mean(r[k]))) if w else (lambda k: float("nan"))
        print(f"{r['sampling']:<10}{len(w):>4}{_pct(w, 50):>8.3f}{_pct(w, 95):>8.3f}"
              f"{max(w, default=float('nan')):>8.3f}{mean('generate_ms'):>9.0f}{mean('total_ms'):>10.0f}"
              f"{mean('steps'):>7.0f}")
        for err, count in r["errors"].items():
            print(f"  {r['sampling']}: {count} x {err}")
        if r["versions"]:
            print(f"  {r['sampling']}: generator " + ", ".join(f"v{v} x{c}" for v, c in sorted(r["versions"].items())))
    for r in results:
        if "files" in r:
            print(f"{r['sampling']}: {r['files']}")
    first = results[0] if results and results[0]["wall"] else None
    for other in results[1:]:
        if first is None or not other["wall"]:
            continue
        common = sorted(set(first["sha"]) & set(other["sha"]))
        same = sum(first["sha"][i] == other["sha"][i] for i in common)
        print(f"{first['sampling']} vs {other['sampling']}: p50 {_pct(other['wall'], 50) / _pct(first['wall'], 50):.1f}x, "
              f"p95 {_pct(other['wall'], 95) / _pct(first['wall'], 95):.1f}x faster, server generate_ms "
              f"{np.mean(other['generate_ms']) / np.mean(first['generate_ms']):.1f}x; same MIDI for {same}/{len(common)} "
              f"seeds")
    for r in results:
        if r["wall"]:
            p95 = _pct(r["wall"], 95)
            verdict = "met" if p95 < GOAL_P95_S else f"missed by {p95 - GOAL_P95_S:.3f} s"
            print(f"goal p95 < {GOAL_P95_S:g} s over HTTP, {r['sampling']} path: {verdict} (p95 {p95:.3f} s)")


# -- load ------------------------------------------------------------------------------------------
class _Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.records: list[tuple] = []  # (start, end, status, has_retry_after, version, error)
        self.in_flight = 0
        self.max_in_flight = 0

    def enter(self):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self, record: tuple):
        with self.lock:
            self.in_flight -= 1
            self.records.append(record)

    def snapshot(self) -> list[tuple]:
        with self.lock:
            return list(self.records)


def _client(endpoint: str, key: str, bars: int, stop: threading.Event, tally: _Tally, t0: float) -> None:
    import requests

    session = _session(key)
    rng = random.Random()
    try:
        while not stop.is_set():
            tally.enter()
            start = time.perf_counter() - t0
            status, retry, version, error = 0, None, None, ""
            try:
                r = session.post(endpoint, json=_body(rng.randrange(2**31 - 16), bars), timeout=300)
                status, retry = r.status_code, r.headers.get("Retry-After")
                if status == 200:
                    version = r.json()["provenance"]["generator"]["version"]
                else:
                    error = _error_of(r)
            except requests.RequestException as e:
                error = f"{type(e).__name__}: {str(e)[:150]}"
            tally.leave((start, time.perf_counter() - t0, status, retry is not None, version, error))
            if status in (429, 503):
                try:
                    wait = min(RETRY_CAP_S, float(retry)) if retry is not None else 1.0
                except ValueError:
                    wait = 1.0
                stop.wait(wait)
            elif status == 0:
                stop.wait(1.0)
    finally:
        session.close()


def _counts(records) -> Counter:
    c = Counter()
    for r in records:
        s = r[2]
        c["200" if s == 200 else "503" if s == 503 else "429" if s == 429 else "4xx" if 400 <= s < 500
          else "5xx" if s >= 500 else "conn" if s == 0 else str(s)] += 1
    return c


def _fmt_counts(c: Counter) -> str:
    return " ".join(f"{k}:{c[k]}" for k in ("200", "503", "429", "4xx", "5xx", "conn") if c[k]) or "-"


class _AliasMove:
    """Moves the generator's champion alias to another version, and back (always, even on Ctrl-C)."""

    def __init__(self, cfg):
        from training import registry as reg

        self.reg, self.cfg = reg, cfg
        self.versions = reg.list_versions(cfg)
        self.home = next((v.version for v in self.versions if reg.CHAMPION in v.aliases), None)
        others = [v.version for v in self.versions if v.version != self.home]
        self.target = others[0] if others else None
        self.moved_at = None
        self.moved = False

    def why_not(self) -> str | None:
        if self.home is None:
            return f"{self.reg.MODEL_NAME} has no {self.reg.CHAMPION!r} alias"
        if self.target is None:
            listed = ", ".join(f"v{v.version}" for v in self.versions)
            return (f"only {len(self.versions)} version of {self.reg.MODEL_NAME} is registered ({listed}); "
                    "registered nothing")
        return None

    def move(self, t: float) -> None:
        self.reg.client(self.cfg).set_registered_model_alias(self.reg.MODEL_NAME, self.reg.CHAMPION, str(self.target))
        self.moved, self.moved_at = True, t

    def back(self) -> None:
        if self.moved:
            self.reg.client(self.cfg).set_registered_model_alias(self.reg.MODEL_NAME, self.reg.CHAMPION, str(self.home))
            self.moved = False


class _Cpu:
    """CPU seconds used by the Serve replicas, their sampler actors, Serve's HTTP proxy and this process (the clients) between
    :meth:`start` and :meth:`stop`: the cost of a piece, which other jobs on the machine do not inflate as
    they do wall-clock figures (only through shared caches)."""

    GROUPS = (("replicas", "ServeReplica:"), ("samplers", "SamplerActor"), ("proxy", "ProxyActor"))

    def __init__(self):
        self.before: dict = {}

    @classmethod
    def _sample(cls) -> dict:
        import psutil

        out = {"client": psutil.Process().cpu_times()}
        for proc in psutil.process_iter(["cmdline"]):
            cmd = " ".join(proc.info.get("cmdline") or [])
            for group, needle in cls.GROUPS:
                if needle in cmd:
                    try:
                        out[(group, proc.pid)] = proc.cpu_times()
                    except psutil.Error:
                        pass
        return out

    def start(self) -> None:
        self.before = self._sample()

    def stop(self) -> dict[str, float]:
        after, used = self._sample(), {"replicas": 0.0, "samplers": 0.0, "proxy": 0.0, "client": 0.0}
        for key, t in after.items():
            b = self.before.get(key)
            if b is None:
                continue
            used[key if key == "client" else key[0]] += (t.user + t.system) - (b.user + b.system)
        return used


def _read_keys(path: str) -> list[dict]:
    import json

    with open(path) as f:
        return json.load(f)["keys"]


def _client_keys(cfg, n: int) -> str:
    """A key file of the bench's own with ``n`` keys (one per client, as ``n`` separate callers), in a new
    temporary folder; returns its path (set as ``serve.api_keys_file``)."""
    import tempfile

    from serving.guard import add_key

    path = os.path.join(tempfile.mkdtemp(prefix="musiclake-bench-keys-"), "api_keys.json")
    for i in range(n):
        add_key(path, f"bench-{i}")
    return path


def load(args, server: _Server) -> None:
    from serving.api import GENERATE_PATH

    paths = [p.strip() for p in args.paths.split(",") if p.strip()] if not args.url else ["(running server)"]
    print(f"bench-load: {args.clients} clients (threads, one requests.Session and one API key each) looping POST "
          f"{GENERATE_PATH} ({args.bars} bars x {len(INSTRUMENTS)} tracks, random seeds) for {args.duration:g} s per "
          f"sampling path ({', '.join(paths)}); Retry-After honoured (capped at {RETRY_CAP_S:g} s); load average at "
          f"start {_load()}", flush=True)
    summaries = []
    for n, sampling in enumerate(paths):
        port = (args.port + n) if args.port else _free_port()
        summaries.append(_load_path(args, server, None if args.url else sampling, port))
    print(f"\nload average at end {_load()}")
    print(f"{'path':<10}{'requests':>9}{'200s':>6}{'200/s':>7}{'p50 s':>7}{'p95 s':>7}{'max s':>7}{'503':>6}"
          f"{'5xx*':>6}{'conn':>6}{'cpu ms':>8}  goal (>= {LOAD_GOAL_RATE:g}/s, p95 < {LOAD_GOAL_P95_S:g} s, "
          f"no 5xx* = 5xx other than 503)")
    for r in summaries:
        met = r["rate"] >= LOAD_GOAL_RATE and r["p95"] < LOAD_GOAL_P95_S and r["real_errors"] == 0
        print(f"{r['path']:<10}{r['requests']:>9}{r['ok']:>6}{r['rate']:>7.2f}{r['p50']:>7.2f}{r['p95']:>7.2f}"
              f"{r['max']:>7.2f}{r['503']:>6}{r['5xx']:>6}{r['conn']:>6}{r['cpu_ms']:>8.0f}  "
              + ("met" if met else "missed"))


def _load_path(args, server: _Server, sampling: str | None, port: int) -> dict:
    """One load run: deploys the app with ``serve.sampling=sampling`` (None: ``--url``'s running server), runs
    the clients for ``--duration``, prints its report; returns its summary for the side-by-side table."""
    from serving.api import GENERATE_PATH, HEALTH_PATH

    extra = [] if sampling is None else [f"serve.sampling={sampling}", *PATH_SETTINGS.get(sampling, [])]
    cfg = _config(args, port, extra)
    tag = f"[{sampling}] " if sampling else ""
    keys = []
    if args.url:
        url, key = args.url.rstrip("/"), args.api_key
        if not key:
            from serving.cli import api_key

            key = api_key(cfg, None)
        keys = [key or ""] * args.clients
        print(f"target: {url} (already running; its serve config is its own; one key for every client)")
    else:
        keys_file = _client_keys(cfg, args.clients)
        cfg = _config(args, port, extra + [f"serve.api_keys_file={keys_file}"])
        print(f"\n{tag}config: {_describe(cfg)}")
        t = time.perf_counter()
        url = server.deploy(cfg)
        keys = [k["key"] for k in _read_keys(keys_file)]
        print(f"{tag}deployed at {url} in {time.perf_counter() - t:.1f} s", flush=True)
    session = _session(keys[0])
    health = session.get(url + HEALTH_PATH, timeout=30)
    print(f"{tag}healthz: {health.status_code} {health.text[:200]}")
    t = time.perf_counter()
    warm = session.post(url + GENERATE_PATH, json=_body(12345, args.bars), timeout=600)
    print(f"{tag}warm-up request: {warm.status_code} in {time.perf_counter() - t:.2f} s"
          + ("" if warm.status_code == 200 else f" ({_error_of(warm)})"), flush=True)
    session.close()

    mover = None
    if args.alias_move:
        mover = _AliasMove(cfg)
        why = mover.why_not()
        if why:
            print(f"{tag}alias move: skipped: {why}")
            mover = None
        else:
            print(f"{tag}alias move: {mover.reg.CHAMPION} v{mover.home} -> v{mover.target} at {args.duration / 2:g} s, "
                  f"back to v{mover.home} at the end")

    stop, tally, cpu = threading.Event(), _Tally(), _Cpu()
    cpu.start()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=_client, args=(url + GENERATE_PATH, keys[i], args.bars, stop, tally, t0),
                                daemon=True, name=f"client-{i}") for i in range(args.clients)]
    try:
        for th in threads:
            th.start()
        next_line = 5.0
        while (now := time.perf_counter() - t0) < args.duration:
            if mover is not None and mover.moved_at is None and now >= args.duration / 2:
                mover.move(now)
                print(f"{tag}[{now:5.1f}s] moved {mover.reg.CHAMPION} to v{mover.target}", flush=True)
            if now >= next_line:
                recs = tally.snapshot()
                c = _counts(recs)
                print(f"{tag}[{now:5.1f}s] {len(recs)} requests, {len(recs) / now:.1f}/s ({c['200'] / now:.2f} 200s/s), "
                      f"in flight {tally.in_flight}, {_fmt_counts(c)}", flush=True)
                next_line += 5.0
            time.sleep(0.2)
        stop.set()
        print(f"{tag}[{time.perf_counter() - t0:5.1f}s] duration reached; waiting for {tally.in_flight} requests in "
              f"flight", flush=True)
        for th in threads:
            th.join(timeout=330)
    finally:
        stop.set()
        if mover is not None:
            mover.back()
    elapsed = time.perf_counter() - t0
    used = cpu.stop()
    if sampling is not None:
        server.shutdown()
    summary = _report_load(tally, elapsed, mover, cfg)
    ok = max(summary["ok"], 1)
    print(f"CPU per answered piece: replicas {used['replicas'] / ok * 1000:.0f} ms, sampler actors "
          f"{used['samplers'] / ok * 1000:.0f} ms, HTTP proxy "
          f"{used['proxy'] / ok * 1000:.0f} ms, clients (this process) {used['client'] / ok * 1000:.0f} ms; "
          f"CPU used in all: {sum(used.values()) / elapsed:.2f} of {os.cpu_count()} cores")
    return summary | {"path": sampling or "server", "cpu_ms": (used["replicas"] + used["samplers"]) / ok * 1000}


def _report_load(tally: _Tally, elapsed: float, mover, cfg) -> dict:
    recs = tally.snapshot()
    c = _counts(recs)
    ok = [r[1] - r[0] for r in recs if r[2] == 200]
    print(f"load average now {_load()}")
    print(f"requests: {len(recs)} in {elapsed:.1f} s ({len(recs) / elapsed:.2f}/s); 200s: {c['200']} = "
          f"{c['200'] / elapsed:.2f}/s")
    if ok:
        print(f"latency of 200s: p50 {_pct(ok, 50):.2f} s, p95 {_pct(ok, 95):.2f} s, max {max(ok):.2f} s")
    print(f"status: 200={c['200']} 503={c['503']} 429={c['429']} other 4xx={c['4xx']} 5xx other than 503={c['5xx']} "
          f"connection errors={c['conn']}")
    r503 = [r for r in recs if r[2] == 503]
    if r503:
        busy = sum(r[5].startswith("busy") for r in r503)
        took = [r[1] - r[0] for r in r503]
        print(f"503s with Retry-After: {sum(r[3] for r in r503)}/{len(r503)}; 'busy' (admission) {busy}/{len(r503)}; "
              f"answered in p50 {_pct(took, 50) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms")
    r429 = [r for r in recs if r[2] == 429]
    if r429:
        print(f"429s with Retry-After: {sum(r[3] for r in r429)}/{len(r429)}")
    print(f"max in flight (client side): {tally.max_in_flight}")
    versions = Counter(r[4] for r in recs if r[2] == 200)
    print("generator versions served: " + (", ".join(f"v{v} x{n}" for v, n in sorted(versions.items())) or "-"))
    if mover is not None and mover.moved_at is not None:
        t, ttl = mover.moved_at, cfg.serve.alias_ttl_s

        def served(sel):
            v = Counter(r[4] for r in recs if r[2] == 200 and sel(r))
            return ", ".join(f"v{k} x{n}" for k, n in sorted(v.items())) or "-"

        print(f"alias move at {t:.1f} s (alias_ttl_s {ttl:g}): "
              f"before (started < {t:.1f} s): {served(lambda r: r[0] < t)}; "
              f"after (started > {t + ttl:.1f} s): {served(lambda r: r[0] > t + ttl)}; "
              f"in between: {served(lambda r: t <= r[0] <= t + ttl)}")
        during = [r for r in recs if r[1] >= t and r[0] <= t + ttl + 10 and r[2] not in (200, 429)
                  and not (r[2] == 503 and r[5].startswith("busy"))]
        print("during the move (requests overlapping [move, move + ttl + 10 s]): "
              + ("no request failed" if not during else f"{len(during)} failed: "
                 + "; ".join(sorted({f'{r[2]} {r[5]}' for r in during}))))
    real = {k: c[k] for k in ("4xx", "5xx", "conn") if c[k]}
    other503 = [r for r in r503 if not r[5].startswith("busy")]
    if other503:
        real["503 not busy"] = len(other503)
    if real:
        errors = Counter(f"{r[2]} {r[5]}" for r in recs if r[2] not in (200, 429, 503) or r in other503)
        print("verdict: REAL ERRORS: " + ", ".join(f"{k}={v}" for k, v in real.items()))
        for err, n in errors.most_common(5):
            print(f"  {n} x {err}")
    else:
        print("verdict: no 5xx except 503 backpressure")
    return {"requests": len(recs), "ok": c["200"], "rate": c["200"] / elapsed, "p50": _pct(ok, 50),
            "p95": _pct(ok, 95), "max": max(ok, default=float("nan")), "503": c["503"], "5xx": c["5xx"],
            "conn": c["conn"], "real_errors": sum(real.values())}


# -- sampling (in process) ---------------------------------------------------------------------------
def sampling(args, server: _Server) -> None:
    """CPU time per piece in this process, alone vs batched, for the registered model and a freshly
    initialised ``pop909`` preset (the bigger model), and whether the batched pieces are the pieces alone."""
    import hashlib

    import torch

    from common.config import TRAIN_PRESETS
    from training.generator import Generator
    from training.model import NoteModelConfig, NoteTransformer
    from training.registry import load_generator
    from training.request import PieceRequest

    torch.set_num_threads(1)
    cfg = _config(args, args.port or 8000)  # no server: the port is never used
    registered, ref = load_generator(cfg, cfg.serve.model_alias)
    preset = TRAIN_PRESETS["pop909"]
    torch.manual_seed(0)
    fresh = NoteTransformer(NoteModelConfig(**{k: preset[k] for k in ("n_layer", "n_head", "n_embd", "block_size")}))
    reqs = [PieceRequest(style="pop", bpm=100, key="C major", bars=args.bars, seed=i, instruments=INSTRUMENTS)
            for i in range(args.pieces)]
    print(f"sampling: {args.pieces} pieces of {args.bars} bars x {len(INSTRUMENTS)} tracks, each model alone "
          f"(Generator.generate) then all together (Generator.generate_many); CPU time of this thread, torch "
          f"threads 1; load average {_load()}")
    print(f"{'model':<44}{'steps':>6}{'alone ms':>10}{'batched ms':>12}{'us/step':>9}{'batched':>9}{'speed-up':>10}"
          f"  same MIDI")
    for name, gen in ((f"registered v{ref.version} ({registered.model.cfg.n_layer} layers, "
                       f"{registered.model.cfg.n_embd} wide)", registered),
                      (f"pop909 preset, fresh ({preset['n_layer']} layers, {preset['n_embd']} wide)", Generator(fresh))):
        gen.generate(reqs[0])  # warm
        t = time.thread_time()
        alone = [gen.generate(r) for r in reqs]
        t_alone = (time.thread_time() - t) / len(reqs)
        t = time.thread_time()
        together = gen.generate_many(reqs)
        t_many = (time.thread_time() - t) / len(reqs)
        same = sum(hashlib.sha256(a.midi).digest() == hashlib.sha256(b.midi).digest() for a, b in zip(alone, together))
        steps = float(np.mean([a.n_steps for a in alone]))
        print(f"{name:<44}{steps:>6.0f}{t_alone * 1000:>10.1f}{t_many * 1000:>12.1f}{t_alone / steps * 1e6:>9.0f}"
              f"{t_many / steps * 1e6:>9.0f}{t_alone / t_many:>9.2f}x  {same}/{len(reqs)}")
    print("(ms: CPU per piece; us/step: per sampling step, alone and batched; a fresh model writes fewer notes than a "
          "trained one, so compare the bigger model per step)")


# -- main ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m serving.bench", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", "-c", help="YAML config (default: $MUSICLAKE_CONFIG or ./musiclake.yaml)")
    common.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (repeatable)")
    common.add_argument("--port", type=int, default=0, help="serve.port (default: a free port per deployment; "
                                                             "latency uses PORT and PORT+1)")
    common.add_argument("--bars", type=int, default=16)
    lat = sub.add_parser("latency", parents=[common], help="sequential latency per sampling path")
    lat.add_argument("--requests", type=int, default=20)
    lat.add_argument("--warmup", type=int, default=2)
    lat.add_argument("--paths", default="batched,fast", help="serve.sampling values, in order (the first is "
                                                               "compared with each other)")
    lat.add_argument("--files", action="store_true", help="also time the WAV of one piece (first and second GET)")
    ld = sub.add_parser("load", parents=[common], help="bounded loopback load test")
    ld.add_argument("--clients", type=int, default=16)
    ld.add_argument("--duration", type=float, default=60.0, help="seconds")
    ld.add_argument("--paths", default="batched,fast", help="serve.sampling values, one load run each, in order")
    ld.add_argument("--alias-move", action="store_true",
                    help="move 'champion' to another version halfway, back at the end")
    ld.add_argument("--url", help="an already running server's base URL (nothing is deployed)")
    ld.add_argument("--api-key", help="its API key (default: $MUSICLAKE_API_KEY or serve.api_keys_file's first)")
    smp = sub.add_parser("sampling", parents=[common], help="in-process CPU per piece, alone vs batched")
    smp.add_argument("--pieces", type=int, default=16, help="pieces, sampled alone and then all together")
    args = ap.parse_args(argv)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    server = _Server()
    try:
        {"latency": latency, "load": load, "sampling": sampling}[args.mode](args, server)
    except KeyboardInterrupt:
        print("\ninterrupted; shutting Serve down", file=sys.stderr)
        code = 130
    else:
        code = 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        server.close()
    sys.exit(code)


if __name__ == "__main__":
    main()
