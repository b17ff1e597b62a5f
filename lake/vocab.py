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
             "二胡", "古筝", "琵琶", "笛子", "balkan", "巴尔干", "民乐", "民族音乐", "国乐"),
    "jazz": ("jazz", "jazzy", "swing", "bebop", "bossa nova", "bossa", "blues", "bluesy", "big band", "ragtime",
             "爵士", "摇摆", "蓝调", "布鲁斯", "波萨诺瓦", "大乐队",
             "smoky", "speakeasy", "cocktail bar", "shuffle", "twelve-bar", "12-bar", "standards", "piano trio",
             "walking bass", "scat", "dixieland", "cool jazz", "fusion", "improvised", "improvising",
             "improvisation", "improv", "咆勃", "即兴", "小酒馆", "latin jazz", "拉丁爵士"),
    "pop": ("pop", "k-pop", "j-pop", "c-pop", "catchy", "mainstream", "ballad", "r&b", "hip hop", "hip-hop", "rap",
            "流行", "情歌", "说唱", "嘻哈", "节奏布鲁斯",
            "hook", "sing-along chorus", "radio", "top 40", "boy band", "girl group", "idol", "tiktok", "love song",
            "breakup song", "slow jam", "dance-pop", "trap", "偶像", "女团", "男团", "金曲", "ktv", "华语", "打歌",
            "抒情曲", "抒情歌"),
    "rock": ("rock", "metal", "punk", "grunge", "hard rock", "indie rock", "riff", "guitar riff",
             "摇滚", "金属", "朋克", "重金属",
             "pop-punk", "power chord", "distorted", "distortion", "guitar solo", "headbanging", "garage band",
             "thrash", "alternative", "emo", "hardcore", "arena rock", "stadium rock", "arena", "乐队", "失真",
             "嘶吼", "连复段", "重型", "blues rock", "布鲁斯摇滚"),
    "electronic": ("electronic", "electronica", "edm", "techno", "house music", "deep house", "trance", "dubstep",
                   "drum and bass", "dnb", "synthwave", "electro", "lo-fi", "lofi", "chillwave", "idm",
                   "电子", "电音", "蒸汽波", "低保真", "浩室", "科技舞曲",
                   "beats", "the drop", "massive drop", "rave", "club", "banger", "chiptune", "8-bit", "synthpop",
                   "synth-pop", "four-on-the-floor", "future bass", "house", "vaporwave", "cyberpunk", "neon",
                   "夜店", "蹦迪", "赛博朋克", "霓虹", "鼓打贝斯"),
    "ambient": ("ambient", "atmospheric", "drone", "meditation", "meditative", "new age", "soundscape", "sleep",
                "spa", "yoga", "环境音乐", "氛围音乐", "冥想", "助眠", "新世纪", "瑜伽",
                "textures", "ethereal", "void", "outer space", "spaceship", "drifting", "floating", "falling asleep",
                "relaxation", "massage", "空灵", "漂浮", "太空", "宇宙", "放空", "睡前",
                "飞船", "漂流", "水疗"),
    "film": ("film", "cinematic", "soundtrack", "movie", "trailer", "orchestral", "video game", "game music", "anime",
             "ost", "电影", "配乐", "影视", "游戏音乐", "动漫", "预告片", "管弦",
             "score", "underscore", "cue", "main title", "superhero", "fantasy", "adventure", "scene",
             "boss battle", "rpg", "cartoon", "animation", "war drama", "武侠", "恐怖片", "场景", "镜头", "剧集",
             "电视剧", "动画", "haunted house", "boss战", "电子游戏"),
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
        "轻松", "放松", "悠闲", "惬意", "慵懒", "休闲", "舒适", "咖啡", "午后", "下午", "mellow", "smooth",
        # each language's usual translation of the other's word (2026-12-08): 温馨 is cozy, heartwarming
        "温馨", "heartwarming", "comfortable", "casual", "leisurely")),
    "calm": Mood(66, "major", "平静", ("calm", "peaceful", "serene", "gentle", "soft", "quiet", "tranquil", "soothing",
                                      "平静", "安静", "宁静", "温柔", "舒缓", "柔和", "ethereal", "tranquility", "空灵",
                                      "tender", "安宁")),  # tender: 温柔, as gentle
    "bright": Mood(100, "major", "明朗", ("bright", "sunny", "optimistic", "hopeful", "明朗", "明亮", "阳光", "乐观", "warm")),
    "happy": Mood(120, "major", "快乐", ("happy", "cheerful", "playful", "fun", "uplifting",
                                        "快乐", "开心", "愉快", "俏皮", "欢乐", "feel-good", "whimsical", "carefree", "pleasant", "merry")),
    "joyful": Mood(132, "major", "欢快", ("joyful", "joyous", "jubilant", "festive", "欢快", "喜悦", "喜庆", "节日")),
    "energetic": Mood(128, "major", "活力", ("energetic", "powerful", "exciting", "intense", "party", "workout", "dance",
                                            "driving", "激情", "动感", "热烈", "活力", "派对", "激烈", "劲爆", "运动", "banger", "rave", "thrash",
                                            "headbanging", "loud", "hype", "热血", "嘶吼", "蹦迪", "dynamic", "explosive", "enthusiastic",
                                            "passionate", "紧张激烈")),
    "sad": Mood(66, "minor", "悲伤", ("sad", "lonely", "sorrow", "sorrowful", "heartbroken", "tearful",
                                     "悲伤", "忧伤", "伤感", "孤独", "难过", "哀伤", "思念", "mournful", "heartbreak",
                                     "breakup", "farewell", "grief", "tears", "离别", "心碎", "告别", "parting", "悲哀")),
    "melancholic": Mood(84, "minor", "忧郁", ("melancholic", "melancholy", "wistful", "brooding", "忧郁", "惆怅", "忧愁",
                                                "rainy", "下雨", "雨天")),
    "dark": Mood(90, "minor", "黑暗", ("dark", "tense", "mysterious", "ominous", "scary", "spooky", "suspense", "horror",
                                      "eerie", "黑暗", "紧张", "神秘", "恐怖", "悬疑", "阴森", "诡异", "tension", "angst")),
    "dramatic": Mood(132, "minor", "激昂", ("dramatic", "stormy", "turbulent", "fiery", "激昂", "戏剧性", "悲壮", "duel", "决斗",
                                          "stirring")),
    "romantic": Mood(84, "major", "浪漫", ("romantic", "love", "dreamy", "sweet",
                                          "浪漫", "爱情", "梦幻", "甜蜜", "date night", "wedding", "love song",
                                          "恋爱", "婚礼", "甜甜", "情歌")),
    "epic": Mood(110, "minor", "史诗", ("epic", "heroic", "triumphant", "majestic", "battle",
                                       "史诗", "英雄", "壮丽", "宏大", "磅礴", "战斗", "hero", "heroes", "盛大", "magnificent", "英勇", "凯旋", "superhero", "boss battle", "build-up", "sweeping",
                                       "boss战")),
    "nostalgic": Mood(90, "major", "怀旧", ("nostalgic", "nostalgia", "memories", "remembering", "reminiscent", "reminiscing", "怀旧", "回忆", "复古", "retro", "青春")),
}
# The mood of a piece from its mode and pace: slow below 70 BPM (grave .. adagio), fast from 110 (allegro and up).
CAPTION_MOODS = {("major", "slow"): "calm", ("major", "moderate"): "bright", ("major", "fast"): "joyful",
                 ("minor", "slow"): "sad", ("minor", "moderate"): "melancholic", ("minor", "fast"): "dramatic"}


# Which of several moods a prompt names leads (the label, and the tempo and key it implies), whatever order or
# how often the words come: the moods no mode and pace derive (romantic, nostalgic, epic, dark, energetic, happy,
# relaxed: they say what kind of feeling) before the six a caption derives from mode and pace alone
# (:data:`CAPTION_MOODS`), so that a translation that adds a broad word ("温柔的爱情" beside "tender love": calm
# beside romantic) keeps the lead. A sentence and its translation that name the same moods in another order, or
# one of them twice, lead with the same one.
MOOD_PRECEDENCE: tuple[str, ...] = ("romantic", "nostalgic", "epic", "dark", "energetic", "happy", "relaxed",
                                    "sad", "melancholic", "dramatic", "joyful", "bright", "calm")


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
    # extensions and added tones are played as the chord they extend (the generator's chords are triads and
    # sevenths): C6 and Cadd9 as C, Am9 as Am7, E9/E13/E7#9 as E7, Cmaj9 as Cmaj7, C5 (a power chord) as C
    "6": "maj", "69": "maj", "add9": "maj", "add2": "maj", "add4": "maj", "add11": "maj", "5": "maj", "Maj": "maj",
    "m6": "min", "min6": "min", "m69": "min", "madd9": "min", "madd2": "min", "mM7": "min", "m(maj7)": "min",
    "mmaj7": "min", "minmaj7": "min",
    "9": "7", "11": "7", "13": "7", "7b9": "7", "7#9": "7", "7#11": "7", "7b13": "7", "7b5": "7", "7#5": "aug",
    "9sus4": "sus4", "7sus4": "sus4", "7sus2": "sus2", "7sus": "sus4", "sus2sus4": "sus4", "dom9": "7", "dom": "7",
    "m9": "min7", "m11": "min7", "m13": "min7", "min9": "min7", "min11": "min7", "mi9": "min7", "-9": "min7",
    "maj9": "maj7", "maj11": "maj7", "maj13": "maj7", "M9": "maj7", "Maj7": "maj7", "Maj9": "maj7", "Δ9": "maj7",
    "maj7#11": "maj7", "aug7": "aug", "+7": "aug", "dim9": "dim7", "m7(b5)": "hdim7", "ø9": "hdim7",
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


# The 128 General MIDI program names ("Acoustic Grand Piano", ...), spelled as miditok lists them (and so as the
# lake's features and captions name them); written out so that importing the vocabulary does not import miditok.
GM_NAMES: tuple[str, ...] = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano", "Electric Piano 1",
    "Electric Piano 2", "Harpsichord", "Clavi", "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba",
    "Xylophone", "Tubular Bells", "Dulcimer", "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ",
    "Reed Organ", "Accordion", "Harmonica", "Tango Accordion", "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)",
    "Electric Guitar (jazz)", "Electric Guitar (clean)", "Electric Guitar (muted)", "Overdriven Guitar",
    "Distortion Guitar", "Guitar Harmonics", "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)",
    "Fretless Bass", "Slap Bass 1", "Slap Bass 2", "Synth Bass 1", "Synth Bass 2", "Violin", "Viola", "Cello",
    "Contrabass", "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani", "String Ensembles 1",
    "String Ensembles 2", "SynthStrings 1", "SynthStrings 2", "Choir Aahs", "Voice Oohs", "Synth Voice",
    "Orchestra Hit", "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section", "Synth Brass 1",
    "Synth Brass 2", "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon",
    "Clarinet", "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)", "Lead 5 (charang)",
    "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)", "Pad 1 (new age)", "Pad 2 (warm)",
    "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)", "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)",
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)", "FX 6 (goblins)",
    "FX 7 (echoes)", "FX 8 (sci-fi)", "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bag pipe", "Fiddle",
    "Shanai", "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom", "Synth Drum",
    "Reverse Cymbal", "Guitar Fret Noise, Guitar Cutting Noise", "Breath Noise, Flute Key Click",
    "Seashore, Rain, Thunder, Wind, Stream, Bubbles", "Bird Tweet, Dog, Horse Gallop",
    "Telephone Ring, Door Creaking, Door, Scratch, Wind Chime", "Helicopter, Car Sounds",
    "Applause, Laughing, Screaming, Punch, Heart Beat, Footstep", "Gunshot, Machine Gun, Lasergun, Explosion",
)


def _gm_names() -> tuple[str, ...]:
    return GM_NAMES


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


# == the understanding vocabulary (training.understanding reads it; nothing else needs to) ===================
# -- every General MIDI program by name, with synonyms in English and Chinese ----------------------------
# program -> (canonical name for a program INSTRUMENTS has no name for, English synonyms, Chinese names).
# The GM names themselves (``_gm_names``, "Electric Bass (finger)") and their spellings without the
# parentheses ("electric bass finger") are added by ``_gm_word_variants``; these are what people write.
_GM_TABLE: dict[int, tuple[str | None, tuple[str, ...], tuple[str, ...]]] = {
    0: (None, ("acoustic piano", "concert grand", "grand piano", "upright piano"), ("钢琴", "大钢琴", "三角钢琴", "原声钢琴", "立式钢琴")),
    1: ("bright piano", ("bright acoustic piano",), ("明亮钢琴", "亮音钢琴")),
    2: ("electric grand piano", ("electric grand", "cp-70"), ("电大钢琴", "电子大钢琴")),
    3: ("honky-tonk piano", ("honky tonk piano", "honkytonk piano", "saloon piano", "bar piano"), ("酒吧钢琴", "走音钢琴")),
    4: (None, ("electric piano 1", "e-piano", "rhodes", "fender rhodes", "epiano", "ep"), ("电钢琴", "电钢", "罗德")),
    5: ("electric piano 2", ("fm piano", "dx7 piano", "chorused piano", "wurlitzer", "wurli"), ("电钢琴2", "调频电钢琴")),
    6: (None, (), ("羽管键琴", "大键琴", "拨弦古钢琴")),
    7: ("clavinet", ("clavi", "clav"), ("击弦古钢琴", "克拉维")),
    8: (None, (), ("钢片琴", "celesta钢片琴")),
    9: (None, ("glock",), ("钟琴", "钢琴片")),
    10: (None, (), ("八音盒", "音乐盒")),
    11: (None, ("vibes", "vibraphones"), ("颤音琴", "电颤琴")),
    12: (None, (), ("马林巴", "马林巴琴")),
    13: (None, (), ("木琴",)),
    14: ("tubular bells", ("chimes", "tubular bell", "orchestral bells", "church bells", "bells"), ("管钟", "钟声", "排钟")),
    15: ("dulcimer", ("hammered dulcimer", "santur", "yangqin", "cimbalom"), ("扬琴", "洋琴", "德西马琴")),
    16: (None, ("drawbar organ", "hammond", "hammond organ", "b3 organ", "jazz organ"), ("电风琴", "哈蒙德风琴", "电子琴")),
    17: ("percussive organ", ("percussion organ",), ("打击风琴", "敲击风琴")),
    18: ("rock organ", (), ("摇滚风琴",)),
    19: (None, ("church organ", "pipe organ", "cathedral organ"), ("风琴", "管风琴", "教堂风琴")),
    20: ("reed organ", ("harmonium", "pump organ"), ("簧风琴", "脚踏风琴", "簧片风琴")),
    21: (None, ("accordian", "squeezebox"), ("手风琴",)),
    22: (None, ("blues harp", "mouth organ"), ("口琴",)),
    23: ("tango accordion", ("bandoneon", "bandoneón", "tango accordian"), ("探戈手风琴", "班多钮手风琴", "班多钮")),
    24: (None, ("acoustic guitar nylon", "nylon guitar", "nylon-string guitar", "nylon string guitar", "classical guitar",
                "spanish guitar", "flamenco guitar", "ukelele", "uke"),
         ("尤克里里", "古典吉他", "尼龙弦吉他", "尼龙吉他", "弗拉门戈吉他")),
    25: (None, ("acoustic guitar steel", "steel-string guitar", "steel string guitar", "steel guitar", "guitar",
                "folk guitar", "strummed guitar", "fingerpicked guitar"),
         ("吉他", "木吉他", "原声吉他", "民谣吉他", "钢弦吉他")),
    26: ("jazz guitar", ("electric guitar jazz", "jazz electric guitar", "hollow-body guitar", "hollowbody guitar",
                         "archtop guitar"), ("爵士吉他", "爵士电吉他")),
    27: (None, ("electric guitar clean", "clean electric guitar", "clean guitar", "clean guitars"), ("电吉他", "清音吉他", "清音电吉他")),
    28: ("muted guitar", ("electric guitar muted", "muted electric guitar", "palm-muted guitar", "palm muted guitar"),
         ("闷音吉他", "制音吉他", "闷音电吉他")),
    29: ("overdriven guitar", ("overdrive guitar", "overdriven electric guitar", "crunchy guitar", "crunch guitar"),
         ("过载吉他", "过载电吉他", "破音吉他")),
    30: ("distortion guitar", ("distorted guitar", "distorted guitars", "distorted electric guitar", "distortion guitars",
                               "fuzz guitar", "heavy guitar", "metal guitar"), ("失真吉他", "失真电吉他", "重失真吉他")),
    31: ("guitar harmonics", ("harmonics guitar",), ("吉他泛音", "泛音吉他")),
    32: (None, ("upright bass", "double bass", "standing bass", "jazz bass"), ("低音提琴", "倍大提琴", "原声贝斯", "立式贝斯")),
    33: (None, ("electric bass finger", "finger bass", "fingered bass", "bass guitar", "bass", "electric bass guitar"),
         ("贝斯", "电贝斯", "低音吉他", "指弹贝斯")),
    34: ("picked bass", ("electric bass pick", "pick bass"), ("拨片贝斯",)),
    35: ("fretless bass", ("fretless electric bass",), ("无品贝斯", "无品电贝斯")),
    36: ("slap bass", ("slap bass 1", "slapped bass", "funk bass"), ("击勾贝斯", "拍击贝斯", "放克贝斯")),
    37: ("slap bass 2", (), ("击勾贝斯2",)),
    38: (None, ("synth bass 1", "synthesizer bass", "bass synth", "808 bass", "sub bass", "moog bass"),
         ("合成贝斯", "合成器贝斯", "电子贝斯", "低音合成器")),
    39: ("synth bass 2", (), ("合成贝斯2",)),
    40: (None, ("violins", "solo violin"), ("小提琴",)),
    41: (None, (), ("中提琴",)),
    42: (None, ("violoncello", "cellos"), ("大提琴",)),
    43: ("contrabass", ("bowed bass", "arco bass", "contrabasses"), ("倍低音提琴", "低音大提琴")),
    44: ("tremolo strings", ("string tremolo",), ("颤弓弦乐", "震音弦乐")),
    45: ("pizzicato strings", ("pizzicato", "plucked strings"), ("拨奏弦乐", "拨弦", "弦乐拨奏")),
    46: (None, ("orchestral harp", "concert harp"), ("竖琴",)),
    47: (None, ("kettle drums", "kettledrums", "kettle drum"), ("定音鼓",)),
    48: (None, ("string ensembles 1", "string ensemble 1", "strings", "string", "string section", "string orchestra",
                "orchestral strings"), ("弦乐", "弦乐团", "弦乐合奏", "弦乐组", "弦乐队")),
    49: ("slow strings", ("string ensembles 2", "string ensemble 2", "slow string ensemble"), ("慢弦乐", "弦乐合奏2")),
    50: ("synth strings", ("synthstrings 1", "synth strings 1", "synthesizer strings", "string synth", "string machine"),
         ("合成弦乐", "合成器弦乐")),
    51: ("synth strings 2", ("synthstrings 2",), ("合成弦乐2",)),
    52: (None, ("choir aahs", "choir", "chorus", "choral", "aahs", "vocals", "vocal", "voices", "singing", "singer"),
         ("合唱", "合唱团", "人声", "唱诗班", "歌声")),
    53: ("voice oohs", ("oohs", "ooh vocals", "humming", "vocal oohs"), ("人声哼鸣", "哼唱", "哼鸣")),
    54: ("synth voice", ("synth choir", "synthesized voice", "synth vocal", "synth vox", "vocoder"),
         ("人声合成", "合成人声", "合成合唱")),
    55: ("orchestra hit", ("orchestral hit", "orch hit", "stab"), ("管弦乐齐奏", "管弦打击", "乐队齐奏")),
    56: (None, ("trumpets",), ("小号",)),
    57: (None, ("trombones",), ("长号",)),
    58: (None, ("tubas",), ("大号", "低音大号")),
    59: ("muted trumpet", ("harmon mute trumpet", "mute trumpet"), ("弱音小号", "加弱音器小号")),
    60: (None, ("horn", "horns", "french horns"), ("圆号", "法国号")),
    61: ("brass section", ("brass", "brass ensemble", "horn section", "brass band"), ("铜管", "铜管乐", "铜管组", "铜管乐队")),
    62: ("synth brass", ("synth brass 1", "synthesizer brass", "brass synth"), ("合成铜管",)),
    63: ("synth brass 2", (), ("合成铜管2",)),
    64: ("soprano sax", ("soprano saxophone",), ("高音萨克斯", "高音萨克斯管")),
    65: (None, ("alto sax", "alto saxophone", "sax", "saxophones"), ("萨克斯", "中音萨克斯", "萨克斯管", "萨克斯风")),
    66: ("tenor sax", ("tenor saxophone",), ("次中音萨克斯", "次中音萨克斯管")),
    67: ("baritone sax", ("baritone saxophone", "bari sax"), ("上低音萨克斯", "上低音萨克斯管")),
    68: (None, ("oboes",), ("双簧管",)),
    69: ("english horn", ("cor anglais",), ("英国管",)),
    70: (None, (), ("巴松", "巴松管", "大管")),
    71: (None, ("clarinets",), ("单簧管", "黑管")),
    72: (None, (), ("短笛",)),
    73: (None, ("flutes", "concert flute"), ("长笛",)),
    74: (None, ("recorders",), ("竖笛", "直笛", "木笛")),
    75: ("pan flute", ("panflute", "pan pipes", "panpipes", "pan pipe"), ("排箫", "潘笛")),
    76: ("blown bottle", ("bottle", "bottle blow"), ("吹瓶", "瓶子")),
    77: (None, ("shakuhachi", "bamboo flute", "chinese flute", "xiao"), ("笛子", "竹笛", "尺八", "箫", "洞箫")),
    78: ("whistle", ("whistling", "tin whistle", "penny whistle"), ("口哨", "哨笛", "锡笛")),
    79: ("ocarina", (), ("陶笛", "奥卡利那笛")),
    80: (None, ("lead 1 square", "square lead", "square wave", "synthesizer", "synth", "synths", "synthesizer lead",
                "lead synth"), ("合成器", "合成器主音", "方波主音", "合成主音", "电子合成器")),
    81: ("sawtooth lead", ("lead 2 sawtooth", "saw lead", "sawtooth synth", "supersaw"), ("锯齿波主音", "锯齿波合成器")),
    82: ("calliope lead", ("lead 3 calliope", "calliope"), ("汽笛风琴主音",)),
    83: ("chiff lead", ("lead 4 chiff",), ("吹管主音",)),
    84: ("charang lead", ("lead 5 charang", "charang"), ("沙朗主音",)),
    85: ("voice lead", ("lead 6 voice", "vocal lead synth"), ("人声主音",)),
    86: ("fifths lead", ("lead 7 fifths", "fifths"), ("五度主音",)),
    87: ("bass and lead", ("lead 8 bass + lead", "bass + lead", "bass lead"), ("贝斯主音",)),
    88: (None, ("pad 1 new age", "new age pad", "pad", "pads", "synth pads", "synthesizer pad"),
         ("合成器音色铺底", "铺底", "合成铺底", "新世纪铺底", "合成器铺底", "合成垫音")),
    89: ("warm pad", ("pad 2 warm",), ("温暖铺底", "暖音铺底")),
    90: ("polysynth pad", ("pad 3 polysynth", "polysynth"), ("复音合成铺底", "复音合成器")),
    91: ("choir pad", ("pad 4 choir", "vocal pad"), ("合唱铺底", "人声铺底")),
    92: ("bowed pad", ("pad 5 bowed", "bowed glass"), ("弓弦铺底",)),
    93: ("metallic pad", ("pad 6 metallic",), ("金属铺底",)),
    94: ("halo pad", ("pad 7 halo",), ("光环铺底",)),
    95: ("sweep pad", ("pad 8 sweep",), ("扫频铺底",)),
    96: ("rain fx", ("fx 1 rain",), ("雨声音效",)),
    97: ("soundtrack fx", ("fx 2 soundtrack",), ("电影音效",)),
    98: ("crystal fx", ("fx 3 crystal", "crystal"), ("水晶音效",)),
    99: ("atmosphere fx", ("fx 4 atmosphere",), ("大气音效",)),
    100: ("brightness fx", ("fx 5 brightness",), ("明亮音效",)),
    101: ("goblins fx", ("fx 6 goblins", "goblins"), ("精灵音效",)),
    102: ("echoes fx", ("fx 7 echoes", "echo drops"), ("回声音效",)),
    103: ("sci-fi fx", ("fx 8 sci-fi", "sci-fi sound"), ("科幻音效",)),
    104: (None, ("sitars",), ("西塔琴", "锡塔尔琴")),
    105: (None, ("banjos",), ("班卓琴",)),
    106: (None, ("shamisen", "chinese lute"), ("琵琶", "三味线", "三弦")),
    107: (None, ("koto", "zither", "chinese zither", "guqin"), ("古筝", "筝", "古琴", "日本筝")),
    108: ("kalimba", ("thumb piano", "mbira"), ("卡林巴", "拇指琴")),
    109: ("bagpipe", ("bag pipe", "bagpipes", "highland pipes", "uilleann pipes"), ("风笛",)),
    110: (None, ("fiddle", "fiddles", "chinese fiddle", "huqin"), ("二胡", "胡琴", "京胡", "板胡", "提琴手")),
    111: ("shanai", ("shehnai", "suona"), ("唢呐", "萨奈管")),
    112: ("tinkle bell", ("tinkling bells", "sleigh bells"), ("铃铛", "叮当铃", "碰铃")),
    113: ("agogo", ("agogo bells", "cowbell"), ("阿哥哥铃", "牛铃")),
    114: ("steel drums", ("steel drum", "steelpan", "steel pan"), ("钢鼓",)),
    115: ("woodblock", ("wood block", "temple block"), ("木鱼", "木块")),
    116: ("taiko drum", ("taiko", "taiko drums", "war drums"), ("太鼓", "大鼓", "战鼓", "堂鼓")),
    117: ("melodic tom", ("melodic toms", "toms"), ("通鼓", "旋律通鼓")),
    118: ("synth drum", ("synth drums", "electronic drum", "electronic toms"), ("合成鼓", "电子鼓")),
    119: ("reverse cymbal", ("reversed cymbal", "cymbal swell"), ("反向镲", "倒放镲")),
    120: ("guitar fret noise", ("fret noise",), ("吉他擦弦声", "擦弦声")),
    121: ("breath noise", ("breath",), ("呼吸声",)),
    122: ("seashore", ("ocean waves", "sea waves"), ("海浪声",)),  # 海浪 alone is the sea's waves, as "waves" is
    123: ("bird tweet", ("birdsong", "birds", "bird song"), ("鸟鸣", "鸟叫")),
    124: ("telephone ring", ("phone ring", "telephone"), ("电话铃声",)),
    125: ("helicopter", (), ("直升机",)),
    126: ("applause", ("clapping",), ("掌声", "鼓掌声")),
    127: ("gunshot", ("gun shot", "gunfire"), ("枪声",)),
}
# The drum kit (MIDI channel 10): its words. "鼓" alone names the kit, but not inside 鼓舞, 鼓励 ...
DRUM_WORDS = ("drums", "drum", "drum kit", "drumkit", "drum set", "drumset", "percussion", "beat", "beats",
              "brushes", "brushed drums", "standard drum kit", "standard drum set", "drum machine", "808", "909",
              "hi-hat", "hi-hats", "snare", "kick drum", "kick", "breakbeat", "groove",
              "架子鼓", "鼓点", "鼓组", "打击乐", "鼓", "爵士鼓", "电子鼓组", "鼓机", "军鼓", "底鼓", "踩镲", "节拍")
DRUM_NOT = ("鼓舞", "鼓励", "鼓掌", "鼓起", "鼓动", "鼓吹", "鼓浪")  # 鼓 in these is no drum


def _gm_word_variants(name: str) -> list[str]:
    """A GM name as people write it: "Electric Bass (finger)" -> "electric bass (finger)", "electric bass finger"."""
    low = name.lower()
    first = low.split(",")[0].strip()  # "seashore, rain, thunder" names its program by the first word
    plain = re.sub(r"\s+", " ", re.sub(r"[()]", " ", first)).strip()
    return list(dict.fromkeys(w for w in (low, first, plain) if w))


def _extend_instruments() -> None:
    """Canonical names for the programs :data:`INSTRUMENTS` leaves out, and every word of :data:`_GM_TABLE`."""
    for program, (canonical, _, _) in _GM_TABLE.items():
        if canonical and program not in _NAME_OF_PROGRAM:
            INSTRUMENTS[canonical] = program
            _NAME_OF_PROGRAM[program] = canonical
    gm_names = _gm_names()
    for program, (_, english, chinese) in _GM_TABLE.items():
        name = _NAME_OF_PROGRAM[program]
        for word in (name, *_gm_word_variants(gm_names[program]), *english, *chinese):
            INSTRUMENT_WORDS.setdefault(word.lower(), name)
    for word in DRUM_WORDS:
        INSTRUMENT_WORDS.setdefault(word, "drums")
    for word in _NOT_INSTRUMENT_WORDS:  # words too common in prompts to name an instrument on their own
        INSTRUMENT_WORDS.pop(word, None)


# "lo-fi beats" is a style, "the chorus" a song part, "birds singing" a picture: none of them asks for a track.
_NOT_INSTRUMENT_WORDS = ("beat", "beats", "singing", "singer", "voices", "vocal", "vocals", "chorus", "stab", "breath",
                         "birds", "crystal", "fifths", "bottle", "groove", "kick", "telephone", "goblins", "ep", "瓶子",
                         "节拍", "自然")


_extend_instruments()


def instrument_family(program: int) -> str:
    """The GM family of a program in English: piano, chromatic percussion, organ, guitar, bass, strings,
    ensemble, brass, reed, pipe, synth lead, synth pad, synth effects, ethnic, percussive, sound effects; drums."""
    if program < 0:
        return "drums"
    return GM_FAMILIES[program // 8]


GM_FAMILIES = ("piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass", "reed",
               "pipe", "synth lead", "synth pad", "synth effects", "ethnic", "percussive", "sound effects")


@functools.lru_cache(maxsize=None)
def program_range(program: int) -> tuple[int, int]:
    """The MIDI pitches a GM program can sound (its instrument's playable range, as miditok lists it)."""
    if program < 0:
        return (35, 81)
    from miditok.constants import MIDI_INSTRUMENTS
    r = MIDI_INSTRUMENTS[int(program)]["pitch_range"]
    return (r.start, r.stop - 1)


# -- tempo words and their ranges ---------------------------------------------------------------------------
# word -> (lowest, highest BPM, the BPM a prompt naming only the word gets). The nine markings MidiCaps tags
# a piece with cover the lake's tempo bins exactly (TEMPO_BIN_EDGES: Grave < 40, Largo 40-60, Adagio 60-70,
# Andante 70-90, Moderato 90-110, Allegro 110-140, Vivace 140-160, Presto 160-210, Prestissimo >= 210), so a
# caption's marking and the piece's measured bin agree; other markings get their textbook ranges, and the
# plain words the MidiCaps captions use get the ranges the MidiCaps pipeline tags them with (below).
def _bin_range(i: int) -> tuple[float, float, float]:
    edges = (20,) + TEMPO_BIN_EDGES + (240,)
    return (float(edges[i]), float(edges[i + 1]) - 1, bin_center(i))


TEMPO_TERMS: dict[str, tuple[float, float, float]] = {
    **{word: _bin_range(i) for i, word in enumerate(TEMPO_WORDS)},
    **{TEMPO_ZH[word]: _bin_range(i) for i, word in enumerate(TEMPO_WORDS)},
    "larghissimo": (20, 39, 30), "lento": (45, 59, 52), "larghetto": (60, 69, 65), "adagietto": (66, 79, 72),
    "andantino": (78, 95, 86), "allegretto": (100, 119, 110), "allegro moderato": (105, 124, 116),
    "vivacissimo": (160, 190, 172), "allegrissimo": (160, 190, 172), "presto assai": (180, 209, 192),
    "最缓板": (20, 39, 30), "慢板": (45, 59, 52), "小广板": (60, 69, 65), "小柔板": (66, 79, 72), "小行板": (78, 95, 86),
    "小快板": (100, 119, 110), "中快板": (105, 124, 116),
    # plain words. MidiCaps's own four (AMAAI-Lab/MidiCaps pipeline.py, the captioning pipeline of Melechovsky et
    # al. 2024: marks (80, 120, 160) over the rounded BPM) are Slow <= 80, Moderate tempo 81-120, Fast 121-160,
    # Very fast > 160; the words near them follow them. A word alone gets a tempo well inside one tempo bin (slow
    # 72, moderate 100, fast 130, very fast 176; not 70 or 140, the bins' edges). (Its Italian markings use the
    # lake's bins, each closed on the right there: 60 BPM is Largo to MidiCaps and Adagio to tempo_bin; they
    # differ at the integer edges only.)
    "very slow": (40, 59, 50), "extremely slow": (20, 45, 36), "slow": (40, 80, 72), "slowly": (40, 80, 72),
    "slow tempo": (40, 80, 72), "slow-paced": (40, 80, 72), "leisurely": (70, 89, 80), "unhurried": (60, 89, 72),
    "moderate": (81, 120, 100), "moderate tempo": (81, 120, 100), "moderately": (81, 120, 100),
    "medium tempo": (81, 120, 100), "mid-tempo": (81, 120, 100), "midtempo": (81, 120, 100),
    "medium-paced": (81, 120, 100), "moderate pace": (81, 120, 100), "steady tempo": (81, 120, 100),
    "upbeat": (110, 139, 120), "uptempo": (110, 139, 128), "up-tempo": (110, 139, 128), "brisk": (110, 159, 132),
    "fast": (121, 160, 130), "quick": (121, 160, 130), "fast-paced": (121, 160, 130), "fast tempo": (121, 160, 130),
    "rapid": (140, 209, 170), "very fast": (161, 240, 176), "extremely fast": (210, 240, 220),
    "blistering": (180, 240, 200), "breakneck": (180, 240, 200), "frantic": (160, 240, 190),
    "非常慢": (40, 59, 50), "极慢": (20, 45, 36), "慢速": (40, 80, 72), "缓慢": (40, 80, 72), "慢节奏": (40, 80, 72),
    "慢悠悠": (60, 89, 72), "中速": (81, 120, 100), "中等速度": (81, 120, 100), "中等节奏": (81, 120, 100),
    "中慢速": (72, 95, 84), "中快速": (110, 129, 118), "快速": (121, 160, 130), "快节奏": (121, 160, 130),
    "节奏快": (121, 160, 130), "急速": (161, 240, 176), "非常快": (161, 240, 176), "极快": (210, 240, 220),
}
# "grave" alone means serious in an English prompt; it names a tempo only beside "tempo"/"pace" ("a Grave tempo").
TEMPO_AMBIGUOUS = ("grave", "moderate", "moderately", "lento")

# -- meters: dance forms and counts -------------------------------------------------------------------------
# Words that imply a time signature (dance forms, "in three"); a numeral "3/4" is stated, these are implied.
METER_WORDS: dict[str, str] = {
    "waltz": "3/4", "valse": "3/4", "minuet": "3/4", "menuet": "3/4", "mazurka": "3/4", "polonaise": "3/4",
    "sarabande": "3/4", "bolero": "3/4", "ländler": "3/4", "landler": "3/4", "in three": "3/4", "triple meter": "3/4",
    "triple time": "3/4", "three-four": "3/4", "three four time": "3/4", "3 beats per bar": "3/4",
    "march": "2/4", "polka": "2/4", "galop": "2/4", "two-step": "2/4", "in two": "2/4", "duple meter": "2/4",
    "jig": "6/8", "tarantella": "6/8", "barcarolle": "6/8", "siciliana": "6/8", "gigue": "6/8", "compound duple": "6/8",
    "six-eight": "6/8", "slip jig": "9/8", "twelve-eight": "12/8", "slow blues": "12/8", "doo-wop ballad": "12/8",
    "reel": "4/4", "hornpipe": "4/4", "in four": "4/4", "common time": "4/4", "four-on-the-floor": "4/4",
    "five-four": "5/4", "in five": "5/4", "in seven": "7/8",
    "圆舞曲": "3/4", "华尔兹": "3/4", "三拍子": "3/4", "小步舞曲": "3/4", "玛祖卡": "3/4", "波莱罗": "3/4",
    "进行曲": "2/4", "波尔卡": "2/4", "二拍子": "2/4", "吉格舞": "6/8", "塔兰泰拉": "6/8", "船歌": "6/8",
    "四拍子": "4/4", "六拍子": "6/8", "五拍子": "5/4", "七拍子": "7/8",
}
# Chinese time signatures written as words: "四四拍" is 4/4, "四三拍" 3/4, "八六拍" 6/8 (the denominator first).
METER_ZH = {"四四拍": "4/4", "四二拍": "2/4", "四三拍": "3/4", "八六拍": "6/8", "八十二拍": "12/8", "八九拍": "9/8",
            "四五拍": "5/4", "八七拍": "7/8", "二二拍": "2/2"}

# -- genres and moods of the MidiCaps captions, both languages -------------------------------------------------
# The MidiCaps genre tags (the MTG-Jamendo genre set its captions draw from) and their usual Chinese names ->
# the product style each falls under. A tag missing from STYLE_WORDS is added to its style's words.
GENRE_STYLE: dict[str, str] = {
    "acidjazz": "jazz", "orchestra": "classical", "philharmonic": "classical", "管弦乐团": "classical",
    "交响乐团": "classical", "acid jazz": "jazz",
    "alternative": "rock", "alternative rock": "rock", "alternativerock": "rock", "ambient": "ambient",
    "atmospheric": "ambient", "blues": "jazz", "bossanova": "jazz", "bossa nova": "jazz", "breakbeat": "electronic",
    "celtic": "folk", "chanson": "folk", "chillout": "electronic", "classical": "classical", "classic rock": "rock",
    "classicrock": "rock", "club": "electronic", "contemporary": "classical", "country": "folk", "dance": "electronic",
    "darkambient": "ambient", "dark ambient": "ambient", "darkwave": "electronic", "deephouse": "electronic",
    "deep house": "electronic", "disco": "pop", "downtempo": "electronic", "drumnbass": "electronic",
    "drum and bass": "electronic", "drum n bass": "electronic", "dub": "electronic", "dubstep": "electronic",
    "easylistening": "pop", "easy listening": "pop", "edm": "electronic", "electronic": "electronic",
    "electronica": "electronic", "electropop": "electronic", "ethno": "folk", "eurodance": "electronic",
    "experimental": "other", "folk": "folk", "funk": "pop", "fusion": "jazz", "groove": "pop", "grunge": "rock",
    "hard rock": "rock", "hardrock": "rock", "hiphop": "pop", "hip hop": "pop", "house": "electronic",
    "idm": "electronic", "improvisation": "jazz", "indie": "rock", "indie rock": "rock", "industrial": "electronic",
    "instrumentalpop": "pop", "instrumental pop": "pop", "instrumentalrock": "rock", "instrumental rock": "rock",
    "jazz": "jazz", "jazzfusion": "jazz", "jazz fusion": "jazz", "latin": "pop", "lounge": "jazz",
    "medieval": "folk", "metal": "rock", "heavy metal": "rock", "minimal": "electronic", "newage": "ambient",
    "new age": "ambient", "newwave": "pop", "new wave": "pop", "orchestral": "film", "pop": "pop", "popfolk": "folk",
    "pop folk": "folk", "poprock": "rock", "pop rock": "rock", "postrock": "rock", "post-rock": "rock",
    "progressive": "rock", "progressive rock": "rock", "psychedelic": "rock", "punkrock": "rock", "punk rock": "rock",
    "punk": "rock", "rap": "pop", "reggae": "pop", "rnb": "pop", "r&b": "pop", "rock": "rock", "rocknroll": "rock",
    "rock and roll": "rock", "rock 'n' roll": "rock", "singersongwriter": "folk", "singer-songwriter": "folk",
    "soul": "pop", "soundtrack": "film", "swing": "jazz", "symphonic": "classical", "synthpop": "electronic",
    "techno": "electronic", "trance": "electronic", "triphop": "electronic", "trip hop": "electronic",
    "trip-hop": "electronic", "world": "folk", "worldfusion": "folk", "world music": "folk", "gospel": "pop",
    "christmas": "pop", "children": "pop", "video game": "film", "chiptune": "electronic", "ragtime": "jazz",
    "baroque": "classical", "opera": "classical", "儿歌": "pop", "圣诞": "pop", "童谣": "pop", "行走贝斯": "jazz",
    "walking bass line": "jazz",
    "放克": "pop", "灵魂乐": "pop", "雷鬼": "pop", "迪斯科": "pop", "拉丁": "pop", "福音": "pop", "新浪潮": "pop",
    "另类摇滚": "rock", "独立摇滚": "rock", "硬摇滚": "rock", "后摇": "rock", "前卫摇滚": "rock", "迷幻摇滚": "rock",
    "朋克摇滚": "rock", "流行摇滚": "rock", "独立音乐": "rock", "电子舞曲": "electronic", "舞曲": "electronic",
    "浩室舞曲": "electronic", "迷幻舞曲": "electronic", "鼓打贝斯": "electronic", "回响贝斯": "electronic",
    "工业": "electronic", "极简": "electronic", "合成器流行": "electronic", "暗黑氛围": "ambient",
    "世界音乐": "folk", "凯尔特": "folk", "中世纪": "folk", "香颂": "folk", "融合爵士": "jazz", "酸爵士": "jazz",
    "管弦乐": "film", "原声带": "film", "交响乐": "classical", "当代古典": "classical",
    "mariachi": "folk", "墨西哥流浪乐队": "folk", "马里亚奇": "folk", "沙发音乐": "jazz", "蓝草": "folk", "tango": "folk", "探戈": "folk",
    "神游舞曲": "electronic", "synth pop": "electronic",
    # an "indie" genre is its noun's style ("indie folk" is folk, as 独立民谣 is), not indie rock
    "indie folk": "folk", "indie pop": "pop", "indie electronic": "electronic", "独立民谣": "folk", "独立流行": "pop",
}
# The mood a style has when the prompt names none (a word for the style, none for the mood): what the zero-shot
# guess was asked for before; the guess was right 5 times in 26 on the second batch of development prompts, this
# 14 times (and a Chinese prompt and its English translation now agree).
# The tradition an instrument names when nothing else names a style (GM programs): decided the same way for a
# prompt and its translation, where the zero-shot guess reads English better than Chinese.
INSTRUMENT_STYLE: dict[int, str] = {
    **{p: "classical" for p in (6, 8, 14, 41, 42, 46, 47, 48, 49, 60, 68, 69, 70, 71, 72)},  # harpsichord .. strings
    **{p: "folk" for p in (21, 22, 23, 75, 78, 79, 104, 105, 106, 107, 108, 109, 110, 111, 77, 76)},
    **{p: "jazz" for p in (11, 26, 32, 64, 65, 66, 67, 59)},  # vibraphone, jazz guitar, upright bass, saxes
    **{p: "rock" for p in (29, 30)},  # overdriven, distortion guitar
    **{p: "electronic" for p in (*range(80, 88), 38, 39)},  # synth leads, synth basses
    **{p: "ambient" for p in (*range(88, 96), 99)},  # pads, atmosphere
}
# The style a piece of a mood most often has, for a prompt that names a mood but no style (and the zero-shot
# guess is no better than a coin, as for Chinese prompts): sad and romantic songs are pop ballads, dark and
# epic cues film, calm pieces ambient.
MOOD_STYLE = {"relaxed": "jazz", "calm": "ambient", "bright": "pop", "happy": "pop", "joyful": "folk",
              "energetic": "electronic", "sad": "pop", "melancholic": "pop", "dark": "film", "dramatic": "film",
              "romantic": "pop", "epic": "film", "nostalgic": "folk"}
STYLE_MOOD = {"classical": "calm", "folk": "happy", "jazz": "relaxed", "pop": "happy", "rock": "energetic",
              "electronic": "energetic", "ambient": "calm", "film": "epic"}
# The MidiCaps mood/theme tags (MTG-Jamendo) and their Chinese names -> the MOODS name each means; None: a
# theme that names no mood ("documentary", "background").
MOOD_TAGS: dict[str, str | None] = {
    "action": "energetic", "adventure": "epic", "advertising": "bright", "background": None, "ballad": "romantic",
    "calm": "calm", "children": "happy", "christmas": "joyful", "commercial": "bright", "cool": "relaxed",
    "corporate": "bright", "dark": "dark", "deep": "calm", "documentary": None, "drama": "dramatic",
    "dramatic": "dramatic", "dream": "romantic", "emotional": "melancholic", "energetic": "energetic",
    "epic": "epic", "fast": None, "film": None, "fun": "happy", "funny": "happy", "game": None,
    "groovy": "relaxed", "happy": "happy", "heavy": "dark", "holiday": "joyful", "hopeful": "bright",
    "inspiring": "bright", "love": "romantic", "meditative": "calm", "melancholic": "melancholic",
    "melodic": "bright", "motivational": "bright", "movie": None, "nature": "calm", "party": "energetic",
    "positive": "happy", "powerful": "energetic", "relaxing": "relaxed", "retro": "nostalgic", "romantic": "romantic",
    "sad": "sad", "sexy": "romantic", "slow": None, "soft": "calm", "soundscape": "calm", "space": "calm",
    "sport": "energetic", "summer": "happy", "trailer": "epic", "travel": "happy", "upbeat": "happy",
    "uplifting": "happy", "light": "happy", "lighthearted": "happy", "light-hearted": "happy", "breezy": "happy",
    "bouncy": "happy", "lively": "happy", "spirited": "happy", "bubbly": "happy", "sunny": "bright",
    "inspirational": "bright", "motivating": "bright", "triumphant": "epic", "somber": "sad", "sombre": "sad",
    "gloomy": "sad", "depressing": "sad", "haunting": "dark", "sinister": "dark", "menacing": "dark",
    "suspenseful": "dark", "aggressive": "energetic", "angry": "energetic", "intimate": "romantic",
    "sentimental": "melancholic", "reflective": "melancholic", "introspective": "melancholic",
    "contemplative": "calm", "pensive": "melancholic", "serious": "dramatic", "solemn": "epic",
    "grand": "epic", "playful": "happy",
    "轻快": "happy", "欢快的": "joyful", "轻盈": "happy", "活泼": "happy", "跳跃": "happy", "明快": "happy",
    "旅行": "happy", "夏日": "happy", "夏天": "happy", "童趣": "happy", "儿童": "happy", "有趣": "happy",
    "积极": "happy", "正能量": "happy", "振奋": "happy", "励志": "bright", "鼓舞人心": "bright", "温暖": "bright",
    "希望": "bright", "治愈": "calm", "深沉": "calm", "自然": "calm", "大自然": "calm", "柔美": "calm",
    "动作": "energetic", "冒险": "epic", "广告": "bright", "商业": "bright", "圣诞": "joyful", "假日": "joyful",
    "酷": "relaxed", "律动": "relaxed", "戏剧": "dramatic", "梦境": "romantic", "情感": "melancholic",
    "动情": "melancholic", "有力": "energetic", "力量": "energetic", "性感": "romantic", "太空感": "calm",
    "体育": "energetic", "预告": "epic", "沉重": "dark", "阴暗": "dark", "压抑": "dark", "愤怒": "energetic",
    "庄严": "epic", "肃穆": "epic", "深情": "romantic", "抒情": "romantic", "感伤": "sad", "凄凉": "sad",
    "忧伤的": "sad", "沉思": "melancholic", "宏伟": "epic", "雄壮": "epic", "有点忧伤": "sad",
    # everyday Chinese words from the third batch of development prompts (dev_prompts.yaml), English alike
    "丧": "sad", "岁月静好": "calm", "欢脱": "joyful", "豪迈": "epic", "元气": "energetic", "炸裂": "energetic",
    "幽怨": "sad", "苍凉": "melancholic", "诙谐": "happy", "搞怪": "happy", "放空": "relaxed", "疯狂": "energetic",
    "低沉": "dark", "唯美": "romantic", "悲凉": "sad", "释然": "calm", "昂扬": "energetic", "坚定": "epic",
    "勇敢": "epic", "潇洒": "relaxed", "雀跃": "joyful", "调皮": "happy", "沉静": "calm", "平和": "calm",
    "悲痛": "sad", "痛苦": "sad", "绝望": "dark", "暴躁": "energetic", "狂暴": "energetic", "凶猛": "energetic",
    "威严": "epic", "恢弘": "epic", "虔诚": "calm", "冰冷": "dark", "孤寂": "melancholic", "迷茫": "melancholic",
    "随性": "relaxed", "松弛": "relaxed", "佛系": "relaxed", "bleak": "sad", "desolate": "melancholic",
    "brave": "epic", "resolute": "epic", "furious": "energetic", "icy": "dark", "lonesome": "melancholic",
    "goofy": "happy", "quirky": "happy", "zen": "calm", "despair": "dark", "hopeless": "dark",
    "anxious": "dramatic", "frantic": "energetic",
    # more everyday words, both languages
    "开朗": "happy", "热闹": "joyful", "喧闹": "joyful", "欢腾": "joyful", "喜气": "joyful", "愉悦": "happy",
    "兴奋": "energetic", "燃": "energetic", "嗨": "energetic", "躁动": "energetic", "激动": "energetic",
    "热情": "energetic", "朝气": "energetic", "安详": "calm", "静谧": "calm", "恬静": "calm", "轻柔": "calm",
    "飘渺": "calm", "空旷": "calm", "悠扬": "calm", "伤心": "sad", "失恋": "sad", "眼泪": "sad", "哭泣": "sad",
    "寂寞": "sad", "孤单": "sad", "落寞": "sad", "凄美": "melancholic", "感动": "melancholic", "怀念": "nostalgic",
    "追忆": "nostalgic", "往事": "nostalgic", "老歌": "nostalgic", "恐惧": "dark", "惊悚": "dark", "暗黑": "dark",
    "紧迫": "dark", "压迫": "dark", "壮阔": "epic", "气势": "epic", "霸气": "epic", "神圣": "epic", "甜美": "romantic",
    "暧昧": "romantic", "温情": "romantic", "心动": "romantic", "柔情": "romantic", "闲适": "relaxed",
    "舒服": "relaxed", "清新": "bright", "明媚": "bright",
    "bittersweet": "melancholic", "heartfelt": "romantic", "yearning": "melancholic", "longing": "melancholic",
    "triumph": "epic", "cheery": "happy", "jolly": "joyful", "euphoric": "joyful", "blissful": "happy",
    "dreamlike": "romantic", "hypnotic": "calm", "serenity": "calm", "creepy": "dark", "anthemic": "epic",
    "rousing": "epic", "fierce": "energetic", "rebellious": "energetic", "loneliness": "sad", "soulful": "romantic",
    "sensual": "romantic", "victorious": "epic", "adventurous": "epic", "funky": "happy", "gentle breeze": "calm",
    "delicate": "calm", "hazy": "calm", "shimmering": "calm", "朦胧": "calm", "细腻": "calm", "lament": "sad",
    "哀歌": "sad", "催泪": "sad", "tearjerker": "sad", "tear-jerker": "sad", "胜利": "epic", "victory": "epic",
    "充满能量": "energetic", "能量": "energetic", "阴郁": "sad", "异想天开": "happy", "moody": "melancholic",
    # translations the seventh session found missing on development pairs (paired_prompts.yaml, dev)
    "苦乐参半": "melancholic", "萦绕心头": "dark", "dancing": "energetic", "跳舞": "energetic",
    # the usual Chinese translations of English mood words the table reads, where the Chinese was missing
    "顽皮": "happy", "好玩": "happy", "无忧无虑": "happy", "搞笑": "happy", "快活": "joyful", "欢欣": "joyful",
    "狂喜": "joyful", "强劲": "energetic", "刺激": "energetic", "激进": "energetic", "猛烈": "energetic",
    "阴沉": "sad", "含泪": "sad", "泪水": "sad", "怅然": "melancholic", "多愁善感": "melancholic", "沉郁": "melancholic",
    "荒凉": "melancholic", "不祥": "dark", "吓人": "dark", "可怕": "dark", "邪恶": "dark", "毛骨悚然": "dark",
    "动荡": "dramatic", "汹涌": "dramatic", "焦虑": "dramatic", "严肃": "dramatic", "亲密": "romantic",
    "真挚": "romantic", "雄伟": "epic",
}

# -- what a style implies: instruments for a genre tag that says more than the style ------------------------
# A genre word that implies a band: metal -> distortion guitar, electric bass, drums. Values are INSTRUMENTS names.
GENRE_INSTRUMENTS: dict[str, tuple[str, ...]] = {
    "metal": ("distortion guitar", "electric bass", "drums"), "heavy metal": ("distortion guitar", "electric bass", "drums"),
    "thrash": ("distortion guitar", "electric bass", "drums"), "hard rock": ("overdriven guitar", "electric bass", "drums"),
    "grunge": ("overdriven guitar", "electric bass", "drums"), "punk": ("distortion guitar", "electric bass", "drums"),
    "punk rock": ("distortion guitar", "electric bass", "drums"), "重金属": ("distortion guitar", "electric bass", "drums"),
    "金属": ("distortion guitar", "electric bass", "drums"), "朋克": ("distortion guitar", "electric bass", "drums"),
    "硬摇滚": ("overdriven guitar", "electric bass", "drums"),
    "funk": ("slap bass", "clavinet", "electric guitar", "drums"), "放克": ("slap bass", "clavinet", "electric guitar", "drums"),
    "bossa nova": ("ukulele", "acoustic bass", "drums", "flute"), "波萨诺瓦": ("ukulele", "acoustic bass", "drums", "flute"),
    "tango": ("tango accordion", "violin", "piano", "acoustic bass"), "探戈": ("tango accordion", "violin", "piano", "acoustic bass"),
    "blues": ("electric guitar", "harmonica", "electric bass", "drums"), "蓝调": ("electric guitar", "harmonica", "electric bass", "drums"),
    "country": ("acoustic guitar", "banjo", "erhu", "acoustic bass"), "乡村": ("acoustic guitar", "banjo", "erhu", "acoustic bass"),
    "bluegrass": ("banjo", "acoustic guitar", "erhu", "acoustic bass"),
    "celtic": ("erhu", "whistle", "acoustic guitar", "bagpipe"), "凯尔特": ("erhu", "whistle", "acoustic guitar", "bagpipe"),
    "big band": ("trumpet", "saxophone", "trombone", "piano", "acoustic bass", "drums"),
    "swing": ("saxophone", "trumpet", "piano", "acoustic bass", "drums"),
    "reggae": ("electric guitar", "electric bass", "electric organ", "drums"),
    "disco": ("string ensemble", "slap bass", "electric guitar", "drums"),
    "synthwave": ("sawtooth lead", "synth pad", "synth bass", "drums"), "techno": ("synth lead", "synth bass", "drums"),
    "house": ("electric piano", "synth bass", "synth pad", "drums"), "trance": ("sawtooth lead", "synth pad", "synth bass", "drums"),
    "chiptune": ("synth lead", "synth bass", "drums"), "8-bit": ("synth lead", "synth bass", "drums"),
    "orchestral": ("string ensemble", "french horn", "trumpet", "timpani"), "symphonic": ("string ensemble", "french horn", "flute", "timpani"),
    "string quartet": ("violin", "viola", "cello"), "弦乐四重奏": ("violin", "viola", "cello"),
    "church": ("organ", "choir"), "gospel": ("organ", "piano", "choir", "electric bass", "drums"),
    "中国风": ("guzheng", "dizi", "erhu", "piano"), "国风": ("guzheng", "dizi", "erhu", "string ensemble"),
    "古风": ("guzheng", "dizi", "pipa", "string ensemble"), "chinese": ("guzheng", "dizi", "erhu"),
    "lo-fi": ("electric piano", "electric bass", "drums"), "lofi": ("electric piano", "electric bass", "drums"),
    "低保真": ("electric piano", "electric bass", "drums"),
    "piano trio": ("piano", "acoustic bass", "drums"), "钢琴三重奏": ("piano", "acoustic bass", "drums"),
    "acoustic": ("acoustic guitar", "piano", "acoustic bass"), "unplugged": ("acoustic guitar", "piano", "acoustic bass"),
    "科技舞曲": ("synth lead", "synth bass", "drums"), "浩室": ("electric piano", "synth bass", "synth pad", "drums"),
    "浩室舞曲": ("electric piano", "synth bass", "synth pad", "drums"),
    "迷幻舞曲": ("sawtooth lead", "synth pad", "synth bass", "drums"),
    "合成器浪潮": ("sawtooth lead", "synth pad", "synth bass", "drums"), "芯片音乐": ("synth lead", "synth bass", "drums"),
    "8位": ("synth lead", "synth bass", "drums"), "大乐队": ("trumpet", "saxophone", "trombone", "piano", "acoustic bass", "drums"),
    "摇摆乐": ("saxophone", "trumpet", "piano", "acoustic bass", "drums"), "雷鬼": ("electric guitar", "electric bass", "electric organ", "drums"),
    "迪斯科": ("string ensemble", "slap bass", "electric guitar", "drums"), "管弦": ("string ensemble", "french horn", "trumpet", "timpani"),
    "交响": ("string ensemble", "french horn", "flute", "timpani"), "教堂": ("organ", "choir"),
    # the whole words (管弦乐 "orchestral", 交响乐 "symphonic"), which a genre inside them ("管弦") cannot stand for
    "管弦乐": ("string ensemble", "french horn", "trumpet", "timpani"),
    "交响乐": ("string ensemble", "french horn", "flute", "timpani"),
    "福音": ("organ", "piano", "choir", "electric bass", "drums"), "蓝草": ("banjo", "acoustic guitar", "erhu", "acoustic bass"),
    "原声": ("acoustic guitar", "piano", "acoustic bass"), "不插电": ("acoustic guitar", "piano", "acoustic bass"),
}
# Implied tempo per genre word (BPM) where a genre says more than its style's default.
GENRE_BPM: dict[str, float] = {
    "metal": 150, "heavy metal": 150, "thrash": 180, "punk": 170, "punk rock": 170, "drum and bass": 174, "dnb": 174,
    "drumnbass": 174, "dubstep": 140, "techno": 130, "house": 124, "deep house": 122, "trance": 138, "hip hop": 90,
    "hiphop": 90, "rap": 90, "trap": 140, "reggae": 76, "bossa nova": 128, "ballad": 72, "lo-fi": 80, "lofi": 80,
    "downtempo": 90, "trip hop": 88, "triphop": 88, "disco": 118, "funk": 108, "swing": 160, "bebop": 200,
    "march": 112, "waltz": 150, "polka": 120, "jig": 120, "reel": 115, "tango": 120, "blues": 84, "slow blues": 66,
    "lullaby": 66, "nocturne": 66, "requiem": 60, "chillout": 95, "synthwave": 100, "chiptune": 150,
    "重金属": 150, "金属": 150, "朋克": 170, "嘻哈": 90, "说唱": 90, "雷鬼": 76, "蓝调": 84, "摇篮曲": 66, "夜曲": 66,
    "情歌": 72, "进行曲": 112, "华尔兹": 150, "圆舞曲": 150, "低保真": 80, "探戈": 120,
    "love song": 72, "抒情曲": 72, "抒情歌": 72, "抒情歌曲": 72, "波萨诺瓦": 128, "科技舞曲": 130, "浩室": 124, "浩室舞曲": 124, "迷幻舞曲": 138, "回响贝斯": 140,
    "鼓打贝斯": 174, "陷阱": 140, "迪斯科": 118, "放克": 108, "摇摆": 160, "摇摆乐": 160, "咆勃": 200,
    "波尔卡": 120, "吉格舞": 120, "安魂曲": 60, "合成器浪潮": 100, "芯片音乐": 150, "慢板蓝调": 66,
    # music to fall asleep to is slow whatever mood word comes with it ("relaxing sleep music")
    "sleep": 66, "falling asleep": 66, "bedtime": 66, "助眠": 66, "睡前": 66, "入睡": 66,
}

# -- keys people choose: a prior over tonics per style and mode -------------------------------------------------
# Weights over PITCH_CLASSES (C C# D Eb E F F# G Ab A Bb B), per style: guitar keys for rock, folk and pop
# (E, A, D, G, C major; E, A, B minor), flat keys for jazz and brass (F, Bb, Eb, Ab), the common concert keys for
# classical and film, minor keys around A, F, C, D, G for electronic and ambient. Probability of minor per style:
# how often pieces of that style are in minor (lower for pop and folk, higher for electronic, film, ambient).
KEY_PRIOR: dict[str, dict[str, tuple[int, ...]]] = {
    "classical": {"major": (6, 1, 6, 5, 3, 5, 1, 6, 3, 5, 4, 1), "minor": (5, 2, 6, 1, 4, 4, 2, 5, 1, 6, 2, 3)},
    "folk": {"major": (6, 0, 7, 1, 4, 3, 1, 8, 1, 6, 2, 1), "minor": (2, 1, 6, 0, 6, 1, 2, 3, 0, 8, 0, 4)},
    "jazz": {"major": (6, 1, 3, 6, 2, 8, 1, 5, 5, 2, 8, 1), "minor": (5, 1, 6, 1, 2, 5, 1, 5, 1, 4, 2, 1)},
    "pop": {"major": (8, 2, 6, 4, 5, 5, 2, 7, 3, 6, 4, 2), "minor": (5, 4, 3, 2, 4, 4, 3, 3, 2, 8, 2, 4)},
    "rock": {"major": (4, 1, 7, 2, 8, 2, 1, 7, 1, 8, 1, 2), "minor": (2, 4, 5, 1, 8, 1, 3, 3, 1, 8, 1, 4)},
    "electronic": {"major": (6, 3, 3, 4, 3, 6, 3, 5, 5, 4, 4, 2), "minor": (6, 5, 5, 4, 4, 7, 5, 6, 3, 8, 3, 3)},
    "ambient": {"major": (7, 2, 5, 5, 3, 6, 2, 5, 4, 4, 4, 2), "minor": (5, 5, 7, 3, 5, 4, 3, 4, 2, 6, 2, 3)},
    "film": {"major": (5, 1, 6, 5, 2, 5, 1, 5, 3, 4, 5, 1), "minor": (6, 3, 8, 3, 4, 4, 2, 5, 2, 5, 2, 2)},
    "other": {"major": (5, 2, 4, 3, 3, 4, 2, 4, 3, 4, 3, 2), "minor": (4, 3, 4, 3, 3, 3, 3, 3, 3, 4, 3, 3)},
}
MINOR_SHARE: dict[str, float] = {"classical": 0.35, "folk": 0.3, "jazz": 0.3, "pop": 0.3, "rock": 0.35,
                                 "electronic": 0.55, "ambient": 0.45, "film": 0.55, "other": 0.4}

# -- named progressions ------------------------------------------------------------------------------------------
# Progressions people name instead of spelling out; (major-key numerals, minor-key numerals or None).
NAMED_PROGRESSIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "canon progression": (("I", "V", "vi", "iii", "IV", "I", "IV", "V"), None),
    "pachelbel": (("I", "V", "vi", "iii", "IV", "I", "IV", "V"), None),
    "卡农进行": (("I", "V", "vi", "iii", "IV", "I", "IV", "V"), None),
    "axis progression": (("I", "V", "vi", "IV"), None), "four chord": (("I", "V", "vi", "IV"), None),
    "four-chord": (("I", "V", "vi", "IV"), None), "四和弦": (("I", "V", "vi", "IV"), None),
    "50s progression": (("I", "vi", "IV", "V"), None), "doo-wop progression": (("I", "vi", "IV", "V"), None),
    "ii-v-i": (("ii7", "V7", "Imaj7"), ("iiø7", "V7", "i7")), "two-five-one": (("ii7", "V7", "Imaj7"), ("iiø7", "V7", "i7")),
    "251": (("ii7", "V7", "Imaj7"), ("iiø7", "V7", "i7")),
    "12-bar blues": (("I7", "I7", "I7", "I7", "IV7", "IV7", "I7", "I7", "V7", "IV7", "I7", "V7"), None),
    "twelve-bar blues": (("I7", "I7", "I7", "I7", "IV7", "IV7", "I7", "I7", "V7", "IV7", "I7", "V7"), None),
    "十二小节布鲁斯": (("I7", "I7", "I7", "I7", "IV7", "IV7", "I7", "I7", "V7", "IV7", "I7", "V7"), None),
    "andalusian cadence": (("vi", "V", "IV", "III"), ("i", "VII", "VI", "V")),
    "安达卢西亚终止": (("vi", "V", "IV", "III"), ("i", "VII", "VI", "V")),
    "royal road": (("IV", "V", "iii", "vi"), None), "王道进行": (("IV", "V", "iii", "vi"), None),
    "小情歌进行": (("I", "vi", "IV", "V"), None), "1645": (("I", "vi", "IV", "V"), None),
    "4536251": (("IV", "V", "iii", "vi", "ii", "V", "I"), None), "1564": (("I", "V", "vi", "IV"), None),
}

# Scenes and genres that imply a mood when no mood word is written (source "inferred"): a campfire singalong is
# happy, music for studying calm, a festival set energetic. Values are MOODS names.
IMPLIED_MOOD: dict[str, str] = {
    "campfire": "happy", "singalong": "happy", "sing-along": "happy", "jig": "happy", "reel": "happy",
    "polka": "happy", "hoedown": "happy", "chiptune": "happy", "8-bit": "happy", "cartoon": "happy",
    "children": "happy", "kids": "happy", "summer": "happy", "beach": "relaxed", "sunset": "romantic",
    "bossa nova": "relaxed", "lo-fi": "relaxed", "lofi": "relaxed", "studying": "calm", "study": "calm",
    "focus": "calm", "reading": "calm", "sleep": "calm", "falling asleep": "calm", "lullaby": "calm",
    "bedtime": "calm", "meditation": "calm", "spa": "relaxed", "yoga": "calm", "going home": "nostalgic",
    "hometown": "nostalgic", "village": "nostalgic", "childhood": "nostalgic", "anthem": "energetic",
    "stadium": "energetic", "festival": "energetic", "punk": "energetic", "pop-punk": "energetic",
    "metal": "energetic", "thrash": "energetic", "edm": "energetic", "club": "energetic", "workout": "energetic",
    "gym": "energetic", "race": "energetic", "chase": "dramatic", "battle": "epic", "trailer": "epic",
    "swing": "joyful", "dance hall": "joyful", "ballroom": "romantic", "wedding": "romantic", "funeral": "sad",
    "rainy day": "melancholic", "autumn": "melancholic", "winter night": "melancholic", "horror": "dark",
    "冬夜": "melancholic", "ghost story": "dark", "ghosts": "dark", "ghost": "dark", "鬼故事": "dark", "鬼魂": "dark",
    "幽灵": "dark", "storm": "dramatic", "thunderstorm": "dramatic", "暴风雨": "dramatic", "风暴": "dramatic",
    "舞会": "joyful", "打歌": "energetic", "朋克": "energetic", "摇滚现场": "energetic", "音乐节": "energetic",
    "学习": "calm", "专注": "calm", "读书": "calm", "睡前": "calm", "助眠": "calm", "摇篮曲": "calm", "冥想": "calm",
    "篝火": "happy", "海滩": "relaxed", "日落": "romantic", "夕阳": "romantic", "故乡": "nostalgic", "家乡": "nostalgic",
    "童年": "nostalgic", "婚礼": "romantic", "葬礼": "sad", "秋天": "melancholic", "健身": "energetic",
    "跑步": "energetic", "夜店": "energetic", "蹦迪": "energetic", "战斗": "epic", "追逐": "dramatic", "儿歌": "happy",
    "童谣": "happy", "卡通": "happy", "旅行": "happy", "低保真": "relaxed", "重金属": "energetic", "金属": "energetic",
    "波萨诺瓦": "relaxed", "科技舞曲": "energetic", "电子舞曲": "energetic", "摇摆乐": "joyful", "派对": "energetic",
    "吉格舞": "happy", "波尔卡": "happy", "雨夜": "melancholic", "rainy night": "melancholic",
    "techno": "energetic", "trance": "energetic", "迷幻舞曲": "energetic",
    "heavy metal": "energetic", "hard rock": "energetic", "emo": "melancholic", "screaming": "energetic", "halloween": "dark", "fiesta": "joyful", "mariachi": "joyful",
    "coding": "calm", "boss fight": "epic", "fight": "energetic", "fighting": "energetic", "trip-hop": "melancholic",
    "trip hop": "melancholic", "神游舞曲": "melancholic", "slow jam": "romantic", "打斗": "energetic", "春节": "joyful",
    "新年": "joyful", "庙会": "joyful", "8位": "happy", "万圣节": "dark",
    # scenes from a fourth batch of Chinese development prompts, English alike
    "失眠": "calm", "insomnia": "calm", "sleepless": "calm", "思乡": "nostalgic", "homesick": "nostalgic",
    "游子": "nostalgic", "漂泊": "melancholic", "wanderer": "melancholic", "出征": "epic", "战鼓": "epic",
    "war drums": "epic", "野餐": "happy", "picnic": "happy", "除夕": "joyful", "鞭炮": "joyful",
    "firecrackers": "joyful", "new year's eve": "joyful", "侦探": "dark", "detective": "dark", "团圆": "joyful",
    "reunion": "joyful", "丰收": "joyful", "harvest": "joyful", "挽歌": "sad", "elegy": "sad", "dirge": "sad",
    "告白": "romantic", "confession": "romantic", "初恋": "romantic", "first love": "romantic",
    # the same scene in the other language (found with the development translation pairs)
    "morning": "bright", "sunrise": "bright", "日出": "bright", "村庄": "nostalgic", "战场": "epic",
    "battlefield": "epic", "骑士": "epic", "knight": "epic", "late night": "melancholic",
    # scenes and genres found in the second batch of development prompts (training/understanding/dev_prompts.yaml)
    "spring": "bright", "spring morning": "bright", "春天": "bright", "春日": "bright", "早晨": "bright",
    "road trip": "happy", "公路旅行": "happy", "自驾": "happy", "birthday": "happy", "生日": "happy",
    "surf": "happy", "冲浪": "happy", "ragtime": "happy", "saloon": "happy", "拉格泰姆": "happy",
    "bebop": "energetic", "咆勃": "energetic", "dubstep": "energetic", "回响贝斯": "energetic",
    "drum and bass": "energetic", "鼓打贝斯": "energetic", "racing": "energetic", "赛车": "energetic",
    "k-pop": "energetic", "girl group": "energetic", "boy band": "energetic", "女团": "energetic", "男团": "energetic",
    "韩流": "energetic", "vaporwave": "nostalgic", "蒸汽波": "nostalgic", "old shanghai": "nostalgic",
    "老上海": "nostalgic", "planetarium": "calm", "天文馆": "calm", "drifting": "calm", "漂浮": "calm",
    "漂流": "calm", "水疗": "relaxed",
    "floating": "calm", "forest": "calm", "森林": "calm", "wind chimes": "calm", "风铃": "calm", "haunted": "dark",
    "haunted house": "dark", "鬼屋": "dark", "闹鬼": "dark", "championship": "epic", "winning": "epic",
    "夺冠": "epic", "pirate": "epic", "pirates": "epic", "海盗": "epic", "country road": "relaxed",
    "乡村小路": "relaxed", "cathedral": "calm", "教堂": "calm",
    "毕业": "nostalgic", "毕业季": "nostalgic", "graduation": "nostalgic", "元宵": "joyful", "元宵节": "joyful",
    "深夜": "melancholic", "late at night": "melancholic", "追车": "dramatic", "car chase": "dramatic",
    "心跳加速": "energetic", "侠客": "epic", "运动会": "energetic", "想念": "melancholic", "有点丧": "sad",
    "很丧": "sad", "萌萌": "happy", "萌": "happy", "可爱": "happy", "cute": "happy", "起鸡皮疙瘩": "dark",
    "goosebumps": "dark",
    # from the scene development pairs (2026-12-08), both languages each
    "candlelit": "romantic", "candlelight": "romantic", "烛光": "romantic", "spy": "dark", "secret agent": "dark",
    "特工": "dark", "间谍": "dark", "prom": "romantic", "毕业舞会": "romantic", "slow dance": "romantic",
    "慢舞": "romantic", "summer vacation": "happy", "暑假": "happy", "雷雨": "dramatic", "雷暴": "dramatic",
    "night market": "joyful", "夜市": "joyful", "孩子": "happy", "小朋友": "happy", "儿童": "happy", "fireworks": "joyful", "烟花": "joyful", "late-night": "melancholic",
}

# Words that point to a style without naming it (scenes, places, eras, media), both languages; read after the
# style words themselves (a style word in the prompt wins), so they only decide prompts that name no style.
STYLE_HINTS: dict[str, str] = {
    # classical
    "concert hall": "classical", "royal court": "classical", "court dance": "classical", "ballroom": "classical",
    "aristocratic": "classical", "harpsichord": "classical", "chamber": "classical", "recital": "classical",
    "string orchestra": "classical", "piano sonata": "classical", "音乐厅": "classical", "宫廷": "classical",
    "贵族": "classical", "独奏会": "classical", "奏鸣": "classical", "协奏": "classical", "钢琴独奏": "classical",
    "管弦乐团": "classical", "交响乐团": "classical", "歌剧院": "classical", "芭蕾": "classical", "ballet": "classical",
    # folk
    "porch": "folk", "countryside": "folk", "village": "folk", "rural": "folk", "harvest": "folk", "tavern": "folk",
    "pub": "folk", "ballad singer": "folk", "mountain": "folk", "pastoral": "folk", "shepherd": "folk",
    "田园": "folk", "乡间": "folk", "山村": "folk", "村庄": "folk", "乡村小路": "folk", "吉他弹唱": "folk",
    "少数民族": "folk", "民族风": "folk", "藏族": "folk", "蒙古": "folk", "新疆": "folk", "西域": "folk",
    "丝绸之路": "folk", "茶馆": "folk", "渔歌": "folk", "小调歌曲": "folk", "山水": "folk", "水墨": "folk",
    "古镇": "folk", "故乡": "folk", "家乡": "folk", "牧场": "folk", "田野": "folk",
    # jazz
    "nightclub": "jazz", "lounge bar": "jazz", "piano bar": "jazz", "supper club": "jazz", "new orleans": "jazz",
    "harlem": "jazz", "saxophone solo": "jazz", "酒吧": "jazz", "夜总会": "jazz", "老上海": "jazz", "上海滩": "jazz",
    "复古舞厅": "jazz", "萨克斯独奏": "jazz", "摇摆舞": "jazz", "爵士乐": "jazz", "慵懒的夜晚": "jazz",
    # pop
    "chart": "pop", "charts": "pop", "pop song": "pop", "earworm": "pop", "karaoke": "pop", "teen": "pop",
    "主题曲": "pop", "偶像剧": "pop", "抖音": "pop", "网红": "pop", "流行歌": "pop", "榜单": "pop", "甜歌": "pop",
    "k歌": "pop", "唱歌": "pop", "副歌": "pop", "青春": "pop", "校园": "pop", "告白": "pop",
    # rock
    "power chords": "rock", "mosh": "rock", "moshpit": "rock", "amp": "rock", "amplifier": "rock", "riffs": "rock",
    "乐队现场": "rock", "吉他solo": "rock", "吉他独奏": "rock", "硬核": "rock", "车库": "rock",
    "地下乐队": "rock", "摇滚乐": "rock", "呐喊": "rock", "叛逆": "rock",
    # electronic
    "dj": "electronic", "dance floor": "electronic", "dancefloor": "electronic", "synthesizers": "electronic",
    "arpeggiator": "electronic", "sidechain": "electronic", "bass drop": "electronic", "warehouse": "electronic",
    "arcade": "electronic", "retro game": "electronic", "futuristic": "electronic", "sci-fi": "electronic",
    "电子乐": "electronic", "夜店": "electronic", "赛博": "electronic", "未来感": "electronic",
    "科技感": "electronic", "游戏厅": "electronic", "芯片音乐": "electronic", "8位": "electronic", "蹦迪": "electronic",
    "迪厅": "electronic", "电音节": "electronic", "合成器音乐": "electronic",
    # ambient
    "white noise": "ambient", "nature sounds": "ambient", "rainforest": "ambient", "starry": "ambient",
    "under the stars": "ambient", "山景": "folk",
    "deep sea": "ambient", "underwater": "ambient", "zen": "ambient", "mindfulness": "ambient", "calm space": "ambient",
    "rain sounds": "ambient", "sounds of rain": "ambient", "雨声": "ambient", "halloween": "film", "万圣节": "film",
    "mariachi": "folk", "chill hop": "electronic", "chillhop": "electronic", "唢呐": "folk", "扬琴": "folk",
    "锣鼓": "folk", "春节": "folk", "庙会": "folk", "马头琴": "folk", "sitar": "folk", "bagpipes": "folk",
    "bagpipe": "folk", "banjo": "folk", "koto": "folk", "shamisen": "folk", "shakuhachi": "folk", "kalimba": "folk",
    "白噪音": "ambient", "自然声": "ambient", "禅": "ambient", "星空": "ambient", "深海": "ambient", "海底": "ambient",
    "催眠": "ambient", "疗愈": "ambient", "治愈系": "ambient", "放空": "ambient", "发呆": "ambient",
    # film
    "documentary": "film", "epic battle": "film", "opening credits": "film", "end credits": "film", "cutscene": "film",
    "chase scene": "film", "montage": "film", "blockbuster": "film", "hero": "film", "villain": "film",
    "纪录片": "film", "大片": "film", "宣传片": "film", "片头": "film", "片尾": "film", "游戏配乐": "film",
    "仙侠": "film", "动作片": "film", "追逐戏": "film", "战争片": "film", "悬疑片": "film", "英雄": "film",
    "史诗大片": "film", "过场动画": "film", "魔幻": "film", "奇幻": "film",
    # from the second batch of development prompts
    "duet": "classical", "二重奏": "classical", "planetarium": "ambient", "天文馆": "ambient", "wind chimes": "ambient",
    "风铃": "ambient", "birthday": "pop", "生日": "pop", "sing along": "pop", "一起唱": "pop", "抒情": "pop",
    "慢歌": "pop", "biker": "rock", "fanfare": "film", "号角": "film", "pirate": "film", "海盗": "film",
    "冒险": "film", "公海": "film",
    "毕业季": "pop", "离别歌": "pop", "钢琴曲": "classical", "piano piece": "classical", "古装剧": "film",
    "古装": "film", "侠客": "film", "进行曲": "classical", "march": "classical", "游戏背景": "film", "背景音乐": "film",
    "氛围": "ambient", "元宵": "folk", "元宵节": "folk",
    # from the third batch of development prompts
    "圣咏": "classical", "chant": "classical", "信天游": "folk",
    # from the fourth batch
    "思乡": "folk", "homesick": "folk", "游子": "folk", "出征": "film", "战鼓": "film", "war drums": "film",
    "侦探": "jazz", "detective": "jazz", "挽歌": "classical", "elegy": "classical", "除夕": "folk", "鞭炮": "folk",
    "firecrackers": "folk", "失眠": "ambient", "insomnia": "ambient", "tea house": "folk", "teahouse": "folk",
    "hometown": "folk", "home town": "folk",
    "starry sky": "ambient", "群山": "folk", "山间": "folk", "高山": "folk", "knight": "film", "骑士": "film",
    "战场": "film", "battlefield": "film",
}


# -- topics: what a prompt is about, in words of either language -----------------------------------------------------
# A concept -> its English and Chinese words. The recommender seeds the key it draws for a prompt that names none
# with the concepts a prompt mentions (with the attributes), so "meditation music" and "a spaceship drifting
# through the void" (both calm ambient, alike in every attribute) draw different keys, while a sentence and its
# translation, naming the same concepts, draw the same one. A concept has words in both languages; Chinese words
# match anywhere, so single characters that sit inside unrelated words (海 in 上海, 风 in 风格, 夜 in 夜店, 雷 in
# 雷鬼, 火 in 火车) are avoided.
TOPICS: dict[str, tuple[str, ...]] = {
    "rain": ("rain", "rainy", "raindrop", "drizzle", "rainfall", "雨"),
    "sea": ("sea", "ocean", "waves", "seaside", "shore", "high seas", "harbor", "harbour", "港口", "码头", "大海", "海浪", "海边", "海洋", "海上", "公海",
            "海风", "海底", "深海"),
    "beach": ("beach", "sand", "sands", "海滩", "沙滩"),
    "night": ("night", "midnight", "nocturne", "nighttime", "late-night", "small hours", "夜晚", "凌晨", "夜市", "深夜", "午夜", "夜里", "夜色", "今夜", "夜曲", "冬夜",
              "雨夜", "夏夜", "月夜", "夜空", "夜深"),
    "morning": ("morning", "sunrise", "dawn", "daybreak", "早晨", "清晨", "早上", "日出", "黎明", "晨"),
    "afternoon": ("afternoon", "午后", "下午"),
    "evening": ("evening", "sunset", "dusk", "twilight", "日落", "夕阳", "黄昏", "傍晚"),
    "forest": ("forest", "woods", "woodland", "jungle", "森林", "树林", "丛林"),
    "mountain": ("mountain", "hills", "alps", "valley", "山景", "高山", "山间", "山谷", "群山", "山顶", "山里", "山中", "山歌"),
    "river": ("river", "stream", "creek", "lake", "pond", "河", "江边", "溪", "湖"),
    "city": ("city", "urban", "downtown", "streets", "street", "metropolis", "night market", "城市", "都市", "街头", "街道",
             "城里", "夜市"),
    "countryside": ("countryside", "village", "farm", "rural", "country road", "path", "trail", "村庄", "田野", "农场", "乡间", "小路"),
    "prairie": ("prairie", "grassland", "steppe", "desert", "cowboy", "wild west", "ranch", "草原", "沙漠", "牛仔",
                "西部"),
    "space": ("space", "spaceship", "galaxy", "cosmos", "universe", "void", "astronaut", "planetarium", "planet",
              "space station", "太空", "星球", "行星", "空间站",
              "宇宙", "银河", "星际", "天文馆", "飞船"),
    "stars": ("stars", "starry", "starlight", "星星", "星空", "繁星", "星光"),
    "moon": ("moon", "moonlight", "月球", "月亮", "月光", "明月", "月夜"),
    "sun": ("sun", "sunny", "sunshine", "sunlight", "阳光", "晴天", "太阳"),
    "sky": ("sky", "clouds", "cloud", "flying", "floating", "drifting", "天空", "白云", "云朵", "云端", "飞翔", "漂浮", "漂流", "飘"),
    "wind": ("wind", "breeze", "wind chimes", "微风", "清风", "风声", "风中", "风铃", "海风"),
    "storm": ("storm", "thunder", "thunderstorm", "暴风雨", "雷声", "雷雨", "风暴", "暴风"),
    "snow": ("snow", "snowy", "snowfall", "雪"),
    "spring": ("spring", "springtime", "春天", "春日", "春风", "春季"),
    "summer": ("summer", "summertime", "summer vacation", "summer holiday", "暑假", "夏天", "夏日", "盛夏", "夏季", "夏夜"),
    "autumn": ("autumn", "fall leaves", "秋天", "秋日", "秋季", "落叶"),
    "winter": ("winter", "冬天", "冬日", "冬季", "寒冬", "冬夜"),
    "garden": ("garden", "flowers", "flower", "blossom", "bloom", "cherry blossom", "樱花", "花园", "庭园", "庭院", "鲜花", "花朵", "花开"),
    "fire": ("campfire", "bonfire", "fireplace", "flames", "篝火", "营火", "火焰", "壁炉"),
    "love": ("love", "lover", "sweetheart", "love song", "girlfriend", "boyfriend", "女朋友", "男朋友", "爱情", "恋爱", "情歌", "恋人", "爱人"),
    "farewell": ("breakup", "heartbreak", "broken heart", "farewell", "goodbye", "parting", "lost love", "分手",
                 "失恋", "心碎", "告别", "离别", "再见"),
    "home": ("home", "hometown", "homecoming", "going home", "回家", "故乡", "家乡", "家园"),
    "journey": ("travel", "journey", "road trip", "adventure", "voyage", "long journey", "旅行", "旅途", "旅程", "冒险",
                "远航", "长途跋涉", "跋涉",
                "公路旅行", "自驾", "远方"),
    "driving": ("car", "highway", "racing", "drive", "driving", "开车", "驾驶", "兜风", "高速", "赛车", "飙车"),
    "train": ("train", "railway", "subway", "metro", "火车", "列车", "末班车", "地铁"),
    "dream": ("dream", "dreams", "dreaming", "dreamy", "梦"),
    "memory": ("memory", "memories", "childhood", "remember", "remembering", "recalling", "回忆", "童年", "记忆", "想念"),
    "party": ("party", "celebration", "fiesta", "carnival", "派对", "聚会", "庆祝", "狂欢", "嘉年华"),
    "birthday": ("birthday", "生日"),
    "festival": ("festival", "holiday", "new year", "lunar new year", "spring festival", "lantern festival",
                 "new year's eve", "fireworks", "除夕", "烟花", "焰火", "节日",
                 "新年", "春节", "过年", "元宵", "庙会"),
    "christmas": ("christmas", "xmas", "圣诞"),
    "wedding": ("wedding", "婚礼"),
    "funeral": ("funeral", "mourning", "葬礼", "悼念"),
    "club": ("club", "nightclub", "rave", "dance floor", "disco", "warehouse", "夜店", "蹦迪", "舞池", "迪斯科", "俱乐部"),
    "dance": ("dance", "dancing", "dancer", "跳舞", "舞蹈", "舞厅", "舞会", "舞曲"),
    "study": ("study", "studying", "focus", "concentration", "homework", "reading", "work", "office", "coding",
              "学习", "专注", "读书", "阅读", "工作", "作业", "办公", "下班", "上班"),
    "sleep": ("sleep", "asleep", "sleeping", "lullaby", "bedtime", "睡", "摇篮曲"),
    "meditation": ("meditation", "meditate", "yoga", "spa", "mindfulness", "冥想", "瑜伽", "静心", "禅", "水疗"),
    "sport": ("workout", "gym", "running", "jog", "jogging", "fitness", "exercise", "sports", "championship", "stadium",
              "健身", "晨练", "晨跑", "慢跑",
              "跑步", "运动", "锻炼", "夺冠", "体育", "球场"),
    "game": ("game", "video game", "arcade", "level", "boss fight", "游戏", "关卡"),
    "film": ("movie", "film", "trailer", "scene", "thriller", "惊悚片", "场景",
             "cinematic", "documentary", "cartoon", "animated", "电影", "预告片",
             "影视", "纪录片", "动画", "卡通", "动作片", "影片", "大片"),
    "battle": ("battle", "war", "fight", "fighting", "warrior", "hero", "heroes", "heroic", "knight", "战斗", "战争", "打斗",
               "英雄", "勇士", "侠客", "骑士", "boss战"),
    "chase": ("chase", "escape", "heist", "pursuit", "追逐", "逃亡", "追车", "抢劫"),
    "horror": ("horror", "haunted", "ghost", "halloween", "creepy", "spooky", "恐怖", "鬼魂", "幽灵", "万圣节", "闹鬼", "阴森", "鬼故事"),
    "cafe": ("cafe", "café", "coffee", "coffee shop", "brunch", "咖啡", "早午餐"),
    "bar": ("bar", "cocktail", "lounge", "pub", "saloon", "tavern", "酒吧", "酒馆", "鸡尾酒", "沙发音乐"),
    "church": ("church", "cathedral", "hymn", "prayer", "gospel", "sacred", "教堂", "圣歌", "祈祷", "福音", "赞美诗"),
    "court": ("royal", "court", "palace", "king", "queen", "castle", "aristocratic", "宫廷", "皇家", "宫殿", "城堡",
              "国王", "女王", "贵族"),
    "ship": ("ship", "sailor", "sailors", "sailing", "boat", "shanty", "pirate", "船", "水手", "航海", "海盗"),
    "children": ("kids", "children", "child", "baby", "nursery", "儿童", "孩子", "儿歌", "童谣", "小朋友", "宝宝",
                 "婴儿"),
    "school": ("school", "campus", "graduation", "prom", "学校", "校园", "毕业", "放学", "上学"),
    "ancient": ("ancient", "temple", "old masters", "medieval", "古代", "寺庙", "古老", "古装", "中世纪"),
    "future": ("cyberpunk", "robot", "futuristic", "future", "sci-fi", "neon", "tech", "赛博", "机器人", "未来", "科幻",
               "霓虹", "科技"),
    "advert": ("commercial", "advert", "advertisement", "jingle", "tiktok", "vlog", "product", "shopping", "mall",
               "广告", "短视频", "抖音", "商场", "购物"),
    "family": ("family", "mother", "father", "grandmother", "grandfather", "家人", "母亲", "妈妈", "父亲", "爸爸",
               "奶奶", "外婆", "爷爷"),
    "friends": ("friend", "friends", "friendship", "together", "everyone", "朋友", "友谊", "一起", "大家"),
    "alone": ("lonely", "alone", "solitude", "孤独", "寂寞", "独自", "一个人", "独行"),
    "hope": ("hope", "hopeful", "希望"),
    "victory": ("victory", "victorious", "triumph", "triumphant", "winning", "胜利", "凯旋"),
    "animals": ("dog", "cat", "bird", "birds", "horse", "狗", "猫", "鸟", "马儿", "骏马"),
    "concert": ("concert", "stadium", "gig", "演唱会", "现场"),
    "idol": ("boy band", "girl group", "k-pop", "idol", "偶像", "女团", "男团", "韩流"),
    "country_west": ("texas", "nashville", "appalachian", "porch", "陕北", "云南", "西北"),
    "ocean_deep": ("underwater", "deep ocean", "水下", "海底"),
    # added 2026-12-08 from the scene development pairs (scene_prompts.yaml), both languages each
    "dinner": ("dinner", "candlelit", "candlelight", "feast", "banquet", "晚餐", "烛光", "盛宴", "宴会", "晚宴"),
    "spy": ("spy", "secret agent", "espionage", "sneaking", "infiltrate", "特工", "间谍", "潜入"),
    "ceremony": ("ceremony", "award ceremony", "opening ceremony", "典礼", "仪式", "颁奖", "开幕式"),
    "tea": ("tea house", "teahouse", "tea", "茶馆", "茶楼", "茶室", "喝茶", "品茶", "茶园"),
}


# The English a concept of :data:`TOPICS` is glossed with, where its name is not the plain word (the zero-shot
# fallback reads a prompt's content in English, whichever language it was written in:
# training.understanding.gloss); every other concept is glossed with its own name.
TOPIC_GLOSS: dict[str, str] = {
    "sport": "workout", "advert": "commercial", "country_west": "country", "ocean_deep": "underwater",
    "court": "royal court", "fire": "campfire", "ship": "sailing", "future": "futuristic", "idol": "idol group",
    "film": "movie", "game": "video game", "club": "nightclub", "journey": "travel", "memory": "memories",
    "study": "studying", "children": "children", "prairie": "prairie", "stars": "stars",
}
# The style a concept of :data:`TOPICS` points to, where it points to one (a weather or a time of day does not):
# read when no style word, scene word or instrument names a style, before the zero-shot guess. A concept has
# words in both languages, so a sentence and its translation are pointed alike. Several concepts vote; a tie
# goes to the one written first here.
TOPIC_STYLE: dict[str, str] = {
    "club": "electronic", "future": "electronic", "sport": "electronic",
    "chase": "film", "battle": "film", "horror": "film", "film": "film", "game": "film", "victory": "film",
    "church": "classical", "court": "classical", "wedding": "classical", "funeral": "classical",
    "spy": "film", "ceremony": "film",
    "cafe": "jazz", "bar": "jazz", "dinner": "jazz",
    "tea": "folk",
    "ship": "folk", "prairie": "folk", "countryside": "folk", "country_west": "folk", "ancient": "folk",
    "mountain": "folk",
    "idol": "pop", "school": "pop", "love": "pop", "farewell": "pop", "party": "pop", "birthday": "pop",
    "children": "pop", "advert": "pop", "friends": "pop",
    "space": "ambient", "meditation": "ambient", "sleep": "ambient", "ocean_deep": "ambient", "stars": "ambient",
    "sea": "ambient",
}
# Chinese dance forms (:data:`METER_WORDS`) -> their English names, for the same gloss.
DANCE_GLOSS: dict[str, str] = {
    "圆舞曲": "waltz", "华尔兹": "waltz", "小步舞曲": "minuet", "玛祖卡": "mazurka", "波莱罗": "bolero",
    "进行曲": "march", "波尔卡": "polka", "吉格舞": "jig", "塔兰泰拉": "tarantella", "船歌": "barcarolle",
}

# -- collections and title forms: what search reads besides the features ------------------------------------------
# The lake's collections (the source of a piece, else the folder its URL sits in) -> (the style the collection
# is, its words in English, in Chinese). Irish tunes come from two books; one name covers both.
COLLECTION_OF_FOLDER = {"ryans-mammoth": "irish", "oneills-1850": "irish"}
COLLECTIONS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "pop909": ("pop", ("pop909", "chinese pop", "c-pop", "cpop", "mandopop", "pop song", "pop songs", "pop ballad"),
               ("华语流行", "流行歌曲", "流行歌", "华语歌曲", "国语流行")),
    "bach-chorales": ("classical", ("bach chorale", "bach chorales", "chorale", "chorales", "hymn", "hymns",
                                    "four-part harmony", "bach"), ("巴赫众赞歌", "众赞歌", "赞美诗", "圣咏", "四声部", "巴赫")),
    "essen-china": ("folk", ("chinese folk song", "chinese folk songs", "chinese folk", "chinese folk tune",
                             "chinese folk melody"), ("中国民歌", "民歌", "中国民谣", "中国民间", "民间小调")),
    "irish": ("folk", ("irish", "irish tune", "irish tunes", "irish folk", "celtic", "fiddle tune", "fiddle tunes"),
              ("爱尔兰", "凯尔特")),
    "classical": ("classical", ("mozart", "haydn", "beethoven", "string quartet", "quartet movement"),
                  ("莫扎特", "海顿", "贝多芬", "弦乐四重奏")),
    "ragtime": ("jazz", ("ragtime", "rag", "joplin"), ("拉格泰姆", "繁音拍子")),
    "lead-sheets": ("jazz", ("lead sheet", "jazz standard", "standards"), ("爵士标准曲", "标准曲")),
}
# Forms every piece of a collection is, whatever its title says.
COLLECTION_FORMS = {"bach-chorales": ("chorale",)}
# Forms a piece's title can name (an Irish "Jig", a "Chorale (BWV 330)") and the words that ask for them.
TITLE_FORMS: dict[str, tuple[str, ...]] = {
    "jig": ("jig", "jigs", "吉格", "吉格舞"), "reel": ("reel", "reels", "里尔舞"),
    "hornpipe": ("hornpipe", "hornpipes", "号笛舞"), "waltz": ("waltz", "waltzes", "圆舞曲", "华尔兹"),
    "march": ("march", "marches", "进行曲"), "polka": ("polka", "polkas", "波尔卡"),
    "minuet": ("minuet", "menuet", "minuets", "小步舞曲"), "chorale": ("chorale", "chorales", "众赞歌"),
    "air": ("air", "slow air", "咏叹调"), "fancy": ("fancy",), "set dance": ("set dance",),
    "strathspey": ("strathspey",), "lullaby": ("lullaby", "cradle song", "摇篮曲"),
}


def collection_of(source: str, url: str) -> str:
    """A piece's collection: its source where that names one (``pop909``), else the folder of its URL
    (``.../midi/bach-chorales/bwv276.mid`` -> ``bach-chorales``; the Irish books -> ``irish``)."""
    if source in COLLECTIONS:
        return source
    parts = [p for p in str(url).split("/") if p]
    folder = parts[-2] if len(parts) >= 2 else source
    return COLLECTION_OF_FOLDER.get(folder, folder)


def title_forms(title: str | None) -> list[str]:
    """The forms a title names, in :data:`TITLE_FORMS` order ("Judy McFadden's -- Jig" -> ["jig"])."""
    low = f" {str(title or '').lower()} "
    return [form for form in TITLE_FORMS if re.search(rf"(?<![a-z]){re.escape(form)}(?:e?s)?(?![a-z])", low)]


def instrument_zh(program: int) -> str | None:
    """A Chinese word that names exactly this GM program (reads back to it), else None."""
    if program < 0:
        return DRUMS_ZH
    name = _NAME_OF_PROGRAM.get(program)
    candidates = list(_GM_TABLE.get(program, (None, (), ()))[2]) + [w for w, n in INSTRUMENT_WORDS.items() if n == name]
    for word in candidates:
        if not word.isascii() and INSTRUMENT_WORDS.get(word) == name:
            return word
    return None
