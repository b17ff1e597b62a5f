"""The CLAP text tower (:class:`training.clap.model.Tower`) as numpy arithmetic on its exported weights.

Search embeds one short query at a time; torch takes seconds to import on the serving CPUs and the model
itself is small (two pre-LayerNorm blocks, a few hundred thousand weights), so the index carries the
text tower's weights and its BPE tokenizer and search runs them here. :func:`export` reads them from a
loaded :class:`~training.clap.encoder.ClapEncoder`; ``tests/unit/test_search.py`` checks the numbers
against torch.
"""

from __future__ import annotations

import math

import numpy as np

LN_EPS = 1e-5  # torch.nn.LayerNorm's default


def export(encoder) -> tuple[dict[str, np.ndarray], dict]:
    """(weights of the text tower by their state-dict names without "text.", config) of a ClapEncoder."""
    state = encoder.model.text.state_dict()
    weights = {name: tensor.detach().float().numpy().copy() for name, tensor in state.items()}
    cfg = {"n_head": int(encoder.cfg.n_head), "n_layer": int(encoder.cfg.text_layers),
           "text_len": int(encoder.cfg.text_len), "tokenizer": encoder.text_tok.to_str()}
    return weights, cfg


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + LN_EPS) * w + b


_erf = np.vectorize(math.erf, otypes=[np.float64])  # exact, as torch's GELU; scipy takes half a second to import


def _gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))).astype(np.float32)


class TextTower:
    """Texts -> unit vectors in the CLAP space, as the registered model's text tower computes them."""

    def __init__(self, weights: dict[str, np.ndarray], cfg: dict):
        from tokenizers import Tokenizer

        self.w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.n_head, self.n_layer, self.text_len = int(cfg["n_head"]), int(cfg["n_layer"]), int(cfg["text_len"])
        self.tok = Tokenizer.from_str(cfg["tokenizer"])
        self.cls = self.tok.token_to_id("[CLS]")

    def ids(self, text: str) -> np.ndarray:
        return np.asarray([self.cls, *self.tok.encode(text).ids[:self.text_len - 1]], dtype=np.int64)

    def _one(self, ids: np.ndarray) -> np.ndarray:
        w = self.w
        x = w["tok.weight"][ids] + w["pos.weight"][:len(ids)]
        T, C = x.shape
        hd = C // self.n_head
        for i in range(self.n_layer):
            p = f"blocks.{i}."
            h = _layer_norm(x, w[p + "ln1.weight"], w[p + "ln1.bias"])
            qkv = (h @ w[p + "attn.qkv.weight"].T + w[p + "attn.qkv.bias"]).reshape(T, 3, self.n_head, hd)
            q, k, v = (qkv[:, j].transpose(1, 0, 2) for j in range(3))  # [heads, T, hd]
            att = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            y = (att @ v).transpose(1, 0, 2).reshape(T, C)
            x = x + y @ w[p + "attn.proj.weight"].T + w[p + "attn.proj.bias"]
            h = _layer_norm(x, w[p + "ln2.weight"], w[p + "ln2.bias"])
            h = _gelu(h @ w[p + "mlp.0.weight"].T + w[p + "mlp.0.bias"])
            x = x + h @ w[p + "mlp.2.weight"].T + w[p + "mlp.2.bias"]
        x = _layer_norm(x, w["ln.weight"], w["ln.bias"])
        v = x.mean(0) @ w["proj.weight"].T
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._one(self.ids(t)) for t in texts]).astype(np.float32)
