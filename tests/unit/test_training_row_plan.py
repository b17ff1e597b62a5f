"""The row plan of a batched sampling step: whatever calls it picks, every row gets exactly the numbers of
the 4-row blocks, so pieces are the same notes with it and without it."""

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from training.model import FastNoteModel, one_blas_thread
from training.notes import FIELD_NAMES, field_sizes
from training.row_plan import MAX_ROWS, ROW_BLOCK, RowPlan, blocked
from tests.support.note_models import random_model

SHAPES = [(64, 192), (64, 64), (64, 256), (256, 64), (768, 192)]  # (768, 192): BLAS changes kernel above 6 rows


@pytest.fixture(scope="module")
def plan_and_weights():
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(s, dtype=np.float32) for s in SHAPES]
    with one_blas_thread():
        yield RowPlan(weights, 256), weights


def test_every_split_gives_each_row_the_blocks_numbers(plan_and_weights):
    plan, weights = plan_and_weights
    rng = np.random.default_rng(1)
    with one_blas_thread():
        for n in range(1, 41):
            p = plan.padded(n)
            assert n <= p < n + ROW_BLOCK
            for w in weights:
                x = rng.standard_normal((p, w.shape[0]), dtype=np.float32)
                b = rng.standard_normal(w.shape[1], dtype=np.float32)
                whole = np.concatenate([x, np.zeros((-p % ROW_BLOCK, x.shape[1]), dtype=np.float32)])
                assert np.array_equal(plan.dense(x, w, b), blocked(whole, w, b)[:p]), (n, w.shape)


def test_the_plan_only_uses_calls_it_checked(plan_and_weights):
    plan, weights = plan_and_weights
    for w in weights:
        assert plan.exact[w.shape][ROW_BLOCK]
        for n in range(1, 3 * MAX_ROWS):
            seconds, calls = plan.split(w.shape, n)
            if seconds == float("inf"):  # no checked call sizes add up to n (one row, where it is not exact)
                assert n % ROW_BLOCK and not calls
                continue
            assert calls[0][0] == 0 and calls[-1][1] == n
            assert all(a == c for (_, a), (c, _) in zip(calls, calls[1:]))  # contiguous, in order
            assert all(plan.exact[w.shape][c - a] for a, c in calls)


def test_without_the_erf_check_steps_keep_whole_blocks(plan_and_weights):
    plan, _ = plan_and_weights
    assert plan.erf_rows in (MAX_ROWS, ROW_BLOCK)  # torch.erf rounds each row alike over 1-4 rows here
    plan.free_padding, plan._padded = False, {}
    try:
        assert all(plan.padded(n) % ROW_BLOCK == 0 for n in range(1, 20))
    finally:
        plan.free_padding, plan._padded = True, {}


def test_gelu_in_longer_calls_is_the_gelu_in_blocks():
    v = np.random.default_rng(3).standard_normal((37, 256), dtype=np.float32) * 3
    assert np.array_equal(FastNoteModel._gelu(v, MAX_ROWS), FastNoteModel._gelu(v, ROW_BLOCK))


def test_a_step_is_the_same_with_its_plan_and_in_blocks():
    """Inside one_blas_thread the step runs on the row plan; outside, on padded 4-row blocks: the same numbers
    for every batch size, a long prefill included."""
    fast = FastNoteModel(random_model(4, n_layer=2, n_head=4, n_embd=64, block_size=96))
    sizes = field_sizes()
    rng = np.random.default_rng(2)
    for n in list(range(1, 12)) + [37]:
        rows = np.stack([rng.integers(0, sizes[f], size=n) for f in FIELD_NAMES], -1).astype(np.int64)
        lengths = [int(t) for t in rng.integers(0, 40, size=n)]
        kv = [(rng.standard_normal(fast.new_cache().k.shape, dtype=np.float32),) * 2 for _ in range(n)]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the thread counts of one_blas_thread, without its plan
        try:
            with threadpool_limits(1, user_api="blas"):
                blocks = fast.step_many(rows, [(k.copy(), v.copy()) for k, v in kv], lengths)
        finally:
            torch.set_num_threads(threads)
        with one_blas_thread():
            planned = fast.step_many(rows, [(k.copy(), v.copy()) for k, v in kv], lengths)
        assert fast._plan is not None
        assert np.array_equal(planned, blocks), n
