"""The sampler's compiled kernels against plain numpy: the cached attention of one row, the norm and rotary
(training.fast_kernels: attend, norm0, rope) and one field's draw (pick)."""
import numpy as np
import pytest

from training.fast_kernels import FastCache, attend, norm0, rope
from training.fast_kernels import pick


def _reference(keys, values, q):
    """softmax(keys . q) . values per head, in float64: keys/values (H, T, D), q (H, D)."""
    s = np.einsum("htd,hd->ht", keys.astype(np.float64), q.astype(np.float64))
    w = np.exp(s - s.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("ht,htd->hd", w, values.astype(np.float64))


@pytest.mark.parametrize("t", [0, 1, 3, 4, 5, 31, 200, 511])
def test_attend_writes_the_new_position_and_matches_softmax_attention(t):
    rng = np.random.default_rng(t)
    cache = FastCache(n_layer=2, n_head=3, head_dim=16, capacity=512)
    k, v = cache.kv
    k[...] = rng.standard_normal(k.shape, dtype=np.float32)
    v[...] = rng.standard_normal(v.shape, dtype=np.float32)
    q, k_new, v_new = (rng.standard_normal((3, 16), dtype=np.float32) * 2 for _ in range(3))
    before = k[0].copy()
    out = np.zeros((3, 16), dtype=np.float32)
    attend(k, v, 1, t, q, k_new, v_new, out)
    assert np.array_equal(k[1, :, t], k_new) and np.array_equal(v[1, :, t], v_new)
    assert np.array_equal(k[0], before)  # only the layer asked for is written
    np.testing.assert_allclose(out, _reference(k[1, :, :t + 1], v[1, :, :t + 1], q), rtol=2e-5, atol=2e-6)


def test_attend_holds_far_apart_scores():
    """Scores 100 apart: the small ones underflow to 0 (as exp does), nothing overflows or turns NaN."""
    cache = FastCache(1, 1, 4, 8)
    k, v = cache.kv
    k[0, 0, :3] = [[0, 0, 0, 0], [50, 0, 0, 0], [-50, 0, 0, 0]]
    v[0, 0, :3] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    out = np.zeros((1, 4), dtype=np.float32)
    q = np.array([[2, 0, 0, 0]], dtype=np.float32)
    attend(k, v, 0, 3, q, np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32), out)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0], [0, 1, 0, 0], atol=1e-6)


def test_pick_is_the_numpy_draw():
    rng = np.random.default_rng(1)
    for n in (9, 33, 129):
        for with_bias in (False, True):
            for _ in range(200):
                logits = rng.standard_normal(n, dtype=np.float32) * 3
                bias = rng.standard_normal(n, dtype=np.float32) if with_bias else None
                allowed = np.where(rng.random(n) < 0.6, 0.0, -np.inf).astype(np.float32)
                allowed[rng.integers(n)] = 0.0
                noise = rng.exponential(size=n).astype(np.float32)
                z = (logits if bias is None else logits + bias) / np.float32(0.9 * 1.3) + allowed - np.log(noise)
                got = pick(logits, np.empty(0, np.float32) if bias is None else bias, 0.9 * 1.3, allowed, noise)
                assert got == int(z.argmax())
                assert allowed[got] == 0.0


def test_pick_says_when_nothing_can_be_drawn():
    noise = np.ones(5, dtype=np.float32)
    none = np.full(5, -np.inf, dtype=np.float32)
    assert pick(np.zeros(5, np.float32), np.empty(0, np.float32), 1.0, none, noise) == -1
    nan = np.array([0, np.nan, 0, 0, 0], dtype=np.float32)
    assert pick(nan, np.empty(0, np.float32), 1.0, np.zeros(5, np.float32), noise) == -1


def test_norm0_is_layer_norm_without_its_affine_part_row_by_row():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((8, 192)) * 3 + 5).astype(np.float32)
    got = norm0(x, 1e-5, np.empty_like(x))
    ref = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert np.array_equal(norm0(x[3:4].copy(), 1e-5, np.empty((1, 192), np.float32))[0], got[3])  # alone = together


def test_rope_turns_each_pair_by_its_row_tables():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((4, 24), dtype=np.float32)  # q and k (16 columns) then v (8)
    cos = rng.standard_normal((4, 16), dtype=np.float32)
    sin = rng.standard_normal((4, 16), dtype=np.float32)
    got = rope(z, cos, sin, 16, np.empty((4, 16), np.float32))
    swapped = z[:, :16].reshape(4, 8, 2)[:, :, ::-1].reshape(4, 16)
    np.testing.assert_allclose(got, z[:, :16] * cos + swapped * sin, rtol=1e-6, atol=1e-6)


def test_a_fast_model_compiles_what_a_piece_needs_before_its_first_step():
    """FastNoteModel warms the kernels on the argument types a sampling step passes (read-only cached masks
    included), so sampling a piece compiles nothing more: the first request does not wait for the compiler."""
    import torch

    from tests.support.note_models import random_model
    from training import fast_kernels
    from training.model import FastNoteModel
    from training.request import PieceRequest
    from training.sample import sample

    model = random_model(0, n_layer=2, n_head=4, n_embd=64, block_size=32)
    fast = FastNoteModel(model)
    kernels = (fast_kernels.attend, fast_kernels.norm0, fast_kernels.rope, fast_kernels.pick)
    compiled = [len(k.signatures) for k in kernels]
    assert all(compiled)
    plan = PieceRequest(style="pop", bpm=100, key="C major", bars=4, seed=3,
                        instruments=["flute", "piano", "acoustic bass", "drums"]).resolve()
    with torch.inference_mode():
        piece = sample(model, plan, 3, 0.9, fast=fast)
    assert piece.n_steps > 20
    assert [len(k.signatures) for k in kernels] == compiled
