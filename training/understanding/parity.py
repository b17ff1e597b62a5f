"""Chinese on a par with English: over pairs of a prompt and its translation (``paired_prompts.yaml``), the share
of pairs whose attributes agree, per attribute and all at once (``because`` and ``notes`` quote the prompt's
own words and are left out).

    python -m training.recommend_eval --pairs [--fallback clap+minilm]
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import yaml

PAIRS_PATH = Path(__file__).with_name("paired_prompts.yaml")
ATTRIBUTES = ("style", "mood", "bpm", "key", "time_signature", "instruments", "chords", "sources")


def load_pairs(path: str | Path = PAIRS_PATH, split: str = "test") -> list[tuple[str, str]]:
    """The ``dev`` pairs (looked at while growing the vocabulary) or the ``test`` pairs (only scored)."""
    return [tuple(p) for p in yaml.safe_load(Path(path).read_text(encoding="utf-8"))[split]]


def agreement(pairs: list[tuple[str, str]], recommend_fn: Callable) -> tuple[dict[str, float], list[tuple]]:
    """({attribute: share of pairs that agree, "all": share agreeing on every one}, [(en, zh, differing)])."""
    agree = {a: 0 for a in (*ATTRIBUTES, "all")}
    differ = []
    for en, zh in pairs:
        a, b = recommend_fn(en), recommend_fn(zh)
        bad = [attr for attr in ATTRIBUTES if getattr(a, attr) != getattr(b, attr)]
        for attr in ATTRIBUTES:
            agree[attr] += attr not in bad
        agree["all"] += not bad
        if bad:
            differ.append((en, zh, {attr: (getattr(a, attr), getattr(b, attr)) for attr in bad}))
    n = max(1, len(pairs))
    return {k: v / n for k, v in agree.items()}, differ


def format_agreement(name: str, shares: dict[str, float], n: int) -> str:
    return (f"[pairs] {name}: {n} English prompts and their Chinese translations agree on " +
            ", ".join(f"{k} {100 * v:.0f} %" for k, v in shares.items()))
