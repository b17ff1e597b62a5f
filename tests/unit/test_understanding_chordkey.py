"""The key a caption's chords most likely come from (training.understanding.chordkey): the shipped weights,
exact transposition, a mode kept, the learner, and the recommender using it where no key is stated."""

import json

import pytest

from lake.vocab import PITCH_CLASSES, parse_chord, parse_key
from training.understanding import chordkey
from training.understanding.chordkey import KEYS, WEIGHTS_PATH, accuracy, features, fit, likely_key


def _transpose_chord(symbol: str, k: int) -> str:
    root, quality = parse_chord(symbol)
    name = {"maj": "", "min": "m", "7": "7", "min7": "m7", "maj7": "maj7", "dim": "dim"}[quality]
    return PITCH_CLASSES[(root + k) % 12] + name


def _transpose_key(key: str, k: int) -> str:
    tonic, mode = parse_key(key).split()
    return parse_key(f"{PITCH_CLASSES[(PITCH_CLASSES.index(tonic) + k) % 12]} {mode}")


def test_the_shipped_weights_say_where_they_came_from_and_fit_the_features():
    doc = json.loads(WEIGHTS_PATH.read_text(encoding="utf-8"))
    assert len(doc["weights"]) == features(["C", "G"]).shape[1]
    assert doc["rows"] > 100 and doc["cv5_accuracy"] > doc["rule_accuracy"]


@pytest.mark.parametrize("chords,key", [
    (["C", "F", "G", "C"], "C major"),
    (["Am", "Dm", "E", "Am"], "A minor"),
    (["Dm", "Bb", "C", "A7"], "D minor"),
    (["G", "C", "D7", "G"], "G major"),
])
def test_plain_cadences_name_their_key(chords, key):
    assert likely_key(chords) == key


@pytest.mark.parametrize("chords", [["C", "G", "Am", "F"], ["Am", "F", "C", "G"], ["Em", "C", "G", "D"],
                                    ["Dm7", "G7", "Cmaj7", "Am7"], ["Bb", "F", "Gm", "Eb"]])
def test_a_transposed_progression_gets_the_transposed_key(chords):
    key = likely_key(chords)
    for k in range(1, 12):
        assert likely_key([_transpose_chord(c, k) for c in chords]) == _transpose_key(key, k)


def test_a_stated_mode_is_kept():
    assert likely_key(["C", "G", "Am", "F"], "minor").endswith("minor")
    assert likely_key(["Am", "Dm", "E", "Am"], "major").endswith("major")


def test_the_learner_fits_what_it_is_shown():
    """Progressions labelled by the key of their last chord (a rule the features can express) are learned."""
    progs = []
    for k in range(12):
        for shape in (["I", "IV", "V", "I"], ["vi", "IV", "V", "I"], ["I", "vi", "ii", "V", "I"]):
            steps = {"I": (0, ""), "IV": (5, ""), "V": (7, ""), "vi": (9, "m"), "ii": (2, "m")}
            progs.append([PITCH_CLASSES[(k + steps[s][0]) % 12] + steps[s][1] for s in shape])
    keys = [parse_key(f"{p[-1]} major") for p in progs]
    w = fit(progs, keys)
    assert accuracy(w, progs, keys) >= 0.95
    assert all(k in KEYS for k in keys)


def test_the_recommender_takes_a_key_the_chords_imply_from_the_learned_model(monkeypatch):
    from training.understanding import recommend

    a = recommend("a calm piece whose chords are Am, F, C and G")
    assert a.sources["key"] == "inferred" and a.key == likely_key(["Am", "F", "C", "G"])
    calls = []
    monkeypatch.setattr(chordkey, "likely_key", lambda chords, mode=None: calls.append(mode) or "E minor")
    assert recommend("a calm piece whose chords are Am, F, C and G").key == "E minor" and calls == [None]
