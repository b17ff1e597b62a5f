"""``make bench-hostile`` (``python -m serving.bench_hostile``): the service against clients that try to knock it over.

Deploys the app on the config's registered models (run ``make demo`` first), with the piece store in
``./data/bench-pieces`` (``--set serve.pieces_dir=...``) under small lines so a minute crosses them,
then prints, measured at the client and on the disk:

1. **silent clients**: ``--slow`` connections (a key each) that send their headers and 10 bytes of a
   1000-byte body, then nothing; meanwhile a normal client's generate latency; then each silent
   client's status (408 expected, after ``serve.body_timeout_s``).
2. **probes**: a model name that names nothing, a version number too large for the registry, a
   trailing slash, ``HEAD`` on a file, a piece id with a newline; the status and whether the error
   line carries anything of the infrastructure.
3. **disk filling**: ``--fillers`` keys each generate long pieces and fetch their WAV in a loop for
   ``--duration`` seconds; the store's size on disk sampled every 0.2 s against ``serve.store_max_bytes``,
   the statuses, and the renders the length cap refused.

It prints figures; it asserts nothing. ``--url URL`` targets a running server (its admin must make
the keys: pass ``--api-key``; silent clients then share it).
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from serving.bench import BENCH_OVERRIDES, _free_port, _interrupt, _load, _pct, _Server
from serving.store import tree_size

HOSTILE_OVERRIDES = ["serve.pieces_dir=./data/bench-pieces", "serve.store_max_bytes=64000000",
                     "serve.key_quota_bytes=24000000", "serve.body_timeout_s=5"]


def _silent(host: str, port: int, key: str) -> socket.socket:
    sock = socket.create_connection((host, port))
    head = (f"POST /v1/generate HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: 1000\r\nX-API-Key: {key}\r\n\r\n")
    sock.sendall(head.encode() + b'{"prompt":')
    return sock


def _status(sock: socket.socket, wait_s: float) -> str:
    sock.settimeout(wait_s)
    try:
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return str(resp.status)
    except (socket.timeout, TimeoutError):
        return "no answer"
    except (ConnectionError, http.client.HTTPException):
        return "closed"
    finally:
        sock.close()


def silent_clients(url: str, keys: list[str], normal_key: str, n: int) -> None:
    import requests

    host, port = url.split("//")[1].split(":")[0], int(url.rsplit(":", 1)[1])
    print(f"\n[1] {n} silent clients (10 of 1000 body bytes sent), then a normal client's generate")
    t0 = time.perf_counter()
    socks = [_silent(host, port, keys[i % len(keys)]) for i in range(n)]
    lat, codes = [], Counter()
    for seed in range(5):
        t = time.perf_counter()
        r = requests.post(url + "/v1/generate", headers={"X-API-Key": normal_key}, timeout=120,
                          json={"prompt": "bright pop", "bars": 8, "seed": seed})
        lat.append(time.perf_counter() - t)
        codes[r.status_code] += 1
    print(f"    normal generate while they hang: {dict(codes)}; latency p50 {_pct(lat, 50) * 1000:.0f} ms, "
          f"max {max(lat) * 1000:.0f} ms")
    with ThreadPoolExecutor(len(socks)) as pool:
        statuses = Counter(pool.map(lambda s: _status(s, 60), socks))
    print(f"    silent clients' answers: {dict(statuses)} within {time.perf_counter() - t0:.1f} s of connecting")


def probes(url: str, key: str, internals: list[str]) -> None:
    import requests

    h = {"X-API-Key": key}
    print("\n[2] probes")
    piece = requests.post(url + "/v1/generate", headers=h, json={"prompt": "folk", "bars": 2, "seed": 1},
                          timeout=120).json()
    cases = [
        ("model 'nope'", lambda: requests.post(url + "/v1/generate", headers=h, timeout=60,
                                               json={"prompt": "x", "bars": 1, "model": "nope"})),
        ("model '99999999999999999999999'", lambda: requests.post(
            url + "/v1/generate", headers=h, timeout=60, json={"prompt": "x", "bars": 1,
                                                               "model": "99999999999999999999999"})),
        ("trailing slash", lambda: requests.post(url + "/v1/generate/", headers=h | {"Host": "evil.example"},
                                                 json={"prompt": "x"}, allow_redirects=False, timeout=60)),
        ("HEAD .mid", lambda: requests.head(url + piece["urls"]["mid"], headers=h, timeout=60)),
        ("id with newline", lambda: requests.get(url + f"/v1/pieces/{piece['id']}%0A.mid", headers=h, timeout=60)),
        ("nested JSON", lambda: requests.post(url + "/v1/generate", headers=h | {"content-type": "application/json"},
                                              data=b'{"prompt": ' + b"[" * 5000 + b"]" * 5000 + b"}", timeout=60)),
        ("unknown key", lambda: requests.get(url + "/v1/models", headers={"X-API-Key": "mlk_wrong"}, timeout=60)),
    ]
    for name, call in cases:
        r = call()
        text = r.text if r.request.method != "HEAD" else ""
        leaks = [i for i in internals if i and i in text]
        line = (r.json().get("error", "") if r.headers.get("content-type", "").startswith("application/json")
                else f"{len(r.content)} bytes")
        print(f"    {name:<34} {r.status_code}  {line[:90]!r}" + (f"  LEAKS {leaks}" if leaks else ""))


def fill(url: str, keys: list[str], duration: float, pieces_dir: str, limit: int) -> None:
    import requests

    print(f"\n[3] disk filling: {len(keys)} keys render 16-bar pieces at 60 BPM (about 11 MB of WAV each) for {duration:.0f} s "
          f"(store ceiling {limit / 1e6:.0f} MB)")
    seen, stop, statuses = [], threading.Event(), Counter()

    def watch():
        while not stop.is_set():
            seen.append(tree_size(pieces_dir)[0])
            time.sleep(0.2)

    def client(i: int):
        h, seed = {"X-API-Key": keys[i]}, i * 100000
        while not stop.is_set():
            seed += 1
            g = requests.post(url + "/v1/generate", headers=h, timeout=120,
                              json={"prompt": "slow ambient strings", "bars": 16, "bpm": 60, "seed": seed})
            statuses[f"generate {g.status_code}"] += 1
            if g.status_code != 200:
                time.sleep(float(g.headers.get("Retry-After", 1)))
                continue
            w = requests.get(url + g.json()["urls"]["wav"], headers=h, timeout=120)
            statuses[f"wav {w.status_code}"] += 1
            if w.status_code in (429, 503):
                time.sleep(min(5.0, float(w.headers.get("Retry-After", 1))))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(len(keys)) as pool:
        futures = [pool.submit(client, i) for i in range(len(keys))]
        time.sleep(duration)
        stop.set()
        for f in futures:
            f.result()
    watcher.join()
    sizes = np.asarray(seen, dtype=float)
    fives = sum(n for k, n in statuses.items() if k.endswith(" 500"))
    print(f"    statuses: {dict(sorted(statuses.items()))}")
    print(f"    store on disk: max {sizes.max() / 1e6:.1f} MB, median {np.median(sizes) / 1e6:.1f} MB, end "
          f"{sizes[-1] / 1e6:.1f} MB; ceiling {limit / 1e6:.0f} MB -> {'under' if sizes.max() <= limit else 'OVER'}; "
          f"500s: {fives}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m serving.bench_hostile", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", "-c")
    ap.add_argument("--set", action="append", metavar="KEY=VALUE")
    ap.add_argument("--slow", type=int, default=30)
    ap.add_argument("--fillers", type=int, default=4)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--url")
    ap.add_argument("--api-key")
    args = ap.parse_args(argv)
    from common.config import ConfigError, load_config
    from serving.guard import add_key, ensure_keys

    try:
        cfg = load_config(args.config, BENCH_OVERRIDES + HOSTILE_OVERRIDES + [f"serve.port={_free_port()}"]
                          + list(args.set or []))
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        raise SystemExit(2) from None
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    server = _Server()
    try:
        url = args.url.rstrip("/") if args.url else server.deploy(cfg)
        if args.api_key:
            main_key, keys = args.api_key, [args.api_key]
        else:
            main_key = ensure_keys(cfg.serve.api_keys_file)[0][0]["key"]
            stamp = time.time_ns()
            keys = [add_key(cfg.serve.api_keys_file, f"bench-hostile-{stamp}-{i}") for i in range(args.slow)]
        print(f"musiclake hostile bench at {url}; load {_load()}")
        s = cfg.serve
        print(f"serve: body_timeout_s={s.body_timeout_s:g} request_timeout_s={s.request_timeout_s:g} "
              f"max_connections={s.max_connections} store_max_bytes={s.store_max_bytes} "
              f"key_quota_bytes={s.key_quota_bytes} render_max_seconds={s.render_max_seconds:g}")
        silent_clients(url, keys, main_key, args.slow)
        probes(url, main_key, [cfg.mlflow.tracking_uri, os.path.abspath(s.pieces_dir), s.soundfont, "Traceback"])
        if not args.url:
            fill(url, keys[:args.fillers], args.duration, s.pieces_dir, s.store_max_bytes)
        code = 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        code = 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        server.close()
    sys.exit(code)


if __name__ == "__main__":
    main()
