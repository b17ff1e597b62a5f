"""`make bench-lake` (``python -m lake.bench``): files/s of the lake's silver jobs end to end, beside a naive baseline.

What it does, printing figures (never asserting them):

1. Builds the music21 corpus score site if it is not cached (``demo.site_dir``, 300 pieces) and
   makes ``--files`` distinct MIDI files from its pieces: the originals plus variations written
   with symusic (transpositions, tempo scalings, track subsets), each with its own bytes.
2. Lands them in a fresh bench lake's ``bronze_midi_files`` (``Lake.append`` in batches).
3. Times the silver jobs end to end through Spark (``--master``, ``local[2]`` by default): bronze
   in, features (+ chords, tracks, quarantine) and tokens committed to Delta. The jobs run in a
   fresh child process that never holds the input; peak memory is the summed RSS of that process
   and every child of it (the Spark JVM and its Python workers), sampled every 0.2 s, also shown
   per kind of process. The run is made at several input sizes (``--sizes``) to show whether it
   stays flat.
4. Runs a naive music21 baseline on a sample: parse each file with music21 and emit
   ``N_<pitch>_<quarterLength>`` tokens, one core, extrapolated to files/s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from lake.delta import Lake
from lake.schemas import BRONZE_MIDI

TRANSPOSE = (-6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7)
TEMPO_SCALE = (0.75, 0.8, 0.9, 1.1, 1.2, 1.25, 1.5)
SITE_PIECES = 300
LAND_BATCH = 500  # rows per bronze commit, as the crawler lands them (ingest.land_every_rows)


# -- input ------------------------------------------------------------------------------------
def base_files(site_dir: Path) -> list[Path]:
    from common.score_site import build_site

    build_site(site_dir, SITE_PIECES, faults=True)
    return sorted(p for p in (site_dir / "midi").rglob("*.mid") if "broken" not in p.parts)


def variations(data: bytes):
    """Distinct variations of one MIDI file: transpositions, tempo scalings, each track left out (endless, in order)."""
    from symusic import Score

    score = Score.from_midi(data)
    for k in TRANSPOSE:
        yield score.shift_pitch(k).dumps_midi()
    for f in TEMPO_SCALE:
        s = score.copy()
        for t in s.tempos:
            t.qpm = t.qpm * f
        yield s.dumps_midi()
    if len(score.tracks) > 1:
        for i in range(len(score.tracks)):
            s = score.copy()
            del s.tracks[i]
            yield s.dumps_midi()
    for k in TRANSPOSE:  # combinations, once the single changes are used up
        for f in TEMPO_SCALE:
            s = score.shift_pitch(k)
            for t in s.tempos:
                t.qpm = t.qpm * f
            yield s.dumps_midi()


def make_files(site_dir: Path, n: int) -> list[tuple[str, bytes]]:
    """``n`` (name, bytes) with distinct content: every original first, then variations round-robin."""
    bases = base_files(site_dir)
    seen: set[str] = set()
    out: list[tuple[str, bytes]] = []

    def add(name, data):
        h = hashlib.sha256(data).hexdigest()
        if h not in seen and len(out) < n:
            seen.add(h)
            out.append((name, data))

    originals = [(p.relative_to(site_dir).as_posix(), p.read_bytes()) for p in bases]
    for name, data in originals:
        add(name, data)
    gens = []
    for name, data in originals:
        try:
            gens.append((name, variations(data)))
        except Exception:  # a base symusic cannot parse stays an original only
            continue
    i = 0
    while len(out) < n and gens:
        alive = []
        for name, gen in gens:
            try:
                add(f"{name}#v{i}", next(gen))
                alive.append((name, gen))
            except StopIteration:
                pass
            except Exception:
                pass
            if len(out) >= n:
                break
        gens, i = alive, i + 1
    return out


def land(lake: Lake, files: list[tuple[str, bytes]]) -> float:
    t0 = time.monotonic()
    now = datetime.now(timezone.utc)
    for start in range(0, len(files), LAND_BATCH):
        rows = [dict(sha256=hashlib.sha256(d).hexdigest(), md5=hashlib.md5(d).hexdigest(), content=d, size=len(d),
                     url=f"http://bench.local/{name}", referrer=None, title=name, attrs_json=json.dumps({}),
                     source="bench", license="music21-corpus", http_status=200, content_type="audio/midi",
                     fetched_at=now, ingest_run_id="bench")
                for name, d in files[start:start + LAND_BATCH]]
        lake.append(BRONZE_MIDI, pa.Table.from_pylist(rows, schema=BRONZE_MIDI.schema))
    return time.monotonic() - t0


# -- memory -----------------------------------------------------------------------------------
class PeakRss:
    """Peak of the summed RSS of this process and all its descendants, sampled in a thread.

    ``parts`` keeps the peak of each kind of process too: this driver, the Spark JVM, and the
    Python workers Spark starts (summed), so a growth can be told apart.
    """

    def __init__(self, every_s: float = 0.2):
        import psutil

        self.proc, self.every_s, self.peak = psutil.Process(), every_s, 0
        self.parts = {"driver": 0, "jvm": 0, "python workers": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        parts = {k: 0 for k in self.parts}
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                rss = p.memory_info().rss
                kind = "driver" if p.pid == self.proc.pid else ("jvm" if "java" in p.name() else "python workers")
            except Exception:  # a worker that exited between listing and reading
                continue
            parts[kind] += rss
        for k, v in parts.items():
            self.parts[k] = max(self.parts[k], v)
        return sum(parts.values())

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.every_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# -- the lake jobs ----------------------------------------------------------------------------
def silver_jobs(separate: bool):
    """(name, job) pairs timed by the bench: the one pass ``lake all`` takes, or the two jobs one after the other."""
    from lake.jobs.encode import run_encode
    from lake.jobs.features import run_features
    from lake.jobs.silver import run_silver

    if separate:
        return [("features", lambda cfg, spark: [run_features(cfg, spark)]),
                ("encode", lambda cfg, spark: [run_encode(cfg, spark)])]
    return [("features + encode", run_silver)]


def bench_config(root: Path, master: str, driver_memory: str):
    from common.config import load_config

    return load_config(None, [f"lake.uri={root}", f"spark.master={master}", f"spark.driver_memory={driver_memory}",
                              "spark.shuffle_partitions=2"], environ={})


def prepare_lake(files, root: Path) -> float:
    """A fresh bench lake at ``root`` whose bronze_midi_files holds ``files``; returns the seconds landing took."""
    shutil.rmtree(root, ignore_errors=True)
    return land(Lake(str(root)), files)


def run_jobs(root: Path, master: str, driver_memory: str, separate: bool = False) -> dict:
    """The silver jobs on the bench lake at ``root``, timed, with the peak RSS of this process and its children."""
    from lake.spark import spark_session

    cfg = bench_config(root, master, driver_memory)
    spark = spark_session(cfg, app_name="musiclake-bench-lake")
    spark.range(1).count()  # the JVM and a first job up before the clock starts
    timings, reports = {}, {}
    try:
        with PeakRss() as mem:
            t0 = time.monotonic()
            for name, job in silver_jobs(separate):
                t = time.monotonic()
                for report in job(cfg, spark):
                    reports[report.job] = report
                timings[name] = time.monotonic() - t
            total = time.monotonic() - t0
    finally:
        spark.stop()
    return dict(total_s=total, timings=timings, peak_rss=mem.peak, peak_parts=mem.parts,
                counts={n: r.counts for n, r in reports.items()}, summaries=[r.summary() for r in reports.values()])


def run_lake(files, root: Path, master: str, driver_memory: str, separate: bool = False) -> dict:
    """Land ``files`` here, then run the jobs in a fresh child process (which never holds the input in memory)."""
    import subprocess
    import sys

    land_s = prepare_lake(files, root)
    out = subprocess.run([sys.executable, "-m", "lake.bench", "--jobs-only", str(root), "--master", master,
                          "--driver-memory", driver_memory, *(["--separate"] if separate else [])],
                         stdout=subprocess.PIPE, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for line in result.pop("summaries"):
        print("  " + line)
    return dict(result, files=len(files), land_s=land_s)


# -- the baseline -----------------------------------------------------------------------------
def music21_tokens(data: bytes) -> list[str]:
    """The naive baseline: music21 parses the file; one ``N_<pitch>_<quarterLength>`` token per sounding pitch."""
    from music21 import converter

    score = converter.parseData(data, format="midi")
    tokens = []
    for n in score.flatten().notes:
        for p in n.pitches:
            tokens.append(f"N_{p.midi}_{float(n.quarterLength):g}")
    return tokens


def run_baseline(files, sample: int, seed: int = 0) -> dict:
    picked = random.Random(seed).sample(files, min(sample, len(files)))
    t0 = time.monotonic()
    ok = tokens = 0
    for _, data in picked:
        try:
            tokens += len(music21_tokens(data))
            ok += 1
        except Exception:
            pass
    elapsed = time.monotonic() - t0
    return dict(files=len(picked), ok=ok, tokens=tokens, seconds=elapsed, files_per_s=len(picked) / elapsed)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m lake.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=20_000, help="distinct MIDI files for the large run")
    ap.add_argument("--sizes", default="0.25,0.5,1", help="input sizes run (fractions of --files), to show whether "
                                                         "peak memory stays flat")
    ap.add_argument("--baseline-sample", type=int, default=200, help="files parsed by the music21 baseline")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="2g")
    ap.add_argument("--site", default="data/site", help="score site folder (built if absent)")
    ap.add_argument("--work", default="data/bench-lake", help="bench lakes live here (wiped)")
    ap.add_argument("--separate", action="store_true", help="run the features and encode jobs one after the other "
                                                                "instead of the one pass `lake all` takes")
    ap.add_argument("--jobs-only", default=None, metavar="LAKE", help=argparse.SUPPRESS)  # the child of run_lake
    args = ap.parse_args(argv)
    if args.jobs_only:
        print(json.dumps(run_jobs(Path(args.jobs_only), args.master, args.driver_memory, args.separate)), flush=True)
        return

    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    t = time.monotonic()
    files = make_files(Path(args.site).resolve(), args.files)
    print(f"input: {len(files)} distinct MIDI files ({sum(len(d) for _, d in files) / 1e6:.1f} MB) "
          f"from {args.site} in {time.monotonic() - t:.1f}s")
    sizes = sorted({max(1, round(len(files) * float(f))) for f in args.sizes.split(",")})
    work = Path(args.work).resolve()
    runs = []
    for n in sizes:
        print(f"lake run on {n} files (master {args.master}):")
        runs.append(run_lake(files[:n], work / f"n{n}", args.master, args.driver_memory, args.separate))
    print(f"music21 baseline on {args.baseline_sample} files (one core):")
    base = run_baseline(files, args.baseline_sample)

    print()
    print(f"{'run':<28} {'files':>7} {'seconds':>8} {'files/s':>8} {'peak RSS':>9}")
    for r in runs:
        label = "lake " + ", ".join(r["timings"])
        print(f"{label:<28} {r['files']:>7} {r['total_s']:>8.1f} {r['files'] / r['total_s']:>8.1f} "
              f"{r['peak_rss'] / 2**30:>8.2f}G")
        for name, s in r["timings"].items():
            print(f"  {name:<26} {'':>7} {s:>8.1f} {r['files'] / s:>8.1f}")
    print(f"{'music21 baseline (sample)':<28} {base['files']:>7} {base['seconds']:>8.1f} {base['files_per_s']:>8.1f}")
    big = runs[-1]
    rate = big["files"] / big["total_s"]
    print(f"\nspeed-up over music21: {rate / base['files_per_s']:.0f}x; peak RSS "
          + " vs ".join(f"{r['peak_rss'] / 2**30:.2f}G at {r['files']} files" for r in runs)
          + f"; landing bronze took {big['land_s']:.1f}s (not counted)")
    for r in runs:
        print(f"peak RSS at {r['files']} files by process: " + ", ".join(
            f"{k} {v / 2**30:.2f}G" for k, v in r["peak_parts"].items()))
    print("counts: " + json.dumps(big["counts"]))


if __name__ == "__main__":
    main()
