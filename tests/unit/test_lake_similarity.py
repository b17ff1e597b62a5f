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


def _random_index(rng, extra: dict[str, np.ndarray], n: int = 30) -> sim.LineIndex:
    index = sim.LineIndex()
    for name, seq in extra.items():
        index.add(name, seq)
    for i in range(n):
        index.add(f"other {i}", rng.integers(0, 150, 120).astype(np.uint8))
    return index.freeze()


def test_windows_cover_a_long_line_and_a_short_one_is_one_window():
    for size in (10, 47, sim.WHOLE, sim.WHOLE + 1, 123, 200, 648):
        spans = [sim._window(size, c) for c in range(sim._windows(size))]
        covered = np.zeros(size, bool)
        for a0, a1 in spans:
            covered[a0:a1] = True
        assert covered.all() and spans[-1][1] == size and len(set(spans)) == len(spans)
        if size <= sim.WHOLE:
            assert spans == [(0, size)]
        else:
            assert all(a1 - a0 == sim.CHUNK for a0, a1 in spans)


def test_a_line_longer_than_a_window_but_short_is_aligned_whole():
    """An 8-bar line of 70 tokens copied from a piece aligns in full (share 1), not as its best 48-token window."""
    rng = np.random.default_rng(11)
    piece = rng.integers(0, 150, 200).astype(np.uint8)
    index = _random_index(rng, {"tune": piece})
    q = piece[50:120].copy()
    assert sim.CHUNK < q.size <= sim.WHOLE
    best = index.query([q])[0]
    assert best.piece == "tune" and (best.first, best.last) == (0, q.size - 1) and best.share > 0.999
    assert best.score > 1.3 * float(index.table[q[:sim.CHUNK], q[:sim.CHUNK]].sum())


def _crowded(rng):
    """A copy of three lines of 'source' (its first with 8 notes changed) and a 'decoy' holding the first line
    exactly: the decoy's first line shares the most shingles, so when few pairs are aligned first the
    source's other lines are left out."""
    l0, l1, l2 = (rng.integers(0, 150, n).astype(np.uint8) for n in (90, 30, 30))
    changed = l0.copy()
    changed[5::11] = (changed[5::11] + 70) % 150
    index = _random_index(rng, {"source": sim.join([changed, l1, l2]),
                                "decoy": sim.join([l0, rng.integers(0, 150, 40).astype(np.uint8)])})
    return index, [l0, l1, l2]


def test_the_leading_pieces_are_ranked_on_all_their_lines(monkeypatch):
    rng = np.random.default_rng(5)
    index, q = _crowded(rng)
    monkeypatch.setattr(sim, "MAX_PAIRS", 2)  # a crowded query: the first pairs are the two first lines
    monkeypatch.setattr(sim, "CONTENDERS", 0)
    first = index.query(q)
    assert first[0].piece == "decoy" and set(first[1].line_scores) == {0}  # the source on one line only
    monkeypatch.setattr(sim, "CONTENDERS", 4)
    m = index.query(q)
    assert m[0].piece == "source" and set(m[0].line_scores) == {0, 1, 2}
    assert sum(m[0].line_scores.values()) > sum(m[1].line_scores.values()) and m[1].piece == "decoy"
    assert m[0].line_scores[0] == first[1].line_scores[0]  # the lines aligned first keep their scores


def test_the_second_alignment_runs_only_where_a_piece_comes_near_a_copy(monkeypatch):
    rng = np.random.default_rng(5)
    index, q = _crowded(rng)
    calls = []
    real = sim._align_list
    monkeypatch.setattr(sim, "_align_list", lambda *a: calls.append(len(a[0])) or real(*a))
    monkeypatch.setattr(sim, "MAX_PAIRS", 2)
    assert index.query(q)[0].piece == "source" and len(calls) == 2  # the first pairs, then the leaders' lines
    calls.clear()
    monkeypatch.setattr(sim, "ENOUGH", 100.0)  # no piece comes near: the first pairs' ranking stands
    m = index.query(q)
    assert len(calls) == 1 and m[0].piece == "decoy" and set(m[1].line_scores) == {0}


def test_a_shingle_the_query_repeats_counts_once_per_piece():
    index = sim.LineIndex()
    seqs = {name: sim.piece_tokens(_song(seed)) for name, seed in (("a", 1), ("b", 2))}
    for name, seq in seqs.items():
        index.add(name, seq)
    index.freeze()
    line = _query(_song(1))[0]
    twice = np.concatenate([line, line])  # the same phrase stated again in one line, and in a second line
    own = {int(h) for h in sim.sampled(sim.position_hashes(line)) if h != 1}
    held = {int(h) & 0xFFFFFFFF for h in sim.shingles(seqs["a"])}
    shared = len(own & held)
    assert shared > 20
    for query in ([line], [twice], [line, line]):
        cands = dict(index.candidates(query))
        assert cands[0] == shared  # row 0 is "a": each shared shingle once, however often the query states it


def test_candidates_are_the_pieces_sharing_most_ties_to_the_earlier_piece():
    index = sim.LineIndex()
    for i in range(200):
        index.add(f"p{i}", np.arange(12, dtype=np.uint8) + i % 50)
    index.freeze()
    rng = np.random.default_rng(5)
    for size in (30, 3000):  # fewer hits than a quarter of the pieces, and more
        rows = rng.integers(0, 200, size=size)
        rows = rows[rng.random(size) < (rows % 7 + 1) / 8]  # uneven counts, with many ties
        counts = np.bincount(rows, minlength=200)
        expected = sorted(((int(r), int(c)) for r, c in enumerate(counts) if c), key=lambda rc: (-rc[1], rc[0]))
        got = index.candidates([], hits=(None, None, None, rows, None))
        assert got == expected[:sim.CANDIDATES]
