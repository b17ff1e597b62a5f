"""Does the generator write phrases? Melody structure statistics over ~20 pop pieces, with the controls beside them.

    python -m training.phrase_check [--checkpoint PATH | --model REF --config FILE] [--pieces 20] [--bars 16]

Each piece is written for a pop prompt (English and Chinese, two seeds each) and measured from its
MIDI alone: the track named ``melody`` against every other pitched track. The statistics are the
ones issue 16 compares with real pop songs (medians over pieces; real POP909 songs in brackets):

* ``repeat``: melody bars whose rhythm and intervals repeat an earlier bar's, any transposition (0.21)
* ``rhythm_repeat``: melody bars whose rhythm alone repeats an earlier bar's (0.40)
* ``stepwise``: successive melody intervals of at most 2 semitones (0.67)
* ``leaps``: successive melody intervals over 7 semitones (0.03)
* ``on_top``: melody onsets at or above every sounding accompaniment note (0.74)
* ``range``: the melody's span in semitones (15)
* ``syncopation``: melody onsets between beats (about 0.5)

and the controls from :func:`training.analysis.measure` (key exact, chord accuracy per bar, tempo-bin
hit, instruments present), as the evaluator counts them.

Which model: ``--model`` loads a registered version (``--config``); otherwise ``--checkpoint``
(default ``./data/phrase_check/model.pt``), which is trained first when it does not exist: the
``tiny`` sizes on POP909 songs (``--pop909``, default ``../shared/data/pop909``) for a few hundred
steps in this process, a stand-in for the registered model that only the real pipeline trains.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np

PROMPTS = (
    "upbeat pop song for a summer road trip", "a warm pop ballad about home", "happy pop song with piano",
    "catchy dance pop with synths", "a gentle pop love song", "夏日轻快的流行歌曲", "温柔的流行情歌",
    "欢快的钢琴流行曲", "带点电子的流行舞曲", "怀旧的流行民谣",
)
STATS = ("repeat", "rhythm_repeat", "stepwise", "leaps", "on_top", "range", "syncopation")
REAL = {"repeat": 0.21, "rhythm_repeat": 0.40, "stepwise": 0.67, "leaps": 0.03, "on_top": 0.74, "range": 15,
        "syncopation": 0.5}


# -- the statistics, from the MIDI ------------------------------------------------------------------
def melody_stats(midi: bytes, bars: int = 16) -> dict[str, float]:
    """The structure statistics of the ``melody`` track over its first ``bars`` bars (see the module docstring)."""
    from symusic import Score

    score = Score.from_midi(midi)
    tpq = score.ticks_per_quarter
    ts = score.time_signatures[0] if len(score.time_signatures) else None
    num, den = (ts.numerator, ts.denominator) if ts is not None else (4, 4)
    bar_ticks = tpq * 4 * num // den
    beat_ticks = tpq * 3 // 2 if den == 8 and num % 3 == 0 else tpq * 4 // den
    end = bars * bar_ticks
    melody, others = [], []
    for t in score.tracks:
        if t.is_drum:
            continue
        arr = [(n.start, n.start + n.duration, n.pitch) for n in t.notes if n.start < end]
        (melody if t.name == "melody" else others).extend(arr)
    if not melody:
        return {s: float("nan") for s in STATS}
    melody.sort(key=lambda n: (n[0], -n[2]))
    line = [n for i, n in enumerate(melody) if i == 0 or n[0] != melody[i - 1][0]]  # the top note of each onset
    pitches = np.array([p for _, _, p in line])
    steps = np.abs(np.diff(pitches))
    by_bar: dict[int, list] = {}
    for s, e, p in line:
        by_bar.setdefault(s // bar_ticks, []).append((s % bar_ticks, e - s, p))
    seen, seen_rhythm, repeats, rhythm_repeats = set(), set(), 0, 0
    for b in sorted(by_bar):
        notes = by_bar[b]
        rhythm = tuple((s, d) for s, d, _ in notes)
        shape = (rhythm, tuple(np.diff([p for _, _, p in notes]).tolist()))
        repeats += shape in seen
        rhythm_repeats += rhythm in seen_rhythm
        seen.add(shape)
        seen_rhythm.add(rhythm)
    others_arr = np.array(others, dtype=np.int64).reshape(-1, 3)
    on_top = []
    for s, _, p in line:
        sounding = others_arr[(others_arr[:, 0] <= s) & (others_arr[:, 1] > s)]
        on_top.append(bool((sounding[:, 2] <= p).all()))
    return {"repeat": repeats / len(by_bar), "rhythm_repeat": rhythm_repeats / len(by_bar),
            "stepwise": float((steps <= 2).mean()) if len(steps) else float("nan"),
            "leaps": float((steps > 7).mean()) if len(steps) else float("nan"),
            "on_top": float(np.mean(on_top)), "range": float(pitches.max() - pitches.min()),
            "syncopation": float(np.mean([s % beat_ticks != 0 for s, _, _ in line]))}


# -- a model to measure ---------------------------------------------------------------------------
def _pop909_rows(folder: Path, block: int, limit: int) -> list[np.ndarray]:
    from symusic import Score

    from lake.vocab import parse_key
    from training.notes import encode, note_table

    rows = []
    for song in sorted(p for p in folder.iterdir() if p.is_dir())[:limit]:
        try:
            score = Score.from_file(str(song / f"{song.name}.mid"))
            key_label = (song / "key_audio.txt").read_text().split()[2]  # e.g. "Gb:maj"
            tonic, mode = key_label.split(":")
            key = parse_key(f"{tonic} {'minor' if mode.startswith('min') else 'major'}")
            bpm = float(score.tempos[0].qpm) if len(score.tempos) else 100.0
            steps, _ = encode(note_table(score, "4/4"), "pop", bpm, key, "4/4")
        except Exception as e:  # noqa: BLE001 - a song that does not read is skipped, and said so
            print(f"  skipped {song.name}: {type(e).__name__}: {e}")
            continue
        if len(steps) > block + 1:
            rows.append(steps)
    return rows


def train_quick(path: Path, pop909: Path, steps: int = 300, songs: int = 160, seed: int = 0) -> None:
    """The ``tiny`` sizes trained on POP909 songs in this process (no Ray, no MLflow): a stand-in model."""
    import torch

    from common.config import TRAIN_PRESETS
    from training.generator import save_checkpoint
    from training.model import NoteModelConfig, NoteTransformer

    tiny = TRAIN_PRESETS["tiny"]
    cfg = NoteModelConfig(block_size=tiny["block_size"], n_layer=tiny["n_layer"], n_head=tiny["n_head"],
                          n_embd=tiny["n_embd"], dropout=0.1)
    rows = _pop909_rows(pop909, cfg.block_size, songs)
    if not rows:
        raise SystemExit(f"no POP909 songs read under {pop909}: pass --model or --checkpoint")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = NoteTransformer(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=tiny["learning_rate"], weight_decay=0.1)
    batch = tiny["batch_size"]
    t0 = time.perf_counter()
    for i in range(steps):
        lr = tiny["learning_rate"] * (min(1.0, (i + 1) / 30) * (0.55 + 0.45 * math.cos(math.pi * i / steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        picks = rng.integers(0, len(rows), size=batch)
        windows = []
        for r in picks:
            start = int(rng.integers(0, len(rows[r]) - cfg.block_size - 1))
            windows.append(rows[r][start:start + cfg.block_size + 1])
        x = torch.from_numpy(np.stack(windows))
        loss, _ = model(x[:, :-1], x[:, 1:])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if i % 50 == 0 or i == steps - 1:
            print(f"  step {i:4d}  loss {float(loss):.3f}  ({time.perf_counter() - t0:.0f} s)")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(str(path), model.eval(), steps, {"trained_on": f"pop909 first {songs} songs"})


# -- the check ------------------------------------------------------------------------------------
def requests(n: int, bars: int, **extra) -> list:
    from training.understanding import request_for_prompt

    out = []
    for i in range(n):
        prompt = PROMPTS[i % len(PROMPTS)]
        out.append(request_for_prompt(prompt, bars=bars, seed=1000 + i, **extra))
    return out


def run(generator, n: int = 20, bars: int = 16, **extra) -> dict[str, float]:
    """The medians of the statistics and the evaluator's control figures over ``n`` pieces."""
    from training.analysis import measure

    per_piece: dict[str, list[float]] = {s: [] for s in STATS}
    key = chord = tempo = inst = 0.0
    times = []
    for req in requests(n, bars, **extra):
        t0 = time.perf_counter()
        res = generator.generate(req)
        times.append(time.perf_counter() - t0)
        for s, v in melody_stats(res.midi, bars).items():
            per_piece[s].append(v)
        m = measure(res.midi, res.request)
        key += m.key_exact
        chord += m.chord_accuracy
        tempo += m.tempo_bin_hit
        inst += m.instruments_present
    out = {s: float(np.nanmedian(v)) for s, v in per_piece.items()}
    out |= {"key_exact_pct": 100 * key / n, "chord_accuracy_pct": 100 * chord / n, "tempo_bin_hit_pct": 100 * tempo / n,
            "instruments_present_pct": 100 * inst / n, "gen_p50_ms": 1000 * float(np.median(times))}
    return out


def table(figures: dict[str, float]) -> str:
    lines = [f"{'statistic (median over pieces)':34s} {'real pop':>9s} {'musiclake':>10s}"]
    for s in STATS:
        lines.append(f"{s:34s} {REAL[s]:>9g} {figures[s]:>10.3g}")
    for k in ("key_exact_pct", "chord_accuracy_pct", "tempo_bin_hit_pct", "instruments_present_pct", "gen_p50_ms"):
        lines.append(f"{k:34s} {'':>9s} {figures[k]:>10.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="a registered version (alias or number); else --checkpoint")
    ap.add_argument("--config", default=None, help="config file for --model")
    ap.add_argument("--checkpoint", default="./data/phrase_check/model.pt")
    ap.add_argument("--pop909", default=os.environ.get("POP909_DIR", "../shared/data/pop909"))
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--pieces", type=int, default=20)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--structure", default=None, help="the requests' structure (e.g. AABA, ABCD); default: theirs")
    args = ap.parse_args(argv)
    if args.model:
        from common.config import load_config
        from training.registry import load_generator

        gen, ref = load_generator(load_config(args.config), args.model)
        print(f"model: registered version {ref}")
    else:
        from training.generator import Generator

        path = Path(args.checkpoint)
        if not path.exists():
            print(f"no checkpoint at {path}: training the tiny sizes on {args.pop909} ({args.train_steps} steps)")
            train_quick(path, Path(args.pop909), steps=args.train_steps)
        gen = Generator.from_checkpoint(str(path))
        print(f"model: checkpoint {path}")
    extra = {"structure": args.structure} if args.structure is not None else {}
    print(f"{args.pieces} pop prompts (English and Chinese), {args.bars} bars")
    print(table(run(gen, args.pieces, args.bars, **extra)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
