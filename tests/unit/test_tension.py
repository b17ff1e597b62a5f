"""Film scoring's tension control: the curve, its validation, and its effect measured from the notes
(a small random note model: the masks and biases, not the training, carry the direction)."""

import math

import numpy as np
import pytest
from pydantic import ValidationError

from tests.support.note_models import random_model
from training.generator import Generator
from training.request import PieceRequest
from training.tension import bar_curve, chord_tones
from training.tension_measure import key_centre, measure, position, rise, spelled_index

SEEDS = range(6)


def test_a_number_holds_and_breakpoints_are_spread_over_the_bars():
    assert bar_curve(0.5, 4) == (0.5, 0.5, 0.5, 0.5)
    assert bar_curve([0, 1], 5) == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert bar_curve([0, 0, 1], 5) == (0.0, 0.0, 0.0, 0.5, 1.0)
    assert bar_curve([0.2, 0.4, 0.6], 3) == (0.2, 0.4, 0.6)  # as many points as bars: a value per bar
    assert bar_curve(0, 8) == () and bar_curve([0, 0], 8) == () and bar_curve(None, 8) == ()


def test_a_tension_out_of_range_is_refused_naming_the_field():
    for bad in (1.5, [0, 2], [], [0.5] * 65):
        with pytest.raises(ValidationError, match="tension"):
            PieceRequest(tension=bad)
    assert PieceRequest(bars=4, tension=[0, 1]).resolve().tension == (0.0, 0.3333, 0.6667, 1.0)


def test_tension_zero_is_the_piece_without_tension():
    gen = Generator(random_model(3, n_layer=1, n_head=2, n_embd=32, block_size=64))
    a = gen.generate(PieceRequest(bars=4, seed=5))
    b = gen.generate(PieceRequest(bars=4, seed=5, tension=0.0))
    assert a.midi == b.midi


def test_tension_tones_join_the_chord_as_it_rises():
    c = (0, 4, 7)
    assert chord_tones(0, c, 0.0) == {0, 4, 7}
    assert chord_tones(0, c, 0.5) == {0, 2, 4, 7, 11}  # the ninth and the major seventh
    assert chord_tones(9, (0, 3, 7), 0.5) == {9, 11, 0, 4, 7}  # A minor: B and G
    assert 6 in chord_tones(0, c, 1.0)


def test_the_spiral_array_puts_a_fifth_nearer_than_a_tritone_and_the_key_near_its_tonic():
    c, g, fs = position(spelled_index(np.array([0, 7, 6]), "C major"))
    assert np.linalg.norm(c - g) < np.linalg.norm(c - fs)
    centre = key_centre("C major")
    assert np.linalg.norm(centre - c) < np.linalg.norm(centre - fs)


@pytest.fixture(scope="module")
def generator():
    return Generator(random_model(1, n_layer=1, n_head=2, n_embd=32, block_size=64))


def _mean(gen, tension, key="C major", style="pop", bars=8):
    rows = []
    for seed in SEEDS:
        r = gen.generate(PieceRequest(style=style, key=key, bars=bars, seed=seed, tension=tension))
        rows.append(measure(r.midi, key))
    return {k: float(np.nanmean([m[k] for m in rows])) for k in ("dissonance", "rhythm_change", "low_share",
                                                                 "diameter", "strain")}, rows


def test_tension_one_raises_dissonance_rhythmic_change_and_the_low_register(generator):
    calm, _ = _mean(generator, None)
    tense, _ = _mean(generator, 1.0)
    assert tense["dissonance"] > calm["dissonance"] + 0.1
    assert tense["rhythm_change"] > calm["rhythm_change"]
    assert tense["low_share"] > calm["low_share"]
    assert tense["diameter"] > calm["diameter"]


def test_a_ramped_cue_rises_over_its_bars(generator):
    _, rows = _mean(generator, [0, 1], bars=8)
    for name in ("dissonance", "rhythm_change", "diameter"):
        per_bar = np.nanmean([m[name + "_bars"] for m in rows], axis=0)
        assert rise(list(per_bar)) > 0, name
        assert np.nanmean(per_bar[-3:]) > np.nanmean(per_bar[:3]), name


def test_rise_is_the_slope_of_the_bars():
    assert math.isclose(rise([0.0, 1.0, 2.0, math.nan, 4.0]), 1.0)


def test_the_api_passes_a_curve_to_the_generator_and_names_a_bad_one():
    from serving.api import GenerateRequest
    from training.request import Attributes

    attrs = Attributes(style="film", bpm=90, key="D minor", time_signature="4/4", instruments=["strings"],
                       progression=["i"], chords=["Dm"], sources={})
    req = GenerateRequest(prompt="a chase", bars=4, tension=[0, 1]).piece_request(attrs)
    assert req.resolve().tension == (0.0, 0.3333, 0.6667, 1.0)
    with pytest.raises(ValidationError, match="tension"):
        GenerateRequest(prompt="a chase", tension=[0, 3])
