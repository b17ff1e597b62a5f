"""A prompt's content in English, from what the rules read in it: what the zero-shot fallback reads for a prompt
whose language it cannot read.

The CLAP text tower scores a Chinese prompt's styles and moods almost flat, and MiniLM reads English only, so a
Chinese prompt that names no style or mood got no sure guess while its English translation got one. The gloss
renders what the vocabulary reads in either language (the moods named or implied, a dance form, the concepts of
:data:`lake.vocab.TOPICS`, the instruments) in English words, in a fixed order, so a sentence and its
translation that the rules read alike give the same gloss:

    "雨夜的摇篮曲"        -> "melancholic calm music about night, rain, sleep"
    "浪漫怀旧的华尔兹"    -> "romantic nostalgic waltz"
"""

from __future__ import annotations

from lake.vocab import DANCE_GLOSS, MOOD_PRECEDENCE, TEMPO_TERMS, TOPIC_GLOSS
from training.understanding.stated import Stated


def _tempo_word(st: Stated) -> str | None:
    values = [v for _, v, _ in st.bpms] or [TEMPO_TERMS[w][2] for _, w in st.tempo_words]
    if not values:
        return None
    return "slow" if values[0] < 81 else "fast" if values[0] > 120 else None


def english(st: Stated) -> str:
    """The gloss of a prompt the rules read as ``st`` ("" when they read nothing it could be about)."""
    named = {m for _, m, _ in st.moods} | {m for _, m, _ in st.scene_moods}
    moods = [m for m in MOOD_PRECEDENCE if m in named]
    tempo = _tempo_word(st)
    dances = list(dict.fromkeys(DANCE_GLOSS.get(w, w) for _, _, w in st.dances if w.isascii() or w in DANCE_GLOSS))
    topics = [TOPIC_GLOSS.get(c, c) for c in st.topics]
    instruments = sorted({n for _, n, _ in st.instruments})
    if not (moods or dances or topics or instruments):
        return ""
    head = " ".join(moods + ([tempo] if tempo else []) + (dances or ["music"]))
    return (head + (f" about {', '.join(topics)}" if topics else "")
            + (f" with {' and '.join(instruments)}" if instruments else ""))
