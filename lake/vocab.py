"""The one music vocabulary of the project, imported by the lake, training and serving.

Keys (English and Chinese spellings, scales), tempo bins and words, styles, moods, chords (lake labels
"A:min7", lead-sheet symbols "Am7", roman numerals "vi7") and instruments (canonical names, prompt words in
English and Chinese, General MIDI programs), plus the content-hash split. Nothing here imports the rest of
the project, so every layer can import it.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
from dataclasses import dataclass

# Tempo bin edges (BPM) as MidiCaps uses them; bin i covers [EDGES[i-1], EDGES[i]).
TEMPO_BIN_EDGES = (40, 60, 70, 90, 110, 140, 160, 210)
TEMPO_WORDS = ("grave", "largo", "adagio", "andante", "moderato", "allegro", "vivace", "presto", "prestissimo")

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_ALIASES = {"Db": "C#", "D#": "Eb", "Gb": "F#", "G#": "Ab", "A#": "Bb", "Cb": "B", "Fb": "E", "E#": "F", "B#": "C"}
KEY_NAMES = tuple(f"{pc} {mode}" for mode in ("major", "minor") for pc in PITCH_CLASSES)

VALIDATION_PERCENT = 10
TEST_PERCENT = 10
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def tempo_bin(bpm: float) -> int:
    """Index of the tempo bin holding ``bpm`` (0 .. len(TEMPO_BIN_EDGES))."""
    return bisect.bisect_right(TEMPO_BIN_EDGES, float(bpm))


def tempo_word(bpm: float) -> str:
    return TEMPO_WORDS[tempo_bin(bpm)]


def bin_center(b: int) -> float:
    """A representative BPM for a tempo bin (used when only the bin is known)."""
    edges = (20,) + TEMPO_BIN_EDGES + (240,)
    return (edges[b] + edges[b + 1]) / 2


def normalize_tonic(name: str) -> str:
    name = name.strip()
    name = name[:1].upper() + name[1:].replace("-", "b").replace("♭", "b").replace("♯", "#")
    name = _ALIASES.get(name, name)
    if name not in PITCH_CLASSES:
        raise ValueError(f"unknown tonic {name!r}")
    return name


def key_name(tonic: str, mode: str) -> str:
    mode = mode.lower()
    if mode not in ("major", "minor"):
        raise ValueError(f"unknown mode {mode!r}")
    return f"{normalize_tonic(tonic)} {mode}"


def split_of(cluster_id: str) -> str:
    """The split a duplicate cluster draws, the one definition of it: train, validation or test.

    The bucket is the first 32 bits of the id (a sha256 is used as is, any other id is hashed) mod
    100: buckets below :data:`VALIDATION_PERCENT` are validation, the next :data:`TEST_PERCENT` test,
    the rest train. A piece on its own is the cluster of its sha256, so the same bytes draw the same
    split everywhere; the split job (``gold_splits``) keeps a cluster's split once drawn.
    """
    digest = cluster_id if _HEX64.match(cluster_id) else hashlib.sha256(cluster_id.encode()).hexdigest()
    bucket = int(digest[:8], 16) % 100
    if bucket < VALIDATION_PERCENT:
        return "validation"
    if bucket < VALIDATION_PERCENT + TEST_PERCENT:
        return "test"
    return "train"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

# Styles the product speaks of; a piece whose style is unknown gets "other".
STYLES = ("classical", "folk", "jazz", "pop", "rock", "electronic", "ambient", "film", "other")


def normalize_style(style: str | None) -> str:
    s = (style or "").strip().lower()
    return s if s in STYLES else "other"


# -- keys ---------------------------------------------------------------------------------------
# A key written in Latin letters: tonic letter, optional accidental, optional mode ("D minor", "F#m", "Bb major",
# "E flat minor", "Dmaj"; "DM" is major). A request may leave the mode out; a prompt search requires it.
ACCIDENTAL = r"(?:[#♯b♭]|-?\s?sharp|-?\s?flat)"
_EN_KEY = re.compile(rf"(?P<letter>[A-G])\s*(?P<acc>{ACCIDENTAL})?\s*(?P<mode>major|minor|maj|min|m)?", re.I)
# A key written the Chinese way: "D小调", "降B大调", "升F小调", "#F小调", "bB大调", "D调" (major).
# ZH_KEY (with 调) is what a prompt search uses; a request field may also drop the 调 ("D小").
_ZH_TONIC = r"(?P<pre>升|降|[#♯♭]|b(?=[A-G]))?\s*(?P<letter>[A-Ga-g])\s*(?P<acc>[#♯b♭])?\s*"
ZH_KEY = _ZH_TONIC + r"(?P<zmode>大调|小调|调)"
_ZH_KEY = re.compile(_ZH_TONIC + r"(?P<zmode>大调|小调|调|大|小)")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}  # minor = natural minor

_NATURAL = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_NOTE = re.compile(r"(?P<letter>[A-G])(?P<acc>[#♯b♭]*)")
TONIC_ZH = {"C#": "升C", "Eb": "降E", "F#": "升F", "Ab": "降A", "Bb": "降B"}
MODE_ZH = {"major": "大调", "minor": "小调"}


def _accidental(text: str | None) -> str:
    t = (text or "").replace(" ", "").replace("-", "").lower()
    if t in ("#", "♯", "sharp", "升"):
        return "#"
    if t in ("b", "♭", "flat", "降"):
        return "b"
    return ""


def key_from_match(m: re.Match) -> str:
    """The canonical key name ("D minor") of a match of the English or Chinese key pattern."""
    groups = m.groupdict()
    acc = _accidental(groups.get("acc") or groups.get("pre"))
    if groups.get("zmode"):
        mode = "minor" if groups["zmode"].startswith("小") else "major"
    else:
        word = groups.get("mode") or ""
        mode = "minor" if word == "m" or word.lower().startswith("min") else "major"
    return key_name(groups["letter"].upper() + acc, mode)


def parse_key(text: str, *, require_mode: bool = False) -> str:
    """Normalize a key as people write it ("d minor", "Dm", "F#m", "Bb major", "E flat minor", "D小调") to "D minor".

    A key without a mode is major ("A", "C调"), unless ``require_mode`` (then only the Chinese 调 stands
    for major). Raises ValueError with a one-line message for anything else.
    """
    stripped = str(text).strip()
    m = _EN_KEY.fullmatch(stripped) or _ZH_KEY.fullmatch(stripped)
    if m is None:
        raise ValueError(f"unknown key {text!r}: write a tonic A-G, optional #/b, and major/minor, "
                         "e.g. 'D minor' or 'F#m'")
    if require_mode and not (m["mode"] if "mode" in m.groupdict() else m["zmode"]):
        raise ValueError(f"unknown key {text!r}: the mode is missing, write e.g. '{stripped} major' or "
                         f"'{stripped} minor'")
    try:
        return key_from_match(m)
    except ValueError as e:
        raise ValueError(f"unknown key {text!r}: {e}") from None


def key_zh(key: str) -> str:
    """The Chinese spelling of a key: "D minor" → "D小调", "Bb major" → "降B大调" (any :func:`parse_key` spelling)."""
    tonic, mode = parse_key(key).split()
    return TONIC_ZH.get(tonic, tonic) + MODE_ZH[mode]


def pitch_class(name: str) -> int:
    """Pitch class of a note name with any number of accidentals: "C" 0, "F#" 6, "Bb" 10, "Cb" 11, "E#" 5."""
    m = _NOTE.fullmatch(name.strip())
    if m is None:
        raise ValueError(f"unknown note name {name!r}: write a letter A-G and optional #/b")
    acc = m["acc"]
    return (_NATURAL[m["letter"]] + acc.count("#") + acc.count("♯") - acc.count("b") - acc.count("♭")) % 12


def scale_pitch_classes(key: str) -> tuple[int, ...]:
    """The key's 7 scale pitch classes from the tonic (natural minor for minor): "D minor" → (2, 4, 5, 7, 9, 10, 0)."""
    tonic, mode = parse_key(key).split()
    root = PITCH_CLASSES.index(tonic)
    return tuple((root + step) % 12 for step in SCALES[mode])



# -- styles, tempo words, in both languages -----------------------------------------------------
STYLE_ZH = {"classical": "古典", "folk": "民谣", "jazz": "爵士", "pop": "流行", "rock": "摇滚",
            "electronic": "电子", "ambient": "氛围", "film": "电影配乐"}  # "other" has no name of its own
TEMPO_ZH = {"grave": "庄板", "largo": "广板", "adagio": "柔板", "andante": "行板", "moderato": "中板",
            "allegro": "快板", "vivace": "活板", "presto": "急板", "prestissimo": "最急板"}

# Words that name a style in a prompt; a Chinese word matches as a substring, an English word as a whole word.
STYLE_WORDS: dict[str, tuple[str, ...]] = {
    "classical": ("classical", "baroque", "symphony", "symphonic", "sonata", "concerto", "string quartet",
                  "chamber music", "nocturne", "etude", "minuet", "mozart", "bach", "beethoven", "chopin",
                  "古典", "巴洛克", "交响", "奏鸣曲", "协奏曲", "室内乐", "夜曲", "弦乐四重奏",
                  "fugue", "prelude", "cantata", "oratorio", "requiem", "opera", "aria", "madrigal", "renaissance",
                  "romantic era", "old masters", "vivaldi", "handel", "haydn", "schubert", "liszt", "debussy",
                  "tchaikovsky", "莫扎特", "贝多芬", "肖邦", "巴赫", "赋格", "复调", "前奏曲", "歌剧", "咏叹调",
                  "小步舞曲", "练习曲", "安魂曲", "四重奏", "维瓦尔第", "柴可夫斯基", "德彪西"),
    "folk": ("folk", "country", "bluegrass", "celtic", "campfire", "singer-songwriter", "americana",
             "民谣", "民歌", "乡村", "国风", "中国风", "篝火",
             "jig", "reel", "fiddle", "sea shanty", "shanty", "hoedown", "appalachian", "cowboy", "western",
             "prairie", "fingerpicked", "fingerpicking", "troubadour", "polka", "traditional tune",
             "erhu", "guzheng", "pipa", "dizi", "牧歌", "山歌", "古风", "江南", "草原", "民族", "戏曲", "弹唱",
             "二胡", "古筝", "琵琶", "笛子"),
    "jazz": ("jazz", "jazzy", "swing", "bebop", "bossa nova", "bossa", "blues", "bluesy", "big band", "ragtime",
             "爵士", "摇摆", "蓝调", "布鲁斯", "波萨诺瓦", "大乐队",
             "smoky", "speakeasy", "cocktail bar", "shuffle", "twelve-bar", "12-bar", "standards", "piano trio",
             "walking bass", "scat", "dixieland", "cool jazz", "fusion", "improvised", "improvising",
             "improvisation", "improv", "咆勃", "即兴", "小酒馆"),
    "pop": ("pop", "k-pop", "j-pop", "c-pop", "catchy", "mainstream", "ballad", "r&b", "hip hop", "hip-hop", "rap",
            "流行", "情歌", "说唱", "嘻哈", "节奏布鲁斯",
            "hook", "sing-along chorus", "radio", "top 40", "boy band", "girl group", "idol", "tiktok", "love song",
            "breakup song", "slow jam", "dance-pop", "trap", "偶像", "女团", "男团", "金曲", "ktv", "华语", "打歌"),
    "rock": ("rock", "metal", "punk", "grunge", "hard rock", "indie rock", "riff", "guitar riff",
             "摇滚", "金属", "朋克", "重金属",
             "pop-punk", "power chord", "distorted", "distortion", "guitar solo", "headbanging", "garage band",
             "thrash", "alternative", "emo", "hardcore", "arena rock", "stadium rock", "arena", "乐队", "失真",
             "嘶吼", "连复段", "重型"),
    "electronic": ("electronic", "electronica", "edm", "techno", "house music", "deep house", "trance", "dubstep",
                   "drum and bass", "dnb", "synthwave", "electro", "lo-fi", "lofi", "chillwave", "idm",
                   "电子", "电音", "蒸汽波", "低保真", "浩室", "科技舞曲",
                   "beats", "the drop", "massive drop", "rave", "club", "banger", "chiptune", "8-bit", "synthpop",
                   "synth-pop", "four-on-the-floor", "future bass", "house", "vaporwave", "cyberpunk", "neon",
                   "夜店", "蹦迪", "赛博朋克", "霓虹"),
    "ambient": ("ambient", "atmospheric", "drone", "meditation", "meditative", "new age", "soundscape", "sleep",
                "spa", "yoga", "环境音乐", "氛围音乐", "冥想", "助眠", "新世纪", "瑜伽",
                "textures", "ethereal", "void", "outer space", "spaceship", "drifting", "floating", "falling asleep",
                "relaxation", "massage", "空灵", "漂浮", "太空", "宇宙", "放空", "睡前"),
    "film": ("film", "cinematic", "soundtrack", "movie", "trailer", "orchestral", "video game", "game music", "anime",
             "ost", "电影", "配乐", "影视", "游戏音乐", "动漫", "预告片", "管弦",
             "score", "underscore", "cue", "main title", "superhero", "fantasy", "adventure", "scene",
             "boss battle", "rpg", "cartoon", "animation", "war drama", "武侠", "恐怖片", "场景", "镜头", "剧集",
             "电视剧", "动画"),
    "other": ("experimental", "avant-garde", "avant garde", "noise music", "unclassifiable",
              "实验", "先锋", "前卫"),
}


# -- moods ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mood:
    bpm: float  # the tempo a prompt with this mood and no tempo of its own gets
    mode: str  # "major" | "minor": the mode such a prompt gets
    zh: str  # the Chinese name (captions write it; it is one of ``words``)
    words: tuple[str, ...]  # English and Chinese words that name the mood in a prompt


# One table for the prompts and the captions. The six moods a caption derives from mode and tempo
# (:data:`CAPTION_MOODS`) carry a tempo and mode that derive them back: mood_of(m.mode, m.bpm) is m.
MOODS: dict[str, Mood] = {
    "relaxed": Mood(100, "major", "轻松", (
        "relaxed", "relaxing", "relax", "chill", "chilled", "chillout", "chill-out", "laid-back", "laid back",
        "easygoing", "lazy", "cozy", "cosy", "cafe", "café", "coffee", "lounge", "afternoon",
        "轻松", "放松", "悠闲", "惬意", "慵懒", "休闲", "舒适", "咖啡", "午后", "下午", "mellow", "smooth")),
    "calm": Mood(66, "major", "平静", ("calm", "peaceful", "serene", "gentle", "soft", "quiet", "tranquil", "soothing",
                                      "平静", "安静", "宁静", "温柔", "舒缓", "柔和", "ethereal", "tranquility", "空灵")),
    "bright": Mood(100, "major", "明朗", ("bright", "sunny", "optimistic", "hopeful", "明朗", "明亮", "阳光", "乐观")),
    "happy": Mood(120, "major", "快乐", ("happy", "cheerful", "playful", "fun", "uplifting",
                                        "快乐", "开心", "愉快", "俏皮", "欢乐", "feel-good", "whimsical", "carefree")),
    "joyful": Mood(132, "major", "欢快", ("joyful", "joyous", "jubilant", "festive", "欢快", "喜悦", "喜庆", "节日")),
    "energetic": Mood(128, "major", "活力", ("energetic", "powerful", "exciting", "intense", "party", "workout", "dance",
                                            "driving", "激情", "动感", "热烈", "活力", "派对", "激烈", "劲爆", "运动", "banger", "rave", "thrash",
                                            "headbanging", "loud", "hype", "热血", "嘶吼", "蹦迪")),
    "sad": Mood(66, "minor", "悲伤", ("sad", "lonely", "sorrow", "sorrowful", "heartbroken", "rainy", "tearful",
                                     "悲伤", "忧伤", "伤感", "孤独", "难过", "哀伤", "下雨", "雨天", "思念", "mournful", "heartbreak",
                                     "breakup", "farewell", "grief", "tears", "离别", "心碎")),
    "melancholic": Mood(84, "minor", "忧郁", ("melancholic", "melancholy", "wistful", "brooding", "忧郁", "惆怅", "忧愁")),
    "dark": Mood(90, "minor", "黑暗", ("dark", "tense", "mysterious", "ominous", "scary", "spooky", "suspense", "horror",
                                      "eerie", "黑暗", "紧张", "神秘", "恐怖", "悬疑", "阴森", "诡异", "tension", "angst")),
    "dramatic": Mood(132, "minor", "激昂", ("dramatic", "stormy", "turbulent", "fiery", "激昂", "戏剧性", "悲壮", "duel", "决斗")),
    "romantic": Mood(84, "major", "浪漫", ("romantic", "love", "tender", "dreamy", "sweet",
                                          "浪漫", "爱情", "梦幻", "甜蜜", "温馨", "date night", "wedding", "love song",
                                          "恋爱", "婚礼", "甜甜")),
    "epic": Mood(110, "minor", "史诗", ("epic", "heroic", "triumphant", "majestic", "battle",
                                       "史诗", "英雄", "壮丽", "宏大", "磅礴", "战斗", "superhero", "boss battle", "build-up", "sweeping")),
    "nostalgic": Mood(90, "major", "怀旧", ("nostalgic", "nostalgia", "memories", "怀旧", "回忆", "复古", "retro", "青春")),
}
# The mood of a piece from its mode and pace: slow below 70 BPM (grave .. adagio), fast from 110 (allegro and up).
CAPTION_MOODS = {("major", "slow"): "calm", ("major", "moderate"): "bright", ("major", "fast"): "joyful",
                 ("minor", "slow"): "sad", ("minor", "moderate"): "melancholic", ("minor", "fast"): "dramatic"}


def mood_of(mode: str, bpm: float) -> str:
    """The :data:`MOODS` name a caption gives a piece: calm | bright | joyful (major), sad | melancholic | dramatic."""
    b = tempo_bin(bpm)
    pace = "slow" if b <= 2 else "moderate" if b <= 4 else "fast"
    m = str(mode).lower()
    if m not in ("major", "minor"):
        raise ValueError(f"unknown mode {mode!r}")
    return CAPTION_MOODS[(m, pace)]


# -- chords ----------------------------------------------------------------------------------------
# Chord quality (the lake's label suffix, "A:min7") -> intervals above the root. Order matters to the
# chord detector only for exact ties: simpler chords first.
CHORD_QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "min7": (0, 3, 7, 10), "maj7": (0, 4, 7, 11),
    "dim": (0, 3, 6), "aug": (0, 4, 8), "sus4": (0, 5, 7), "sus2": (0, 2, 7), "hdim7": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
}
NO_CHORD = "N"
# The lead-sheet suffix written for each quality ("A:min7" -> "Am7") ...
SYMBOL_SUFFIX = {"maj": "", "min": "m", "7": "7", "min7": "m7", "maj7": "maj7", "dim": "dim", "aug": "aug",
                 "sus4": "sus4", "sus2": "sus2", "hdim7": "m7b5", "dim7": "dim7"}
# ... and every suffix read back (case matters: "M7" is maj7, "m7" is min7).
_SUFFIX_QUALITY = {
    **{s: q for q, s in SYMBOL_SUFFIX.items()},
    "M": "maj", "maj": "maj", "major": "maj", "min": "min", "mi": "min", "-": "min", "minor": "min",
    "dom7": "7", "min7": "min7", "mi7": "min7", "-7": "min7", "M7": "maj7", "ma7": "maj7", "Δ": "maj7", "Δ7": "maj7",
    "°": "dim", "o": "dim", "+": "aug", "sus": "sus4", "ø": "hdim7", "ø7": "hdim7", "m7-5": "hdim7",
    "min7b5": "hdim7", "°7": "dim7", "o7": "dim7",
}
_CHORD = re.compile(r"(?P<root>[A-G][#♯b♭]*)(?::(?P<label>[a-z0-9]+)|(?P<suffix>[^/]*))(?:/(?P<bass>[A-G][#♯b♭]*))?")


def chord_label(root_pc: int, quality: str) -> str:
    """The lake's chord label: (9, "min7") → "A:min7"."""
    if quality not in CHORD_QUALITIES:
        raise ValueError(f"unknown chord quality {quality!r}: one of {', '.join(CHORD_QUALITIES)}")
    return f"{PITCH_CLASSES[int(root_pc) % 12]}:{quality}"


def chord_symbol(chord: str | int, quality: str | None = None) -> str:
    """The lead-sheet symbol: "A:min7" → "Am7", (9, "min7") → "Am7", ("Eb", "hdim7") → "Ebm7b5", "N" → "N".

    A root given as a name keeps its spelling; a pitch class is spelled as in :data:`PITCH_CLASSES`.
    """
    if quality is None:
        if chord == NO_CHORD:
            return NO_CHORD
        root, _, quality = str(chord).partition(":")
    else:
        root = PITCH_CLASSES[chord % 12] if isinstance(chord, int) else chord
    if quality not in SYMBOL_SUFFIX:
        raise ValueError(f"unknown chord quality {quality!r} in {chord!r}: one of {', '.join(SYMBOL_SUFFIX)}")
    return root + SYMBOL_SUFFIX[quality]


def parse_chord(symbol: str) -> tuple[int, str]:
    """(root pitch class, quality) of a lead-sheet symbol ("Am7", "F#m7b5", "Bb", "Cmaj7", "Gsus4", "Edim", "C/E")
    or a lake label ("A:min7"); the quality is a :data:`CHORD_QUALITIES` name. ValueError with one line otherwise.
    """
    m = _CHORD.fullmatch(str(symbol).strip())
    quality = None
    if m is not None:
        quality = m["label"] if m["label"] in CHORD_QUALITIES else _SUFFIX_QUALITY.get(m["suffix"])
    if quality is None:
        raise ValueError(f"unknown chord {symbol!r}: write a root A-G, optional #/b, and a suffix such as "
                         "m, 7, m7, maj7, dim, aug, sus4, sus2, m7b5, dim7 (e.g. 'F#m7'), or a label like 'A:min7'")
    return pitch_class(m["root"]), quality


def chord_pitch_classes(chord: str) -> tuple[int, ...]:
    """The chord's pitch classes, root first: "Am7" → (9, 0, 4, 7)."""
    root, quality = parse_chord(chord)
    return tuple((root + i) % 12 for i in CHORD_QUALITIES[quality])


# Roman-numeral chords: optional b/# (a degree lowered or raised), the numeral (upper case major, lower case
# minor) and an optional quality mark: ø7 half-diminished, °7 / ° diminished, + augmented, maj7, 7, sus4, sus2.
ROMAN_NUMERAL = r"(?:b|#)?(?:VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)(?:ø7|°7|°|\+|maj7|7|sus4|sus2)?"
_ROMAN = re.compile(r"(?P<acc>[b#]?)(?P<num>VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)"
                    r"(?P<qual>ø7|°7|°|\+|maj7|7|sus4|sus2)?")
_DEGREES = {"I": 0, "II": 1, "III": 2, "IV": 3, "V": 4, "VI": 5, "VII": 6}
_LETTERS = "CDEFGAB"
_ROMAN_QUALITY = {"ø7": "hdim7", "°7": "dim7", "°": "dim", "+": "aug", "maj7": "maj7", "sus4": "sus4", "sus2": "sus2"}


def _spell(tonic: str, degree: int, semitones: int) -> str:
    """The note ``semitones`` above ``tonic`` spelled on the letter ``degree`` steps up (E# in C# major, Bb in F)."""
    letter = _LETTERS[(_LETTERS.index(tonic[0]) + degree) % 7]
    target = (PITCH_CLASSES.index(tonic) + semitones) % 12
    diff = (target - _NATURAL[letter] + 6) % 12 - 6
    return letter + ("#" * diff if diff > 0 else "b" * -diff)


def roman_chord(numeral: str, key: str) -> tuple[str, str]:
    """(root spelled in the key, quality) of a roman-numeral chord: ("V7", "C major") → ("G", "7")."""
    m = _ROMAN.fullmatch(numeral.strip())
    if m is None:
        raise ValueError(f"not a roman numeral chord: {numeral!r}")
    tonic, mode = parse_key(key).split()
    degree = _DEGREES[m["num"].upper()]
    root = _spell(tonic, degree, SCALES[mode][degree] + {"b": -1, "#": 1}.get(m["acc"], 0))
    minor, qual = m["num"].islower(), m["qual"] or ""
    if qual in _ROMAN_QUALITY:
        return root, _ROMAN_QUALITY[qual]
    if qual == "7":
        return root, "min7" if minor else "7"
    return root, "min" if minor else "maj"


def chord_names(progression: list[str] | tuple[str, ...], key: str) -> list[str]:
    """Roman numerals to chord symbols in ``key``: ["I", "V", "vi", "IV"] in "C major" → ["C", "G", "Am", "F"]."""
    return [chord_symbol(*roman_chord(numeral, key)) for numeral in progression]


# -- instruments -----------------------------------------------------------------------------------
DRUM_PROGRAM = -1  # a drum kit (MIDI channel 10), as miditok writes it
# Canonical instrument name -> General MIDI program (0..127), -1 for a drum kit. Instruments GM lacks
# get the nearest GM sound (erhu: fiddle, guzheng: koto, pipa: shamisen, dizi: shakuhachi).
INSTRUMENTS: dict[str, int] = {
    "piano": 0, "electric piano": 4, "harpsichord": 6, "celesta": 8, "glockenspiel": 9, "music box": 10,
    "vibraphone": 11, "marimba": 12, "xylophone": 13, "electric organ": 16, "organ": 19, "accordion": 21,
    "harmonica": 22, "ukulele": 24, "acoustic guitar": 25, "electric guitar": 27, "acoustic bass": 32,
    "electric bass": 33, "synth bass": 38, "violin": 40, "viola": 41, "cello": 42, "harp": 46, "timpani": 47,
    "string ensemble": 48, "choir": 52, "trumpet": 56, "trombone": 57, "tuba": 58, "french horn": 60,
    "saxophone": 65, "oboe": 68, "bassoon": 70, "clarinet": 71, "piccolo": 72, "flute": 73, "recorder": 74,
    "dizi": 77, "synth lead": 80, "synth pad": 88, "sitar": 104, "banjo": 105, "pipa": 106, "guzheng": 107,
    "erhu": 110, "drums": DRUM_PROGRAM,
}
# Words that name an instrument in a prompt (English and Chinese) -> canonical name.
INSTRUMENT_WORDS: dict[str, str] = {
    "piano": "piano", "grand piano": "piano", "electric piano": "electric piano", "e-piano": "electric piano",
    "rhodes": "electric piano", "organ": "organ", "church organ": "organ", "pipe organ": "organ",
    "electric organ": "electric organ", "hammond": "electric organ", "hammond organ": "electric organ",
    "guitar": "acoustic guitar", "acoustic guitar": "acoustic guitar",
    "electric guitar": "electric guitar", "bass": "electric bass", "bass guitar": "electric bass",
    "electric bass": "electric bass", "upright bass": "acoustic bass", "double bass": "acoustic bass",
    "acoustic bass": "acoustic bass", "synth": "synth lead",
    "synthesizer": "synth lead", "synth lead": "synth lead", "synth pad": "synth pad", "pad": "synth pad",
    "synth bass": "synth bass", "strings": "string ensemble", "string": "string ensemble",
    "string ensemble": "string ensemble", "violin": "violin",
    "viola": "viola", "cello": "cello", "harp": "harp", "harpsichord": "harpsichord", "flute": "flute",
    "clarinet": "clarinet", "oboe": "oboe", "bassoon": "bassoon", "piccolo": "piccolo", "recorder": "recorder",
    "trumpet": "trumpet", "trombone": "trombone", "tuba": "tuba", "french horn": "french horn", "horn": "french horn",
    "saxophone": "saxophone", "sax": "saxophone", "drums": "drums", "drum": "drums", "percussion": "drums",
    "drum kit": "drums", "choir": "choir", "harmonica": "harmonica", "accordion": "accordion",
    "ukulele": "ukulele", "banjo": "banjo", "sitar": "sitar", "celesta": "celesta", "music box": "music box",
    "marimba": "marimba", "vibraphone": "vibraphone", "glockenspiel": "glockenspiel", "xylophone": "xylophone",
    "timpani": "timpani", "erhu": "erhu", "guzheng": "guzheng", "pipa": "pipa", "dizi": "dizi",
    "钢琴": "piano", "电钢琴": "electric piano", "风琴": "organ", "管风琴": "organ", "电风琴": "electric organ",
    "吉他": "acoustic guitar", "木吉他": "acoustic guitar", "原声吉他": "acoustic guitar", "电吉他": "electric guitar",
    "贝斯": "electric bass", "低音提琴": "acoustic bass",
    "合成器": "synth lead", "合成器音色铺底": "synth pad", "铺底": "synth pad", "合成贝斯": "synth bass",
    "弦乐": "string ensemble", "小提琴": "violin", "中提琴": "viola", "大提琴": "cello", "竖琴": "harp",
    "羽管键琴": "harpsichord", "大键琴": "harpsichord", "长笛": "flute", "单簧管": "clarinet",
    "双簧管": "oboe", "巴松": "bassoon", "巴松管": "bassoon", "短笛": "piccolo", "竖笛": "recorder",
    "小号": "trumpet", "长号": "trombone", "低音大号": "tuba", "圆号": "french horn", "萨克斯": "saxophone",
    "架子鼓": "drums", "鼓点": "drums", "鼓组": "drums", "打击乐": "drums", "合唱": "choir", "口琴": "harmonica",
    "手风琴": "accordion", "尤克里里": "ukulele", "班卓琴": "banjo", "西塔琴": "sitar", "钢片琴": "celesta",
    "八音盒": "music box", "音乐盒": "music box", "马林巴": "marimba", "颤音琴": "vibraphone", "钟琴": "glockenspiel",
    "木琴": "xylophone", "定音鼓": "timpani", "二胡": "erhu", "古筝": "guzheng", "琵琶": "pipa", "笛子": "dizi",
}
_NAME_OF_PROGRAM = {p: name for name, p in INSTRUMENTS.items()}
# The 16 General MIDI instrument families in Chinese, in program order (8 programs each), and the drum kit.
FAMILY_ZH = ("钢琴", "有音高打击乐器", "风琴", "吉他", "贝斯", "弦乐", "合奏", "铜管",
             "簧管", "木管", "合成主音", "合成音色", "合成效果", "民族乐器", "打击乐器", "音效")
DRUMS_ZH = "鼓组"


@functools.lru_cache(maxsize=1)
def _gm_names() -> tuple[str, ...]:
    """The 128 General MIDI program names ("Acoustic Grand Piano", ...), as miditok lists them."""
    from miditok.constants import MIDI_INSTRUMENTS
    return tuple(MIDI_INSTRUMENTS[p]["name"] for p in range(128))


def instrument_program(name: str) -> int:
    """GM program of an instrument: a canonical name ("piano" 0), a prompt word ("rhodes", "二胡") or a GM
    program name ("Tenor Sax" 66, "Drums" -1), case-insensitive. ValueError naming it otherwise."""
    text = str(name).strip()
    low = text.lower()
    if low in INSTRUMENTS:
        return INSTRUMENTS[low]
    if low in INSTRUMENT_WORDS:
        return INSTRUMENTS[INSTRUMENT_WORDS[low]]
    gm = {n.lower(): p for p, n in enumerate(_gm_names())}
    if low in gm:
        return gm[low]
    raise ValueError(f"unknown instrument {name!r}: use a name such as {', '.join(list(INSTRUMENTS)[:6])} "
                     "or a General MIDI program name")


def instrument_name(program: int) -> str:
    """The canonical name of a GM program (0 "piano", -1 "drums"); a program without one gets its GM name
    in lower case (66 "tenor sax"), so instrument_program(instrument_name(p)) == p for every program."""
    p = int(program)
    if p in _NAME_OF_PROGRAM:
        return _NAME_OF_PROGRAM[p]
    if not 0 <= p < 128:
        raise ValueError(f"unknown GM program {program!r}: 0..127, or -1 for drums")
    return _gm_names()[p].lower()


# -- what a style brings ---------------------------------------------------------------------------
@dataclass(frozen=True)
class StyleDefaults:
    bpm: float
    instruments: tuple[str, ...]
    major: tuple[str, ...]  # chord progression in a major key, roman numerals
    minor: tuple[str, ...]  # ... and in a minor key


# What a style brings when the prompt does not say: tempo, instruments (INSTRUMENTS names) and progressions.
# Minor progressions reach the major dominant (V, with the leading tone), so the key is heard as minor and
# not as its relative major.
STYLE_DEFAULTS: dict[str, StyleDefaults] = {
    "classical": StyleDefaults(90, ("piano", "string ensemble"), ("I", "IV", "V", "I"), ("i", "iv", "V", "i")),
    "folk": StyleDefaults(96, ("acoustic guitar", "harmonica"), ("I", "IV", "I", "V"), ("i", "VII", "VI", "V")),
    "jazz": StyleDefaults(116, ("piano", "acoustic bass", "drums", "saxophone"),
                          ("ii7", "V7", "Imaj7", "vi7"), ("iiø7", "V7", "i7", "i7")),
    "pop": StyleDefaults(110, ("piano", "electric bass", "drums"), ("I", "V", "vi", "IV"), ("i", "VI", "V", "i")),
    "rock": StyleDefaults(124, ("electric guitar", "electric bass", "drums"),
                          ("I", "bVII", "IV", "I"), ("i", "VI", "VII", "i")),
    "electronic": StyleDefaults(124, ("electric piano", "synth pad", "synth bass", "drums"),
                                ("I", "V", "vi", "IV"), ("i", "VI", "V", "i")),
    "ambient": StyleDefaults(70, ("synth pad", "piano"), ("Imaj7", "IVmaj7"), ("i7", "VImaj7", "iv7", "V7")),
    "film": StyleDefaults(90, ("string ensemble", "french horn", "timpani"),
                          ("I", "iii", "IV", "iv"), ("i", "VI", "V", "i")),
    "other": StyleDefaults(100, ("piano",), ("I", "IV", "V", "I"), ("i", "iv", "v", "i")),
}
