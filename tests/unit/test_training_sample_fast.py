"""The fast sampling path (numpy steps and draws) against the baseline (torch modules): same numbers
to float rounding, same notes for the same seed, the request's constraints on its output."""

import numpy as np
import pytest
import torch

from lake.chords import QUALITIES
from lake.vocab import parse_chord, scale_pitch_classes
from training.generator import Generator, save_checkpoint
from training.model import FastNoteModel, NoteTransformer
from training.notes import FIELD_NAMES, field_sizes
from tests.support.note_models import random_model
from training.request import PieceRequest
from training.masks import TUNE_CLEAR
from training.sample import sample

SMALL = dict(n_layer=2, n_head=4, n_embd=64, block_size=32)


def _model(seed: int = 0, **cfg) -> NoteTransformer:
    return random_model(seed, **(SMALL | cfg))


def _rows(n: int, seed: int = 0) -> np.ndarray:
    sizes = field_sizes()
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, sizes[name], size=n) for name in FIELD_NAMES], -1).astype(np.int64)


def test_numpy_step_and_heads_match_the_torch_model():
    model = _model(block_size=64)
    fast = FastNoteModel(model)
    rows = _rows(50)
    ref, ours = model.new_cache(), fast.new_cache()
    with torch.inference_mode():
        prefill = model.hidden(torch.from_numpy(rows[:8])[None], ref)[0]  # a prefill, as the prelude goes
        k, v = ours.kv
        np.testing.assert_allclose(fast.step_many(rows[:8], [ours.kv] * 8, list(range(8))), prefill.numpy(),
                                   atol=2e-5, rtol=1e-5)  # each row of a prefill sees the rows before it
        for t in range(8, 50):
            h_ref = model.hidden(torch.from_numpy(rows[t:t + 1])[None], ref)[0, -1]
            h = fast.step(rows[t], k, v, t)
            np.testing.assert_allclose(h, h_ref.numpy(), atol=2e-5, rtol=1e-5)
        np.testing.assert_allclose(k[:, :, :50], ref.k.numpy()[:, 0, :, :50], atol=2e-5)  # (layer, head, position, dim)
        np.testing.assert_allclose(v[:, :, :50], ref.v.numpy()[:, 0, :, :50], atol=2e-5)
        hn = h_ref.numpy()
        kind, role = fast.more_logits(hn)
        np.testing.assert_allclose(kind, model.kind_logits(h_ref).numpy(), atol=2e-5)
        np.testing.assert_allclose(role, model.role_logits(h_ref).numpy(), atol=2e-5)
        np.testing.assert_allclose(fast.pos_logits(hn, 2), model.pos_logits(h_ref, torch.tensor(2)).numpy(), atol=2e-5)
        for ours_l, ref_l in zip(fast.note_logits(hn, 2, 7), model.note_logits(h_ref, torch.tensor(2), torch.tensor(7))):
            np.testing.assert_allclose(ours_l, ref_l.numpy(), atol=2e-5)


REQUESTS = [
    dict(style="pop", bpm=100, key="C major", bars=8, instruments=["flute", "piano", "acoustic bass", "drums"]),
    dict(style="jazz", bpm=140, key="A minor", bars=6, time_signature="6/8", instruments=["flute", "piano", "acoustic bass"]),
    dict(style="rock", bpm=90, key="Eb major", bars=5, time_signature="3/4", chords=["Eb", "Cm", "Ab", "Bb7"],
         instruments=["violin", "piano", "acoustic bass", "drums"]),
]


@pytest.mark.parametrize("i", range(len(REQUESTS)))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_seed_same_notes_as_the_baseline(i, seed):
    """Exact equality: the fast path draws from the baseline's random stream, value for value. The
    pieces outgrow the 24-step block, so the cache rebuild (a torch prefill amid numpy steps) is in."""
    model = _model(seed, block_size=24)
    plan = PieceRequest(seed=seed, **REQUESTS[i]).resolve()
    with torch.inference_mode():
        base = sample(model, plan, seed, 0.9)
        fast = sample(model, plan, seed, 0.9, fast=FastNoteModel(model))
    assert base.n_steps > model.cfg.block_size
    assert fast.notes == base.notes and fast.n_steps == base.n_steps


def test_same_notes_with_a_given_melody_and_another_temperature():
    model = _model(4)
    melody = [(bar, pos, 72 + (pos % 5), 2, 90) for bar in range(4) for pos in range(0, 16, 4)]
    plan = PieceRequest(style="pop", bpm=100, key="G major", bars=4, seed=3,
                        instruments=["flute", "piano", "acoustic bass"]).resolve()
    with torch.inference_mode():
        base = sample(model, plan, 3, 1.3, given={"melody": melody})
        fast = sample(model, plan, 3, 1.3, given={"melody": melody}, fast=True)
    assert set(fast.notes) == {"harmony", "bass"}
    assert fast.notes == base.notes and fast.n_steps == base.n_steps


@pytest.mark.parametrize("key,ts", [("D minor", "4/4"), ("A major", "6/8"), ("F major", "3/4")])
def test_fast_output_keeps_every_constraint(key, ts):
    model = _model(7)
    plan = PieceRequest(style="pop", bpm=100, key=key, time_signature=ts, bars=6, seed=9,
                        instruments=["flute", "piano", "acoustic bass"]).resolve()
    with torch.inference_mode():
        out = sample(model, plan, 9, fast=True).notes
    scale = set(scale_pitch_classes(plan.request.key))  # natural minor; a major V's chord tones join it
    beat = 6 if ts == "6/8" else 4
    grid = 2  # bpm 100: the broken chord moves on eighths
    registers = plan.registers
    assert registers == {"melody": (60, 79), "harmony": (48, 76), "bass": (28, 55)}
    for role, notes in out.items():
        assert {n[0] for n in notes} == set(range(6)), role
        lo, hi = registers[role]
        for bar, pos, pitch, dur, vel in notes:
            root, quality = parse_chord(plan.chords[bar])
            tones = {(root + i) % 12 for i in QUALITIES[quality]}
            assert 0 <= pos and pos + dur <= plan.bar_steps and lo <= pitch <= hi
            assert pitch % 12 in (scale | tones if role == "melody" else tones)
            if role == "harmony":
                assert pos % grid == 0  # a broken chord on the eighths
            if role == "bass":
                roots = {root, (root + QUALITIES[quality][2]) % 12}
                if pos >= plan.bar_steps - beat and bar + 1 < 6 and plan.phrase_end(bar):  # may walk into the next
                    nxt = parse_chord(plan.chords[bar + 1])[0]
                    roots |= {(nxt + d) % 12 for d in (-2, -1, 1, 2)} & scale
                assert pos % beat == 0 and pitch % 12 in roots
        if role != "harmony":  # one line: onsets strictly after each other within a bar
            for bar in range(6):
                onsets = [n[1] for n in notes if n[0] == bar]
                assert onsets == sorted(set(onsets))
    for bar in range(6):
        root, quality = parse_chord(plan.chords[bar])
        first_bass = min(n for n in out["bass"] if n[0] == bar)
        assert first_bass[1] == 0 and first_bass[2] % 12 == root
        harmony = [n for n in out["harmony"] if n[0] == bar]
        assert {n[2] % 12 for n in harmony} == {(root + i) % 12 for i in QUALITIES[quality]}
        assert [n[1] for n in harmony if n[1] > 0] == sorted({n[1] for n in harmony if n[1] > 0})  # one note an onset
        high = registers["melody"][0] + TUNE_CLEAR  # the tune on top where it sits high: no harmony note above
        for _, pos, pitch, dur, _ in harmony:        # a melody note from there up that it overlaps
            assert all(pitch < m[2] for m in out["melody"]
                       if m[0] == bar and m[1] < pos + dur and m[1] + m[3] > pos and m[2] >= high)


def test_generator_switch_selects_the_path_and_both_write_the_same_piece(tmp_path):
    model = _model(5)
    path = str(tmp_path / "model.pt")
    save_checkpoint(path, model, step=1)
    assert Generator(model).sampling == "fast"  # the default
    base = Generator.from_checkpoint(path, fast=False)
    assert base.sampling == "baseline"
    fast = Generator.from_checkpoint(path)
    assert fast.sampling == "fast" and fast.baseline().sampling == "baseline" and fast.optimized().sampling == "fast"
    req = PieceRequest(style="pop", bpm=110, key="E minor", bars=4, seed=21,
                       instruments=["flute", "piano", "acoustic bass", "drums"])
    a, b = fast.generate(req), base.generate(req)
    assert a.midi == b.midi and a.n_steps == b.n_steps
    assert fast.generate(req, fast=False).midi == a.midi == base.generate(req, fast=True).midi
    assert base.generate(req, use_cache=False).midi == a.midi


@pytest.mark.parametrize("warmth, column", [("pitch_warmth", 2), ("onset_warmth", 1)])
def test_a_warmer_model_moves_its_melody_and_both_paths_agree(tmp_path, warmth, column):
    """Warmer pitches draw other pitches (note column 2), warmer onsets other onsets (column 1); the fast path
    and the baseline warm the same draws, and the warmth is saved with the model."""
    plan = PieceRequest(style="pop", bpm=100, key="C major", bars=4, seed=2,
                        instruments=["flute", "piano", "acoustic bass"]).resolve()
    cool, warm = _model(3), _model(3, **{warmth: 3.0})
    with torch.inference_mode():
        a = sample(cool, plan, 2, fast=True).notes
        b, b_base = sample(warm, plan, 2, fast=True).notes, sample(warm, plan, 2, fast=False).notes
    assert b == b_base
    assert [n[column] for n in a["melody"]] != [n[column] for n in b["melody"]]
    path = str(tmp_path / "warm.pt")
    save_checkpoint(path, warm, step=1)
    assert getattr(Generator.from_checkpoint(path).model.cfg, warmth) == 3.0


def test_the_pop909_preset_samples_its_melody_onsets_warmer_and_tiny_does_not():
    from common.config import TrainConfig

    assert TrainConfig(preset="pop909").onset_warmth == 1.3 and TrainConfig(preset="tiny").onset_warmth == 1.0
    assert TrainConfig(preset="pop909", onset_warmth=1.0).onset_warmth == 1.0  # an explicit value wins
    # the fresh bias spreads the POP909 model's pitches now (pitch warmth 1.4 with it: stepwise 0.55, classifier 0.84)
    assert TrainConfig(preset="pop909").pitch_warmth == 1.0
