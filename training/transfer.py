"""An uploaded piece harmonized or re-arranged in another style, keeping its melody, and measured from the notes.

:func:`harmonized_piece`: the upload's melody (:func:`serving.uploads.read_upload` finds it), chords from
:mod:`training.harmonize`, and an accompaniment in a style (:mod:`training.accompany`).

:func:`transfer`: the same melody under the upload's own chords (read per bar from its other tracks by the
lake's chord labeller, :func:`lake.chords.chords_on_grid`; harmonized when the upload is a bare melody),
re-arranged in the target style. :func:`measure` says, from the notes of both files, how much of the melody
survived (the share of the original's melodic intervals kept in order, and the onset F-measure within a
sixth of a beat, wide enough for swing) and how far the style moved: the swing ratio of off-beat eighths, the
share of accompaniment chords with a seventh or more, and the instrument set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lake.vocab import PITCH_CLASSES, chord_symbol, instrument_name
from training.accompany import TPQ, ChordSpan, accompany, to_midi
from training.harmonize import (BeatMelody, Chord, Harmonization, beat_melody_from_score, harmonize, roman,
                                spell_root)


@dataclass
class Arranged:
    midi: bytes
    key: str
    style: str
    chords: list[Chord]
    beat_unit: float  # quarters per beat
    beats_per_bar: int
    bpm: float
    parts: list[tuple[str, str, int]]  # (role, instrument, GM program) per track in the file
    measures: dict = field(default_factory=dict)

    def chord_marks(self) -> list[tuple[float, str]]:
        """(onset in quarters, symbol) of each chord change, for the score."""
        return [(c.start * self.beat_unit, c.symbol) for c in self.chords]


def _meter(score) -> tuple[int, int]:
    if len(score.time_signatures):
        ts = score.time_signatures[0]
        return int(ts.numerator), int(ts.denominator)
    return 4, 4


def _bpm(score) -> float:
    return float(score.tempos[0].qpm) if len(score.tempos) else 120.0


def _melody_events(score, melody: np.ndarray) -> list[tuple[int, int, int, int]]:
    scale = TPQ / int(score.ticks_per_quarter)
    return [(int(round(s * scale)), max(1, int(round(d * scale))), int(p), int(v)) for s, d, p, v in melody.tolist()]


def _beats_per_bar(bm: BeatMelody) -> int:
    down = np.flatnonzero(bm.downbeat)
    return int(down[1] - down[0]) if len(down) > 1 else bm.n_beats


def _spans(h: Harmonization) -> list[ChordSpan]:
    return [ChordSpan(c.start, c.end, c.root, c.quality) for c in h.chords]


def harmonized_piece(score, melody: np.ndarray, style: str = "pop", per: str = "bar",
                     key: str | None = None) -> Arranged:
    """Chords for the melody (one per bar, or per beat) and the piece in ``style`` around it."""
    bm = beat_melody_from_score(score, melody)
    h = harmonize(bm, per=per, key=key)
    num, den = _meter(score)
    beat = int(round(bm.beat_unit * TPQ))
    per_bar = _beats_per_bar(bm)
    parts = accompany(_melody_events(score, melody), _spans(h), style, beats_per_bar=per_bar, beat=beat)
    midi = to_midi(parts, _bpm(score), num, den)
    return Arranged(midi, h.key, style, h.chords, bm.beat_unit, per_bar, _bpm(score),
                    [(r, n, p) for r, (n, p, _) in parts.items()])


def upload_chords(score, melody_track: int | None, bm: BeatMelody) -> list[ChordSpan] | None:
    """The upload's own chords, one per bar, from every pitched track but the melody's; None without one."""
    from lake.chords import chords_on_grid
    from lake.vocab import parse_chord

    tpq = int(score.ticks_per_quarter)
    starts, ends, pitches = [], [], []
    for i, t in enumerate(score.tracks):
        if t.is_drum or i == melody_track or t.note_num() == 0:
            continue
        n = t.notes.numpy()
        starts.append(n["time"])
        ends.append(n["time"] + n["duration"])
        pitches.append(n["pitch"])
    if not starts:
        return None
    beat_ticks = bm.beat_unit * tpq
    bars = bm.bars()
    bounds = np.array([a * beat_ticks for a, _ in bars] + [bars[-1][1] * beat_ticks])
    labels = chords_on_grid(np.concatenate(starts), np.concatenate(ends), np.concatenate(pitches), bounds)
    spans, last = [], None
    for (a, b), lab in zip(bars, labels):
        if lab == "N":
            if last is None:
                continue
            root, q = last
        else:
            root, q = parse_chord(lab)
        spans.append(ChordSpan(a, b, root, q))
        last = (root, q)
    return spans or None


def melody_track_index(score, melody: np.ndarray) -> int | None:
    """Which track the melody rows came from (the non-drum track with the highest mean pitch)."""
    best, best_mean = None, -1.0
    for i, t in enumerate(score.tracks):
        if t.is_drum or t.note_num() == 0:
            continue
        mean = float(t.notes.numpy()["pitch"].mean())
        if mean > best_mean:
            best, best_mean = i, mean
    return best


def transfer(score, melody: np.ndarray, style: str, key: str | None = None) -> Arranged:
    """The upload re-arranged in ``style``: its melody kept, its chords (or harmonized ones) under it."""
    from lake.midi_features import estimate_key

    bm = beat_melody_from_score(score, melody)
    own = upload_chords(score, melody_track_index(score, melody), bm)
    if own is None:
        h = harmonize(bm, per="bar", key=key)
        spans, key_name_ = _spans(h), h.key
    else:
        spans = own
        if key is None:
            hist = np.zeros(12)
            for t in score.tracks:
                if not t.is_drum:
                    n = t.notes.numpy()
                    np.add.at(hist, n["pitch"] % 12, n["duration"].astype(float))
            tonic, mode, _ = estimate_key(hist)
            key = f"{tonic} {mode}"
        key_name_ = key
    num, den = _meter(score)
    beat = int(round(bm.beat_unit * TPQ))
    per_bar = _beats_per_bar(bm)
    parts = accompany(_melody_events(score, melody), spans, style, beats_per_bar=per_bar, beat=beat)
    midi = to_midi(parts, _bpm(score), num, den)
    chords = [Chord(s.start, s.end, s.root, s.quality, chord_symbol(spell_root(s.root, key_name_), s.quality),
                    roman(s.root, s.quality, key_name_), f"{PITCH_CLASSES[s.root]}:{s.quality}") for s in spans]
    out = Arranged(midi, key_name_, style, chords, bm.beat_unit, per_bar, _bpm(score),
                   [(r, n, p) for r, (n, p, _) in parts.items()])
    return out


# -- measured from the notes ---------------------------------------------------------------------------------
def _line(score, which: str = "top") -> tuple[np.ndarray, np.ndarray]:
    """(onsets in quarters, pitches) of the melody: the track named 'melody', else the highest pitched one; one
    note per onset (the highest)."""
    tpq = int(score.ticks_per_quarter)
    tracks = [t for t in score.tracks if not t.is_drum and t.note_num()]
    named = [t for t in tracks if t.name.strip().lower() == "melody"]
    track = named[0] if named else max(tracks, key=lambda t: float(t.notes.numpy()["pitch"].mean()))
    n = track.notes.numpy()
    order = np.lexsort((-n["pitch"].astype(int), n["time"]))
    t, p = n["time"][order] / tpq, n["pitch"][order].astype(int)
    keep = np.ones(len(t), dtype=bool)
    keep[1:] = t[1:] != t[:-1]
    return t[keep], p[keep]


def melody_survival(original, arranged, tolerance_q: float = 1 / 6) -> dict[str, float]:
    """How much of the original's melody the arrangement keeps: ``intervals``, the share of the original's
    successive pitch intervals found in the same order (longest common subsequence); ``onsets``, the F-measure of
    onsets matched within ``tolerance_q`` quarters."""
    t0, p0 = _line(original)
    t1, p1 = _line(arranged)
    a, b = np.diff(p0).tolist(), np.diff(p1).tolist()
    if not a:
        lcs = 0
    else:
        prev = [0] * (len(b) + 1)
        for x in a:
            cur = [0]
            for j, y in enumerate(b):
                cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
            prev = cur
        lcs = prev[-1]
    used = np.zeros(len(t1), dtype=bool)
    hits = 0
    for t in t0:
        j = np.flatnonzero(~used & (np.abs(t1 - t) <= tolerance_q + 1e-9))
        if len(j):
            used[j[0]] = True
            hits += 1
    prec, rec = hits / max(len(t1), 1), hits / max(len(t0), 1)
    return {"intervals": lcs / max(len(a), 1), "onsets": 2 * prec * rec / (prec + rec) if prec + rec else 0.0}


def style_markers(score) -> dict:
    """The style's marks, from the notes: ``swing``, the share of off-beat eighths (pitched parts) that fall at
    two thirds of the beat (0.6-0.73) rather than at its half (0.42-0.58): 0 straight, 1 swung; ``extended``, the share of chord onsets (three or more
    notes at once, the melody excluded) of four or more pitch classes (a seventh, a ninth: more than a triad);
    ``instruments``."""
    tpq = int(score.ticks_per_quarter)
    straight = swung = chords = extended = 0
    for t in score.tracks:
        if t.is_drum or t.note_num() == 0:
            continue
        n = t.notes.numpy()
        onsets = np.unique(n["time"]) / tpq
        inside = onsets - np.floor(onsets + 1e-9)
        straight += int(((inside > 0.42) & (inside < 0.58)).sum())  # an off-beat eighth played straight (0.5)
        swung += int(((inside > 0.6) & (inside < 0.73)).sum())  # or swung (2/3 of the beat)
        if t.name.strip().lower() == "melody":
            continue
        groups: dict[int, list[int]] = {}
        for s, p in zip(n["time"].tolist(), n["pitch"].tolist()):
            groups.setdefault(s, []).append(p)
        for ps in groups.values():
            if len(ps) >= 3:
                chords += 1
                extended += len({p % 12 for p in ps}) >= 4  # a triad has three pitch classes
    names = sorted({"drums" if t.is_drum else instrument_name(int(t.program)) for t in score.tracks if t.note_num()})
    return {"swing": swung / (straight + swung) if straight + swung else 0.0,
            "extended": extended / chords if chords else 0.0, "instruments": names}


def measure(original_midi: bytes, arranged_midi: bytes) -> dict:
    """Melody survival and the style's marks before and after, from the two files' notes."""
    from symusic import Score

    a, b = Score.from_midi(original_midi), Score.from_midi(arranged_midi)
    return {"melody": melody_survival(a, b), "before": style_markers(a), "after": style_markers(b)}


