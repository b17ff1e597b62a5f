"""The miditok tokenizer of the lake, built from ``config.tokenizer`` and identified by its config hash.

The tokenizer's full parameters are saved under ``<lake>/_meta/tokenizers/<tokenizer_id>.json``
beside the tables whose ``tokenizer_id`` column names it, so any token row can be decoded later.
"""

from __future__ import annotations

import functools
import hashlib
import json

import miditok

META_DIR = "_meta/tokenizers"


def _params(tok_cfg) -> dict:
    return dict(
        kind=tok_cfg.kind,
        use_programs=tok_cfg.use_programs,
        use_tempos=tok_cfg.use_tempos,
        use_time_signatures=tok_cfg.use_time_signatures,
        beat_res=dict(sorted(tok_cfg.beat_res.items())),
        num_velocities=tok_cfg.num_velocities,
        miditok=miditok.__version__ if hasattr(miditok, "__version__") else "3",
    )


def tokenizer_id(tok_cfg) -> str:
    """Stable id of a tokenizer config: same parameters, same id, same vocabulary."""
    blob = json.dumps(_params(tok_cfg), sort_keys=True).encode()
    return f"{tok_cfg.kind.lower()}-{hashlib.sha256(blob).hexdigest()[:12]}"


def _beat_res(spec: dict[str, int]) -> dict[tuple[int, int], int]:
    out = {}
    for span, res in spec.items():
        lo, hi = span.split("_")
        out[(int(lo), int(hi))] = int(res)
    return out


@functools.lru_cache(maxsize=8)
def _build(params_json: str) -> miditok.MusicTokenizer:
    p = json.loads(params_json)
    conf = miditok.TokenizerConfig(
        use_programs=p["use_programs"],
        one_token_stream_for_programs=True,
        use_tempos=p["use_tempos"],
        use_time_signatures=p["use_time_signatures"],
        beat_res=_beat_res(p["beat_res"]),
        num_velocities=p["num_velocities"],
        special_tokens=["PAD", "BOS", "EOS"],
    )
    return miditok.REMI(conf)


def build_tokenizer(tok_cfg) -> miditok.MusicTokenizer:
    """The tokenizer for ``config.tokenizer`` (cached per process; multi-track in one stream)."""
    return _build(json.dumps(_params(tok_cfg), sort_keys=True))


def save_tokenizer(lake_uri: str, tok_cfg) -> str:
    """Write the tokenizer's parameters beside the tables; returns the file path."""
    import os

    tid = tokenizer_id(tok_cfg)
    folder = os.path.join(lake_uri, META_DIR)
    os.makedirs(folder, exist_ok=True)
    build_tokenizer(tok_cfg).save(folder, filename=f"{tid}.json")
    return os.path.join(folder, f"{tid}.json")


def load_tokenizer(path: str) -> miditok.MusicTokenizer:
    return miditok.REMI(params=path)
