"""How often the lake's key label agrees with music21's, on the pieces of an exported score site.

    python -m lake.key_agreement --site data/site [--pieces N] [--split train] [--json out.json]

For every piece in the site's ``manifest.json`` the lake's key is computed from the MIDI bytes by
``lake.midi_features.analyze`` (the function the silver job runs, so it is the label the lake holds)
and compared with three references:

* music21 ``score.analyze('key')`` (its default, Aarden-Essen profiles) on the original corpus score,
* the same on the MIDI file, as music21 reads it back (what the lake saw, through another parser),
* music21 ``score.analyze('krumhansl')`` on the corpus score (the lake's own method, Krumhansl-Kessler).

Each pair is one of: exact, fifth (same mode, tonic a fifth up or down), relative (C major / A minor),
parallel (C major / C minor) or other; the MIREX key score weighs them 1, 0.5, 0.3, 0.2 and 0.

Two lines of context follow: music21's Krumhansl against music21's default on the same score (how
much of the gap is the choice of profiles), and the lake's own histogram correlated with music21's
Aarden-Essen profiles instead of Krumhansl-Kessler (what the lake would agree with if it used them).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

RELATIONS = ("exact", "fifth", "relative", "parallel", "other")
MIREX = {"exact": 1.0, "fifth": 0.5, "relative": 0.3, "parallel": 0.2, "other": 0.0}
REFERENCES = {
    "score_key": "music21 analyze('key') on the corpus score",
    "midi_key": "music21 analyze('key') on the exported MIDI file",
    "score_krumhansl": "music21 analyze('krumhansl') on the corpus score",
}
CONTEXT = {  # name: (keys compared, reference)
    "music21's own Krumhansl-Kessler (not the lake)": ("score_krumhansl", "score_key"),
    "the lake's histogram with Aarden-Essen profiles": ("lake_aarden", "score_key"),
}


def relation(ours: tuple[int, str], ref: tuple[int, str]) -> str:
    """How key ``ours`` (tonic pitch class, mode) stands to ``ref``: one of :data:`RELATIONS`."""
    (a, mode_a), (b, mode_b) = ours, ref
    if mode_a == mode_b:
        if a == b:
            return "exact"
        return "fifth" if (a - b) % 12 in (5, 7) else "other"
    if a == b:
        return "parallel"
    major, minor = (a, b) if mode_a == "major" else (b, a)
    return "relative" if (major - minor) % 12 == 3 else "other"


def _m21_key(k) -> tuple[int, str]:
    return int(k.tonic.pitchClass), str(k.mode)


def _aarden_key(prepared) -> tuple[int, str]:
    """The lake's duration-weighted pitch-class histogram, correlated with music21's Aarden-Essen profiles."""
    import numpy as np
    from music21.analysis.discrete import AardenEssen

    weights = AardenEssen()
    profiles = np.array([np.roll(weights.getWeights(mode), t) for mode in ("major", "minor") for t in range(12)])
    z_profiles = (profiles - profiles.mean(axis=1, keepdims=True)) / profiles.std(axis=1, keepdims=True)
    pitched = ~prepared.drum
    hist = np.bincount(prepared.pitch[pitched] % 12, minlength=12,
                       weights=(prepared.end - prepared.start)[pitched].astype(np.float64))
    if not hist.any() or np.allclose(hist, hist[0]):
        return 0, "major"
    best = int(np.argmax(z_profiles @ ((hist - hist.mean()) / hist.std())))
    return best % 12, ("major", "minor")[best // 12]


def piece_keys(piece: dict, site_dir: str) -> dict:
    """The lake's key and the three music21 keys of one manifest entry (runs in a worker process)."""
    from music21 import converter, corpus

    from lake.midi_features import analyze, check_score, parse_midi
    from lake.vocab import PITCH_CLASSES

    data = (Path(site_dir) / piece["midi"]).read_bytes()
    prepared = check_score(parse_midi(data))
    f = analyze(parse_midi(data), prepared=prepared).features
    out = {"slug": piece["slug"], "collection": piece["collection"], "sha256": piece.get("sha256"),
           "lake": (PITCH_CLASSES.index(f["key_tonic"]), f["key_mode"]), "lake_aarden": _aarden_key(prepared)}
    try:
        score = corpus.parse(piece["corpus_path"], number=piece.get("number"))
        out["score_key"] = _m21_key(score.analyze("key"))
        out["score_krumhansl"] = _m21_key(score.analyze("krumhansl"))
        out["midi_key"] = _m21_key(converter.parseData(data, format="midi").analyze("key"))
    except Exception as e:  # a reference music21 cannot compute is left out of that column, and said
        out["error"] = f"{type(e).__name__}: {str(e)[:160]}"
    return out


def summarize(rows: list[dict], reference: str, ours: str = "lake") -> dict:
    """Counts per relation, shares and the MIREX score of the keys ``ours`` (the lake's) against ``reference``."""
    counts = Counter(relation(tuple(r[ours]), tuple(r[reference])) for r in rows if reference in r and ours in r)
    n = sum(counts.values())
    shares = {k: (counts[k] / n if n else 0.0) for k in RELATIONS}
    return {"n": n, "counts": {k: counts[k] for k in RELATIONS}, "shares": shares,
            "mirex": sum(MIREX[k] * shares[k] for k in RELATIONS)}


def agreement(site_dir: str | Path, pieces: int | None = None, split: str = "all", workers: int = 2) -> dict:
    """Per-piece keys and the summaries, for the first ``pieces`` pieces of the site (in manifest order)."""
    from lake.vocab import split_of

    site_dir = Path(site_dir)
    manifest = json.loads((site_dir / "manifest.json").read_text(encoding="utf-8"))
    chosen = [p for p in manifest["pieces"] if split == "all" or split_of(p["sha256"]) == split]
    chosen = chosen[:pieces] if pieces else chosen
    if workers <= 1:
        rows = [piece_keys(p, str(site_dir)) for p in chosen]
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            rows = list(pool.map(piece_keys, chosen, [str(site_dir)] * len(chosen), chunksize=4))
    by_collection = defaultdict(list)
    for r in rows:
        by_collection[r["collection"]].append(r)
    return {"site": str(site_dir), "split": split, "pieces": len(rows),
            "errors": [{"slug": r["slug"], "error": r["error"]} for r in rows if "error" in r],
            "overall": {ref: summarize(rows, ref) for ref in REFERENCES},
            "by_collection": {c: summarize(rs, "score_key") for c, rs in sorted(by_collection.items())},
            "context": {name: summarize(rows, ref, ours) for name, (ours, ref) in CONTEXT.items()},
            "rows": rows}


def _line(label: str, s: dict) -> str:
    cells = "  ".join(f"{s['shares'][k]:>8.1%}" for k in RELATIONS)
    return f"  {label:<52} {s['n']:>4}  {cells}  {s['mirex']:.3f}"


def report(result: dict) -> str:
    head = f"  {'':<52} {'n':>4}  " + "  ".join(f"{k:>8}" for k in RELATIONS) + "  MIREX"
    lines = [f"key agreement of the lake's labels (lake.midi_features) with music21, {result['pieces']} pieces "
             f"of {result['site']} (split: {result['split']})", head]
    lines += [_line(REFERENCES[ref], s) for ref, s in result["overall"].items()]
    lines += ["", "against music21 analyze('key') on the corpus score, per collection:", head]
    lines += [_line(c, s) for c, s in result["by_collection"].items()]
    lines += ["", "context, against music21 analyze('key') on the corpus score:", head]
    lines += [_line(name, s) for name, s in result["context"].items()]
    if result["errors"]:
        lines.append(f"\n{len(result['errors'])} pieces without a music21 reference: "
                     + "; ".join(f"{e['slug']} ({e['error']})" for e in result["errors"][:5]))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", default="data/site", help="a built score site (holds manifest.json); default data/site")
    ap.add_argument("--pieces", type=int, default=None, help="only the first N pieces of the manifest")
    ap.add_argument("--split", choices=("all", "train", "validation", "test"), default="all",
                    help="only the pieces of this split (lake.vocab.split_of of the content hash)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (music21 is slow); 1: in this one")
    ap.add_argument("--json", default=None, help="also write the summaries and per-piece keys here")
    args = ap.parse_args(argv)
    if not (Path(args.site) / "manifest.json").exists():
        print(f"{args.site} holds no manifest.json: build it first (musiclake ingest site build)", file=sys.stderr)
        return 2
    result = agreement(args.site, args.pieces, args.split, args.workers)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
