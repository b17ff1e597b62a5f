"""Pieces sampled together (one batched model step per round) against the same pieces sampled alone:
exactly the same notes and steps, whatever else is in the batch, for given (infilling) roles, other
bar counts, meters, temperatures, pieces that outgrow the block (a cache rebuild amid batched steps)
and pieces that join a running batch."""

import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from training.generator import BatchRunner, Generator
from training.model import FastNoteModel, NoteTransformer, one_blas_thread
from training.notes import FIELD_NAMES, field_sizes
from tests.support.note_models import random_model
from training.request import PieceRequest
from training.sample import BatchSampler, Job, sample, sample_many

SMALL = dict(n_layer=2, n_head=4, n_embd=64, block_size=48)


def _model(seed: int = 0, **cfg) -> NoteTransformer:
    return random_model(seed, **(SMALL | cfg))


MELODY = [(bar, pos, 72 + (pos % 5), 2, 90) for bar in range(5) for pos in range(0, 16, 4)]
JOBS = [  # (request, temperature, given)
    (dict(style="pop", bpm=100, key="C major", bars=8, instruments=["flute", "piano", "acoustic bass", "drums"]),
     0.9, None),
    (dict(style="jazz", bpm=140, key="A minor", bars=6, time_signature="6/8",
          instruments=["flute", "piano", "acoustic bass"]), 1.2, None),
    (dict(style="rock", bpm=90, key="Eb major", bars=3, time_signature="3/4", chords=["Eb", "Cm", "Ab"],
          instruments=["violin", "piano", "acoustic bass", "drums"]), 0.7, None),
    (dict(style="pop", bpm=100, key="G major", bars=5, instruments=["flute", "piano", "acoustic bass"]),
     1.0, {"melody": MELODY}),
    (dict(style="pop", bpm=120, key="D minor", bars=12, structure="AABA", instruments=["flute", "piano"]), 0.9, None),
    (dict(style="pop", bpm=80, key="F major", bars=1, instruments=["piano", "acoustic bass"]), 0.9, None),
]


def _jobs(seeds) -> list[Job]:
    out = []
    for i, seed in enumerate(seeds):
        req, temperature, given = JOBS[i % len(JOBS)]
        out.append(Job(PieceRequest(seed=seed, **req).resolve(), seed, temperature, given))
    return out


@pytest.mark.parametrize("model_seed", [0, 1])
def test_batched_pieces_are_exactly_the_pieces_alone(model_seed):
    model = _model(model_seed)
    fast = FastNoteModel(model)
    jobs = _jobs(range(100 * model_seed, 100 * model_seed + 9))  # every kind of job, some twice with other seeds
    with torch.inference_mode():
        alone = [sample(model, j.plan, j.seed, j.temperature, given=j.given, fast=fast) for j in jobs]
        together = sample_many(model, jobs, fast)
        reversed_order = sample_many(model, jobs[::-1], fast)[::-1]
    assert any(a.n_steps > model.cfg.block_size for a in alone)  # a cache rebuild happened amid batched steps
    assert {len(a.notes) for a in alone} >= {2, 3}  # infilling (two sampled roles) and fewer tracks are in
    for a, b, c in zip(alone, together, reversed_order):
        assert b.notes == a.notes and b.n_steps == a.n_steps
        assert c.notes == a.notes and c.n_steps == a.n_steps


def test_a_batch_of_one_and_the_baseline_agree():
    """The driver with one piece is the fast path; it still writes the baseline's notes for the same seed."""
    model = _model(3, block_size=24)
    for job in _jobs([5, 6, 7]):
        with torch.inference_mode():
            base = sample(model, job.plan, job.seed, job.temperature, given=job.given)
            (one,) = sample_many(model, [job], FastNoteModel(model))
        assert one.notes == base.notes and one.n_steps == base.n_steps


def test_step_many_rows_do_not_depend_on_their_neighbours():
    model = _model(2, block_size=64)
    fast = FastNoteModel(model)
    sizes = field_sizes()
    rng = np.random.default_rng(0)
    rows = np.stack([rng.integers(0, sizes[n], size=7) for n in FIELD_NAMES], -1).astype(np.int64)
    lengths = [0, 3, 9, 1, 20, 5, 2]
    kv = []
    for n in lengths:  # each piece its own history
        c = fast.new_cache()
        k_rng, v_rng = np.random.default_rng(n), np.random.default_rng(n + 1)
        kv.append((k_rng.standard_normal(c.k.shape, dtype=np.float32), v_rng.standard_normal(c.v.shape, dtype=np.float32)))
    together = fast.step_many(rows, [(k.copy(), v.copy()) for k, v in kv], lengths)
    for i in range(len(rows)):
        alone = fast.step_many(rows[i:i + 1], [(kv[i][0].copy(), kv[i][1].copy())], [lengths[i]])[0]
        assert np.array_equal(alone, together[i])


def test_a_piece_that_fails_fails_alone():
    model = _model(4)
    sampler = BatchSampler(model, FastNoteModel(model))
    good, bad = _jobs([1, 2])
    sampler.add(good, "good")
    sampler.add(bad, "bad")
    broken = sampler.live[1]
    original = broken.piece

    def failing():  # asks for the rows the real loop asked for, then fails
        yield broken.rows
        raise RuntimeError("boom")

    broken.piece = failing()
    next(broken.piece)
    results = {}
    with torch.inference_mode(), one_blas_thread():
        while len(sampler):
            results.update(sampler.round())
    assert isinstance(results["bad"], RuntimeError)
    (alone,) = sample_many(model, [good], sampler.fast)
    assert results["good"].notes == alone.notes
    original.close()


def test_the_runner_batches_concurrent_requests_and_gives_each_its_own_piece():
    model = _model(5)
    gen = Generator(model)
    reqs = [PieceRequest(seed=s, **JOBS[s % 3][0]) for s in range(10)]
    expected = [gen.generate(r).midi for r in reqs]
    runner = BatchRunner(gen, max_batch=4)
    try:
        futures = [None] * len(reqs)
        start = threading.Barrier(len(reqs))

        def submit(i):
            start.wait()
            futures[i] = runner.submit(reqs[i])

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(reqs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = [f.result(timeout=120) for f in futures]
        late = runner.submit(reqs[0]).result(timeout=60)  # after the batch: a batch of one
        with pytest.raises(AttributeError):  # not a request: its own future fails, the runner goes on
            runner.submit(None).result(timeout=60)
        assert runner.submit(reqs[1]).result(timeout=60).midi == expected[1]
    finally:
        runner.close()
    after = runner.submit(reqs[2]).result(timeout=60)  # closed: written alone, still the same piece
    assert [g.midi for g in got] == expected and after.midi == expected[2]
    assert late.midi == expected[0]
    assert 1 < runner.mean_batch <= 4  # they were stepped together, never more than max_batch at once
    assert [g.seed for g in got] == list(range(10))


def test_one_blas_thread_holds_torch_at_one_thread_and_gives_the_pool_back():
    """The sampler's context keeps torch's own kernels (the step's erf) on one thread, as BLAS: a second
    thread waiting for a busy core made the served step several times slower (issue 16). Each context sets
    it as it opens; the last to close (not an inner one) restores what the first found. Checked in a fresh
    interpreter: a batch runner of another test may hold a context open in this one for its thread's life."""
    code = """
import torch
from training.model import one_blas_thread
torch.set_num_threads(2)
seen = []
with one_blas_thread():
    seen.append(torch.get_num_threads())
    with one_blas_thread():
        seen.append(torch.get_num_threads())
    seen.append(torch.get_num_threads())
seen.append(torch.get_num_threads())
print(seen)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[1, 1, 1, 2]"
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_blas_thread():  # here too, whatever else is open, a context runs torch on one thread
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
