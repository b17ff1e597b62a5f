"""Prompt -> musical attributes, each with its source and the reason in words: the one code path the API
(``/v1/recommend``, ``/v1/generate``), the page, the CLI (``musiclake recommend``) and the evaluations share.

Precedence, strongest first, per attribute (the source each reports, :data:`training.request.Source`):

1. ``request``  - a field the client set (``bpm``, ``key``, ``instruments``, ``chords`` ...);
2. ``prompt`` / ``keyword`` - stated in the prompt: a value written out ("96 bpm", "♩=96", "D minor", "降B大调",
   "12/8", "chords A, E7, A7, D", "I-V-vi-IV", "fretless bass") or a vocabulary word naming it (a style or
   genre, a mood, a tempo word such as "Vivace" or "慢速");
3. ``inferred`` - implied by what is stated: the key of named chords, a genre's instruments and tempo ("metal":
   distortion guitar, electric bass, drums, 150 BPM), the moods' tempo and mode, a dance form's meter ("waltz");
4. ``likely``   - chosen among what the style and mood make likely (the key's tonic,
   :func:`training.understanding.implied.likely_key`);
5. ``clap``     - the zero-shot fallback's guess for a style or mood the prompt neither states nor implies;
6. ``derived`` / ``default`` - chords from key and style; the defaults (pop, 4/4).

Where the prompt contradicts itself (two tempos, two keys, a tempo word against a number), the first stated
value is taken and ``Attributes.notes`` says so; an instrument General MIDI cannot play is an
:class:`UnknownInstrument` (a ValueError: a 422 in the API) naming the nearest known names.
"""

from __future__ import annotations

from lake.vocab import (GENRE_BPM, GENRE_INSTRUMENTS, INSTRUMENT_STYLE, INSTRUMENT_WORDS, MOODS, STYLE_DEFAULTS,
                        MOOD_STYLE, STYLE_HINTS, STYLE_MOOD, TEMPO_TERMS, TOPIC_STYLE,
                        chord_names, instrument_name, instrument_program, parse_chord, parse_key, tempo_bin)
from training.request import MAX_BAR_STEPS, BARS_MAX, Attributes, PieceRequest, can_carry_melody  # noqa: F401
from training.understanding import cadence, chordkey, gloss, implied, stated as reader
from training.understanding.text import language, normalize
from training.understanding.zeroshot import MOOD_MIN_P, STYLE_MIN_P, as_scorer, guess

DEFAULT_STYLE = "pop"
DEFAULT_TIME_SIGNATURE = "4/4"
MAX_INSTRUMENTS = 8  # PieceRequest.instruments' limit


class UnknownInstrument(ValueError):
    """An instrument name General MIDI has no sound for; the message names it and the nearest known names."""

    def __init__(self, name: str, field: str = "prompt"):
        near = reader.nearest_instruments(name)
        self.name, self.field, self.nearest = name, field, near
        super().__init__(f"{field}: unknown instrument {name!r}: General MIDI has no sound for it; nearest known "
                         f"names: {', '.join(near)}")


def _first(values: list[tuple], what: str, notes: list[str], show=str):
    """The first stated value; a note when the prompt states others that differ."""
    first = values[0]
    others = list(dict.fromkeys(show(v) for v in values[1:] if v[1] != first[1]))
    if others:
        notes.append(f"the prompt names more than one {what} ({show(first)}, {', '.join(others)}): "
                     f"took {show(first)}, the first")
    return first


def _vote(found: list[tuple[int, str, str]]) -> tuple[str, list[str]]:
    """The value named most often (ties: named first), and the others named."""
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for pos, value, _ in found:
        counts[value] = counts.get(value, 0) + 1
        first.setdefault(value, pos)
    best = min(counts, key=lambda v: (-counts[v], first[v]))
    return best, [v for v in sorted(first, key=first.get) if v != best]


def _check_instruments(names: list[str]) -> list[str]:
    """Canonical names of client-given instruments; UnknownInstrument for one GM cannot play."""
    out = []
    for name in names:
        low = str(name).strip().lower()
        if low in reader.NEAR_GM:
            out.append(reader.NEAR_GM[low])
            continue
        try:
            out.append(instrument_name(instrument_program(name)))
        except ValueError:
            raise UnknownInstrument(str(name), field="instruments") from None
    return out


def _refine(word: str, name: str, style: str, genres: list[str]) -> str:
    """A generic instrument word read in its style: "guitar" in metal is a distortion guitar, in rock an electric
    guitar; "bass" in jazz an upright bass, in electronic music a synth bass."""
    if word in ("guitar", "guitars", "吉他"):
        if any(g in ("metal", "heavy metal", "thrash", "punk", "punk rock", "重金属", "金属", "朋克") for g in genres):
            return "distortion guitar"
        if style == "rock":
            return "electric guitar"
        if style == "jazz":
            return "jazz guitar"
    if word in ("bass", "basses", "贝斯"):
        if style == "jazz":
            return "acoustic bass"
        if style == "electronic":
            return "synth bass"
    return name


def recommend(prompt: str, bpm: float | None = None, key: str | None = None, time_signature: str | None = None,
              instruments: list[str] | None = None, chords: list[str] | None = None,
              progression: list[str] | None = None, clap=None, bars: int | None = None) -> Attributes:
    """Attributes for ``prompt``; every argument given explicitly wins over the prompt (source "request").

    ``key`` takes any spelling :func:`lake.vocab.parse_key` reads; ``chords`` are symbols per bar,
    ``progression`` roman numerals in the key (chords win when both are given). ``clap`` (optional): a
    :class:`~training.understanding.zeroshot.ZeroShotFallback`, a ``ClapModel`` or any object with
    ``scores(text, group) -> {label: p}``; it fills a style and mood the prompt neither states nor implies.
    ``bars`` (optional): the piece's length, so that stated chords a stated key frames close on its last bar
    (:mod:`training.understanding.cadence`; without it the framed unit is 8 bars).
    """
    text = normalize(prompt)
    st = reader.read(text)
    scorer = as_scorer(clap)
    # what the zero-shot fallback reads, in either language: the prompt's content as the rules read it, in English
    # (gloss.english): the CLAP tower scores a Chinese prompt almost flat and MiniLM reads English only, so it
    # read an English prompt and not its translation; now a sentence and its translation it reads alike are asked
    # the same question. A prompt the rules read nothing in is not asked (it keeps the defaults)
    asked = gloss.english(st) if scorer is not None else ""
    sources: dict[str, str] = {}
    because: dict[str, str] = {}
    notes: list[str] = []

    for symbol in chords or ():  # a chord the request names and the vocabulary cannot read: say which field
        try:
            parse_chord(symbol)
        except ValueError as e:
            raise ValueError(f"chords: {e}") from None
    if st.unknown_instruments and instruments is None:
        raise UnknownInstrument(st.unknown_instruments[0])
    if instruments is not None:
        instruments = _check_instruments(list(instruments))
        for name in st.unknown_instruments:
            notes.append(f"the prompt names {name!r}, which General MIDI cannot play; the request's instruments "
                         "are used")

    # the moods the prompt's words name lead the mood (the label, its mode, its tempo); a scene's moods lead only
    # where no word names one (implied.combine_moods: in any order, each once, so a translation leads alike). A
    # word that names a tempo as well ("upbeat", "frantic") leads only where no other word names a mood:
    # "festive and upbeat" is festive at an upbeat tempo
    named_moods = [m for _, m, w in st.moods if w not in TEMPO_TERMS] or [m for _, m, _ in st.moods]

    # -- style ---------------------------------------------------------------------------------------------------
    if st.styles:
        style, others = _vote(st.styles)
        sources["style"] = "keyword"
        words = [w for _, s, w in st.styles if s == style]
        because["style"] = f"named: {', '.join(dict.fromkeys(words))}" + (
            f" (also named: {', '.join(others)})" if others else "")
    elif st.style_hints:  # "a porch in the hills", "老上海": a scene that points to a style
        style, _ = _vote(st.style_hints)
        sources["style"] = "inferred"
        because["style"] = f"implied by: {', '.join(dict.fromkeys(w for _, s, w in st.style_hints if s == style))}"
    elif by_instrument := [(p, reader.STYLE_OF_WORD.get(w) or STYLE_HINTS[w], w) for p, _, w in st.instruments
                           if w in reader.STYLE_OF_WORD or w in STYLE_HINTS]:
        style, _ = _vote(by_instrument)  # "erhu", "fiddle", "二胡": an instrument that names its tradition
        sources["style"] = "inferred"
        because["style"] = f"the instruments: {', '.join(dict.fromkeys(w for _, _, w in by_instrument))}"
    elif by_program := [(p, INSTRUMENT_STYLE[instrument_program(n)], w) for p, n, w in st.instruments
                        if instrument_program(n) in INSTRUMENT_STYLE]:
        style, _ = _vote(by_program)  # "harp", "oboe", "banjo", "vibraphone": the tradition the instrument names
        sources["style"] = "inferred"
        because["style"] = f"the instruments: {', '.join(dict.fromkeys(w for _, _, w in by_program))}"
    elif by_topic := [(list(TOPIC_STYLE).index(c), TOPIC_STYLE[c], c) for c in st.topics if c in TOPIC_STYLE]:
        style, _ = _vote(by_topic)  # "a spy sneaking into a base", "烛光晚餐": what the prompt is about (both languages)
        sources["style"] = "inferred"
        because["style"] = f"what the prompt is about: {', '.join(c for _, s, c in sorted(by_topic) if s == style)}"
    elif asked and (style := guess(scorer, asked, "style", STYLE_MIN_P)):
        sources["style"], because["style"] = "clap", f"the zero-shot model's best guess for '{asked}'; no style word"
    elif named_mood := implied.combine_moods(named_moods or [m for _, m, _ in st.scene_moods])[0]:
        # the leading mood (in any order, each once), so a sentence and its translation decide alike
        style, sources["style"] = MOOD_STYLE[named_mood], "likely"  # a sad song is most often a pop ballad
        because["style"] = f"the style a {named_mood} piece most often has (no style word, no sure guess)"
    else:
        style, sources["style"], because["style"] = DEFAULT_STYLE, "default", "no style named"
    defaults = STYLE_DEFAULTS[style]
    style_source = "inferred" if sources["style"] == "keyword" else sources["style"]
    genres = [g for _, g in st.genres]

    # -- moods ---------------------------------------------------------------------------------------------------
    moods = [m for _, m, _ in st.moods]
    if moods:
        sources["mood"] = "keyword"
        because["mood"] = "named: " + ", ".join(dict.fromkeys(w for _, _, w in st.moods))
        scene = [m for _, m, _ in st.scene_moods if m not in moods]
        if scene:  # "relaxing music for sleep": the scene's mood joins the named ones (after them)
            moods += scene
            because["mood"] += "; implied by: " + ", ".join(dict.fromkeys(w for _, m, w in st.scene_moods if m in scene))
    elif st.scene_moods:  # "campfire singalong", "for studying", "festival set": the scene implies the mood
        moods, sources["mood"] = [m for _, m, _ in st.scene_moods], "inferred"
        because["mood"] = "implied by: " + ", ".join(dict.fromkeys(w for _, _, w in st.scene_moods))
    elif tempo_mood := implied.mood_of_tempo_words([w for _, w in st.tempo_words]):
        moods, sources["mood"] = [tempo_mood], "inferred"  # "allegro", "fast": energetic; "adagio", "slow": calm
        because["mood"] = f"implied by the tempo: {', '.join(dict.fromkeys(w for _, w in st.tempo_words))}"
    elif sources["style"] in ("keyword", "inferred") and style in STYLE_MOOD:
        moods, sources["mood"] = [STYLE_MOOD[style]], "inferred"
        because["mood"] = f"the usual mood of {style}; no mood word"
    elif asked and (guessed := guess(scorer, asked, "mood", MOOD_MIN_P)):
        moods, sources["mood"], because["mood"] = [guessed], "clap", f"the zero-shot model's best guess for '{asked}'; no mood word"
    elif sources["style"] == "clap" and style in STYLE_MOOD:
        moods, sources["mood"] = [STYLE_MOOD[style]], "clap"
        because["mood"] = f"the usual mood of {style} (the style the zero-shot model guessed); no mood word"
    else:
        sources["mood"], because["mood"] = "default", "no mood named"
    mood, mood_mode, mood_bpm = implied.combine_moods(named_moods or moods)
    if because["mood"].startswith(("the usual mood of", "implied by the tempo")):
        mood_mode = mood_bpm = None  # a label only: the style's (the tempo word's) own tempo and keys stand
    mood_source = "inferred" if sources["mood"] in ("keyword", "inferred") else sources["mood"]
    if len(set(moods)) > 1:
        because["mood"] += (f"; combined: {mood} leads, {mood_mode} by the vote of the moods "
                            f"{'named' if named_moods else 'implied'}, {mood_bpm} BPM ({mood}'s tempo)")

    # -- tempo ---------------------------------------------------------------------------------------------------
    markings = [w for _, w in st.tempo_words if reader.is_marking(w)]
    plain = [w for _, w in st.tempo_words if not reader.is_marking(w)]
    genre_bpm = next((GENRE_BPM[g] for g in genres if g in GENRE_BPM), None)
    for _, _, word in st.dances:
        genre_bpm = genre_bpm or GENRE_BPM.get(word)
    implied_bpm = genre_bpm or mood_bpm
    if bpm is not None:
        sources["bpm"], because["bpm"] = "request", "the request's bpm"
    elif st.bpms:
        pos, bpm, words = _first([(p, v, w) for p, v, w in st.bpms], "tempo", notes, show=lambda v: f"{v[1]:g} BPM")
        sources["bpm"], because["bpm"] = "prompt", f"written: {words}"
        for word in markings + plain:
            lo, hi, _ = TEMPO_TERMS[word]
            if not lo <= bpm <= hi:
                notes.append(f"'{word}' ({lo:g}-{hi:g} BPM) contradicts the written {bpm:g} BPM: took the number")
    elif st.tempo_words:
        words = markings or plain  # a marking ("Vivace") is more precise than a plain word ("brisk")
        word = words[0]
        lo, hi, value = TEMPO_TERMS[word]
        ranges = {w: TEMPO_TERMS[w] for w in markings + plain}
        clash = [w for w, (l2, h2, _) in ranges.items() if h2 < lo or l2 > hi]
        if clash:
            notes.append(f"the prompt names tempos that exclude each other ({word}, {', '.join(clash)}): took "
                         f"'{word}', the {'marking' if markings else 'first'}")
        bpm = implied.tempo_for_word(word, genre_bpm, mood_bpm)
        sources["bpm"] = "keyword"
        because["bpm"] = f"'{word}' means {lo:g}-{hi:g} BPM" + (
            "" if bpm == value else " (the genre's or mood's tempo lies inside)" if bpm == implied_bpm
            else " (the part of it the mood's pace allows)")
    elif genre_bpm is not None:
        bpm, sources["bpm"] = genre_bpm, "inferred"
        because["bpm"] = f"the usual tempo of {next((g for g in genres if g in GENRE_BPM), None) or 'the dance'}"
    elif mood_bpm is not None:
        bpm, sources["bpm"], because["bpm"] = mood_bpm, mood_source, f"the tempo of a {mood} mood"
    else:
        bpm, sources["bpm"], because["bpm"] = defaults.bpm, style_source, f"the usual tempo of {style}"
    bpm = float(bpm)

    # -- time signature ------------------------------------------------------------------------------------------
    if time_signature is not None:
        ts, sources["time_signature"], because["time_signature"] = time_signature, "request", "the request's"
    elif st.meters:
        _, ts, word = _first(st.meters, "time signature", notes, show=lambda v: v[1])
        sources["time_signature"], because["time_signature"] = "prompt", f"written: {word}"
    elif st.dances:
        _, ts, word = st.dances[0]
        sources["time_signature"], because["time_signature"] = "inferred", f"a {word} is in {ts}"
    else:
        ts, sources["time_signature"], because["time_signature"] = DEFAULT_TIME_SIGNATURE, "default", "no meter named"

    # -- instruments -----------------------------------------------------------------------------------------------
    if instruments is not None:
        sources["instruments"], because["instruments"] = "request", "the request's"
    elif st.instruments:
        instruments = list(dict.fromkeys(_refine(w, n, style, genres) for _, n, w in st.instruments))
        sources["instruments"] = "prompt"
        because["instruments"] = "named: " + ", ".join(dict.fromkeys(w for _, _, w in st.instruments))
    elif genre := next((g for g in genres if g in GENRE_INSTRUMENTS), None):
        instruments, sources["instruments"] = list(GENRE_INSTRUMENTS[genre]), style_source
        because["instruments"] = f"what {genre} implies"
    else:
        instruments, sources["instruments"] = list(defaults.instruments), style_source
        because["instruments"] = f"what {style} usually has"
    if sources["instruments"] != "request" and not any(can_carry_melody(instrument_program(n)) for n in instruments):
        lead = next((n for n in defaults.instruments if can_carry_melody(instrument_program(n))), "piano")
        instruments.append(lead)
        because["instruments"] += f"; + {lead} to carry the melody (none named can play it in its register)"
    if len(instruments) > MAX_INSTRUMENTS:
        notes.append(f"{len(instruments)} instruments named; kept the first {MAX_INSTRUMENTS}: "
                     f"{', '.join(instruments[:MAX_INSTRUMENTS])}")
        instruments = instruments[:MAX_INSTRUMENTS]

    # -- key -------------------------------------------------------------------------------------------------------
    written_chords = list(chords) if chords is not None else (st.chords or None)
    # the draw of an unstated key: the attributes and the concepts the prompt is about (lake.vocab.TOPICS), never
    # its wording or order, so a sentence and its translation draw alike and different requests spread; of the
    # moods only the one that leads (a broad mood word one language adds does not move the key)
    seed = (mood, tempo_bin(bpm), ts, tuple(sorted(instruments)), st.topics)
    numerals_mode, key_of_chords = None, False
    if st.numerals and not st.numerals[0].startswith(("@", "#")):
        numerals_mode = "minor" if st.numerals[0].lstrip("b#").startswith("i") and \
            not st.numerals[0].lstrip("b#").startswith(("I", "V")) else "major"
    if key is not None:
        key, sources["key"], because["key"] = parse_key(key), "request", "the request's"
    elif st.keys:
        _, key, word = _first(st.keys, "key", notes, show=lambda v: v[1])
        sources["key"], because["key"] = "prompt", f"written: {word}"
        mode = key.split()[1]
        for _, m, w in st.modes:
            if m != mode:
                notes.append(f"'{w}' contradicts the written key {key}: took {key}")
        if mood_mode and mood_mode != mode:
            because["key"] += f" (the {mood} mood would suggest {mood_mode}; a stated mode never flips)"
    elif written_chords:
        key_of_chords = True  # the chords decide the key: nothing to frame them with (below)
        key, sources["key"] = chordkey.likely_key(written_chords), "inferred" if chords is None else "request"
        because["key"] = f"the key songs with the chords {' '.join(written_chords[:8])} are most likely in"
        for _, m, w in st.modes:
            if m != key.split()[1]:
                key = chordkey.likely_key(written_chords, m)
                because["key"] += f", in {m} as written ('{w}')"
                break
    elif st.modes:
        _, mode, word = _first(st.modes, "mode", notes, show=lambda v: v[1])
        key = implied.likely_key(style, mode, seed)
        sources["key"] = "likely"
        because["key"] = f"{mode} as written ('{word}'); the tonic one {style} often uses"
    elif numerals_mode:
        key, sources["key"] = implied.likely_key(style, numerals_mode, seed), "likely"
        because["key"] = f"{numerals_mode}, as the numerals {st.numerals_text} begin; the tonic one {style} often uses"
    elif mood_mode:
        key, sources["key"] = implied.likely_key(style, mood_mode, seed), "likely" if mood_source == "inferred" else mood_source
        because["key"] = f"{mood_mode} for a {mood} mood; the tonic one {style} often uses"
    else:
        key = implied.likely_key(style, None, seed)
        sources["key"] = "likely"
        because["key"] = f"a key {style} often uses (none named)"

    # -- chords --------------------------------------------------------------------------------------------------------
    common = dict(style=style, bpm=bpm, key=key, time_signature=ts, instruments=instruments, mood=mood,
                  moods=list(dict.fromkeys(moods)), because=because, notes=notes)
    if chords is not None:
        sources["chords"], because["chords"] = "request", "the request's"
        return Attributes(progression=[], chords=list(chords), sources=sources, **common)
    if progression is not None:
        progression, sources["chords"] = list(progression), "request"
        because["chords"] = "the request's progression"
    elif st.chords:
        symbols = st.chords[:BARS_MAX]
        sources["chords"] = "prompt"
        because["chords"] = f"written: {st.chords_text}; one chord per bar, looped over the piece"
        # a stated key the loop is heard against ("D major" with Bm F#m Bm D): the key's cadence frames the loop
        if not key_of_chords and cadence.contradicts(symbols, key):
            heard, framed = implied.key_from_chords(symbols), cadence.frame(symbols, key, bars)
            opens = framed[0] != symbols[0]
            because["chords"] += (f"; they sit in {heard}, the key is {key}: {framed[-2]} {framed[-1]} close every "
                                  f"{len(framed)} bars" + (f", which open on {framed[0]}" if opens else ""))
            notes.append(f"the chords {' '.join(symbols)} are heard in {heard}, not in {key}: the loop is kept and "
                         f"{key}'s cadence ({framed[-2]} {framed[-1]}) closes it" +
                         (f"; the piece opens on {framed[0]}" if opens else ""))
            symbols = framed
        return Attributes(progression=[implied.roman_of(c, key) for c in symbols], chords=symbols, sources=sources,
                          **common)
    elif st.numerals:
        progression = reader.numerals_in(st.numerals, key.split()[1])[:BARS_MAX]
        try:
            names = chord_names(progression, key)
        except ValueError:
            names = None
        if names is not None:
            sources["chords"] = "prompt"
            because["chords"] = f"written: {st.numerals_text}; one chord per bar in {key}, looped over the piece"
            return Attributes(progression=progression, chords=names, sources=sources, **common)
        notes.append(f"could not read the progression {st.numerals_text!r}; the style's is used")
        progression = None
    if progression is None:
        progression = list(defaults.minor if key.endswith("minor") else defaults.major)
        sources["chords"], because["chords"] = "derived", f"{style}'s usual progression in {key.split()[1]}"
    return Attributes(progression=progression, chords=chord_names(progression, key), sources=sources, **common)


def request_for_prompt(prompt: str, **fields) -> PieceRequest:
    """The generation request a prompt makes: its recommended attributes plus ``fields`` (bars, seed, ...)."""
    overrides = {k: fields.pop(k) for k in ("bpm", "key", "time_signature", "instruments", "chords", "progression")
                 if k in fields}
    return recommend(prompt, bars=fields.get("bars"), **overrides).to_request(**fields)


def stated_attributes(a: Attributes) -> dict[str, str]:
    """Per attribute, "stated" or "implied" (for the evaluations)."""
    from training.request import STATED_SOURCES

    return {k: ("stated" if v in STATED_SOURCES else "implied") for k, v in a.sources.items()}


__all__ = ["DEFAULT_STYLE", "DEFAULT_TIME_SIGNATURE", "STYLE_DEFAULTS", "UnknownInstrument", "recommend",
           "request_for_prompt", "stated_attributes", "language", "INSTRUMENT_WORDS", "MOODS", "parse_chord"]
