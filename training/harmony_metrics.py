"""The six harmonization metrics of Yeh et al. (2021), measured from a melody and its chords per beat.

Yeh, Hsiao, Fukayama, Kitahara, Genchel, Liu, Dong, Chen, Leong, Yang: "Automatic melody harmonization with
triad chords: A comparative study", Journal of New Music Research 50(1), 2021. On chords alone:

* **CHE**, chord histogram entropy: the entropy (natural log) of how often each chord label sounds (per beat).
* **CC**, chord coverage: how many different chord labels the piece uses.
* **CTD**, chord tonal distance: the mean distance between adjacent chords (at each change) in the 6-D tonal
  centroid space of Harte, Sandler and Gasser (2006).

Of the melody against the chords:

* **CTnCTR**, chord-tone to non-chord-tone ratio: (chord tones + "proper" non-chord tones, those within two
  semitones of the next note) / (chord tones + non-chord tones), over melody notes at their onset's chord.
* **PCS**, pitch consonance score: per 16th of a beat where a melody note sounds, the mean over the chord's
  notes of +1 for a unison, third, fifth or sixth between them (the melody above), 0 for a fourth, -1 for
  anything else.
* **MCTD**, melody–chord tonal distance: the tonal distance between each melody note and its chord, weighted
  by the note's length.

Chords are given as lake/mir_eval labels ("A:min7", "G:maj/3", "N"); an ``N`` beat counts for no metric.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

# Harte et al.'s circles: fifths (r=1), minor thirds (r=1), major thirds (r=0.5)
_PHI = np.array([[math.sin(l * 7 * math.pi / 6), math.cos(l * 7 * math.pi / 6),
                  math.sin(l * 3 * math.pi / 2), math.cos(l * 3 * math.pi / 2),
                  0.5 * math.sin(l * 2 * math.pi / 3), 0.5 * math.cos(l * 2 * math.pi / 3)] for l in range(12)])
_CONSONANT = {0, 3, 4, 7, 8, 9}
_FRAMES_PER_BEAT = 4


@lru_cache(maxsize=4096)
def chord_pcs_of_label(label: str) -> frozenset[int]:
    """The pitch classes of a label; empty for N or a label mir_eval cannot read."""
    import mir_eval.chord as mc

    if not label or label in ("N", "X"):
        return frozenset()
    try:
        root, bits, bass = mc.encode(label)
    except mc.InvalidChordException:
        return frozenset()
    if root < 0:
        return frozenset()
    return frozenset(int((root + i) % 12) for i in range(12) if bits[i])


def tonal_centroid(pcs) -> np.ndarray:
    pcs = list(pcs)
    if not pcs:
        return np.zeros(6)
    return _PHI[pcs].sum(axis=0) / len(pcs)


def tonal_distance(a, b) -> float:
    return float(np.linalg.norm(tonal_centroid(a) - tonal_centroid(b)))


def yeh_metrics(melody, labels: list[str]) -> dict[str, float]:
    """CHE, CC, CTD, CTnCTR, PCS and MCTD of ``labels`` (one per beat) under ``melody`` (a
    :class:`training.harmonize.BeatMelody`)."""
    n = len(labels)
    sets = [chord_pcs_of_label(x) for x in labels]
    named = [x for x, s in zip(labels, sets) if s]
    counts: dict[str, int] = {}
    for x in named:
        counts[x] = counts.get(x, 0) + 1
    p = np.array(list(counts.values()), dtype=np.float64)
    che = float(-(p / p.sum() * np.log(p / p.sum())).sum()) if len(p) else float("nan")
    segments = [s for i, s in enumerate(sets) if s and (i == 0 or s != sets[i - 1])]
    ctd = float(np.mean([tonal_distance(a, b) for a, b in zip(segments, segments[1:])])) if len(segments) > 1 \
        else float("nan")
    onset, dur, pitch = melody.onset, melody.dur, melody.pitch
    order = np.argsort(onset, kind="stable")
    onset, dur, pitch = onset[order], dur[order], pitch[order]
    nc = nn = npr = 0
    mctd_sum = mctd_w = 0.0
    for i, (on, du, pi) in enumerate(zip(onset.tolist(), dur.tolist(), pitch.tolist())):
        b = int(on)
        if b < 0 or b >= n or not sets[b]:
            continue
        pc = int(pi) % 12
        if pc in sets[b]:
            nc += 1
        else:
            nn += 1
            if i + 1 < len(pitch) and abs(int(pitch[i + 1]) - int(pi)) <= 2:
                npr += 1
        mctd_sum += du * tonal_distance([pc], sets[b])
        mctd_w += du
    ctnctr = (nc + npr) / (nc + nn) if nc + nn else float("nan")
    # PCS on a 16th grid: the melody note sounding at each frame against the chord of its beat
    frames = n * _FRAMES_PER_BEAT
    sounding = np.full(frames, -1, dtype=np.int64)
    for on, du, pi in zip(onset.tolist(), dur.tolist(), pitch.tolist()):
        a = max(int(math.floor(on * _FRAMES_PER_BEAT + 1e-6)), 0)
        z = min(int(math.ceil((on + du) * _FRAMES_PER_BEAT - 1e-6)), frames)
        sounding[a:z] = int(pi)
    scores = []
    for f in np.flatnonzero(sounding >= 0).tolist():
        chord = sets[f // _FRAMES_PER_BEAT]
        if not chord:
            continue
        m = int(sounding[f])
        scores.append(np.mean([1.0 if (m - c) % 12 in _CONSONANT else 0.0 if (m - c) % 12 == 5 else -1.0
                               for c in chord]))
    return {"CHE": che, "CC": float(len(counts)), "CTD": ctd, "CTnCTR": ctnctr,
            "PCS": float(np.mean(scores)) if scores else float("nan"),
            "MCTD": mctd_sum / mctd_w if mctd_w else float("nan")}
