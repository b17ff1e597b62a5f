"""`make bench-ingest` (``python -m ingest.bench``): files/s and MB/s landed in Delta by the real crawler.

What it does, all in one run on this machine:

1. builds (once, cached under ``--dir``) a local site of ``--files`` MIDI files: music21 corpus pieces
   exported by :mod:`common.score_site`, plus variations of them written with symusic (each piece
   transposed -12..+12 semitones and played at other tempos), linked from paginated index pages;
2. serves it from a separate process with a threaded HTTP/1.1 server that waits ``--delay-ms``
   (default 50 ms) before answering each request, as a remote server would;
3. crawls it with the real crawler (Ray fetch actors, DrissionPage, landing in a fresh Delta lake),
   politeness off (no robots.txt, no rate limit), and measures files/s and MB/s landed and the peak
   resident memory of the driver and every Ray process;
4. downloads the same MIDI URLs with a plain single-threaded ``requests`` loop (download only, no
   parsing, no landing: generous to the baseline); ``--baseline-files`` bounds that loop, which at
   50 ms a request needs about 17 minutes for 20,000 URLs (0: all of them);
5. prints the figures side by side. It is a benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PAGE_SIZE = 200
MANIFEST = "bench-manifest.json"
SOURCE_NAME = "bench"


# -- the site -------------------------------------------------------------------------------------
def _variations(data: bytes, want: int):
    """Up to ``want`` distinct MIDI files made from one piece: transpositions x tempo factors."""
    from symusic import Score, Tempo

    score = Score.from_midi(data)
    base_qpm = [t.qpm for t in score.tempos] or [120.0]
    made = 0
    for factor_no in range(40):
        factor = 1.0 + 0.03 * ((factor_no + 1) // 2) * (1 if factor_no % 2 else -1)  # 1, 1.03, .97, 1.06, ...
        if factor <= 0.3:
            break
        for shift in range(-12, 13):
            if made >= want:
                return
            v = score.shift_pitch(shift)
            if len(v.tempos):
                for t, qpm in zip(v.tempos, base_qpm):
                    t.qpm = qpm * factor
            else:
                v.tempos.append(Tempo(0, 120.0 * factor))
            made += 1
            yield f"t{shift:+d}-x{factor:.2f}", v.dumps_midi()


def build_bench_site(root: Path, files: int, pieces: int) -> dict:
    """A static site of ``files`` distinct MIDI files under ``root/site`` (cached by its manifest)."""
    from common.score_site import build_site
    from common.progress import Progress

    site = root / "site"
    path = site / MANIFEST
    if path.exists():
        manifest = json.loads(path.read_text())
        if len(manifest["files"]) >= files:
            manifest["files"] = manifest["files"][:files]
            return manifest
    base = build_site(root / "corpus-site", pieces, faults=False)
    shutil.rmtree(site, ignore_errors=True)
    (site / "midi").mkdir(parents=True)
    entries, seen = [], set()
    per_piece = -(-files // len(base["pieces"])) + 5
    progress = Progress("bench site", total=files, unit="files")
    for p in base["pieces"]:
        data = (root / "corpus-site" / p["midi"]).read_bytes()
        (site / "midi" / p["slug"]).mkdir(exist_ok=True)
        try:
            variants = list(_variations(data, per_piece))
        except Exception as e:  # symusic refused the piece: use the others
            print(f"bench site: skipped {p['slug']}: {e}", file=sys.stderr)
            continue
        for name, body in variants:
            sha = hashlib.sha256(body).hexdigest()
            if sha in seen or len(entries) >= files:
                continue
            seen.add(sha)
            rel = f"midi/{p['slug']}/{name}.mid"
            (site / rel).write_bytes(body)
            entries.append({"path": rel, "sha256": sha, "size": len(body), "title": f"{p['title']} ({name})"})
            progress.advance(1)
    progress.close()
    pages = [entries[i:i + PAGE_SIZE] for i in range(0, len(entries), PAGE_SIZE)]
    for no, chunk in enumerate(pages, start=1):
        links = "\n".join(f'<li><a href="/{e["path"]}">{e["title"]}</a></li>' for e in chunk)
        (site / f"page-{no}.html").write_text(f"<!DOCTYPE html><html><body><h1>Page {no}</h1><ul>\n{links}\n</ul>"
                                              "</body></html>\n", encoding="utf-8")
    index = "\n".join(f'<li><a class="page" href="/page-{no}.html">page {no}</a></li>' for no in range(1, len(pages) + 1))
    (site / "index.html").write_text(f"<!DOCTYPE html><html><body><ul>\n{index}\n</ul></body></html>\n", encoding="utf-8")
    manifest = {"files": entries, "pages": len(pages)}
    path.write_text(json.dumps(manifest))
    if len(entries) < files:
        print(f"bench site: only {len(entries)} distinct files could be made from {pieces} pieces "
              f"(raise --pieces)", file=sys.stderr)
    return manifest


# -- the slow server (a separate process, so its GIL is not the crawler's) ------------------------
class _SlowHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers
    disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms delayed-ACK stall per request
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mid": "audio/midi", ".html": "text/html; charset=utf-8"}
    delay_s = 0.05

    def do_GET(self):
        time.sleep(self.delay_s)
        super().do_GET()

    def log_message(self, format, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def serve(site: str, port: int, delay_ms: float) -> None:
    handler = type("Handler", (_SlowHandler,), {"delay_s": delay_ms / 1000})
    server = _Server(("127.0.0.1", port), partial(handler, directory=site))
    print(server.server_address[1], flush=True)
    server.serve_forever()


def start_server(site: Path, delay_ms: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "ingest.bench", "--serve", str(site), "--delay-ms", str(delay_ms)],
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}/"


# -- memory -----------------------------------------------------------------------------------------
class PeakRSS:
    """Samples the summed RSS of this process and all its descendants (Ray's GCS, raylet, workers)."""

    def __init__(self, exclude: set[int], every_s: float = 0.25):
        import psutil

        self._psutil, self.exclude, self.every_s = psutil, exclude, every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        me = self._psutil.Process()
        total = 0
        for p in [me, *me.children(recursive=True)]:
            if p.pid in self.exclude:
                continue
            try:
                total += p.memory_info().rss
            except self._psutil.Error:
                pass
        return total

    def _run(self):
        while not self._stop.wait(self.every_s):
            self.peak = max(self.peak, self.sample())

    def __enter__(self):
        self.peak = self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.sample())


# -- the two contenders -------------------------------------------------------------------------------
def crawl(cfg, url: str, server_pid: int, threads: int) -> dict:
    from ingest.crawler import run_ingest
    from lake.delta import Lake
    from lake.schemas import BRONZE_MIDI
    from common.cluster import init_ray
    from common.config import SourceConfig

    wanted = dict(name=SOURCE_NAME, seeds=[url + "index.html"], allow_private=True, license="bench", max_depth=3,
                  max_pages=100_000, page_link="css:a.page", midi_link="css:a[href$='.mid']",
                  obey_robots=False, respect_noai=False, requests_per_second=0,
                  per_host_concurrency=cfg.ingest.workers * 64, fetch_threads=threads)
    fields = SourceConfig.model_fields
    source = SourceConfig(**{k: v for k, v in wanted.items() if k in fields})
    cfg.ingest.sources = [source]
    init_ray(cfg)
    lake = Lake.from_config(cfg)
    with PeakRSS(exclude={server_pid}) as mem:
        t0 = time.monotonic()
        (report,) = run_ingest(cfg, [SOURCE_NAME])
        elapsed = time.monotonic() - t0
    landed = lake.read(BRONZE_MIDI, columns=["sha256", "size"])
    import ray

    ray.shutdown()  # the baseline's memory is its own
    return {"elapsed_s": elapsed, "files": landed.num_rows, "bytes": sum(landed.column("size").to_pylist()),
            "shas": set(landed.column("sha256").to_pylist()), "peak_rss": mem.peak, "report": report}


def baseline(urls: list[str]) -> dict:
    import requests

    with PeakRSS(exclude=set()) as mem:
        session = requests.Session()
        t0 = time.monotonic()
        n = size = 0
        for u in urls:
            r = session.get(u, timeout=30)
            if r.status_code == 200:
                n += 1
                size += len(r.content)
        elapsed = time.monotonic() - t0
    return {"elapsed_s": elapsed, "files": n, "bytes": size, "peak_rss": mem.peak}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ingest.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20_000, help="MIDI files on the site (default 20000)")
    ap.add_argument("--pieces", type=int, default=120, help="corpus pieces the variations are made from")
    ap.add_argument("--delay-ms", type=float, default=50.0, help="server wait before each answer")
    ap.add_argument("--workers", type=int, default=2, help="Ray fetch actors (ingest.workers)")
    ap.add_argument("--threads", type=int, default=16, help="concurrent requests per actor (source.fetch_threads)")
    ap.add_argument("--batch-size", type=int, default=32, help="URLs per actor call (ingest.batch_size)")
    ap.add_argument("--baseline-files", type=int, default=2000, help="URLs for the plain loop (0: all)")
    ap.add_argument("--dir", default="./data/bench", help="where the site and the bench lake live")
    ap.add_argument("--set", action="append", default=[], help="extra config override (repeatable)")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        return serve(args.serve, 0, args.delay_ms)

    from common.config import load_config

    root = Path(args.dir).resolve()
    manifest = build_bench_site(root, args.files, args.pieces)
    files = manifest["files"]
    lake_dir = root / "lake"
    shutil.rmtree(lake_dir, ignore_errors=True)
    cfg = load_config(overrides=[f"lake.uri={lake_dir}", f"ingest.workers={args.workers}",
                                 f"ingest.batch_size={args.batch_size}", "ray.include_dashboard=false", *args.set])
    server, url = start_server(root / "site", args.delay_ms)
    try:
        total_mb = sum(f["size"] for f in files) / 1e6
        print(f"bench-ingest: {len(files)} MIDI files ({total_mb:.1f} MB) + {manifest['pages'] + 1} pages on {url}, "
              f"each request answered after {args.delay_ms:g} ms; politeness off; {os.cpu_count()} CPUs", flush=True)
        c = crawl(cfg, url, server.pid, args.threads)
        missing = {f["sha256"] for f in files} - c["shas"]
        b_urls = [url + f["path"] for f in files]
        if args.baseline_files:
            b_urls = b_urls[:args.baseline_files]
        b = baseline(b_urls)
    finally:
        server.terminate()
        server.wait()
    c_rate, b_rate = c["files"] / c["elapsed_s"], b["files"] / b["elapsed_s"]
    lines = [
        f"crawler  (Ray + DrissionPage, {args.workers} actors x {args.threads} threads, batch {args.batch_size}, landing "
        f"in Delta): {c['files']} files landed ({len(missing)} missing) in {c['elapsed_s']:.1f} s = "
        f"{c_rate:.1f} files/s, {c['bytes'] / 1e6 / c['elapsed_s']:.2f} MB/s; peak RSS driver + Ray "
        f"{c['peak_rss'] / 2**20:.0f} MiB",
        f"baseline (plain single-threaded requests loop, download only, {len(b_urls)} of the same URLs): "
        f"{b['files']} files in {b['elapsed_s']:.1f} s = {b_rate:.1f} files/s, "
        f"{b['bytes'] / 1e6 / b['elapsed_s']:.2f} MB/s; peak RSS {b['peak_rss'] / 2**20:.0f} MiB",
        f"speed-up: {c_rate / b_rate:.1f}x files/s",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
