"""Marked and unmarked pieces of one untrained small model, for the watermark's unit tests."""
import torch

from training import watermark as wm
from training.generator import Generator
from training.model import NoteModelConfig, NoteTransformer

SMALL = dict(n_layer=2, n_head=4, n_embd=64, block_size=256)


def marked_and_unmarked(key: bytes, requests: list) -> dict[str, list[bytes]]:
    """{"marked": the MIDI of each request marked with ``key``, "unmarked": the same requests unmarked}, from a
    :data:`SMALL` model initialised with torch seed 0; the active key is restored after."""
    torch.manual_seed(0)
    gen = Generator(NoteTransformer(NoteModelConfig(**SMALL)))
    out = {}
    try:
        for name, k in (("marked", key), ("unmarked", None)):
            wm.use_key(k)
            out[name] = [gen.generate(r).midi for r in requests]
    finally:
        wm.use_key(wm.load_key())
    return out
