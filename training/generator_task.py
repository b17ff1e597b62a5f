"""The generator as a :class:`training.loop.Task`: which model to build, its loss on a batch, what travels with it.

Everything model-specific about training the generator lives here, so changing the generator
(its model class, its batch columns) changes this file and nothing in the loop. Today: the
``training.model.MusicTransformer`` over windows of token ids (``training.data``, column
``tokens``: ``block_size + 1`` ids per row), next-token cross-entropy over the non-PAD targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training.model import GeneratorConfig, MusicTransformer


@dataclass(frozen=True)
class GeneratorTask:
    model_config: dict  # GeneratorConfig.to_dict()
    conditioning: dict  # Conditioning.to_dict()
    tokenizer_id: str
    name: str = "generator"

    def build_model(self) -> MusicTransformer:
        return MusicTransformer(GeneratorConfig(**self.model_config))

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        x = batch["tokens"]
        _, loss = model(x[:, :-1], x[:, 1:])
        return loss, int((x[:, 1:] != self.model_config["pad_id"]).sum())

    def checkpoint_extra(self) -> dict:
        return {"generator_config": dict(self.model_config), "conditioning": dict(self.conditioning),
                "tokenizer_id": self.tokenizer_id}
