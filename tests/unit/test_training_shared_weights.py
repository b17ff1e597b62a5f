"""Sampling processes that share one copy of the weights (FastNoteModel.weights / use_weights; the served
sampler actors map the replica's copy from Ray's object store): the same notes as a model's own weights."""
import numpy as np
import pytest

from tests.support.shared_weights import digests as _digests
from tests.support.shared_weights import generator as _generator
from tests.support.shared_weights import sample_with
from training import fast_kernels
from training.request import PieceRequest

INSTRUMENTS = ["flute", "piano", "acoustic bass", "drums"]


def _requests(n: int = 3) -> list[PieceRequest]:
    return [PieceRequest(style="pop", bpm=100, key="C major", bars=4, seed=i, instruments=INSTRUMENTS) for i in range(n)]


def _read_only_copies(weights: dict) -> dict:
    out = {}
    for name, a in weights.items():
        b = np.array(a, copy=True)
        b.setflags(write=False)
        out[name] = b
    return out


def test_weights_read_from_a_read_only_copy_write_the_same_pieces_and_compile_nothing_more():
    own, shared = _generator(), _generator()
    reqs = _requests()
    expected = _digests(own, reqs)
    shared.fast_model.use_weights(_read_only_copies(own.fast_model.weights()))
    assert all(not a.flags.writeable for a in shared.fast_model.weights().values())
    kernels = (fast_kernels.attend, fast_kernels.norm0, fast_kernels.rope, fast_kernels.pick)
    compiled = [len(k.signatures) for k in kernels]
    assert _digests(shared, reqs) == expected
    assert [len(k.signatures) for k in kernels] == compiled  # read-only weights are no new argument type


def test_other_weights_change_the_pieces():
    """The arrays handed over are the ones read (not the model's own kept behind them)."""
    gen = _generator()
    reqs = _requests()
    before = _digests(gen, reqs)
    other = _generator(seed=1)
    gen.fast_model.use_weights(other.fast_model.weights())
    assert _digests(gen, reqs) == _digests(other, reqs) != before


def test_weights_of_another_shape_are_refused_by_name():
    gen = _generator()
    small = _generator(n_embd=32)
    with pytest.raises(ValueError, match=r"weights: embed is float32\[\d+, 32\], this model's is float32\[\d+, 64\]"):
        gen.fast_model.use_weights(small.fast_model.weights())
    missing = dict(gen.fast_model.weights())
    del missing["layer1.w2"]
    with pytest.raises(ValueError, match="weights: layer1.w2 is missing"):
        gen.fast_model.use_weights(missing)


def test_a_process_sampling_with_the_object_stores_copy_writes_the_same_pieces(ray_session):
    """What the served sampler actors do: the replica puts the weights in Ray's object store once; another
    process reads them in place (zero-copy, read-only) and samples the pieces this process samples."""
    ray = ray_session
    gen = _generator()
    reqs = _requests()
    ref = ray.put(gen.fast_model.weights())
    in_place, digests = ray.get(ray.remote(num_cpus=0)(sample_with).remote(ref, reqs))
    assert in_place
    assert digests == _digests(gen, reqs)
