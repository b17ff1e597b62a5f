"""Captions written from a piece's features: the text half of a pair when a piece has no lyrics.

MidiCaps-like: key, tempo word and BPM, time signature, instruments, style, mood and chord
progression, in English and Chinese. Deterministic by construction (same features, same words), so
a caption can be rebuilt from a silver row at any time. Both languages read the same fields:
``bpm``, ``style``, ``key_tonic``, ``key_mode``, ``time_signature``, ``instruments`` (GM names,
'Drums' for drum tracks) and, when known, ``chords`` (chord symbols per bar, e.g. ``["C", "Am",
"N", "G7"]``; ``N`` or None for a bar without a chord) or directly ``progression`` (symbols). The
mood is derived from mode and tempo (:func:`lake.vocab.mood_of`, a name of :data:`lake.vocab.MOODS`),
so it needs no field of its own. Every word for a key, tempo, style or mood comes from :mod:`lake.vocab`.
"""

from __future__ import annotations

from miditok.constants import MIDI_INSTRUMENTS

from lake.midi_features import DRUMS
from lake.vocab import (DRUMS_ZH, FAMILY_ZH, MOODS, STYLE_ZH, TEMPO_ZH, key_name, key_zh, mood_of, normalize_style,
                        tempo_word)

MAX_INSTRUMENTS = 4
PROGRESSION_LENGTH = 4
NO_CHORD = ("", "N", "N.C.", "NC")

_FAMILY_OF_NAME = {MIDI_INSTRUMENTS[p]["name"]: p // 8 for p in range(128)}


def chord_progression(chords: list[str | None] | None, length: int = PROGRESSION_LENGTH) -> list[str]:
    """The piece's characteristic progression from its chords per bar.

    Bars without a chord are dropped and repeats collapsed (C C G G -> C G); a piece with at most
    ``length`` changes is its whole sequence, else the most frequent run of ``length`` chords
    (the earliest such run on a tie).
    """
    seq: list[str] = []
    for c in chords or []:
        c = (c or "").strip()
        if c in NO_CHORD:
            continue
        if not seq or seq[-1] != c:
            seq.append(c)
    if len(seq) <= length:
        return seq
    counts: dict[tuple[str, ...], int] = {}
    first: dict[tuple[str, ...], int] = {}
    for i in range(len(seq) - length + 1):
        w = tuple(seq[i:i + length])
        counts[w] = counts.get(w, 0) + 1
        first.setdefault(w, i)
    best = max(counts, key=lambda w: (counts[w], -first[w]))
    return list(best)


def caption_en(features: dict) -> str:
    """E.g. 'A moderato classical piece in G major at 96 BPM, 4/4 time, for Acoustic Grand Piano and
    Choir Aahs. The mood is bright. The chord progression is G, D, Em, C.'"""
    word = tempo_word(features["bpm"])
    style = normalize_style(features.get("style"))
    noun = "piece" if style == "other" else f"{style} piece"
    article = "An" if word[0] in "aeiou" else "A"
    text = (f"{article} {word} {noun} in {key_name(features['key_tonic'], features['key_mode'])} "
            f"at {round(features['bpm'])} BPM, {features['time_signature']} time")
    names = _unique(features.get("instruments") or [])
    if names:
        text += f", for {_and_list(names)}"
    text += f". The mood is {mood_of(features['key_mode'], features['bpm'])}."
    progression = features.get("progression") or chord_progression(features.get("chords"))
    if progression:
        text += f" The chord progression is {', '.join(progression)}."
    return text


def caption_zh(features: dict) -> str:
    """E.g. '一首中板古典风格的G大调作品，每分钟96拍，4/4拍，由钢琴和合奏演奏。情绪明朗。和弦进行为G - D - Em - C。'"""
    word = TEMPO_ZH[tempo_word(features["bpm"])]
    style = STYLE_ZH.get(normalize_style(features.get("style")))
    key = key_zh(key_name(features["key_tonic"], features["key_mode"]))
    text = (f"一首{word}{style + '风格' if style else ''}的{key}作品，每分钟{round(features['bpm'])}拍，"
            f"{features['time_signature']}拍")
    families = _unique([_family_zh(n) for n in features.get("instruments") or []])
    if families:
        text += f"，由{'、'.join(families[:-1]) + '和' if len(families) > 1 else ''}{families[-1]}演奏"
    text += f"。情绪{MOODS[mood_of(features['key_mode'], features['bpm'])].zh}。"
    progression = features.get("progression") or chord_progression(features.get("chords"))
    if progression:
        text += f"和弦进行为{' - '.join(progression)}。"
    return text


def _family_zh(name: str) -> str:
    if name == DRUMS:
        return DRUMS_ZH
    if name not in _FAMILY_OF_NAME:
        raise ValueError(f"unknown General MIDI instrument name {name!r}")
    return FAMILY_ZH[_FAMILY_OF_NAME[name]]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _and_list(names: list[str]) -> str:
    if len(names) > MAX_INSTRUMENTS:
        names = names[:MAX_INSTRUMENTS - 1] + [f"{len(names) - MAX_INSTRUMENTS + 1} more instruments"]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]
