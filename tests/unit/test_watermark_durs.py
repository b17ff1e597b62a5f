"""Keyed durations (training.watermark.KEYED_DURS): a keyed role's duration draws race on keyed noise of the note's
pitch context and the candidate duration, so a note carries a second keyed score; the detector reads each keyed
note's written duration on the 16th grid and adds its score to the pitches' under the same exact null."""

from types import SimpleNamespace

import numpy as np
import pytest
from symusic import Note, Score, Track

from tests.support.watermark_pieces import marked_and_unmarked
from training import watermark as wm
from training.request import PieceRequest

KEY = b"unit-test-watermark-durs"


@pytest.fixture(scope="module", autouse=True)
def keyed_durations():
    """Keyed durations are off by default (they cost the tempo heard from the notes): this module turns them on."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wm, "KEYED_DURS", wm.ALL_DURS)
        yield
REQUEST = dict(style="pop", bpm=80, key="C major", bars=16, instruments=["flute", "piano"])


def _slot(line, role="melody", draw=0, count=0, pos=4, last_pos=0):
    tracks = [SimpleNamespace(role=r, doubles=None) for r in ("melody", "harmony")]
    return SimpleNamespace(role=role, plan=SimpleNamespace(tracks=tracks, draw=draw), line=line, count=count, pos=pos,
                           last_pos=last_pos)


def test_duration_noise_is_keyed_by_the_pitch_context_and_a_label_of_its_own():
    wm.use_key(KEY)
    try:
        line = (60, 62, 64, 65)
        row = wm.keyed_dur_noise(_slot(line), 33, [])
        ctx = wm._context(line, len(line))
        assert row is not None and row.shape == (33,)
        assert np.allclose(row, -np.log(wm.dur_u_row(KEY, ctx, 0)[:33]), rtol=1e-6)
        assert not np.allclose(wm.dur_u_row(KEY, ctx), wm.u_row(KEY, ctx)[:wm.DUR_SPAN])  # not the pitches' noise
        assert not np.allclose(wm.dur_u_row(KEY, ctx, 1), wm.dur_u_row(KEY, ctx, 0))  # a draw again's own subkey
        assert wm.keyed_dur_noise(_slot(line, count=1, pos=4, last_pos=4), 33, []) is None  # stacked: not keyed
        assert wm.keyed_dur_noise(_slot((60, 62, 64)), 33, []) is None  # too short a line
        assert wm.keyed_dur_noise(_slot(line, role="drums"), 33, []) is None
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(wm, "KEYED_DURS", frozenset())
            assert wm.keyed_dur_noise(_slot(line), 33, []) is None
    finally:
        wm.use_key(wm.load_key())


def _line(durs, step=120, onsets=None) -> Score:
    s = Score(480)
    t = Track(name="melody", program=0)
    for i, (p, d) in enumerate(zip([60, 62, 64, 65, 67, 65, 64, 62] * 2, durs)):
        t.notes.append(Note(onsets[i] if onsets else i * 4 * step, d, p, 80))
    s.tracks.append(t)
    return s


def test_the_detector_reads_durations_on_the_grid_only():
    dur_ticks = [120, 240, 240, 480, 360, 120, 240, 240]
    s = _line(dur_ticks)
    (line, cls, low, dur), = wm.scored_lines(s, lows=True)
    assert dur == [1, 2, 2, 4, 3, 1, 2, 2]
    got = wm.keyed_durs([(line, cls, low, dur)])
    assert got == {(*wm._context(line, i), dur[i]) for i in range(wm.KEYED_CONTEXT + 1, len(line))} and len(got) == 4
    assert wm.keyed_durs([(line, cls)]) == set()
    # a track read for its durations only where they can be the drawn ones (a rule of the file, not of the key):
    off = wm.scored_lines(_line([120, 240, 240, 480, 360, 120, 181, 240]), lows=True)[0][3]
    assert off == [None] * 8  # a duration off the grid of 120 ticks
    from training.watermark_bench import cut, quantize, stretch
    # re-timed x1.5 in ticks (1 -> 1.5 sixteenths, 2 -> 3): read on the re-timed grid (DUR_UNITS), cut or not
    assert wm.scored_lines(stretch(s, 1.5), lows=True)[0][3] == dur
    assert wm.scored_lines(cut(stretch(_line(dur_ticks * 2), 1.5), 1), lows=True)[0][3] == (dur * 2)[3:]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wm, "DUR_UNITS", (1.0,))
        assert wm.scored_lines(stretch(s, 1.5), lows=True)[0][3] == [None] * 8
    assert wm.scored_lines(stretch(_line([240, 480, 240, 480, 720, 240, 480, 240]), 1.5), lows=True)[0][3] == \
        [None] * 8  # even 16ths only: re-timed, every onset and duration a multiple of 3 (DUR_SKIP_GCD)
    assert wm.scored_lines(quantize(s, 2), lows=True)[0][3] == [None] * 8  # quantized to 1/8: all even
    assert wm.scored_lines(quantize(s, 1), lows=True)[0][3] == dur  # 1/16: as written


@pytest.fixture(scope="module")
def pieces(keyed_durations):
    return marked_and_unmarked(KEY, [PieceRequest(seed=40 + i, **REQUEST) for i in range(3)])


def test_marked_pieces_durations_carry_the_mark_and_unmarked_ones_do_not(pieces):
    """The keyed durations' score is high under the key (without it: Gamma(m, 1), mean m) and the null's under
    another key and in unmarked pieces; so it is a second score per note (fails with durations unkeyed)."""
    own = other = plain = 0.0
    m_own = m_plain = 0
    for midi, unmarked in zip(pieces["marked"], pieces["unmarked"]):
        found = wm.keyed_durs(wm.scored_lines(Score.from_midi(midi), lows=True))
        m, s = wm.dur_score(found, KEY)
        own, m_own = own + s, m_own + m
        other += wm.dur_score(found, b"another key")[1]
        m0, s0 = wm.dur_score(wm.keyed_durs(wm.scored_lines(Score.from_midi(unmarked), lows=True)), KEY)
        plain, m_plain = plain + s0, m_plain + m0
    assert m_own > 30 and m_plain > 30
    assert own > m_own + 4 * np.sqrt(m_own), (own, m_own)
    assert abs(other - m_own) < 4 * np.sqrt(m_own) and abs(plain - m_plain) < 4 * np.sqrt(m_plain)


def test_durations_add_to_the_verdict_and_a_retimed_file_still_reads(pieces, monkeypatch):
    from training.watermark_bench import stretch

    midi = pieces["marked"][0]
    v = wm.detect(midi, KEY)
    m_with = v.keyed
    monkeypatch.setattr(wm, "KEYED_DURS", frozenset())  # the detector of before: the pitches' keyed score alone
    before = wm.detect(midi, KEY)
    monkeypatch.undo()
    assert v.ours and m_with > before.keyed and v.z > before.z, (v, before)
    retimed = stretch(Score.from_midi(midi), 1.5)  # durations off the grid: read as before, pitches only
    assert wm.detect(retimed.dumps_midi(), KEY).ours


def test_unmarked_pieces_read_a_uniform_p_value_over_keys(pieces):
    midi = pieces["unmarked"][1]
    ps = np.array([wm.detect(midi, f"key-{i}".encode()).p_value for i in range(200)])
    assert 0.02 < (ps <= 0.1).mean() < 0.2 and 0.35 < (ps <= 0.5).mean() < 0.65
