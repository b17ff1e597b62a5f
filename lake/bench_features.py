"""Figures for the per-file features (prints them; not a test): `python -m lake.bench_features [--pieces N]`.

1. Per-file cost on one core of each step of the hot path (symusic parse, caps, features + chords
   + tracks + fingerprints, miditok tokenization, per-program split) on MIDI files exported from
   music21's corpus, as files/s.
2. Key agreement with music21's analyzers (Krumhansl–Schmuckler, the same method, and its default
   Aarden–Essen profile) on corpus pieces.
3. Chord agreement with music21's chordify on Bach chorales: on every beat where music21's slice
   is a triad or seventh lasting the whole beat, do the roots (and major/minor/diminished/augmented
   family) agree.
4. Chord accuracy on generated progressions whose chords are known (all qualities, inversions,
   passing tones).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def corpus_midi(limit: int, composers=("bach", "beethoven", "mozart", "haydn", "schumann", "essenFolksong")):
    """(name, music21 stream, MIDI bytes) for up to ``limit`` corpus pieces."""
    from music21 import corpus

    paths = []
    for c in composers:
        paths += sorted(corpus.getComposer(c), key=str)[:max(1, limit // len(composers) + 1)]
    out = []
    for path in paths:
        if len(out) >= limit:
            break
        try:
            piece = corpus.parse(path)
            if hasattr(piece, "scores"):  # an opus: its first score
                piece = piece.scores[0]
            with tempfile.TemporaryDirectory() as d:
                fp = os.path.join(d, "x.mid")
                piece.write("midi", fp=fp)
                data = open(fp, "rb").read()
        except Exception:  # a corpus file music21 itself cannot export
            continue
        out.append((os.path.basename(str(path)), piece, data))
    return out


def per_file_cost(datas: list[bytes], repeat: int = 3) -> dict[str, float]:
    from lake.midi_features import analyze, check_score, parse_midi
    from lake.tokenizer import ProgramSplitter, build_tokenizer, encode_ids
    from common.config import TokenizerConfig

    tok = build_tokenizer(TokenizerConfig())
    splitter = ProgramSplitter(tok)
    scores = [parse_midi(d) for d in datas]
    prepared = [check_score(s) for s in scores]
    ids = [tok.encode(s).ids for s in scores]
    steps = {
        "parse": lambda: [parse_midi(d) for d in datas],
        "caps": lambda: [check_score(s) for s in scores],
        "features+chords+tracks": lambda: [analyze(s, prepared=p) for s, p in zip(scores, prepared)],
        "tokenize (REMI)": lambda: [encode_ids(tok, s) for s in scores],
        "miditok REMI encode": lambda: [tok.encode(s) for s in scores],
        "per-program split": lambda: [splitter.split(i) for i in ids],
    }
    out = {}
    for name, fn in steps.items():
        best = min(_timed(fn) for _ in range(repeat))
        out[name] = best / len(datas)
    return out


def _print_cost(what: str, cost: dict[str, float]) -> None:
    print(f"\nper-file cost on one core (best of 3), {what}; 'tokenize (REMI)' is the lake's path "
          "(lake.remi_fast, the same ids as miditok's encode, which is shown for comparison):")
    for name, s in cost.items():
        print(f"  {name:<24} {s * 1e3:7.2f} ms  {1 / s:8.0f} files/s")
    encode = cost["parse"] + cost["caps"] + cost["tokenize (REMI)"] + cost["per-program split"]
    features = cost["parse"] + cost["caps"] + cost["features+chords+tracks"]
    print(f"  {'features job per file':<24} {features * 1e3:7.2f} ms  {1 / features:8.0f} files/s")
    print(f"  {'encode job per file':<24} {encode * 1e3:7.2f} ms  {1 / encode:8.0f} files/s")
    print(f"  {'both, one core':<24} {(features + encode) * 1e3:7.2f} ms  {1 / (features + encode):8.0f} files/s",
          flush=True)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def key_agreement(pieces) -> tuple[int, int, int, int]:
    """(ours = music21 Krumhansl-Schmuckler on the score, = music21's default on the score,
    = music21 Krumhansl-Schmuckler on the same MIDI file, pieces)."""
    from music21 import converter

    from lake.midi_features import analyze, parse_midi
    from lake.vocab import normalize_tonic

    same = default = same_file = n = 0
    for _, piece, data in pieces:
        f = analyze(parse_midi(data)).features
        ours = (f["key_tonic"], f["key_mode"])
        ks, aarden = piece.analyze("krumhansl"), piece.analyze("key")
        from_file = converter.parseData(data, format="midi").analyze("krumhansl")
        same += ours == (normalize_tonic(ks.tonic.name), ks.mode)
        default += ours == (normalize_tonic(aarden.tonic.name), aarden.mode)
        same_file += ours == (normalize_tonic(from_file.tonic.name), from_file.mode)
        n += 1
    return same, default, same_file, n


FAMILY = {"maj": "major", "7": "major", "maj7": "major", "min": "minor", "min7": "minor", "dim": "diminished",
          "hdim7": "diminished", "dim7": "diminished", "aug": "augmented", "sus4": "sus", "sus2": "sus"}


def chord_agreement(pieces) -> tuple[int, int, int]:
    """(beats compared, roots equal, roots and families equal) against music21's chordify."""
    from lake import chords as chordlib
    from lake.midi_features import check_score, parse_midi
    from lake.vocab import normalize_tonic

    n = roots = both = 0
    for _, piece, data in pieces:
        p = check_score(parse_midi(data))
        pitched = ~p.drum
        bounds = np.arange(int(np.ceil(p.end_tick / p.tpq)) + 1) * float(p.tpq)  # quarter-note beats from 0
        ours = chordlib.chords_on_grid(p.start[pitched], p.end[pitched], p.pitch[pitched], bounds)
        for ch in piece.chordify().flatten().getElementsByClass("Chord"):
            off = float(ch.offset)
            if off != int(off) or ch.quarterLength < 1 or int(off) >= len(ours) or ours[int(off)] == "N":
                continue
            if not (ch.isTriad() or ch.isSeventh()) or ch.quality not in ("major", "minor", "diminished", "augmented"):
                continue
            root, quality = ours[int(off)].split(":")
            truth = normalize_tonic(ch.root().name)
            n += 1
            roots += root == truth
            both += root == truth and FAMILY[quality] == ch.quality
    return n, roots, both


def generated_accuracy(n_bars: int = 2000, seed: int = 0) -> dict[str, float]:
    from lake import chords as chordlib
    from lake.vocab import PITCH_CLASSES

    rng = np.random.default_rng(seed)
    out = {}
    for name, qualities, inversions in (("triads, root position", ["maj", "min"], False),
                                        ("triads, any inversion", ["maj", "min", "dim"], True),
                                        ("sevenths, any inversion", ["7", "min7", "maj7", "hdim7"], True)):
        s, e, p, truth = [], [], [], []
        for bar in range(n_bars):
            q = qualities[rng.integers(len(qualities))]
            root = int(rng.integers(12))
            tones = [48 + root + i for i in chordlib.QUALITIES[q]]
            k = int(rng.integers(len(tones))) if inversions else 0
            for t in tones[k:] + [x + 12 for x in tones[:k]]:
                s.append(bar * 4.0), e.append(bar * 4.0 + 4), p.append(t)
            if rng.random() < 0.5:  # a passing tone in the melody
                s.append(bar * 4.0 + 1), e.append(bar * 4.0 + 1.5), p.append(72 + root + 2)
            truth.append(f"{PITCH_CLASSES[root]}:{q}")
        labels = chordlib.chords_on_grid(np.array(s), np.array(e), np.array(p), np.arange(n_bars + 1) * 4.0)
        out[name] = float(np.mean([a == b for a, b in zip(labels, truth)]))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pieces", type=int, default=60, help="music21 corpus pieces for the key and cost figures")
    ap.add_argument("--chorales", type=int, default=30, help="Bach chorales for the chord agreement")
    ap.add_argument("--midi-dir", default=None, help="also time the hot path on every *.mid under this folder "
                                                    "(e.g. the demo site's data/site/midi)")
    args = ap.parse_args(argv)

    if args.midi_dir:
        import glob

        files = sorted(glob.glob(os.path.join(args.midi_dir, "**", "*.mid"), recursive=True))
        datas = [open(f, "rb").read() for f in files]
        _print_cost(f"{len(datas)} files under {args.midi_dir} (mean {np.mean([len(d) for d in datas]) / 1024:.1f} KiB)",
                    per_file_cost(datas))

    t0 = time.perf_counter()
    pieces = corpus_midi(args.pieces)
    print(f"exported {len(pieces)} music21 corpus pieces to MIDI in {time.perf_counter() - t0:.0f}s "
          f"(mean {np.mean([len(d) for _, _, d in pieces]) / 1024:.1f} KiB)")

    _print_cost(f"the {len(pieces)} corpus pieces", per_file_cost([d for _, _, d in pieces]))

    same, default, same_file, n = key_agreement(pieces)
    print(f"\nkey agreement with music21 on {n} corpus pieces: Krumhansl-Schmuckler on the score {same}/{n} "
          f"({same / n:.0%}), music21 default (Aarden-Essen) on the score {default}/{n} ({default / n:.0%}), "
          f"Krumhansl-Schmuckler on the same MIDI file {same_file}/{n} ({same_file / n:.0%})")

    from music21 import corpus
    chorales = []
    for path in sorted(corpus.getComposer("bach"), key=str)[:args.chorales]:
        piece = corpus.parse(path)
        with tempfile.TemporaryDirectory() as d:
            fp = os.path.join(d, "x.mid")
            piece.write("midi", fp=fp)
            chorales.append((path, piece, open(fp, "rb").read()))
    beats, roots, both = chord_agreement(chorales)
    print(f"chord agreement with music21 chordify on {len(chorales)} Bach chorales, {beats} full-beat triads/sevenths: "
          f"root {roots / beats:.1%}, root + family {both / beats:.1%}")
    for name, acc in generated_accuracy().items():
        print(f"chord accuracy on 2000 generated bars ({name}, passing tones): {acc:.1%}")


if __name__ == "__main__":
    main()
