"""What a prompt states outright, read in English and Chinese: key, mode, tempo, time signature, chords,
instruments, style and mood words. Each reader returns what it found with its place in the text, so the
recommender can take the first of several and say it did (:mod:`training.understanding.recommend`).

Reading order matters, and each reader blanks what it consumed (:func:`text.mask`): chord lists first (their
"Bb" is no key and their "A" no article), then keys, tempo numbers, time signatures, tempo words,
instruments, and last the style, genre and mood words.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from lake.vocab import (ACCIDENTAL, DRUM_NOT, GENRE_BPM, GENRE_INSTRUMENTS, GENRE_STYLE, IMPLIED_MOOD, INSTRUMENT_WORDS,
                        METER_WORDS, STYLE_HINTS,
                        METER_ZH, MOOD_TAGS, MOODS, NAMED_PROGRESSIONS, STYLE_WORDS, TEMPO_TERMS, TEMPO_WORDS, TEMPO_ZH,
                        TOPICS,
                        ZH_KEY, key_from_match, key_name, parse_chord)
from training.request import BPM_MAX, BPM_MIN, parse_time_signature
from training.understanding.text import find_words, mask, word_pattern


@dataclass
class Stated:
    """Everything a prompt says outright; lists keep the order of the text, (position, value, the words)."""

    bpms: list[tuple[int, float, str]] = field(default_factory=list)
    tempo_words: list[tuple[int, str]] = field(default_factory=list)  # TEMPO_TERMS entries
    keys: list[tuple[int, str, str]] = field(default_factory=list)
    modes: list[tuple[int, str, str]] = field(default_factory=list)  # a mode without a tonic ("in a minor key")
    meters: list[tuple[int, str, str]] = field(default_factory=list)  # numerals: "3/4", "四三拍"
    dances: list[tuple[int, str, str]] = field(default_factory=list)  # dance forms: (pos, time signature, word)
    chords: list[str] = field(default_factory=list)  # chord symbols as written (normalised spelling)
    chords_text: str = ""
    numerals: list[str] = field(default_factory=list)  # a progression in roman numerals ("I-V-vi-IV", "1645")
    numerals_text: str = ""
    instruments: list[tuple[int, str, str]] = field(default_factory=list)  # (pos, INSTRUMENTS name, word)
    unknown_instruments: list[str] = field(default_factory=list)
    styles: list[tuple[int, str, str]] = field(default_factory=list)  # (pos, style, word)
    style_hints: list[tuple[int, str, str]] = field(default_factory=list)  # scene words pointing to a style
    genres: list[tuple[int, str]] = field(default_factory=list)  # genre words that imply more than the style
    moods: list[tuple[int, str, str]] = field(default_factory=list)  # (pos, MOODS name, word)
    scene_moods: list[tuple[int, str, str]] = field(default_factory=list)  # moods a scene or genre implies
    topics: tuple[str, ...] = ()  # the concepts the prompt mentions (lake.vocab.TOPICS), sorted: its content


# -- keys ----------------------------------------------------------------------------------------------------
_MODE = r"(?P<mode>[Mm]ajor|[Mm]inor|[Mm]aj(?![a-z])|[Mm]in(?![a-z])|m(?![a-z]))"
_TONIC = rf"(?P<letter>[A-Ga-g])(?:\s*(?P<acc>{ACCIDENTAL}))?"
_KEY_PATTERNS = [
    # "in the key of D minor", "key of F#m", "key: Bb major", "in d minor" (any case when the mode is written out)
    re.compile(rf"(?<![A-Za-z])(?:in the key of|in|key of|key is|key|tonality of|tonality is|tonic of|tonic is)(?:\s*:\s*|\s+)"
               rf"(?P<letter>[A-Ga-g])(?:\s*(?P<acc>{ACCIDENTAL}))?\s*"
               rf"(?P<mode>[Mm]ajor|[Mm]inor|[Mm]aj|[Mm]in|m)(?![A-Za-z])"),
    # "D minor", "Eb Major", "C sharp minor", "F# min" - an upper-case tonic anywhere
    re.compile(rf"(?<![A-Za-z])(?P<letter>[A-G])(?:\s?(?P<acc>{ACCIDENTAL}))?\s?"
               rf"(?P<mode>[Mm]ajor|[Mm]inor|[Mm]aj|[Mm]in)(?![A-Za-z])"),
    # "Dm key", "F#m ballad" after "in"/"key": handled above; "Dm" followed by "key"
    re.compile(rf"(?<![A-Za-z])(?P<letter>[A-G])(?P<acc>[#♯b♭])?(?P<mode>m)\s+key(?![a-z])"),
    # "key of C", "key: G", "key is F#" - a bare tonic after the word key (upper case)
    re.compile(rf"(?<![A-Za-z])(?:in the key of|key of|key is|key|tonality is|tonic is)(?:\s*:\s*|\s+)(?P<letter>[A-G])"
               rf"(?:(?P<acc>[#♯b♭])|\s?(?P<acc2>-?\s?sharp|-?\s?flat))?(?![A-Za-z0-9#♯♭'])"),
    # "in F#", "in Bb", "in C, slowly" - after "in" only where the sentence goes on as a key would ("in A
    # minimalist style" is no key)
    re.compile(rf"(?<![A-Za-z])in\s+(?P<letter>[A-G])(?:(?P<acc>[#♯b♭])|\s?(?P<acc2>-?\s?sharp|-?\s?flat))?"
               rf"(?=\s*(?:$|[,.;:!?)\-]|\s(?:with|at|and|for|over|using|featuring|on|in|please|time|tempo|but|"
               rf"or|the|a|an)\b|[\u4e00-\u9fff]))"),
    # Chinese: "D小调", "降B大调", "升c小调", "#F小调", "bB大调", "C调", "b小调"
    re.compile(ZH_KEY),
]
# "in a minor key", "minor key", "小调" - the mode alone
_MODE_ONLY = [
    (re.compile(r"(?<![A-Za-z])(?:in\s+)?(?:an?\s+)?(?P<mode>major|minor)(?:\s*-?\s*(?:key|tonality|mode|scale))(?![a-z])",
                re.I), None),
    (re.compile(r"(?<![A-Za-z])in\s+(?P<mode>major|minor)(?![a-z])", re.I), None),
    (re.compile(r"(?P<zmode>大调|小调)"), None),
]
_BARE_TONIC = re.compile(r"(?<![A-Za-z0-9#♯♭/])(?P<letter>[A-G])(?P<acc>[#♯b♭])(?P<mode>m)?(?![A-Za-z0-9#♯♭/])"
                         r"(?!\s*(?:clarinets?|trumpets?|horns?|tubas?|sax|saxophones?|alto|tenor|soprano|baritone|tuning))")


def _key_of(m: re.Match) -> str:
    g = m.groupdict()
    if g.get("acc2"):
        class _M:  # key_from_match reads groupdict(); hand it the accidental under its usual name
            def __init__(self, d):
                self._d = d

            def groupdict(self):
                return self._d
        return key_from_match(_M({**g, "acc": g["acc2"]}))
    return key_from_match(m)


def read_keys(text: str, stated: Stated, has_chords: bool) -> str:
    found: list[tuple[int, int, str, str]] = []
    for p in _KEY_PATTERNS:
        for m in p.finditer(text):
            word = m.group(0)
            if m.groupdict().get("letter") == "a" and re.match(r"\s*(?:major|minor)\s*-?\s*(?:key|tonality|mode|scale)",
                                                               text[m.end("letter"):], re.I):
                continue  # "in a minor key": the article, not A minor
            if m.groupdict().get("letter", "").islower() and not m.groupdict().get("zmode") and \
                    not re.search(r"(?:key|in)", word[:12], re.I):
                continue
            try:
                found.append((m.start(), m.end(), _key_of(m), word.strip()))
            except ValueError:
                continue
    if not found and not has_chords:  # "F#", "Bb", "Ebm" standing alone name a key when no chords are listed
        for m in _BARE_TONIC.finditer(text):
            tonic = m["letter"] + ("#" if m["acc"] in "#♯" else "b")
            try:
                found.append((m.start(), m.end(), key_name(tonic, "minor" if m["mode"] else "major"), m.group(0)))
            except ValueError:
                continue
    taken: list[tuple[int, int]] = []
    for start, end, key, word in sorted(found, key=lambda f: (f[0], -(f[1] - f[0]))):
        if any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        stated.keys.append((start, key, word))
    for start, end in taken:
        text = mask(text, start, end)
    for p, _ in _MODE_ONLY:
        for m in p.finditer(text):
            g = m.groupdict()
            mode = ("minor" if g["zmode"] == "小调" else "major") if g.get("zmode") else g["mode"].lower()
            stated.modes.append((m.start(), mode, m.group(0).strip()))
            text = mask(text, m.start(), m.end())
    stated.modes.sort()
    return text


# -- tempo numbers ---------------------------------------------------------------------------------------------
_NUM = r"(\d{2,3}(?:\.\d+)?)"
_BPM_PATTERNS = [re.compile(p, re.I) for p in (
    rf"(?<![\d.]){_NUM}\s*(?:-\s*)?(?:bpm|b\.p\.m\.?|beats?\s*(?:a|per|/)\s*min(?:ute)?|beats?/min|拍每分钟|拍/分钟?|拍每分)"
    rf"(?![a-z])",
    rf"(?<![a-z])(?:bpm|tempo|metronome|mm)\s*(?:of|=|:|at|is|around|about|≈|~)?\s*(?:of\s*)?{_NUM}(?![\d])",
    rf"(?:♩|q|quarter(?:\s*note)?|crotchet)\s*=\s*{_NUM}(?![\d])",
    rf"每分钟\s*{_NUM}\s*(?:拍|下|beats?)",
    rf"(?:速度|拍速|节拍|bpm)\s*(?:为|是|:|=|约|大约|在)?\s*{_NUM}(?![\d])",
)]


def read_bpms(text: str, stated: Stated) -> str:
    spans = []
    for p in _BPM_PATTERNS:
        for m in p.finditer(text):
            value = float(m.group(1))
            if BPM_MIN <= value <= BPM_MAX and not any(m.start() < e and s < m.end() for s, e, _ in spans):
                spans.append((m.start(), m.end(), value))
                stated.bpms.append((m.start(), value, m.group(0).strip()))
    # "at 60 and 180 bpm": a number joined to a written tempo by "and"/"or"/"to" is a tempo too
    for m in re.finditer(rf"(?<![\d.]){_NUM}\s*(?:and|or|to|-|~|或|和|到)\s*{_NUM}\s*(?:bpm|beats)", text, re.I):
        value = float(m.group(1))
        if BPM_MIN <= value <= BPM_MAX and not any(s == m.start() for s, _, _ in spans):
            spans.append((m.start(), m.start() + len(m.group(1)), value))
            stated.bpms.append((m.start(), value, m.group(0).strip()))
    stated.bpms.sort()
    for s, e, _ in spans:
        text = mask(text, s, e)
    return text


# -- time signatures -------------------------------------------------------------------------------------------
_TIME_SIGNATURE = re.compile(r"(?<![\d/.:])(\d{1,2})\s*/\s*(2|4|8|16)(?![\d/:]|\.\d)")  # "3/8." ends a sentence
_METER_ZH = re.compile("|".join(sorted(METER_ZH, key=len, reverse=True)))
_METER_WORDS = word_pattern(METER_WORDS, plural=True)


def read_meters(text: str, stated: Stated) -> str:
    for m in _TIME_SIGNATURE.finditer(text):
        try:
            num, den = parse_time_signature(f"{int(m.group(1))}/{m.group(2)}")
        except ValueError:
            continue
        stated.meters.append((m.start(), f"{num}/{den}", m.group(0)))
        text = mask(text, m.start(), m.end())
    for m in _METER_ZH.finditer(text):
        stated.meters.append((m.start(), METER_ZH[m.group(0)], m.group(0)))
        text = mask(text, m.start(), m.end())
    stated.meters.sort()
    return text


def read_dances(lower: str, stated: Stated) -> None:
    for start, _, word in find_words(_METER_WORDS, lower, METER_WORDS):
        stated.dances.append((start, METER_WORDS[word], word))


# -- tempo words -----------------------------------------------------------------------------------------------
_MARKINGS = set(TEMPO_WORDS) | {TEMPO_ZH[w] for w in TEMPO_WORDS} | {
    "larghissimo", "lento", "larghetto", "adagietto", "andantino", "allegretto", "allegro moderato", "vivacissimo",
    "allegrissimo", "presto assai", "最缓板", "慢板", "小广板", "小柔板", "小行板", "小快板", "中快板"}
_TEMPO_RE = word_pattern(TEMPO_TERMS, plural=False)
_TEMPO_CONTEXT = re.compile(r"tempo|pace|marking|speed|速度|节奏", re.I)


def is_marking(word: str) -> bool:
    return word in _MARKINGS


def read_tempo_words(lower: str, stated: Stated) -> str:
    for start, end, word in find_words(_TEMPO_RE, lower, TEMPO_TERMS):
        if word == "grave" and not _TEMPO_CONTEXT.search(lower[max(0, start - 20):end + 20]):
            continue  # "a grave mood": serious, not 30 BPM
        if word in ("moderate", "moderately") and re.match(r"\s+(?:amount|use|volume|level)", lower[end:]):
            continue
        stated.tempo_words.append((start, word))
        lower = mask(lower, start, end)
    return lower


# -- chords ----------------------------------------------------------------------------------------------------
_CHORD_TOKEN = re.compile(r"[A-G](?:#|b|♯|♭)?(?:[a-zA-Z0-9#♭♯+°øΔ()\-]*?)(?:/[A-G](?:#|b|♯|♭)?)?")
_CHORD_TRIGGER = re.compile(r"chord progressions?|progressions?|chord sequences?|sequence of chords|chords?|changes|"
                            r"harmon(?:y|ies)|cadence|和弦进行|和弦走向|和弦序列|和弦|进行|走向", re.I)
_SEPARATORS = re.compile(r"\s*(?:,|;|>|->|=>|\||\bthen\b|\bto\b|\band\b|\bfollowed by\b|\bback to\b|和|到|再到|然后|与)\s*"
                         r"|\s+-\s+|\s+")
_QUALITY_WORDS = {"major": "", "maj": "", "minor": "m", "min": "m", "seventh": "7", "7th": "7", "dominant": "7",
                  "diminished": "dim", "augmented": "aug", "minor seventh": "m7", "major seventh": "maj7"}
_FILLER = re.compile(r"^(?:the|main|primary|chord|chords|progression|progressions|sequence|of|is|are|consists|"
                     r"consisting|revolves|around|based|on|uses|using|use|built|features|featuring|follows|following|"
                     r"like|such|as|single|simple|a|an|its|this|it|with|that|include|includes|including|goes|moves|"
                     r"through|between|:|为|是|采用|用|使用)$", re.I)


def chord_symbol_ok(token: str) -> str | None:
    """The chord symbol a token spells (normalised: ♯ #, ♭ b), or None."""
    t = token.strip().strip(".,;:!?\"'()").replace("♯", "#").replace("♭", "b")
    if not t or not _CHORD_TOKEN.fullmatch(t):
        return None
    try:
        parse_chord(t)
    except ValueError:
        return None
    return t


def _split_chords(segment: str) -> list[str]:
    """Tokens of a chord list, unspaced hyphens ("C-G-Am-F") and quality words ("A minor") handled."""
    out: list[str] = []
    segment = re.sub(r"([\u4e00-\u9fff])", r" \1 ", segment)  # "为C" -> "为 C"
    for tok in _SEPARATORS.split(segment):
        if not tok:
            continue
        if "-" in tok and not chord_symbol_ok(tok):
            parts = tok.split("-")
            if len(parts) >= 2 and all(chord_symbol_ok(p) for p in parts if p):
                out += [p for p in parts if p]
                continue
        out.append(tok)
    return out


def _chord_run(tokens: list[str]) -> list[str]:
    """The first run of chord tokens (fillers before it skipped; quality words merged into the chord)."""
    run: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        sym = chord_symbol_ok(tok)
        if sym is not None:
            nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
            if nxt in ("大", "小", "调"):  # "Am F C G，C大调", "为C大调的 C G Am F": a key, no chord
                if run:
                    break
                i += 1
                continue
            nxt2 = f"{nxt} {tokens[i + 2].lower()}" if i + 2 < len(tokens) else ""
            if nxt2 in _QUALITY_WORDS and sym.isalpha() and len(sym) <= 2:
                sym, i = sym + _QUALITY_WORDS[nxt2], i + 1
            elif nxt in _QUALITY_WORDS and len(sym) <= 2 and (sym.isalpha() or sym[-1] in "#b"):
                sym, i = sym + _QUALITY_WORDS[nxt], i + 1
            run.append(sym)
        elif run:
            if tok.lower() in ("chords", "chord", "in", "of", "the", "key"):
                break
            break
        elif not _FILLER.match(tok) and len(tok) > 14:
            break
        i += 1
    return run


_BOUNDARY = re.compile(r"(?=[\s,;.!?。，、:：]|$)|(?<=[\s,;.!?。，、:：])")


def _run_span(segment: str, run: list[str]) -> tuple[int, int]:
    """Where the chord run lies in ``segment``: from the last word boundary and to the first one between which
    all of it is read ("C大调的 C G Am F", "..., G. The key is C major": the key beside the list stays)."""
    cuts = sorted({m.start() for m in _BOUNDARY.finditer(segment)} | {0, len(segment)})
    end = next((c for c in cuts if c and _chord_run(_split_chords(segment[:c])) == run), len(segment))
    start = next((c for c in reversed(cuts) if c < end and _chord_run(_split_chords(segment[c:end])) == run), 0)
    return start, end


def read_chords(text: str, stated: Stated) -> str:
    """A listed progression of chord symbols, after a trigger word or joined by dashes/arrows ("C-G-Am-F")."""
    for m in _CHORD_TRIGGER.finditer(text):
        start = m.end()
        stop = re.search(r"(?<![A-G#b])[.!?\n](?:\s|$)|(?<=[a-z])\.|。", text[start:])
        segment = text[start:start + (stop.start() if stop else 160)][:160]
        tokens = _split_chords(segment)
        run = _chord_run(tokens)
        if len(run) >= 2:
            stated.chords = run
            a, b = _run_span(segment, run)
            stated.chords_text = text[m.start():start + b].strip()
            text = mask(mask(text, m.start(), m.end()), start + a, start + b)
            for w in re.finditer(r"[^\s,;:]+", text[start:start + a]):  # "... around the chords": fillers too
                if _FILLER.match(w.group(0)) or _CHORD_TRIGGER.fullmatch(w.group(0)):
                    text = mask(text, start + w.start(), start + w.end())
            return text
    # without a trigger: three or more chords joined by dashes or arrows
    tok = r"[A-G](?:#|b|♯|♭)?[a-zA-Z0-9#+°øΔ]*(?:/[A-G](?:#|b|♯|♭)?)?"
    for m in re.finditer(rf"(?<![A-Za-z]){tok}(?:\s*(?:-|>|->|=>|\|)\s*{tok}){{2,}}(?![A-Za-z])", text):
        parts = [p for p in re.split(r"\s*(?:->|=>|-|>|\|)\s*", m.group(0)) if p]
        syms = [chord_symbol_ok(p) for p in parts]
        if all(syms):
            stated.chords = [s for s in syms if s]
            stated.chords_text = m.group(0)
            return mask(text, m.start(), m.end())
    return text


# -- roman numerals and named progressions ---------------------------------------------------------------------
_NUMERAL = r"(?:b|#|♭|♯)?(?:VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)(?:ø7|°7|°|o7|o|\+|maj7|M7|7|sus4|sus2|64|65|43|42|6|2)?"
_NUMERAL_RUN = re.compile(rf"(?<![A-Za-z]){_NUMERAL}(?:\s*(?:-|>|->|,|\|)\s*{_NUMERAL}){{2,}}(?![A-Za-z])")
_NUMERAL_SPACED = re.compile(rf"(?<![A-Za-z]){_NUMERAL}(?:\s+{_NUMERAL}){{2,}}(?![A-Za-z])")
_DIGIT_RUN = re.compile(r"(?<![\d/.])([1-7])(?:\s*[-–>,]\s*([1-7])){2,}(?![\d/.])|(?<![\d/.])([1-7]{3,8})(?![\d/.])")
_DIGIT_NUMERAL = {"major": {"1": "I", "2": "ii", "3": "iii", "4": "IV", "5": "V", "6": "vi", "7": "vii°"},
                  "minor": {"1": "i", "2": "ii°", "3": "III", "4": "iv", "5": "V", "6": "VI", "7": "VII"}}
_PROGRESSION_CONTEXT = re.compile(r"chord|progression|changes|harmon|和弦|进行|走向", re.I)
_NAMED = word_pattern([w for w in NAMED_PROGRESSIONS if not w.isdigit()], plural=False)


def clean_numeral(token: str) -> str:
    """A numeral as lake.vocab reads it: inversion figures dropped (V65 -> V7, I6 -> I), o as °, M7 as maj7."""
    t = token.replace("♭", "b").replace("♯", "#")
    m = re.fullmatch(r"([b#]?)(VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)(.*)", t)
    if m is None:
        return t
    acc, num, qual = m.groups()
    qual = {"o7": "°7", "o": "°", "M7": "maj7", "65": "7", "43": "7", "42": "7", "2": "7", "64": "", "6": ""}.get(qual, qual)
    return acc + num + qual


def read_numerals(text: str, stated: Stated, lower: str) -> str:
    for m in _NUMERAL_RUN.finditer(text):
        parts = [p for p in re.split(r"\s*(?:->|-|>|,|\|)\s*", m.group(0)) if p]
        stated.numerals = [clean_numeral(p) for p in parts]
        stated.numerals_text = m.group(0)
        return mask(text, m.start(), m.end())
    context = _PROGRESSION_CONTEXT.search(text)
    if context:
        for m in _NUMERAL_SPACED.finditer(text):
            parts = m.group(0).split()
            if set(parts) == {"I"}:
                continue  # "I I I" reads like pronouns more than like numerals
            stated.numerals = [clean_numeral(p) for p in parts]
            stated.numerals_text = m.group(0)
            return mask(text, m.start(), m.end())
    named = _NAMED.search(lower)
    if named:
        word = named.group(0)
        stated.numerals = ["@" + word]  # resolved against the key's mode by the recommender
        stated.numerals_text = word
        return mask(text, named.start(), named.end())
    if context:
        for m in _DIGIT_RUN.finditer(text):
            digits = m.group(3) or re.sub(r"[^1-7]", "", m.group(0))
            stated.numerals = ["#" + d for d in digits]
            stated.numerals_text = m.group(0)
            return mask(text, m.start(), m.end())
    return text


def numerals_in(numerals: list[str], mode: str) -> list[str]:
    """Resolve named ("@canon progression") and digit ("#1") entries against the key's mode."""
    if numerals and numerals[0].startswith("@"):
        major, minor = NAMED_PROGRESSIONS[numerals[0][1:]]
        return list(minor if (mode == "minor" and minor) else major)
    return [_DIGIT_NUMERAL[mode][n[1:]] if n.startswith("#") else n for n in numerals]


# -- instruments -----------------------------------------------------------------------------------------------
_INSTRUMENT_RE = word_pattern(INSTRUMENT_WORDS)
_DRUM_NOT_RE = re.compile("|".join(DRUM_NOT))
_HEADS = r"guitars?|bass(?:es)?|pianos?|organs?|sax(?:ophone)?s?|synths?|pads?|strings|drums?|leads?|flutes?"
_COORDINATED = re.compile(rf"(?<![a-z])([a-z][a-z-]+)\s*(?:,|and|&|or|/)\s*(?:[a-z-]+\s+)?({_HEADS})(?![a-z])")
# Instruments General MIDI has no sound for: a prompt or request naming one gets a clear refusal.
NO_GM_SOUND = ("kazoo", "theremin", "didgeridoo", "hurdy-gurdy", "hurdy gurdy", "otamatone", "vuvuzela", "musical saw",
               "jaw harp", "jew's harp", "mouth harp", "ondes martenot", "glass harmonica", "nyckelharpa", "hang drum",
               "cuica", "washboard", "spoons", "口弦")
# Real instruments without a GM program of their own that have a near GM sound.
NEAR_GM = {"mandolin": "banjo", "mandolins": "banjo", "bouzouki": "banjo", "balalaika": "banjo", "lute": "pipa",
           "oud": "pipa", "melodica": "harmonica", "keytar": "synth lead", "mellotron": "slow strings",
           "cajon": "drums", "cajón": "drums", "bongos": "drums", "bongo": "drums", "congas": "drums", "conga": "drums",
           "djembe": "drums", "tabla": "drums", "timbales": "drums", "tambourine": "drums", "shaker": "drums",
           "castanets": "drums", "cymbals": "drums", "cymbal": "drums", "handpan": "steel drums", "duduk": "oboe",
           "erhu fiddle": "erhu", "harmonium": "reed organ", "clavichord": "harpsichord", "spinet": "harpsichord",
           "fortepiano": "piano", "cornet": "trumpet", "flugelhorn": "trumpet", "euphonium": "tuba",
           "sousaphone": "tuba", "bass clarinet": "clarinet", "contrabassoon": "bassoon", "fife": "piccolo",
           "曼陀林": "banjo", "鲁特琴": "pipa", "乌德琴": "pipa", "口风琴": "harmonica", "卡洪鼓": "drums",
           "手鼓": "drums", "非洲鼓": "drums", "康加鼓": "drums", "邦戈鼓": "drums", "铃鼓": "drums", "沙锤": "drums",
           "镲": "drums", "短号": "trumpet", "柳琴": "pipa", "阮": "pipa", "中阮": "pipa", "葫芦丝": "clarinet",
           "巴乌": "clarinet", "笙": "reed organ", "埙": "ocarina", "编钟": "tubular bells", "木鱼声": "woodblock",
           "马头琴": "cello", "morin khuur": "cello", "呼麦": "voice oohs", "throat singing": "voice oohs",
           "锣鼓": "drums", "锣": "drums", "gong": "drums", "大锣": "drums"}
# One table, so the longest name wins wherever they overlap ("reverse cymbal" over "cymbal", "bass clarinet"
# over "bass"); None marks a name General MIDI has no sound for.
_ALL_INSTRUMENTS: dict[str, str | None] = {**INSTRUMENT_WORDS, **NEAR_GM, **dict.fromkeys(NO_GM_SOUND)}
_ALL_INSTRUMENTS_RE = word_pattern(_ALL_INSTRUMENTS)


def nearest_instruments(name: str, n: int = 3) -> list[str]:
    """The known instrument words closest in spelling to ``name`` (for an error message)."""
    pool = [w for w in INSTRUMENT_WORDS if w.isascii() == name.isascii()]
    close = difflib.get_close_matches(name.lower(), pool, n=n, cutoff=0.5)
    return close or difflib.get_close_matches(name.lower(), pool, n=n, cutoff=0.0)


def _inside(start: int, end: int, spans) -> bool:
    """Whether [start, end) lies inside a longer span of ``spans``."""
    return any(s <= start and end <= e and (e - s) > (end - start) for s, e in spans)


def read_instruments(lower: str, stated: Stated, protect=()) -> str:
    """Instrument words (not those inside a longer style or genre word: "string quartet", "drum and bass")."""
    text = _DRUM_NOT_RE.sub(lambda m: " " * len(m.group(0)), lower)
    if protect:
        found = [(m.start(), m.end()) for m in _INSTRUMENT_RE.finditer(text)]
        for s, e in protect:
            if any(_inside(a, b, [(s, e)]) for a, b in found):
                text = mask(text, s, e)
    for m in _COORDINATED.finditer(text):  # "overdriven and distorted guitars": overdriven guitar too
        head = re.sub(r"(?:es|s)$", "", m.group(2)) if m.group(2) not in ("bass", "strings") else m.group(2)
        head = {"sax": "sax", "saxophone": "saxophone"}.get(head, head)
        candidate = f"{m.group(1)} {head}"
        if candidate in INSTRUMENT_WORDS:
            stated.instruments.append((m.start(), INSTRUMENT_WORDS[candidate], candidate))
            text = mask(text, m.start(1), m.end(1))
    for start, end, word in find_words(_ALL_INSTRUMENTS_RE, text, _ALL_INSTRUMENTS):
        name = _ALL_INSTRUMENTS[word]
        if name is None:
            stated.unknown_instruments.append(word)
        else:
            stated.instruments.append((start, name, word))
        text = mask(text, start, end)
    stated.instruments.sort()
    return text


# -- styles, genres, moods -------------------------------------------------------------------------------------
STYLE_OF_WORD: dict[str, str] = {w: style for style, words in STYLE_WORDS.items() for w in words}
for _word, _style in GENRE_STYLE.items():
    STYLE_OF_WORD.setdefault(_word, _style)
# hints decide only prompts that name no style (see read_styles_and_moods)
_HINT_RE = word_pattern(STYLE_HINTS)
MOOD_OF_WORD: dict[str, str] = {w: mood for mood, m in MOODS.items() for w in m.words}
for _word, _mood in MOOD_TAGS.items():
    if _mood is not None:
        MOOD_OF_WORD.setdefault(_word, _mood)
_STYLE_RE = word_pattern(STYLE_OF_WORD)
_MOOD_RE = word_pattern(MOOD_OF_WORD)
_GENRE_RE = word_pattern(set(GENRE_INSTRUMENTS) | set(GENRE_BPM))
_SCENE_RE = word_pattern(IMPLIED_MOOD)
# A mood word negated ("not sad", "不要太悲伤") states the opposite of nothing: it is skipped.
# A negation is a word of its own: "no" ends "piano", "techno", "soprano" ("a piano ballad" is no negated ballad), and
# 别 ends 特别 ("especially"), 告别, 分别, 区别 ("特别悲伤" is especially sad).
_NEGATION = re.compile(r"(?<![a-z])(?:not|no|never|without|isn't|non-|less)\s+(?:too\s+|very\s+|so\s+)?$"
                       r"|(?:不|不要|(?<![特告分区离差级类派性])别|没有|不太|不是)(?:太|很)?$")


# Genre names whose adjective is no mood ("dark ambient" and "sad core" keep theirs), and lights that are no
# light mood ("the lights of a carnival").
_NOT_MOOD_GENRES = word_pattern(("heavy metal", "deep house", "hard rock", "hard bop", "acid jazz", "soft rock",
                                 "funky house", "happy hardcore", "重金属", "the lights", "city lights", "neon lights",
                                 "northern lights", "fairy lights", "string lights", "lights of"), plural=False)


# Places and dances whose last word is a genre's name but that name no genre: "a tea house" is no house music, "a
# slow dance at the prom" no dance music (and no energetic dance).
_NOT_GENRES = word_pattern(("tea house", "teahouse", "haunted house", "opera house", "farmhouse", "lighthouse",
                            "treehouse", "house party", "full house", "slow dance", "first dance"))


def style_spans(lower: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for p in (_STYLE_RE, _GENRE_RE) for m in p.finditer(lower)]


def read_styles_and_moods(lower: str, stated: Stated, shadow=()) -> None:
    """Style, genre and mood words (not those inside a longer instrument name: "jazz guitar", "bright piano")."""
    shadow = list(shadow) + [(m.start(), m.end()) for m in _NOT_GENRES.finditer(lower)]
    longer = list(shadow) + style_spans(lower)  # "朋克" inside "赛博朋克" is no punk
    for start, end, word in find_words(_GENRE_RE, lower, set(GENRE_INSTRUMENTS) | set(GENRE_BPM)):
        if not _inside(start, end, longer):
            stated.genres.append((start, word))
    for start, end, word in find_words(_STYLE_RE, lower, STYLE_OF_WORD):
        if not _inside(start, end, shadow):
            stated.styles.append((start, STYLE_OF_WORD[word], word))
    for start, end, word in find_words(_HINT_RE, lower, STYLE_HINTS):
        if not _inside(start, end, shadow):
            stated.style_hints.append((start, STYLE_HINTS[word], word))
    genre_spans = [(m.start(), m.end()) for m in _NOT_MOOD_GENRES.finditer(lower)]  # "heavy" of "heavy metal"
    for start, end, word in find_words(_MOOD_RE, lower, MOOD_OF_WORD):
        if _NEGATION.search(lower[max(0, start - 14):start]) or _inside(start, end, list(shadow) + genre_spans):
            continue
        stated.moods.append((start, MOOD_OF_WORD[word], word))
    for start, end, word in find_words(_SCENE_RE, lower, IMPLIED_MOOD):
        if not _inside(start, end, longer):
            stated.scene_moods.append((start, IMPLIED_MOOD[word], word))


_TOPIC_RES = {concept: word_pattern(words) for concept, words in TOPICS.items()}  # one each: 雨夜 is rain and night
# genre names a topic word sits in without meaning it (舞曲 "dance music" in 圆舞曲 "waltz", 电子舞曲 "EDM")
_NOT_TOPICS = word_pattern(("圆舞曲", "电子舞曲", "神游舞曲", "科技舞曲", "迷幻舞曲", "trip hop", "trip-hop", "女朋友", "男朋友",
                            "飞船", "暴风雨", "雷雨", "抒情歌", "凌晨"), plural=False)  # 朋友 in 女朋友, 船 in 飞船, 雨 in 暴风雨,
# 情歌 (a love song) in 抒情歌 (a lyrical song), 晨 (morning) in 凌晨 (the small hours)


def topics(text: str) -> tuple[str, ...]:
    """The concepts (:data:`lake.vocab.TOPICS`) ``text`` mentions, sorted: the same for a sentence and its
    translation, different for prompts about different things. A word inside a longer word it does not mean is
    not counted (舞曲 in 圆舞曲, 朋友 in 女朋友)."""
    lower = text.lower()
    longer = [(m.start(), m.end()) for m in _NOT_TOPICS.finditer(lower)]
    return tuple(c for c, pattern in sorted(_TOPIC_RES.items())
                 if any(not _inside(m.start(), m.end(), longer) for m in pattern.finditer(lower)))


def read(text: str) -> Stated:
    """Everything ``text`` (normalised, see :func:`text.normalize`) states."""
    stated = Stated(topics=topics(text))
    rest = read_chords(text, stated)
    if not stated.chords:  # with a chord list stated, "264 bpm" near "chords" is no scale-degree progression
        rest = read_numerals(rest, stated, rest.lower())
    rest = read_bpms(rest, stated)
    rest = read_meters(rest, stated)
    rest = read_keys(rest, stated, has_chords=bool(stated.chords or stated.numerals))
    lower0 = rest.lower()
    # a longer word wins where an instrument and a style word overlap: "string quartet" and "drum and bass" are
    # styles (their instruments follow from them), "jazz guitar", "tango accordion", "bright piano" instruments
    lower = read_instruments(lower0, stated, protect=style_spans(lower0))
    shadow = [(p, p + len(w)) for p, _, w in stated.instruments]
    shadow += [(m.start(), m.end()) for m in _METER_WORDS.finditer(lower0)]  # 圆舞曲 is no 舞曲 (dance music)
    read_styles_and_moods(lower0, stated, shadow=shadow)  # before tempo words: "upbeat" says both
    lower = read_tempo_words(lower, stated)
    read_dances(lower, stated)
    return stated
