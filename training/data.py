"""Training data: pinned lake snapshots joined into fixed-length, conditioned token windows.

``gold_text_music_pairs`` gives each piece its split and attributes (style, tempo bin, key);
``silver_tokens`` gives its token ids under the current tokenizer. Both are read at explicit Delta
versions, and those versions travel with the model, so a run can always say which data made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from lake.delta import Lake
from lake.schemas import GOLD_PAIRS, SILVER_TOKENS
from training.conditioning import Conditioning


class NoTrainingData(RuntimeError):
    """The pinned lake snapshot has nothing to train on."""


@dataclass(frozen=True)
class Piece:
    sha256: str
    split: str
    style: str
    tempo_bin: int
    key_name: str
    tokens: np.ndarray


@dataclass
class TrainingData:
    """The Ray Datasets of windows (column ``tokens``) and where they came from."""

    train: object  # ray.data.Dataset
    validation: object | None  # ray.data.Dataset, None when no piece falls in the validation split
    versions: dict[str, int]
    tokenizer_id: str
    counts: dict[str, int] = field(default_factory=dict)


def pin_versions(lake: Lake) -> dict[str, int]:
    """The current version of each table training reads, to read them at exactly those versions."""
    return {SILVER_TOKENS.name: lake.version(SILVER_TOKENS), GOLD_PAIRS.name: lake.version(GOLD_PAIRS)}


def load_pieces(lake: Lake, versions: dict[str, int], tokenizer_id: str) -> list[Piece]:
    """Gold pairs joined on sha256 with their tokens under ``tokenizer_id``, sorted by sha256."""
    gold = lake.read(GOLD_PAIRS, version=versions[GOLD_PAIRS.name],
                     columns=["sha256", "split", "style", "tempo_bin", "key_name"])
    toks = lake.read(SILVER_TOKENS, version=versions[SILVER_TOKENS.name], columns=["sha256", "tokens"],
                     filters=[("tokenizer_id", "=", tokenizer_id)])
    by_sha: dict[str, np.ndarray] = {}
    for sha, ids in zip(toks.column("sha256").to_pylist(), toks.column("tokens").to_pylist()):
        by_sha.setdefault(sha, np.asarray(ids, dtype=np.int64))
    pieces: dict[str, Piece] = {}
    for row in gold.to_pylist():
        ids = by_sha.get(row["sha256"])
        if ids is not None and len(ids) and row["sha256"] not in pieces:
            pieces[row["sha256"]] = Piece(row["sha256"], row["split"], row["style"], int(row["tempo_bin"]),
                                          row["key_name"], ids)
    return [pieces[k] for k in sorted(pieces)]


def make_windows(prefix: Sequence[int], tokens: Sequence[int], block_size: int, pad_id: int, eos_id: int,
                 bar_id: int | None = None) -> np.ndarray:
    """Windows of ``block_size + 1`` ids, each ``prefix`` + a stretch of ``tokens + [EOS]``, PAD-filled.

    A piece longer than one window gives several; every later window starts on a Bar token when
    the previous stretch holds one, so the model always sees music begin at a bar line after the
    prefix (the stretches may then overlap by part of a bar).
    """
    width = block_size + 1
    room = width - len(prefix)
    if room < 1:
        raise ValueError(f"prefix of {len(prefix)} tokens leaves no room in block_size {block_size}")
    body = np.append(np.asarray(tokens, dtype=np.int64), eos_id)
    rows, start = [], 0
    while True:
        chunk = body[start:start + room]
        row = np.full(width, pad_id, dtype=np.int64)
        row[:len(prefix)] = prefix
        row[len(prefix):len(prefix) + len(chunk)] = chunk
        rows.append(row)
        if start + room >= len(body):
            break
        nxt = start + room
        if bar_id is not None:
            bars = np.flatnonzero(chunk[1:] == bar_id)
            if len(bars):
                nxt = start + 1 + int(bars[-1])
        start = nxt
    return np.stack(rows)


def windows_for(pieces: Sequence[Piece], cond: Conditioning, block_size: int, bar_id: int | None) -> np.ndarray:
    if not pieces:
        return np.zeros((0, block_size + 1), dtype=np.int64)
    return np.concatenate([
        make_windows(cond.prefix(p.style, p.tempo_bin, p.key_name), p.tokens, block_size, cond.pad_id,
                     cond.eos_id, bar_id)
        for p in pieces])


def build_datasets(lake: Lake, cond: Conditioning, tokenizer_id: str, block_size: int, min_train_windows: int = 1,
                   bar_id: int | None = None, versions: dict[str, int] | None = None) -> TrainingData:
    """Ray Datasets of train and validation windows from the lake at ``versions`` (default: now)."""
    versions = versions or pin_versions(lake)
    pieces = load_pieces(lake, versions, tokenizer_id)
    train_pieces = [p for p in pieces if p.split == "train"]
    val_pieces = [p for p in pieces if p.split == "validation"]
    train = windows_for(train_pieces, cond, block_size, bar_id)
    val = windows_for(val_pieces, cond, block_size, bar_id)
    if len(train) < min_train_windows:
        raise NoTrainingData(
            f"{GOLD_PAIRS.name} v{versions[GOLD_PAIRS.name]} joined with {SILVER_TOKENS.name} "
            f"v{versions[SILVER_TOKENS.name]} (tokenizer {tokenizer_id}) gives {len(train)} train windows, "
            f"need at least {min_train_windows}: run the lake jobs first")
    counts = {"train_pieces": len(train_pieces), "validation_pieces": len(val_pieces),
              "train_windows": len(train), "validation_windows": len(val)}
    return TrainingData(train=_dataset(train), validation=_dataset(val) if len(val) else None,
                        versions=dict(versions), tokenizer_id=tokenizer_id, counts=counts)


def _dataset(windows: np.ndarray):
    """A materialized Ray Dataset with one tensor column ``tokens``.

    Built straight from Arrow with no transform on top: a map stage would need a free CPU, and
    the training workers may hold every CPU of a small cluster while they consume it.
    """
    import pyarrow as pa
    import ray.data
    from ray.data.extensions import ArrowTensorArray

    return ray.data.from_arrow(pa.table({"tokens": ArrowTensorArray.from_numpy(windows)}))
