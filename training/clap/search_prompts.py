"""Short search prompts written from a piece's gold attributes, in English and Chinese: what people type into search
(CLAP training texts and the search-precision measure; prompt understanding is training.understanding).

The captions are long template sentences; a search prompt is a few words ("melancholic waltz in a
minor key", "一首忧郁的小调圆舞曲"). Training on the captions alone leaves short prompts in a corner
of the text space that no piece is near. So each training piece also gets a few prompts naming one
to three of its attributes (style, key or mode, tempo word, pace or BPM, mood, meter, instrument),
every word taken from :mod:`lake.vocab`, drawn once with a generator seeded by the piece's hash.
The same prompts measure search (:func:`training.clap.evaluate.search_precision`): the share of
the top hits that have every attribute the prompt names.
"""

from __future__ import annotations

import numpy as np

from lake.vocab import (DRUMS_ZH, FAMILY_ZH, MODE_ZH, MOODS, STYLE_ZH, TEMPO_WORDS, TEMPO_ZH, instrument_program,
                        key_zh)

PACE_EN = {"slow": ("slow", "slow tempo"), "moderate": ("moderate tempo", "medium tempo"), "fast": ("fast", "lively")}
PACE_ZH = {"slow": "慢速", "moderate": "中速", "fast": "快速"}
WALTZ = ("waltz", "圆舞曲")  # a waltz is in 3/4


def pace(tempo_bin: int) -> str:
    """slow below 70 BPM, fast from 110, as the caption moods count it (lake.vocab.mood_of)."""
    return "slow" if tempo_bin <= 2 else "moderate" if tempo_bin <= 4 else "fast"


def _family_zh(instrument: str) -> str | None:
    try:
        program = instrument_program(instrument)
    except ValueError:
        return None
    return DRUMS_ZH if program < 0 else FAMILY_ZH[program // 8]


def facts(attrs: dict) -> dict[str, object]:
    """What a prompt may name about a piece, one value per kind."""
    out: dict[str, object] = {"key": attrs["key"], "mode": attrs["mode"], "mood": attrs["mood"],
                              "tempo_bin": attrs["tempo_bin"], "pace": pace(attrs["tempo_bin"]),
                              "meter": attrs["time_signature"]}
    if attrs.get("style") not in (None, "other"):
        out["style"] = attrs["style"]
    if attrs.get("instruments"):
        out["instrument"] = attrs["instruments"][0]
    return out


def matches(attrs: dict, named: dict[str, object]) -> bool:
    """Whether a piece (its gold attributes) has every attribute a prompt names."""
    have = facts(attrs)
    for kind, value in named.items():
        if kind == "instrument":
            if value not in (attrs.get("instruments") or []):
                return False
        elif have.get(kind) != value:
            return False
    return True


def _phrase(kind: str, value, lang: str, rng: np.random.Generator) -> str:
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    if lang == "en":
        if kind == "style":
            return pick([f"{value}", f"a {value} piece", f"{value} music"])
        if kind == "key":
            return pick([f"in {value}", f"{value}"])
        if kind == "mode":
            return pick([f"in a {value} key", f"{value} key"])
        if kind == "tempo_bin":
            return TEMPO_WORDS[value]
        if kind == "pace":
            return pick(PACE_EN[value])
        if kind == "mood":
            return pick([f"{value}", f"{value} mood"])
        if kind == "meter":
            return pick([f"in {value} time", WALTZ[0]] if value == "3/4" else [f"in {value} time", f"{value}"])
        return pick([f"for {value}", f"{value}"])
    if kind == "style":
        return STYLE_ZH[value] + pick(["风格", "音乐", ""])
    if kind == "key":
        return key_zh(value)
    if kind == "mode":
        return MODE_ZH[value]
    if kind == "tempo_bin":
        return TEMPO_ZH[TEMPO_WORDS[value]]
    if kind == "pace":
        return PACE_ZH[value]
    if kind == "mood":
        return pick([MOODS[value].zh, "情绪" + MOODS[value].zh])
    if kind == "meter":
        return pick([f"{value}拍", WALTZ[1]] if value == "3/4" else [f"{value}拍"])
    return _family_zh(value) or ""


def prompt(attrs: dict, lang: str, rng: np.random.Generator, n_facts: int | None = None) -> tuple[str, dict]:
    """One prompt naming ``n_facts`` (default 1-3) of the piece's attributes: (text, what it names)."""
    have = facts(attrs)
    if lang == "zh" and "instrument" in have and _family_zh(have["instrument"]) is None:
        have.pop("instrument")
    kinds = list(have)
    n = n_facts or int(rng.integers(1, 4))
    chosen: list[str] = []
    for k in rng.permutation(kinds):
        # a key already says its mode; a tempo word already says its pace
        if (k == "mode" and "key" in chosen) or (k == "key" and "mode" in chosen) or \
                (k == "pace" and "tempo_bin" in chosen) or (k == "tempo_bin" and "pace" in chosen):
            continue
        chosen.append(str(k))
        if len(chosen) == n:
            break
    parts = [_phrase(k, have[k], lang, rng) for k in chosen]
    named = {k: have[k] for k in chosen}
    if lang == "zh" and "instrument" in named:  # the Chinese word names the family only
        named.pop("instrument")
    if lang == "en":
        return " ".join(parts), named
    text = "".join(parts)
    return ("一首" + text + "的作品" if rng.random() < 0.5 else text), named


def prompts_for(attrs: dict, sha256: str, per_lang: int) -> list[tuple[str, str]]:
    """``per_lang`` English and ``per_lang`` Chinese prompts of a piece, the same every time: [(lang, text)]."""
    rng = np.random.default_rng(int(sha256[16:32], 16))
    return [(lang, prompt(attrs, lang, rng)[0]) for lang in ("en", "zh") for _ in range(per_lang)]
