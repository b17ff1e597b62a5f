"""How well the prompt → attributes recommender reads prompts it was not written for.

    python -m training.recommend_eval                      # rules only, dev and test, EN and ZH apart
    python -m training.recommend_eval --fallback clap      # rules, then CLAP zero-shot for what they miss
    python -m training.recommend_eval --fallback clap+minilm --split test
    python -m training.recommend_eval --fallback clap --alone   # the zero-shot scorer on every prompt, no rules

    python -m training.recommend_eval --captions --previous 6d58539   # + the caption benchmark, before/after
    python -m training.recommend_eval --pairs --fallback clap+minilm  # + do translations agree (parity.py)
    python -m training.recommend_eval --split dev --lake-pairs 600 --fallback clap+minilm  # + the lake's captions

The prompts are ``training/understanding/heldout_prompts.yaml`` (a ``dev`` part to look at while tuning, a
``test`` part only to score). Per attribute a prompt is scored only where its label names it:

* ``style`` - the recommended style is the labelled one;
* ``mood``  - the recommended mood is one of the labelled (acceptable) moods; no mood is wrong;
* ``bpm``   - the recommended tempo lies in the labelled [lo, hi];
* ``mode``  - the recommended key's mode (major/minor);
* ``meter`` - the recommended time signature.

``--captions`` also scores the caption benchmark (:mod:`training.understanding.benchmark`: MidiCaps-style
captions in English and Chinese written from labelled pieces), per attribute, split by stated / implied and by
language, beside the recommender at ``--previous`` (a git revision); and prints how the keys of prompts that
name none spread over the 24 keys. ``musiclake recommend --eval`` runs all of it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import yaml

from lake.vocab import MOODS, STYLES
from training.request import Attributes

PROMPTS_PATH = Path(__file__).with_name("understanding") / "heldout_prompts.yaml"
PREVIOUS_REV = "6d58539"  # the recommender before issue 17 (training/prompts.py, 503 lines)
ATTRIBUTES = ("style", "mood", "bpm", "mode", "meter")
LANGS = ("en", "zh")


@dataclass(frozen=True)
class Labelled:
    prompt: str
    lang: str
    style: str
    mood: tuple[str, ...] | None = None
    bpm: tuple[float, float] | None = None
    mode: str | None = None
    meter: str | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "Labelled":
        style = d["style"]
        if style not in STYLES or style == "other":
            raise ValueError(f"{d['prompt']!r}: style {style!r} is not one of the product styles")
        mood = tuple(d["mood"]) if d.get("mood") else None
        if mood and (bad := [m for m in mood if m not in MOODS]):
            raise ValueError(f"{d['prompt']!r}: unknown mood {bad}")
        bpm = (float(d["bpm"][0]), float(d["bpm"][1])) if d.get("bpm") else None
        lang = d.get("lang") or ("zh" if any("\u4e00" <= ch <= "\u9fff" for ch in d["prompt"]) else "en")
        return cls(prompt=d["prompt"], lang=lang, style=style, mood=mood, bpm=bpm, mode=d.get("mode"),
                   meter=str(d["meter"]) if d.get("meter") else None)

    def correct(self, a: Attributes) -> dict[str, bool]:
        """Per labelled attribute, whether ``a`` has it right."""
        out = {"style": a.style == self.style}
        if self.mood:
            out["mood"] = a.mood in self.mood
        if self.bpm:
            out["bpm"] = self.bpm[0] <= a.bpm <= self.bpm[1]
        if self.mode:
            out["mode"] = a.key.split()[-1] == self.mode
        if self.meter:
            out["meter"] = a.time_signature == self.meter
        return out


def load_prompts(path: str | Path = PROMPTS_PATH) -> dict[str, list[Labelled]]:
    """{split: [Labelled, ...]} from the YAML file."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return {split: [Labelled.from_dict(d) for d in items] for split, items in data.items()}


@dataclass
class Tally:
    correct: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        self.correct += int(ok)
        self.total += 1

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.total if self.total else None


@dataclass
class Report:
    """Per language, per attribute: how many labelled, how many right; and where each style came from."""
    tallies: dict[str, dict[str, Tally]] = field(default_factory=dict)
    style_sources: dict[str, dict[str, Tally]] = field(default_factory=dict)  # lang -> source -> right/total
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # (prompt, labelled style, recommended)
    ms_per_prompt: float = 0.0

    def accuracy(self, lang: str, attribute: str) -> float | None:
        return self.tallies.get(lang, {}).get(attribute, Tally()).accuracy


def score(items: Iterable[Labelled], recommend_fn: Callable[[str], Attributes]) -> Report:
    """Run ``recommend_fn`` on every prompt and count, per language and attribute, what it got right."""
    report = Report()
    items = list(items)
    t0 = time.perf_counter()
    for item in items:
        a = recommend_fn(item.prompt)
        for lang in (item.lang, "all"):
            per = report.tallies.setdefault(lang, {})
            for attr, ok in item.correct(a).items():
                per.setdefault(attr, Tally()).add(ok)
            report.style_sources.setdefault(lang, {}).setdefault(a.sources["style"], Tally()).add(
                a.style == item.style)
        if a.style != item.style:
            report.misses.append((item.prompt, item.style, f"{a.style} ({a.sources['style']})"))
    report.ms_per_prompt = 1000 * (time.perf_counter() - t0) / max(1, len(items))
    return report


def zero_shot_accuracy(items: Iterable[Labelled], scorer, group: str = "style") -> dict[str, Tally]:
    """The scorer alone (argmax on every prompt, no rules): per language, how often its top label is right.
    For "mood" only prompts with a mood label count."""
    out: dict[str, Tally] = {}
    for item in items:
        if group == "mood" and not item.mood:
            continue
        scores = scorer.scores(item.prompt, group)
        best = max(scores, key=scores.get) if scores else None  # a scorer blind to the language: wrong
        ok = best == item.style if group == "style" else best in item.mood
        for lang in (item.lang, "all"):
            out.setdefault(lang, Tally()).add(ok)
    return out


def _pct(t: Tally | None) -> str:
    if t is None or not t.total:
        return "   -     "
    return f"{100 * t.accuracy:5.1f}% {t.correct:>2}/{t.total:<2}"[:13].ljust(13)


def format_report(name: str, report: Report, show_misses: bool = False) -> str:
    lines = [f"{name}  ({report.ms_per_prompt:.1f} ms/prompt)",
             "  lang " + "".join(f"{a:<14}" for a in ATTRIBUTES)]
    for lang in (*LANGS, "all"):
        if lang not in report.tallies:
            continue
        lines.append(f"  {lang:<4} " + "".join(f"{_pct(report.tallies[lang].get(a)):<14}" for a in ATTRIBUTES))
    for lang in (*LANGS,):
        src = report.style_sources.get(lang, {})
        lines.append(f"  style by source ({lang}): " + ", ".join(f"{s} {t.correct}/{t.total}" for s, t in sorted(src.items())))
    if show_misses:
        lines += [f"    miss: {p!r} want {want}, got {got}" for p, want, got in report.misses]
    return "\n".join(lines)


def key_spread(items: Iterable[Labelled], recommend_fn: Callable[[str], Attributes]) -> str:
    """How the keys of prompts that name no key spread: the most common keys and the share of C major/A minor."""
    from collections import Counter

    keys = Counter()
    for item in items:
        a = recommend_fn(item.prompt)
        if a.sources.get("key") not in ("prompt", "request"):
            keys[a.key] += 1
    n = sum(keys.values())
    if not n:
        return "  keys: every prompt names its key"
    c_or_a = keys["C major"] + keys["A minor"]
    top = ", ".join(f"{k} {v}" for k, v in keys.most_common(8))
    return (f"  keys of {n} prompts naming none: {len(keys)} distinct; C major or A minor {c_or_a}/{n} "
            f"({100 * c_or_a / n:.0f} %); most common: {top}")


def run(splits: dict[str, list[Labelled]], names: list[str], fallback=None, fallback_name: str = "",
        captions: bool = False, previous: str | None = None, show_misses: bool = False, out=print) -> None:
    """Score the held-out prompts (and the caption benchmark); the one evaluation the CLI and the module run."""
    from training import understanding

    rec = (lambda p: understanding.recommend(p, clap=fallback)) if fallback else understanding.recommend
    prev_rec = None
    if previous:
        from training.understanding import benchmark

        try:
            prev = benchmark.previous_recommender(previous)
            prev_rec = (lambda p: prev(p, clap=fallback)) if fallback else prev
        except Exception as e:  # no git, or the revision is not here
            out(f"  (previous version {previous!r} not loaded: {str(e).splitlines()[0] if str(e) else e})")
    for split in names:
        if prev_rec is not None:
            out(format_report(f"[{split}] before ({previous[:7]})", score(splits[split], prev_rec)))
        report = score(splits[split], rec)
        out(format_report(f"[{split}] rules" + (f" + {fallback_name}" if fallback else ""), report,
                          show_misses=show_misses and split != "test"))
    out(key_spread([i for s in names for i in splits[s]], rec))
    if captions:
        from training.understanding import benchmark

        caps = benchmark.load_captions()
        named = []
        if prev_rec is not None:
            named.append((f"before ({previous[:7]})", benchmark.score(caps, prev_rec)[0]))
        table, errors = benchmark.score(caps, rec)
        named.append(("now", table))
        n = {lang: sum(c["lang"] == lang for c in caps) for lang in LANGS}
        out(f"[captions] {n['en']} English, {n['zh']} Chinese (training/understanding/captions.yaml); accuracy "
            "per attribute (count of captions that state / imply it)")
        out(benchmark.format_tables(named))
        for text, err in errors[:5]:
            out(f"  crashed: {text[:80]!r}: {err}")


def main(argv: list[str] | None = None) -> int:
    from training import understanding as prompts

    ap = argparse.ArgumentParser(prog="python -m training.recommend_eval", description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", default=str(PROMPTS_PATH))
    ap.add_argument("--split", choices=("dev", "test", "all"), default="all")
    ap.add_argument("--fallback", default="none",
                    help="none | clap | minilm | clap+minilm (zero-shot for what the rules leave at default)")
    ap.add_argument("--ref", default="champion", help="the CLAP version to load (registry alias or number)")
    ap.add_argument("--config", default=None, help="musiclake config file (default: the embedded one)")
    ap.add_argument("--alone", action="store_true", help="also score the zero-shot scorer alone, every prompt")
    ap.add_argument("--misses", action="store_true", help="list the style misses (dev only: keep test unread)")
    ap.add_argument("--captions", action="store_true", help="also score the caption benchmark (stated/implied)")
    ap.add_argument("--pairs", action="store_true", help="also: do Chinese prompts get what their English "
                                                          "translations get (understanding/paired_prompts.yaml)")
    ap.add_argument("--pairs-split", choices=("dev", "test"), default="test",
                    help="which pairs --pairs scores (default test; what differs is listed for dev only)")
    ap.add_argument("--pairs-from-prompts", action="store_true",
                    help="also read --prompts as translation pairs (each Chinese prompt beside its English one)")
    ap.add_argument("--lake-pairs", type=int, default=0, metavar="N",
                    help="also: English and Chinese captions the benchmark's writer writes from N lake pieces it "
                         "does not use (parity.lake_caption_pairs), do they agree")
    ap.add_argument("--previous", default=None, help=f"a git revision to score beside (e.g. {PREVIOUS_REV})")
    args = ap.parse_args(argv)

    splits = load_prompts(args.prompts)
    names = list(splits) if args.split == "all" else [args.split]
    fallback = None
    if args.fallback != "none":
        parts = set(args.fallback.split("+"))
        t0 = time.perf_counter()
        fallback = prompts.load_fallback(args.config, ref=args.ref, clap="clap" in parts, minilm="minilm" in parts)
        print(f"loaded fallback {fallback.describe()} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    run(splits, names, fallback, args.fallback, captions=args.captions, previous=args.previous,
        show_misses=args.misses)
    if args.pairs or args.pairs_from_prompts or args.lake_pairs:
        from training import understanding
        from training.understanding.parity import agreement, format_agreement, load_pairs, pairs_from_prompts

        rec = (lambda p: understanding.recommend(p, clap=fallback)) if fallback else understanding.recommend
        name = "rules" + (f" + {args.fallback}" if fallback else "")
        sets = []
        if args.pairs:
            sets.append((f"{name}, paired_prompts.yaml {args.pairs_split}", load_pairs(split=args.pairs_split),
                         args.pairs_split == "dev"))
        if args.pairs_from_prompts:
            sets.append((f"{name}, {Path(args.prompts).name} ({', '.join(names)})",
                         pairs_from_prompts([i for s in names for i in splits[s]]), names == ["dev"]))
        if args.lake_pairs:
            from training.understanding import benchmark
            from training.understanding.parity import lake_caption_pairs

            used = {c["sha256"] for c in benchmark.load_captions()}
            pairs = lake_caption_pairs(benchmark.lake_rows(), args.lake_pairs, exclude=used)
            sets.append((f"{name}, lake caption pairs ({args.lake_pairs} pieces)", pairs, True))
        for title, pairs, readable in sets:
            shares, differ = agreement(pairs, rec)
            print(format_agreement(title, shares, len(pairs)))
            if readable and args.misses:  # a test split's pairs are counted, never listed
                for en, zh, what in differ:
                    print(f"  differ: {en!r} / {zh!r}: " + "; ".join(f"{k} {v[0]} vs {v[1]}" for k, v in what.items()
                                                                      if k != "sources"))
    if args.alone and fallback is not None:
        for split in names:
            for group in ("style", "mood"):
                t = zero_shot_accuracy(splits[split], fallback, group)
                print(f"  [{split}] {args.fallback} alone, {group}: " + "  ".join(
                    f"{lang} {_pct(t.get(lang)).strip()}" for lang in (*LANGS, "all")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
