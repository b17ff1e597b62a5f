"""Attribute tokens that condition generation on style, tempo and key.

They live after the tokenizer's vocabulary, so tokenizer ids keep their meaning and the model's
vocabulary is ``base + styles + tempo bins + keys``. Every training sequence starts with the same
four-token prefix ``[BOS, STYLE_x, TEMPO_b, KEY_k]``; at sampling time these ids (and PAD, BOS) are
masked so only music comes out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lake.vocab import KEY_NAMES, STYLES, TEMPO_BIN_EDGES, normalize_style, parse_key

PREFIX_LEN = 4
N_TEMPO_BINS = len(TEMPO_BIN_EDGES) + 1


@dataclass(frozen=True)
class Conditioning:
    base_vocab_size: int
    pad_id: int
    bos_id: int
    eos_id: int
    styles: tuple[str, ...] = STYLES
    n_tempo_bins: int = N_TEMPO_BINS
    keys: tuple[str, ...] = KEY_NAMES

    # -- id ranges --------------------------------------------------------------------------
    @property
    def style_ids(self) -> range:
        return range(self.base_vocab_size, self.base_vocab_size + len(self.styles))

    @property
    def tempo_ids(self) -> range:
        start = self.style_ids.stop
        return range(start, start + self.n_tempo_bins)

    @property
    def key_ids(self) -> range:
        start = self.tempo_ids.stop
        return range(start, start + len(self.keys))

    @property
    def attribute_ids(self) -> range:
        return range(self.base_vocab_size, self.vocab_size)

    @property
    def vocab_size(self) -> int:
        return self.key_ids.stop

    def never_sampled(self) -> list[int]:
        """Ids a music sampler must mask: every attribute token, PAD and BOS."""
        return [self.pad_id, self.bos_id, *self.attribute_ids]

    # -- the prefix -------------------------------------------------------------------------
    def prefix(self, style: str | None, tempo_bin: int, key: str) -> list[int]:
        """``[BOS, STYLE, TEMPO, KEY]``; an unknown style becomes "other", an unknown key is an error."""
        if not 0 <= int(tempo_bin) < self.n_tempo_bins:
            raise ValueError(f"tempo bin {tempo_bin} is outside 0..{self.n_tempo_bins - 1}")
        style = normalize_style(style)
        return [self.bos_id, self.style_ids[self.styles.index(style)], self.tempo_ids[int(tempo_bin)],
                self.key_ids[self.keys.index(canonical_key(key))]]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Conditioning":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def canonical_key(key: str) -> str:
    """``"c# minor"``, ``"Db major"``, ``"D小调"`` to the lake's spelling (:func:`lake.vocab.parse_key`).

    The mode must be written: a conditioning key is never guessed. ValueError when it is no key.
    """
    return parse_key(key, require_mode=True)


def attribute_vocab(base_vocab_size: int, *, pad_id: int = 0, bos_id: int = 1, eos_id: int = 2) -> Conditioning:
    """The attribute tokens for a tokenizer of ``base_vocab_size`` ids (special ids as miditok puts them)."""
    return Conditioning(base_vocab_size=base_vocab_size, pad_id=pad_id, bos_id=bos_id, eos_id=eos_id)


def for_tokenizer(tokenizer) -> Conditioning:
    """The attribute tokens for a miditok tokenizer, with its own PAD/BOS/EOS ids."""
    return attribute_vocab(len(tokenizer), pad_id=tokenizer.pad_token_id,
                           bos_id=tokenizer["BOS_None"], eos_id=tokenizer["EOS_None"])
