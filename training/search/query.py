"""What a search query asks of a piece, read by the prompt-understanding code (:mod:`training.understanding.stated`,
English and Chinese alike) plus the lake's collection and title-form words (:data:`lake.vocab.COLLECTIONS`,
:data:`lake.vocab.TITLE_FORMS`).

Only what the query says counts: a key, mode or tempo the recommender would choose as *likely* or by default
asks nothing of a search. A written key, mode or time signature is ``hard`` (search returns only pieces that
have it, when there are any); the rest is ``soft`` (it raises a piece's score).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lake.vocab import COLLECTIONS, TEMPO_TERMS, TITLE_FORMS, instrument_program
from training.understanding import chordkey, stated as reader
from training.understanding.text import find_words, normalize, word_pattern

_COLLECTION_WORDS = {w: c for c, (_, en, zh) in COLLECTIONS.items() for w in (*en, *zh)}
_COLLECTION_RE = word_pattern(_COLLECTION_WORDS, plural=False)
_FORM_WORDS = {w: f for f, words in TITLE_FORMS.items() for w in words}
_FORM_RE = word_pattern(_FORM_WORDS, plural=False)


@dataclass
class Want:
    """A query's demands; every field empty or None is one it does not make."""

    key: str | None = None  # "D minor"
    key_stated: bool = False  # written ("D minor", "d小调"), not implied by chords
    mode: str | None = None  # "minor": written, or the written key's
    bpm: float | None = None  # a written number
    tempo: tuple[float, float] | None = None  # a tempo word's range
    tempo_word: str | None = None
    meter: str | None = None  # "3/4"
    meter_stated: bool = False  # a numeral ("3/4", "四三拍"), not a dance form ("waltz")
    programs: list[int] = field(default_factory=list)  # GM programs, -1 the drum kit
    styles: list[str] = field(default_factory=list)
    moods: list[str] = field(default_factory=list)  # lake.vocab.MOODS names
    collections: list[str] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.key or self.mode or self.bpm or self.tempo or self.meter or self.programs or self.styles
                    or self.moods or self.collections or self.forms)

    def same_as(self, other: "Want") -> bool:
        """The same demands (the notes aside): a query and its translation should give this."""
        a, b = dict(vars(self)), dict(vars(other))
        a.pop("notes"), b.pop("notes"), a.pop("tempo_word"), b.pop("tempo_word")
        return a == b


def read_query(query: str) -> Want:
    text = normalize(query)
    st = reader.read(text)
    lower = text.lower()
    want = Want()
    if st.keys:
        want.key, want.key_stated = st.keys[0][1], True
        want.mode = want.key.split()[1]
    elif st.chords:
        want.key = chordkey.likely_key(st.chords)
    if want.mode is None and st.modes:
        want.mode = st.modes[0][1]
    if st.bpms:
        want.bpm = float(st.bpms[0][1])
    elif st.tempo_words:
        markings = [w for _, w in st.tempo_words if reader.is_marking(w)]
        word = (markings or [w for _, w in st.tempo_words])[0]
        lo, hi, _ = TEMPO_TERMS[word]
        want.tempo, want.tempo_word = (float(lo), float(hi)), word
    if st.meters:
        want.meter, want.meter_stated = st.meters[0][1], True
    elif st.dances:
        want.meter = st.dances[0][1]
    programs = []
    for _, name, _ in st.instruments:
        try:
            programs.append(instrument_program(name))
        except ValueError:
            continue
    want.programs = sorted(set(programs))
    for name in st.unknown_instruments:
        want.notes.append(f"General MIDI has no sound for {name!r}: not searched for")
    want.styles = list(dict.fromkeys([s for _, s, _ in st.styles] + [s for _, s, _ in st.style_hints]))
    want.moods = list(dict.fromkeys(m for _, m, _ in (st.moods or st.scene_moods)))
    want.collections = list(dict.fromkeys(c for _, _, c in
                                          ((s, e, _COLLECTION_WORDS[w]) for s, e, w in
                                           find_words(_COLLECTION_RE, lower, _COLLECTION_WORDS))))
    want.forms = list(dict.fromkeys(_FORM_WORDS[w] for _, _, w in find_words(_FORM_RE, lower, _FORM_WORDS)))
    return want
