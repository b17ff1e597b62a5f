"""The API's request validation: key spellings, ranges, unknown fields - no Ray needed."""

import pytest
from pydantic import ValidationError

from lake.vocab import KEY_NAMES, parse_key
from serving.api import Attributes, GenerateRequest


@pytest.mark.parametrize("written, key", [
    ("D minor", "D minor"), ("d minor", "D minor"), ("Dm", "D minor"), ("D min", "D minor"),
    ("F#m", "F# minor"), ("F♯ minor", "F# minor"), ("Bb major", "Bb major"), ("B♭", "Bb major"),
    ("E flat minor", "Eb minor"), ("Dmaj", "D major"), ("A", "A major"), ("Db major", "C# major"),
    ("D小调", "D minor"), ("降B大调", "Bb major"), ("升F小调", "F# minor"), ("#F小调", "F# minor"), ("C调", "C major"),
])
def test_parse_key_normalizes_common_spellings(written, key):
    assert parse_key(written) == key
    assert key in KEY_NAMES


@pytest.mark.parametrize("written", ["H minor", "", "D dorian", "Cx", "minor"])
def test_parse_key_rejects_non_keys_with_one_line(written):
    with pytest.raises(ValueError, match="unknown key") as info:
        parse_key(written)
    assert "\n" not in str(info.value)


def test_every_canonical_key_parses_to_itself():
    assert [parse_key(k) for k in KEY_NAMES] == list(KEY_NAMES)


def test_request_defaults_and_normalized_key():
    req = GenerateRequest(prompt="jazz", key="f#m")
    assert (req.key, req.bars, req.bpm, req.seed, req.model) == ("F# minor", 8, None, None, None)


def _error_fields(**body) -> list[str]:
    with pytest.raises(ValidationError) as info:
        GenerateRequest(**body)
    return [".".join(map(str, e["loc"])) for e in info.value.errors()]


@pytest.mark.parametrize("body, field", [
    ({}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"prompt": "x" * 2001}, "prompt"),
    ({"prompt": "jazz", "bpm": 1000}, "bpm"),
    ({"prompt": "jazz", "bpm": 10}, "bpm"),
    ({"prompt": "jazz", "bars": 0}, "bars"),
    ({"prompt": "jazz", "bars": 65}, "bars"),
    ({"prompt": "jazz", "key": "H minor"}, "key"),
    ({"prompt": "jazz", "seed": -1}, "seed"),
    ({"prompt": "jazz", "model": "../etc"}, "model"),
    ({"prompt": "jazz", "bmp": 120}, "bmp"),
])
def test_invalid_requests_name_the_field(body, field):
    assert _error_fields(**body) == [field]


def test_unknown_field_is_reported_as_extra():
    with pytest.raises(ValidationError) as info:
        GenerateRequest(prompt="jazz", tempo=120)
    assert info.value.errors()[0]["type"] == "extra_forbidden"


def test_attributes_reject_a_style_outside_the_vocabulary():
    with pytest.raises(ValidationError, match="style 'polka'"):
        Attributes(style="polka", bpm=100, key="C major", time_signature="4/4", instruments=[], progression=[],
                   chords=[], sources={})


def test_phrase_controls_reach_the_generators_request_and_bad_ones_name_the_field():
    from training.understanding import recommend

    attrs = recommend("pop")
    req = GenerateRequest(prompt="pop", structure="abab", repetition=0.75, registers={"melody": [62, 79]}, bars=8)
    plan = req.piece_request(attrs, seed=3)
    assert (plan.structure, plan.repetition, plan.registers) == ("ABAB", 0.75, {"melody": (62, 79)})
    default = GenerateRequest(prompt="pop").piece_request(attrs, seed=3)
    assert default.structure is None and default.repetition == 0.5 and default.registers is None
    for bad in ({"structure": "A-B"}, {"repetition": 1.5}, {"registers": {"drums": [30, 50]}},
                {"registers": {"melody": [60]}}):
        with pytest.raises(ValidationError) as info:
            GenerateRequest(prompt="pop", **bad)
        assert info.value.errors()[0]["loc"][0] == next(iter(bad))
