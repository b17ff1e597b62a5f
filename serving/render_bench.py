"""``python -m serving.render_bench [piece.mid]``: the time each format takes to render (a 16-bar 4-track piece
from a fresh untrained model when no file is given)."""

from __future__ import annotations

from serving.api import FORMATS
from serving.render import PieceMeta, RenderError, render


def main(path: str | None = None) -> None:
    import sys
    import time

    if path:
        with open(path, "rb") as f:
            midi = f.read()
        meta = None
    else:
        from training.generator import Generator
        from training.model import NoteModelConfig, NoteTransformer
        from training.request import PieceRequest

        import torch

        torch.manual_seed(0)
        gen = Generator(NoteTransformer(NoteModelConfig(n_layer=1, n_head=2, n_embd=32, block_size=64)))
        res = gen.generate(PieceRequest(style="pop", bpm=100, key="C major", bars=16,
                                        instruments=["flute", "piano", "acoustic bass", "drums"], seed=1))
        midi = res.midi
        meta = PieceMeta(key="C major", bpm=100, time_signature="4/4",
                         parts=[f"{t.instrument} ({t.role})" for t in res.tracks])
        print(f"piece: {res.n_notes} notes, {len(res.tracks)} tracks, {res.duration_s:.1f} s", file=sys.stderr)
    from common.config import ServeConfig

    cfg = ServeConfig()
    for fmt in FORMATS:
        times = []
        for _ in range(4):
            t0 = time.perf_counter()
            try:
                out = render(fmt, midi, meta, soundfont=cfg.soundfont, fluidsynth=cfg.fluidsynth,
                             sample_rate=cfg.sample_rate)
            except RenderError as e:
                print(f"{fmt:9s} error: {e}")
                break
            times.append(1000 * (time.perf_counter() - t0))
        else:
            print(f"{fmt:9s} first {times[0]:7.1f} ms  best of 3 more {min(times[1:]):7.1f} ms  {len(out):9d} bytes")

if __name__ == "__main__":
    import sys

    main(sys.argv[1] if len(sys.argv) > 1 else None)
