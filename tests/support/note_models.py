"""Random note models for the sampler's tests: weights moved well away from the init, so the
distributions they sample from are far from uniform."""

import torch

from training.model import NoteModelConfig, NoteTransformer


def random_model(seed: int = 0, **sizes) -> NoteTransformer:
    torch.manual_seed(seed)
    model = NoteTransformer(NoteModelConfig(**sizes)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.15)
    return model
