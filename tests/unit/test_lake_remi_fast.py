"""lake.remi_fast: the numpy REMI encoder gives exactly miditok's ids, whatever the score.

miditok's own ``REMI.encode`` is the reference throughout. The scores are random (seeded): any
resolution, tracks of any program and drums, notes inside and outside the pitch range, of zero and
huge duration, chords and overlaps, tempo changes, time-signature changes anywhere (also off the
bar line, also ones the vocabulary lacks), empty pieces; then MIDI files mutated byte by byte.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from lake.remi_fast import FastREMI
from lake.tokenizer import build_tokenizer, encode_ids
from common.config import TokenizerConfig
from tests.support.scores import band_score, c_major_melody, d_minor_duo, drums_and_piano, mutate

CONFIGS = {
    "default": {},
    "no tempos": {"use_tempos": False},
    "no meters": {"use_time_signatures": False},
    "bare": {"use_tempos": False, "use_time_signatures": False},
    "coarse": {"beat_res": {"0_4": 4, "4_8": 2}, "num_velocities": 4},
}
METERS = [(4, 4), (3, 4), (2, 4), (6, 8), (12, 8), (5, 4), (7, 8), (3, 8), (2, 2), (9, 8), (1, 4), (5, 16)]


def random_score(rng: random.Random) -> Score:
    tpq = rng.choice([24, 96, 120, 220, 384, 480, 960, 1000])
    score = Score(tpq)
    length = rng.randint(1, 64) * tpq
    for _ in range(rng.choice([0, 1, 1, 2, 3, 5])):
        drum = rng.random() < 0.2
        track = Track(program=rng.randrange(128), is_drum=drum)
        for _ in range(rng.randint(0, 120)):
            start = rng.randrange(length)
            if rng.random() < 0.3:  # on a grid now and then, so chords and repeats happen
                start -= start % (tpq // 2 or 1)
            dur = rng.choice([0, 1, tpq // 4, tpq // 2, tpq, 3 * tpq, rng.randrange(1, 20 * tpq)])
            pitch = rng.randrange(128) if rng.random() < 0.1 else rng.randrange(30, 100)
            track.notes.append(Note(start, dur, pitch, rng.randrange(1, 128)))
        score.tracks.append(track)
    for _ in range(rng.choice([0, 1, 1, 2, 6])):
        score.tempos.append(Tempo(rng.choice([0, rng.randrange(length)]), qpm=rng.uniform(20, 300)))
    for i in range(rng.choice([0, 1, 1, 2, 3, 8])):
        at = 0 if i == 0 and rng.random() < 0.7 else rng.randrange(length)
        if rng.random() < 0.5:
            at -= at % tpq
        score.time_signatures.append(TimeSignature(at, *rng.choice(METERS)))
    score.tempos.sort()
    score.time_signatures.sort()
    return score


def config(**overrides):
    return SimpleNamespace(**{**TokenizerConfig().model_dump(), **overrides})


def same_as_miditok(tok, fast: FastREMI, score: Score) -> bool:
    try:
        want = tok.encode(score).ids
    except Exception as e:  # miditok refuses the score: the fast path must refuse it too
        with pytest.raises(type(e)):
            fast.encode(score)
        return True
    return fast.encode(score).tolist() == list(want)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_random_scores_give_miditoks_ids(name):
    tok = build_tokenizer(config(**CONFIGS[name]))
    fast = FastREMI(tok)
    rng = random.Random(hash(name) % 1000)
    scores = [random_score(rng) for _ in range(400)]
    scores += [Score.from_midi(d) for d in (c_major_melody(), d_minor_duo(), drums_and_piano())]
    scores += [band_score(t, bpm) for t in (-5, 0, 7) for bpm in (60, 133.3)]
    wrong = [i for i, s in enumerate(scores) if not same_as_miditok(tok, fast, s)]
    assert wrong == []


def test_the_fallback_is_taken_only_for_scores_miditok_refuses():
    tok = build_tokenizer(config())
    fast = FastREMI(tok)
    rng = random.Random(7)
    fell_back = refused = 0
    for _ in range(200):
        score = random_score(rng)
        if fast.encode_preprocessed(tok.preprocess_score(score)) is None:
            fell_back += 1
            try:
                tok.encode(score)
            except Exception:
                refused += 1
    assert fell_back == refused


def test_mutated_files_give_miditoks_ids():
    tok = build_tokenizer(config())
    fast = FastREMI(tok)
    rng = random.Random(11)
    originals = [c_major_melody(), d_minor_duo(), drums_and_piano(), band_score().dumps_midi()]
    compared = 0
    for _ in range(2500):
        data = mutate(rng.choice(originals), rng)
        try:
            score = Score.from_midi(data)
        except Exception:
            continue
        if score.note_num() > 20_000 or score.end() > 10_000_000:  # the job's caps turn such files away first
            continue
        compared += 1
        assert same_as_miditok(tok, fast, score)
    assert compared > 600


def test_other_configurations_are_not_claimed():
    assert FastREMI.supports(build_tokenizer(config()))
    assert not FastREMI.supports(build_tokenizer(config(kind="TSD")))
    assert not FastREMI.supports(build_tokenizer(config(use_programs=False)))
    with pytest.raises(ValueError, match="FastREMI covers"):
        FastREMI(build_tokenizer(config(kind="MIDILike")))


@pytest.mark.parametrize("kind", ["REMI", "TSD", "MIDILike"])
def test_encode_ids_is_miditoks_for_every_kind(kind):
    tok = build_tokenizer(config(kind=kind))
    score = band_score()
    ids = encode_ids(tok, score)
    assert isinstance(ids, np.ndarray) and ids.dtype == np.int32
    assert ids.tolist() == tok.encode(score).ids
