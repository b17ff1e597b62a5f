"""Older name of :mod:`training.clap.search_prompts` (short search prompts for CLAP training); kept so that an
importer not yet moved keeps working."""

from training.clap.search_prompts import *  # noqa: F401,F403
from training.clap.search_prompts import (PACE_EN, PACE_ZH, WALTZ, facts, matches, pace, prompt,  # noqa: F401
                                          prompts_for)
