"""Chords per bar and per beat (lake.chords) on pieces whose harmony is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from lake import chords as c
from lake.midi_features import analyze
from lake.vocab import PITCH_CLASSES
from tests.support.scores import make_score


def voiced(root: int, quality: str, inversion: int, base: int = 48) -> list[int]:
    tones = [base + root + i for i in c.QUALITIES[quality]]
    return tones[inversion:] + [t + 12 for t in tones[:inversion]]


def random_progression(n: int, qualities, inversions: bool, passing: float, seed: int):
    """n one-bar chords (root, quality, voicing) plus a melody with passing tones; returns notes and truth."""
    rng = np.random.default_rng(seed)
    starts, ends, pitches, truth = [], [], [], []
    for bar in range(n):
        q = qualities[rng.integers(len(qualities))]
        root = int(rng.integers(12))
        inv = int(rng.integers(len(c.QUALITIES[q]))) if inversions else 0
        for p in voiced(root, q, inv):
            starts.append(bar * 4.0), ends.append(bar * 4.0 + 4), pitches.append(p)
        for beat in range(4):
            if rng.random() < passing:  # a short non-chord tone in the melody
                starts.append(bar * 4.0 + beat), ends.append(bar * 4.0 + beat + 0.5)
                pitches.append(72 + root + int(rng.choice([2, 5])))
        truth.append(f"{PITCH_CLASSES[root]}:{q}")
    return np.array(starts), np.array(ends), np.array(pitches), truth


def accuracy(labels, truth) -> float:
    return float(np.mean([a == b for a, b in zip(labels, truth)]))


@pytest.mark.parametrize("inversions", [False, True])
def test_triads_and_sevenths_are_named_exactly(inversions):
    qualities = ["maj", "min", "7", "min7", "maj7", "dim", "hdim7"]
    s, e, p, truth = random_progression(400, qualities, inversions, passing=0.5, seed=1)
    labels = c.chords_on_grid(s, e, p, np.arange(401) * 4.0)
    acc = accuracy(labels, truth)
    print(f"chord accuracy on 400 generated bars ({'with' if inversions else 'no'} inversions, passing tones): {acc:.3f}")
    assert acc == 1.0


def test_root_position_of_every_quality():
    s, e, p, truth = random_progression(600, list(c.QUALITIES), inversions=False, passing=0.0, seed=2)
    labels = c.chords_on_grid(s, e, p, np.arange(601) * 4.0)
    assert accuracy(labels, truth) == 1.0


def test_symmetric_chords_in_inversion_are_only_ambiguous_in_name():
    """An inverted sus or augmented chord is another chord of the same set; the set is what must match."""
    s, e, p, truth = random_progression(300, ["sus4", "sus2", "aug", "dim7"], inversions=True, passing=0.0, seed=3)
    labels = c.chords_on_grid(s, e, p, np.arange(301) * 4.0)

    def pcs(label):
        root, q = label.split(":")
        r = PITCH_CLASSES.index(root)
        return frozenset((r + i) % 12 for i in c.QUALITIES[q])

    assert all(pcs(a) == pcs(b) for a, b in zip(labels, truth))


def test_empty_segments_are_no_chord_and_notes_are_cut_at_bar_lines():
    # one C major chord held across bars 0-1, nothing in bar 2, G major in bar 3
    s = np.array([0, 0, 0, 12, 12, 12.0])
    e = np.array([8, 8, 8, 16, 16, 16.0])
    p = np.array([60, 64, 67, 55, 59, 62])
    hist, bass = c.segment_histograms(s, e, p, np.arange(5) * 4.0)
    assert hist[0, 0] == 4 and hist[1, 0] == 4 and hist[2].sum() == 0
    assert list(bass) == [60, 60, 128, 55]
    assert c.chords_on_grid(s, e, p, np.arange(5) * 4.0) == ["C:maj", "C:maj", "N", "G:maj"]


def test_bar_chord_is_the_one_most_beats_carry():
    # bar: C major for 3 beats, then G7 for one beat (a bar-wide histogram would blur them)
    notes = [(0, 3, p) for p in (48, 64, 67, 72)] + [(3, 1, p) for p in (43, 59, 62, 65)]
    bars = np.array([0.0, 4.0])
    beats = np.arange(5.0)
    starts, lengths, pitches = (np.array(x, dtype=float) for x in zip(*notes))
    bar, beat = c.bar_and_beat_chords(starts, starts + lengths, pitches, bars, beats)
    assert beat == ["C:maj", "C:maj", "C:maj", "G:7"] and bar == ["C:maj"]


def test_piece_chords_per_bar_and_beat():
    progression = [(0, "maj"), (9, "min"), (5, "maj"), (7, "7")]  # C Am F G7
    notes = []
    for bar, (root, q) in enumerate(progression * 2):
        notes += [(bar * 3.0, 3.0, p) for p in voiced(root, q, 0)]
    a = analyze(make_score([(0, False, notes)], bpm=90, meter=(3, 4)))
    assert a.chords["bar_chords"] == ["C:maj", "A:min", "F:maj", "G:7"] * 2
    assert a.chords["beat_chords"] == [lab for lab in a.chords["bar_chords"] for _ in range(3)]
    assert a.chords["progression"] == ["C", "Am", "F", "G7"]
    assert a.chords["bar_start_s"][:3] == pytest.approx([0.0, 2.0, 4.0])
    assert len(a.chords["beat_start_s"]) == 24 and a.chords["beat_start_s"][1] == pytest.approx(2 / 3, abs=1e-3)


def test_progression_picks_the_most_repeated_run():
    labels = ["C:maj", "C:maj", "N", "C:maj", "A:min", "F:maj", "G:maj", "C:maj", "A:min", "F:maj", "G:maj", "C:maj",
              "A:min", "F:maj", "G:maj", "E:7"]
    assert c.progression(labels) == ["C:maj", "A:min", "F:maj", "G:maj"]
    assert c.progression(["D:min", "D:min", "G:7"]) == ["D:min", "G:7"]


@pytest.mark.parametrize("label, symbol", [("C:maj", "C"), ("A:min", "Am"), ("G:7", "G7"), ("F#:hdim7", "F#m7b5"),
                                           ("Bb:maj7", "Bbmaj7"), ("N", "N")])
def test_chord_symbols(label, symbol):
    assert c.chord_symbol(label) == symbol
