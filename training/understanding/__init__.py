"""Prompt understanding: a text prompt (English or Chinese) becomes the attributes of a piece, each with where it
came from. One module per job:

* :mod:`.text`      - normalising a prompt (full-width, punctuation, emoji, length) and matching word tables;
* :mod:`.stated`    - what a prompt states: key, mode, tempo, time signature, chords and numerals, instruments,
  style/genre and mood words;
* :mod:`.implied`   - what it implies: the key of chords, a likely key for a style and mood, combined moods,
  which instruments can carry a melody;
* :mod:`.zeroshot`  - the CLAP / MiniLM zero-shot fallback for a style or mood nothing states or implies;
* :mod:`.minilm`    - the English sentence encoder the fallback uses;
* :mod:`.recommend` - the one code path: :func:`recommend`, :func:`request_for_prompt`;
* :mod:`.benchmark` - the caption benchmark (captions written from labelled attributes) and its scoring.

The vocabulary (instrument names, tempo words, genres, moods, keys, chords) is defined once, in
:mod:`lake.vocab`. ``training/prompts.py`` re-exports this package's public names for older importers.
"""

from training.understanding.recommend import (DEFAULT_STYLE, DEFAULT_TIME_SIGNATURE, STYLE_DEFAULTS,  # noqa: F401
                                              UnknownInstrument, recommend, request_for_prompt, stated_attributes)
from training.understanding.zeroshot import (FALLBACK_LABELS, MINILM_SCALE, MOOD_MIN_P, STYLE_MIN_P,  # noqa: F401
                                             TextScorer, ZeroShotFallback, clap_scorer, label_descriptions,
                                             load_fallback, minilm_scorer, service_fallback)
