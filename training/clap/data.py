"""CLAP training data: gold text–music pairs joined with their REMI tokens at pinned table versions.

Each piece of ``gold_text_music_pairs`` gives several texts: its English caption (and the feature
caption when the caption came from a source such as MidiCaps), its Chinese caption, and its
lyrics when ``text_kind == "lyrics"``. A training step takes one music clip and one of its texts
per piece, drawn afresh each step (``training.clap.task``). Both tables are read at explicit Delta
versions (:func:`pin_versions`); those versions travel with the model.

The music clip is a crop of ``music_len`` tokens: the first ones, or (training, with probability
``1 - first_crop_prob``) a stretch starting at a random bar line, prefixed with the time signature
and tempo in force there, so every clip says its meter and tempo as the captions do. Each piece
carries ``crops_per_piece`` such clips, drawn once (seeded by its hash) into fixed-shape tensor
columns, the form the generic loop (``training.loop``) holds in memory and replays exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from lake.delta import Lake
from lake.schemas import GOLD_PAIRS, SILVER_TOKENS
from lake.vocab import mood_of

LANGS = ("en", "zh", "lyrics")
MAX_KEPT_TOKENS = 8192  # tokens of a piece kept for random crops
GOLD_COLUMNS = ["sha256", "split", "text", "text_kind", "caption", "caption_zh", "feature_caption", "style", "bpm",
                "tempo_bin", "key_name", "time_signature", "mood", "instruments"]


class NoClapData(RuntimeError):
    """The pinned lake snapshot has too few pairs to train on."""


@dataclass(frozen=True)
class MusicVocab:
    """The REMI ids a crop needs: padding, bar lines, and the tokens that set the tempo and the meter."""

    pad_id: int
    bar_id: int
    tempo_ids: tuple[int, ...]
    timesig_ids: tuple[int, ...]

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "MusicVocab":
        vocab = tokenizer.vocab
        return cls(pad_id=vocab["PAD_None"], bar_id=vocab["Bar_None"],
                   tempo_ids=tuple(i for t, i in vocab.items() if t.startswith("Tempo_")),
                   timesig_ids=tuple(i for t, i in vocab.items() if t.startswith("TimeSig_")))

    def to_dict(self) -> dict:
        return {"pad_id": self.pad_id, "bar_id": self.bar_id, "tempo_ids": list(self.tempo_ids),
                "timesig_ids": list(self.timesig_ids)}

    @classmethod
    def from_dict(cls, d: dict) -> "MusicVocab":
        return cls(int(d["pad_id"]), int(d["bar_id"]), tuple(d["tempo_ids"]), tuple(d["timesig_ids"]))


@dataclass(frozen=True)
class Pair:
    """One piece: its tokens, its texts (one language each) and the gold attributes the baseline reads."""

    sha256: str
    split: str
    tokens: np.ndarray
    texts: tuple[str, ...]
    langs: tuple[str, ...]
    attrs: dict = field(hash=False, compare=False)

    def text(self, lang: str) -> str | None:
        return next((t for t, l in zip(self.texts, self.langs) if l == lang), None)


def pin_versions(lake: Lake) -> dict[str, int]:
    """The current version of each table the CLAP model reads, to read them at exactly those versions."""
    return {SILVER_TOKENS.name: lake.version(SILVER_TOKENS), GOLD_PAIRS.name: lake.version(GOLD_PAIRS)}


def texts_of(row: dict) -> list[tuple[str, str]]:
    """(language, text) of a gold row: EN caption(s), ZH caption, lyrics; empty texts left out."""
    out = []
    for lang, text in (("en", row.get("caption")), ("en", row.get("feature_caption")), ("zh", row.get("caption_zh")),
                       ("lyrics", row.get("text") if row.get("text_kind") == "lyrics" else None)):
        text = (text or "").strip()
        if text and (lang, text) not in out:
            out.append((lang, text))
    return out


def attributes(row: dict) -> dict:
    """The gold labels of a piece that the attribute baseline matches against."""
    tonic, mode = row["key_name"].split()
    return {"style": row["style"], "key": row["key_name"], "mode": mode, "tempo_bin": int(row["tempo_bin"]),
            "mood": row.get("mood") or mood_of(mode, row["bpm"]), "time_signature": row["time_signature"],
            "instruments": list(row.get("instruments") or [])}


def load_pairs(lake: Lake, versions: dict[str, int], tokenizer_id: str,
               splits: Sequence[str] | None = None) -> list[Pair]:
    """Gold pairs (of ``splits``, default all) joined on sha256 with their tokens, sorted by sha256."""
    gold = lake.read(GOLD_PAIRS, version=versions[GOLD_PAIRS.name])  # small; older versions may lack columns
    gold = gold.select([c for c in GOLD_COLUMNS if c in gold.column_names])
    toks = lake.read(SILVER_TOKENS, version=versions[SILVER_TOKENS.name], columns=["sha256", "tokens"],
                     filters=[("tokenizer_id", "=", tokenizer_id)])
    by_sha: dict[str, np.ndarray] = {}
    for sha, ids in zip(toks.column("sha256").to_pylist(), toks.column("tokens").to_pylist()):
        by_sha.setdefault(sha, np.asarray(ids[:MAX_KEPT_TOKENS], dtype=np.int32))
    pairs: dict[str, Pair] = {}
    for row in gold.to_pylist():
        ids, sha = by_sha.get(row["sha256"]), row["sha256"]
        if ids is None or not len(ids) or sha in pairs or (splits and row["split"] not in splits):
            continue
        texts = texts_of(row)
        if texts:
            pairs[sha] = Pair(sha, row["split"], ids, tuple(t for _, t in texts), tuple(l for l, _ in texts),
                              attributes(row))
    return [pairs[k] for k in sorted(pairs)]


# -- crops and batches --------------------------------------------------------------------------
def crop(ids: np.ndarray, length: int, vocab: MusicVocab, start: int = 0) -> np.ndarray:
    """``length`` tokens from ``start``: the time signature and tempo in force there, then the piece."""
    ids = np.asarray(ids)
    if start <= 0 or len(ids) <= length:
        return ids[:length]
    state = [_last_of(ids[:start], group) for group in (vocab.timesig_ids, vocab.tempo_ids)]
    state = [s for s in state if s is not None]
    return np.concatenate([np.asarray(state, dtype=ids.dtype), ids[start:start + length - len(state)]])


def _last_of(ids: np.ndarray, group: tuple[int, ...]) -> int | None:
    hits = np.flatnonzero(np.isin(ids, group))
    return int(ids[hits[-1]]) if len(hits) else None


def random_start(ids: np.ndarray, length: int, vocab: MusicVocab, rng: np.random.Generator) -> int:
    """A bar line from which at least half a clip of the piece remains (0 when the piece fits one clip)."""
    if len(ids) <= length:
        return 0
    bars = np.flatnonzero(np.asarray(ids[:len(ids) - length // 2]) == vocab.bar_id)
    return int(rng.choice(bars)) if len(bars) else 0


# -- Ray Datasets ---------------------------------------------------------------------------------
def piece_crops(ids: np.ndarray, sha256: str, length: int, k: int, vocab: MusicVocab) -> np.ndarray:
    """[k, length] int32 clips of a piece, PAD-filled: the first clip, then k - 1 from random bars.

    The bars are drawn with a generator seeded by the piece's hash, so the same piece always gives
    the same clips (a dataset rebuilt on resume is the same dataset).
    """
    rng = np.random.default_rng(int(sha256[:16], 16))
    out = np.full((k, length), vocab.pad_id, dtype=np.int32)
    for i in range(k):
        clip = crop(ids, length, vocab, 0 if i == 0 else random_start(ids, length, vocab, rng))
        out[i, :len(clip)] = clip
    return out


@dataclass
class ClapData:
    train: object  # ray.data.Dataset: crops [K, music_len], texts [MAX_TEXTS, text_len], n_texts
    validation: object | None
    versions: dict[str, int]
    tokenizer_id: str
    counts: dict[str, int] = field(default_factory=dict)


MAX_TEXTS = 4  # EN caption, EN feature caption, ZH caption, lyrics


def training_texts(p: Pair, prompts_per_lang: int) -> list[str]:
    """A piece's texts, then its short attribute prompts (EN and ZH, see training.clap.search_prompts)."""
    from training.clap.search_prompts import prompts_for

    return list(p.texts[:MAX_TEXTS]) + [t for _, t in prompts_for(p.attrs, p.sha256, prompts_per_lang)]


def pair_arrays(pairs: Sequence[Pair], text_tok, vocab: MusicVocab, music_len: int, text_len: int,
                crops_per_piece: int, prompts_per_lang: int = 0) -> dict[str, np.ndarray]:
    """Fixed-shape columns of the pairs: ``crops`` [n, K, music_len], ``texts`` [n, T, text_len], ``n_texts``.

    T = MAX_TEXTS + 2 * prompts_per_lang; a step draws one of a piece's ``n_texts`` texts.
    """
    from training.clap.text import encode_texts

    n, width = len(pairs), MAX_TEXTS + 2 * prompts_per_lang
    crops = np.stack([piece_crops(p.tokens, p.sha256, music_len, crops_per_piece, vocab) for p in pairs]) if n else \
        np.zeros((0, crops_per_piece, music_len), dtype=np.int32)
    per_piece = [training_texts(p, prompts_per_lang) if prompts_per_lang else list(p.texts[:MAX_TEXTS]) for p in pairs]
    texts = np.zeros((n, width, text_len), dtype=np.int32)  # text pad id 0
    flat = iter(encode_texts(text_tok, [t for ts in per_piece for t in ts], text_len) if n else [])
    for i, ts in enumerate(per_piece):
        for j in range(len(ts)):
            ids = next(flat)
            texts[i, j, :len(ids)] = ids
    n_texts = np.asarray([len(ts) for ts in per_piece], dtype=np.int32)
    return {"crops": crops, "texts": texts, "n_texts": n_texts}


def _dataset(columns: dict[str, np.ndarray]):
    """A materialised Ray Dataset of tensor columns (what training.loop reads), no transform on top."""
    import pyarrow as pa
    import ray.data
    from ray.data.extensions import ArrowTensorArray

    return ray.data.from_arrow(pa.table({k: ArrowTensorArray.from_numpy(v) if v.ndim > 1 else v
                                         for k, v in columns.items()}))


def build_datasets(pairs: Sequence[Pair], text_tok, vocab: MusicVocab, settings, versions: dict[str, int],
                   tokenizer_id: str, min_train: int) -> ClapData:
    """Ray Datasets of the train and validation pairs (``settings``: a ClapSettings)."""
    train = [p for p in pairs if p.split == "train"]
    val = [p for p in pairs if p.split == "validation"]
    if len(train) < min_train:
        raise NoClapData(f"{GOLD_PAIRS.name} v{versions[GOLD_PAIRS.name]} joined with {SILVER_TOKENS.name} "
                         f"v{versions[SILVER_TOKENS.name]} (tokenizer {tokenizer_id}) gives {len(train)} train "
                         f"pairs, need at least {min_train}: run the lake jobs first")
    shape = (text_tok, vocab, settings.music_len, settings.text_len, settings.crops_per_piece)
    counts = {"train_pairs": len(train), "validation_pairs": len(val),
              **{f"train_texts_{lang}": sum(lang in p.langs for p in train) for lang in LANGS},
              "train_prompts": 2 * settings.prompts_per_lang * len(train)}
    return ClapData(train=_dataset(pair_arrays(train, *shape, prompts_per_lang=settings.prompts_per_lang)),
                    validation=_dataset(pair_arrays(val, *shape)) if val else None,
                    versions=dict(versions), tokenizer_id=tokenizer_id, counts=counts)
