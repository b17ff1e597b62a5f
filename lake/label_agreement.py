"""How often the lake's own chord and key extraction agrees with an annotated set's labels (POP909).

    musiclake ingest import ../shared/data/pop909 --source pop909   # the songs and their labels, once
    musiclake lake agreement --source pop909 [--json out.json]      # or: python -m lake.label_agreement --source pop909

Every piece of ``bronze_annotations`` (of that source) is analysed from its ``bronze_midi_files``
bytes by :func:`lake.midi_features.analyze`, the function the features job runs, so the chords and
keys compared are those the lake holds. Compared with the labels (mapped to the lake's vocabulary
by :func:`lake.annotations.lake_chord`; the mapping is stated in :mod:`lake.annotations`):

* **key**: the lake's key against the key the labels hold longest, as exact, fifth (same mode,
  tonic a fifth away), relative (C major / A minor), parallel (C major / C minor) or other, with
  the MIREX score (1, 0.5, 0.3, 0.2, 0), as :mod:`lake.key_agreement` counts them;
* **chords per bar, the lake's bars**: each bar of ``silver_chords`` (bars from the MIDI's time
  signatures) against the labelled chord covering most of that bar: what training sees today;
* **chords per bar, the labelled bars**: the lake's chord finder (:func:`lake.chords.bar_and_beat_chords`)
  on the bars the labels' downbeats give, against the labelled chord covering most of each bar:
  the chord finder alone, without the MIDI's meter (most POP909 files say 1/4);
* **chords per labelled segment**: the lake's template match over the notes of each labelled
  chord segment (:func:`lake.chords.chords_on_grid`), counted per segment and weighted by duration.

Each chord measure gives the share of root matches and of full-label matches (root and quality),
over the units whose label is a chord the lake knows; units labelled ``N`` or with a quality the
lake does not have are left out and counted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from multiprocessing import get_context

import numpy as np

from lake.key_agreement import MIREX, RELATIONS, relation

CHORD_MEASURES = {
    "lake_bars": "per bar, the lake's bars (silver_chords, the MIDI's meter)",
    "label_bars": "per bar, the labelled downbeats (the lake's chord finder)",
    "segments": "per labelled chord segment",
    "segments_time": "per labelled chord segment, weighted by duration",
}


def _tally(labels: list[str | None], ours: list[str], weights=None) -> dict:
    """Counts of a chord measure: units compared, root and full matches, units left out and why."""
    from lake.annotations import chord_root, lake_chord
    from lake.vocab import NO_CHORD

    out = {"n": 0.0, "root": 0.0, "full": 0.0, "no_chord": 0.0, "unmapped": 0.0, "confusions": Counter()}
    weights = [1.0] * len(ours) if weights is None else weights
    for ref, got, w in zip(labels, ours, weights):
        if ref is None or ref == NO_CHORD:
            out["no_chord"] += w
            continue
        mapped = lake_chord(ref)
        if mapped is None:
            out["unmapped"] += w
            continue
        out["n"] += w
        out["root"] += w * (chord_root(mapped) == chord_root(got))
        out["full"] += w * (mapped == got)
        if mapped != got:
            out["confusions"][(mapped.split(":")[1], got.split(":")[1] if ":" in got else got)] += 1
    return out


def piece_agreement(item: dict) -> dict:
    """Key relation and chord tallies of one annotated piece (runs in a worker process)."""
    from lake.annotations import bar_grid, labels_on_grid, lake_chord
    from lake.chords import bar_and_beat_chords, chords_on_grid
    from lake.midi_features import analyze, check_score, parse_midi
    from lake.vocab import PITCH_CLASSES, NO_CHORD

    lab = item["labels"]
    try:
        prepared = check_score(parse_midi(item["content"]))
        a = analyze(prepared.score, prepared=prepared)
    except Exception as e:  # noqa: BLE001 - a file the lake cannot analyse is reported, not fatal
        return {"item": lab["item"], "error": f"{type(e).__name__}: {str(e)[:160]}"}
    f, ch = a.features, a.chords
    ref_tonic, ref_mode = lab["key_name"].split()
    out = {"item": lab["item"], "sha256": item["sha256"], "key": f"{f['key_tonic']} {f['key_mode']}",
           "label_key": lab["key_name"],
           "key_relation": relation((PITCH_CLASSES.index(f["key_tonic"]), f["key_mode"]),
                                    (PITCH_CLASSES.index(ref_tonic), ref_mode)),
           "label_keys": len({k for k in lab["key_labels"]}),
           "time_signature": f["time_signature"]}
    cs, ce, cl = lab["chord_start_s"], lab["chord_end_s"], lab["chord_labels"]
    pitched = ~prepared.drum
    starts = prepared.tempo.seconds(prepared.start[pitched])
    ends = prepared.tempo.seconds(prepared.end[pitched])
    pitches = prepared.pitch[pitched]

    # the lake's own bars, as silver_chords holds them
    bar_s = np.asarray(ch["bar_start_s"], dtype=np.float64)
    lake_bounds = np.append(bar_s, f["duration_s"] if len(bar_s) and f["duration_s"] > bar_s[-1] else bar_s[-1] + 1)
    out["lake_bars"] = _tally(labels_on_grid(cs, ce, cl, lake_bounds), list(ch["bar_chords"]))

    # the labelled bars and beats, chords found by the lake's chord finder
    bars = bar_grid(lab["beat_s"], lab["beat_downbeat"])
    beats = np.asarray(lab["beat_s"], dtype=np.float64)
    beats = beats[(beats >= bars[0]) & (beats < bars[-1])] if len(bars) else beats[:0]
    if len(bars) >= 2 and len(beats):
        beat_bounds = np.append(beats, bars[-1])
        bar_chords, _ = bar_and_beat_chords(starts, ends, pitches, bars, beat_bounds)
        out["label_bars"] = _tally(labels_on_grid(cs, ce, cl, bars), bar_chords)

    # each labelled segment on its own
    seg = [(s, e, lab_) for s, e, lab_ in zip(cs, ce, cl) if e > s]
    if seg:
        found = [chords_on_grid(starts, ends, pitches, [s, e])[0] for s, e, _ in seg]
        labels = [lab_ for _, _, lab_ in seg]
        out["segments"] = _tally(labels, found)
        out["segments_time"] = _tally(labels, found, weights=[e - s for s, e, _ in seg])
    out["unmapped_labels"] = sorted({c for c in cl if c != NO_CHORD and lake_chord(c) is None})
    return out


def _sum(rows: list[dict], measure: str) -> dict:
    total = {"n": 0.0, "root": 0.0, "full": 0.0, "no_chord": 0.0, "unmapped": 0.0}
    confusions: Counter = Counter()
    for r in rows:
        t = r.get(measure)
        if t is None:
            continue
        for k in total:
            total[k] += t[k]
        confusions.update(t["confusions"])
    n = total["n"]
    return {**total, "root_share": total["root"] / n if n else 0.0, "full_share": total["full"] / n if n else 0.0,
            "top_confusions": [(f"{a} -> {b}", c) for (a, b), c in confusions.most_common(6)]}


def summarize(rows: list[dict]) -> dict:
    good = [r for r in rows if "error" not in r]
    counts = Counter(r["key_relation"] for r in good)
    n = len(good)
    shares = {k: counts[k] / n if n else 0.0 for k in RELATIONS}
    one_key = [r for r in good if r["label_keys"] == 1]
    return {"pieces": len(rows), "analysed": n, "errors": [(r["item"], r["error"]) for r in rows if "error" in r],
            "key": {"n": n, "counts": {k: counts[k] for k in RELATIONS}, "shares": shares,
                    "mirex": sum(MIREX[k] * shares[k] for k in RELATIONS),
                    "exact_single_key_pieces": (sum(r["key_relation"] == "exact" for r in one_key), len(one_key))},
            "chords": {m: _sum(good, m) for m in CHORD_MEASURES},
            "meters": dict(Counter(r["time_signature"] for r in good).most_common())}


def load_items(lake, source: str, limit: int | None = None) -> list[dict]:
    """The annotated pieces of ``source`` with their MIDI bytes, in the set's order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from lake.schemas import BRONZE_ANNOTATIONS, BRONZE_MIDI

    labels = lake.read(BRONZE_ANNOTATIONS, filters=[("source", "=", source)]).sort_by("item")
    if limit:
        labels = labels.slice(0, limit)
    shas = labels.column("sha256").to_pylist()
    midi = lake.read(BRONZE_MIDI, columns=["sha256", "content"])
    midi = midi.filter(pc.is_in(midi.column("sha256").cast(pa.string()), value_set=pa.array(shas, pa.string())))
    content = dict(zip(midi.column("sha256").to_pylist(), midi.column("content").to_pylist()))
    return [{"sha256": r["sha256"], "content": content[r["sha256"]], "labels": r}
            for r in labels.to_pylist() if r["sha256"] in content]


def agreement(lake, source: str, limit: int | None = None, workers: int = 2, progress: bool = True) -> dict:
    from common.progress import Progress

    items = load_items(lake, source, limit)
    line = Progress(f"agreement {source}", total=len(items), unit="songs") if progress else None
    rows = []
    try:
        if workers <= 1:
            results = map(piece_agreement, items)
            for r in results:
                rows.append(r)
                if line:
                    line.advance(1, errors=int("error" in r))
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                for r in pool.map(piece_agreement, items, chunksize=8):
                    rows.append(r)
                    if line:
                        line.advance(1, errors=int("error" in r))
    finally:
        if line:
            line.close()
    return {"source": source, "date": date.today().isoformat(), **summarize(rows), "rows": rows}


def report(result: dict) -> str:
    k = result["key"]
    lines = [f"agreement of the lake's chords and keys with the {result['source']} labels: {result['analysed']} of "
             f"{result['pieces']} pieces analysed ({result['date']})",
             "",
             f"key (lake.midi_features, Krumhansl-Kessler) vs the labelled key held longest, {k['n']} pieces:",
             "  " + "  ".join(f"{r} {k['shares'][r]:.1%} ({k['counts'][r]})" for r in RELATIONS),
             f"  MIREX score {k['mirex']:.3f}; exact on pieces with one labelled key: "
             f"{k['exact_single_key_pieces'][0]}/{k['exact_single_key_pieces'][1]}",
             "",
             "chords (labels mapped to the lake's 11 qualities: bass dropped, 6ths -> triads, 9/11/13 -> 7ths, "
             "minmaj7 -> min; see lake.annotations):",
             f"  {'measure':<58} {'units':>9} {'root':>7} {'full':>7} {'N left out':>11} {'unmapped':>9}"]
    for m, label in CHORD_MEASURES.items():
        c = result["chords"][m]
        unit = "{:>9.0f}".format(c["n"]) if m != "segments_time" else f"{c['n'] / 60:>7.0f}m"
        lines.append(f"  {label:<58} {unit} {c['root_share']:>7.1%} {c['full_share']:>7.1%} "
                     f"{c['no_chord']:>11.0f} {c['unmapped']:>9.0f}")
    conf = result["chords"]["segments_time"]["top_confusions"]
    if conf:
        lines.append("  most common quality confusions per segment (label -> lake): "
                     + ", ".join(f"{a} ({n})" for a, n in conf))
    lines.append("  meters the MIDI files state: " + ", ".join(f"{m} {n}" for m, n in result["meters"].items()))
    if result["errors"]:
        lines.append(f"{len(result['errors'])} pieces not analysed: "
                     + "; ".join(f"{i} ({e})" for i, e in result["errors"][:5]))
    return "\n".join(lines)


def _jsonable(result: dict) -> dict:
    def fix(v):
        if isinstance(v, Counter):
            return {f"{a}->{b}": n for (a, b), n in v.items()}
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v
    out = fix(result)
    for r in out["rows"]:
        r.pop("content", None)
    return out


def main(argv=None) -> int:
    from common.config import load_config
    from lake.delta import Lake

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="pop909", help="the annotated set's source name (default pop909)")
    ap.add_argument("--config", default=None)
    ap.add_argument("--set", dest="set_", action="append", default=[], help="config override key=value")
    ap.add_argument("--limit", type=int, default=None, help="only the first N pieces")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write the summary and per-piece rows here")
    args = ap.parse_args(argv)
    lake = Lake.from_config(load_config(path=args.config, overrides=args.set_))
    result = agreement(lake, args.source, args.limit, args.workers)
    if not result["pieces"]:
        print(f"no labelled pieces of source {args.source!r} in the lake: import them first "
              f"(musiclake ingest import PATH --source {args.source})", file=sys.stderr)
        return 2
    print(report(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(_jsonable(result), fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
