"""The generator as a :class:`training.loop.Task`: which model to build, its loss on a batch, what travels with it.

Everything model-specific about training the generator lives here, so changing the generator
(its model class, its batch columns) changes this file and nothing in the loop: the
``training.model.NoteTransformer`` over windows of note steps (``training.data``, column
``steps``: ``block_size + 1`` rows of ``training.notes.N_FIELDS`` fields), the sum of its per-field
cross-entropies; the tokens counted are the steps with a target (not padding).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training.model import NoteModelConfig, NoteTransformer
from training.notes import FORMAT_ID, F


@dataclass(frozen=True)
class GeneratorTask:
    model_config: dict  # NoteModelConfig.to_dict()
    format_id: str = FORMAT_ID
    name: str = "generator"

    def build_model(self) -> NoteTransformer:
        return NoteTransformer(NoteModelConfig(**self.model_config))

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        x = batch["steps"].long()
        loss, _ = model(x[:, :-1], x[:, 1:])
        return loss, int((x[:, 1:, F["kind"]] > 0).sum())

    def checkpoint_extra(self) -> dict:
        return {"model_config": dict(self.model_config), "format_id": self.format_id}
