"""``python -m training.tension_report``: the tension control measured from the notes, on a registered generator.

For several cues (style, key, tempo) the same requests (seeds) are written at tension 0, 0.5 and 1 and
measured by :mod:`training.tension_measure`; then a ramped cue (``tension: [0, 1]`` over 16 bars) is
measured bar by bar (first quarter of the bars against the last). Each figure is the mean over the seeds;
the ratios are against tension 0. Also the time per piece at each level (the hooks' cost).

    python -m training.tension_report [--model 1] [--seeds 6] [--bars 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from training.request import PieceRequest
from training.tension_measure import MEASURES, measure, rise

CUES = (("film", "D minor", 84.0), ("pop", "C major", 110.0), ("jazz", "Bb major", 120.0), ("rock", "E minor", 132.0))
LEVELS = (0.0, 0.5, 1.0)
LABELS = {"dissonance": "dissonant pairs", "rhythm_change": "IOI changes/bar", "low_share": "notes < C3",
          "diameter": "cloud diameter", "strain": "tensile strain"}


def _run(gen, style, key, bpm, bars, seeds, tension):
    out, ms = [], []
    for seed in seeds:
        req = PieceRequest(style=style, key=key, bpm=bpm, bars=bars, seed=seed, tension=tension)
        t0 = time.perf_counter()
        res = gen.generate(req)
        ms.append((time.perf_counter() - t0) * 1000)
        out.append(measure(res.midi, key))
    return out, float(np.median(ms))


def _mean(rows, name):
    return float(np.nanmean([r[name] for r in rows]))


def report(gen, seeds: int = 6, bars: int = 8, out=print) -> dict:
    seed_list = list(range(seeds))
    head = f"{'cue':<22}{'tension':>8}" + "".join(f"{LABELS[m]:>17}" for m in MEASURES) + f"{'ms/piece':>10}"
    out(head)
    totals: dict[float, list] = {t: [] for t in LEVELS}
    for style, key, bpm in CUES:
        base = None
        for t in LEVELS:
            rows, ms = _run(gen, style, key, bpm, bars, seed_list, t)
            totals[t] += rows
            means = {m: _mean(rows, m) for m in MEASURES}
            base = base or means
            cells = "".join(f"{means[m]:>10.3f} x{means[m] / base[m]:<5.2f}" if base[m] else f"{means[m]:>17.3f}"
                            for m in MEASURES)
            out(f"{style + ', ' + key:<22}{t:>8.1f}{cells}{ms:>10.0f}")
    out("")
    base = {m: _mean(totals[0.0], m) for m in MEASURES}
    summary = {}
    for t in LEVELS:
        means = {m: _mean(totals[t], m) for m in MEASURES}
        summary[t] = means
        out(f"{'all cues':<22}{t:>8.1f}" + "".join(f"{means[m]:>10.3f} x{means[m] / base[m]:<5.2f}" for m in MEASURES))
    ramp_bars = 16
    out(f"\nramped cue: tension [0, 1] over {ramp_bars} bars (film, D minor, 84 bpm), mean over {seeds} seeds, "
        f"per bar quarter")
    rows, _ = _run(gen, "film", "D minor", 84.0, ramp_bars, seed_list, [0.0, 1.0])
    q = ramp_bars // 4
    out(f"{'measure':<18}" + "".join(f"{f'bars {i * q + 1}-{(i + 1) * q}':>12}" for i in range(4)) + f"{'slope/bar':>12}")
    ramp = {}
    for m in MEASURES:
        per_bar = np.nanmean([r[m + "_bars"] for r in rows], axis=0)
        quarters = [float(np.nanmean(per_bar[i * q:(i + 1) * q])) for i in range(4)]
        ramp[m] = quarters
        out(f"{LABELS[m]:<18}" + "".join(f"{v:>12.3f}" for v in quarters) + f"{rise(list(per_bar)):>12.4f}")
    return {"levels": summary, "ramp": ramp}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m training.tension_report", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="1", help="registry alias or version (default 1: the demo model)")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--bars", type=int, default=8)
    ap.add_argument("--config", default=None)
    args = ap.parse_args(argv)
    from common.config import load_config
    from training import registry as reg

    cfg = load_config(args.config)
    gen, ref = reg.load_generator(cfg, args.model)
    print(f"generator {ref.name} v{ref.version} ({cfg.mlflow.tracking_uri}); {args.seeds} seeds per cell, "
          f"{args.bars} bars; ratio against tension 0")
    report(gen, args.seeds, args.bars)


if __name__ == "__main__":
    main()
