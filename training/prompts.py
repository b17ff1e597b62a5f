"""Prompt → musical attributes, by small keyword tables anyone can read and extend (English and Chinese).

The generator only understands a style, a tempo and a key; a user writes "relaxed cafe afternoon with a
touch of electronic" or "咖啡馆午后的轻松氛围,带点电子音乐元素". These rules bridge the two, and say where
every attribute came from. Precedence, strongest first:

1. ``request``  - a field the client set explicitly (``bpm``, ``key``);
2. ``prompt``   - a value written out in the prompt ("at 128 bpm", "in D minor", "每分钟90拍", "D小调", "3/4",
   "I-V-vi-IV", a named instrument);
3. ``keyword``  - a keyword rule (style words, mood words, tempo words like "slow"/"慢速", "waltz");
4. ``default``  - what a prompt with no clue gets (pop, 110 BPM, C major, 4/4).

Chords are ``derived`` from the key's mode and the style unless the prompt spells out a progression.
"""

from __future__ import annotations

import re
import unicodedata
from lake.vocab import (STYLE_DEFAULTS, ACCIDENTAL, INSTRUMENT_WORDS, MOODS, ROMAN_NUMERAL, STYLE_WORDS, TEMPO_WORDS, TEMPO_ZH, ZH_KEY,
                        bin_center, chord_names, key_from_match, key_name, parse_key)
from training.request import BPM_MAX, BPM_MIN, Attributes, PieceRequest

DEFAULT_STYLE = "pop"
DEFAULT_TIME_SIGNATURE = "4/4"
DEFAULT_TONIC = {"major": "C", "minor": "A"}


# Tempo words: plain words, and the tempo markings (Italian and their Chinese names, lake.vocab.TEMPO_ZH: 快板 is
# allegro) at the centre of their lake tempo bin, so a prompt word and a caption word mean the same tempo.
TEMPO_KEYWORDS: dict[str, float] = {
    "very slow": 56, "slow": 72, "slowly": 72, "mid-tempo": 100, "midtempo": 100, "moderate": 100,
    "upbeat": 120, "uptempo": 128, "up-tempo": 128, "fast": 140, "quick": 140, "very fast": 170,
    "非常慢": 56, "慢速": 72, "缓慢": 72, "慢节奏": 72, "慢板": 72, "中速": 100, "中等速度": 100,
    "快速": 140, "快节奏": 140, "急速": 170, "非常快": 170,
    # "grave" is left out: in English prompts it means serious, not 30 BPM; its Chinese name 庄板 is not.
    **{word: bin_center(i) for i, word in enumerate(TEMPO_WORDS) if word != "grave"},
    **{TEMPO_ZH[word]: bin_center(i) for i, word in enumerate(TEMPO_WORDS)},
}

METER_KEYWORDS: dict[str, str] = {
    "waltz": "3/4", "minuet": "3/4", "march": "2/4", "jig": "6/8",
    "圆舞曲": "3/4", "华尔兹": "3/4", "三拍子": "3/4", "进行曲": "2/4",
}

_NUM = r"(\d{2,3}(?:\.\d+)?)"
_BPM_PATTERNS = [re.compile(p, re.I) for p in (
    rf"(?<![\d.]){_NUM}\s*(?:bpm|beats?\s*per\s*minute|beats?/min)(?![a-z])",
    rf"(?<![a-z])(?:bpm|tempo)\s*(?:of|=|:|at|is)?\s*{_NUM}(?![\d])",
    rf"每分钟\s*{_NUM}\s*拍",
    rf"(?<![\d.]){_NUM}\s*拍\s*(?:每分钟|/\s*分钟|/\s*分)",
    rf"(?:速度|拍速)\s*(?:为|是|:)?\s*{_NUM}(?![\d])",
)]

_KEY_PATTERNS = [
    # "in D minor", "key of F#m", "key: Bb major" - any case, the mode written out
    re.compile(rf"(?<![A-Za-z])(?:[Ii]n|[Kk]ey(?: of)?)(?:\s*:\s*|\s+)(?P<letter>[A-Ga-g])\s*(?P<acc>{ACCIDENTAL})?\s*"
               rf"(?P<mode>[Mm]ajor|[Mm]inor|[Mm]aj|[Mm]in|m)(?![A-Za-z])"),
    # "D minor", "Eb Major" - an upper-case tonic anywhere
    re.compile(rf"(?<![A-Za-z])(?P<letter>[A-G])\s?(?P<acc>{ACCIDENTAL})?\s?(?P<mode>[Mm]ajor|[Mm]inor)(?![A-Za-z])"),
    # "key of C", "key: G" - a bare tonic needs the word key
    re.compile(r"(?<![A-Za-z])[Kk]ey(?: of)?(?:\s*:\s*|\s+)(?P<letter>[A-G])(?P<acc>[#♯b♭])?(?![A-Za-z0-9#♯♭])"),
    re.compile(ZH_KEY),
]

_TIME_SIGNATURE = re.compile(r"(?<![\d/.])(\d{1,2})\s*/\s*(2|4|8|16)(?![\d/.])")
_PROGRESSION = re.compile(rf"(?<![A-Za-z]){ROMAN_NUMERAL}(?:\s*[-–—]\s*{ROMAN_NUMERAL}){{2,}}(?![A-Za-z])")


def _word_pattern(words) -> re.Pattern:
    """One alternation, longest first, so "electric piano" wins over "piano" at the same place."""
    parts = []
    for w in sorted(words, key=len, reverse=True):
        if w.isascii():
            parts.append(rf"(?<![a-z]){re.escape(w)}(?:s|es)?(?![a-z])")
        else:
            parts.append(re.escape(w))
    return re.compile("|".join(parts))


_STYLE_OF_WORD = {w: style for style, words in STYLE_WORDS.items() for w in words}
_MOOD_OF_WORD = {w: mood for mood, m in MOODS.items() for w in m.words}
_STYLE_RE = _word_pattern(_STYLE_OF_WORD)
_MOOD_RE = _word_pattern(_MOOD_OF_WORD)
_TEMPO_RE = _word_pattern(TEMPO_KEYWORDS)
_METER_RE = _word_pattern(METER_KEYWORDS)
_INSTRUMENT_RE = _word_pattern(INSTRUMENT_WORDS)


def _matched_word(m: re.Match, table: dict) -> str:
    """The table entry a match stands for (an English match may carry a plural ending)."""
    text = m.group(0)
    for candidate in (text, text[:-1], text[:-2]):
        if candidate in table:
            return candidate
    raise KeyError(f"no table entry for {text!r}")


def _vote(pattern: re.Pattern, text: str, table: dict[str, str]) -> str | None:
    """The value named most often in ``text``; on a tie the one named first."""
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for m in pattern.finditer(text):
        value = table[_matched_word(m, table)]
        counts[value] = counts.get(value, 0) + 1
        first.setdefault(value, m.start())
    if not counts:
        return None
    return min(counts, key=lambda v: (-counts[v], first[v]))


def _explicit_bpm(text: str) -> float | None:
    """The earliest tempo written as a number in the prompt; numbers outside the BPM range are no tempo."""
    found = []
    for p in _BPM_PATTERNS:
        for m in p.finditer(text):
            value = float(m.group(1))
            if BPM_MIN <= value <= BPM_MAX:
                found.append((m.start(), value))
    return min(found)[1] if found else None


def _explicit_key(text: str) -> str | None:
    """The earliest key written in the prompt ("in D minor", "Eb major", "key of G", "D小调")."""
    found = [(m.start(), key_from_match(m)) for p in _KEY_PATTERNS for m in p.finditer(text)]
    return min(found)[1] if found else None


def _explicit_time_signature(text: str) -> str | None:
    for m in _TIME_SIGNATURE.finditer(text):
        if 2 <= int(m.group(1)) <= 16:
            return f"{int(m.group(1))}/{m.group(2)}"
    return None


def _normalize(prompt: str) -> str:
    """Full-width digits and punctuation to ASCII (NFKC), so "每分钟９０拍" and "BPM：90" read like the rest."""
    return unicodedata.normalize("NFKC", prompt)


def recommend(prompt: str, bpm: float | None = None, key: str | None = None, time_signature: str | None = None,
              instruments: list[str] | None = None, chords: list[str] | None = None,
              progression: list[str] | None = None) -> Attributes:
    """Attributes for ``prompt``; every argument given explicitly wins over the prompt (source "request").

    ``key`` takes any spelling :func:`parse_key` reads; ``chords`` are symbols per bar, ``progression``
    roman numerals in the key (chords win when both are given).
    """
    text = _normalize(prompt)
    lower = text.lower()
    sources: dict[str, str] = {}

    style = _vote(_STYLE_RE, lower, _STYLE_OF_WORD)
    sources["style"] = "keyword" if style else "default"
    style = style or DEFAULT_STYLE
    defaults = STYLE_DEFAULTS[style]

    mood_name = _vote(_MOOD_RE, lower, _MOOD_OF_WORD)
    mood = MOODS[mood_name] if mood_name else None
    sources["mood"] = "keyword" if mood else "default"

    tempo_word = _TEMPO_RE.search(lower)
    if bpm is not None:
        sources["bpm"] = "request"
    elif (written := _explicit_bpm(text)) is not None:
        bpm, sources["bpm"] = written, "prompt"
    elif tempo_word:
        bpm, sources["bpm"] = TEMPO_KEYWORDS[_matched_word(tempo_word, TEMPO_KEYWORDS)], "keyword"
    elif mood:
        bpm, sources["bpm"] = mood.bpm, "keyword"
    else:
        bpm, sources["bpm"] = defaults.bpm, sources["style"]

    if key is not None:
        key, sources["key"] = parse_key(key), "request"
    elif (written_key := _explicit_key(text)) is not None:
        key, sources["key"] = written_key, "prompt"
    elif mood:
        key, sources["key"] = key_name(DEFAULT_TONIC[mood.mode], mood.mode), "keyword"
    else:
        key, sources["key"] = key_name(DEFAULT_TONIC["major"], "major"), "default"

    if time_signature is not None:
        ts, sources["time_signature"] = time_signature, "request"
    elif (ts := _explicit_time_signature(text)) is not None:
        sources["time_signature"] = "prompt"
    elif meter := _METER_RE.search(lower):
        ts, sources["time_signature"] = METER_KEYWORDS[_matched_word(meter, METER_KEYWORDS)], "keyword"
    else:
        ts, sources["time_signature"] = DEFAULT_TIME_SIGNATURE, "default"

    named = list(dict.fromkeys(INSTRUMENT_WORDS[_matched_word(m, INSTRUMENT_WORDS)]
                               for m in _INSTRUMENT_RE.finditer(lower)))
    if instruments is not None:
        instruments, sources["instruments"] = list(instruments), "request"
    else:
        instruments = named or list(defaults.instruments)
        sources["instruments"] = "prompt" if named else sources["style"]

    if chords is not None:
        sources["chords"] = "request"
        return Attributes(style=style, bpm=float(bpm), key=key, time_signature=ts, instruments=instruments,
                          progression=[], chords=list(chords), mood=mood_name, sources=sources)
    if progression is not None:
        progression, sources["chords"] = list(progression), "request"
    elif written_progression := _PROGRESSION.search(text):
        progression = re.split(r"\s*[-–—]\s*", written_progression.group(0))
        sources["chords"] = "prompt"
    else:
        progression = list(defaults.minor if key.endswith("minor") else defaults.major)
        sources["chords"] = "derived"

    return Attributes(style=style, bpm=float(bpm), key=key, time_signature=ts, instruments=instruments,
                      progression=progression, chords=chord_names(progression, key), mood=mood_name,
                      sources=sources)


def request_for_prompt(prompt: str, **fields) -> PieceRequest:
    """The generation request a prompt makes: its recommended attributes plus ``fields`` (bars, seed, ...)."""
    overrides = {k: fields.pop(k) for k in ("bpm", "key", "time_signature", "instruments", "chords", "progression")
                 if k in fields}
    return recommend(prompt, **overrides).to_request(**fields)
