"""Reading a prompt's text: normalisation, word tables as patterns, and masking what has been read.

Every reader in this package works on the same normalised text (:func:`normalize`): NFKC (full-width digits
and punctuation become ASCII), Chinese punctuation to its ASCII twin, emoji and other symbols to spaces, at
most :data:`MAX_CHARS` characters. A reader that consumes a span (a chord list, a key) blanks it with
:func:`mask`, so a later reader does not read the same letters again ("Bb" of a chord list is no key).
"""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 4000  # the API takes 2,000; the rules read at most this much of anything longer

_ZH_PUNCT = str.maketrans({"，": ",", "。": ".", "、": ",", "；": ";", "：": ":", "（": "(", "）": ")", "“": '"',
                           "”": '"', "‘": "'", "’": "'", "！": "!", "？": "?", "—": "-", "–": "-", "～": "~",
                           "→": ">", "⇒": ">", "➔": ">", "♩": "♩"})


def _keep(ch: str) -> bool:
    """Letters, digits, marks, punctuation, spaces and the music signs stay; emoji and other symbols go."""
    if ch in "♯♭♩#+°øΔ/&=":
        return True
    cat = unicodedata.category(ch)
    return cat[0] in "LNPZM" or ch in "\n\t"


def normalize(prompt: str) -> str:
    """The text every reader reads: NFKC, ASCII punctuation, symbols (emoji) as spaces, length capped."""
    text = unicodedata.normalize("NFKC", str(prompt)[:MAX_CHARS])
    text = text.translate(_ZH_PUNCT)
    return "".join(ch if _keep(ch) else " " for ch in text)


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def language(text: str) -> str:
    """"zh" when the prompt holds Chinese characters, else "en" (a mixed prompt is read as Chinese)."""
    return "zh" if has_cjk(text) else "en"


def mask(text: str, start: int, end: int) -> str:
    """``text`` with [start, end) blanked (same length, so every other span keeps its place)."""
    return text[:start] + " " * (end - start) + text[end:]


def word_pattern(words, plural: bool = True) -> re.Pattern:
    """One alternation, longest first ("electric piano" wins over "piano" at the same place). An English word
    matches whole (optionally with a plural ending), a Chinese word anywhere."""
    parts = []
    for w in sorted(set(words), key=len, reverse=True):
        if w.isascii():
            tail = r"(?:s|es)?" if plural and w[-1:].isalpha() else ""
            parts.append(rf"(?<![a-z0-9]){re.escape(w)}{tail}(?![a-z0-9])")
        else:
            parts.append(re.escape(w))
    return re.compile("|".join(parts) or r"(?!x)x")


def matched_word(m: re.Match, table) -> str:
    """The table entry a match stands for (an English match may carry a plural ending)."""
    text = m.group(0)
    for candidate in (text, text[:-1], text[:-2]):
        if candidate in table:
            return candidate
    raise KeyError(f"no table entry for {text!r}")


def find_words(pattern: re.Pattern, text: str, table) -> list[tuple[int, int, str]]:
    """(start, end, table entry) of every match, in order."""
    return [(m.start(), m.end(), matched_word(m, table)) for m in pattern.finditer(text)]
