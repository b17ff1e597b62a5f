"""End to end: captions of the benchmark -> the recommender -> the generator -> MIDI, measured from its notes as
Text2midi reports on MidiCaps (tempo bin TB, within one bin TBT, key CK, key or its relative CKD), against what
the caption's author meant (the labelled piece's tempo and key), not against what the recommender asked for.

    python -m training.understanding.e2e --limit 0 --bars 8 --ref 1 --ref 2   # every caption, both generators

``--ref`` (repeatable) names a registered generator version or alias (default: the champion); ``--limit 0``
takes every caption. A caption that states its key is counted again as ``stated_agree`` or ``stated_clash``:
whether its own chords are heard in that key (:func:`training.understanding.implied.key_from_chords`).

Only captions whose tempo (key) is stated or implied count for TB/TBT (CK/CKD); the report also gives the
figures over every caption (what an unstated attribute scores: near chance). Anchors on the MidiCaps test set:
Text2midi TB 39.7 %, TBT 65.8 %, CK 33.6 %, CKD 35.6 %; MuseCoco TB 21.7 %, CK 13.7 %.
"""

from __future__ import annotations

import argparse
import sys
import time

from lake.vocab import parse_key, tempo_bin


def relative(key: str) -> str:
    """The relative major/minor of a key ("A minor" <-> "C major")."""
    from lake.vocab import PITCH_CLASSES, key_name

    tonic, mode = parse_key(key).split()
    pc = PITCH_CLASSES.index(tonic)
    return key_name(PITCH_CLASSES[(pc + 3) % 12], "major") if mode == "minor" else \
        key_name(PITCH_CLASSES[(pc + 9) % 12], "minor")


def truth(caption: dict) -> dict:
    """What the caption's author meant for tempo and key, where the caption states or implies it."""
    labels, piece = caption["labels"], caption.get("piece", {})
    out = {}
    if "bpm" in labels:
        out["bpm"] = float(piece.get("bpm", sum(labels["bpm"]["value"]) / 2))
    if "key" in labels:
        out["key"] = parse_key(labels["key"]["value"])
    return out


def run(captions: list[dict], generator, bars: int = 8, progress: bool = True) -> dict:
    from training.analysis import analyzed_key, find_pulse, load_notes, measured_tempo_bin, quarter_bpm
    from training.understanding import request_for_prompt

    counts = {k: [0, 0] for k in ("TB", "TBT", "CK", "CKD", "TB_req", "CK_req")}
    t0 = time.perf_counter()
    for i, c in enumerate(captions):
        req = request_for_prompt(c["text"], bars=bars, seed=i)
        result = generator.generate(req)
        notes = load_notes(result.midi)
        pulse = find_pulse(notes)
        measured_bpm = quarter_bpm(0.0 if pulse is None else pulse.bpm, req.time_signature)
        key = analyzed_key(result.midi) if (~notes.drum).any() else None
        t = truth(c)
        if "bpm" in t:
            want = tempo_bin(t["bpm"])
            got = measured_tempo_bin(measured_bpm)  # read at 0.1 BPM, as the evaluator does
            counts["TB"][0] += int(got == want)
            counts["TBT"][0] += int(abs(got - want) <= 1)
            counts["TB"][1] += 1
            counts["TBT"][1] += 1
            counts["TB_req"][0] += int(tempo_bin(req.bpm) == want)
            counts["TB_req"][1] += 1
        if "key" in t:
            how = c["labels"]["key"]["how"]
            groups = [how]
            if how == "stated" and "chords" in c["labels"]:
                from training.understanding.implied import key_from_chords
                chords = c["labels"]["chords"]["value"]
                groups.append("stated_agree" if key_from_chords(chords) == t["key"] else "stated_clash")
            for g in groups:
                for name in (f"CK_{g}", f"CKD_{g}"):
                    counts.setdefault(name, [0, 0])
                counts[f"CK_{g}"][0] += int(key == t["key"])
                counts[f"CK_{g}"][1] += 1
                counts[f"CKD_{g}"][0] += int(key in (t["key"], relative(t["key"])))
                counts[f"CKD_{g}"][1] += 1
            counts["CK"][0] += int(key == t["key"])
            counts["CKD"][0] += int(key in (t["key"], relative(t["key"])))
            counts["CK"][1] += 1
            counts["CKD"][1] += 1
            counts["CK_req"][0] += int(req.key == t["key"])
            counts["CK_req"][1] += 1
        if progress and (i + 1) % 10 == 0:
            print(f"  {i + 1}/{len(captions)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return counts


def format_counts(counts: dict) -> str:
    return "  ".join(f"{k} {100 * a / b:.1f}% ({a}/{b})" for k, (a, b) in counts.items() if b)


def main(argv: list[str] | None = None) -> int:
    from common.config import load_config
    from training import registry
    from training.understanding.benchmark import load_captions

    ap = argparse.ArgumentParser(prog="python -m training.understanding.e2e", description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=60, help="captions per language (0: all)")
    ap.add_argument("--bars", type=int, default=8)
    ap.add_argument("--ref", action="append", default=None,
                    help="a generator version or alias (repeat for several; default: champion)")
    ap.add_argument("--lang", choices=("en", "zh", "both"), default="both")
    args = ap.parse_args(argv)
    try:
        import torch
        torch.set_num_threads(1)  # a shared machine: one core
    except ImportError:
        pass
    cfg = load_config(None)
    caps = load_captions()
    for ref_name in args.ref or ["champion"]:
        generator, ref = registry.load_generator(cfg, ref_name)
        for lang in (("en", "zh") if args.lang == "both" else (args.lang,)):
            chosen = [c for c in caps if c["lang"] == lang and ("bpm" in c["labels"] or "key" in c["labels"])]
            chosen = chosen[:args.limit] if args.limit > 0 else chosen
            counts = run(chosen, generator, bars=args.bars)
            print(f"[{lang}] {ref.name} v{ref.version}, {len(chosen)} captions, {args.bars} bars: "
                  f"{format_counts(counts)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
