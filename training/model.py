"""The generator: a decoder-only transformer over note steps (one step per note), nanoGPT-shaped.

Each step is a row of fields (``training.notes``); its embedding is the sum of one embedding per
field. Pre-norm blocks of causal self-attention with rotary position embeddings (RoPE: relative
positions, so a piece longer than the training windows still sees bars at the right distances)
and an MLP. A KV cache makes each sampling step one token of work instead of the whole prefix.

The next step is predicted field by field from the last hidden state ``h``: kind and role from
``h``; the onset ``pos`` from ``h`` + the role; pitch, duration and velocity from ``h`` + role +
pos. During training the true role/pos are fed (teacher forcing); during sampling the sampled
(and constrained) ones. Loss: cross-entropy of the kind on every step, of the note fields on
note steps only; padding counts nowhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from training.notes import F as FIELD, FIELD_NAMES, NOTE, field_sizes


@dataclass(frozen=True)
class NoteModelConfig:
    block_size: int = 256
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    rope_base: float = 10000.0
    fields: dict[str, int] = field(default_factory=field_sizes)

    def __post_init__(self):
        if self.n_embd % self.n_head or (self.n_embd // self.n_head) % 2:
            raise ValueError(f"n_embd={self.n_embd} / n_head={self.n_head} must give an even head size")

    def to_dict(self) -> dict:
        return asdict(self)


def _rope_tables(head_dim: int, length: int, base: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv)  # (T, D/2)
    return angles.cos(), angles.sin()


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE on (B, H, T, D) with tables (T, D/2): rotate each (even, odd) pair by its position's angle."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.flatten(-2)


class KVCache:
    """Keys and values of every layer for the steps seen so far (batch B), preallocated to ``capacity``."""

    def __init__(self, n_layer: int, batch: int, n_head: int, head_dim: int, capacity: int, dtype=torch.float32):
        self.k = torch.zeros(n_layer, batch, n_head, capacity, head_dim, dtype=dtype)
        self.v = torch.zeros_like(self.k)
        self.length = 0
        self.capacity = capacity

    def reset(self) -> None:
        self.length = 0


class Attention(nn.Module):
    def __init__(self, cfg: NoteModelConfig):
        super().__init__()
        self.n_head, self.head_dim = cfg.n_head, cfg.n_embd // cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout

    def forward(self, x, cos, sin, cache: KVCache | None = None, layer: int = 0):
        b, t, c = x.shape
        q, k, v = (z.view(b, t, self.n_head, self.head_dim).transpose(1, 2) for z in self.qkv(x).split(c, dim=2))
        q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=self.dropout if self.training else 0.0)
        else:
            start = cache.length
            cache.k[layer, :, :, start:start + t] = k
            cache.v[layer, :, :, start:start + t] = v
            keys, values = cache.k[layer, :, :, :start + t], cache.v[layer, :, :, :start + t]
            if t == 1:
                y = F.scaled_dot_product_attention(q, keys, values)
            else:  # a prefill after earlier steps: causal within the new steps, everything before visible
                mask = torch.ones(t, start + t, dtype=torch.bool).tril(diagonal=start)
                y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self, cfg: NoteModelConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.n_embd), nn.LayerNorm(cfg.n_embd)
        self.attn = Attention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd), nn.Dropout(cfg.dropout))

    def forward(self, x, cos, sin, cache=None, layer=0):
        x = x + self.attn(self.ln1(x), cos, sin, cache, layer)
        return x + self.mlp(self.ln2(x))


class NoteTransformer(nn.Module):
    def __init__(self, cfg: NoteModelConfig):
        super().__init__()
        self.cfg = cfg
        sizes = cfg.fields
        # one table for every field's values, side by side: a step's embedding is one gather and a sum
        self.embed = nn.Embedding(sum(sizes[name] for name in FIELD_NAMES), cfg.n_embd)
        offsets = torch.tensor([0] + [sizes[name] for name in FIELD_NAMES[:-1]]).cumsum(0)
        self.register_buffer("field_offsets", offsets, persistent=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        # what a predicted role / pos adds to h before the fields that depend on it
        self.role_in = nn.Embedding(sizes["role"], cfg.n_embd)
        self.pos_in = nn.Embedding(sizes["pos"], cfg.n_embd)
        self.heads = nn.ModuleDict({name: nn.Linear(cfg.n_embd, sizes[name]) for name in
                                    ("kind", "role", "pos", "pitch", "dur", "vel")})
        head_dim = cfg.n_embd // cfg.n_head
        cos, sin = _rope_tables(head_dim, 4 * cfg.block_size, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    # -- the trunk ----------------------------------------------------------------------------------
    def hidden(self, steps: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """(B, T, C) hidden states for steps (B, T, N_FIELDS); with ``cache`` they follow the cached steps."""
        start = cache.length if cache is not None else 0
        t = steps.size(1)
        if start + t > self.rope_cos.size(0):
            raise ValueError(f"{start + t} steps exceed the model's {self.rope_cos.size(0)} positions")
        x = self.embed(steps.long() + self.field_offsets).sum(dim=-2)
        x = self.drop(x)
        cos, sin = self.rope_cos[start:start + t], self.rope_sin[start:start + t]
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, cache, i)
        if cache is not None:
            cache.length += t
        return self.ln_f(x)

    # -- the heads ----------------------------------------------------------------------------------
    def kind_logits(self, h):
        return self.heads["kind"](h)

    def role_logits(self, h):
        return self.heads["role"](h)

    def pos_logits(self, h, role):
        return self.heads["pos"](h + self.role_in(role))

    def note_logits(self, h, role, pos):
        g = h + self.role_in(role) + self.pos_in(pos)
        return self.heads["pitch"](g), self.heads["dur"](g), self.heads["vel"](g)

    # -- training -----------------------------------------------------------------------------------
    def forward(self, steps: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean loss for predicting ``targets`` (B, T, F) after ``steps`` (B, T, F); and the loss per field."""
        if steps.size(1) > self.cfg.block_size:
            raise ValueError(f"sequence of {steps.size(1)} steps exceeds block_size {self.cfg.block_size}")
        h = self.hidden(steps)
        kind = targets[..., FIELD["kind"]]
        valid = kind > 0
        is_note = kind == NOTE
        role, pos = targets[..., FIELD["role"]], targets[..., FIELD["pos"]]
        pitch_l, dur_l, vel_l = self.note_logits(h, role, pos)
        logits = {"kind": self.kind_logits(h), "role": self.role_logits(h), "pos": self.pos_logits(h, role),
                  "pitch": pitch_l, "dur": dur_l, "vel": vel_l}
        parts = {}
        for name, lg in logits.items():
            mask = valid if name == "kind" else is_note
            tgt = targets[..., FIELD[name]].masked_fill(~mask, -100)
            parts[name] = F.cross_entropy(lg.reshape(-1, lg.size(-1)), tgt.reshape(-1), ignore_index=-100) \
                if bool(mask.any()) else lg.sum() * 0.0
        loss = sum(parts.values()) / len(parts)
        return loss, {k: float(v.detach()) for k, v in parts.items()}

    def new_cache(self, batch: int = 1, capacity: int | None = None) -> KVCache:
        head_dim = self.cfg.n_embd // self.cfg.n_head
        return KVCache(self.cfg.n_layer, batch, self.cfg.n_head, head_dim, capacity or self.cfg.block_size)
