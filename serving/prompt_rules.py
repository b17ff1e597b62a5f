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
from dataclasses import dataclass

from lake.vocab import PITCH_CLASSES, TEMPO_WORDS, bin_center, key_name
from serving.api import ACCIDENTAL, BPM_MAX, BPM_MIN, ZH_KEY, Attributes, key_from_match, parse_key

DEFAULT_STYLE = "pop"
DEFAULT_TIME_SIGNATURE = "4/4"
DEFAULT_TONIC = {"major": "C", "minor": "A"}

# Style words; a Chinese word matches as a substring, an English word as a whole word (plural allowed).
STYLE_WORDS: dict[str, tuple[str, ...]] = {
    "classical": ("classical", "baroque", "symphony", "symphonic", "sonata", "concerto", "string quartet",
                  "chamber music", "nocturne", "etude", "minuet", "mozart", "bach", "beethoven", "chopin",
                  "古典", "巴洛克", "交响", "奏鸣曲", "协奏曲", "室内乐", "夜曲", "弦乐四重奏"),
    "folk": ("folk", "country", "bluegrass", "celtic", "campfire", "singer-songwriter", "americana",
             "民谣", "民歌", "乡村", "国风", "中国风", "篝火"),
    "jazz": ("jazz", "jazzy", "swing", "bebop", "bossa nova", "bossa", "blues", "bluesy", "big band", "ragtime",
             "爵士", "摇摆", "蓝调", "布鲁斯", "波萨诺瓦", "大乐队"),
    "pop": ("pop", "k-pop", "j-pop", "c-pop", "catchy", "mainstream", "ballad", "r&b", "hip hop", "hip-hop", "rap",
            "流行", "情歌", "说唱", "嘻哈", "节奏布鲁斯"),
    "rock": ("rock", "metal", "punk", "grunge", "hard rock", "indie rock", "riff", "guitar riff",
             "摇滚", "金属", "朋克", "重金属"),
    "electronic": ("electronic", "electronica", "edm", "techno", "house music", "deep house", "trance", "dubstep",
                   "drum and bass", "dnb", "synthwave", "electro", "lo-fi", "lofi", "chillwave", "idm",
                   "电子", "电音", "蒸汽波", "低保真", "浩室", "科技舞曲"),
    "ambient": ("ambient", "atmospheric", "drone", "meditation", "meditative", "new age", "soundscape", "sleep",
                "spa", "yoga", "环境音乐", "氛围音乐", "冥想", "助眠", "新世纪", "瑜伽"),
    "film": ("film", "cinematic", "soundtrack", "movie", "trailer", "orchestral", "video game", "game music", "anime",
             "ost", "电影", "配乐", "影视", "游戏音乐", "动漫", "预告片", "管弦"),
    "other": ("experimental", "avant-garde", "avant garde", "noise music", "unclassifiable",
              "实验", "先锋", "前卫"),
}


@dataclass(frozen=True)
class StyleDefaults:
    bpm: float
    instruments: tuple[str, ...]
    major: tuple[str, ...]  # chord progression in a major key, roman numerals
    minor: tuple[str, ...]  # ... and in a minor key


STYLE_DEFAULTS: dict[str, StyleDefaults] = {
    "classical": StyleDefaults(90, ("piano", "string ensemble"), ("I", "IV", "V", "I"), ("i", "iv", "V", "i")),
    "folk": StyleDefaults(96, ("acoustic guitar", "harmonica"), ("I", "IV", "I", "V"), ("i", "VII", "VI", "VII")),
    "jazz": StyleDefaults(116, ("piano", "acoustic bass", "drums", "saxophone"),
                          ("ii7", "V7", "Imaj7", "vi7"), ("iiø7", "V7", "i7", "i7")),
    "pop": StyleDefaults(110, ("piano", "electric bass", "drums"), ("I", "V", "vi", "IV"), ("i", "VI", "III", "VII")),
    "rock": StyleDefaults(124, ("electric guitar", "electric bass", "drums"),
                          ("I", "bVII", "IV", "I"), ("i", "VI", "VII", "i")),
    "electronic": StyleDefaults(124, ("electric piano", "synth pad", "synth bass"),
                                ("I", "V", "vi", "IV"), ("i", "VI", "III", "VII")),
    "ambient": StyleDefaults(70, ("synth pad", "piano"), ("Imaj7", "IVmaj7"), ("i7", "VImaj7")),
    "film": StyleDefaults(90, ("string ensemble", "french horn", "timpani"),
                          ("I", "iii", "IV", "iv"), ("i", "VI", "III", "VII")),
    "other": StyleDefaults(100, ("piano",), ("I", "IV", "V", "I"), ("i", "iv", "v", "i")),
}


@dataclass(frozen=True)
class Mood:
    bpm: float
    mode: str  # "major" | "minor"
    words: tuple[str, ...]


MOODS: dict[str, Mood] = {
    "relaxed": Mood(100, "major", ("relaxed", "relaxing", "relax", "chill", "chilled", "chillout", "chill-out",
                                   "laid-back", "laid back", "easygoing", "lazy", "cozy", "cosy", "cafe", "café",
                                   "coffee", "lounge", "afternoon",
                                   "轻松", "放松", "悠闲", "惬意", "慵懒", "休闲", "舒适", "咖啡", "午后", "下午")),
    "calm": Mood(80, "major", ("calm", "peaceful", "serene", "gentle", "soft", "quiet", "tranquil", "soothing",
                               "平静", "安静", "宁静", "温柔", "舒缓", "柔和")),
    "happy": Mood(120, "major", ("happy", "joyful", "cheerful", "bright", "sunny", "playful", "fun", "uplifting",
                                 "快乐", "欢快", "开心", "阳光", "愉快", "明亮", "俏皮", "欢乐")),
    "energetic": Mood(128, "major", ("energetic", "powerful", "exciting", "intense", "party", "workout", "dance",
                                     "driving", "激情", "动感", "热烈", "活力", "派对", "激烈", "劲爆", "运动")),
    "sad": Mood(72, "minor", ("sad", "melancholy", "melancholic", "lonely", "sorrow", "sorrowful", "heartbroken",
                              "rainy", "tearful", "悲伤", "忧伤", "伤感", "孤独", "难过", "哀伤", "下雨", "雨天", "思念")),
    "dark": Mood(90, "minor", ("dark", "tense", "mysterious", "ominous", "scary", "spooky", "suspense", "horror",
                               "eerie", "黑暗", "紧张", "神秘", "恐怖", "悬疑", "阴森", "诡异")),
    "romantic": Mood(84, "major", ("romantic", "love", "tender", "dreamy", "sweet",
                                   "浪漫", "爱情", "梦幻", "甜蜜", "温馨")),
    "epic": Mood(110, "minor", ("epic", "heroic", "triumphant", "majestic", "battle",
                                "史诗", "英雄", "壮丽", "宏大", "磅礴", "战斗")),
    "nostalgic": Mood(90, "major", ("nostalgic", "nostalgia", "memories", "怀旧", "回忆", "复古")),
}

# Tempo words: plain words, and the Italian tempo markings at the centre of their lake tempo bin.
TEMPO_KEYWORDS: dict[str, float] = {
    "very slow": 56, "slow": 72, "slowly": 72, "mid-tempo": 100, "midtempo": 100, "moderate": 100,
    "upbeat": 120, "uptempo": 128, "up-tempo": 128, "fast": 140, "quick": 140, "very fast": 170,
    "非常慢": 56, "慢速": 72, "缓慢": 72, "慢节奏": 72, "慢板": 72, "中速": 100, "中板": 100, "中等速度": 100,
    "快速": 140, "快节奏": 140, "快板": 140, "急速": 170, "非常快": 170,
    # "grave" is left out: in English prompts it means serious, not 30 BPM.
    **{word: bin_center(i) for i, word in enumerate(TEMPO_WORDS) if word != "grave"},
}

METER_KEYWORDS: dict[str, str] = {
    "waltz": "3/4", "minuet": "3/4", "march": "2/4", "jig": "6/8",
    "圆舞曲": "3/4", "华尔兹": "3/4", "三拍子": "3/4", "进行曲": "2/4",
}

INSTRUMENT_WORDS: dict[str, str] = {
    "piano": "piano", "grand piano": "piano", "electric piano": "electric piano", "e-piano": "electric piano",
    "rhodes": "electric piano", "organ": "organ", "guitar": "acoustic guitar", "acoustic guitar": "acoustic guitar",
    "electric guitar": "electric guitar", "bass": "electric bass", "bass guitar": "electric bass",
    "upright bass": "acoustic bass", "double bass": "acoustic bass", "synth": "synth lead",
    "synthesizer": "synth lead", "synth lead": "synth lead", "synth pad": "synth pad", "pad": "synth pad",
    "synth bass": "synth bass", "strings": "string ensemble", "string": "string ensemble", "violin": "violin",
    "viola": "viola", "cello": "cello", "harp": "harp", "harpsichord": "harpsichord", "flute": "flute",
    "clarinet": "clarinet", "oboe": "oboe",
    "trumpet": "trumpet", "trombone": "trombone", "french horn": "french horn", "horn": "french horn",
    "saxophone": "saxophone", "sax": "saxophone", "drums": "drums", "drum": "drums", "percussion": "drums",
    "choir": "choir", "harmonica": "harmonica", "accordion": "accordion", "ukulele": "ukulele", "banjo": "banjo",
    "marimba": "marimba", "vibraphone": "vibraphone", "glockenspiel": "glockenspiel", "timpani": "timpani",
    "erhu": "erhu", "guzheng": "guzheng", "pipa": "pipa", "dizi": "dizi",
    "钢琴": "piano", "电钢琴": "electric piano", "风琴": "organ", "管风琴": "organ", "吉他": "acoustic guitar",
    "木吉他": "acoustic guitar", "原声吉他": "acoustic guitar", "电吉他": "electric guitar", "贝斯": "electric bass",
    "低音提琴": "acoustic bass",
    "合成器": "synth lead", "合成器音色铺底": "synth pad", "铺底": "synth pad", "弦乐": "string ensemble",
    "小提琴": "violin", "中提琴": "viola", "大提琴": "cello", "竖琴": "harp", "长笛": "flute", "单簧管": "clarinet",
    "双簧管": "oboe", "小号": "trumpet", "长号": "trombone", "圆号": "french horn", "萨克斯": "saxophone",
    "架子鼓": "drums", "鼓点": "drums", "鼓组": "drums", "打击乐": "drums", "合唱": "choir", "口琴": "harmonica",
    "手风琴": "accordion", "尤克里里": "ukulele", "马林巴": "marimba", "定音鼓": "timpani",
    "二胡": "erhu", "古筝": "guzheng", "琵琶": "pipa", "笛子": "dizi",
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
_NUMERAL = r"(?:b|#)?(?:VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)(?:ø7|°7|°|\+|maj7|7)?"
_PROGRESSION = re.compile(rf"(?<![A-Za-z]){_NUMERAL}(?:\s*[-–—]\s*{_NUMERAL}){{2,}}(?![A-Za-z])")
_ROMAN = re.compile(r"^(?P<acc>[b#]?)(?P<num>VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)(?P<qual>ø7|°7|°|\+|maj7|7)?$")
_DEGREES = {"I": 0, "II": 1, "III": 2, "IV": 3, "V": 4, "VI": 5, "VII": 6}
_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
_LETTERS = "CDEFGAB"
_NATURAL = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


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


def _spell(tonic: str, degree: int, semitones: int) -> str:
    """The note ``semitones`` above ``tonic`` spelled on the letter ``degree`` steps up (E# in C# major, Bb in F)."""
    letter = _LETTERS[(_LETTERS.index(tonic[0]) + degree) % 7]
    target = (PITCH_CLASSES.index(tonic) + semitones) % 12
    diff = (target - _NATURAL[letter] + 6) % 12 - 6
    return letter + ("#" * diff if diff > 0 else "b" * -diff)


def chord_names(progression: list[str] | tuple[str, ...], key: str) -> list[str]:
    """Roman numerals to chord names in ``key``: ["I", "V", "vi", "IV"] in "C major" → ["C", "G", "Am", "F"]."""
    tonic, mode = key.split(" ")
    names = []
    for numeral in progression:
        m = _ROMAN.match(numeral)
        if m is None:
            raise ValueError(f"not a roman numeral chord: {numeral!r}")
        degree = _DEGREES[m["num"].upper()]
        shift = {"b": -1, "#": 1}.get(m["acc"], 0)
        root = _spell(tonic, degree, _SCALES[mode][degree] + shift)
        minor, qual = m["num"].islower(), m["qual"] or ""
        if qual == "ø7":
            suffix = "m7b5"
        elif qual.startswith("°"):
            suffix = "dim" + ("7" if qual == "°7" else "")
        elif qual == "+":
            suffix = "aug"
        elif qual == "maj7":
            suffix = "maj7"
        elif qual == "7":
            suffix = "m7" if minor else "7"
        else:
            suffix = "m" if minor else ""
        names.append(root + suffix)
    return names


def _normalize(prompt: str) -> str:
    """Full-width digits and punctuation to ASCII (NFKC), so "每分钟９０拍" and "BPM：90" read like the rest."""
    return unicodedata.normalize("NFKC", prompt)


def recommend(prompt: str, bpm: float | None = None, key: str | None = None) -> Attributes:
    """Attributes for ``prompt``; ``bpm`` and ``key`` (any spelling :func:`parse_key` reads) win when given."""
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

    if (ts := _explicit_time_signature(text)) is not None:
        sources["time_signature"] = "prompt"
    elif meter := _METER_RE.search(lower):
        ts, sources["time_signature"] = METER_KEYWORDS[_matched_word(meter, METER_KEYWORDS)], "keyword"
    else:
        ts, sources["time_signature"] = DEFAULT_TIME_SIGNATURE, "default"

    named = list(dict.fromkeys(INSTRUMENT_WORDS[_matched_word(m, INSTRUMENT_WORDS)]
                               for m in _INSTRUMENT_RE.finditer(lower)))
    instruments = named or list(defaults.instruments)
    sources["instruments"] = "prompt" if named else sources["style"]

    if written_progression := _PROGRESSION.search(text):
        progression = re.split(r"\s*[-–—]\s*", written_progression.group(0))
        sources["chords"] = "prompt"
    else:
        progression = list(defaults.minor if key.endswith("minor") else defaults.major)
        sources["chords"] = "derived"

    return Attributes(style=style, bpm=float(bpm), key=key, time_signature=ts, instruments=instruments,
                      progression=progression, chords=chord_names(progression, key), mood=mood_name,
                      sources=sources)

