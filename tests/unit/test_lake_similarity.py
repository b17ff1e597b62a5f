"""The melody index (lake.similarity): a disguised copy of an indexed melody is found, an unrelated one is not."""

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


def _index(n: int = 30) -> sim.MelodyIndex:
    idx = sim.MelodyIndex()
    for i in range(n):
        idx.add(f"song-{i}", sim.shingles(_song(i)))
    return idx.freeze()


def test_tokens_see_through_transposition_tempo_and_re_timing():
    s = _song(1)
    base = sim.shingles(s)
    assert base.size > 50
    moved = _disguised(s, 0, change=0.0)  # transposed, stretched, cut: a subset of the same shingles
    got = sim.shingles(moved)
    assert got.size >= sim.MIN_SHINGLES and np.isin(got, base).mean() > 0.9
    t = s.copy()
    t.tempos = [Tempo(0, qpm=190.0)]
    assert np.array_equal(sim.shingles(t), base)


def test_a_disguised_copy_is_found_and_an_unrelated_song_is_not():
    idx = _index()
    for i in (3, 17, 29):
        q = sim.shingles(_disguised(_song(i), seed=i))
        m = idx.query(q)
        hit = sim.verdict(m, q.size)
        assert hit is not None and hit.piece == f"song-{i}", (i, m)
    for seed in (1000, 1001, 1002):
        q = sim.shingles(_disguised(_song(seed), seed=seed))
        assert sim.verdict(idx.query(q), q.size) is None


def test_merging_a_batch_keeps_what_was_indexed():
    idx = _index(10)
    extra = sim.MelodyIndex()
    extra.add("late", sim.shingles(_song(500)))
    idx.merge(extra.freeze())
    assert len(idx.ids) == 11 and np.all(np.diff(idx.hashes.astype(np.int64)) >= 0)
    for name, seed in (("late", 500), ("song-4", 4)):
        q = sim.shingles(_disguised(_song(seed), seed=seed))
        assert sim.verdict(idx.query(q), q.size).piece == name


def test_shingles_every_piece_holds_say_nothing():
    idx = sim.MelodyIndex()
    common = np.array([7, 8, 9], dtype=np.uint32)
    for i in range(3000):
        idx.add(f"p{i}", np.concatenate([common, np.array([10_000 + i], dtype=np.uint32)]))
    idx.freeze()
    (m,) = idx.query(np.array([7, 8, 9, 10_042], dtype=np.uint32), top=1)
    assert m.piece == "p42" and m.shared == 1 and m.containment == 1.0  # only the informative shingle counted
    assert idx.query(np.array([7, 8], dtype=np.uint32)) == []
