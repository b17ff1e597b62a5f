"""The harmonizer's tables, counted on POP909's training songs, and its score on the held-out songs.

``python -m training.harmonize_eval learn`` counts the tables of :mod:`training.harmonize` on every POP909
song that is not held out (:data:`training.realism.HELD_OUT_POP909`) and writes
``training/tables/harmony_pop909.json``. ``python -m training.harmonize_eval`` (``make bench-harmonize``)
harmonizes the melody track (``MELODY``) of each held-out song on its labelled beats and scores it per
beat against ``chord_midi.txt`` with ``mir_eval.chord`` (root, majmin, thirds; beats whose reference is
``N`` left out): the learned network (:mod:`training.harmonize_net`, rows "network") and the HMM (rows
"harmonizer"), each per beat, per half bar and per bar, beside the baseline of
:func:`training.harmonize.baseline` and the reference chords' own figures on Yeh et al.'s six metrics
(:mod:`training.harmony_metrics`). ``tune`` scores the HMM on training songs only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import training.harmonize as H

from training.harmonize import (N_FEATURES, TABLE_PATH, BeatMelody, beat_features, beat_weights, baseline, harmonize, load_table,
                                quality_of_bits, state_index, states, table_from_counts)
from training.harmony_metrics import chord_pcs_of_label, yeh_metrics
from training.realism import HELD_OUT_POP909, pop909_dir

LICENCE = ("Counted from the POP909 dataset (Wang et al., ISMIR 2020; MIT licence, Copyright (c) 2020 Music X Lab): "
           "chord_midi.txt, key_audio.txt, beat_midi.txt and the MELODY track of every song not held out")


@dataclass
class Song:
    number: int
    melody: BeatMelody
    ref: list[str]  # a reference label per beat (at the beat's middle)
    beat_s: np.ndarray  # beat durations in seconds (the last beat's copied from the one before)
    key: str  # the labelled key (the one held longest), lake spelling


def _rows(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_song(folder: Path, track_name: str = "MELODY") -> Song | None:
    """A POP909 song's melody on its labelled beats and its chord label per beat; None when unreadable.
    ``track_name`` reads another track as the melody (training reads ``BRIDGE``, the secondary melody, as more
    melodies over the same chords)."""
    from symusic import Score, TimeUnit

    from lake.annotations import main_key

    try:
        beats = np.array([[float(x) for x in r[:3]] for r in _rows(folder / "beat_midi.txt")])
        chords = [(float(r[0]), float(r[1]), r[2]) for r in _rows(folder / "chord_midi.txt")]
        keys = [(float(r[0]), float(r[1]), r[2]) for r in _rows(folder / "key_audio.txt")]
        score = Score(str(folder / f"{folder.name}.mid")).to(TimeUnit.second)
    except (OSError, ValueError, IndexError, RuntimeError):
        return None
    track = next((t for t in score.tracks if t.name.strip().upper() == track_name), None)
    if track is None or track.note_num() == 0 or len(beats) < 8 or not chords or not keys:
        return None
    t = beats[:, 0]
    notes = track.notes.numpy()
    start, end = notes["time"].astype(np.float64), (notes["time"] + notes["duration"]).astype(np.float64)
    idx = np.arange(len(t), dtype=np.float64)
    step = t[-1] - t[-2]

    def to_beats(x: np.ndarray) -> np.ndarray:
        inside = np.interp(x, t, idx)
        return np.where(x > t[-1], len(t) - 1 + (x - t[-1]) / step, np.where(x < t[0], (x - t[0]) / step, inside))

    on, off = to_beats(start), to_beats(end)
    keep = (off > 0) & (on < len(t))
    melody = BeatMelody(onset=np.maximum(on[keep], 0.0), dur=(off - np.maximum(on, 0.0))[keep],
                        pitch=notes["pitch"][keep].astype(np.int64), downbeat=beats[:, 2] == 1)
    mids = np.append((t[:-1] + t[1:]) / 2, t[-1] + step / 2)
    ref = []
    j = 0
    for m in mids:
        while j < len(chords) and chords[j][1] <= m:
            j += 1
        ref.append(chords[j][2] if j < len(chords) and chords[j][0] <= m else "N")
    return Song(int(folder.name), melody, ref, np.append(np.diff(t), step), main_key(*zip(*keys)))


def songs(root: Path, held_out: bool, limit: int | None = None, track_name: str = "MELODY") -> list[Song]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()
                     and (int(p.name) in HELD_OUT_POP909) == held_out)
    out = []
    for f in folders[:limit] if limit else folders:
        s = load_song(f, track_name)
        if s is not None:
            out.append(s)
    return out


def label_state(label: str, major_tonic: int) -> int | None:
    """The state of a reference label relative to ``major_tonic``; None for N or a chord no state holds."""
    import mir_eval.chord as mc

    try:
        root, bits, _ = mc.encode(label)
    except mc.InvalidChordException:
        return None
    if root < 0:
        return None
    q = quality_of_bits(bits)
    if q is not None and q not in H.QUALITIES:  # a smaller set of states: a seventh as its triad, a sus as major
        q = {"min7": "min", "dim": "min"}.get(q, "maj")
    return None if q is None else state_index((root - major_tonic) % 12, q)


def _major_tonic(key: str) -> int:
    from lake.vocab import PITCH_CLASSES

    tonic, mode = key.split()
    return (PITCH_CLASSES.index(tonic) + (3 if mode == "minor" else 0)) % 12


def count(train: list[Song], classifier: bool = False) -> dict:
    """The JSON counts :func:`training.harmonize.table_from_counts` reads, and the beat classifier's weights
    (a multinomial logistic regression from :func:`training.harmonize.beat_features` to the beat's chord)."""
    s = len(states())
    xs, ys = [], []
    down, inner, emit, unigram = np.zeros((s, s)), np.zeros((s, s)), np.zeros((s, 12)), np.zeros(s)
    mid_counts = np.zeros((s, s))
    for song in train:
        tonic = _major_tonic(song.key)
        mid = H.middle_beats(song.melody.downbeat)
        st = [label_state(lab, tonic) for lab in song.ref]
        w = np.roll(beat_weights(song.melody), -tonic, axis=1)
        if classifier:
            feats = beat_features(w, song.melody.downbeat)
            use = [b for b, x in enumerate(st) if x is not None and w[b].sum() > 0]
            xs.append(feats[use])
            ys += [st[b] for b in use]
        for b, x in enumerate(st):
            if x is None:
                continue
            unigram[x] += 1
            emit[x] += w[b]
            if b and st[b - 1] is not None:
                (down if song.melody.downbeat[b] else mid_counts if mid[b] else inner)[st[b - 1], x] += 1
    extra = {}
    if classifier:
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=1.0, max_iter=300)
        clf.fit(np.vstack(xs), np.array(ys))
        coef, intercept = np.zeros((s, N_FEATURES)), np.full(s, -30.0)
        coef[clf.classes_] = clf.coef_
        intercept[clf.classes_] = clf.intercept_
        extra = {"coef": coef.round(4).tolist(), "intercept": intercept.round(4).tolist()}
    return {"source": "POP909 training songs (every song not held out)", "licence": LICENCE,
            "songs": sorted(song.number for song in train), "qualities": list(H.QUALITIES), **extra,
            "states": [f"{r}:{q}" for r, q in states()],
            "down": down.round(3).tolist(), "inner": inner.round(3).tolist(), "mid": mid_counts.round(3).tolist(), "emission": emit.round(3).tolist(),
            "unigram": unigram.tolist()}


def learn(root: Path, out: Path = TABLE_PATH) -> dict:
    train = songs(root, held_out=False)
    data = count(train)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    tmp.replace(out)
    return data


# -- scoring ---------------------------------------------------------------------------------------------
def chord_scores(ref: list[str], est: list[str], weights: np.ndarray) -> dict[str, float]:
    """mir_eval's root, majmin and thirds per beat, weighted by the beats' length; reference N beats left out."""
    import mir_eval.chord as mc

    keep = np.array([r != "N" for r in ref])
    r = [x for x, k in zip(ref, keep) if k]
    e = [x for x, k in zip(est, keep) if k]
    w = np.asarray(weights, dtype=np.float64)[keep]
    out = {}
    for name, fn in (("root", mc.root), ("majmin", mc.majmin), ("thirds", mc.thirds)):
        comp = fn(r, e)
        out[name] = float(mc.weighted_accuracy(comp, w)) if (comp >= 0).any() else float("nan")
    return out


def chord_tone_share(melody: BeatMelody, labels: list[str]) -> float:
    """Share of melody notes whose pitch class is in the chord sounding at their onset (N chords left out)."""
    hits = total = 0
    for on, p in zip(melody.onset.tolist(), melody.pitch.tolist()):
        b = min(int(on), len(labels) - 1)
        pcs = chord_pcs_of_label(labels[b])
        if not pcs:
            continue
        total += 1
        hits += int(p) % 12 in pcs
    return hits / total if total else float("nan")


SYSTEMS = ("network (per beat)", "network (per half bar)", "network (per bar)", "harmonizer (per beat)",
           "harmonizer (per half bar)", "harmonizer (per bar)", "baseline", "reference")
_RUNS = {"network (per beat)": ("net", "beat"), "network (per half bar)": ("net", "half"),
         "network (per bar)": ("net", "bar"), "harmonizer (per beat)": ("hmm", "beat"),
         "harmonizer (per half bar)": ("hmm", "half"), "harmonizer (per bar)": ("hmm", "bar")}
KEYED = ("network (per beat)", "harmonizer (per beat)")  # the systems whose detected key is scored


def evaluate(test: list[Song], table=None, systems: tuple[str, ...] = SYSTEMS) -> dict[str, dict[str, float]]:
    """Per-system means over ``test`` of every column; "harmonizer" rows are the HMM (``table``, default the
    shipped one), "network" rows the learned network."""
    rows: dict[str, list[dict]] = {k: [] for k in systems}
    keys_right: dict[str, int] = {}
    for song in test:
        labels = {}
        for name in systems:
            if name not in _RUNS:
                continue
            method, per = _RUNS[name]
            h = harmonize(song.melody, per=per, table=table if method == "hmm" else None, method=method)
            labels[name] = h.beat_labels()
            if name in KEYED:
                keys_right[name] = keys_right.get(name, 0) + (h.key == song.key)
        if "baseline" in systems:
            labels["baseline"] = baseline(song.melody, table=table)
        if "reference" in systems:
            labels["reference"] = song.ref
        sung = beat_weights(song.melody).sum(axis=1) > 0
        sung_ref = [r if m else "N" for r, m in zip(song.ref, sung)]
        for name, lab in labels.items():
            row = chord_scores(song.ref, lab, song.beat_s)
            row["root (sung)"] = chord_scores(sung_ref, lab, song.beat_s)["root"]
            row["chord tones"] = chord_tone_share(song.melody, lab)
            row.update(yeh_metrics(song.melody, lab))
            rows[name].append(row)
    out = {name: {k: float(np.nanmean([r[k] for r in rs])) for k in rs[0]} for name, rs in rows.items() if rs}
    for name, right in keys_right.items():
        out[name]["key"] = right / len(test)
    return out


COLUMNS = ("root", "root (sung)", "majmin", "thirds", "chord tones", "CHE", "CC", "CTD", "CTnCTR", "PCS", "MCTD")


def table_text(result: dict[str, dict[str, float]], n_songs: int) -> str:
    lines = [f"harmonization of {n_songs} held-out POP909 songs (melody in, chord_midi.txt as reference; "
             "per-beat mir_eval scores, reference N beats left out; 'root (sung)': only beats where the melody "
             "sounds)",
             "| system | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in result.items():
        cells = [("—" if name == "reference" and c in ("root", "root (sung)", "majmin", "thirds") else f"{row[c]:.3f}")
                 for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name in KEYED:
        if "key" in result.get(name, {}):
            lines.append(f"key detected as labelled ({name}): {result[name]['key']:.3f} of the songs")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m training.harmonize_eval", description=__doc__.splitlines()[0])
    ap.add_argument("command", nargs="?", default="bench", choices=("bench", "learn", "tune"))
    ap.add_argument("--pop909", default=None, help="the POP909 folder (default: POP909_DIR or ../shared/data/pop909)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N songs")
    args = ap.parse_args(argv)
    root = Path(args.pop909) if args.pop909 else pop909_dir()
    if not root.is_dir():
        print(f"no POP909 folder at {root} (set POP909_DIR or pass --pop909)", file=sys.stderr)
        raise SystemExit(1)
    t0 = time.perf_counter()
    if args.command == "learn":
        data = learn(root)
        print(f"counted {len(data['songs'])} training songs -> {TABLE_PATH} ({time.perf_counter() - t0:.0f} s)")
        return
    if args.command == "tune":  # on training songs only: the held-out ones never choose a setting
        train = songs(root, held_out=False)
        table = table_from_counts(count([s for s in train if s.number % 7 != 0]))
        tune = [s for s in train if s.number % 7 == 0][:args.limit or 40]
        print(table_text(evaluate(tune, table, ("harmonizer (per beat)", "harmonizer (per bar)", "baseline")),
                         len(tune)).replace("held-out", "training (tuning)"))
        return
    test = songs(root, held_out=True, limit=args.limit)
    result = evaluate(test, load_table())
    print(table_text(result, len(test)))
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
