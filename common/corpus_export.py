"""Pick pieces from music21's bundled corpus and export them to MIDI: the demo site's content.

The corpus is real music that nobody here wrote: Bach chorales with their German texts, Chinese
folk songs of the Essen collection, Irish dance tunes (O'Neill 1850, Ryan's Mammoth), a few
classical movements and two lead sheets. Selection is deterministic (fixed per-group order), so a
given ``limit`` always yields the same pieces; a piece that fails to export is skipped, logged and
replaced by the next one of its group.

The MIDI files carry the scores' own attributes, not music21's defaults (120 BPM, piano):

* **tempo** from the score's metronome marks (a displayed number, else MusicXML's sounding tempo,
  ABC ``Q:``), else a tempo word at the start (``Allegro``, ``Nicht schnell``, O'Neill's
  ``N:"Slow"``) mapped to a BPM inside that word's range; a score with neither gets a tempo
  *assigned* by rule from its collection, dance type (ABC ``R:``) or genre and meter. Picks inside a
  range are seeded by the piece, so a re-export writes the same bytes. :func:`piece_tempo`.
* **GM programs** from the part names (English, German, Italian), then the part's music21
  instrument, then a default per collection: sung parts are Choir Aahs (52), quartets violin /
  viola / cello, folk tunes a melodic instrument of their tradition. :func:`part_program`.

Both are written into the score before ``score.write("midi")`` and read back with symusic; a file
whose tempo or programs differ from what was intended is an export error. Docs: docs/features.md.
"""

from __future__ import annotations

import logging
import random
import re
import unicodedata
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from common.progress import Progress

log = logging.getLogger(__name__)

# Share of the site per group, in fill order: when a group runs out, the next ones take its place.
GROUP_SHARES = (("bach", 0.45), ("china", 0.20), ("irish", 0.20), ("classical", 0.10), ("songs", 0.05))
CLASSICAL_MAX_BYTES = 25_000  # bigger movements take many seconds each to export
EXPORT_WORKERS = 2
# Bump when a change here changes the exported bytes or the manifest: a site built by another
# version is rebuilt (common.score_site compares it). 1 (no marker): music21's defaults;
# 3: tempo and GM programs from the scores (2 was a draft of it).
EXPORT_VERSION = 3


@dataclass(frozen=True)
class Candidate:
    group: str
    corpus_path: str  # relative to music21's corpus root
    number: int | None  # tune number inside an ABC collection file
    slug: str  # unique across the whole site
    collection: str
    style: str
    language: str | None  # of the lyrics, when the piece has any
    title: str | None = None  # known title; else the score's metadata, else the lyrics' incipit
    default_title: str = "Untitled"  # when none of those exists
    suffix: str = ""  # appended to the title, e.g. " (BWV 10.7)"


def _corpus_root() -> Path:
    from music21 import corpus

    return Path(corpus.__file__).parent


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _tune_numbers(abc_file: Path) -> list[int]:
    return [int(m) for m in re.findall(r"^X:\s*(\d+)", abc_file.read_text(errors="replace"), flags=re.M)]


def _shuffled(items: list, group: str) -> list:
    random.Random(f"musiclake-site-{group}").shuffle(items)
    return items


def _bach(root: Path) -> list[Candidate]:
    from music21.corpus import chorales

    titles = chorales.ChoraleList().byBWV
    out = []
    for path in sorted((root / "bach").glob("bwv*.mxl")):
        bwv = path.stem[3:]
        known = titles.get(int(bwv)) if bwv.isdigit() else None
        out.append(Candidate("bach", f"bach/{path.name}", None, _slug(path.stem), "bach-chorales", "classical", "de",
                             title=known["title"] if known else None, default_title="Chorale",
                             suffix=f" (BWV {bwv})"))
    return _shuffled(out, "bach")


def _china(root: Path) -> list[Candidate]:
    out = []
    for name in ("han1", "han2"):
        for n in _tune_numbers(root / "essenFolksong" / f"{name}.abc"):
            out.append(Candidate("china", f"essenFolksong/{name}.abc", n, f"{name}-{n:03d}", "essen-china", "folk", None))
    return _shuffled(out, "china")


def _irish(root: Path) -> list[Candidate]:
    oneills, seen = [], set()
    for abc in sorted((root / "oneills1850").glob("*.abc")):
        for n in _tune_numbers(abc):
            if n not in seen:  # some files hold a second transcription of the same tunes
                seen.add(n)
                oneills.append(Candidate("irish", f"oneills1850/{abc.name}", n, f"oneills-{n:04d}", "oneills-1850",
                                         "folk", None))
    ryans = [Candidate("irish", f"ryansMammoth/{p.name}", None, "ryans-" + _slug(re.sub(r"(?<!^)(?=[A-Z])", " ", p.stem)),
                       "ryans-mammoth", "folk", None)
             for p in sorted((root / "ryansMammoth").glob("*.abc"))]
    _shuffled(oneills, "oneills")
    _shuffled(ryans, "ryans")
    mixed = [c for pair in zip(oneills, ryans) for c in pair]
    return mixed + oneills[len(ryans):] + ryans[len(oneills):]


_COMPOSERS = {"mozart": ("Mozart", None), "haydn": ("Haydn", None), "beethoven": ("Beethoven", None),
              "schumann_robert": ("Schumann", "de"), "handel": ("Handel", "it")}


def _classical(root: Path) -> list[Candidate]:
    out = []
    for folder, (composer, language) in _COMPOSERS.items():
        for path in sorted((root / folder).rglob("*.mxl")):
            if path.stat().st_size > CLASSICAL_MAX_BYTES:
                continue
            rel = path.relative_to(root).with_suffix("")
            work = ", ".join(re.sub(r"movement(\d)", r"movement \1", part.replace("_", " ")) for part in rel.parts[1:])
            work = re.sub(r"\bk(\d)", r"K\1", work)
            out.append((path.stat().st_size, Candidate("classical", str(path.relative_to(root)), None,
                                                       _slug(str(rel)), "classical", "classical", language,
                                                       title=f"{composer}: {work}")))
    return [c for _, c in sorted(out, key=lambda sc: (sc[0], sc[1].slug))]  # smallest (fastest) first


def _songs(root: Path) -> list[Candidate]:
    return [c for c in (
        Candidate("songs", "leadSheet/berlinAlexandersRagtime.mxl", None, "alexanders-ragtime-band", "lead-sheets",
                  "jazz", "en", title="Alexander's Ragtime Band"),
        Candidate("songs", "leadSheet/fosterBrownHair.mxl", None, "jeanie-with-the-light-brown-hair", "lead-sheets",
                  "pop", "en", title="Jeanie with the Light Brown Hair"),
        Candidate("songs", "joplin/maple_leaf_rag.mxl", None, "maple-leaf-rag", "ragtime", "jazz", None,
                  title="Maple Leaf Rag"),
    ) if (root / c.corpus_path).exists()]


def catalog() -> dict[str, list[Candidate]]:
    """Every candidate piece per group, in the deterministic order the site takes them."""
    root = _corpus_root()
    groups = {"bach": _bach(root), "china": _china(root), "irish": _irish(root),
              "classical": _classical(root), "songs": _songs(root)}
    slugs = [c.slug for cands in groups.values() for c in cands]
    if len(slugs) != len(set(slugs)):
        raise RuntimeError("corpus catalog: two candidates share a slug")
    return groups


def quotas(limit: int, available: dict[str, int]) -> dict[str, int]:
    """Pieces per group for ``limit`` (largest remainder), capped by what each group has."""
    raw = {g: limit * share for g, share in GROUP_SHARES}
    out = {g: int(v) for g, v in raw.items()}
    for g in sorted(raw, key=lambda g: raw[g] - out[g], reverse=True)[:limit - sum(out.values())]:
        out[g] += 1
    spare = 0
    for g in out:
        if out[g] > available.get(g, 0):
            spare += out[g] - available.get(g, 0)
            out[g] = available.get(g, 0)
    for g, _ in GROUP_SHARES:
        take = min(spare, available.get(g, 0) - out[g])
        out[g] += take
        spare -= take
    return out


# -- tempo --------------------------------------------------------------------------------------
# Tempo words and the BPM range of the beat each one stands for (beat = the meter's beat: a quarter
# in 2/4, 3/4, 4/4, a half in 2/2, a dotted quarter in 6/8). Italian after the usual metronome
# tables, German as Schumann writes them, English as O'Neill's collection writes them. Where two
# match, the longer phrase wins ("allegro molto" over "allegro", "sehr langsam" over "langsam").
TEMPO_WORDS: dict[str, tuple[int, int]] = {
    "grave": (32, 44), "largo": (42, 58), "larghetto": (60, 66), "lento": (48, 60), "adagio": (56, 72),
    "adagietto": (66, 76), "andante": (72, 96), "andante con moto": (84, 100), "andantino": (80, 104),
    "moderato": (96, 112), "allegretto": (100, 120), "allegro moderato": (112, 124),
    "allegro ma non troppo": (112, 132), "allegro": (120, 156), "allegro assai": (144, 168),
    "allegro molto": (144, 168), "molto allegro": (144, 168), "vivace": (156, 176), "vivacissimo": (172, 196),
    "presto": (168, 200), "prestissimo": (200, 220),
    "tempo di menuetto": (108, 132), "menuetto": (108, 132), "minuetto": (108, 132), "minuet": (108, 132),
    "tempo di marcia": (100, 120), "marcia": (100, 120), "march": (100, 120),
    "sehr langsam": (40, 52), "langsam": (52, 66), "nicht schnell": (66, 84), "ruhig": (60, 76),
    "massig": (84, 104), "bewegt": (104, 126), "lebhaft": (126, 152), "rasch": (144, 168),
    "schnell": (144, 176), "sehr schnell": (168, 200),
    "very slow": (40, 52), "slow": (56, 72), "mournful": (50, 64), "plaintive": (56, 70), "tenderly": (60, 72),
    "with feeling": (60, 76), "with expression": (60, 76), "moderate": (88, 108), "gracefully": (84, 104),
    "boldly": (96, 116), "cheerfully": (108, 126), "gaily": (112, 132), "spirited": (116, 138),
    "with spirit": (116, 138), "lively": (120, 144), "animated": (120, 144), "quick": (132, 160),
}

# Markings the published scores carry and these corpus files lack (movement headings only).
PUBLISHED_TEMPO = {
    "mozart/k80/movement1.mxl": "adagio", "mozart/k80/movement2.mxl": "allegro",
    "mozart/k80/movement3.mxl": "menuetto", "mozart/k155/movement1.mxl": "allegro",
    "mozart/k155/movement2.mxl": "andante", "mozart/k155/movement3.mxl": "molto allegro",
    "mozart/k458/movement2.mxl": "moderato", "mozart/k458/movement3.mxl": "adagio",
    "haydn/opus74no1/movement2.mxl": "andantino", "haydn/opus74no1/movement3.mxl": "allegro",
    "beethoven/opus18no1/movement3.mxl": "allegro molto",
}

# Assigned tempos, beat BPM ranges. Irish dances by the ABC R: field (beats as dancers count them:
# two per bar in reels and hornpipes, whatever the notation), Chinese songs by their Essen genre.
IRISH_DANCES = {  # rhythm: (low, high, beat) with beat "half-bar" or "meter"
    "reel": (96, 116, "half-bar"), "hornpipe": (72, 88, "half-bar"), "clog": (72, 88, "half-bar"),
    "strathspey": (60, 70, "half-bar"), "fling": (64, 76, "half-bar"), "polka": (120, 140, "half-bar"),
    "jig": (104, 124, "meter"), "slide": (120, 138, "meter"), "slip jig": (112, 130, "meter"),
    "waltz": (120, 150, "meter"), "march": (100, 120, "meter"), "air": (56, 76, "meter"),
}
# An O'Neill tune with neither R: field nor tempo word: compound and cut-time meters are dances
# (jig, slip jig, slide, reel), 2/4 a march, anything else an air (the untyped tunes are mostly airs).
IRISH_BY_METER = {"6/8": "jig", "9/8": "slip jig", "12/8": "slide", "2/2": "reel", "2/4": "march"}
CHINESE_GENRES = {  # Essen R: genre: (low, high) quarter BPM (the songs are notated in 2/4 with 1/16 notes)
    "shange": (56, 72),  # mountain song, sung freely
    "xiaodiao": (66, 88),  # ditty
    "haozi": (88, 112),  # work song, to the work's pace
    "wuge": (96, 120), "yangge": (96, 120),  # dance songs
    "erge": (96, 120),  # children's song
    "wiegenlied": (52, 64),  # lullaby
}
CHINESE_DEFAULT = (66, 92)
CHORALE = ((70, 90), (48, 60))  # a quarter beat, a half or dotted-quarter beat
DEFAULT_TEMPO = {"classical": (92, 112), "songs": (88, 112)}  # the meter's beat


@dataclass(frozen=True)
class Tempo:
    qpm: float  # quarter notes per minute: what the MIDI file carries
    source: str  # "marked" (from the score) or "assigned" (by rule)
    rule: str  # what it came from, for the manifest
    beat_bpm: float  # in the beat the rule speaks of
    beat: float  # that beat, in quarter notes


def fold(text: str) -> str:
    """Lowercase ASCII words: accents dropped, ß as ss, punctuation as spaces."""
    text = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ẞ", "ss"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^a-z0-9']+", " ", text).split())


def tempo_word(text: str | None) -> str | None:
    """The longest :data:`TEMPO_WORDS` phrase in ``text`` (whole words), or None."""
    folded = f" {fold(text or '')} "
    found = [w for w in TEMPO_WORDS if f" {w} " in folded]
    return max(found, key=len) if found else None


def _pick(lo: int, hi: int, seed: str) -> int:
    return random.Random(f"musiclake-tempo-{seed}").randint(lo, hi)


def _beat(ts) -> float:
    """The meter's beat in quarter notes (1 without a meter)."""
    return float(ts.beatDuration.quarterLength) if ts is not None else 1.0


def _half_bar(ts) -> float:
    """Half a bar in quarter notes: the beat of a dance counted in two (2/2 and 4/4: a half; 2/4: a quarter)."""
    return float(ts.barDuration.quarterLength) / 2 if ts is not None else 1.0


def _tempo(beat_bpm: float, beat: float, source: str, rule: str) -> Tempo:
    return Tempo(round(beat_bpm * beat, 3), source, rule, float(beat_bpm), beat)


def abc_header(path: Path, number: int | None) -> dict[str, list[str]]:
    """The header fields (up to K:) of tune ``number`` of an ABC file (the first tune when None)."""
    text = path.read_text(errors="replace")
    for block in re.split(r"(?m)^(?=X:)", text):
        m = re.match(r"X:\s*(\d+)", block)
        if not m or (number is not None and int(m.group(1)) != number):
            continue
        fields: dict[str, list[str]] = {}
        for line in block.splitlines():
            f = re.match(r"([A-Za-z]):(.*)", line)
            if f:
                fields.setdefault(f.group(1), []).append(f.group(2).strip())
                if f.group(1) == "K":
                    break
        return fields
    return {}


def _marks(score, c: "Candidate", ts) -> list[tuple[float, Tempo]]:
    """Every tempo the score states, as (offset in quarters, tempo), one per offset.

    At one offset a displayed metronome number wins over MusicXML's sounding tempo, and both over a
    tempo word (music21 gives a word its own number, "implicit": the word's range is used instead).
    """
    from music21 import tempo

    best: dict[float, tuple[int, Tempo]] = {}
    for n, mark in enumerate(score.flatten().getElementsByClass(tempo.TempoIndication)):
        offset = float(mark.offset)
        found = None
        if isinstance(mark, tempo.MetronomeMark) and mark.number is not None and not mark.numberImplicit:
            qpm = mark.getQuarterBPM(useNumberSounding=False)
            found = (0, Tempo(round(qpm, 3), "marked", "metronome mark", float(mark.number),
                              float(mark.referent.quarterLength)))
        elif isinstance(mark, tempo.MetronomeMark) and mark.numberSounding is not None:
            qpm = mark.getQuarterBPM()
            found = (1, Tempo(round(qpm, 3), "marked", "sounding tempo (MusicXML <sound>)", float(mark.numberSounding),
                              float(mark.referent.quarterLength)))
        else:
            text = mark.text if not getattr(mark, "textImplicit", False) else None
            word = tempo_word(text if isinstance(text, str) else None)
            if word:
                lo, hi = TEMPO_WORDS[word]
                found = (2, _tempo(_pick(lo, hi, f"{c.slug}-{offset}-{n}"), _beat(ts), "marked",
                                   f"tempo word '{word}'"))
        if found and (offset not in best or found[0] < best[offset][0]):
            best[offset] = found
    return [(off, t) for off, (_, t) in sorted(best.items())]


def _opening_words(score, ts) -> str | None:
    """The text expressions within one bar's length of the start (a pickup's and the first full bar's), joined."""
    from music21 import expressions

    bar = float(ts.barDuration.quarterLength) if ts is not None else 4.0
    texts = [t.content for t in score.flatten().getElementsByClass(expressions.TextExpression)
             if float(t.offset) < bar and isinstance(t.content, str)]
    return " / ".join(texts) or None


def assigned_tempo(c: "Candidate", ts, header: dict[str, list[str]]) -> Tempo:
    """The tempo a score without any marking gets, from its collection, dance or genre and meter."""
    meter = ts.ratioString if ts is not None else None
    if c.group == "irish":
        rhythm = fold((header.get("R") or [""])[0]).replace("slipjig", "slip jig").replace("double jig", "jig")
        name = next((d for d in sorted(IRISH_DANCES, key=len, reverse=True) if d in rhythm), None)
        how = f"{name} (ABC R: field)" if name else None
        if name is None:
            name = IRISH_BY_METER.get(meter, "air")
            how = f"{name} (meter {meter}, no R: field)"
        lo, hi, beat = IRISH_DANCES[name]
        beat_ql = _half_bar(ts) if beat == "half-bar" else _beat(ts)
        return _tempo(_pick(lo, hi, c.slug), beat_ql, "assigned", f"Irish {how}")
    if c.group == "china":
        genre_field = fold((header.get("R") or [""])[0])
        genre = next((g for g in CHINESE_GENRES if genre_field.startswith(g)), None)
        lo, hi = CHINESE_GENRES.get(genre, CHINESE_DEFAULT)
        what = f"Chinese {genre} (Essen R: genre)" if genre else "Chinese folk song (no known genre)"
        return _tempo(_pick(lo, hi, c.slug), 1.0, "assigned", what)
    if c.group == "bach":
        quarter_beat = _beat(ts) == 1.0
        lo, hi = CHORALE[0] if quarter_beat else CHORALE[1]
        return _tempo(_pick(lo, hi, c.slug), _beat(ts), "assigned", f"chorale (meter {meter})")
    lo, hi = DEFAULT_TEMPO.get(c.group, DEFAULT_TEMPO["classical"])
    return _tempo(_pick(lo, hi, c.slug), _beat(ts), "assigned", f"{c.group} default, moderato (meter {meter})")


def main_meter(score):
    """The time signature in force for the most bars' length of the first part (None without any).

    Not simply the first: music21 gives some ABC pickups a meter of their own (5/8 before a 6/8 jig).
    """
    from music21 import stream

    part = score.parts.first() if score.parts else score
    held: dict[str, float] = {}
    first: dict[str, object] = {}
    current = None
    for bar in part.getElementsByClass(stream.Measure):
        current = bar.timeSignature or current
        if current is not None:
            held[current.ratioString] = held.get(current.ratioString, 0.0) + float(bar.duration.quarterLength)
            first.setdefault(current.ratioString, current)
    if not held:
        return score.flatten().getElementsByClass("TimeSignature").first()
    return first[max(held, key=held.get)]  # ties: the earlier meter (dicts keep insertion order)


def piece_tempo(score, c: "Candidate") -> list[tuple[float, Tempo]]:
    """The piece's tempo map, (offset, tempo) from offset 0; see the module doc for the order of rules."""
    ts = main_meter(score)
    marks = _marks(score, c, ts)
    later = [(off, t) for off, t in marks if off > 0]
    start = next((t for off, t in marks if off == 0), None)
    header = abc_header(_corpus_root() / c.corpus_path, c.number) if c.corpus_path.endswith(".abc") else {}
    if start is None:
        words = [(w, f"tempo word '{w}'") for w in [tempo_word(_opening_words(score, ts))] if w]
        notes = " / ".join(n.strip('"') for n in header.get("N", []) if n.startswith('"'))
        words += [(w, f"tempo word '{w}' (ABC N: field)") for w in [tempo_word(notes)] if w]
        if words:
            word, rule = words[0]
            lo, hi = TEMPO_WORDS[word]
            start = _tempo(_pick(lo, hi, c.slug), _beat(ts), "marked", rule)
    if start is None and later:
        off, first = later[0]
        start = Tempo(first.qpm, "marked", f"{first.rule} (the first one, at quarter {off:g})", first.beat_bpm,
                      first.beat)
    if start is None and c.corpus_path in PUBLISHED_TEMPO:
        word = PUBLISHED_TEMPO[c.corpus_path]
        lo, hi = TEMPO_WORDS[word]
        start = _tempo(_pick(lo, hi, c.slug), _beat(ts), "assigned",
                       f"published tempo word '{word}' (absent from the corpus file)")
    if start is None:
        start = assigned_tempo(c, ts, header)
    out = [(0.0, start)]
    for off, t in later:
        if t.qpm != out[-1][1].qpm:
            out.append((off, t))
    return out


def write_tempo(score, tempo_map: list[tuple[float, Tempo]]) -> None:
    """Replace every tempo indication of ``score`` by one metronome mark per entry of ``tempo_map``.

    The marks go into the bars of the first part (so music21's repeat expansion carries them) and
    music21 writes them to the conductor track; with a mark at offset 0 its 120 BPM default never applies.
    """
    from music21 import stream, tempo

    for s in score.recurse(streamsOnly=True, includeSelf=True):
        s.removeByClass(tempo.TempoIndication)
    part = score.parts.first() if score.parts else score
    bars = list(part.getElementsByClass(stream.Measure))
    for off, t in tempo_map:
        mark = tempo.MetronomeMark(number=t.qpm, referent=1.0)
        bar = next((b for b in reversed(bars) if float(b.offset) <= off), None)
        if bar is None:
            part.insert(off, mark)
        else:
            bar.insert(off - float(bar.offset), mark)


# -- instruments --------------------------------------------------------------------------------
VOICE = 52  # Choir Aahs: every sung part (chorale SATB, a Lied's voice, an aria), one rule for all
ORGAN = 19  # Church Organ: a continuo part
# Words of part names, English, German, Italian, French: GM program. Looked up word by word from the
# left ("Soprano Oboe 1 Violin 1" is the soprano doubled by instruments: a voice); two-word names first.
PART_PHRASES = {
    "bass clarinet": 71, "bassklarinette": 71, "double bass": 43, "english horn": 69, "corno inglese": 69,
    "cor anglais": 69, "englischhorn": 69, "basso continuo": ORGAN, "alto saxophone": 65,
    "tenor saxophone": 66, "baritone saxophone": 67, "soprano saxophone": 64, "bass trombone": 57,
    "alto flute": 73, "bass guitar": 33, "electric bass": 33, "electric piano": 4, "electric organ": 16,
}
PART_WORDS = {
    **dict.fromkeys(("soprano", "sopran", "soprani", "alto", "alt", "altus", "contralto", "tenor", "tenore",
                     "bass", "basso", "bassus", "baritone", "bariton", "baritono", "mezzo", "canto", "cantus",
                     "discantus", "voice", "voices", "vox", "voce", "stimme", "singstimme", "choir", "chor",
                     "coro", "chorus", "vocal", "vocals"), VOICE),
    **dict.fromkeys(("violin", "violins", "violine", "violinen", "violino", "violini", "geige", "violon"), 40),
    **dict.fromkeys(("viola", "viole", "bratsche"), 41),
    **dict.fromkeys(("cello", "celli", "violoncello", "violoncelli", "violoncelle", "vc"), 42),
    **dict.fromkeys(("contrabass", "kontrabass", "contrabbasso", "violone", "contrebasse"), 43),
    **dict.fromkeys(("piano", "pianoforte", "fortepiano", "klavier", "clavier"), 0),
    **dict.fromkeys(("harpsichord", "cembalo", "clavecin"), 6),
    **dict.fromkeys(("organ", "orgel", "organo", "orgue", "continuo"), ORGAN),
    **dict.fromkeys(("flute", "flutes", "flote", "floten", "flauto", "flauti", "traverso", "traversa"), 73),
    **dict.fromkeys(("piccolo", "ottavino"), 72),
    **dict.fromkeys(("recorder", "recorders", "blockflote"), 74),
    **dict.fromkeys(("oboe", "oboes", "oboi", "hoboe", "hautbois"), 68),
    "taille": 69,  # Bach's tenor oboe (oboe da caccia): its descendant is the English horn
    **dict.fromkeys(("clarinet", "clarinets", "klarinette", "clarinetto", "clarinetti", "clarinette"), 71),
    **dict.fromkeys(("bassoon", "bassoons", "fagott", "fagotto", "fagotti", "basson"), 70),
    **dict.fromkeys(("horn", "horns", "corno", "corni", "waldhorn", "cor"), 60),
    **dict.fromkeys(("trumpet", "trumpets", "tromba", "trombe", "trompete", "trompette", "clarino"), 56),
    **dict.fromkeys(("cornet", "cornetto", "cornett", "zink"), 56),  # GM has no cornett: the trumpet is nearest
    **dict.fromkeys(("trombone", "trombones", "posaune", "tromboni"), 57),
    "tuba": 58,
    **dict.fromkeys(("timpani", "pauken", "timpano", "tympani"), 47),
    **dict.fromkeys(("harp", "harfe", "arpa", "harpe"), 46),
    **dict.fromkeys(("guitar", "gitarre", "chitarra", "lute", "laute", "liuto"), 24),
}
# A folk tune is one melodic line: it gets an instrument of its tradition, picked per piece.
FOLK_PROGRAMS = {
    "essen-china": ((110, "erhu (GM fiddle)"), (77, "xiao (GM shakuhachi)"), (73, "dizi (GM flute)")),
    "oneills-1850": ((110, "fiddle"), (110, "fiddle"), (78, "tin whistle (GM whistle)"), (73, "flute")),
    "ryans-mammoth": ((110, "fiddle"), (110, "fiddle"), (78, "tin whistle (GM whistle)"), (73, "flute")),
}
GROUP_PROGRAM = {"bach": VOICE, "classical": 0, "songs": 0}  # an unnamed part: a chorale voice, else piano


def name_program(name: str | None) -> int | None:
    """The GM program a part name says, or None (see :data:`PART_PHRASES`, :data:`PART_WORDS`; else music21)."""
    from music21 import instrument

    folded = fold(name or "")
    if not folded:
        return None
    for phrase, program in sorted(PART_PHRASES.items(), key=lambda kv: -len(kv[0])):
        if f" {phrase} " in f" {folded} ":
            return program
    for word in folded.split():
        if word in PART_WORDS:
            return PART_WORDS[word]
    try:
        found = instrument.fromString(name)
    except Exception:  # music21 knows no instrument by that name
        return None
    if isinstance(found, instrument.Vocalist):
        return VOICE
    return found.midiProgram


def part_program(part, c: "Candidate", n_parts: int) -> tuple[int, str]:
    """(GM program, why) for one part: its name, else its music21 instrument, else the collection's default.

    -1 for a percussion part, which music21 writes on channel 10 as it is.
    """
    from music21 import instrument, note

    inst = part.getInstrument(returnDefault=False)
    if isinstance(inst, instrument.UnpitchedPercussion) or part.recurse().getElementsByClass(note.Unpitched):
        return -1, "percussion"
    names = [part.partName, getattr(inst, "partName", None), getattr(inst, "instrumentName", None)]
    for name in names:
        program = name_program(name)
        if program is not None:
            return program, f"name '{' '.join(str(name).split())}'"
    specific = inst is not None and type(inst) not in (instrument.Instrument, instrument.StringInstrument)
    if specific and isinstance(inst, instrument.Vocalist):
        return VOICE, f"music21 {type(inst).__name__}"
    if specific and inst.midiProgram is not None:
        return inst.midiProgram, f"music21 {type(inst).__name__}"
    if c.collection in FOLK_PROGRAMS and n_parts == 1:
        choices = FOLK_PROGRAMS[c.collection]
        program, what = random.Random(f"musiclake-program-{c.slug}").choice(choices)
        return program, f"folk melody, {c.collection}: {what}"
    return GROUP_PROGRAM.get(c.group, 0), f"{c.group} default"


def write_programs(score, c: "Candidate") -> tuple[list[dict], set[int]]:
    """Set every part's instruments to its program (music21 writes it as the track's program change).

    Returns (one entry per part for the manifest, the programs of the parts that have notes).
    """
    from music21 import instrument

    parts = list(score.parts)
    out, sounding = [], set()
    for part in parts:
        program, why = part_program(part, c, len(parts))
        if program >= 0:
            insts = list(part.recurse().getElementsByClass(instrument.Instrument))
            if not insts:
                insts = [instrument.Instrument()]
                part.insert(0, insts[0])
            for inst in insts:
                inst.midiProgram = program
                inst.midiChannel = None  # some files put every part on channel 1: let music21 give each program its own
        out.append({"name": " ".join(str(part.partName or "").split()) or None, "program": program, "by": why})
        if part.recurse().notes:
            sounding.add(program)
    return out, sounding


def unshare_time_signatures(score) -> None:
    """Give every bar its own TimeSignature object.

    music21's ABC reader puts one object into several bars when a tune returns to its meter after an
    odd bar (O'Neill's 415: 2/4, a 5/32 bar, 2/4 again), and its MIDI writer then fails ("already
    found in this Stream") on what are good tunes.
    """
    import copy

    from music21 import meter

    seen: set[int] = set()
    for s in score.recurse(streamsOnly=True, includeSelf=True):
        for ts in list(s.getElementsByClass(meter.TimeSignature)):
            if id(ts) in seen:
                s.replace(ts, copy.deepcopy(ts))
            else:
                seen.add(id(ts))


def drop_repeats(score) -> None:
    """Turn repeat barlines, repeat expressions (D.C., segno) and volta brackets into plain bars.

    For the few scores whose repeats music21 cannot expand ("badly formed repeats"): written once
    through rather than not at all.
    """
    from music21 import bar, repeat, spanner, stream

    for m in score.recurse().getElementsByClass(stream.Measure):
        for side in ("leftBarline", "rightBarline"):
            if isinstance(getattr(m, side), bar.Repeat):
                setattr(m, side, bar.Barline("regular"))
        m.removeByClass(repeat.RepeatExpression)
    for s in score.recurse(streamsOnly=True, includeSelf=True):
        s.removeByClass(spanner.RepeatBracket)


def check_written(path: str, tempo_map: list[tuple[float, Tempo]], programs: set[int]) -> None:
    """Read the written file back with symusic: its first tempo and its tracks' programs must be the intended ones."""
    import symusic

    midi = symusic.Score(path)
    first = tempo_map[0][1].qpm
    if not len(midi.tempos) or midi.tempos[0].time != 0 or abs(midi.tempos[0].qpm - first) > 0.01:
        got = [(t.time, round(t.qpm, 3)) for t in midi.tempos][:3]
        raise ValueError(f"written tempo {got} is not {first} at 0")
    written = sorted(-1 if t.is_drum else t.program for t in midi.tracks if t.note_num())
    intended = sorted(programs)
    if sorted(set(written)) != intended:
        raise ValueError(f"written programs {written} are not {intended}")


def lyric_lines(assembled: str) -> list[str]:
    """music21's assembled lyrics (one line per verse) as short lines, split after phrase punctuation."""
    lines = []
    for verse in assembled.splitlines():
        for phrase in re.split(r"(?<=[;:.!?])\s+", verse):
            phrase = " ".join(phrase.split())
            if phrase:
                lines.append(phrase)
    return lines


def export_piece(c: Candidate, dest: str) -> dict:
    """Parse one corpus piece and write it as MIDI to ``dest``; runs in a worker process."""
    from music21 import corpus, repeat, text

    try:
        score = corpus.parse(c.corpus_path, number=c.number)
        lines = lyric_lines(text.assembleAllLyrics(score))
        tempo_map = piece_tempo(score, c)
        parts, sounding = write_programs(score, c)
        write_tempo(score, tempo_map)
        unshare_time_signatures(score)
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        repeats = "expanded"
        try:
            score.write("midi", fp=dest)
        except repeat.ExpanderException:
            drop_repeats(score)
            score.write("midi", fp=dest)
            repeats = "played once (music21 cannot expand them)"
        check_written(dest, tempo_map, sounding)
    except Exception as e:  # music21 raises many kinds; any of them means "skip this piece"
        message = re.sub(r",? ?(id\(\)=\d+|0x[0-9a-f]+)", "", str(e))  # no memory addresses: stable manifests
        return {"error": f"{type(e).__name__}: {message[:200]}"}
    incipit = " ".join(re.split(r"[;:.,!?]", lines[0])[0].split()[:6]) if lines else None
    title = c.title or (score.metadata.title if score.metadata else None) or incipit or c.default_title
    first = tempo_map[0][1]
    return {"title": " ".join((title + c.suffix).split()), "lyrics": lines,
            "tempo": {"bpm": first.qpm, "source": first.source, "rule": first.rule, "beat_bpm": first.beat_bpm,
                      "beat": first.beat, "changes": len(tempo_map) - 1},
            "parts": parts, "programs": sorted(sounding), "repeats": repeats}


def export_pieces(limit: int, midi_dir: Path, workers: int = EXPORT_WORKERS) -> tuple[list[dict], list[dict]]:
    """Export ``limit`` pieces under ``midi_dir/<collection>/<slug>.mid``; returns (pieces, skipped)."""
    groups = catalog()
    want = quotas(limit, {g: len(c) for g, c in groups.items()})
    order = {c: (gi, i) for gi, cands in enumerate(groups.values()) for i, c in enumerate(cands)}
    queues = {g: iter(cands[want[g]:]) for g, cands in groups.items()}  # replacements, in order
    done: dict[Candidate, dict] = {}
    skipped: list[dict] = []

    def dest(c: Candidate) -> Path:
        return midi_dir / c.collection / f"{c.slug}.mid"

    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool, \
            Progress("site export", total=limit, unit="pieces") as progress:
        pending: dict[Future, Candidate] = {}

        def submit(c: Candidate) -> None:
            pending[pool.submit(export_piece, c, str(dest(c)))] = c

        def replace(group: str) -> None:
            for g in [group] + [g for g, _ in GROUP_SHARES if g != group]:
                nxt = next(queues[g], None)
                if nxt is not None:
                    submit(nxt)
                    return

        for g, cands in groups.items():
            for c in cands[:want[g]]:
                submit(c)
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                c = pending.pop(fut)
                result = fut.result()
                if "error" in result:
                    log.warning("site export: skipping %s #%s: %s", c.corpus_path, c.number, result["error"])
                    skipped.append({"corpus_path": c.corpus_path, "number": c.number, "error": result["error"]})
                    dest(c).unlink(missing_ok=True)
                    progress.advance(0, skipped=1)
                    replace(c.group)
                else:
                    done[c] = result
                    progress.advance(1)

    pieces = []
    for c in sorted(done, key=order.__getitem__):
        pieces.append({"slug": c.slug, "title": done[c]["title"], "style": c.style, "collection": c.collection,
                       "midi": dest(c).relative_to(midi_dir.parent).as_posix(), "language": c.language,
                       "lyrics": done[c]["lyrics"], "corpus_path": c.corpus_path, "number": c.number,
                       "tempo": done[c]["tempo"], "parts": done[c]["parts"], "programs": done[c]["programs"],
                       "repeats": done[c]["repeats"]})
    return pieces, skipped
