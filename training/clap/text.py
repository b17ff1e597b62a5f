"""The text tower's tokenizer: a byte-level BPE learned with ``tokenizers`` on the training texts.

Byte-level means every string has an encoding (English, Chinese, German lyrics, emoji): the 256
byte symbols are the alphabet and BPE merges learn the frequent words, syllables and Chinese
characters. Text is NFKC-normalised and lower-cased first, so "A minor" and "a minor" are the same
tokens. Every sequence starts with ``[CLS]`` (never empty) and is cut at ``max_len`` tokens.

The vocabulary words of the lake (styles, moods, tempo words, key names in both languages) are
added to the training texts, so a search prompt built from them tokenises as the captions did.
The learned tokenizer is one JSON string; its hash is the ``text_tokenizer_id`` a model carries.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD, CLS = "[PAD]", "[CLS]"


def vocabulary_sentences() -> list[str]:
    """The lake's music words in English and Chinese (styles, moods, tempo words, keys), short phrases."""
    from lake.vocab import KEY_NAMES, MOODS, STYLE_ZH, STYLES, TEMPO_WORDS, TEMPO_ZH, key_zh

    out = [f"a {s} piece" for s in STYLES] + [f"the mood is {m}" for m in MOODS] + list(TEMPO_WORDS)
    out += [f"in {k}" for k in KEY_NAMES] + [key_zh(k) for k in KEY_NAMES]
    out += list(STYLE_ZH.values()) + [m.zh for m in MOODS.values()] + list(TEMPO_ZH.values())
    return out


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """A byte-level BPE of at most ``vocab_size`` tokens ([PAD] = 0, [CLS] = 1) learned on ``texts``."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD, CLS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([*texts, *vocabulary_sentences()], trainer=trainer)
    return tok


def text_tokenizer_id(tok: Tokenizer) -> str:
    return "bpe-" + hashlib.sha256(tok.to_str().encode()).hexdigest()[:12]


def encode_texts(tok: Tokenizer, texts: Sequence[str], max_len: int) -> list[np.ndarray]:
    """[CLS] + the BPE ids of each text, at most ``max_len`` ids (int32)."""
    cls = tok.token_to_id(CLS)
    return [np.asarray([cls, *e.ids[:max_len - 1]], dtype=np.int32) for e in tok.encode_batch(list(texts))]


def pad_batch(seqs: Sequence[np.ndarray], length: int, pad_id: int = 0) -> np.ndarray:
    """Sequences cut at ``length`` and padded with ``pad_id`` to the longest of them: [len(seqs), T] int64."""
    width = max(1, min(length, max((len(s) for s in seqs), default=1)))
    out = np.full((len(seqs), width), pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        s = np.asarray(s)[:length]
        out[i, :len(s)] = s
    return out
