"""``python -m training.continuation_report``: do the joins hold? Continuation and infilling measured from the notes.

For held-out POP909 songs (:data:`training.realism.HELD_OUT_POP909`, from ``POP909_DIR`` or
``../shared/data/pop909``; ``--songs DIR`` for another folder of MIDI files) the first 16 bars are the
upload. Each is

* **continued** by 8 bars: the key music21 hears in the new bars against the context's (the upload's
  last 8 bars), their onset tempo (:func:`training.analysis.onset_bpm`) against the context's, the notes
  that cross the join (an upload note sounding past the upload's end, a new note past the last new
  bar), and the melody statistics of :mod:`training.realism` of the new bars against the context's,
  beside those of the song's own next 8 bars (what a real continuation does);
* **infilled**, bars 5-12 of the melody, then bars 5-12 of every track: the notes outside the region that
  changed (must be 0), new notes ringing past the region's end, the key and onset tempo of the region
  against the rest, and the region's melody statistics against the song's own bars 5-12.

    python -m training.continuation_report [--model 1] [--n 8] [--songs DIR]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from symusic import Score, TimeSignature

from training.analysis import analyzed_key, key_relation, onset_bpm
from training.continuation import continue_piece, infill, read
from training.realism import is_held_out_pop909, piece_stats, pop909_dir

STATS = ("stepwise", "leaps", "range", "pc_entropy", "syncopation", "melody_on_top")
UPLOAD_QUARTERS, NEW_BARS, REGION = 64, 8, (5, 12)  # the upload: 64 quarters (16 bars of 4/4)


def window(score: Score, lo: int, hi: int, num: int, den: int) -> Score:
    """The notes starting in ticks [lo, hi), moved to start at 0, with the meter given (POP909 declares 1/4)."""
    out = Score(int(score.ticks_per_quarter))
    out.tempos = score.tempos
    out.time_signatures.append(TimeSignature(0, num, den))
    for t in score.tracks:
        c = t.copy()
        c.notes.clear()
        for n in t.notes:
            if lo <= n.time < hi:
                c.notes.append(n.shift_time(-lo))
        out.tracks.append(c)
    return out


def _notes(track, lo=None, hi=None) -> list:
    return sorted((n.time, n.duration, n.pitch, n.velocity) for n in track.notes if lo is None or not lo <= n.time < hi)


def _stats(score: Score) -> dict:
    s = piece_stats(score)
    return {k: s[k] for k in STATS}


def _key_tempo(a: Score, b: Score) -> tuple[str, float]:
    rel = key_relation(analyzed_key(b.dumps_midi()), analyzed_key(a.dumps_midi()) or "C major")
    ta, tb = onset_bpm(a), onset_bpm(b)
    return rel, (tb / ta if ta and tb else math.nan)


def songs(folder: Path | None, n: int) -> list[Path]:
    if folder is not None:
        return sorted(folder.glob("*.mid"))[:n]
    base = pop909_dir()
    found = [base / d / f"{d}.mid" for d in sorted(p.name for p in base.iterdir() if p.is_dir())
             if is_held_out_pop909(d)]
    return [p for p in found if p.exists()][:n]


def measure_song(path: Path, generator, seed: int) -> dict:
    full = Score(str(path))
    meter = read(full)
    bars = UPLOAD_QUARTERS * meter.tpq // meter.bar_ticks
    upload = window(full, 0, bars * meter.bar_ticks, meter.numerator, meter.denominator)
    r = read(upload)
    bar = r.bar_ticks
    out: dict = {"song": path.stem, "bars": r.n_bars}
    # continuation
    w = continue_piece(upload, generator, NEW_BARS, seed=seed)
    origin = r.offset + (w.region[0] - 1) * bar
    ctx = window(w.score, origin - 8 * bar, origin, r.numerator, r.denominator)
    new = window(w.score, origin, origin + NEW_BARS * bar, r.numerator, r.denominator)
    real_next = window(full, origin, origin + NEW_BARS * bar, r.numerator, r.denominator)
    out["cont_key"], out["cont_tempo_err"] = _key_tempo(ctx, new)
    out["real_key"], out["real_tempo_err"] = _key_tempo(ctx, real_next)  # what the song itself does there
    out["real_cross_end"] = out["real_kept_changed"] = 0
    out["cont_cross_upload"] = sum(n.end > origin for t in w.score.tracks for n in t.notes if n.time < origin)
    out["cont_cross_end"] = sum(n.end > origin + NEW_BARS * bar for t in w.score.tracks for n in t.notes
                                if n.time >= origin)
    out["cont_kept_changed"] = sum(_notes(a) != _notes(b, origin, 10**12) for a, b in zip(upload.tracks, w.score.tracks))
    out["cont_stats"] = (_stats(ctx), _stats(new), _stats(real_next))
    # infill: the melody, then every track
    lo, hi = r.offset + (REGION[0] - 1) * bar, r.offset + REGION[1] * bar
    out["real512_key"], out["real512_tempo_err"] = _key_tempo(window(upload, r.offset, lo, r.numerator, r.denominator),
                                                            window(upload, lo, hi, r.numerator, r.denominator))
    out["real512_cross_end"] = out["real512_kept_changed"] = 0
    for name, track in (("inf_mel", r.roles["melody"]), ("inf_all", None)):
        w = infill(upload, generator, REGION[0], REGION[1], seed=seed, track=track)
        out[name + "_kept_changed"] = sum(len(set(_notes(a, lo, hi)) ^ set(_notes(b, lo, hi)))
                                          for a, b in zip(upload.tracks, w.score.tracks))
        out[name + "_cross_end"] = sum(  # new notes (not the upload's) sounding past the region's end
            n[0] + n[1] > hi for a, b in zip(upload.tracks, w.score.tracks)
            for n in set(_notes(b)) - set(_notes(a)) if lo <= n[0] < hi)
        region = window(w.score, lo, hi, r.numerator, r.denominator)
        rest = window(w.score, r.offset, lo, r.numerator, r.denominator)
        out[name + "_key"], out[name + "_tempo_err"] = _key_tempo(rest, region)
        out[name + "_stats"] = (_stats(window(upload, lo, hi, r.numerator, r.denominator)), _stats(region))
    return out


def report(generator, paths: list[Path], seed: int = 1, out=print) -> list[dict]:
    rows = []
    for p in paths:
        try:
            rows.append(measure_song(p, generator, seed))
        except ValueError as e:
            out(f"{p.stem}: skipped ({e})")
    if not rows:
        out("no songs measured")
        return rows
    n = len(rows)

    def share(key, value="exact"):
        return sum(r[key] == value for r in rows) / n

    def share_ok(key):
        return sum(r[key] in ("exact", "relative") for r in rows) / n

    out(f"{n} songs, the first {UPLOAD_QUARTERS} quarters of each as the upload "
        f"(bars: {', '.join(str(r['bars']) for r in rows)})\n")
    cols = ("cont", "real", "inf_mel", "inf_all", "real512")
    widths = (18, 16, 20, 18, 16)
    out(f"{'':<34}{'continue 8 bars':>18}{'(song: next 8)':>16}{'infill 5-12 melody':>20}{'infill 5-12 all':>18}"
        f"{'(song: 5-12)':>16}")
    for label, fmt, keys in (
            ("key of new bars = context's", "{:.2f}", tuple(c + "_key" for c in cols)),
            ("... or its relative", "{:.2f}", None),
            ("onset tempo new/context, median", "{:.2f}", tuple(c + "_tempo_err" for c in cols)),
            ("... within 10 %", "{:.2f}", tuple(c + "_tempo_err" for c in cols)),
            ("new notes past the join", "{:d}", tuple(c + "_cross_end" for c in cols)),
            ("kept notes changed", "{:d}", tuple(c + "_kept_changed" for c in cols))):
        if keys is None:
            cells = [share_ok(c + "_key") for c in cols]
        elif "key" in keys[0] and "kept" not in keys[0]:
            cells = [share(k) for k in keys]
        elif "tempo" in keys[0] and label.startswith("..."):
            cells = [sum(abs(r[k] - 1) <= 0.1 for r in rows) / n for k in keys]
        elif "tempo" in keys[0]:
            cells = [float(np.nanmedian([r[k] for r in rows])) for k in keys]
        else:
            cells = [int(sum(r[k] for r in rows)) for k in keys]
        out(f"{label:<34}" + "".join(f"{fmt.format(c):>{w}}" for c, w in zip(cells, widths)))
    out(f"upload notes sounding past its end: {sum(r['cont_cross_upload'] for r in rows)}")
    out("\nmelody statistics (median over songs): context | new bars | the song's own bars there")
    out(f"{'':<16}{'continue: context':>18}{'new':>10}{'real next':>11}{'infill: real 5-12':>18}{'melody':>10}{'all':>10}")
    for s in STATS:
        def med(key, i):
            return float(np.nanmedian([r[key][i][s] for r in rows]))
        out(f"{s:<16}{med('cont_stats', 0):>18.3f}{med('cont_stats', 1):>10.3f}{med('cont_stats', 2):>11.3f}"
            f"{med('inf_mel_stats', 0):>18.3f}{med('inf_mel_stats', 1):>10.3f}{med('inf_all_stats', 1):>10.3f}")
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m training.continuation_report", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="1", help="registry alias or version (default 1: the demo model)")
    ap.add_argument("--n", type=int, default=8, help="songs")
    ap.add_argument("--songs", type=Path, default=None, help="a folder of MIDI files instead of POP909's held-out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--config", default=None)
    args = ap.parse_args(argv)
    from common.config import load_config
    from training import registry as reg

    cfg = load_config(args.config)
    gen, ref = reg.load_generator(cfg, args.model)
    print(f"generator {ref.name} v{ref.version} ({cfg.mlflow.tracking_uri})")
    report(gen, songs(args.songs, args.n), args.seed)


if __name__ == "__main__":
    main()
