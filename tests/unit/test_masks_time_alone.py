"""Where no drums play and the harmony is a held instrument (strings, brass, a pad), the harmony's broken chord
moves on the beats (training.masks.keeps_time_alone): measured from the sampled notes, against the same
request with a piano or with drums, whose broken chords may move on the eighths."""

import pytest
import torch

from tests.support.note_models import random_model
from training import masks
from training.request import PieceRequest
from training.sample import sample

SMALL = dict(n_layer=2, n_head=4, n_embd=64, block_size=64)


def _plan(instruments: list[str], bpm: float = 120, time_signature: str = "4/4"):
    return PieceRequest(style="film", bpm=bpm, key="C minor", bars=6, seed=3, instruments=instruments,
                        time_signature=time_signature).resolve()


@pytest.mark.parametrize("instruments,alone", [
    (["french horn", "string ensemble"], True),
    (["flute", "synth pad"], True),
    (["flute", "piano"], False),  # struck: its broken chord may run in eighths
    (["french horn", "string ensemble", "drums"], False),  # the drums keep the time
])
def test_which_plans_keep_the_time_with_their_harmony(instruments, alone):
    assert masks.keeps_time_alone(_plan(instruments)) is alone


def _harmony_offbeats(plan, seeds=range(4)) -> int:
    """Harmony onsets between the beats, over a few seeds of a random model."""
    beat = 16 // plan.denominator
    n = 0
    for seed in seeds:
        model = random_model(seed, **SMALL)
        with torch.inference_mode():
            notes = sample(model, plan, seed, fast=True).notes
        n += sum(1 for _, pos, *_ in notes["harmony"] if pos % beat)
    return n


def test_held_harmony_without_drums_strikes_only_on_the_beats():
    assert _harmony_offbeats(_plan(["french horn", "string ensemble"])) == 0


def test_a_piano_or_drums_leave_the_broken_chord_on_the_eighths():
    # the same tune and tempo: eighths are allowed and a random model uses them
    assert _harmony_offbeats(_plan(["french horn", "piano"])) > 0
    assert _harmony_offbeats(_plan(["french horn", "string ensemble", "drums"])) > 0
