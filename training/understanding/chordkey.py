"""The key a caption's author most likely means when it lists chords and names no key: learned from the lake.

:func:`training.understanding.implied.key_from_chords` says which key a listener hears a chord loop in (it
decides whether a stated key clashes with stated chords). What a caption means is another question: its
chords are a few bars of a piece whose key was labelled over the whole piece, and "C G Am F" comes from songs
in C major and in A minor. :func:`likely_key` answers it with a conditional logit over the 24 keys: each key
is described by the same features relative to its tonic (how diatonic the chords are in it, the rule's
score, its tonic chord first / last / how often, V-I, the Krumhansl-Schmuckler fit of the chords' notes,
and the share of chords on each degree by quality, first and last roots, apart for major and minor keys),
one weight per feature for every key, so a transposed progression gets the transposed key exactly.

The weights (``training/tables/key_of_chords.json``) were fitted on the chord progressions and key labels of
the lake pieces the caption benchmark does not use (LBFGS, L2 1e-3, chosen by 5-fold cross-validation
there). ``python -m training.understanding.chordkey`` refits and rewrites them from the lake, printing the
cross-validated accuracy beside the rule's.
"""

from __future__ import annotations

import argparse
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from lake.vocab import CHORD_QUALITIES, PITCH_CLASSES, key_name, parse_chord
from training.understanding.implied import _MINORISH, _key_pcs, dominant_resolves, in_scale, is_tonic, key_scores

WEIGHTS_PATH = Path(__file__).resolve().parents[1] / "tables" / "key_of_chords.json"
KEYS = tuple(key_name(PITCH_CLASSES[t], m) for m in ("major", "minor") for t in range(12))
L2 = 1e-3
_MAJORISH = ("maj", "7", "maj7", "sus4", "sus2", "aug")


def features(chords: list[str]) -> np.ndarray:
    """(24, F) float32: the features of ``chords`` in each key of :data:`KEYS` (see the module doc)."""
    from lake.midi_features import key_fits

    parsed = [parse_chord(c) for c in chords]
    n = len(parsed)
    hist = np.zeros(12)
    for r, q in parsed:
        for i in CHORD_QUALITIES[q]:
            hist[(r + i) % 12] += 1
    kk = key_fits(hist) if hist.std() > 0 else np.zeros(24)
    rule = key_scores(chords)
    rows = []
    for k, key in enumerate(KEYS):
        t, minor = k % 12, k >= 12
        def tonic(rq, t=t, minor=minor):
            return is_tonic(rq, t, minor)

        dom, sub = (t + 7) % 12, (t + 5) % 12
        diatonic = in_scale(parsed, _key_pcs(t, "minor" if minor else "major")) / n
        base = [diatonic, float(tonic(parsed[0])), float(tonic(parsed[-1])), sum(map(tonic, parsed)) / n,
                float(dominant_resolves(parsed, t, minor)),
                float(n > 1 and parsed[-2][0] == dom and tonic(parsed[-1])), float(minor), kk[k],
                sum(rq[0] == dom for rq in parsed) / n, sum(rq[0] == sub for rq in parsed) / n,
                float(parsed[0][0] == t), float(parsed[-1][0] == t), rule[key] / n]
        degrees = np.zeros((12, 3))
        first, last = np.zeros(12), np.zeros(12)
        for r, q in parsed:
            degrees[(r - t) % 12, 0 if q in _MAJORISH else 1 if q in _MINORISH else 2] += 1.0 / n
        first[(parsed[0][0] - t) % 12] = 1.0
        last[(parsed[-1][0] - t) % 12] = 1.0
        shape = np.concatenate([degrees.ravel(), first, last])
        rows.append(np.concatenate([base, shape * (not minor), shape * minor]))
    return np.asarray(rows, dtype=np.float32)


@lru_cache(maxsize=1)
def _weights() -> np.ndarray:
    return np.asarray(json.loads(WEIGHTS_PATH.read_text(encoding="utf-8"))["weights"], dtype=np.float32)


def likely_key(chords: list[str], mode: str | None = None) -> str:
    """The key ``chords`` most likely come from (among the keys of ``mode`` when given)."""
    scores = features(chords) @ _weights()
    allowed = [k for k, key in enumerate(KEYS) if mode is None or key.endswith(mode)]
    return KEYS[max(allowed, key=lambda k: (float(scores[k]), -k))]


def fit(progressions: list[list[str]], keys: list[str], l2: float = L2) -> np.ndarray:
    """Weights of the conditional logit (one per feature) that fit ``keys`` from ``progressions`` (LBFGS)."""
    import torch

    x = torch.tensor(np.stack([features(p) for p in progressions]))
    y = torch.tensor([KEYS.index(k) for k in keys])
    w = torch.zeros(x.shape[2], requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=400)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w, y) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy()


def accuracy(w: np.ndarray, progressions: list[list[str]], keys: list[str]) -> float:
    return float(np.mean([KEYS[int(np.argmax(features(p) @ w))] == k for p, k in zip(progressions, keys)]))


def development_rows(cfg=None) -> tuple[list[list[str]], list[str]]:
    """(chord progressions, labelled keys) of the lake pieces the caption benchmark does not use."""
    from training.understanding.benchmark import _piece_facts, lake_rows, load_captions

    used = {c["sha256"] for c in load_captions()}
    progs, keys = [], []
    for r in lake_rows(cfg):
        if r["sha256"] in used:
            continue
        f = _piece_facts(r)
        if "chords" in f:
            progs.append(f["chords"])
            keys.append(f["key"])
    return progs, keys


def main(argv: list[str] | None = None) -> int:
    from training.understanding.implied import key_from_chords

    ap = argparse.ArgumentParser(prog="python -m training.understanding.chordkey", description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out", default=str(WEIGHTS_PATH))
    args = ap.parse_args(argv)
    progs, keys = development_rows()
    order = np.random.default_rng(0).permutation(len(progs))
    cv = []
    for part in np.array_split(order, args.folds):
        train = np.setdiff1d(order, part)
        w = fit([progs[i] for i in train], [keys[i] for i in train])
        cv.append(accuracy(w, [progs[i] for i in part], [keys[i] for i in part]))
    rule = float(np.mean([key_from_chords(p) == k for p, k in zip(progs, keys)]))
    w = fit(progs, keys)
    doc = {"weights": [round(float(v), 6) for v in w], "l2": L2, "rows": len(progs),
           "data": "the lake's gold_text_music_pairs pieces the caption benchmark does not use (chord_progression, "
                   "key_name)",
           f"cv{args.folds}_accuracy": round(float(np.mean(cv)), 4), "rule_accuracy": round(rule, 4)}
    Path(args.out).write_text(json.dumps(doc) + "\n", encoding="utf-8")
    print(f"{len(progs)} progressions: {args.folds}-fold accuracy {np.mean(cv):.3f} (the rule, key_from_chords: "
          f"{rule:.3f}); weights written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
