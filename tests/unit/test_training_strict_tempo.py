"""A stated tempo heard from the notes (issue 17, item 5): the tempo a plain word gets beside a mood
(training.understanding.implied.tempo_for_word), and a strict tempo's draw again telling the beat (the tune's
onsets on the beats, a beat long, accents on the beats: training.masks), leaving every first draw as it was."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lake.vocab import tempo_bin
from tests.support.note_models import random_model
from training import masks
from training.generator import Generator
from training.request import PieceRequest
from training.sample import sample
from training.understanding import request_for_prompt
from training.understanding.implied import pace_range, tempo_for_word

SMALL = dict(n_layer=2, n_head=4, n_embd=64, block_size=96)


@pytest.mark.parametrize("word,genre,mood,want", [
    ("moderate", None, None, 100),  # the word alone: its own tempo
    ("moderate", None, 84, 100),  # a moderate mood (melancholic): the word's own tempo is of its pace
    ("moderate", None, 100, 100),  # bright
    ("moderate", None, 132, 115),  # a fast mood (dramatic): 110-120 is what both allow
    ("slow", None, 66, 66),  # a slow mood (sad): its tempo, which the word allows
    ("slow", None, 100, 72),  # a moderate mood: 70-80 of the word, whose own 72 is there
    ("fast", None, 66, 130),  # a slow mood against a fast word: the word is stated, the mood only implied
    ("fast", None, 132, 130),  # a fast mood: the word's own tempo is of its pace
    ("moderate", 72, None, 100),  # a genre's tempo outside the word: the word's own
    ("slow", 66, 132, 66),  # a genre's tempo inside the word wins over the moods
    ("moderate", 150, None, 100),  # a waltz's 150 is no pace: not cut into the word
])
def test_a_tempo_word_takes_the_part_of_its_range_the_mood_implies(word, genre, mood, want):
    assert tempo_for_word(word, genre, mood) == want


def test_the_paces_are_the_moods_own():
    from lake.vocab import MOODS, mood_of

    for name in ("calm", "bright", "joyful", "sad", "melancholic", "dramatic"):
        lo, hi = pace_range(MOODS[name].bpm)
        for bpm in (lo, (lo + min(hi, 240)) / 2, min(hi, 240) - 0.5):  # every tempo of the pace derives the mood
            if bpm >= 20:
                assert mood_of(MOODS[name].mode, bpm) == name


@pytest.mark.parametrize("prompt,lo,hi", [
    ("A melancholic song played on piano. It has a moderate tempo.", 90, 110),
    ("A dramatic piece for piano. It moves at a moderate pace.", 110, 120),
    ("A sad piano piece at a slow tempo.", 60, 70),
    ("一首激昂的乐曲，中速，由钢琴演奏。", 110, 120),
    ("一首惆怅的作品，中速，使用钢琴。", 90, 110),
])
def test_the_recommender_reads_a_word_with_its_mood(prompt, lo, hi):
    req = request_for_prompt(prompt, bars=4, seed=1)
    assert lo <= req.bpm <= hi and req.strict_tempo


# -- the draw again ----------------------------------------------------------------------------------------------------
def _slot(plan, pos: int, dur: int = 1, role: str = "melody"):
    return SimpleNamespace(plan=plan, beat=4, pos=pos, dur=dur, role=role)


def test_a_first_draw_has_none_of_the_tempo_leans():
    plan = PieceRequest(style="pop", bpm=72, key="C major", bars=8, seed=1, instruments=["piano"]).resolve()
    for pos in range(16):
        assert masks.beat_notes(_slot(plan, pos), 33) is None
        assert masks.beat_accents(_slot(plan, pos), 9) is None
    offbeat = masks.offbeats(_slot(plan, 0), 17)
    assert offbeat[1 + 2] > offbeat[1 + 0]  # pop's lean to the off-beat eighths stands


def test_a_draw_again_leans_to_the_beats_a_beat_long_and_accents_them():
    plan = PieceRequest(style="pop", bpm=72, key="C major", bars=8, seed=1, instruments=["piano"]).resolve()
    again, harder = replace(plan, tempo_push=1), replace(plan, tempo_push=2)
    pos = masks.offbeats(_slot(again, 0), 17)
    assert pos[1 + 0] == pos[1 + 4] > pos[1 + 2] and pos[1 + 2] == pos[1 + 1]  # the beats, not the off-beats
    assert masks.offbeats(_slot(harder, 0), 17)[1] > pos[1]  # harder on the next draw
    dur = masks.beat_notes(_slot(again, 4), 33)
    assert int(np.argmax(dur)) == 4 and dur[4] > 0 == dur[8]  # index d: d steps; a beat is 4
    assert masks.beat_notes(_slot(again, 6), 33) is None  # a note between the beats is left alone
    on, off = masks.beat_accents(_slot(again, 8), 9), masks.beat_accents(_slot(again, 6), 9)
    assert np.all(np.diff(on[1:]) > 0) and np.all(np.diff(off[1:]) < 0)  # louder on the beat, softer off it
    assert masks.beat_accents(_slot(again, 8, role="bass"), 9) is not None


def _melody(plan) -> list:
    torch.manual_seed(0)
    with torch.inference_mode():
        return sample(GEN.model, plan, plan.request.seed, 0.9).notes["melody"]


GEN = Generator(random_model(5, **SMALL))


def test_a_draw_again_writes_a_tune_on_the_beats():
    on_first = on_again = notes_first = notes_again = 0
    loud_on = loud_off = 0.0
    for seed in range(6):
        plan = PieceRequest(style="pop", bpm=72, key="C major", bars=4, seed=seed, instruments=["piano"]).resolve()
        first, again = _melody(plan), _melody(replace(plan, tempo_push=2))
        on_first += sum(pos % 4 == 0 for _, pos, _, _, _ in first)
        on_again += sum(pos % 4 == 0 for _, pos, _, _, _ in again)
        notes_first, notes_again = notes_first + len(first), notes_again + len(again)
        loud_on += sum(v for _, pos, _, _, v in again if pos % 4 == 0) / max(1, sum(pos % 4 == 0 for _, pos, _, _, _ in again))
        loud_off += sum(v for _, pos, _, _, v in again if pos % 4) / max(1, sum(pos % 4 != 0 for _, pos, _, _, _ in again))
    assert on_again / notes_again > on_first / notes_first + 0.15
    assert loud_on > loud_off


def test_a_first_draw_is_the_piece_it_was_without_the_tempo_leans(monkeypatch):
    """The leans act on a strict tempo's draws again only: with them taken out of the masks' tables, a first draw
    (strict or not) writes the same bytes."""
    reqs = [PieceRequest(style="pop", bpm=72, key="C major", bars=4, seed=s, instruments=["piano", "acoustic bass"])
            for s in range(3)]
    with torch.inference_mode():
        now = [GEN.generate(r).midi for r in reqs]
    biases = {role: {f: tuple(fn for fn in fns if fn not in (masks.beat_notes, masks.beat_accents))
                     for f, fns in table.items()} for role, table in masks.BIASES.items()}
    monkeypatch.setattr(masks, "BIASES", biases)
    monkeypatch.setattr(masks, "offbeats", lambda s, size: masks._offbeat_bias(s.beat, s.plan.bar_steps, size))
    biases["melody"]["pos"] = tuple(masks.offbeats if fn.__name__ == "offbeats" else fn
                                    for fn in biases["melody"]["pos"])
    with torch.inference_mode():
        before = [GEN.generate(r).midi for r in reqs]
    assert now == before


# -- the draw kept ------------------------------------------------------------------------------------------------------
def test_the_draw_heard_best_is_kept_the_later_of_equals():
    from training.generator import Kept

    kept = Kept()
    kept.offer("first", (False, True))  # the key heard, the tempo not
    kept.offer("second", (True, False))  # the tempo now heard, the key lost: as good, and later
    kept.offer("third", (True, True))  # worse: not kept
    assert kept.result == "second"
    kept = Kept()
    kept.offer("first", (False, False))
    kept.offer("second", (True, False))
    assert kept.result == "first"
    loose = Kept()
    loose.offer("only", None)  # neither strict: its one draw
    assert loose.result == "only"


def test_draw_again_reads_each_draw_once_and_keeps_it():
    from training.generator import STRICT_DRAWS, Kept, draw_again, misses
    from tests.unit.test_training_strict_key import C_MAJOR, _pulse

    req = PieceRequest(style="pop", bpm=50, key="C major", bars=8, seed=1, instruments=["piano"], strict_tempo=True,
                       strict_key=True)
    plan = req.resolve()
    heard_c = SimpleNamespace(midi=C_MAJOR)  # C major, but not at 50 BPM's bin
    assert misses(req, heard_c) == (False, True)
    at_100 = SimpleNamespace(midi=_pulse(100))  # a pulse with no key to speak of, at 100
    kept = Kept()
    nxt = draw_again(req, plan, heard_c, kept)
    assert nxt is not None and nxt.tempo_push == 1 and kept.result is heard_c
    at_50 = SimpleNamespace(midi=_pulse(50))
    key_missed, tempo_missed = misses(req, at_50)
    assert not tempo_missed
    again = draw_again(req, nxt, at_50, kept)
    assert kept.result is at_50  # heard in its tempo: as good as the first draw or better, and later
    assert (again is None) == (not key_missed or nxt.draw + 1 >= STRICT_DRAWS)
    loose = req.model_copy(update={"strict_tempo": False, "strict_key": False})
    kept = Kept()
    assert misses(loose, at_100) is None and draw_again(loose, plan, at_100, kept) is None and kept.result is at_100
