"""Chords per bar and per beat by template matching of duration-weighted pitch-class sets.

For every segment of a time grid (bars or beats) the pitched notes sounding in it add their
overlapping duration to a 12-bin pitch-class histogram. Each histogram is compared (cosine) with
the templates of 11 chord qualities on all 12 roots (rarer qualities weighted slightly down); the lowest note sounding in the segment adds a
small bonus to chords rooted on it, which settles inversions and ambiguous sets (C6 vs Am7,
sus2 vs sus4). A segment with nothing sounding is ``N``. All of it is numpy over the whole piece at
once: notes are cut at the grid lines into (segment, pitch class, overlap) pieces, summed with
``bincount`` and scored with one matrix product. A bar's chord is the one most of its beats
carry (:func:`bars_from_beats`), so a bar of four chorale chords is named by its main harmony
rather than by the blur of all four.

Labels are ``<root>:<quality>`` (``C:maj``, ``F#:min7``, ``N``); :func:`lake.vocab.chord_symbol` writes the
lead-sheet form (``C``, ``F#m7``). The qualities and their intervals are :data:`lake.vocab.CHORD_QUALITIES`.
"""

from __future__ import annotations

import numpy as np

from lake.vocab import CHORD_QUALITIES, NO_CHORD, PITCH_CLASSES, chord_symbol  # noqa: F401 (chord_symbol: re-exported)

BASS_BONUS = 0.1
MAX_PIECES_PER_NOTE = 64  # a note held longer than this many segments only counts in its first 64

# Quality -> intervals above the root. Order matters only for exact ties: simpler chords first.
QUALITIES = CHORD_QUALITIES
# Multiplies a quality's match: sets that fit a plain triad or seventh as well as a rarer chord
# (a bar mixing several chords often looks like a sus chord) lean to the common reading.
PRIOR = {"maj": 1.0, "min": 1.0, "7": 0.98, "min7": 0.98, "maj7": 0.97, "dim": 0.96, "hdim7": 0.98,
         "aug": 0.92, "sus4": 0.92, "sus2": 0.9, "dim7": 0.94}


def _templates() -> tuple[np.ndarray, list[str], np.ndarray]:
    rows, labels, roots = [], [], []
    for quality, intervals in QUALITIES.items():
        for root in range(12):
            t = np.zeros(12)
            t[[(root + i) % 12 for i in intervals]] = 1.0
            rows.append(PRIOR[quality] * t / np.linalg.norm(t))
            labels.append(f"{PITCH_CLASSES[root]}:{quality}")
            roots.append(root)
    return np.array(rows), labels, np.array(roots)


TEMPLATES, LABELS, TEMPLATE_ROOTS = _templates()
LABELS_ARRAY = np.array(LABELS + [NO_CHORD], dtype=object)


def segment_histograms(starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray,
                       bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per segment of ``bounds`` (S+1 ascending edges): the (S, 12) pitch-class durations and the lowest pitch.

    The lowest pitch is 128 where nothing sounds. Notes outside the grid are ignored.
    """
    n_seg = len(bounds) - 1
    hist = np.zeros(n_seg * 12)
    bass = np.full(n_seg, 128, dtype=np.int64)
    if n_seg <= 0 or len(starts) == 0:
        return hist.reshape(max(n_seg, 0), 12), bass
    starts = starts.astype(np.float64)
    ends = ends.astype(np.float64)
    keep = ends > starts
    starts, ends, pitches = starts[keep], ends[keep], pitches[keep].astype(np.int64)
    first = np.searchsorted(bounds, starts, side="right") - 1
    last = np.searchsorted(bounds, ends, side="left") - 1
    first = np.clip(first, 0, n_seg - 1)
    last = np.clip(last, 0, n_seg - 1)
    inside = (starts < bounds[-1]) & (ends > bounds[0])
    first, last, starts, ends, pitches = first[inside], last[inside], starts[inside], ends[inside], pitches[inside]
    counts = np.minimum(last - first + 1, MAX_PIECES_PER_NOTE)
    if counts.size == 0:
        return hist.reshape(n_seg, 12), bass
    owner = np.repeat(np.arange(len(counts)), counts)
    offset = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    seg = first[owner] + offset
    overlap = np.minimum(ends[owner], bounds[seg + 1]) - np.maximum(starts[owner], bounds[seg])
    good = overlap > 0
    seg, owner, overlap = seg[good], owner[good], overlap[good]
    pc = pitches[owner] % 12
    hist = np.bincount(seg * 12 + pc, weights=overlap, minlength=n_seg * 12)
    np.minimum.at(bass, seg, pitches[owner])
    return hist.reshape(n_seg, 12), bass


def label_segments(hist: np.ndarray, bass: np.ndarray) -> np.ndarray:
    """The best chord label for each histogram row (object array of str); ``N`` for empty rows."""
    return LABELS_ARRAY[best_templates(hist, bass)]


def best_templates(hist: np.ndarray, bass: np.ndarray) -> np.ndarray:
    """Index into ``LABELS_ARRAY`` of the best chord per histogram row (``len(LABELS)`` = ``N``)."""
    if len(hist) == 0:
        return np.array([], dtype=np.int64)
    norms = np.linalg.norm(hist, axis=1)
    empty = norms <= 0
    unit = hist / np.where(empty, 1.0, norms)[:, None]
    scores = unit @ TEMPLATES.T
    scores += BASS_BONUS * (TEMPLATE_ROOTS[None, :] == (bass % 12)[:, None]) * (bass < 128)[:, None]
    best = np.argmax(scores, axis=1)
    best[empty] = len(LABELS)
    return best


def bars_from_beats(beat_best: np.ndarray, beat_bar: np.ndarray, bar_best: np.ndarray) -> np.ndarray:
    """The chord of each bar: the beat chord heard on most of its beats.

    Ties go to the chord the whole bar's histogram matches, then to the earliest. A bar whose
    beats are all ``N`` keeps its own reading (``N`` too, unless notes only graze its beats).
    """
    n_labels = len(LABELS) + 1
    sounding = beat_best < len(LABELS)
    keys = beat_bar[sounding] * n_labels + beat_best[sounding]
    out = bar_best.copy()
    if keys.size == 0:
        return out
    uniq, first, counts = np.unique(keys, return_index=True, return_counts=True)
    bar, label = uniq // n_labels, uniq % n_labels
    score = counts * 2 + (label == bar_best[bar])
    order = np.lexsort((first, -score, bar))  # per bar: highest score, then earliest
    lead = np.append(True, bar[order][1:] != bar[order][:-1])
    out[bar[order][lead]] = label[order][lead]
    return out


def bar_and_beat_chords(starts, ends, pitches, bar_bounds, beat_bounds) -> tuple[list[str], list[str]]:
    """(bar labels, beat labels) for pitched notes on a bar grid and the beat grid inside it."""
    starts, ends, pitches = np.asarray(starts), np.asarray(ends), np.asarray(pitches)
    beat_best = best_templates(*segment_histograms(starts, ends, pitches, np.asarray(beat_bounds)))
    bar_best = best_templates(*segment_histograms(starts, ends, pitches, np.asarray(bar_bounds)))
    beat_bar = np.clip(np.searchsorted(bar_bounds, beat_bounds[:-1], side="right") - 1, 0, len(bar_best) - 1)
    bar_best = bars_from_beats(beat_best, beat_bar, bar_best)
    return list(LABELS_ARRAY[bar_best]), list(LABELS_ARRAY[beat_best])


def chords_on_grid(starts, ends, pitches, bounds) -> list[str]:
    """Chord labels of each grid segment for the given pitched notes (ticks or seconds, any unit)."""
    hist, bass = segment_histograms(np.asarray(starts), np.asarray(ends), np.asarray(pitches), np.asarray(bounds))
    return list(label_segments(hist, bass))


def progression(labels: list[str], length: int = 4) -> list[str]:
    """The piece's characteristic progression: its most frequent run of ``length`` bar chords.

    Repeated bars are merged first and ``N`` bars dropped; ties go to the run heard first. A piece
    with fewer chord changes than ``length`` gives all of them.
    """
    merged: list[str] = []
    for lab in labels:
        if lab != NO_CHORD and (not merged or merged[-1] != lab):
            merged.append(lab)
    if len(merged) <= length:
        return merged
    counts: dict[tuple[str, ...], int] = {}
    first_seen: dict[tuple[str, ...], int] = {}
    for i in range(len(merged) - length + 1):
        run = tuple(merged[i:i + length])
        counts[run] = counts.get(run, 0) + 1
        first_seen.setdefault(run, i)
    best = max(counts, key=lambda r: (counts[r], -first_seen[r]))
    return list(best)
