"""Figures of the watermark (training.watermark): detection after every edit a user makes, false
positives on music that is not ours, and what the mark costs the music.

``python -m training.watermark_bench [--model 1] [--pieces 300] [--slow 100] [--negatives 10000]``
(``make bench-watermark``) under a key of its own (not the deployment's):

1. ``--pieces`` requests (pop prompts, English and Chinese, 16 bars; ``training.phrase_check.requests``)
   written twice by the registered generator: marked, and unmarked (the same seeds);
2. every marked piece through each edit, detected whole (16 bars) and cut to 8 random bars after the
   edit; the re-saves through music21 (MIDI and a MusicXML round trip) are slow and run on the first
   ``--slow`` pieces;
3. false positives: every MIDI file of the lake (``bronze_midi_files``), POP909 (``--pop909``, default
   ``../shared/data/pop909``), the score site's demo corpus, the test fixtures, and the unmarked pieces,
   each also transposed, quantized, without a track and cut to 8 bars in several places, until at least
   ``--negatives`` files;
4. the music: the realism statistics (:func:`training.realism.piece_stats`, medians) and the control
   figures (:func:`training.analysis.measure`: key, chords) of marked against unmarked pieces, and the
   cross-validated accuracy of a classifier telling the two apart by those statistics (0.5: it cannot).
"""

from __future__ import annotations

import argparse
import io
import random
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from symusic import Score, Tempo

from training import watermark as wm

BENCH_KEY = b"musiclake-watermark-bench-key"  # not a secret: the figures' own key


# -- the edits ----------------------------------------------------------------------------------------------
def _bar_ticks(s: Score) -> int:
    ts = s.time_signatures[0] if len(s.time_signatures) else None
    num, den = (ts.numerator, ts.denominator) if ts else (4, 4)
    return int(s.ticks_per_quarter * 4 * num // den)


def _n_bars(s: Score) -> int:
    return max(1, -(-int(s.end()) // _bar_ticks(s)))


def cut(s: Score, first_bar: int, bars: int = 8) -> Score:
    b = _bar_ticks(s)
    return s.clip(first_bar * b, (first_bar + bars) * b).shift_time(-first_bar * b)


def random_cut(s: Score, rng: random.Random, bars: int = 8) -> Score:
    return cut(s, rng.randrange(max(1, _n_bars(s) - bars + 1)), bars)


def _random_cut_at(s: Score, rng: random.Random, bars: int = 8) -> tuple[int, Score]:
    first = rng.randrange(max(1, _n_bars(s) - bars + 1))  # the draw random_cut makes
    return first, cut(s, first, bars)


def transpose(s: Score, by: int) -> Score:
    s = s.copy()
    for t in s.tracks:
        if not t.is_drum:
            for n in t.notes:
                n.pitch = min(127, max(0, n.pitch + by))
    return s


def retempo(s: Score, factor: float) -> Score:
    s = s.copy()
    qpm = s.tempos[0].qpm if len(s.tempos) else 120.0
    s.tempos = [Tempo(0, qpm=float(qpm) * factor)]
    return s


def stretch(s: Score, factor: float) -> Score:
    """The notes re-timed (ticks scaled), as a DAW's time stretch writes them."""
    s = s.copy()
    for t in s.tracks:
        for n in t.notes:
            n.time, n.duration = int(n.time * factor), max(1, int(n.duration * factor))
    return s


def quantize(s: Score, sixteenths: int) -> Score:
    s = s.copy()
    q = max(1, s.ticks_per_quarter * sixteenths // 4)
    for t in s.tracks:
        for n in t.notes:
            n.time = int(round(n.time / q)) * q
            n.duration = max(q, int(round(n.duration / q)) * q)
    return s


def flatten_velocity(s: Score) -> Score:
    s = s.copy()
    for t in s.tracks:
        for n in t.notes:
            n.velocity = 80
    return s


def drop_track(s: Score, rng: random.Random) -> Score:
    pitched = [i for i, t in enumerate(s.tracks) if not t.is_drum and len(t.notes)]
    s = s.copy()
    if len(pitched) > 1:
        del s.tracks[rng.choice(pitched)]
    return s


def change_notes(s: Score, rng: random.Random, share: float = 0.05) -> Score:
    s = s.copy()
    for t in s.tracks:
        if t.is_drum:
            continue
        for n in t.notes:
            if rng.random() < share:
                n.pitch = min(127, max(0, n.pitch + rng.choice((-2, -1, 1, 2))))
    return s


def delete_notes(s: Score, rng: random.Random, share: float = 0.05) -> Score:
    s = s.copy()
    for t in s.tracks:
        if t.is_drum:
            continue
        keep = [n for n in t.notes if rng.random() >= share]
        t.notes.clear()
        for n in keep:
            t.notes.append(n)
    return s


def via_mido(midi: bytes) -> bytes:
    import mido

    out = io.BytesIO()
    mido.MidiFile(file=io.BytesIO(midi)).save(file=out)
    return out.getvalue()


def via_pretty_midi(midi: bytes) -> bytes:
    import pretty_midi

    out = io.BytesIO()
    pretty_midi.PrettyMIDI(io.BytesIO(midi)).write(out)
    return out.getvalue()


def via_music21(midi: bytes, musicxml: bool = False) -> bytes:
    from music21 import converter

    stream = converter.parseData(midi, format="midi", quantizePost=musicxml)
    with tempfile.TemporaryDirectory() as d:
        if musicxml:
            xml = stream.write("musicxml", fp=str(Path(d) / "a.musicxml"))
            stream = converter.parse(str(xml))
        path = stream.write("midi", fp=str(Path(d) / "a.mid"))
        return Path(path).read_bytes()


# name -> (edit of bytes with a random source, slow?)
Edit = Callable[[bytes, random.Random], bytes]


def _on_score(fn) -> Edit:
    return lambda b, rng: fn(Score.from_midi(b), rng).dumps_midi()


EDITS: dict[str, tuple[Edit, bool]] = {
    "none (symusic)": (lambda b, rng: b, False),
    "re-saved: mido": (lambda b, rng: via_mido(b), False),
    "re-saved: pretty_midi": (lambda b, rng: via_pretty_midi(b), False),
    "transposed (random, +-1..11)": (_on_score(lambda s, rng: transpose(s, rng.choice([i for i in range(-11, 12) if i]))),
                                     False),
    "tempo x0.5": (_on_score(lambda s, rng: retempo(s, 0.5)), False),
    "tempo x2": (_on_score(lambda s, rng: retempo(s, 2.0)), False),
    "re-timed x1.5 (ticks)": (_on_score(lambda s, rng: stretch(s, 1.5)), False),
    "quantized 1/8": (_on_score(lambda s, rng: quantize(s, 2)), False),
    "quantized 1/16": (_on_score(lambda s, rng: quantize(s, 1)), False),
    "velocity flattened": (_on_score(lambda s, rng: flatten_velocity(s)), False),
    "one track dropped (random)": (_on_score(drop_track), False),
    "5 % of notes changed": (_on_score(change_notes), False),
    "5 % of notes deleted": (_on_score(delete_notes), False),
    "re-saved: music21": (lambda b, rng: via_music21(b), True),
    "MusicXML round trip (music21)": (lambda b, rng: via_music21(b, musicxml=True), True),
}


def _detect(midi: bytes) -> wm.Verdict | None:
    try:
        return wm.detect(midi, BENCH_KEY)
    except ValueError:
        return None


def _tracks(midi: bytes) -> str:
    return "+".join(str(t.name) or "?" for t in Score.from_midi(midi).tracks if not t.is_drum and len(t.notes))


def robustness(pieces: list[bytes], slow: int, seed: int = 0, misses: list | None = None
               ) -> list[tuple[str, int, float, float, float, float]]:
    """Per edit: (name, pieces, share detected whole, median z, share detected in a random 8-bar cut,
    median z of the cuts). ``misses`` (a list) gets each miss: (edit, piece, whole or the cut's first bar
    and the file's bars, the pitched tracks the edited file kept, weighted triples read, green, z)."""
    rows = []
    for name, (edit, is_slow) in EDITS.items():
        rng = random.Random(seed)
        use = pieces[:slow] if is_slow else pieces
        if not use:
            continue
        whole, cuts, zw, zc, n = 0, 0, [], [], 0
        for i, midi in enumerate(use):
            try:
                edited = edit(midi, rng)
            except Exception as e:  # noqa: BLE001 - an edit a writer cannot make counts as a miss
                print(f"  {name}: {type(e).__name__}: {e}"[:160])
                n += 1
                continue
            n += 1
            v = _detect(edited)
            es = Score.from_midi(edited)
            first, cs = _random_cut_at(es, rng)
            c = _detect(cs.dumps_midi())
            if misses is not None:
                for what, got in (("whole", v), (f"bars {first + 1}-{first + 8} of {_n_bars(es)}", c)):
                    if not (got and got.ours):
                        misses.append((name, i, what, _tracks(edited), got.n if got else 0, got.green if got else 0,
                                       round(got.z, 2) if got else 0.0))
            whole += bool(v and v.ours)
            cuts += bool(c and c.ours)
            zw.append(v.z if v else 0.0)
            zc.append(c.z if c else 0.0)
        rows.append((name, n, whole / max(n, 1), float(np.median(zw)) if zw else 0.0, cuts / max(n, 1),
                     float(np.median(zc)) if zc else 0.0))
        print(f"  {name:32s} {n:4d}  whole {100 * rows[-1][2]:6.1f} %  8 bars {100 * rows[-1][4]:6.1f} %", flush=True)
    return rows


# -- a strict piece's draws again ------------------------------------------------------------------------------
def strict_requests(n: int, bars: int) -> list[tuple[dict, object]]:
    """The first ``n`` captions of the understanding benchmark (English, then Chinese) whose request states its key
    or tempo strictly (``strict_key`` / ``strict_tempo``: such a piece not heard so is drawn again), each with that
    request (``training.understanding.request_for_prompt``, seed = its place), as ``(caption, request)``."""
    from training.understanding import request_for_prompt
    from training.understanding.benchmark import load_captions

    caps = load_captions()
    out: list[tuple[dict, object]] = []
    for lang in ("en", "zh"):
        for c in (c for c in caps if c["lang"] == lang):
            if len(out) >= n:
                return out
            req = request_for_prompt(c["text"], bars=bars, seed=len(out))
            if req.strict_key or req.strict_tempo:
                out.append((c, req))
    return out


def generate_with_draws(gen, reqs) -> list[tuple[bytes, int, str]]:
    """Each request's piece, the draw it kept (0: its first; 1, 2: a strict piece's draws again) and why that draw
    was drawn ("key", "tempo", "key+tempo": the pushes of its plan; "" for a first draw), read off
    ``training.generator.draw_again`` (every path calls it after each draw with that draw's plan)."""
    from training import generator as g

    real = g.draw_again
    seen: dict[int, tuple[int, str]] = {}

    def spy(req, plan, result, kept):
        why = "+".join(w for w, push in (("key", plan.key_push), ("tempo", plan.tempo_push)) if push)
        seen[id(result)] = (plan.draw, why)
        return real(req, plan, result, kept)
    g.draw_again = spy
    try:
        out = []
        for r in reqs:
            seen.clear()
            res = gen.generate(r)
            out.append((res.midi, *seen[id(res)]))
        return out
    finally:
        g.draw_again = real


def _heard(midi: bytes, caption: dict, req) -> tuple[bool | None, bool | None]:
    """(the caption's stated key heard, its stated tempo heard) from the notes, as the understanding benchmark reads
    them (``training.understanding.e2e``: the key finder, the tempo bin of the pulse); None where not stated."""
    from lake.vocab import tempo_bin
    from training.analysis import analyzed_key, find_pulse, load_notes, measured_tempo_bin, quarter_bpm
    from training.understanding.e2e import truth

    t = truth(caption)
    notes = load_notes(midi)
    key = tempo = None
    if "key" in t and caption["labels"]["key"].get("how") == "stated":
        key = ((~notes.drum).any() and analyzed_key(midi)) == t["key"]
    if "bpm" in t and caption["labels"]["bpm"].get("how", "stated") == "stated":
        pulse = find_pulse(notes)
        bpm = quarter_bpm(0.0 if pulse is None else pulse.bpm, req.time_signature)
        tempo = measured_tempo_bin(bpm) == tempo_bin(t["bpm"])
    return key, tempo


def _cut_reads(midi: bytes, rng: random.Random, cuts: int) -> list[wm.Verdict | None]:
    s = Score.from_midi(midi)
    return [_detect(random_cut(s, rng).dumps_midi()) for _ in range(cuts)]


def strict_figures(gen, n: int, bars: int, cuts: int = 3, seed: int = 0, edits: bool = True) -> list[str]:
    """The mark and the stated key and tempo of strict pieces (:func:`strict_requests`), marked (the bench key, the
    draws again as :data:`training.watermark.REDRAWS` says) and unmarked, by the draw each kept: detected whole and
    in ``cuts`` random 8-bar cuts each; in those cuts the weighted triples read, their green share, the keyed
    triples and their mean keyed score (null 1); the stated key and tempo heard from the notes; with ``edits``, the
    marked pieces through every fast edit (:func:`robustness`: whole, and one random 8-bar cut after the edit)."""
    pairs = strict_requests(n, bars)
    reqs = [r for _, r in pairs]
    got: dict[str, list[tuple[bytes, int, str]]] = {}
    for label, key in (("marked", BENCH_KEY), ("unmarked", None)):
        wm.use_key(key)
        got[label] = generate_with_draws(gen, reqs)
    wm.use_key(BENCH_KEY)
    rng = random.Random(seed)
    rows: dict[str, dict[str, list]] = {}
    names = ("whole", "cut", "n", "green", "m", "score", "key", "tempo", "key0", "tempo0", "draw")
    for i, ((midi, draw, why), (plain, _, _)) in enumerate(zip(got["marked"], got["unmarked"])):
        groups = ["first draw kept"] if draw == 0 else ["a draw again kept", f"  of them pushed: {why}"]
        v = _detect(midi)
        reads = _cut_reads(midi, rng, cuts)
        key, tempo = _heard(midi, *pairs[i])
        key0, tempo0 = _heard(plain, *pairs[i])
        for group in groups:
            r = rows.setdefault(group, {k: [] for k in names})
            r["whole"].append(bool(v and v.ours))
            for c in reads:
                r["cut"].append(bool(c and c.ours))
                if c is not None:
                    r["n"].append(c.n)
                    r["green"].append(c.green / max(c.n, 1))
                    r["m"].append(c.keyed)
                    r["score"].append(c.score / max(c.keyed, 1))
                    r["draw"].append(c.draw == draw)
            for k, x in (("key", key), ("tempo", tempo), ("key0", key0), ("tempo0", tempo0)):
                if x is not None:
                    r[k].append(bool(x))
    out = [f"strict pieces: {len(pairs)} benchmark captions' requests ({bars} bars), draws again "
           f"{wm.REDRAWS!r} (subkeys tried: {wm._draws()}); kept a draw again: marked "
           f"{sum(d > 0 for _, d, _ in got['marked'])}, unmarked {sum(d > 0 for _, d, _ in got['unmarked'])}",
           "| kept | pieces | whole | 8-bar cuts | cuts' weighted triples (median) | green | keyed triples (median) "
           "| keyed score per triple | cuts read under their draw's subkey | stated key heard, marked / unmarked "
           "| stated tempo heard, marked / unmarked |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def share(xs: list) -> str:
        return f"{sum(xs)}/{len(xs)} ({100 * sum(xs) / max(len(xs), 1):.1f} %)"
    for group in ["first draw kept", "a draw again kept"] + sorted(g for g in rows if g.startswith("  ")):
        r = rows.get(group)
        if not r:
            continue
        out.append(f"| {group} | {len(r['whole'])} | {share(r['whole'])} | {share(r['cut'])} | "
                   f"{np.median(r['n']) if r['n'] else 0:.0f} | {np.mean(r['green']) if r['green'] else 0:.3f} | "
                   f"{np.median(r['m']) if r['m'] else 0:.0f} | {np.mean(r['score']) if r['score'] else 0:.2f} | "
                   f"{share(r['draw'])} | {share(r['key'])} / {share(r['key0'])} | "
                   f"{share(r['tempo'])} / {share(r['tempo0'])} |")
    every = {k: sum((rows[g][k] for g in rows if not g.startswith("  ")), []) for k in ("key", "key0", "tempo", "tempo0")}
    out.append(f"every strict piece: stated key heard marked {share(every['key'])}, unmarked {share(every['key0'])}; "
               f"stated tempo heard marked {share(every['tempo'])}, unmarked {share(every['tempo0'])}")
    if edits:  # every fast edit, as robustness does for the bench's pieces, per draw kept
        by = {"first draw kept": [m for m, d, _ in got["marked"] if d == 0],
              "a draw again kept": [m for m, d, _ in got["marked"] if d > 0]}
        res = {g: {r[0]: r for r in robustness(ps, 0, seed=seed)} for g, ps in by.items() if ps}
        out += ["", "| edit (strict pieces) | first draw kept: whole | 8-bar cut | a draw again kept: whole | 8-bar cut |",
                "|---|---:|---:|---:|---:|"]
        for name in next(iter(res.values())):
            cells = [f"{100 * res[g][name][2]:.1f} % | {100 * res[g][name][4]:.1f} %" if g in res else "- | -" for g in by]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


# -- what is not ours ---------------------------------------------------------------------------------------
def not_ours_sources(cfg, pop909: Path | None) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    try:
        from deltalake import DeltaTable

        table = DeltaTable(f"{cfg.lake.uri.rstrip('/')}/bronze_midi_files", storage_options=cfg.lake.storage_options or None
                           ).to_pyarrow_table(columns=["source", "content"])
        out += [(f"lake:{s}", bytes(c)) for s, c in zip(table.column("source").to_pylist(),
                                                         table.column("content").to_pylist())]
    except Exception as e:  # noqa: BLE001 - no lake here: the other sources still count
        print(f"(lake not read: {type(e).__name__}: {e})"[:200])
    roots = [("fixtures", Path(__file__).resolve().parents[1] / "tests" / "fixtures"),
             ("demo-corpus", Path(cfg.demo.site_dir) / "midi")]
    if pop909 is not None:
        roots.append(("pop909", pop909))
    for name, root in roots:
        if root.exists():
            out += [(name, p.read_bytes()) for p in sorted(root.rglob("*.mid"))]
    return out


NEGATIVE_EDITS: tuple[tuple[str, Callable[[Score, random.Random], Score]], ...] = (
    ("as is", lambda s, rng: s),
    ("transposed", lambda s, rng: transpose(s, rng.choice([i for i in range(-11, 12) if i]))),
    ("quantized 1/8", lambda s, rng: quantize(s, 2)),
    ("a track dropped", drop_track),
    ("first 8 bars", lambda s, rng: cut(s, 0)),
) + tuple((f"8 bars ({i + 1})", lambda s, rng: random_cut(s, rng)) for i in range(6))


def false_positives(sources: list[tuple[str, bytes]], want: int, seed: int = 1) -> tuple[int, int, float, list]:
    """(files scored, flagged as ours, the largest z, the flagged ones' names)."""
    rng = random.Random(seed)
    scored, flagged, top, names = 0, 0, -np.inf, []
    rounds = 0
    while scored < want and rounds < 20:
        for name, midi in sources:
            try:
                s = Score.from_midi(midi)
            except Exception:  # noqa: BLE001 - unreadable: not a file anyone could mistake for ours
                continue
            for what, edit in NEGATIVE_EDITS:
                v = _detect(edit(s, rng).dumps_midi())
                if v is None or v.n < wm.MIN_SCORED:
                    continue
                scored += 1
                top = max(top, v.z)
                if v.ours:
                    flagged += 1
                    names.append((name, what, round(v.z, 2)))
        rounds += 1
    return scored, flagged, float(top), names


# -- the music ----------------------------------------------------------------------------------------------
def music(marked: list[bytes], unmarked: list[bytes], reqs) -> list[tuple[str, float, float]]:
    from training.analysis import measure
    from training.realism import STATS, classifier_test, medians, piece_stats

    rows = []
    sm = [piece_stats(m) for m in marked]
    su = [piece_stats(m) for m in unmarked]
    mm, mu = medians(sm), medians(su)
    for k in STATS:
        rows.append((f"realism {k} (median)", mm.get(k, float("nan")), mu.get(k, float("nan"))))
    for k in STATS:  # means, and the difference in pooled standard deviations (what a classifier can use)
        a = np.array([s.get(k, np.nan) for s in sm], dtype=float)
        b = np.array([s.get(k, np.nan) for s in su], dtype=float)
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        if a.size > 1 and b.size > 1:
            sd = float(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2))
            d = (a.mean() - b.mean()) / sd if sd > 0 else 0.0
            rows.append((f"realism {k} (mean; marked - unmarked: {d:+.2f} sd)", float(a.mean()), float(b.mean())))
    for label, pieces in (("marked", marked), ("unmarked", unmarked)):
        ms = [measure(m, r) for m, r in zip(pieces, reqs)]
        key = 100 * float(np.mean([x.key_exact for x in ms]))
        chord = 100 * float(np.mean([x.chord_accuracy for x in ms]))
        if label == "marked":
            k_m, c_m = key, chord
        else:
            rows += [("key exact %", k_m, key), ("chord accuracy %", c_m, chord)]
    clf = classifier_test(sm, su)
    rows.append(("classifier marked vs unmarked (balanced acc.)", clf.balanced_accuracy, 0.5))
    rows.append(("the same, other folds (seed 1)", classifier_test(sm, su, seed=1).balanced_accuracy, 0.5))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.watermark_bench", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="1", help="registered generator: version or alias (default 1, the demo model)")
    ap.add_argument("--config", default=None)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--pieces", type=int, default=300)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--slow", type=int, default=100, help="pieces re-saved through music21 (slow)")
    ap.add_argument("--negatives", type=int, default=10000)
    ap.add_argument("--pop909", default=None, help="POP909 folder (default: $POP909_DIR or ../shared/data/pop909)")
    ap.add_argument("--keep-sizes", action="store_true", help="the melody's lean within its interval sizes "
                                                               "(training.watermark.KEEP_SIZES) instead of additive")
    ap.add_argument("--within", type=float, nargs=2, default=None, metavar=("MELODY", "ALONE"),
                    help="with --keep-sizes: the lean within sizes, and for a tune with one partner part")
    ap.add_argument("--across", type=float, nargs=2, default=None, metavar=("MELODY", "ALONE"),
                    help="with --keep-sizes: the additive part on top (0 0: none)")
    ap.add_argument("--accompaniment", type=float, default=None,
                    help="the harmony's and the bass's additive lean (keyed or not)")
    ap.add_argument("--melody", type=float, nargs=2, default=None, metavar=("MELODY", "ALONE"),
                    help="the melody's additive lean, and for a tune with at most one partner part")
    ap.add_argument("--keyed", nargs="*", default=None, metavar="ROLE",
                    help="these roles' pitch draws keyed (training.watermark.KEYED: the race on keyed noise; none "
                         "named: melody, harmony and bass); the melody then leans only by --keyed-lean, the others "
                         "keep their lean")
    ap.add_argument("--no-keyed", action="store_true", help="no role keyed (the green list's lean alone)")
    ap.add_argument("--first-only", action="store_true", help="with --keyed: a context's repeats in a line drawn "
                                                               "from the random generator (KEY_REPEATS off)")
    ap.add_argument("--context", type=int, default=None, help="with --keyed: intervals keying a draw (KEYED_CONTEXT)")
    ap.add_argument("--keyed-lean", type=float, nargs=2, default=None, metavar=("MELODY", "ALONE"),
                    help="with keyed draws: the melody's additive lean (training.watermark.KEYED_LEAN, _ALONE)")
    ap.add_argument("--s-weight", type=float, default=None, help="with --keyed: the keyed score's weight in the "
                                                                  "detector's sum (training.watermark.S_WEIGHT)")
    ap.add_argument("--redraws", choices=("subkey", "generator", "same"), default=None,
                    help="a strict piece's draws again: keyed noise of their own draw's subkey (the default), the random "
                         "generator's noise, or the first draw's keyed noise (training.watermark.REDRAWS)")
    ap.add_argument("--redraw-repeats", action="store_true", help="with --redraws subkey: a draw again keys a context "
                                                                    "its line has had before too (REDRAW_REPEATS)")
    ap.add_argument("--draw-keys", type=int, default=None, help="the draws' subkeys the detector tries "
                                                                 "(training.watermark.DRAW_KEYS)")
    ap.add_argument("--pushed-lean", type=float, nargs=3, default=None, metavar=("MELODY", "ALONE", "ACCOMPANIMENT"),
                    help="with keyed draws: the additive lean in a strict key's draw again (training.watermark.PUSHED_LEAN)")
    ap.add_argument("--keyed-durs", action="store_true", help="durations keyed and read in every pitched role "
                                                              "(training.watermark.KEYED_DURS; off by default)")
    ap.add_argument("--dur-skip", type=int, nargs="*", default=None, metavar="K",
                    help="a track whose onsets and durations (16ths) all share one of these factors is not read for "
                         "durations (training.watermark.DUR_SKIP_GCD; default 2 3)")
    ap.add_argument("--low-weight", type=int, default=None, help="the weight of a stacked onset's lowest note "
                                                                  "(training.watermark.LOW_WEIGHT; 0: not read)")
    ap.add_argument("--strict", type=int, default=0, metavar="N",
                    help="also N strict requests of the understanding benchmark's captions (a stated key or tempo, "
                         "drawn again when not heard): the mark and the stated key and tempo by the draw kept")
    ap.add_argument("--strict-only", action="store_true", help="with --strict: only those figures")
    ap.add_argument("--misses", action="store_true", help="list every missed file: the edit, the piece, the cut, "
                                                          "the tracks it kept, the triples read, green, z")
    args = ap.parse_args(argv)

    from common.config import load_config
    from training import registry
    from training.phrase_check import requests
    from training.realism import pop909_dir

    cfg = load_config(path=args.config, overrides=args.overrides)
    if args.keep_sizes:
        wm.KEEP_SIZES = frozenset({"melody"})
    if args.within:
        wm.WITHIN, wm.WITHIN_ALONE = {"melody": args.within[0]}, args.within[1]
    if args.across:
        wm.ACROSS, wm.ACROSS_ALONE = {"melody": args.across[0]}, args.across[1]
    if args.accompaniment is not None:
        wm.DELTA = dict(wm.DELTA, harmony=args.accompaniment, bass=args.accompaniment)
        wm.KEYED_LEAN = dict(wm.KEYED_LEAN, harmony=args.accompaniment, bass=args.accompaniment)
    if args.melody:
        wm.DELTA, wm.DELTA_ALONE = dict(wm.DELTA, melody=args.melody[0]), args.melody[1]
    if args.keyed is not None:
        wm.KEYED = frozenset(args.keyed or ("melody", "harmony", "bass"))
    if args.no_keyed:
        wm.KEYED = frozenset()
    if args.first_only:
        wm.KEY_REPEATS = False
    if args.context is not None:
        wm.KEYED_CONTEXT = args.context
    if args.keyed_lean:
        wm.KEYED_LEAN, wm.KEYED_LEAN_ALONE = dict(wm.KEYED_LEAN, melody=args.keyed_lean[0]), args.keyed_lean[1]
    if args.s_weight is not None:
        wm.S_WEIGHT = args.s_weight
    if args.redraws:
        wm.REDRAWS = args.redraws
    if args.pushed_lean:
        wm.PUSHED_LEAN = {"melody": args.pushed_lean[0], "alone": args.pushed_lean[1], "harmony": args.pushed_lean[2],
                          "bass": args.pushed_lean[2]}
    if args.redraw_repeats:
        wm.REDRAW_REPEATS = True
    if args.draw_keys is not None:
        wm.DRAW_KEYS = args.draw_keys
    if args.keyed_durs:
        wm.KEYED_DURS = wm.ALL_DURS
    if args.dur_skip is not None:
        wm.DUR_SKIP_GCD = tuple(args.dur_skip)
    if args.low_weight is not None:
        wm.LOW_WEIGHT = args.low_weight
    t0 = time.perf_counter()
    gen, ref = registry.load_generator(cfg, args.model)
    print(f"model: {ref.name} v{ref.version}; gamma {wm.GAMMA}, delta {wm.DELTA} (a tune with one partner part "
          f"{wm.DELTA_ALONE}); " + (f"the lean of {sorted(wm.KEEP_SIZES)} within interval sizes <= {wm.SIZE_CLASSES} / "
          f"more {wm.WITHIN} ({wm.WITHIN_ALONE}), across them {wm.ACROSS} ({wm.ACROSS_ALONE}); " if wm.KEEP_SIZES else "")
          + (f"keyed draws {sorted(wm.KEYED)} (context {wm.KEYED_CONTEXT} intervals, repeats keyed {wm.KEY_REPEATS}; "
             f"the melody's additive lean {wm.KEYED_LEAN}, alone {wm.KEYED_LEAN_ALONE}; keyed score's weight "
             f"{wm.S_WEIGHT}; draws again {wm.REDRAWS!r} (their repeats keyed {wm.REDRAW_REPEATS}), the detector tries {wm._draws()} draw subkeys, handicaps "
             f"{wm.DRAW_HANDICAP}; a strict key's draw again leans {wm.PUSHED_LEAN or 'as any'}); " if wm.KEYED else "")
          + (f"durations keyed {sorted(wm.KEYED_DURS)} (not read where a track's 16ths share a factor of "
             f"{wm.DUR_SKIP_GCD}); " if wm.KEYED and wm.KEYED_DURS else "durations not keyed; ")
          + f"weights {wm.WEIGHTS} (stacked top, downbeat, other), a stacked onset's lowest note {wm.LOW_WEIGHT}; "
          f"ours from p <= {wm.P_OURS:.3g} (z >= {wm.Z_OURS:.2f})",
          flush=True)
    strict_rows: list[str] = []
    if args.strict:
        t = time.perf_counter()
        strict_rows = strict_figures(gen, args.strict, args.bars)
        print("\n".join(strict_rows) + f"\n({time.perf_counter() - t:.0f} s)\n", flush=True)
        if args.strict_only:
            return 0
    reqs = [gen._plan(r)[0] for r in requests(args.pieces, args.bars)]
    pieces: dict[str, list[bytes]] = {}
    times: dict[str, float] = {}
    for label, key in (("marked", BENCH_KEY), ("unmarked", None)):
        wm.use_key(key)
        t = time.perf_counter()
        pieces[label] = [gen.generate(r).midi for r in reqs]
        times[label] = (time.perf_counter() - t) / max(1, len(reqs))
        print(f"{len(reqs)} {label} pieces, {1000 * times[label]:.0f} ms each", flush=True)
    wm.use_key(BENCH_KEY)

    print("\ndetection (marked pieces; 8 bars: a random 8-bar cut after the edit)", flush=True)
    missed: list = []
    rows = robustness(pieces["marked"], args.slow, misses=missed)
    if args.misses:
        print("\nmisses (edit, piece, whole or cut, tracks kept, weighted triples, green, z):")
        for m in missed:
            print("  ", *m)

    pop = Path(args.pop909) if args.pop909 else pop909_dir()
    sources = not_ours_sources(cfg, pop if pop.exists() else None)
    sources += [("unmarked generated", m) for m in pieces["unmarked"]]
    t = time.perf_counter()
    scored, flagged, top, names = false_positives(sources, args.negatives)
    fp_s = time.perf_counter() - t

    print("\nmusic: marked vs unmarked, the same requests", flush=True)
    mus = music(pieces["marked"], pieces["unmarked"], reqs)

    print(f"\n## watermark figures ({ref.name} v{ref.version}, {len(reqs)} pieces of {args.bars} bars)\n")
    print("| edit | pieces | detected, whole | median z | detected, 8-bar cut | median z (cut) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, n, w, zw, c, zc in rows:
        print(f"| {name} | {n} | {100 * w:.1f} % | {zw:.1f} | {100 * c:.1f} % | {zc:.1f} |")
    print(f"\nfalse positives: {flagged} of {scored} files not ours ({100 * flagged / max(scored, 1):.3f} %; "
          f"{len(sources)} originals and edited copies; largest z {top:.2f}; {1000 * fp_s / max(scored, 1):.1f} ms "
          f"per detection)" + (f"; flagged: {names[:5]}" if names else ""))
    print("\n| figure | marked | unmarked |\n|---|---:|---:|")
    for name, a, b in mus:
        print(f"| {name} | {a:.3f} | {b:.3f} |")
    print(f"| generation ms per piece | {1000 * times['marked']:.0f} | {1000 * times['unmarked']:.0f} |")
    if strict_rows:
        print("\n" + "\n".join(strict_rows))
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
