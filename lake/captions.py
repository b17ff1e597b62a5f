"""Captions written from a piece's features: the text half of a pair when a piece has no lyrics.

Deterministic by construction (same features, same words), so a caption can be rebuilt from a
silver row at any time. Both languages read the same fields: ``bpm``, ``style``, ``key_tonic``,
``key_mode``, ``time_signature`` and ``instruments`` (GM names, 'Drums' for drum tracks).
"""

from __future__ import annotations

from miditok.constants import MIDI_INSTRUMENTS

from lake.midi_features import DRUMS
from lake.vocab import key_name, normalize_style, tempo_word

MAX_INSTRUMENTS = 4

TEMPO_ZH = {"grave": "庄板", "largo": "广板", "adagio": "柔板", "andante": "行板", "moderato": "中板",
            "allegro": "快板", "vivace": "活板", "presto": "急板", "prestissimo": "最急板"}
STYLE_ZH = {"classical": "古典", "folk": "民谣", "jazz": "爵士", "pop": "流行", "rock": "摇滚",
            "electronic": "电子", "ambient": "氛围", "film": "电影配乐"}
# The 16 General MIDI instrument families, in program order (8 programs each).
FAMILY_ZH = ("钢琴", "有音高打击乐器", "风琴", "吉他", "贝斯", "弦乐", "合奏", "铜管",
             "簧管", "木管", "合成主音", "合成音色", "合成效果", "民族乐器", "打击乐器", "音效")
TONIC_ZH = {"C#": "升C", "Eb": "降E", "F#": "升F", "Ab": "降A", "Bb": "降B"}
DRUMS_ZH = "鼓组"

_FAMILY_OF_NAME = {MIDI_INSTRUMENTS[p]["name"]: p // 8 for p in range(128)}


def caption_en(features: dict) -> str:
    """E.g. 'A moderato classical piece in G major at 96 BPM, 4/4 time, for Acoustic Grand Piano and Choir Aahs.'"""
    word = tempo_word(features["bpm"])
    style = normalize_style(features.get("style"))
    noun = "piece" if style == "other" else f"{style} piece"
    article = "An" if word[0] in "aeiou" else "A"
    text = (f"{article} {word} {noun} in {key_name(features['key_tonic'], features['key_mode'])} "
            f"at {round(features['bpm'])} BPM, {features['time_signature']} time")
    names = _unique(features.get("instruments") or [])
    if names:
        text += f", for {_and_list(names)}"
    return text + "."


def caption_zh(features: dict) -> str:
    """E.g. '一首中板古典风格的G大调作品，每分钟96拍，4/4拍，由钢琴和合奏演奏。'"""
    word = TEMPO_ZH[tempo_word(features["bpm"])]
    style = STYLE_ZH.get(normalize_style(features.get("style")))
    tonic, mode = key_name(features["key_tonic"], features["key_mode"]).split()
    key = f"{TONIC_ZH.get(tonic, tonic)}{'大调' if mode == 'major' else '小调'}"
    text = (f"一首{word}{style + '风格' if style else ''}的{key}作品，每分钟{round(features['bpm'])}拍，"
            f"{features['time_signature']}拍")
    families = _unique([_family_zh(n) for n in features.get("instruments") or []])
    if families:
        text += f"，由{'、'.join(families[:-1]) + '和' if len(families) > 1 else ''}{families[-1]}演奏"
    return text + "。"


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
