"""Figures of the melody index (lake.similarity): planted copies caught, ordinary pieces flagged, and the time
per check and the index's size for a lake of 176,000 pieces.

``python -m lake.similarity_bench [--planted 300] [--lake-size 176000] [--generated 100 --model 1]``
(``make bench-similarity``):

1. every MIDI file of the lake (``bronze_midi_files``), POP909 (``--pop909``) and the demo corpus is
   indexed (the real pieces);
2. a simulated lake of ``--lake-size`` pieces: the real pieces plus variants of them, each a
   random stretch of one real melody's tokens (8 to 64 notes' worth) with 10-40 % of its tokens redrawn,
   joined to a stretch of another (so its shingles are realistic and no two are alike);
3. planted copies: ``--planted`` real pieces, each transposed by a random interval, re-timed (ticks
   x1.5), 10 % of its notes moved by a step, and cut to 8 bars of 4/4 where its melody has at least 16
   notes; caught when the best match is the source (or a variant made from it) at
   :data:`lake.similarity.MATCH_CONTAINMENT` or more;
4. ordinary generations (``--generated`` pieces of the registered ``--model``, pop prompts) checked
   against the same index: the share flagged;
5. the time per check (shingles of an 8-bar file, then the query) and the index's size.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
from symusic import Score

from lake import similarity as sim


def _sources(cfg, pop909: Path | None) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    try:
        from deltalake import DeltaTable

        t = DeltaTable(f"{cfg.lake.uri.rstrip('/')}/bronze_midi_files",
                       storage_options=cfg.lake.storage_options or None).to_pyarrow_table(columns=["sha256", "content"])
        out += list(zip(t.column("sha256").to_pylist(), (bytes(c) for c in t.column("content").to_pylist())))
    except Exception as e:  # noqa: BLE001 - no lake here: the folders still count
        print(f"(lake not read: {type(e).__name__})")
    for root in [Path(cfg.demo.site_dir) / "midi"] + ([pop909] if pop909 else []):
        if root.exists():
            out += [(f"{root.name}/{p.relative_to(root)}", p.read_bytes()) for p in sorted(root.rglob("*.mid"))]
    return out


def disguise(s: Score, rng: random.Random) -> Score | None:
    """Transposed, re-timed x1.5, 10 % of its notes moved a step, 8 bars of 4/4 with 16+ melody notes."""
    s = s.copy()
    shift = rng.choice([i for i in range(-11, 12) if i])
    for t in s.tracks:
        for n in t.notes:
            n.time, n.duration = int(n.time * 1.5), max(1, int(n.duration * 1.5))
            if not t.is_drum:
                n.pitch = min(127, max(0, n.pitch + shift + (rng.choice((-2, -1, 1, 2)) if rng.random() < 0.1 else 0)))
    bar = int(s.ticks_per_quarter * 4 * 1.5)
    start, _ = sim.melody_line(s)
    n_bars = int(s.end()) // int(s.ticks_per_quarter * 4) + 1
    choices = [b for b in range(max(1, n_bars - 8))
               if np.count_nonzero((start >= b * bar) & (start < (b + 8) * bar)) >= 16]
    if not choices:
        return None
    b = rng.choice(choices)
    return s.clip(b * bar, (b + 8) * bar).shift_time(-b * bar)


def simulated(tokens: list[np.ndarray], n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` synthetic melodies' shingles made from the real ones' tokens (see the module doc)."""
    usable = [t for t in tokens if t.size >= 16]
    alphabet = np.concatenate(usable)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(2):
            src = usable[rng.integers(len(usable))]
            length = int(rng.integers(8, min(64, src.size) + 1))
            a = int(rng.integers(0, src.size - length + 1))
            part = src[a:a + length].copy()
            redraw = rng.random(length) < rng.uniform(0.1, 0.4)
            part[redraw] = alphabet[rng.integers(alphabet.size, size=int(redraw.sum()))]
            parts.append(part)
        out.append(sim.shingles_of_tokens(np.concatenate(parts)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lake.similarity_bench", description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=None)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--planted", type=int, default=300)
    ap.add_argument("--lake-size", type=int, default=176_000)
    ap.add_argument("--generated", type=int, default=100, help="ordinary generations checked (0: none)")
    ap.add_argument("--model", action="append", default=None,
                    help="registered generator(s) for the ordinary generations (default: 1 and 2 where registered)")
    ap.add_argument("--pop909", default=None)
    args = ap.parse_args(argv)

    from common.config import load_config

    cfg = load_config(path=args.config, overrides=args.overrides)
    t0 = time.perf_counter()
    pop = Path(args.pop909) if args.pop909 else None
    real: list[tuple[str, Score, np.ndarray]] = []
    seen: set[bytes] = set()
    for name, midi in _sources(cfg, pop):
        if midi in seen:
            continue
        seen.add(midi)
        try:
            s = Score.from_midi(midi)
            tok = sim.tokens(*sim.melody_line(s))
        except Exception:  # noqa: BLE001 - unreadable: not indexed
            continue
        real.append((name, s, tok))
    index = sim.MelodyIndex()
    for name, _, tok in real:
        index.add(name, sim.shingles_of_tokens(tok))
    source_of = {name: name for name, _, _ in real}
    rng = np.random.default_rng(0)
    n_sim = max(0, args.lake_size - len(real))
    t = time.perf_counter()
    batch = 20_000
    made = 0
    while made < n_sim:
        sub = sim.MelodyIndex()
        for i, sh in enumerate(simulated([tok for _, _, tok in real], min(batch, n_sim - made), rng)):
            sub.add(f"sim-{made + i}", sh)
        index.freeze().merge(sub)
        made += min(batch, n_sim - made)
    index.freeze()
    build_s = time.perf_counter() - t
    print(f"index: {len(index.ids)} pieces ({len(real)} real, {n_sim} simulated), {index.hashes.size} shingles, "
          f"{index.nbytes / 2**20:.0f} MiB, built in {build_s:.0f} s", flush=True)

    prng = random.Random(1)
    caught = tried = 0
    times, own = [], []
    for name, s, tok in prng.sample(real, min(args.planted * 2, len(real))):
        if tried >= args.planted:
            break
        d = disguise(s, prng)
        if d is None:
            continue
        tried += 1
        midi = d.dumps_midi()
        t = time.perf_counter()
        q = sim.shingles(midi)
        m = index.query(q)
        times.append(time.perf_counter() - t)
        hit = sim.verdict(m, q.size)
        caught += bool(hit and source_of.get(hit.piece, "") == name)
        own.append(next((x.containment for x in m if source_of.get(x.piece) == name), 0.0))
    print(f"planted copies caught: {caught} of {tried} ({100 * caught / max(tried, 1):.1f} %); containment of the "
          f"source: median {np.median(own):.2f}, 5th percentile {np.percentile(own, 5):.2f}", flush=True)
    print(f"time per check (parse + shingles + query, 8 bars): median {1000 * np.median(times):.2f} ms, "
          f"p95 {1000 * np.percentile(times, 95):.2f} ms", flush=True)

    if args.generated:
        from training import registry
        from training.phrase_check import requests

        for model in args.model or ["1", "2"]:
            try:
                gen, ref = registry.load_generator(cfg, model)
            except Exception as e:  # noqa: BLE001 - a version not registered here
                print(f"model {model}: not loaded ({type(e).__name__})")
                continue
            flagged, best = 0, []
            for r in requests(args.generated, 16):
                q = sim.shingles(gen.generate(r).midi)
                m = index.query(q)
                best.append(m[0].containment if m else 0.0)
                flagged += sim.verdict(m, q.size) is not None
            print(f"ordinary generations of {ref.name} v{ref.version}: {flagged} of {args.generated} flagged "
                  f"({100 * flagged / args.generated:.1f} %); best containment median {np.median(best):.2f}, "
                  f"max {max(best):.2f}", flush=True)
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
