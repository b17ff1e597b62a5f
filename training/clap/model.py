"""A CLAP-style dual encoder: a music tower over REMI token ids, a text tower over byte-level BPE ids.

Both towers are the same small pre-LayerNorm transformer encoder (token + learned position
embeddings, ``n_layer`` blocks, a final LayerNorm), mean-pooled over the non-padding positions
and projected into one shared space where embeddings are L2-normalised. A learned temperature
(``logit_scale``, the log of the inverse temperature, clamped at ``log(max_logit_scale)``) scales
the cosine similarities, and :func:`clip_loss` is the symmetric InfoNCE of CLIP/CLAP: each music
clip must pick its own text among the batch and each text its own clip.

Why a text tower of our own instead of English MiniLM: the captions come in English *and*
Chinese, and the lyrics are in German, English and more. ``all-MiniLM-L6-v2`` was trained on
English sentence pairs only, so Chinese would still need a second tower and the two would not
share a space; it is also ~22.7M parameters (the tiny towers here are ~0.2M) on 2 CPU cores. One
small transformer over a byte-level BPE learned on the training texts (``training.clap.text``)
reads every script with no unknown token, puts EN and ZH in one space by training them on the
same pieces, and trains with the music tower in about a minute.

Under DDP, :func:`clip_loss` gathers the embeddings of every rank with gradients (an all_gather
whose backward all-reduces the gradient, as torch.distributed.nn's did before its deprecation), so
each worker scores its clips against the global batch, and the gradient of the other ranks'
losses flows back to the local embeddings.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ClapConfig:
    music_vocab_size: int
    text_vocab_size: int
    music_len: int = 256  # music tokens per clip (a crop of the piece)
    text_len: int = 64  # text tokens, [CLS] included
    music_layers: int = 2
    text_layers: int = 2
    n_head: int = 4
    n_embd: int = 64
    embed_dim: int = 64  # the shared space
    dropout: float = 0.0
    music_pad_id: int = 0
    text_pad_id: int = 0
    init_temperature: float = 0.07
    max_logit_scale: float = 100.0

    def to_dict(self) -> dict:
        return asdict(self)


class SelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd {n_embd} is not a multiple of n_head {n_head}")
        self.n_head, self.dropout = n_head, dropout
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        mask = keep[:, None, None, :]  # every position attends to the real tokens only
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = SelfAttention(n_embd, n_head, dropout)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), keep)
        return x + self.mlp(self.ln2(x))


class Tower(nn.Module):
    """Token ids [B, T] (``pad_id`` = padding) -> one unnormalised vector per row in the shared space."""

    def __init__(self, vocab_size: int, max_len: int, n_layer: int, n_head: int, n_embd: int, embed_dim: int,
                 dropout: float, pad_id: int):
        super().__init__()
        self.pad_id, self.max_len = pad_id, max_len
        self.tok = nn.Embedding(vocab_size, n_embd)
        self.pos = nn.Embedding(max_len, n_embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layer))
        self.ln = nn.LayerNorm(n_embd)
        self.proj = nn.Linear(n_embd, embed_dim, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        if T > self.max_len:
            raise ValueError(f"sequence of {T} tokens is longer than the tower's max_len {self.max_len}")
        keep = ids != self.pad_id
        keep[:, 0] |= ~keep.any(dim=1)  # an all-padding row attends to (and pools) its first slot
        x = self.drop(self.tok(ids) + self.pos(torch.arange(T, device=ids.device)))
        for block in self.blocks:
            x = block(x, keep)
        x = self.ln(x)
        w = keep.unsqueeze(-1).to(x.dtype)
        pooled = (x * w).sum(dim=1) / w.sum(dim=1)
        return self.proj(pooled)


class Clap(nn.Module):
    def __init__(self, cfg: ClapConfig):
        super().__init__()
        self.cfg = cfg
        self.music = Tower(cfg.music_vocab_size, cfg.music_len, cfg.music_layers, cfg.n_head, cfg.n_embd,
                           cfg.embed_dim, cfg.dropout, cfg.music_pad_id)
        self.text = Tower(cfg.text_vocab_size, cfg.text_len, cfg.text_layers, cfg.n_head, cfg.n_embd,
                          cfg.embed_dim, cfg.dropout, cfg.text_pad_id)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.init_temperature)))
        self.apply(_init)

    def encode_music(self, ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.music(ids), dim=-1)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(ids), dim=-1)

    def scale(self) -> torch.Tensor:
        """exp(logit_scale), at most ``max_logit_scale`` (beyond it the gradient is zero: it stops growing)."""
        return self.logit_scale.clamp(max=math.log(self.cfg.max_logit_scale)).exp()

    def forward(self, music_ids: torch.Tensor, text_ids: torch.Tensor):
        return self.encode_music(music_ids), self.encode_text(text_ids), self.scale()


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, std=0.02)
    if isinstance(m, nn.Linear) and m.bias is not None:
        nn.init.zeros_(m.bias)


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward hands each rank the summed gradient of its own rows."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows, ctx.rank = x.shape[0], dist.get_rank()
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # every rank's loss reads every rank's rows: add up what each says about ours
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather_with_grad(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(rows of every rank concatenated in rank order, this rank's first row); gradients flow back.

    Outside torch.distributed (or with one process) it is ``(x, 0)``. Every rank must pass the
    same number of rows.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, 0
    return _GatherWithGrad.apply(x), dist.get_rank() * x.shape[0]


def clip_loss(music: torch.Tensor, text: torch.Tensor, scale: torch.Tensor, gather: bool = True) -> torch.Tensor:
    """Symmetric InfoNCE over the global batch: row i of ``music`` pairs with row i of ``text``.

    Each rank scores its own rows against every rank's rows (the "local loss" of open_clip), which
    gives the same gradient as the full global similarity matrix at 1/world of the cost. With
    ``gather=False`` the batch is this process's rows only (evaluation on one rank).
    """
    (all_music, offset), (all_text, _) = (gather_with_grad(music), gather_with_grad(text)) if gather else \
        ((music, 0), (text, 0))
    labels = torch.arange(music.shape[0], device=music.device) + offset
    music_to_text = scale * music @ all_text.T
    text_to_music = scale * text @ all_music.T
    return (F.cross_entropy(music_to_text, labels) + F.cross_entropy(text_to_music, labels)) / 2
