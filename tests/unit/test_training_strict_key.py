"""A stated key is drawn again until the notes are heard in it (training.generator.another_draw): the fast key
reading it uses (training.analysis.heard_key), the plan of the next draw, the same piece on every path, and the
recommender marking a stated key (and a stated tempo) strict."""

from types import SimpleNamespace

import pytest
import torch
from symusic import Note, Score, Track

from tests.support.note_models import random_model
from training import masks
from training.analysis import analyzed_key, heard_key
from training.generator import STRICT_DRAWS, BatchRunner, Generator, another_draw
from training.request import PieceRequest

SMALL = dict(n_layer=2, n_head=4, n_embd=64, block_size=96)
INSTRUMENTS = ["flute", "piano", "acoustic bass"]


def _tune(pitches: list[int], durations: list[int], tpq: int = 480) -> bytes:
    score = Score(tpq)
    track = Track("tune", 0)
    t = 0
    for p, d in zip(pitches, durations):
        track.notes.append(Note(t, d * tpq // 2, p, 80))
        t += d * tpq // 2
    score.tracks.append(track)
    return score.dumps_midi()


C_MAJOR = _tune([60, 62, 64, 65, 67, 64, 60, 67, 72, 71, 74, 72, 67, 64, 62, 60], [4, 1, 2, 1, 4, 2, 4, 2, 2, 1, 1, 4, 2, 2, 2, 8])
A_MINOR = _tune([69, 71, 72, 74, 76, 72, 69, 68, 69, 64, 72, 71, 69, 68, 64, 69], [4, 1, 2, 1, 4, 2, 4, 2, 2, 1, 1, 4, 2, 2, 2, 8])


@pytest.mark.parametrize("midi,key", [(C_MAJOR, "C major"), (A_MINOR, "A minor")])
def test_the_fast_reading_hears_the_key_music21_hears(midi, key):
    assert heard_key(midi) == analyzed_key(midi) == key


def test_the_fast_reading_follows_a_transposition():
    up3 = Score.from_midi(C_MAJOR).shift_pitch(3)
    assert heard_key(up3) == "Eb major" and heard_key(up3.dumps_midi()) == "Eb major"


def test_a_file_without_pitched_notes_has_no_key():
    drums = Score(480)
    kit = Track("kit", 0, is_drum=True)
    kit.notes.append(Note(0, 240, 36, 100))
    drums.tracks.append(kit)
    assert heard_key(drums) is None


def _plan(key: str, chords: list[str], strict: bool, seed: int = 1, bars: int = 8):
    req = PieceRequest(style="pop", bpm=100, key=key, bars=bars, seed=seed, chords=chords, instruments=INSTRUMENTS,
                       strict_key=strict)
    return req, req.resolve()


def test_another_draw_only_for_a_strict_key_not_heard_and_at_most_key_draws():
    heard_c = SimpleNamespace(midi=C_MAJOR)
    req, plan = _plan("D minor", ["Dm", "Gm", "A", "Dm"], strict=True)
    nxt = another_draw(req, plan, heard_c)  # heard in C major, asked D minor: again, leaning harder
    assert nxt is not None and nxt.key_push == 1 and nxt.request is plan.request
    draws = 1
    while nxt is not None:
        plan, draws = nxt, draws + 1
        nxt = another_draw(req, plan, heard_c)
    assert draws == STRICT_DRAWS  # the last draw is kept whatever it is heard in
    loose, loose_plan = _plan("D minor", ["Dm", "Gm", "A", "Dm"], strict=False)
    assert another_draw(loose, loose_plan, heard_c) is None  # a key nobody stated is not forced
    c_req, c_plan = _plan("C major", ["C", "F", "G", "C"], strict=True)
    assert another_draw(c_req, c_plan, heard_c) is None  # heard as asked


def test_a_draw_again_leans_harder_to_the_tonic_triad_whatever_the_chords():
    req, plan = _plan("G major", ["G", "C", "D", "G"], strict=True)
    assert not masks.key_in_doubt(plan)
    from dataclasses import replace

    again = replace(plan, key_push=1)
    assert masks.key_in_doubt(again)
    slot = SimpleNamespace(main_note=True, plan=again, tonic=0)
    first = masks.tells_the_key(SimpleNamespace(main_note=True, plan=replace(plan, key_push=0), tonic=0), 129)
    assert first is None  # the chords tell the key: nothing leans on the first draw
    bias = masks.tells_the_key(slot, 129)
    assert bias is not None and bias.max() == pytest.approx(masks.TELL_BIAS * masks.key_push_scale(again))
    assert masks.key_push_scale(again) > 1.0
    passing = masks.tells_the_key(SimpleNamespace(main_note=False, plan=again, tonic=0), 129)
    assert passing is not None and passing.max() == pytest.approx(masks.PASSING_BIAS * masks.key_push_scale(again))
    assert passing.max() < bias.max()  # a passing note leans less than a main note
    in_doubt = _plan("D minor", ["C#m", "F#m", "E", "F#m"], strict=True)[1]  # a first draw: passing notes left alone
    assert masks.key_in_doubt(in_doubt)
    assert masks.tells_the_key(SimpleNamespace(main_note=False, plan=in_doubt, tonic=0), 129) is None


def test_every_path_writes_the_same_strict_piece_and_a_key_not_heard_is_drawn_again():
    gen = Generator(random_model(3, **SMALL))
    # chords that tell the key: a first draw has no key biases, so one drawn again has them and differs
    reqs = [PieceRequest(style="pop", bpm=100, key="G major", bars=6, seed=s, chords=["G", "C", "D", "G"],
                         instruments=INSTRUMENTS, strict_key=True) for s in range(6)]
    with torch.inference_mode():
        alone = [gen.generate(r) for r in reqs]
        first = [gen.generate(r.model_copy(update={"strict_key": False})) for r in reqs]
    together = gen.generate_many(reqs)
    runner = BatchRunner(gen, max_batch=3)
    try:
        futures = [runner.submit(r) for r in reqs]
        batched = [f.result(timeout=120) for f in futures]
    finally:
        runner.close()
    assert [p.midi for p in together] == [p.midi for p in alone] == [p.midi for p in batched]
    missed = [i for i, p in enumerate(first) if heard_key(p.midi) != "G major"]
    assert missed  # a random model: some first draws are not heard in G major ...
    assert all(alone[i].midi != first[i].midi for i in missed)  # ... and those were drawn again
    kept = [i for i in range(len(reqs)) if i not in missed]
    assert all(alone[i].midi == first[i].midi for i in kept)  # a first draw heard as asked is the piece


def test_a_prompt_that_states_its_key_or_tempo_or_writes_its_chords_makes_them_strict():
    from training.understanding import request_for_prompt

    assert request_for_prompt("a sad piano piece at 96 bpm", bars=4, seed=1).strict_tempo
    assert not request_for_prompt("a sad piano piece", bars=4, seed=1).strict_tempo
    assert request_for_prompt("a sad piano piece in D minor", bars=4, seed=1).strict_key
    assert request_for_prompt("一首D小调的悲伤钢琴曲", bars=4, seed=1).strict_key
    assert request_for_prompt("a calm piece whose chords are Am, F, C and G", bars=4, seed=1).strict_key  # implied
    assert not request_for_prompt("relaxed cafe afternoon with a touch of electronic", bars=4, seed=1).strict_key


def _pulse(bpm: float, bars: int = 8, tpq: int = 480) -> bytes:
    """Quarter notes at ``bpm``, the downbeats low and long: a pulse nobody mishears."""
    from symusic import Tempo

    score = Score(tpq)
    score.tempos.append(Tempo(0, bpm))
    track = Track("pulse", 0)
    for beat in range(4 * bars):
        low = beat % 4 == 0
        track.notes.append(Note(beat * tpq, tpq if low else tpq // 2, 48 if low else 64, 100 if low else 70))
    score.tracks.append(track)
    return score.dumps_midi()


def test_a_strict_tempo_not_heard_is_drawn_again_with_the_accompaniment_on_the_beats():
    req = PieceRequest(style="pop", bpm=50, key="C major", bars=8, seed=1, instruments=INSTRUMENTS,
                       strict_tempo=True)
    plan = req.resolve()
    heard_100 = SimpleNamespace(midi=_pulse(100))
    nxt = another_draw(req, plan, heard_100)  # asked 50, heard 100 (another bin): again
    assert nxt is not None and (nxt.draw, nxt.tempo_push, nxt.key_push) == (1, 1, 0)
    at_50 = req.model_copy(update={"bpm": 50.0})
    assert another_draw(at_50, plan, SimpleNamespace(midi=_pulse(50))) is None  # heard as asked
    loose = req.model_copy(update={"strict_tempo": False})
    assert another_draw(loose, plan, heard_100) is None  # a tempo nobody stated is not forced
    fast = PieceRequest(style="pop", bpm=120, key="C major", bars=8, seed=1, instruments=INSTRUMENTS).resolve()
    from dataclasses import replace

    slot = SimpleNamespace(plan=fast, beat=4)
    assert masks.broken_chord_grid(slot, list(range(16))) == [0, 2, 4, 6, 8, 10, 12, 14]  # eighths at 120
    slot = SimpleNamespace(plan=replace(fast, tempo_push=1), beat=4)
    assert masks.broken_chord_grid(slot, list(range(16))) == [0, 4, 8, 12]  # a draw again: the beats


def test_strict_tempo_pieces_are_the_same_on_every_path():
    gen = Generator(random_model(4, **SMALL))
    reqs = [PieceRequest(style="pop", bpm=100, key="G major", bars=6, seed=s, instruments=["piano"],
                         strict_tempo=True, strict_key=True) for s in range(6)]
    with torch.inference_mode():
        alone = [gen.generate(r) for r in reqs]
        first = [gen.generate(r.model_copy(update={"strict_tempo": False, "strict_key": False})) for r in reqs]
    together = gen.generate_many(reqs)
    runner = BatchRunner(gen, max_batch=4)
    try:
        batched = [f.result(timeout=120) for f in [runner.submit(r) for r in reqs]]
    finally:
        runner.close()
    assert [p.midi for p in together] == [p.midi for p in alone] == [p.midi for p in batched]
    assert any(a.midi != f.midi for a, f in zip(alone, first))  # some were drawn again
