"""Older name of :mod:`training.understanding` (prompt understanding moved there, a module per job); this
module re-exports its public names so existing importers (serving.app, training.evaluate ...) keep working."""

from training.understanding import *  # noqa: F401,F403
from training.understanding import (DEFAULT_STYLE, DEFAULT_TIME_SIGNATURE, FALLBACK_LABELS, MINILM_SCALE,  # noqa: F401
                                    MOOD_MIN_P, STYLE_DEFAULTS, STYLE_MIN_P, TextScorer, UnknownInstrument,
                                    ZeroShotFallback, clap_scorer, label_descriptions, load_fallback, minilm_scorer,
                                    recommend, request_for_prompt, service_fallback)
from training.understanding.minilm import MiniLM  # noqa: F401
from training.understanding.zeroshot import as_scorer as _as_scorer, guess as _guess  # noqa: F401
