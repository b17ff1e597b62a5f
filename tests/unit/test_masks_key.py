"""The sampler tells a key its chords leave in doubt (training.masks: key_in_doubt, tells_the_key,
accompanies_the_key), and draws exactly what it drew before where the chords tell the key themselves."""

import pytest
import torch

from lake.vocab import parse_key, pitch_class
from tests.support.note_models import random_model
from training import masks
from training.request import PieceRequest
from training.sample import sample

SMALL = dict(n_layer=2, n_head=4, n_embd=64, block_size=64)
INSTRUMENTS = ["flute", "piano", "acoustic bass"]


def _plan(key: str, chords: list[str] | None = None, style: str = "pop", bars: int = 8, seed: int = 1):
    return PieceRequest(style=style, bpm=100, key=key, bars=bars, seed=seed, chords=chords,
                        instruments=INSTRUMENTS).resolve()


@pytest.mark.parametrize("key,chords", [
    ("D minor", ["C#m", "F#m", "E", "F#m"]),  # a loop heard in F# minor
    ("E minor", ["Em", "D", "Em", "D"]),  # as much G major's
    ("D major", ["Bm", "F#m", "Bm", "D"]),  # heard in B minor
    ("F major", ["Fmaj7", "Bbmaj7"]),  # D minor's notes as much as F major's
    ("C major", ["Am", "Dm", "E", "Am"]),  # A minor's cadence
])
def test_chords_heard_in_another_key_leave_the_key_in_doubt(key, chords):
    assert masks.key_in_doubt(_plan(key, chords))


@pytest.mark.parametrize("key,chords,style", [
    ("C major", None, "pop"),  # the style's I-V-vi-IV, closing on I
    ("A minor", None, "pop"),
    ("Eb major", None, "classical"),
    ("G major", ["G", "C", "D", "G"], "pop"),
    ("D minor", ["Dm", "Gm", "A", "Dm"], "pop"),
])
def test_chords_that_tell_their_key_leave_no_doubt(key, chords, style):
    assert not masks.key_in_doubt(_plan(key, chords, style))


def _without_key_biases(monkeypatch):
    biases = {role: {f: tuple(b for b in fns if b not in (masks.tells_the_key, masks.accompanies_the_key))
                     for f, fns in fields.items()} for role, fields in masks.BIASES.items()}
    monkeypatch.setattr(masks, "BIASES", biases)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_where_the_chords_tell_the_key_the_notes_are_those_drawn_without_the_key_biases(seed, monkeypatch):
    model = random_model(seed, **SMALL)
    plan = _plan("G major", ["G", "C", "D", "G"], seed=seed)
    with torch.inference_mode():
        with_biases = sample(model, plan, seed, fast=True).notes
        _without_key_biases(monkeypatch)
        without = sample(model, plan, seed, fast=True).notes
    assert with_biases == without


def _triad_share(notes, key: str, role: str, main_only: bool) -> float:
    tonic, mode = parse_key(key).split()
    t = pitch_class(tonic)
    triad = {t, (t + (3 if mode == "minor" else 4)) % 12, (t + 7) % 12}
    picked = [(p, d) for _, pos, p, d, _ in notes[role] if not main_only or pos % 8 == 0 or d >= 4]
    return sum(d for p, d in picked if p % 12 in triad) / max(1, sum(d for _, d in picked))


def test_a_key_in_doubt_is_told_by_the_melody_and_the_accompaniment(monkeypatch):
    key, chords = "G major", ["C", "F", "D", "G"]  # heard in C; C and D share a tone with G B D, F none
    plan = _plan(key, chords, bars=16)
    assert masks.key_in_doubt(plan)
    told, plain = {"melody": [], "harmony": []}, {"melody": [], "harmony": []}
    with torch.inference_mode():
        runs = [sample(random_model(s, **SMALL), plan, s, fast=True).notes for s in range(6)]
        _without_key_biases(monkeypatch)
        bare = [sample(random_model(s, **SMALL), plan, s, fast=True).notes for s in range(6)]
    for notes, out in ((runs, told), (bare, plain)):
        for n in notes:
            out["melody"].append(_triad_share(n, key, "melody", main_only=True))
            out["harmony"].append(_triad_share(n, key, "harmony", main_only=False))
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert mean(told["melody"]) > mean(plain["melody"]) + 0.1
    assert mean(told["harmony"]) > mean(plain["harmony"])


def test_a_key_in_doubt_both_paths_write_the_same_notes():
    model = random_model(5, **(SMALL | dict(block_size=24)))
    plan = _plan("D major", ["Bm", "F#m", "Bm", "D"], bars=6, seed=5)
    assert masks.key_in_doubt(plan)
    with torch.inference_mode():
        base = sample(model, plan, 5)
        fast = sample(model, plan, 5, fast=True)
    assert fast.notes == base.notes


def _main_notes(notes, plan):
    return [(bar, p) for bar, pos, p, d, _ in notes["melody"] if pos % 8 == 0 or d >= 4]


def test_in_doubt_a_main_note_may_take_the_tonic_triad_over_a_chord_that_lacks_it():
    """Over F in G major (no G, B or D in it) the tune may hold G, B or D; elsewhere main notes stay chord tones."""
    from lake.chords import QUALITIES

    plan = _plan("G major", ["C", "F", "D", "G"], bars=16)
    triad = {7, 11, 2}
    over_f, outside = 0, []
    with torch.inference_mode():
        for s in range(6):
            notes = sample(random_model(s, **SMALL), plan, s, fast=True).notes
            for bar, p in _main_notes(notes, plan):
                root, quality = plan.chord_pcs[bar]
                tones = {(root + i) % 12 for i in QUALITIES[quality]}
                if p % 12 not in tones:
                    outside.append(p % 12)
                if plan.chords[bar] == "F" and p % 12 in triad:
                    over_f += 1
    assert over_f > 0
    assert outside and set(outside) <= triad


def test_a_key_the_chords_tell_keeps_every_main_note_on_its_chord():
    from lake.chords import QUALITIES

    plan = _plan("G major", ["G", "C", "D", "G"], bars=16)
    with torch.inference_mode():
        for s in range(4):
            notes = sample(random_model(s, **SMALL), plan, s, fast=True).notes
            for bar, p in _main_notes(notes, plan):
                root, quality = plan.chord_pcs[bar]
                assert p % 12 in {(root + i) % 12 for i in QUALITIES[quality]}
