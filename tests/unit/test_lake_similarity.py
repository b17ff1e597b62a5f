"""The line index (lake.similarity): a disguised copy of an indexed piece is found (in any of its tracks), an
unrelated one is not; the alignment scores what it should."""

import numpy as np
from symusic import Note, Score, Tempo, Track

from lake import similarity as sim


def _song(seed: int, bars: int = 32, tpq: int = 480) -> Score:
    """A random-walk melody (16ths, eighths, quarters) over a held bass: a song nobody else wrote."""
    rng = np.random.default_rng(seed)
    s = Score(tpq)
    s.tempos.append(Tempo(0, qpm=100.0))
    mel, bass = Track(name="melody", program=0), Track(name="bass", program=32)
    t, p, end = 0, 67, bars * 4 * tpq
    while t < end:
        d = int(rng.choice([1, 2, 2, 4])) * tpq // 4
        p = int(np.clip(p + rng.choice([-4, -2, -1, 0, 1, 2, 3, 5]), 55, 84))
        mel.notes.append(Note(t, d, p, 90))
        t += d
    for b in range(bars):
        bass.notes.append(Note(b * 4 * tpq, 4 * tpq, 40 + (b % 4) * 2, 70))
    s.tracks.extend([mel, bass])
    return s


def _disguised(s: Score, seed: int, shift: int = 5, stretch: float = 1.5, change: float = 0.1) -> Score:
    rng = np.random.default_rng(seed)
    s = s.copy()
    for t in s.tracks:
        for n in t.notes:
            n.time, n.duration = int(n.time * stretch), max(1, int(n.duration * stretch))
            n.pitch += shift + (int(rng.choice([-2, -1, 1, 2])) if rng.random() < change else 0)
    bar = int(4 * s.ticks_per_quarter * stretch)
    return s.clip(10 * bar, 18 * bar).shift_time(-10 * bar)


def _query(s: Score, tracks=None) -> list[np.ndarray]:
    return [sim.tokens(ln.start, ln.pitch) for ln in sim.lines(s, tracks)]


def _index(n: int = 30) -> sim.LineIndex:
    idx = sim.LineIndex()
    for i in range(n):
        idx.add(f"song-{i}", sim.piece_tokens(_song(i)))
    return idx.freeze()


def test_tokens_see_through_transposition_tempo_and_re_timing():
    s = _song(1)
    base = sim.piece_tokens(s)
    assert [ln.label for ln in sim.lines(s)] == ["melody", "skyline", "bass"] and (base == sim.SEP).sum() == 2
    moved = _disguised(s, 0, change=0.0)  # transposed, stretched, cut: a stretch of the same tokens
    mel = sim.tokens(*sim.melody_line(moved))
    assert mel.size > 20 and mel[5:-5].tobytes() in base.tobytes()
    t = s.copy()
    t.tempos = [Tempo(0, qpm=190.0)]
    assert np.array_equal(sim.piece_tokens(t), base)


def test_a_disguised_copy_is_found_and_an_unrelated_song_is_not():
    idx = _index()
    for i in (3, 17, 29):
        q = _query(_disguised(_song(i), seed=i))  # transposed, x1.5, a tenth of the notes moved, 8 bars
        hit = sim.verdict(idx.query(q))
        assert hit is not None and hit.piece == f"song-{i}", (i, idx.query(q))
        assert sim.lines(_disguised(_song(i), seed=i))[hit.line].label in ("melody", "skyline") and hit.last - hit.first > 20
    for seed in (1000, 1001, 1002):
        m = idx.query(_query(_disguised(_song(seed), seed=seed)))
        assert sim.verdict(m) is None and (not m or m[0].score < sim.MATCH_SCORE / 2), m


def test_a_copy_in_any_track_is_found_and_only_the_tracks_asked_are_read():
    idx = _index()
    s = _disguised(_song(1001), seed=3)  # an unrelated melody over song 12's melody played as the bass line
    tune = _disguised(_song(12), seed=4).tracks[0]
    s.tracks[1].notes = [Note(n.time, n.duration, n.pitch - 24, n.velocity) for n in tune.notes]
    s.tracks[1].name = "bass"
    hit = sim.verdict(idx.query(_query(s)))
    assert hit is not None and hit.piece == "song-12"
    assert sim.verdict(idx.query(_query(s, tracks=[0]))) is None  # the melody alone is no copy


def test_merging_a_batch_keeps_what_was_indexed():
    idx = _index(10)
    extra = sim.LineIndex()
    extra.add("late", sim.piece_tokens(_song(500)))
    idx.merge(extra.freeze())
    assert len(idx.ids) == 11 and np.all(np.diff(idx.hashes.astype(np.int64)) >= 0)
    assert np.array_equal(idx.piece_seq(10), sim.piece_tokens(_song(500)))
    for name, seed in (("late", 500), ("song-4", 4)):
        assert sim.verdict(idx.query(_query(_disguised(_song(seed), seed=seed)))).piece == name


def test_shingles_every_piece_holds_choose_no_candidates():
    idx = sim.LineIndex()
    rng = np.random.default_rng(0)
    common = np.array([10, 20, 30, 40, 50, 60, 70, 80] * 4, np.uint8)  # a figure every piece repeats
    for i in range(3000):
        idx.add(f"p{i}", sim.join([common, rng.integers(0, 147, 30).astype(np.uint8)]))
    idx.freeze()
    assert idx.candidates([common]) == []
    own = idx.piece_seq(42)[-30:]
    assert idx.candidates([own])[0][0] == 42


def test_alignment_scores_a_changed_note_and_a_gap_below_the_copy():
    idx = _index(5)
    t = idx.piece_seq(0)[:40].copy()
    own = float(idx.table[t, t].sum())
    changed, gapped = t.copy(), np.delete(t, 20)
    changed[20] = (int(changed[20]) + 3 * sim.RATIOS) % 147  # the same rhythm, an interval a minor third off
    q = np.stack([t, t, changed, np.append(gapped, sim.SEP)])
    w = np.stack([t, t, t, t])
    best, end_q, _ = sim.align(q, w, idx.table)
    assert np.isclose(best[0], own) and end_q[0] == 39
    assert best[2] < own and best[3] < own and min(best[2], best[3]) > own / 2


def test_a_copy_of_a_later_restatement_aligns_with_it_not_with_the_first_statement():
    """A tune states a phrase, then restates it with changes; a copy of the restatement shares most of its
    shingles with the first statement too. Every place of a shingle votes for the diagonal, so the copy is
    aligned with the restatement it copies, in full (share 1), not around the first statement's place."""
    rng = np.random.default_rng(7)
    tokens = np.arange(0, 150, dtype=np.uint8)
    a = rng.choice(tokens, 40)
    again = a.copy()
    again[[12, 28]] = (again[[12, 28]] + 1) % 150  # the restatement: two notes changed
    piece = np.concatenate([a, rng.choice(tokens, 40), again])
    index = sim.LineIndex()
    index.add("tune", piece)
    for i in range(30):
        index.add(f"other {i}", rng.choice(tokens, 120).astype(np.uint8))
    best = index.query([again.copy()])[0]
    assert best.piece == "tune" and best.share > 0.999 and (best.first, best.last) == (0, again.size - 1)


def test_a_candidate_hashed_once_gives_the_same_matches_and_the_cache_stays_bounded(monkeypatch):
    idx = _index(12)
    q = _query(_disguised(_song(3), seed=3))
    first = idx.query(q)
    assert idx._hashed  # the candidates' hashes were kept
    assert idx.query(q) == first  # read from the cache: the same matches
    monkeypatch.setattr(sim, "HASHED_CACHE", 2)
    for seed in range(5):
        idx.query(_query(_disguised(_song(seed), seed=seed)))
        assert len(idx._hashed) <= 2
    assert sim.verdict(idx.query(q)).piece == "song-3"


def _align_by_cells(q, w, table):
    """The alignment's recurrence cell by cell in plain Python (float32), for one row pair."""
    f32 = np.float32
    h = np.zeros((q.size + 1, w.size + 1), f32)
    for i in range(1, q.size + 1):
        for j in range(1, w.size + 1):
            h[i, j] = max(h[i - 1, j - 1] + table[q[i - 1], w[j - 1]], h[i - 1, j] - f32(sim.GAP), f32(0),
                          max((h[i, k] - f32(sim.GAP) * f32(j - k) for k in range(1, j)), default=f32(0)))
    flat = int(h[1:, 1:].argmax())
    return float(h[1:, 1:].max()), flat // w.size, flat % w.size


def test_the_compiled_alignment_is_the_recurrence():
    rng = np.random.default_rng(4)
    table = sim.score_table(rng.uniform(1, 5, 256))
    for _ in range(40):
        lq, width = int(rng.integers(1, 14)), int(rng.integers(1, 18))
        q = rng.integers(0, 12, lq).astype(np.uint8)
        w = rng.integers(0, 12, width).astype(np.uint8)
        w[: min(lq, width) // 2] = q[: min(lq, width) // 2]  # a shared start, so some alignments score
        best, end_q, end_w = sim.align(q[None], w[None], table)
        score, i, j = _align_by_cells(q, w, table)
        assert abs(float(best[0]) - score) < 1e-3
        assert float(best[0]) > 0 or score == 0
        assert (int(end_q[0]), int(end_w[0])) == (i, j) or abs(score - 0) < 1e-9
