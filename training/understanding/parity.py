"""Chinese on a par with English: over pairs of a prompt and its translation (``paired_prompts.yaml``), the share
of pairs whose attributes agree, per attribute and all at once (``because`` and ``notes`` quote the prompt's
own words and are left out).

    python -m training.recommend_eval --pairs [--fallback clap+minilm]            # the test pairs, counted only
    python -m training.recommend_eval --pairs --pairs-split dev --misses           # the dev pairs, and what differs
    python -m training.recommend_eval --prompts training/understanding/fresh_prompts.yaml --pairs-from-prompts \
        --fallback clap+minilm                        # a labelled prompt file whose Chinese prompts sit by their English
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


def pairs_from_prompts(items) -> list[tuple[str, str]]:
    """(English, Chinese) pairs from a labelled prompt list (``recommend_eval.Labelled`` items or dicts with
    ``prompt`` and ``lang``) that writes each Chinese prompt beside its English translation (either first), as
    ``fresh_prompts.yaml`` does; a prompt with no neighbour in the other language is left out."""
    rows = [(getattr(i, "prompt", None) or i["prompt"], getattr(i, "lang", None) or i.get("lang")) for i in items]
    pairs, i = [], 0
    while i + 1 < len(rows):
        (p1, l1), (p2, l2) = rows[i], rows[i + 1]
        if {l1, l2} == {"en", "zh"}:
            pairs.append((p1, p2) if l1 == "en" else (p2, p1))
            i += 2
        else:
            i += 1
    return pairs


def lake_caption_pairs(rows: list[dict], n: int = 600, seed: int = 1000, exclude: set[str] = frozenset()
                       ) -> list[tuple[str, str]]:
    """(English, Chinese) caption pairs the caption benchmark's writer (``benchmark.write_caption``) writes from
    the first ``n`` lake pieces (``benchmark.lake_rows``) not in ``exclude`` (the benchmark's own pieces), each
    language drawn with the same seed (``seed`` + the piece's index), kept where both state the same attributes
    (the writer words each attribute in its own way per language, so a pair is no word-for-word translation)."""
    import numpy as np

    from training.understanding import benchmark

    rows = [r for r in rows if r["sha256"] not in exclude][:n]
    pairs = []
    for i, row in enumerate(rows):
        facts = benchmark._piece_facts(row)
        en, zh = (benchmark.write_caption(facts, lang, np.random.default_rng(seed + i), row["sha256"])
                  for lang in ("en", "zh"))
        said = [{k: (v["how"], str(v["value"])) for k, v in c.labels.items()} for c in (en, zh)]
        if said[0] == said[1]:
            pairs.append((en.text, zh.text))
    return pairs


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
