"""The detector reads a stacked onset's lowest note (training.watermark.LOW_WEIGHT): the sampler leans and keys only
the first note of a chord, and a trained model draws a chord from the bottom up, so a chord-only part (a harmony left
alone when the tune is dropped) carries its mark in its lowest notes, not its tops."""

import numpy as np
import pytest
from symusic import Note, Score, Track

from training import watermark as wm

KEY = b"unit-test-watermark-lows"


def _chords(key: bytes | None, n: int = 40, seed: int = 0) -> Score:
    """A part of ``n`` three-note chords, one a beat: the top of each a random walk, its lowest note chosen (under
    ``key``) green after the tops' last two intervals and with the highest keyed u after their last three, as the
    sampler's lean and keyed race would pick it among a few candidates; ``key`` None: at random."""
    rng = np.random.default_rng(seed)
    s = Score(480)
    t = Track(name="harmony", program=0)
    tops: list[int] = []
    for i in range(n):
        top = int(np.clip((tops[-1] if tops else 72) + rng.integers(-4, 5), 64, 84))
        cands = [top - k for k in range(5, 13)]
        if key is not None and len(tops) >= wm.KEYED_CONTEXT + 1:
            g = wm.green_table(key)[wm._clip(tops[-2] - tops[-3]), wm._clip(tops[-1] - tops[-2])]
            u = wm.u_row(key, wm._context(tops + [0], len(tops)), 0)
            green = [c for c in cands if g[c - tops[-1] + wm.SPAN]] or cands
            low = max(green, key=lambda c: u[c - tops[-1] + wm.SPAN])
        else:
            low = int(rng.choice(cands))
        for p in (low, (low + top) // 2, top):
            t.notes.append(Note(i * 480, 480, p, 80))
        tops.append(top)
    s.tracks.append(t)
    return s


def test_scored_lines_give_each_stacked_onsets_lowest_note():
    s = _chords(None, n=5)
    (line, cls), = wm.scored_lines(s)
    (line2, cls2, low, _), = wm.scored_lines(s, lows=True)
    assert line2 == line and cls2 == cls and all(c == wm.STACKED for c in cls)
    assert low == [int(min(n.pitch for n in s.tracks[0].notes if n.time == i * 480)) for i in range(5)]
    # the lowest note's triple: the tops' last two intervals, then the lowest note against the last top
    got = wm.weighted_triples([(line, cls, low)])
    c = wm.CLIP
    want = {(wm._clip(line[i - 2] - line[i - 3]), wm._clip(line[i - 1] - line[i - 2]), low[i] - line[i - 1] + wm.SPAN)
            for i in range(3, 5)}
    assert {t for t, w in got.items() if w == wm.LOW_WEIGHT} >= want and c == wm.CLIP
    assert wm.weighted_triples([(line, cls)]) == {t: 0 for t in wm.weighted_triples([(line, cls)])}  # tops weigh 0


def test_a_chord_part_is_found_by_its_lowest_notes(monkeypatch):
    marked = _chords(KEY).dumps_midi()
    v = wm.detect(marked, KEY)
    assert v.ours and v.n >= 30, v
    assert not wm.detect(marked, b"another key").ours
    assert not wm.detect(_chords(None, seed=1).dumps_midi(), KEY).ours
    monkeypatch.setattr(wm, "LOW_WEIGHT", 0)  # the detector of before: chords' tops only, which weigh nothing
    before = wm.detect(marked, KEY)
    assert not before.ours, before


def test_unmarked_chords_read_a_uniform_p_value_over_keys():
    midi = _chords(None, seed=2).dumps_midi()
    ps = np.array([wm.detect(midi, f"key-{i}".encode()).p_value for i in range(200)])
    assert 0.02 < (ps <= 0.1).mean() < 0.2 and 0.35 < (ps <= 0.5).mean() < 0.65
    assert not (ps <= wm.P_OURS).any()
