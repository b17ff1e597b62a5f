"""The one generation request and result: what the generator is asked for and what it wrote.

The API (serving), the MLflow pyfunc wrapper, the evaluator and the CLI all use these types, so a
field renamed here is renamed everywhere. A :class:`PieceRequest` names musical attributes only
(the prompt is the API's business); :meth:`PieceRequest.resolve` turns it into a :class:`Plan`:
one chord per bar, one track per role with its GM program, the bar length on the 16th grid.

Roles: ``melody`` (always written by the model), ``harmony`` (chords / accompaniment), ``bass`` and
``drums``. An instrument is assigned a role by its GM family; a second instrument of a role that
is taken doubles that role (written by the arranger, and the result says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lake.vocab import (STYLE_DEFAULTS, STYLES, chord_names, instrument_name, instrument_program, normalize_style, parse_chord,
                        parse_key, program_range)
from training.structure import plan_for_seed
from training.tension import bar_curve, check as check_tension

ROLES = ("melody", "harmony", "bass", "drums")
Role = Literal["melody", "harmony", "bass", "drums"]
TrackSource = Literal["model", "arranger", "upload"]  # upload: a melody the caller gave (serving)

STEPS_PER_QUARTER = 4  # the onset/duration grid: 16th notes
MAX_BAR_STEPS = 32  # 8/4, 16/8 ...: longer bars are refused
BPM_MIN, BPM_MAX = 30.0, 300.0
BARS_MIN, BARS_MAX, BARS_DEFAULT = 1, 64, 16
CONTROLS = ("tension", "density")  # later controls (film scoring); accepted and recorded, 0..1
# Where each sampled role plays (MIDI pitches, inclusive): the melody on top in a singable span of at most
# 19 semitones, the harmony mostly below it (up to its upper part, where a pianist's right hand rings over a
# low vocal line; training.masks.under_the_tune keeps it under the tune's high notes), the bass below that. A request may move any of them
# (``registers``); roles it leaves out follow the melody's floor (see :func:`resolve_registers`).
DEFAULT_REGISTERS = {"melody": (60, 79), "harmony": (48, 76), "bass": (28, 55)}
PHRASE_BARS = 4  # bars per phrase; pieces under 8 bars get half-length phrases

# GM programs whose instruments usually carry a tune (solo strings, brass, reeds, pipes, synth leads, ethnic),
# and those that sit low enough to be the bass line (cello, contrabass, tuba, bassoon, besides the bass family).
_LOW_PROGRAMS = {42, 43, 58, 70}
_LEAD_PROGRAMS = (set(range(40, 45)) | set(range(56, 88)) | set(range(104, 112)) | {21, 22, 23}) - _LOW_PROGRAMS


def parse_time_signature(text: str) -> tuple[int, int]:
    """``"3/4"`` → (3, 4); the bar must fit the 16th grid and hold at most :data:`MAX_BAR_STEPS` steps."""
    try:
        num_s, den_s = str(text).strip().split("/")
        num, den = int(num_s), int(den_s)
    except ValueError:
        raise ValueError(f"time signature {text!r} must look like '3/4'") from None
    if den not in (2, 4, 8, 16) or num < 1:
        raise ValueError(f"time signature {text!r}: denominator must be 2, 4, 8 or 16 and numerator >= 1")
    steps = num * STEPS_PER_QUARTER * 4 // den
    if steps < 1 or steps > MAX_BAR_STEPS or (num * STEPS_PER_QUARTER * 4) % den:
        raise ValueError(f"time signature {text!r}: a bar must last 1..{MAX_BAR_STEPS} sixteenths")
    return num, den


MELODY_TOP = 72  # an instrument whose range ends below C5 cannot carry a tune in the melody register


def can_carry_melody(program: int) -> bool:
    """Whether an instrument can play the melody: pitched, not a pad, an effect or a percussive sound, and its
    range (lake.vocab.program_range) reaching C5. A bass guitar cannot (28-55); a cello can (36-72)."""
    if program < 0 or program // 8 in (11, 12, 15) or program in (112, 113, 115, 116, 117, 118, 119):
        return False
    return program_range(program)[1] >= MELODY_TOP


def role_of_program(program: int) -> str:
    """The role an instrument plays by default: drums, bass (GM bass family), else melody or harmony."""
    if program < 0:
        return "drums"
    if 32 <= program < 40 or program in _LOW_PROGRAMS:
        return "bass"
    return "melody" if program in _LEAD_PROGRAMS else "harmony"


class PieceRequest(BaseModel):
    """The attributes of a piece to generate; every one is honoured and measured from the notes."""

    model_config = ConfigDict(extra="forbid")

    style: str = Field("pop", description=f"one of {', '.join(STYLES)}")
    bpm: float = Field(110.0, ge=BPM_MIN, le=BPM_MAX)
    key: str = Field("C major", description="e.g. 'D minor', 'F#m', 'Bb major', 'D小调'")
    time_signature: str = Field("4/4", description="e.g. '4/4', '3/4', '6/8'")
    instruments: list[str] | None = Field(None, min_length=1, max_length=8,
                                          description="instrument names (e.g. 'piano', 'synth bass', 'drums'); "
                                                      "a role each by GM family")
    chords: list[str] | None = Field(None, min_length=1, max_length=BARS_MAX,
                                     description="chord symbols, one per bar, repeated to fill the bars")
    progression: list[str] | None = Field(None, min_length=1, max_length=BARS_MAX,
                                          description="roman numerals in the key (used when chords is not given)")
    bars: int = Field(BARS_DEFAULT, ge=BARS_MIN, le=BARS_MAX)
    cadence: bool | None = Field(None, description="end on the tonic chord; default: when the chords are the "
                                                    "style's (chosen for the request), never for chords asked for")
    strict_key: bool = Field(False, description="the key is the caller's (stated, or implied by the chords they "
                                                "wrote): a piece whose notes are not heard "
                                                "in it is drawn again from the same seed, its tune and accompaniment "
                                                "leaning harder to the key's tonic triad (at most STRICT_DRAWS draws "
                                                "in all; training.generator.another_draw); the recommender sets it "
                                                "for such a key")
    strict_tempo: bool = Field(False, description="the tempo is the caller's (stated): a piece whose notes are not "
                                                  "heard in its tempo bin is drawn again, its accompaniment striking "
                                                  "the beats (at most STRICT_DRAWS draws in all, with strict_key); "
                                                  "the recommender sets it for a stated tempo")
    tracks: list[Role] | None = Field(None, description="only these roles (default: every role an instrument has)")
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    temperature: float = Field(0.9, gt=0.0, le=2.0)
    controls: dict[str, float] = Field(default_factory=dict, description=f"later controls: {', '.join(CONTROLS)}")
    structure: str | None = Field(None, max_length=BARS_MAX,
                                  description="one letter per phrase (4 bars), e.g. 'AABA': a phrase whose letter came "
                                              "before restates that phrase's opening bars (transposed to its chords); "
                                              "repeated to fill the piece; default: drawn by the seed from the "
                                              "plans of real songs (training.structure)")
    repetition: float = Field(0.5, ge=0.0, le=1.0,
                              description="how much of a returning phrase is restated: 0 none, 0.5 its first half, "
                                          "1 all but its closing bar; with no structure asked, the drawn plan's own "
                                          "unless set")
    registers: dict[Literal["melody", "harmony", "bass"], tuple[int, int]] | None = Field(
        None, description="lowest and highest MIDI pitch per role, e.g. {'melody': [62, 79]}; default melody 60-79, "
                          "harmony and bass below it")
    tension: float | list[float] | None = Field(
        None, description="film scoring: 0..1, or breakpoints spread evenly over the bars (e.g. [0, 1] builds to a "
                          "climax); tension tones, a lower register, restless rhythm (training.tension)")

    @field_validator("style")
    @classmethod
    def _style(cls, v: str) -> str:
        s = v.strip().lower()
        if s not in STYLES:
            raise ValueError(f"style {v!r} is not one of {', '.join(STYLES)}")
        return normalize_style(s)

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        return parse_key(v)

    @field_validator("time_signature")
    @classmethod
    def _ts(cls, v: str) -> str:
        num, den = parse_time_signature(v)
        return f"{num}/{den}"

    @field_validator("instruments")
    @classmethod
    def _instruments(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        return [instrument_name(instrument_program(name)) for name in v]

    @field_validator("chords")
    @classmethod
    def _chords(cls, v: list[str] | None) -> list[str] | None:
        for c in v or []:
            parse_chord(c)
        return v

    @field_validator("controls")
    @classmethod
    def _controls(cls, v: dict[str, float]) -> dict[str, float]:
        for name, value in v.items():
            if name not in CONTROLS:
                raise ValueError(f"unknown control {name!r} (known: {', '.join(CONTROLS)})")
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"control {name} must be within 0..1, got {value}")
        return v

    @field_validator("tension")
    @classmethod
    def _tension(cls, v):
        if v is not None:
            check_tension(v)
        return v

    @field_validator("structure")
    @classmethod
    def _structure(cls, v: str | None) -> str | None:
        if v is None:
            return None
        s = v.strip().upper()
        if not s or not s.isalpha() or not s.isascii():
            raise ValueError(f"structure {v!r} must be letters, one per phrase, e.g. 'AABA'")
        return s

    @field_validator("registers")
    @classmethod
    def _registers(cls, v):
        for role, (lo, hi) in (v or {}).items():
            if not 0 <= lo <= hi <= 127 or hi - lo < 11:
                raise ValueError(f"register of {role} {lo}-{hi} must lie within 0..127 and span an octave or more")
        return v

    @model_validator(mode="after")
    def _progression(self) -> "PieceRequest":
        if self.progression is not None and self.chords is None:
            chord_names(self.progression, self.key)  # raises a one-line ValueError on a bad numeral
        return self

    def resolve(self) -> "Plan":
        """Chords per bar, a track per role with its program, the bar on the 16th grid."""
        num, den = parse_time_signature(self.time_signature)
        mode = self.key.split()[1]
        defaults = STYLE_DEFAULTS[self.style]
        progression = self.progression or (defaults.minor if mode == "minor" else defaults.major)
        symbols = self.chords or chord_names(list(progression), self.key)
        bar_chords = [symbols[i % len(symbols)] for i in range(self.bars)]
        cadence = self.cadence if self.cadence is not None else (self.chords is None and self.progression is None)
        if cadence and self.bars > 1:
            bar_chords[-1] = chord_names(["i" if mode == "minor" else "I"], self.key)[0]
        bar_chords = tuple(bar_chords)
        tracks = assign_tracks(self.instruments or list(defaults.instruments), self.tracks)
        phrase = PHRASE_BARS if self.bars >= 2 * PHRASE_BARS else max(1, self.bars // 2)
        structure, repetition = self.structure, self.repetition
        if structure is None:  # a plan drawn by the seed from real songs' (training.structure)
            structure, repetition = plan_for_seed(self.seed, repetition if "repetition" in self.model_fields_set else None)
        sections, copy_of = phrase_plan(self.bars, phrase, structure, repetition)
        return Plan(request=self, numerator=num, denominator=den,
                    bar_steps=num * STEPS_PER_QUARTER * 4 // den, chords=bar_chords,
                    chord_pcs=tuple(parse_chord(c) for c in bar_chords), tracks=tracks,
                    registers=resolve_registers(self.registers), phrase_bars=phrase, sections=sections,
                    copy_of=copy_of,
                    tension=bar_curve(self.tension if self.tension is not None else self.controls.get("tension"),
                                      self.bars))


def resolve_registers(asked: dict | None) -> dict[str, tuple[int, int]]:
    """Each sampled role's register: what was asked, else the default placed under the melody's floor
    (harmony from an octave below it to a tenth above, bass from 32 to 5 semitones below)."""
    asked = {r: tuple(v) for r, v in (asked or {}).items()}
    melody = asked.get("melody", DEFAULT_REGISTERS["melody"])
    floor = melody[0]
    derived = {"melody": melody, "harmony": (max(0, floor - 12), max(11, floor + 16)),
               "bass": (max(0, floor - 32), max(11, floor - 5))}
    if "melody" not in asked:
        derived = dict(DEFAULT_REGISTERS)
    return {r: asked.get(r, derived[r]) for r in DEFAULT_REGISTERS}


def phrase_plan(bars: int, phrase_bars: int, structure: str, repetition: float
                ) -> tuple[tuple[str, ...], tuple[int | None, ...]]:
    """(section letter per bar, the earlier bar each bar restates or None).

    The structure's letters go one per phrase of ``phrase_bars`` bars, repeated to fill the piece. A
    phrase whose letter came before restates the first ``round(repetition * phrase_bars)`` bars of that
    letter's first phrase (never its closing bar: a phrase ends in its own words)."""
    sections, copy_of = [], []
    first_phrase: dict[str, int] = {}
    n_copy = min(phrase_bars - 1, round(repetition * phrase_bars))
    for bar in range(bars):
        phrase, i = divmod(bar, phrase_bars)
        letter = structure[phrase % len(structure)]
        start = first_phrase.setdefault(letter, phrase)
        sections.append(letter)
        copy_of.append(start * phrase_bars + i if start != phrase and i < n_copy else None)
    return tuple(sections), tuple(copy_of)


@dataclass(frozen=True)
class TrackPlan:
    role: str
    instrument: str
    program: int  # -1: drum kit
    doubles: str | None = None  # the role this track doubles (an arranger copy), None for a part of its own


@dataclass(frozen=True)
class Plan:
    """A request made concrete: what the sampler and the arranger work from."""

    request: PieceRequest
    numerator: int
    denominator: int
    bar_steps: int
    chords: tuple[str, ...]  # one symbol per bar
    chord_pcs: tuple[tuple[int, str], ...]  # (root pitch class, quality) per bar
    tracks: tuple[TrackPlan, ...]
    registers: dict = field(default_factory=lambda: dict(DEFAULT_REGISTERS))  # role -> (lowest, highest) pitch
    phrase_bars: int = PHRASE_BARS
    sections: tuple[str, ...] = ()  # the section letter of each bar (e.g. A A A A B B B B ...)
    copy_of: tuple[int | None, ...] = ()  # per bar: the earlier bar whose melody it restates, or None
    tension: tuple[float, ...] = ()  # per bar, 0..1 (training.tension); () when the piece has none
    fill: dict = field(default_factory=dict)  # role -> bars of a given role to write anew (training.continuation)
    draw: int = 0  # a strict piece's draw: 0 the first, then 1, 2 (training.generator.another_draw)
    key_push: int = 0  # draws again for a key not heard: 1, 2 lean harder to the key (training.masks.tells_the_key)
    tempo_push: int = 0  # draws again for a tempo not heard: the accompaniment on the beats (training.masks)

    def phrase_end(self, bar: int) -> bool:
        """Whether ``bar`` closes a phrase (or the piece)."""
        return (bar + 1) % self.phrase_bars == 0 or bar == self.request.bars - 1

    def track(self, role: str) -> TrackPlan | None:
        return next((t for t in self.tracks if t.role == role and t.doubles is None), None)


def assign_tracks(instruments: list[str], only: list[str] | None = None) -> tuple[TrackPlan, ...]:
    """One track per role from the instruments; the melody always has one (when no lead instrument is named,
    the first that can carry a tune in the melody register, :func:`can_carry_melody`, else a piano: never a bass
    guitar around D5 nor a pad); a second instrument of a taken role doubles it."""
    programs = [(instrument_name(instrument_program(n)), instrument_program(n)) for n in instruments]
    roles: dict[str, tuple[str, int]] = {}
    extra: list[tuple[str, int, str]] = []
    for name, prog in programs:
        role = role_of_program(prog)
        if role not in roles:
            roles[role] = (name, prog)
        else:
            extra.append((name, prog, role))
    pitched = [(n, p) for n, p in programs if role_of_program(p) in ("melody", "harmony")]
    singers = [(n, p) for n, p in pitched if can_carry_melody(p)]
    if "melody" not in roles:
        if singers:  # the first that can carry a tune (a pad, an effect or a bell cannot)
            roles["melody"] = singers[0]
            extra = [e for e in extra if (e[0], e[1]) != singers[0]]
            if roles.get("harmony") == singers[0]:  # the only harmony instrument also carries the tune
                nxt = next(((n, p) for n, p, r in extra if r == "harmony"), None)
                if nxt is not None:
                    roles["harmony"] = nxt
                    extra = [e for e in extra if (e[0], e[1]) != nxt]
        elif "bass" in roles and can_carry_melody(roles["bass"][1]):  # a cello alone plays the tune itself
            roles["melody"] = roles.pop("bass")
            nxt = next(((n, p) for n, p, r in extra if r == "bass"), None)
            if nxt is not None:
                roles["bass"] = nxt
                extra = [e for e in extra if (e[0], e[1]) != nxt]
        else:  # drums, a bass guitar, pads alone: the tune needs an instrument that can play it (a piano)
            roles["melody"] = ("piano", 0)
    if "harmony" not in roles:
        lead_extra = next(((n, p) for n, p, r in extra if r == "melody"), None)
        if lead_extra is not None:
            roles["harmony"] = lead_extra
            extra = [e for e in extra if (e[0], e[1]) != lead_extra]
        else:
            roles["harmony"] = roles["melody"]
    wanted = set(only) if only else set(ROLES)
    wanted.add("melody")
    out = [TrackPlan(role, *roles[role]) for role in ROLES if role in roles and role in wanted]
    out += [TrackPlan(role, name, prog, doubles=role) for name, prog, role in extra if role in wanted]
    return tuple(out)


class TrackResult(BaseModel):
    role: str
    instrument: str
    program: int = Field(description="GM program, -1 for the drum kit")
    source: TrackSource = Field(description="'model' when the generator sampled it, 'arranger' when rules wrote it, "
                                            "'upload' when it is the caller's")
    n_notes: int
    doubles: str | None = None


class PieceResult(BaseModel):
    """What the generator wrote: the MIDI and, per track, who made it."""

    midi: bytes
    request: PieceRequest = Field(description="the request with its seed filled in")
    chords: list[str] = Field(description="the chord asked for in each bar")
    tracks: list[TrackResult]
    seed: int
    n_notes: int
    duration_s: float
    n_steps: int = Field(description="sampling steps the model took (one per note or bar line)")
    elapsed_ms: float


# Where an attribute came from, strongest first (training.understanding). Stated: "request" (a field the client
# set), "prompt" (a value written out: "96 bpm", "D minor", "3/4", chords, a named instrument), "keyword" (a
# vocabulary word naming it: a style, a mood, a tempo word). Implied: "inferred" (follows from what is stated:
# the key of named chords, a genre's instruments and tempo, a mood's tempo and mode, a dance form's meter),
# "likely" (chosen among what the style and mood make likely: a key's tonic), "clap" (a zero-shot guess of the
# text-music model for what the rules left open), "derived" (chords from key and style), "default".
Source = Literal["request", "prompt", "keyword", "inferred", "likely", "clap", "derived", "default"]
STATED_SOURCES = ("request", "prompt", "keyword")


class Attributes(BaseModel):
    """The musical attributes recommended for a prompt, and where each one came from."""

    style: str
    bpm: float
    key: str
    time_signature: str
    instruments: list[str]
    progression: list[str] = Field(description="the chord progression as roman numerals, e.g. ['I', 'V', 'vi', 'IV']")
    chords: list[str] = Field(description="the progression as chord names in the key, e.g. ['C', 'G', 'Am', 'F']")
    mood: str | None = None
    sources: dict[str, Source]
    moods: list[str] = Field(default_factory=list, description="every mood the prompt names, in its order (the "
                                                               "leading one is 'mood')")
    because: dict[str, str] = Field(default_factory=dict, description="per attribute, what decided it, in words")
    notes: list[str] = Field(default_factory=list, description="choices made where the prompt contradicts itself, "
                                                               "and what it asked for that cannot be played as asked")

    @field_validator("style")
    @classmethod
    def _style(cls, v: str) -> str:
        if v not in STYLES:
            raise ValueError(f"style {v!r} is not one of {', '.join(STYLES)}")
        return v

    def to_request(self, **fields) -> "PieceRequest":
        """The generation request these attributes make (``fields``: bars, seed, temperature, tracks ...)."""
        fields.setdefault("cadence", self.sources.get("chords") == "derived")
        # the caller's key: stated, or implied by the chords they wrote (not one the system chose for them)
        fields.setdefault("strict_key", self.sources.get("key") in STATED_SOURCES + ("inferred",))
        fields.setdefault("strict_tempo", self.sources.get("bpm") in STATED_SOURCES)
        return PieceRequest(style=self.style, bpm=self.bpm, key=self.key, time_signature=self.time_signature,
                            instruments=list(self.instruments), chords=list(self.chords), **fields)
