"""What a served sampler actor does with the replica's weights, as a function a Ray worker can import."""
import hashlib

import torch

from tests.support.note_models import random_model
from training.generator import Generator


def generator(seed: int = 0, n_embd: int = 64) -> Generator:
    """A small random model on the fast path."""
    return Generator(random_model(seed, n_layer=2, n_head=4, n_embd=n_embd, block_size=256)).optimized()


def digests(gen: Generator, reqs) -> list[str]:
    with torch.inference_mode():
        return [hashlib.sha256(r.midi).hexdigest() for r in gen.generate_many(reqs)]


def sample_with(weights: dict, reqs) -> tuple[bool, list[str]]:
    """(whether every array was read in place: not owned, read-only; the pieces' digests) for ``weights``."""
    g = generator()
    g.fast_model.use_weights(weights)
    in_place = all(not a.flags.owndata and not a.flags.writeable for a in g.fast_model.weights().values())
    return in_place, digests(g, reqs)
