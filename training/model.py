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

import math
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from training.notes import F as FIELD, FIELD_NAMES, NOTE, field_sizes
from training.row_plan import ROW_BLOCK, RowPlan, blocked  # rows per product call: see row_plan

if TYPE_CHECKING:
    from training.fast_kernels import FastCache


@dataclass(frozen=True)
class NoteModelConfig:
    """The sizes come from a preset (``common.config.TRAIN_PRESETS``, via ``config.train``) or a checkpoint."""

    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    rope_base: float = 10000.0
    fields: dict[str, int] = field(default_factory=field_sizes)
    # sampling (training.sample): pitches drawn at the request's temperature times pitch_warmth, the melody's
    # onsets times onset_warmth; a model trained on real songs may pick more sharply than singers do
    # (TRAIN_PRESETS["pop909"]); 1.0 in checkpoints saved before a setting existed
    pitch_warmth: float = 1.0
    onset_warmth: float = 1.0

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


_SQRT1_2 = 0.7071067811865476
_BLAS = None
_ONE = threading.Lock()
_ONE_DEPTH = 0  # contexts open in this process (see one_blas_thread)
_TORCH_THREADS = 0  # torch's intra-op threads before the first of them opened


@contextmanager
def one_blas_thread():
    """A context in which numpy's BLAS and torch's own kernels run on one thread each: at the step's sizes a
    second thread waits on the first more than it helps, and a fixed thread count keeps a product's rounding
    the same from call to call. torch matters as much as BLAS: the step's ``torch.erf`` on a 4-row block takes
    ~6 us on one thread and ~50 us on two on a quiet 2-core machine, ~900 us when the other core is busy (its
    pool's threads wait for a core), which made it 80 % of a served piece's sampling time under load (issue 16).
    Both limits are the process's, not the thread's: each context sets them as it opens, the last to close
    puts torch's back as the first found it (a sampling thread that holds one for its life keeps its process
    at one thread)."""
    global _BLAS, _ONE_DEPTH, _TORCH_THREADS
    from threadpoolctl import ThreadpoolController

    with _ONE:
        if _BLAS is None:
            _BLAS = ThreadpoolController()
        if _ONE_DEPTH == 0:
            _TORCH_THREADS = torch.get_num_threads()
        torch.set_num_threads(1)  # on every entry: code outside may have raised it since
        _ONE_DEPTH += 1
    try:
        with _BLAS.limit(limits=1, user_api="blas"):
            yield
    finally:
        with _ONE:
            _ONE_DEPTH -= 1
            if _ONE_DEPTH == 0:
                torch.set_num_threads(_TORCH_THREADS)



class FastNoteModel:
    """The same trained weights as plain float32 numpy arrays, for sampling one step at a time.

    At these model sizes a sampling step is a handful of small matrix products; what costs is the
    per-operation overhead of torch modules (dispatch, autograd bookkeeping, tensor allocation) and,
    for the larger presets, reading the weights once per step. This class runs the cached one-row step of
    :meth:`NoteTransformer.hidden` (embedding sum, pre-norm blocks with RoPE attention over the KV cache,
    MLP, final norm) and the heads with numpy on the same weights, into a cache of its own
    (:meth:`new_cache`: keys and values for the compiled attention of
    :mod:`training.fast_kernels`). :meth:`step_many` steps several pieces at once (each with its own
    cache and length, one row or several each): one set of products for all the rows, so the weights are
    read once per step of the batch and the per-operation overhead is shared; a piece's numbers do not
    depend on the pieces beside it (product calls checked to round each row as a 4-row block does,
    attention row by row).

    Folded for fewer operations, same mathematics: each LayerNorm's scale and shift into the linear
    layer after it, the attention scale into the query weights, RoPE's sign into its sine table (a
    rotation is the pairs reversed, two products and a sum; as extra qkv columns the swap cost 40 % more
    of the largest product once batches of 16 pieces made the products count), GELU's constants into the
    MLP's two products (``torch.erf`` on the numpy buffer: torch's fused GELU kernel costs several times
    more than its erf at this size). float32 throughout: the numbers match torch's to rounding (~1e-6),
    not bit for bit. Run it with one BLAS thread (:func:`one_blas_thread`): a second thread costs more
    than it brings at these sizes.
    """

    def __init__(self, model: NoteTransformer):
        cfg = model.cfg
        c, nh, hd = cfg.n_embd, cfg.n_head, cfg.n_embd // cfg.n_head
        self.n_embd, self.n_head, self.head_dim = c, nh, hd
        self.block_size = cfg.block_size
        from training import fast_kernels  # numba: imported here, not with this module

        fast_kernels.warm()  # compiled (or read from numba's cache) now, not in the first piece's first step
        self._kernels = fast_kernels
        f64 = dict(dtype=torch.float64)

        def np32(t: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(t.detach().to(torch.float32).numpy())

        def folded(ln: nn.LayerNorm, w: torch.Tensor, b: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
            """(Wt, b') with norm0(x) @ Wt + b' == linear(layer_norm(x)) for the plain norm0 (no affine)."""
            w, b = w.detach().to(**f64), b.detach().to(**f64)
            g, beta = ln.weight.detach().to(**f64), ln.bias.detach().to(**f64)
            return np32((w * g[None, :]).t()), np32(w @ beta + b)

        self.embed = np32(model.embed.weight)
        self.offsets = model.field_offsets.numpy().astype(np.int64)
        self.eps = []
        self.layers = []
        for blk in model.blocks:
            wqkv, bqkv = blk.attn.qkv.weight.detach().to(**f64), blk.attn.qkv.bias.detach().to(**f64)
            qscale = torch.ones(3 * c, **f64)
            qscale[:c] = 1.0 / math.sqrt(hd)  # the attention scale, on the queries
            wqkv, bqkv = wqkv * qscale[:, None], bqkv * qscale
            self.layers.append((
                folded(blk.ln1, wqkv, bqkv),
                (np32(blk.attn.proj.weight.t()), np32(blk.attn.proj.bias)),
                folded(blk.ln2, blk.mlp[0].weight.double() * _SQRT1_2, blk.mlp[0].bias.double() * _SQRT1_2),
                (np32(blk.mlp[2].weight.double().t() * (0.5 / _SQRT1_2)), np32(blk.mlp[2].bias)),
            ))
            self.eps.append((blk.ln1.eps, blk.ln2.eps))
        self.ln_f = (np32(model.ln_f.weight), np32(model.ln_f.bias), model.ln_f.eps)
        cos, sin = model.rope_cos, model.rope_sin  # (positions, D/2): per pair, repeated for its 2 columns, per head
        self.cos2 = np32(cos.repeat_interleave(2, dim=1).repeat(1, 2 * nh))  # (positions, 2C): q and k
        # RoPE's pair swap (x1, x2) -> (-x2, x1) is the pair reversed with the sign folded into sin
        sign = torch.tensor([-1.0, 1.0]).repeat(c)
        self.sin2 = np32(sin.repeat_interleave(2, dim=1).repeat(1, 2 * nh) * sign)
        self.role_in, self.pos_in = np32(model.role_in.weight), np32(model.pos_in.weight)
        sizes = cfg.fields
        # the heads that read h alone (kind, role) as one product; pos reads h + role; the note heads
        # (pitch, dur, vel) read h + role + pos, also as one product
        self.more_w, self.more_b = self._cat(model, ("kind", "role"))
        self.pos_w, self.pos_b = self._cat(model, ("pos",))
        self.note_w, self.note_b = self._cat(model, ("pitch", "dur", "vel"))
        self.n_kind = sizes["kind"]
        self.note_split = (sizes["pitch"], sizes["pitch"] + sizes["dur"])
        self._plan: RowPlan | None = None  # how a step's rows go to BLAS: made at the first step that may use it

    # the arrays a step reads, by name (:meth:`weights`); the layers' are ``layer{i}.{wq,bq,wp,bp,w1,b1,w2,b2}``
    _NAMED = ("embed", "cos2", "sin2", "role_in", "pos_in", "more_w", "more_b", "pos_w", "pos_b", "note_w", "note_b")
    _LAYER = ("wq", "bq", "wp", "bp", "w1", "b1", "w2", "b2")

    def weights(self) -> dict[str, np.ndarray]:
        """Every array a sampling step reads, by name: what :meth:`use_weights` takes back."""
        out = {name: getattr(self, name) for name in self._NAMED}
        for i, layer in enumerate(self.layers):
            for name, a in zip(self._LAYER, (a for pair in layer for a in pair)):
                out[f"layer{i}.{name}"] = a
        out["ln_f.weight"], out["ln_f.bias"] = self.ln_f[0], self.ln_f[1]
        return out

    def use_weights(self, arrays: dict[str, np.ndarray]) -> None:
        """Read ``arrays`` (equal in name, shape and dtype to :meth:`weights`; e.g. read-only views of one
        copy in shared memory that several sampling processes map) in place of this model's own. A step
        only reads its weights, so the numbers are the same; what changes is that processes sampling side by
        side read one copy of the weights through the shared cache instead of one each (measured in
        docs/models.md). Raises ValueError naming the first array that does not match."""
        own = self.weights()
        for name, a in own.items():
            b = arrays.get(name)
            if b is None or b.shape != a.shape or b.dtype != a.dtype:
                got = "missing" if b is None else f"{b.dtype}{list(b.shape)}"
                raise ValueError(f"weights: {name} is {got}, this model's is {a.dtype}{list(a.shape)}")
        for name in self._NAMED:
            setattr(self, name, arrays[name])
        self.layers = [tuple((arrays[f"layer{i}.{self._LAYER[2 * j]}"], arrays[f"layer{i}.{self._LAYER[2 * j + 1]}"])
                             for j in range(4)) for i in range(len(self.layers))]
        self.ln_f = (arrays["ln_f.weight"], arrays["ln_f.bias"], self.ln_f[2])

    def new_cache(self, capacity: int | None = None) -> FastCache:
        """An empty cache for one piece (``capacity`` positions, default the model's block)."""
        return self._kernels.FastCache(len(self.layers), self.n_head, self.head_dim, capacity or self.block_size)

    @staticmethod
    def _cat(model, names):
        w = torch.cat([model.heads[n].weight for n in names], 0)
        b = torch.cat([model.heads[n].bias for n in names], 0)
        return np.ascontiguousarray(w.detach().t().numpy()), b.detach().numpy().copy()

    def _norm0(self, x: np.ndarray, eps: float) -> np.ndarray:
        """LayerNorm of each row (n, C) without its affine part (folded into the next product), row by row
        (compiled: :func:`training.fast_kernels.norm0`), so a row's result never depends on the rows beside it."""
        return self._kernels.norm0(x, eps, np.empty_like(x))

    def _row_plan(self) -> RowPlan | None:
        """How this step's rows go to BLAS (:mod:`training.row_plan`): inside :func:`one_blas_thread` the plan
        made there at the first such step; elsewhere None (ROW_BLOCK-row blocks, the rows padded to a
        multiple of ROW_BLOCK). Either way a row's numbers never depend on the rows stepped beside it."""
        if not _ONE_DEPTH:
            return None
        if self._plan is None:
            self._plan = RowPlan([w for layer in self.layers for w, _ in layer], 4 * self.n_embd)
        return self._plan

    @staticmethod
    def _gelu(v: np.ndarray, rows: int = ROW_BLOCK) -> np.ndarray:
        """gelu of the MLP's input already divided by sqrt(2): ``v + v erf(v)`` (the 1/2 is folded into w2).
        ``torch.erf`` (several times cheaper than torch's fused gelu at this size) on the numpy buffer,
        ``rows`` rows per call: its vector kernel could end on a scalar tail that depends on the length, so
        calls take ROW_BLOCK rows, or as many as :class:`RowPlan` found give every row the same numbers."""
        e = np.empty_like(v)
        for i in range(0, v.shape[0], rows):
            e[i:i + rows] = torch.erf(torch.from_numpy(v[i:i + rows])).numpy()
        e *= v
        e += v
        return e

    def step(self, row: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray, t: int) -> np.ndarray:
        """Hidden state (C,) after one more step ``row`` (N_FIELDS,) at cache position ``t``: :meth:`step_many`
        with one piece."""
        return self.step_many(row[None], [(k_cache, v_cache)], [t])[0]

    def step_many(self, rows: np.ndarray, caches: list, ts: list[int]) -> np.ndarray:
        """Hidden states (n, C) after n steps: ``rows`` (n, N_FIELDS), the ``(k, v)`` arrays of the
        :class:`FastCache` of the piece each row belongs to (:attr:`FastCache.kv`), and the cache position
        ``ts[i]`` where the row's keys and values are written (the caller keeps the lengths). Several rows of
        one piece, in order at consecutive positions, are a causal prefill: each row's attention sees the rows
        before it.

        The products of all n rows go together, in calls whose every row gets the numbers of a ROW_BLOCK-row
        block (:mod:`training.row_plan`); attention runs row by row over exactly its piece's cache, so a piece
        gets the same numbers whether it is stepped alone or with others.
        """
        c, nh, hd = self.n_embd, self.n_head, self.head_dim
        n = rows.shape[0]
        plan = self._row_plan()
        if plan is not None:
            padded, dense, erf_rows = plan.padded(n), plan.dense, max(plan.erf_rows, ROW_BLOCK)
        else:
            padded, dense, erf_rows = n + (-n % ROW_BLOCK), blocked, ROW_BLOCK
        rows = np.concatenate([rows, np.zeros((padded - n, rows.shape[1]), dtype=rows.dtype)])  # zero rows pad
        x = self.embed[rows + self.offsets].sum(axis=1)  # (padded n, C)
        pos = np.zeros(rows.shape[0], dtype=np.int64)
        pos[:n] = ts
        cos, sin = self.cos2[pos], self.sin2[pos]
        y = np.zeros((rows.shape[0], c), dtype=np.float32)  # attention output; the padding rows stay 0
        for i, ((wq, bq), (wp, bp), (w1, b1), (w2, b2)) in enumerate(self.layers):
            eps1, eps2 = self.eps[i]
            z = dense(self._norm0(x, eps1), wq, bq)  # [q, k, v] per row
            qk = self._kernels.rope(z, cos, sin, 2 * c, np.empty((z.shape[0], 2 * c), dtype=np.float32))  # q and k
            q = qk[:, :c].reshape(-1, nh, hd)  # already scaled
            k_new, v_new = qk[:, c:].reshape(-1, nh, hd), z[:, 2 * c:3 * c].reshape(-1, nh, hd)
            y_heads = y.reshape(-1, nh, hd)
            attend = self._kernels.attend
            for j in range(n):  # each row over its own piece's cache (compiled: one call per row)
                k_cache, v_cache = caches[j]
                attend(k_cache, v_cache, i, ts[j], q[j], k_new[j], v_new[j], y_heads[j])
            x = x + dense(y, wp, bp)
            v = dense(self._norm0(x, eps2), w1, b1)  # the MLP's input / sqrt(2)
            x = x + dense(self._gelu(v, erf_rows), w2, b2)
        w, b, eps = self.ln_f
        return self._norm0(x[:n], eps) * w + b

    def more_logits(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(kind logits, role logits) after ``h``."""
        z = h @ self.more_w + self.more_b
        return z[:self.n_kind], z[self.n_kind:]

    def pos_logits(self, h: np.ndarray, role: int) -> np.ndarray:
        return (h + self.role_in[role]) @ self.pos_w + self.pos_b

    def note_logits(self, h: np.ndarray, role: int, pos: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = (h + self.role_in[role] + self.pos_in[pos]) @ self.note_w + self.note_b
        a, b = self.note_split
        return z[:a], z[a:b], z[b:]
