"""The copy check: a generated piece that repeats 4 bars or more of an indexed song's melody (same intervals
and rhythm, any transposition) is found; shorter, different or re-rhythmed melodies are not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from symusic import Note, Score, TimeSignature, Track

from training import copycheck as C
from training.lifecycle import COPY_METRIC, check_gates, with_copy_gate
from training.realism import bars_from_beat_file

TPQ = 480
BAR = 4 * TPQ
S16 = TPQ // 4
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pop909"


def random_bars(seed: int, n: int) -> list[list[tuple[int, int, int]]]:
    """``n`` bars of melody, each a list of (onset 16th, duration 16ths, pitch): 3 to 6 notes a bar."""
    rng = np.random.default_rng(seed)
    out, pitch = [], 67
    for _ in range(n):
        k = int(rng.integers(3, 7))
        onsets = sorted(rng.choice(16, size=k, replace=False).tolist())
        notes = []
        for i, on in enumerate(onsets):
            nxt = onsets[i + 1] if i + 1 < k else 16
            pitch = int(np.clip(pitch + rng.integers(-5, 6), 55, 84))
            notes.append((on, int(rng.integers(1, nxt - on + 1)), pitch))
        out.append(notes)
    return out


def score_of(bars: list[list[tuple[int, int, int]]], name: str = "melody", shift: int = 0) -> Score:
    """A 4/4 score with one track ``name`` holding the bars (pitches moved by ``shift``), and a bass under it."""
    score = Score(TPQ)
    score.time_signatures.append(TimeSignature(0, 4, 4))
    mel, bass = Track(name=name, program=0), Track(name="bass", program=33)
    for b, notes in enumerate(bars):
        for on, dur, p in notes:
            mel.notes.append(Note(b * BAR + on * S16, dur * S16, p + shift, 80))
        bass.notes.append(Note(b * BAR, BAR, 36 + b % 5, 70))
    score.tracks.append(mel)
    score.tracks.append(bass)
    return score


def midi(score: Score) -> bytes:
    return score.dumps_midi()


@pytest.fixture(scope="module")
def songs():
    return {"song-a": random_bars(1, 16), "song-b": random_bars(2, 16)}


@pytest.fixture(scope="module")
def index(songs):
    idx = C.CopyIndex()
    for name, bars in songs.items():
        idx.add(name, midi(score_of(bars, name="MELODY")))
    return idx


def piece_with(excerpt, before: int = 3, after: int = 5, seed: int = 99):
    """A 16-ish bar piece: ``before`` bars of other music, the excerpt, ``after`` bars of other music."""
    other = random_bars(seed, before + after)
    return other[:before] + excerpt + other[before:]


def test_transposed_four_bar_excerpt_is_found(songs, index):
    piece = piece_with(songs["song-b"][6:10])
    m = index.longest_match(midi(score_of(piece, shift=5)))
    assert m.bars >= 4 and m.song == "song-b"
    assert m.where == (3, 6)
    longer = index.longest_match(midi(score_of(piece_with(songs["song-a"][2:9]), shift=-3)))
    assert (longer.bars, longer.song, longer.where) == (7, "song-a", (3, 2))


def test_three_bars_are_not_a_copy(songs, index):
    m = index.longest_match(midi(score_of(piece_with(songs["song-a"][4:7]), shift=2)))
    assert m.bars < C.COPY_BARS and m.song is None


def test_a_different_melody_is_not_flagged(index):
    assert index.longest_match(midi(score_of(random_bars(7, 16)))).bars == 0


def test_the_song_itself_matches_over_its_length(songs, index):
    assert index.longest_match(midi(score_of(songs["song-a"], shift=-12))) == C.Match(16, "song-a", (0, 0))


def moved_onset(bars, bar: int):
    """The bars with one note of ``bar`` a 16th later (no later than the next onset allows)."""
    out = [list(b) for b in bars]
    for i, (on, dur, p) in enumerate(out[bar]):
        room = (out[bar][i + 1][0] if i + 1 < len(out[bar]) else 16) - (on + 1)
        if room >= 1:
            out[bar][i] = (on + 1, min(dur, room), p)
            return out
    raise AssertionError("no note to move")


def changed_duration(bars, bar: int):
    """The bars with one note of ``bar`` a 16th longer (when the next onset leaves room) or shorter."""
    out = [list(b) for b in bars]
    for i, (on, dur, p) in enumerate(out[bar]):
        room = out[bar][i + 1][0] - on if i + 1 < len(out[bar]) else 16 - on
        if dur < room or dur > 1:
            out[bar][i] = (on, dur + 1 if dur < room else dur - 1, p)
            return out
    raise AssertionError("no note to change")


def test_a_rhythm_change_breaks_the_match(songs, index):
    excerpt = songs["song-a"][5:9]
    assert index.longest_match(midi(score_of(piece_with(excerpt)))).bars >= 4
    assert index.longest_match(midi(score_of(piece_with(moved_onset(excerpt, 2))))).bars == 0
    assert index.longest_match(midi(score_of(piece_with(changed_duration(excerpt, 1))))).bars == 0


def test_an_interval_across_a_bar_line_counts(songs, index):
    """The same bars, each at its own transposition, are not the same melody: the leap into bar 3 differs."""
    excerpt = songs["song-b"][3:7]
    moved = [b if i < 2 else [(on, d, p + 2) for on, d, p in b] for i, b in enumerate(excerpt)]
    assert index.longest_match(midi(score_of(piece_with(excerpt), shift=4))).bars >= 4
    assert index.longest_match(midi(score_of(piece_with(moved), shift=4))).bars == 0


def test_report_metrics_and_share(songs, index):
    pieces = [midi(score_of(piece_with(songs["song-a"][0:5]))), midi(score_of(random_bars(11, 16))),
              midi(score_of(random_bars(12, 16))), b"not midi"]
    report = C.check_pieces(index, pieces)
    assert report.n == 3 and report.failed == 1
    metrics = report.metrics()
    assert metrics["copy.share_4bar"] == pytest.approx(1 / 3, abs=1e-5)
    assert metrics["copy.longest_bars"] == 5.0
    assert "song-a" in report.line()


def excerpt_of_fixture(song: str, first: int, n: int, shift: int, at_bar: int) -> list[tuple[int, int, int]]:
    """A POP909 fixture's melody notes of bars ``first .. first + n - 1`` (by its downbeats), as
    (start, duration, pitch) ticks of a 480-tpq 4/4 piece where they begin at bar ``at_bar``."""
    path = FIXTURES / song / f"{song}.mid"
    score = Score.from_file(str(path))
    bars = bars_from_beat_file(score, FIXTURES / song / "beat_midi.txt")
    mel = [t for t in score.tracks if t.name == "MELODY"][0]
    out = []
    scale = TPQ / score.ticks_per_quarter
    for note in mel.notes:
        b = int(np.searchsorted(bars.starts, note.time, side="right") - 1)
        if first <= b < first + n:
            start = (b - first + at_bar) * BAR + round((note.time - bars.starts[b]) * scale)
            out.append((start, round(note.duration * scale), note.pitch + shift))
    return out


def test_pop909_fixtures_excerpt_is_found():
    idx = C.from_folder(FIXTURES, held_out=True)
    assert len(idx) == 3 and not idx.skipped
    notes = excerpt_of_fixture("764", 4, 4, shift=-4, at_bar=2)
    assert len(notes) >= 8
    score = score_of(random_bars(5, 2) + [[]] * 4 + random_bars(6, 4))
    for start, dur, p in notes:
        score.tracks[0].notes.append(Note(start, dur, p, 80))
    score.tracks[0].notes.sort(key=lambda n: n.time)
    m = idx.longest_match(midi(score))
    assert m.bars >= 4 and m.song == "pop909/764" and m.where == (2, 4)
    short = excerpt_of_fixture("764", 4, 3, shift=-4, at_bar=2)
    score = score_of(random_bars(5, 2) + [[]] * 3 + random_bars(6, 5))
    for start, dur, p in short:
        score.tracks[0].notes.append(Note(start, dur, p, 80))
    score.tracks[0].notes.sort(key=lambda n: n.time)
    assert idx.longest_match(midi(score)).bars == 0


def test_copy_gate_refuses_a_share_above_a_tenth_of_a_percent():
    gates = with_copy_gate({}, {COPY_METRIC: 0.0})
    assert COPY_METRIC in gates
    assert with_copy_gate({}, {"realism.classifier_bacc": 0.7}) == {}
    assert all(c.passed for c in check_gates({COPY_METRIC: 0.0}, gates, {COPY_METRIC: 0.0}, 1))
    refused = check_gates({COPY_METRIC: 1 / 30}, gates, {COPY_METRIC: 0.0}, 1)
    assert not refused[0].passed and "above the maximum" in refused[0].reason
    # a champion measured against other songs cannot make a passing share a regression
    assert check_gates({COPY_METRIC: 0.001}, gates, {COPY_METRIC: 0.0}, 1)[0].passed
