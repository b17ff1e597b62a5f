"""The keyed draws of the watermark (training.watermark.KEYED, every pitched role by default): a keyed role's pitch draws race on
keyed exponential noise instead of the random generator's, so over contexts each draw follows the model's
distribution; the detector adds the keyed score to the green count under an exact null; the sampler's paths
agree with it on."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from symusic import Score

from tests.support.watermark_pieces import SMALL, marked_and_unmarked
from training import watermark as wm
from training.model import NoteModelConfig, NoteTransformer

KEY = b"unit-test-keyed-watermark-key"
REQUEST = dict(style="pop", bpm=100, key="C major", bars=16, instruments=["flute", "piano", "acoustic bass", "drums"])


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setattr(wm, "KEYED", frozenset({"melody", "harmony", "bass"}))
    wm.use_key(KEY)
    yield
    wm.use_key(wm.load_key())


def _slot(line, role="melody", notes_parts=("melody", "harmony", "bass"), draw=0):
    tracks = [SimpleNamespace(role=r, doubles=None) for r in notes_parts]
    return SimpleNamespace(role=role, plan=SimpleNamespace(tracks=tracks, draw=draw), line=line, count=0, pos=4,
                           last_pos=0)


def test_a_strict_pieces_draws_again_race_on_noise_of_their_own_subkey(keyed, monkeypatch):
    """Keyed noise repeats a context's choice, so a draw again of a piece whose stated key was not heard, on the
    first draw's noise, came back to the first draw's material: each draw (plan.draw) has a subkey of its own, draw
    0's the one pieces were marked with before (so they still verify); REDRAWS picks the older rules."""
    line = (60, 62, 64, 65)
    rows = [wm.keyed_noise(_slot(line, draw=d), 129, []) for d in range(wm.DRAW_KEYS)]
    assert all(r is not None for r in rows)
    assert not np.allclose(rows[0], rows[1]) and not np.allclose(rows[0], rows[2]) and not np.allclose(rows[1], rows[2])
    ctx = tuple(wm._clip(line[i] - line[i - 1]) for i in range(1, 4))
    # draw 0: the subkey and noise of before (HMAC of the key over the keyed version label, then SHAKE-256)
    import hashlib
    import hmac
    sub = hmac.new(KEY, b"musiclake-watermark-keyed-v1", hashlib.sha256).digest()
    raw = np.frombuffer(hashlib.shake_256(sub + bytes(ctx)).digest(8 * 2 * wm.SPAN), dtype="<u8")
    before = ((raw >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0 ** 53
    assert np.array_equal(wm.u_row(KEY, ctx), before) and np.array_equal(wm.u_row(KEY, ctx, 0), before)
    assert wm.draw_subkey(KEY, 0) == sub and len({wm.draw_subkey(KEY, d) for d in range(3)}) == 3
    assert wm.draw_subkey(b"another key", 1) != wm.draw_subkey(KEY, 1)
    # a context the line has had before: keyed again in a first draw, from the generator in a draw again
    notes = [(0, i, p, 1, 80) for i, p in enumerate([55, 60, 62, 64, 65, 60, 62, 64])]  # (+5, +2, +2) came before
    again = _slot((55, 60, 62, 64), draw=1)
    assert wm.keyed_noise(_slot((55, 60, 62, 64)), 129, notes) is not None
    assert wm.keyed_noise(again, 129, notes) is None and wm.keyed_noise(again, 129, notes[:4]) is not None
    monkeypatch.setattr(wm, "REDRAW_REPEATS", True)
    assert wm.keyed_noise(again, 129, notes) is not None
    monkeypatch.setattr(wm, "REDRAWS", "generator")
    assert wm.keyed_noise(_slot(line, draw=1), 129, []) is None and wm._draws() == 1
    monkeypatch.setattr(wm, "REDRAWS", "same")
    assert np.array_equal(wm.keyed_noise(_slot(line, draw=2), 129, []), rows[0])


def test_the_detector_tries_as_many_subkeys_as_a_strict_piece_has_draws():
    from training.generator import STRICT_DRAWS

    assert wm.DRAW_KEYS == STRICT_DRAWS and wm.REDRAWS == "subkey" and wm._draws() == STRICT_DRAWS


def test_the_tail_over_several_subkeys_is_the_null_distribution():
    """max over D subkeys of G + w S_d (S_d: independent sums of m Exp(1), G shared): the exact tail against a
    simulation of the null; between one subkey's tail and D times it (Bonferroni), and one subkey's for D = 1."""
    counts, greens = {2: 6, 3: 10}, {2: 4, 3: 7}
    m, w, d = 12, 1.0, 3
    rng = np.random.default_rng(2)
    sims = 400_000
    g = 2 * rng.binomial(6, 0.5, sims) + 3 * rng.binomial(10, 0.5, sims)
    best = rng.gamma(m, 1.0, (sims, d)).max(axis=1)
    for score in (14.0, 19.0, 24.0):
        p = wm.max_combined_tail(counts, greens, m, [score, score - 5.0, score - 2.0], w)
        one = wm.combined_tail(counts, greens, m, score, w)
        mc = float(np.mean(g + w * best >= 2 * 4 + 3 * 7 + w * score))
        assert p == pytest.approx(mc, abs=4 * np.sqrt(mc * (1 - mc) / sims) + 1e-4), score
        assert one < p <= d * one + 1e-12
    # with handicaps (draws again's scores less 3 before the best is taken): the same, exact
    sd = rng.gamma(m, 1.0, (sims, d)) - np.array([0.0, 3.0, 3.0])
    p = wm.max_combined_tail(counts, greens, m, [17.0, 19.0, 12.0], w, (0.0, 3.0, 3.0))
    mc = float(np.mean(g + w * sd.max(axis=1) >= 2 * 4 + 3 * 7 + w * 17.0))
    assert p == pytest.approx(mc, abs=4 * np.sqrt(mc * (1 - mc) / sims) + 1e-4)
    assert wm.max_combined_tail(counts, greens, m, [17.0], w) == wm.combined_tail(counts, greens, m, 17.0, w)
    assert wm.max_combined_tail(counts, greens, 0, [0.0, 0.0, 0.0], w) == pytest.approx(wm.weighted_tail(counts, greens))


def test_the_keyed_uniforms_are_uniform_and_apart_from_the_green_bits():
    rows = np.stack([wm.u_row(KEY, (a, b, c)) for a in range(0, 25, 3) for b in range(0, 25, 2) for c in range(25)])
    assert rows.shape[1] == 2 * wm.SPAN and not wm.u_row(KEY, (1, 2, 3)).flags.writeable
    assert 0.0 < rows.min() and rows.max() < 1.0
    hist = np.histogram(rows, bins=10, range=(0, 1))[0] / rows.size
    assert np.abs(hist - 0.1).max() < 0.005
    g = np.stack([wm.green_table(KEY)[b, c] for a in range(0, 25, 3) for b in range(0, 25, 2) for c in range(25)])
    assert abs(rows[g].mean() - 0.5) < 0.005 and abs(rows[~g].mean() - 0.5) < 0.005  # another PRF than the green bits
    assert not np.array_equal(wm.u_row(KEY, (1, 2, 3)), wm.u_row(b"another key", (1, 2, 3)))
    assert not np.array_equal(wm.u_row(KEY, (1, 2, 3)), wm.u_row(KEY, (1, 2, 4)))


def _line_for(ctx: tuple, last: int) -> tuple:
    """A line ending on ``last`` whose last intervals are ``ctx`` (semitones)."""
    line = [last]
    for d in reversed(ctx):
        line.insert(0, line[0] - d)
    return tuple(line)


def test_keyed_draws_follow_the_models_distribution_over_contexts(keyed):
    """At a fixed distribution over a melody's candidates, the keyed race over 12,000 contexts (and last notes)
    picks each candidate as often as the model's probability says, within noise; the chosen candidate's keyed u
    runs high (its score, ``-log(1 - u)``, above 1 on average: the evidence)."""
    rng = np.random.default_rng(0)
    size = 129
    z = np.full(size, -np.inf, dtype=np.float32)
    cand = np.arange(60, 72) + 1  # twelve pitches allowed
    z[cand] = rng.normal(0.0, 1.0, cand.size).astype(np.float32)
    p = np.exp(z[cand] - z[cand].max())
    p /= p.sum()
    counts = np.zeros(cand.size)
    scores = []
    k = wm.KEYED_CONTEXT
    for _ in range(12_000):
        ctx = tuple(int(x) for x in rng.integers(-wm.CLIP, wm.CLIP + 1, k))
        last = int(rng.integers(58, 74))
        e = wm.keyed_noise(_slot(_line_for(ctx, last)), size, [])
        assert e is not None and e.dtype == np.float32
        i = int(np.argmax(z - np.log(e)))
        counts[np.flatnonzero(cand == i)[0]] += 1
        u = wm.u_row(KEY, tuple(d + wm.CLIP for d in ctx))[i - 1 - last + wm.SPAN]
        scores.append(-np.log1p(-u))
    n = counts.sum()
    chi2 = float(((counts - n * p) ** 2 / (n * p)).sum())
    assert chi2 < 35.0, (chi2, counts / n, p)  # 11 degrees of freedom: P(chi2 > 35) < 0.1 % for independent draws
    assert np.mean(scores) > 1.5  # null: 1


def test_a_keyed_draw_only_where_the_context_is_new_unless_repeats_are_keyed(keyed, monkeypatch):
    monkeypatch.setattr(wm, "KEYED_CONTEXT", 2)
    monkeypatch.setattr(wm, "KEY_REPEATS", False)
    notes = [(0, i, p, 1, 80) for i, p in enumerate([60, 62, 64, 62, 64, 66])]  # contexts (+2, +2), (+2, -2), (-2, +2)
    c, s = wm.CLIP, wm.SPAN
    assert wm.contexts(notes) == {(c + 2, c + 2), (c + 2, c - 2), (c - 2, c + 2)}
    assert wm.keyed_noise(_slot((62, 64, 66)), 129, notes) is None  # (+2, +2) came before: the generator draws
    assert wm.keyed_noise(_slot((64, 66, 65)), 129, notes) is not None  # (+2, -1) is new
    stacked = _slot((64, 66, 65))
    stacked.count, stacked.pos, stacked.last_pos = 1, 4, 4
    assert wm.keyed_noise(stacked, 129, notes) is None  # a note struck with others at one onset is never keyed
    assert wm.keyed_noise(_slot((64, 65)), 129, []) is None  # too short a line
    monkeypatch.setattr(wm, "KEY_REPEATS", True)
    assert wm.keyed_noise(_slot((62, 64, 66)), 129, notes) is not None
    monkeypatch.setattr(wm, "KEYED", frozenset({"harmony"}))
    assert wm.keyed_noise(_slot((64, 66, 65)), 129, notes) is None  # not a keyed role
    # the detector: each context's first note per line, stacked tops left out
    monkeypatch.setattr(wm, "KEY_REPEATS", False)
    line = [60, 62, 64, 62, 64, 66, 68, 70]
    got = wm.keyed_triples([(line, [2] * len(line))])
    assert got == {(c + 2, c + 2, s - 2), (c + 2, c - 2, s + 2), (c - 2, c + 2, s + 2)}  # (+2, +2) read once, first
    assert wm.keyed_triples([(line, [2, 2, 2, 0, 2, 2, 2, 2])]) == {(c + 2, c - 2, s + 2), (c - 2, c + 2, s + 2)}
    monkeypatch.setattr(wm, "KEYED_CONTEXT", 3)  # three intervals: the line's fifth note on
    assert wm.keyed_triples([(line, [2] * len(line))]) == {
        (c + 2, c + 2, c - 2, s + 2), (c + 2, c - 2, c + 2, s + 2), (c - 2, c + 2, c + 2, s + 2),
        (c + 2, c + 2, c + 2, s + 2)}


def test_the_combined_tail_is_the_null_distribution():
    """G (weighted green count) + w S (S: a sum of m Exp(1)): the exact tail against a simulation of the null."""
    counts, greens = {2: 6, 3: 10}, {2: 4, 3: 7}
    m, score, w = 12, 17.0, 2.0
    p = wm.combined_tail(counts, greens, m, score, w)
    rng = np.random.default_rng(1)
    sims = 400_000
    g = 2 * rng.binomial(6, 0.5, sims) + 3 * rng.binomial(10, 0.5, sims)
    s = rng.gamma(m, 1.0, sims)
    obs = 2 * 4 + 3 * 7 + w * score
    mc = float(np.mean(g + w * s >= obs))
    assert p == pytest.approx(mc, abs=4 * np.sqrt(mc * (1 - mc) / sims) + 1e-4)
    assert wm.combined_tail(counts, greens, 0, 0.0, w) == pytest.approx(wm.weighted_tail(counts, greens))
    assert wm.combined_tail({}, {}, m, score, 1.0) == pytest.approx(float(np.mean(s >= score)), abs=3e-3)


@pytest.fixture(scope="module")
def keyed_pieces():
    """Marked (keyed, every role, no lean on the melody) and unmarked 16-bar pieces of an untrained small model."""
    from training.request import PieceRequest

    saved = (wm.KEYED, wm.KEYED_LEAN)
    wm.KEYED, wm.KEYED_LEAN = frozenset({"melody", "harmony", "bass"}), {"melody": 0.0}
    try:
        return marked_and_unmarked(KEY, [PieceRequest(seed=20 + i, **REQUEST) for i in range(3)])
    finally:
        wm.KEYED, wm.KEYED_LEAN = saved


@pytest.fixture(scope="module")
def redrawn_pieces():
    """The first request of the keyed pieces drawn as a strict piece's draws 0, 1 and 2 (plan.draw; no key or tempo
    push, so only the draw's subkey differs), marked with KEY, keyed as the defaults say; and draw 1 unmarked."""
    import time
    from dataclasses import replace

    from training.generator import Generator
    from training.request import PieceRequest
    from training.sample import sample

    torch.manual_seed(0)
    gen = Generator(NoteTransformer(NoteModelConfig(**SMALL)))
    req, plan = gen._plan(PieceRequest(seed=20, **REQUEST))
    out: dict = {}
    try:
        for name, key in (("marked", KEY), ("unmarked", None)):
            wm.use_key(key)
            out[name] = []
            for d in range(3):
                p = replace(plan, draw=d)
                with torch.inference_mode():
                    sampled = sample(gen.model, p, req.seed, req.temperature)
                out[name].append(gen._result(req, p, sampled, None, time.perf_counter()).midi)
    finally:
        wm.use_key(wm.load_key())
    return out


def test_a_draw_again_is_found_under_its_own_subkey_and_under_no_other_key(redrawn_pieces, monkeypatch):
    marked = redrawn_pieces["marked"]
    assert len(set(marked)) == 3  # each draw its own notes (the same seed: the subkeys decide)
    own, other, m_own, m_other = 0.0, 0.0, 0, 0
    for d, midi in enumerate(marked):
        v = wm.detect(midi, KEY)
        assert v.ours and v.draw == d, (d, v)
        assert not wm.detect(midi, b"another key").ours
        assert not wm.detect(_transposed(midi, 5), b"yet another key").ours
        assert wm.detect(_transposed(midi, 5), KEY).p_value == pytest.approx(v.p_value, rel=1e-6)
        found = wm.keyed_triples(wm.scored_lines(Score.from_midi(midi)))
        for e in range(3):
            m, s = wm.keyed_score(found, KEY, e)
            own, m_own = (own + s, m_own + m) if e == d else (own, m_own)
            other, m_other = (other, m_other) if e == d else (other + s, m_other + m)
    # the three pieces' keyed scores (Gamma(m, 1) without the mark): high under each one's own draw's subkey, the
    # null's under the other draws' (this untrained model writes 16 melody notes in 16 bars: little evidence each)
    assert own > m_own + 4 * np.sqrt(m_own), (own, m_own)
    assert abs(other - m_other) < 3 * np.sqrt(m_other), (other, m_other)
    p3 = wm.detect(marked[1], KEY).p_value
    monkeypatch.setattr(wm, "DRAW_KEYS", 1)  # draw 0's subkey alone: a draw again's keyed score reads as the null
    v1 = wm.detect(marked[1], KEY)
    assert v1.draw == 0 and v1.score < v1.keyed + 4 * np.sqrt(v1.keyed) and v1.p_value > 1e3 * p3, (v1, p3)


def test_an_unmarked_draw_agains_p_value_over_every_subkey_is_uniform_across_keys(redrawn_pieces):
    """The null holds with the detector trying three subkeys: an unmarked piece (drawn as a draw again) reads a
    p-value uniform over 300 keys, and under none is it ours; so is a marked one under keys not its own."""
    for midi in (redrawn_pieces["unmarked"][1], redrawn_pieces["marked"][2]):
        vs = [wm.detect(midi, f"key-{i}".encode()) for i in range(300)]
        ps = np.array([v.p_value for v in vs])
        assert 0.04 < (ps <= 0.1).mean() < 0.17 and 0.4 < (ps <= 0.5).mean() < 0.6, ((ps <= 0.1).mean(), (ps <= 0.5).mean())
        assert not any(v.ours for v in vs)
        assert {v.draw for v in vs} == {0, 1, 2}  # each subkey is the best about as often (the max is taken)


def _transposed(midi: bytes, by: int) -> bytes:
    s = Score.from_midi(midi)
    for t in s.tracks:
        if not t.is_drum:
            for n in t.notes:
                n.pitch = min(127, max(0, n.pitch + by))
    return s.dumps_midi()


def test_keyed_pieces_are_found_transposed_and_unmarked_ones_are_not(keyed_pieces, monkeypatch):
    monkeypatch.setattr(wm, "KEYED", frozenset({"melody", "harmony", "bass"}))
    for midi in keyed_pieces["marked"]:
        v = wm.detect(midi, KEY)
        assert v.ours and v.keyed > 20 and v.score > 1.3 * v.keyed, v
        for by in (-5, 3, 7):
            t = wm.detect(_transposed(midi, by), KEY)
            assert t.ours and t.p_value == pytest.approx(v.p_value, rel=1e-6), (by, t)
        assert not wm.detect(midi, b"another key").ours
    for midi in keyed_pieces["unmarked"]:
        v = wm.detect(midi, KEY)
        assert not v.ours and v.keyed > 20, v


def test_an_unmarked_pieces_p_value_under_the_keyed_score_is_uniform_across_keys(keyed_pieces, monkeypatch):
    monkeypatch.setattr(wm, "KEYED", frozenset({"melody"}))
    midi = keyed_pieces["unmarked"][0]
    ps = np.array([wm.detect(midi, f"key-{i}".encode()).p_value for i in range(300)])
    assert 0.02 < (ps <= 0.1).mean() < 0.17 and 0.35 < (ps <= 0.5).mean() < 0.65
    assert not any(ps <= wm.P_OURS)


def test_keyed_draws_take_nothing_from_the_generator_and_every_path_writes_the_same_notes(keyed):
    """The baseline, the fast path, and a piece batched with another write the same notes with keyed draws on
    (a keyed draw takes its unused noise from the random generator in either path, so their streams stay together)."""
    from training import sample as sampling
    from training.model import FastNoteModel
    from training.request import PieceRequest

    calls = []
    real = sampling.keyed_noise

    def sampling_keyed(s, size, notes):
        e = real(s, size, notes)
        calls.append(e is not None)
        return e
    torch.manual_seed(1)
    model = NoteTransformer(NoteModelConfig(**SMALL)).eval()
    plan = PieceRequest(seed=5, **REQUEST).resolve()
    other = PieceRequest(seed=6, **REQUEST).resolve()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sampling, "keyed_noise", sampling_keyed)
        with torch.inference_mode():
            base = sampling.sample(model, plan, 5, 0.9)
            n_base = sum(calls)
            fast = sampling.sample(model, plan, 5, 0.9, fast=FastNoteModel(model))
            many = sampling.sample_many(model, [sampling.Job(other, 6), sampling.Job(plan, 5)])
    assert n_base >= 20 and sum(calls) > 2 * n_base  # keyed in both paths, and in the other batched piece
    assert fast.notes == base.notes and many[1].notes == base.notes
    wm.use_key(b"another key")  # another key, other notes: the keyed draws decide
    with torch.inference_mode():
        assert sampling.sample(model, plan, 5, 0.9, fast=True).notes != base.notes
