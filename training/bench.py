"""``make bench-train``: training throughput per core and sampling time, with and without the KV cache.

Prints figures, asserts nothing. Training: steps of the generator's loss + backward + AdamW on
random-content windows of the preset's shape, one thread per core as Ray Train workers run,
reported as note steps (tokens) per second per core. Sampling: 16 bars x 4 tracks (melody,
harmony and bass sampled, drums arranged) with the registered champion when the configured MLflow
has one (else a freshly initialised model of the preset, said so), timed over several seeds, with
the KV cache and without it (the whole context recomputed every step), in one run.

    python -m training.bench [--preset tiny] [--seeds 8] [--train-steps 20] [--model champion] [--config FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch


def _train_rate(preset: str, steps: int, batch_size: int) -> tuple[float, int]:
    from musiclake.config import TRAIN_PRESETS as PRESETS
    from training.model import NoteModelConfig, NoteTransformer
    from training.notes import FIELD_NAMES, N_FIELDS, field_sizes

    sizes_ = PRESETS[preset]
    cfg = NoteModelConfig(**{k: sizes_[k] for k in ("n_layer", "n_head", "n_embd", "block_size")})
    model = NoteTransformer(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sizes = field_sizes()
    rng = np.random.default_rng(0)
    x = np.stack([rng.integers(1, sizes[name], size=(batch_size, cfg.block_size + 1)) for name in FIELD_NAMES], -1)
    x[..., FIELD_NAMES.index("kind")] = 4  # NOTE steps: every head learns
    batch = torch.from_numpy(x.astype(np.int64))
    assert batch.shape[-1] == N_FIELDS
    for _ in range(2):  # warm-up
        loss, _ = model(batch[:, :-1], batch[:, 1:])
        loss.backward()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss, _ = model(batch[:, :-1], batch[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    return steps * batch_size * cfg.block_size / dt, sum(p.numel() for p in model.parameters())


def _generator(args):
    from training.generator import Generator
    from musiclake.config import TRAIN_PRESETS
    from training.model import NoteModelConfig, NoteTransformer

    if args.model:
        try:
            from musiclake.config import load_config
            from training.registry import load_generator

            gen, ref = load_generator(load_config(args.config), args.model)
            return gen, f"registered musiclake-generator v{ref.version} (@{args.model})"
        except Exception as e:  # noqa: BLE001 - the bench still measures an untrained model of the preset
            note = f"no registered model ({type(e).__name__}: {str(e)[:80]})"
    else:
        note = "--model not given"
    torch.manual_seed(0)
    sizes = {k: TRAIN_PRESETS[args.preset][k] for k in ("n_layer", "n_head", "n_embd", "block_size")}
    return Generator(NoteTransformer(NoteModelConfig(**sizes))), \
        f"freshly initialised {args.preset} model ({note})"


def main(argv=None) -> None:
    from training.request import PieceRequest

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--train-steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--model", default="champion", help="registry alias or version; '' for an untrained model")
    ap.add_argument("--config", default=None, help="musiclake config (where MLflow is); default: the usual lookup")
    args = ap.parse_args(argv)

    cores = os.cpu_count() or 1
    torch.set_num_threads(1)
    rate, n_params = _train_rate(args.preset, args.train_steps, args.batch_size)
    print(f"training  preset {args.preset}: {n_params / 1e6:.2f} M parameters, {rate:,.0f} note steps/s on 1 thread "
          f"(= per core; {cores} cores here)")

    gen, what = _generator(args)
    print(f"sampling  16 bars x 4 tracks (flute melody, piano harmony, acoustic bass: model; drums: arranger) "
          f"with {what}, {args.seeds} seeds, torch threads 1")
    rows = []
    for use_cache in (True, False):
        times, steps = [], []
        for seed in range(args.seeds):
            req = PieceRequest(style="pop", bpm=100, key="C major", bars=16, seed=seed,
                               instruments=["flute", "piano", "acoustic bass", "drums"])
            t0 = time.perf_counter()
            res = gen.generate(req, use_cache=use_cache)
            times.append(time.perf_counter() - t0)
            steps.append(res.n_steps)
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        rows.append((use_cache, statistics.median(times), p95, statistics.median(steps)))
    print(f"  {'KV cache':<9} {'p50 s':>7} {'p95 s':>7} {'steps':>6} {'ms/step':>8}")
    for use_cache, p50, p95, st in rows:
        print(f"  {'on' if use_cache else 'off':<9} {p50:>7.3f} {p95:>7.3f} {st:>6.0f} {1000 * p50 / max(st, 1):>8.2f}")
    on, off = rows[0], rows[1]
    print(f"  the cache makes sampling {off[1] / max(on[1], 1e-9):.1f}x faster; goal for serving: p95 < 1 s "
          f"({'met' if on[2] < 1 else f'{on[2]:.2f} s, missed by {on[2] - 1:.2f} s'} on this machine's sampler alone)")


if __name__ == "__main__":
    main()
