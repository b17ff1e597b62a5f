"""The CLAP model as a :class:`training.loop.Task`: the dual encoder, its InfoNCE on a batch, what travels with it.

A batch holds, per piece, ``crops`` [K, music_len] (clip 0 is the start of the piece), ``texts``
[MAX_TEXTS, text_len] and ``n_texts``. While training, each piece takes clip 0 with probability
``first_crop_prob`` and otherwise one of the others, and one of its texts (EN, ZH, lyrics) at
random; the loop reseeds torch before every step, so the draw replays exactly after a restart.
In validation (the module in eval mode) it is always clip 0 and the first text (the EN caption).
The loss gathers the embeddings of every rank (:func:`training.clap.model.clip_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training.clap.model import Clap, ClapConfig, clip_loss


@dataclass(frozen=True)
class ClapTask:
    model_config: dict  # ClapConfig.to_dict()
    extra: dict  # what a checkpoint needs besides the weights: text tokenizer, music vocab, tokenizer id
    first_crop_prob: float = 0.5
    name: str = "clap"

    def build_model(self) -> Clap:
        return Clap(ClapConfig(**self.model_config))

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        crops, texts, n_texts = batch["crops"].long(), batch["texts"].long(), batch["n_texts"].long()
        rows = torch.arange(crops.shape[0], device=crops.device)
        if model.training:
            first = torch.rand(len(rows), device=crops.device) < self.first_crop_prob
            other = torch.randint(1, max(2, crops.shape[1]), (len(rows),), device=crops.device).clamp(
                max=crops.shape[1] - 1)
            k = torch.where(first, torch.zeros_like(other), other)
            j = (torch.rand(len(rows), device=crops.device) * n_texts.clamp(min=1)).long()
        else:
            k = j = torch.zeros_like(rows)
        music, text = _trim(crops[rows, k], self.model_config["music_pad_id"]), _trim(texts[rows, j], 0)
        m, t, scale = model(music, text)
        loss = clip_loss(m.float(), t.float(), scale)
        return loss, int((music != self.model_config["music_pad_id"]).sum() + (text != 0).sum())

    def checkpoint_extra(self) -> dict:
        return {"clap_config": dict(self.model_config), **self.extra}


def _trim(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Drop the columns that are padding in every row (less attention to compute)."""
    used = (ids != pad_id).any(dim=0).nonzero()
    return ids[:, :int(used.max()) + 1] if len(used) else ids[:, :1]
