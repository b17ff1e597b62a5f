"""The caption benchmark: captions in the MidiCaps style (English) and in Chinese, written from labelled pieces,
with what each caption states, implies or leaves unsaid; and the per-attribute scoring of a recommender on it.

    python -m training.understanding.benchmark write     # from the lake's gold_text_music_pairs -> captions.yaml
    musiclake recommend --eval                           # score the recommender (and the previous version)

The captions are written once from the lake's labelled pieces (key, tempo, meter, GM instruments, chord
progression, mood, style where known) with wording drawn by a seeded generator: every attribute is said in one
of several ways (a key as "in the key of D minor", "D minor", "Dm"; a tempo as a number, an Italian marking or a
plain word) or left unsaid; the key is sometimes left for the chords to imply, 3/4 for a waltz to imply. The
file is kept apart from rule development: the rules are never tuned on it (``training/recommend_prompts.yaml``
is the set for looking at while tuning); it is only scored.

Per caption the file records, per attribute, how it is given (``stated`` / ``implied``) and the value the
caption's author meant; :func:`score` compares a recommender's answer attribute by attribute.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from lake.vocab import (GM_NAMES, MOODS, STYLE_ZH, TEMPO_TERMS, TEMPO_WORDS, TEMPO_ZH, _GM_TABLE, instrument_program,
                        key_zh, parse_chord, parse_key, tempo_bin)

CAPTIONS_PATH = Path(__file__).with_name("captions.yaml")
ATTRIBUTES = ("style", "mood", "bpm", "key", "meter", "instruments", "chords")
N_EN, N_ZH = 320, 160

# -- wording ----------------------------------------------------------------------------------------------------
# The plain words by the MidiCaps pipeline's marks (80, 120, 160 BPM; lake.vocab.TEMPO_TERMS): the band of a BPM.
_EN_PLAIN_TEMPO = {0: ["very slow"], 1: ["slow"], 2: ["moderate", "moderate tempo"], 3: ["fast"], 4: ["very fast"],
                   5: ["extremely fast"]}
_ZH_PLAIN_TEMPO = {0: ["非常慢"], 1: ["慢速"], 2: ["中速"], 3: ["快速", "快节奏"], 4: ["非常快"], 5: ["极快"]}


def _plain_band(bpm: float) -> int:
    n = round(bpm)
    return 0 if n < 60 else 1 if n <= 80 else 2 if n <= 120 else 3 if n <= 160 else 4 if n < 210 else 5
_EN_MOOD = {"bright": ["bright", "hopeful", "optimistic", "sunny"], "melancholic": ["melancholic", "wistful", "melancholy"],
            "calm": ["calm", "peaceful", "serene", "soothing", "tranquil"], "sad": ["sad", "sorrowful", "mournful", "somber"],
            "joyful": ["joyful", "festive", "jubilant"], "dramatic": ["dramatic", "stormy", "turbulent"]}
_ZH_MOOD = {"bright": ["明朗", "明亮", "乐观"], "melancholic": ["忧郁", "惆怅"], "calm": ["平静", "宁静", "舒缓"],
            "sad": ["悲伤", "忧伤", "哀伤"], "joyful": ["欢快", "喜庆"], "dramatic": ["激昂", "悲壮"]}
_EN_STYLE = {"classical": ["classical", "symphonic", "baroque"], "folk": ["folk", "traditional folk", "celtic"],
             "jazz": ["jazz", "swing"], "pop": ["pop"], "rock": ["rock"], "electronic": ["electronic"],
             "ambient": ["ambient"], "film": ["soundtrack", "cinematic"]}
_ZH_STYLE = {"classical": ["古典", "交响"], "folk": ["民谣", "民歌"], "jazz": ["爵士"], "pop": ["流行"], "rock": ["摇滚"],
             "electronic": ["电子"], "ambient": ["氛围音乐"], "film": ["电影配乐"]}


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _en_key(key: str, rng) -> str:
    tonic, mode = key.split()
    short = tonic + ("m" if mode == "minor" else "")
    spelled = tonic.replace("#", " sharp").replace("b", " flat") if len(tonic) > 1 else tonic
    return _pick(rng, [f"the key of {key}", f"{key}", f"{spelled} {mode}", f"{short}"])


def _an(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _zh_instrument(program: int) -> str:
    if program < 0:
        return "鼓组"
    return _GM_TABLE[program][2][0]


@dataclass
class Caption:
    text: str
    lang: str
    sha256: str
    labels: dict  # attribute -> {"how": stated|implied, "value": ..., "word": ...}
    piece: dict = field(default_factory=dict)  # the labelled piece's tempo and key (said or not)

    def to_dict(self) -> dict:
        return {"text": self.text, "lang": self.lang, "sha256": self.sha256, "labels": self.labels, "piece": self.piece}


def _piece_facts(row: dict) -> dict:
    """A labelled piece's attributes, or what is missing dropped (the lake's 1/4 is no meter)."""
    out = {"key": parse_key(row["key_name"]), "bpm": float(row["bpm"]), "mood": row.get("mood")}
    ts = row.get("time_signature")
    if ts in ("2/4", "3/4", "4/4", "6/8", "2/2", "12/8", "3/8", "9/8", "5/4"):
        out["meter"] = ts
    if row.get("style") and row["style"] != "other":
        out["style"] = row["style"]
    programs = []
    raw_inst = row.get("instruments")
    for name in (list(raw_inst) if raw_inst is not None else [])[:4]:
        try:
            programs.append(instrument_program(name))
        except ValueError:
            continue
    if programs:
        out["programs"] = list(dict.fromkeys(programs))
    raw = row.get("chord_progression")
    chords = [str(c) for c in (list(raw) if raw is not None else []) if c and c != "N"]
    try:
        for c in chords:
            parse_chord(c)
    except ValueError:
        chords = []
    if len(chords) >= 2:
        out["chords"] = chords[:8]
    return out


def write_caption(facts: dict, lang: str, rng: np.random.Generator, sha: str) -> Caption:
    labels: dict[str, dict] = {}
    parts_front: list[str] = []
    en = lang == "en"
    # style and mood
    style_word = mood_word = None
    if "style" in facts and rng.random() < 0.8:
        style_word = _pick(rng, (_EN_STYLE if en else _ZH_STYLE)[facts["style"]])
        labels["style"] = {"how": "stated", "value": facts["style"], "word": style_word}
    if facts.get("mood") in _EN_MOOD and rng.random() < 0.7:
        mood_word = _pick(rng, (_EN_MOOD if en else _ZH_MOOD)[facts["mood"]])
        labels["mood"] = {"how": "stated", "value": facts["mood"], "word": mood_word}
    # meter: a numeral, a waltz, or unsaid
    meter_text = None
    if "meter" in facts:
        r = rng.random()
        if facts["meter"] == "3/4" and r < 0.4:
            meter_text = "waltz" if en else "圆舞曲"
            labels["meter"] = {"how": "implied", "value": "3/4", "word": meter_text}
        elif r < 0.75:
            meter_text = facts["meter"] if en else _pick(rng, [f"{facts['meter']}拍",
                                                                                        f"拍号为{facts['meter']}"])
            labels["meter"] = {"how": "stated", "value": facts["meter"], "word": meter_text}
    # tempo: number, marking, plain word, or unsaid
    tempo_text = None
    b = tempo_bin(facts["bpm"])
    r = rng.random()
    if r < 0.3:
        n = int(round(facts["bpm"]))
        tempo_text = _pick(rng, [f"{n} bpm", f"a tempo of {n} BPM", f"{n} beats per minute"]) if en \
            else _pick(rng, [f"每分钟{n}拍", f"速度为{n}", f"{n} BPM"])
        labels["bpm"] = {"how": "stated", "value": [facts["bpm"] - 1, facts["bpm"] + 1], "word": tempo_text}
    elif r < 0.6 and b > 0:
        marking = TEMPO_WORDS[b]
        word = marking.capitalize() if en else TEMPO_ZH[marking]
        tempo_text = _pick(rng, [f"{_an(word)} tempo", f"{_an(word)} pace", f"{_an(word)} tempo marking"]) \
            if en else _pick(rng, [f"{word}速度", f"速度为{word}", word])
        lo, hi, _ = TEMPO_TERMS[marking]
        labels["bpm"] = {"how": "stated", "value": [lo, hi], "word": word}
    elif r < 0.85:
        word = _pick(rng, (_EN_PLAIN_TEMPO if en else _ZH_PLAIN_TEMPO)[_plain_band(facts["bpm"])])
        tempo_text = _pick(rng, [f"{_an(word)} tempo", f"{_an(word)} pace"]) if en else f"{word}"
        lo, hi, _ = TEMPO_TERMS[word]
        labels["bpm"] = {"how": "stated", "value": [lo, hi], "word": word}
    # key and chords: both, chords only (key implied), key only, or neither
    key_text = chords_text = None
    r = rng.random()
    has_chords = "chords" in facts
    if r < 0.55 or not has_chords:
        if rng.random() < 0.85:
            key_text = _en_key(facts["key"], rng) if en else _pick(rng, [key_zh(facts["key"]), f"调性为{key_zh(facts['key'])}"])
            labels["key"] = {"how": "stated", "value": facts["key"], "word": key_text}
    if has_chords and (r >= 0.3):
        chords = facts["chords"]
        if en:
            joined = _pick(rng, [", ".join(chords), " - ".join(chords), ", ".join(chords[:-1]) + f" and {chords[-1]}"])
            chords_text = _pick(rng, [f"The chord progression is {joined}.", f"The main chord progression is {joined}.",
                                      f"The harmony revolves around the chords {joined}.",
                                      f"Its primary chord sequence consists of {joined}."])
        else:
            joined = _pick(rng, ["-".join(chords), " - ".join(chords), "、".join(chords)])
            chords_text = _pick(rng, [f"和弦进行为{joined}。", f"和弦走向是{joined}。", f"主要和弦：{joined}。"])
        labels["chords"] = {"how": "stated", "value": chords, "word": joined}
        if "key" not in labels:
            labels["key"] = {"how": "implied", "value": facts["key"], "word": "(the chords)"}
    # instruments
    inst_text = None
    if "programs" in facts and rng.random() < 0.85:
        progs = facts["programs"]
        if en:
            names = [("drums" if p < 0 else _pick(rng, [GM_NAMES[p], GM_NAMES[p].lower()])) for p in progs]
            listing = ", ".join(names[:-1]) + (f" and {names[-1]}" if len(names) > 1 else names[0])
            inst_text = _pick(rng, [f"featuring {listing}", f"played on {listing}", f"with {listing}"])
        else:
            listing = "、".join(_zh_instrument(p) for p in progs)
            inst_text = _pick(rng, [f"由{listing}演奏", f"乐器有{listing}", f"使用{listing}"])
        labels["instruments"] = {"how": "stated", "value": progs, "word": listing}
    # assemble
    if en:
        head = "A " + " ".join(w for w in (mood_word, style_word) if w) + (" " if (mood_word or style_word) else "")
        noun = "waltz" if meter_text == "waltz" else _pick(rng, ["piece", "composition", "song", "track"])
        first = (head + noun).replace("A  ", "A ")
        if first.startswith("A ") and first[2:3].lower() in "aeiou":
            first = "An " + first[2:]
        clauses = [first + (f" {inst_text}" if inst_text else "") + "."]
        meter = meter_text if meter_text and meter_text != "waltz" else None
        if key_text and meter and tempo_text and rng.random() < 0.5:  # the MidiCaps sentence
            clauses.append(f"Set in {key_text} with a {meter} time signature, it moves at {tempo_text}.")
        else:
            if key_text:
                clauses.append(_pick(rng, [f"It is set in {key_text}.", f"The key is {key_text.replace('the key of ', '')}.",
                                           f"The piece is in {key_text}."]))
            if meter:
                clauses.append(_pick(rng, [f"It is in {meter} time.", f"The time signature is {meter}."]))
            if tempo_text:
                clauses.append(_pick(rng, [f"It moves at {tempo_text}.", f"It has {tempo_text}.",
                                           f"It is played at {tempo_text}."]) if not tempo_text[0].isdigit()
                               else f"The tempo is {tempo_text}.")
        if chords_text:
            clauses.append(chords_text)
        text = " ".join(clauses)
    else:
        head = "一首" + "".join(f"{w}的" for w in (mood_word,) if w) + (style_word or "") + \
            ("圆舞曲" if meter_text == "圆舞曲" else _pick(rng, ["作品", "乐曲", "音乐"]))
        bits = [head] + [t for t in (key_text, tempo_text) if t]
        if meter_text and meter_text != "圆舞曲":
            bits.append(meter_text)
        if inst_text:
            bits.append(inst_text)
        text = "，".join(bits) + "。" + (chords_text or "")
    return Caption(text=text, lang=lang, sha256=sha, labels=labels,
                   piece={"bpm": round(float(facts["bpm"]), 2), "key": facts["key"]})


def write_benchmark(rows: list[dict], seed: int = 17) -> list[Caption]:
    """N_EN English and N_ZH Chinese captions from distinct labelled pieces (seeded)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    out: list[Caption] = []
    for i, idx in enumerate(order[:N_EN + N_ZH]):
        row = rows[int(idx)]
        lang = "en" if i < N_EN else "zh"
        out.append(write_caption(_piece_facts(row), lang, rng, row["sha256"]))
    return out


def lake_rows(cfg=None) -> list[dict]:
    """The labelled pieces (one caption row per piece) from the lake's gold_text_music_pairs."""
    from deltalake import DeltaTable

    from common.config import load_config

    cfg = cfg or load_config(None)
    root = Path(getattr(getattr(cfg, "lake", None), "root", "data/lake"))
    df = DeltaTable(str(root / "gold_text_music_pairs")).to_pandas()
    df = df.drop_duplicates("sha256").sort_values("sha256")
    return df.to_dict("records")


def load_captions(path: str | Path = CAPTIONS_PATH) -> list[dict]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))["captions"]


# -- scoring --------------------------------------------------------------------------------------------------
def correct(attr: str, label: dict, a, key_stated: bool = True) -> bool:
    """Whether the attributes ``a`` honour one label; for chords, whether the caption also states its key
    (only a stated key frames a loop heard in another key with its cadence: an implied key is the chords')."""
    v = label["value"]
    if attr == "style":
        return a.style == v
    if attr == "mood":
        return a.mood == v
    if attr == "bpm":
        return v[0] <= a.bpm <= v[1]
    if attr == "key":
        return a.key == parse_key(v)
    if attr == "meter":
        return a.time_signature == v
    if attr == "instruments":
        have = {instrument_program(n) for n in a.instruments}
        return set(v) <= have
    if attr == "chords":  # the stated loop, or (in a key it contradicts) the loop framed by the key's cadence
        from training.understanding.cadence import contradicts, frame

        want = frame(list(v), a.key) if key_stated and contradicts(list(v), a.key) else list(v)
        return [parse_chord(c) for c in a.chords] == [parse_chord(c) for c in want]
    raise KeyError(attr)


@dataclass
class Table:
    cells: dict = field(default_factory=dict)  # (lang, how, attr) -> [correct, total]

    def add(self, lang, how, attr, ok):
        for ln in (lang, "all"):
            c = self.cells.setdefault((ln, how, attr), [0, 0])
            c[0] += int(ok)
            c[1] += 1

    def pct(self, lang, how, attr) -> str:
        c = self.cells.get((lang, how, attr))
        return f"{100 * c[0] / c[1]:5.1f}% ({c[1]:>3})" if c else "      -     "


def score(captions: list[dict], recommend_fn: Callable) -> tuple[Table, list[tuple]]:
    table, errors = Table(), []
    for c in captions:
        try:
            a = recommend_fn(c["text"])
        except Exception as e:  # a crash counts every labelled attribute wrong
            errors.append((c["text"], f"{type(e).__name__}: {e}"))
            for attr, label in c["labels"].items():
                table.add(c["lang"], label["how"], attr, False)
            continue
        key_stated = c["labels"].get("key", {}).get("how") == "stated"
        for attr, label in c["labels"].items():
            table.add(c["lang"], label["how"], attr, correct(attr, label, a, key_stated))
    return table, errors


def format_tables(named: list[tuple[str, Table]]) -> str:
    lines = []
    for lang in ("en", "zh", "all"):
        for how in ("stated", "implied"):
            attrs = [a for a in ATTRIBUTES if any((lang, how, a) in t.cells for _, t in named)]
            if not attrs:
                continue
            lines.append(f"  {lang} {how}:")
            lines.append("    " + " " * 22 + "".join(f"{a:<15}" for a in attrs))
            for name, t in named:
                lines.append(f"    {name[:22]:<22}" + "".join(f"{t.pct(lang, how, a):<15}" for a in attrs))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.understanding.benchmark")
    ap.add_argument("command", choices=("write", "show"))
    ap.add_argument("--out", default=str(CAPTIONS_PATH))
    args = ap.parse_args(argv)
    if args.command == "write":
        caps = write_benchmark(lake_rows())
        header = ("# The caption benchmark (issue 17), written by `python -m training.understanding.benchmark write`\n"
                  "# from the lake's labelled pieces (gold_text_music_pairs). Scored only: never tune rules on it.\n")
        Path(args.out).write_text(header + yaml.safe_dump({"captions": [c.to_dict() for c in caps]},
                                                          allow_unicode=True, sort_keys=False, width=200),
                                  encoding="utf-8")
        n = {lang: sum(c.lang == lang for c in caps) for lang in ("en", "zh")}
        print(f"wrote {args.out}: {n['en']} English and {n['zh']} Chinese captions", file=sys.stderr)
    else:
        for c in load_captions(args.out)[:10]:
            print(c["text"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def previous_recommender(rev: str):
    """The recommender as it was at git revision ``rev`` (its training/prompts.py loaded as a module), to
    score beside the current one."""
    import importlib.util
    import subprocess
    import tempfile

    src = subprocess.run(["git", "show", f"{rev}:training/prompts.py"], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(src)
    spec = importlib.util.spec_from_file_location(f"prompts_at_{rev[:7]}", f.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from training.understanding import recommend as current

    if module.recommend is current:  # a later revision's prompts.py only re-exports this package: not the past
        raise RuntimeError(f"at {rev[:7]} training/prompts.py re-exports training.understanding, which cannot be "
                           "loaded beside this one; score that revision from a checkout of it")
    return module.recommend
