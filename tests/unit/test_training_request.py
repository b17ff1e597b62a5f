"""The one generation request: validation, chords per bar, roles from instruments."""

import pytest
from pydantic import ValidationError

from training.request import PieceRequest, assign_tracks, parse_time_signature


def _roles(instruments):
    return [(t.role, t.instrument, t.doubles) for t in assign_tracks(instruments)]


@pytest.mark.parametrize("instruments, expected", [
    (["flute", "piano", "acoustic bass", "drums"],
     [("melody", "flute", None), ("harmony", "piano", None), ("bass", "acoustic bass", None), ("drums", "drums", None)]),
    (["violin", "piano", "cello"], [("melody", "violin", None), ("harmony", "piano", None), ("bass", "cello", None)]),
    (["piano"], [("melody", "piano", None), ("harmony", "piano", None)]),
    (["cello"], [("melody", "cello", None), ("harmony", "cello", None)]),
    (["electric piano", "synth pad", "synth bass"],
     [("melody", "electric piano", None), ("harmony", "synth pad", None), ("bass", "synth bass", None)]),
    (["flute", "oboe", "piano"], [("melody", "flute", None), ("harmony", "piano", None), ("melody", "oboe", "melody")]),
])
def test_every_requested_instrument_gets_a_track_and_the_melody_always_one(instruments, expected):
    assert _roles(instruments) == expected


def test_resolve_repeats_the_progression_over_the_bars_and_reads_the_meter():
    plan = PieceRequest(key="A minor", progression=["i", "iv", "V"], bars=7, time_signature="6/8").resolve()
    assert plan.chords == ("Am", "Dm", "E", "Am", "Dm", "E", "Am")
    assert (plan.numerator, plan.denominator, plan.bar_steps) == (6, 8, 12)
    assert plan.chord_pcs[2] == (4, "maj")


def test_chords_win_over_the_progression_and_default_to_the_style():
    assert PieceRequest(chords=["C", "F"], progression=["vi"], bars=3).resolve().chords == ("C", "F", "C")
    assert PieceRequest(style="jazz", key="F", bars=4).resolve().chords == ("Gm7", "C7", "Fmaj7", "F")  # cadence
    assert PieceRequest(style="jazz", key="F", bars=4, cadence=False).resolve().chords == ("Gm7", "C7", "Fmaj7", "Dm7")


@pytest.mark.parametrize("field, value", [("key", "H minor"), ("chords", ["Xm"]), ("instruments", ["kazoo-9000"]),
                                          ("time_signature", "5/7"), ("progression", ["IX"]), ("style", "polka"),
                                          ("controls", {"tension": 2.0}), ("bpm", 10)])
def test_bad_attributes_are_one_line_errors_naming_the_field(field, value):
    with pytest.raises(ValidationError) as info:
        PieceRequest(**{field: value})
    err = info.value.errors()[0]
    assert "\n" not in err["msg"] and (err["loc"] == (field,) or err["loc"] == ())


def test_time_signatures_on_the_grid():
    assert parse_time_signature("12/8") == (12, 8)
    with pytest.raises(ValueError, match="sixteenths"):
        parse_time_signature("9/4")


def test_a_recommended_progression_ends_on_the_tonic_but_requested_chords_are_played_as_written():
    from training.understanding import request_for_prompt

    derived = request_for_prompt("happy pop song in C major", bars=8).resolve()
    assert derived.chords[-1] == "C" and derived.chords[:4] == ("C", "G", "Am", "F")
    written = request_for_prompt("happy pop song", bars=8, chords=["C", "G", "Am", "F"]).resolve()
    assert written.chords[-1] == "F"
