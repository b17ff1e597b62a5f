"""Directional tests on a trained tiny generator: change one requested attribute, the measured one follows.

The model is trained for real (Ray Train, MLflow) on a small lake of generated pieces; every
measurement comes from the notes of the MIDI it writes (training.analysis), never from the
request or the tempo/meter events.
"""

import pytest
from symusic import Score

from lake.vocab import instrument_program
from tests.support.config import make_config
from tests.support.music_lake import write_music_lake
from training.analysis import analyzed_key, chord_accuracy, chords_per_bar, instruments_present, onset_bpm
from training.registry import load_generator
from training.request import PieceRequest
from training.train import run_training

BASE = dict(style="pop", bpm=100, key="C major", bars=8, seed=4,
            instruments=["flute", "piano", "acoustic bass", "drums"])


@pytest.fixture(scope="module")
def generator(tmp_path_factory, ray_session):
    root = tmp_path_factory.mktemp("directional")
    cfg = make_config(root, "train.preset=tiny", "train.max_steps=120", "train.batch_size=8", "train.log_every=40",
                      "train.num_workers=2", "train.checkpoint_every=60")
    write_music_lake(cfg, n=24, bars=8)
    result = run_training(cfg)
    gen, _ = load_generator(cfg, str(result.model_version))
    return gen


def _piece(gen, **change):
    res = gen.generate(PieceRequest(**(BASE | change)))
    return res, res.midi


@pytest.mark.parametrize("key", ["C major", "F# minor", "Eb major", "A minor"])
def test_the_measured_key_follows_the_requested_key(generator, key):
    _, midi = _piece(generator, key=key)
    assert analyzed_key(midi) == PieceRequest(key=key).key


def test_the_onset_tempo_follows_the_requested_bpm(generator):
    """The onsets carry the requested tempo. The estimator may pick another metrical level of the same
    pulse (half or double: its documented limit), so each piece is read at its nearest level, and the
    three pieces must still read in the requested order."""
    measured = []
    for bpm in (62, 100, 150):
        _, midi = _piece(generator, bpm=bpm)
        m = onset_bpm(midi)
        level = min((0.5, 1.0, 2.0), key=lambda k: abs(m * k - bpm))
        assert abs(m * level - bpm) / bpm < 0.01, (bpm, m)
        measured.append(m * level)
    assert measured == sorted(measured)


def test_the_requested_instruments_are_the_ones_playing(generator):
    for instruments in (["violin", "harp", "cello"], ["saxophone", "electric piano", "electric bass", "drums"]):
        res, midi = _piece(generator, instruments=instruments)
        programs = [instrument_program(name) for name in instruments]
        assert instruments_present(midi, programs) == 1.0
        played = {(-1 if t.is_drum else t.program) for t in Score.from_midi(midi).tracks if t.note_num()}
        assert played == set(programs)
        assert next(t for t in res.tracks if t.role == "melody").source == "model"


@pytest.mark.parametrize("chords", [["C", "Am", "F", "G"], ["Dm", "G7", "C", "E7"], ["F", "Bb", "Gm", "C"]])
def test_the_chords_per_bar_follow_the_requested_progression(generator, chords):
    _, midi = _piece(generator, chords=chords)
    measured = chords_per_bar(midi, 4, 4)
    requested = [chords[i % len(chords)] for i in range(BASE["bars"])]
    assert chord_accuracy(measured, requested) >= 0.85


def test_a_different_seed_gives_a_different_melody_with_the_same_controls(generator):
    a, _ = _piece(generator, seed=1)
    b, _ = _piece(generator, seed=2)
    assert a.midi != b.midi and a.chords == b.chords
