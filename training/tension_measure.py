"""Tension measured from the notes: what a film cue's tension control must change, read back from the MIDI.

Four figures per piece (and per bar, so a ramped cue can be seen rising):

    dissonance      share of dissonant intervals among pairs of pitched notes that sound together
                    (interval classes 1, 2, 6, 10, 11: seconds, the tritone, sevenths; drums left out)
    rhythm_change   changes of inter-onset interval per bar: in each track the gaps between successive
                    onsets, counted where a gap differs from the one before; per bar, mean over the tracks
                    (drums included: they are a part with a rhythm)
    low_share       share of pitched notes below C3 (MIDI 48)
    diameter, strain  Herremans & Chew's tension ribbons (2016, "Tension ribbons: quantifying and
                    visualising tonal tension"), on Chew's spiral array: per window (a beat), the cloud
                    diameter (the largest distance between two pitch classes sounding in it) and the
                    tensile strain (the distance from the window's centre of effect to the key's centre);
                    mean over the windows with notes

The spiral array (Chew 2000): pitch class k steps along the line of fifths sits at
``(r sin(k pi/2), r cos(k pi/2), k h)`` with ``r = 1``, ``h = sqrt(2/15)``; a major triad's centre weighs
its root, fifth and third by (0.536, 0.274, 0.19), a minor triad's likewise; a key's centre weighs its
tonic, dominant and subdominant triads the same way (the minor key mixes major and minor triads on V and
iv with alpha = beta = 0.75). A pitch class is placed at the index of the line of fifths nearest the
key's diatonic centre (its spelling in the key). Nothing here reads what the generator says it did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from symusic import Score

DISSONANT_CLASSES = frozenset({1, 2, 6, 10, 11})
LOW_PITCH = 48  # C3 (middle C = C4 = 60)
R, H = 1.0, math.sqrt(2.0 / 15.0)
WEIGHTS = (0.536, 0.274, 0.19)
ALPHA = BETA = 0.75
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E", "E#": "F", "B#": "C"}


def _pc(name: str) -> int:
    name = name.strip()
    name = _FLATS.get(name, name)
    return PITCH_CLASSES.index(name)


# -- the spiral array -------------------------------------------------------------------------------
def position(k: int | np.ndarray) -> np.ndarray:
    """The spiral array's point for index ``k`` on the line of fifths (C = 0, G = 1, F = -1)."""
    k = np.asarray(k, dtype=np.float64)
    return np.stack([R * np.sin(k * np.pi / 2), R * np.cos(k * np.pi / 2), k * H], axis=-1)


def _triad(k: int, major: bool) -> np.ndarray:
    w1, w2, w3 = WEIGHTS
    third = k + 4 if major else k - 3
    return w1 * position(k) + w2 * position(k + 1) + w3 * position(third)


def key_index(key: str) -> tuple[int, bool]:
    """(line-of-fifths index of the tonic, major?) for "D minor", "Bb major"."""
    tonic, mode = key.split()
    return (7 * _pc(tonic)) % 12, mode == "major"


def key_centre(key: str) -> np.ndarray:
    k, major = key_index(key)
    w1, w2, w3 = WEIGHTS
    if major:
        return w1 * _triad(k, True) + w2 * _triad(k + 1, True) + w3 * _triad(k - 1, True)
    dominant = ALPHA * _triad(k + 1, True) + (1 - ALPHA) * _triad(k + 1, False)
    subdominant = BETA * _triad(k - 1, False) + (1 - BETA) * _triad(k - 1, True)
    return w1 * _triad(k, False) + w2 * dominant + w3 * subdominant


def spelled_index(pcs: np.ndarray, key: str) -> np.ndarray:
    """Each pitch class's index on the line of fifths, the one nearest the key's diatonic centre."""
    k, major = key_index(key)
    centre = k + 2 if major else k - 1  # C major: F..B around D; A minor: F..G# around G
    base = (7 * np.asarray(pcs, dtype=np.int64)) % 12
    return base + 12 * np.round((centre - base) / 12.0).astype(np.int64)


# -- the piece as arrays ------------------------------------------------------------------------------
@dataclass
class _Piece:
    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    drum: np.ndarray
    track: np.ndarray
    bar_ticks: float
    beat_ticks: float
    n_bars: int


def _piece(midi: bytes | Score) -> _Piece:
    score = midi if isinstance(midi, Score) else Score.from_midi(bytes(midi))
    tpq = int(score.ticks_per_quarter)
    num, den = 4, 4
    if len(score.time_signatures):
        ts = score.time_signatures[0]
        num, den = int(ts.numerator), int(ts.denominator)
    bar = num * 4 * tpq / den
    beat = 1.5 * tpq if den == 8 and num % 3 == 0 else 4 * tpq / den
    cols = {k: [] for k in ("start", "end", "pitch", "drum", "track")}
    for i, t in enumerate(score.tracks):
        if not t.note_num():
            continue
        a = t.notes.numpy()
        s = a["time"].astype(np.int64)
        cols["start"].append(s)
        cols["end"].append(s + np.maximum(a["duration"].astype(np.int64), 1))
        cols["pitch"].append(a["pitch"].astype(np.int64))
        cols["drum"].append(np.full(s.size, bool(t.is_drum)))
        cols["track"].append(np.full(s.size, i, dtype=np.int64))
    if not cols["start"]:
        z = np.zeros(0, dtype=np.int64)
        return _Piece(z, z, z, z.astype(bool), z, bar, beat, 0)
    arrs = {k: np.concatenate(v) for k, v in cols.items()}
    n_bars = max(1, int(math.ceil(arrs["end"].max() / bar - 1e-9)))
    return _Piece(arrs["start"], arrs["end"], arrs["pitch"], arrs["drum"], arrs["track"], bar, beat, n_bars)


def _per_bar(values: np.ndarray, bars: np.ndarray, n_bars: int, reduce="mean") -> list[float]:
    out = []
    for b in range(n_bars):
        v = values[bars == b]
        out.append(float(v.mean()) if v.size else math.nan)
    return out


# -- the measures -------------------------------------------------------------------------------------
def dissonance(p: _Piece) -> tuple[float, list[float]]:
    """(share of dissonant pairs, per bar): pairs of pitched notes that overlap, the bar of the later onset."""
    keep = ~p.drum
    s, e, pitch = p.start[keep], p.end[keep], p.pitch[keep]
    order = np.argsort(s, kind="stable")
    s, e, pitch = s[order], e[order], pitch[order]
    dis = np.zeros(p.n_bars)
    tot = np.zeros(p.n_bars)
    for i in range(s.size):
        # notes starting at or after note i's onset and before it ends (j > i: each pair once)
        j = np.arange(i + 1, np.searchsorted(s, e[i], side="left"))
        if not j.size:
            continue
        ic = np.abs(pitch[j] - pitch[i]) % 12
        bars = np.minimum((s[j] / p.bar_ticks).astype(np.int64), p.n_bars - 1)
        np.add.at(tot, bars, 1)
        np.add.at(dis, bars, np.isin(ic, list(DISSONANT_CLASSES)))
    share = float(dis.sum() / tot.sum()) if tot.sum() else math.nan
    return share, [float(d / t) if t else math.nan for d, t in zip(dis, tot)]


def rhythm_change(p: _Piece) -> tuple[float, list[float]]:
    """(changes of inter-onset interval per bar, mean over tracks; per bar, summed over tracks / tracks)."""
    per_bar = np.zeros(p.n_bars)
    tracks = [t for t in np.unique(p.track)]
    n_tracks = 0
    for t in tracks:
        on = np.unique(p.start[p.track == t])
        if on.size < 3:
            continue
        n_tracks += 1
        ioi = np.diff(on)
        changed = ioi[1:] != ioi[:-1]
        bars = np.minimum((on[2:] / p.bar_ticks).astype(np.int64), p.n_bars - 1)  # where the new gap ends
        np.add.at(per_bar, bars, changed)
    if not n_tracks:
        return math.nan, [math.nan] * p.n_bars
    per_bar /= n_tracks
    return float(per_bar.sum() / p.n_bars), [float(v) for v in per_bar]


def low_share(p: _Piece) -> tuple[float, list[float]]:
    keep = ~p.drum
    if not keep.any():
        return math.nan, [math.nan] * p.n_bars
    low = (p.pitch[keep] < LOW_PITCH).astype(np.float64)
    bars = np.minimum((p.start[keep] / p.bar_ticks).astype(np.int64), p.n_bars - 1)
    return float(low.mean()), _per_bar(low, bars, p.n_bars)


def ribbons(p: _Piece, key: str) -> dict[str, object]:
    """Cloud diameter and tensile strain per beat window (Herremans & Chew), their means and per-bar means."""
    keep = ~p.drum
    s, e, pitch = p.start[keep], p.end[keep], p.pitch[keep]
    centre = key_centre(key)
    n_win = int(math.ceil(p.n_bars * p.bar_ticks / p.beat_ticks - 1e-9))
    diam, strain, win_bar = [], [], []
    for w in range(n_win):
        a, b = w * p.beat_ticks, (w + 1) * p.beat_ticks
        on = (s < b) & (e > a)
        if not on.any():
            continue
        weight = (np.minimum(e[on], b) - np.maximum(s[on], a)).astype(np.float64)
        pcs = pitch[on] % 12
        idx = spelled_index(pcs, key)
        pts = position(idx)
        uniq = np.unique(idx)
        up = position(uniq)
        d = np.sqrt(((up[:, None, :] - up[None, :, :]) ** 2).sum(-1)).max() if uniq.size > 1 else 0.0
        ce = (pts * weight[:, None]).sum(0) / weight.sum()
        diam.append(float(d))
        strain.append(float(np.linalg.norm(ce - centre)))
        win_bar.append(int(a // p.bar_ticks))
    diam_a, strain_a, wb = np.asarray(diam), np.asarray(strain), np.asarray(win_bar, dtype=np.int64)
    return {"diameter": float(diam_a.mean()) if diam_a.size else math.nan,
            "strain": float(strain_a.mean()) if strain_a.size else math.nan,
            "diameter_bars": _per_bar(diam_a, wb, p.n_bars), "strain_bars": _per_bar(strain_a, wb, p.n_bars)}


MEASURES = ("dissonance", "rhythm_change", "low_share", "diameter", "strain")


def measure(midi: bytes | Score, key: str) -> dict[str, object]:
    """Every figure of the module docstring for one piece in ``key`` ("C major"): ``{name: value}`` and
    ``{name + "_bars": [per bar]}``."""
    p = _piece(midi)
    out: dict[str, object] = {"n_bars": p.n_bars}
    for name, fn in (("dissonance", dissonance), ("rhythm_change", rhythm_change), ("low_share", low_share)):
        v, bars = fn(p)
        out[name], out[name + "_bars"] = v, bars
    out.update(ribbons(p, key))
    return out


def rise(values: list[float]) -> float:
    """The slope of a least-squares line through per-bar values (NaN bars left out), per bar."""
    y = np.asarray(values, dtype=np.float64)
    x = np.arange(y.size, dtype=np.float64)
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(x[ok], y[ok], 1)[0])
