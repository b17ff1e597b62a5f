"""The one music vocabulary (lake.vocab): keys, scales, moods, chords and instruments, checked against music21
and miditok where they have an answer of their own."""

from __future__ import annotations

import pytest
from miditok.constants import MIDI_INSTRUMENTS
from music21 import key as m21key
from music21 import roman

from lake import chords as lake_chords
from lake.vocab import (CAPTION_MOODS, CHORD_QUALITIES, INSTRUMENT_WORDS, INSTRUMENTS, KEY_NAMES, MOODS, PITCH_CLASSES,
                        STYLE_WORDS, STYLE_ZH, STYLES, SYMBOL_SUFFIX, TEMPO_WORDS, TEMPO_ZH, chord_label, chord_names,
                        chord_pitch_classes, chord_symbol, instrument_name, instrument_program, key_zh, mood_of,
                        parse_chord, parse_key, pitch_class, roman_chord, scale_pitch_classes)


def m21(key: str) -> m21key.Key:
    tonic, mode = key.split()
    return m21key.Key(tonic.replace("b", "-"), mode)


# -- keys ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("written, key", [
    ("D minor", "D minor"), ("  d MINOR ", "D minor"), ("Dm", "D minor"), ("D min", "D minor"), ("DM", "D major"),
    ("F#m", "F# minor"), ("F♯ minor", "F# minor"), ("f sharp minor", "F# minor"), ("E flat minor", "Eb minor"),
    ("E-flat major", "Eb major"), ("B♭", "Bb major"), ("Db major", "C# major"), ("G# minor", "Ab minor"),
    ("Cb major", "B major"), ("E# minor", "F minor"),
    ("D小调", "D minor"), ("降B大调", "Bb major"), ("升F小调", "F# minor"), ("#F小调", "F# minor"),
    ("bB大调", "Bb major"), ("C调", "C major"), ("d小", "D minor"), ("降E大调", "Eb major"),
])
def test_parse_key_reads_english_chinese_and_odd_spellings(written, key):
    assert parse_key(written) == key


@pytest.mark.parametrize("written", ["H minor", "", "D dorian", "Cx", "minor", "C# minor please", "小调"])
def test_parse_key_refuses_non_keys_in_one_line_naming_them(written):
    with pytest.raises(ValueError, match=r"^unknown key ") as err:
        parse_key(written)
    assert repr(written) in str(err.value) and "\n" not in str(err.value)


def test_a_required_mode_must_be_written():
    assert parse_key("A") == "A major"
    with pytest.raises(ValueError, match="the mode is missing"):
        parse_key("A", require_mode=True)
    assert parse_key("Am", require_mode=True) == "A minor" and parse_key("A调", require_mode=True) == "A major"


def test_every_key_parses_to_itself_and_back_from_chinese():
    assert len(set(KEY_NAMES)) == 24
    for k in KEY_NAMES:
        assert parse_key(k) == k == parse_key(key_zh(k)) == parse_key(k.lower())


@pytest.mark.parametrize("key, zh", [("D minor", "D小调"), ("Bb major", "降B大调"), ("c# minor", "升C小调"),
                                     ("F#m", "升F小调"), ("Eb", "降E大调"), ("G major", "G大调")])
def test_key_zh(key, zh):
    assert key_zh(key) == zh


def test_scales_match_music21_for_all_24_keys():
    for k in KEY_NAMES:
        pcs = scale_pitch_classes(k)
        assert pcs == tuple(p.pitchClass for p in m21(k).pitches[:7]), k  # music21: natural minor for minor keys
        assert pcs[0] == PITCH_CLASSES.index(k.split()[0]) and len(set(pcs)) == 7
    assert scale_pitch_classes("D minor") == (2, 4, 5, 7, 9, 10, 0)
    assert scale_pitch_classes("Dm") == scale_pitch_classes("F major")[5:] + scale_pitch_classes("F major")[:5]


def test_note_names_with_any_accidentals():
    assert [pitch_class(n) for n in ("C", "F#", "Bb", "Cb", "E#", "Gbb", "B##", "A♭")] == [0, 6, 10, 11, 5, 5, 1, 8]
    with pytest.raises(ValueError, match="unknown note name 'H'"):
        pitch_class("H")


# -- moods, styles, tempo words --------------------------------------------------------------------
def test_one_mood_table_for_prompts_and_captions():
    words = [w for m in MOODS.values() for w in m.words]
    assert len(words) == len(set(words)), "a word names two moods"
    for name, mood in MOODS.items():
        assert mood.mode in ("major", "minor") and mood.zh in mood.words and name in mood.words, name
        assert any(not w.isascii() for w in mood.words), name
    # every mood a caption can write is in the table, and the table's tempo and mode derive it back
    assert set(CAPTION_MOODS.values()) <= set(MOODS)
    for name in CAPTION_MOODS.values():
        assert mood_of(MOODS[name].mode, MOODS[name].bpm) == name
    assert {mood_of(mode, bpm) for mode in ("major", "minor", "MINOR") for bpm in range(20, 260, 5)} \
        == set(CAPTION_MOODS.values())
    with pytest.raises(ValueError, match="unknown mode 'lydian'"):
        mood_of("lydian", 100)


def test_style_and_tempo_names():
    assert set(STYLE_WORDS) == set(STYLES) and set(STYLE_ZH) <= set(STYLES)
    assert tuple(TEMPO_ZH) == TEMPO_WORDS and len(set(TEMPO_ZH.values())) == len(TEMPO_WORDS)


# -- chords ------------------------------------------------------------------------------------------
def test_qualities_are_the_chord_detectors():
    assert lake_chords.QUALITIES is CHORD_QUALITIES and set(SYMBOL_SUFFIX) == set(CHORD_QUALITIES)
    assert lake_chords.chord_symbol is chord_symbol


def test_every_root_and_quality_round_trips_through_symbol_and_label():
    for root in range(12):
        for quality in CHORD_QUALITIES:
            symbol, label = chord_symbol(root, quality), chord_label(root, quality)
            assert parse_chord(symbol) == parse_chord(label) == (root, quality), (symbol, label)
            assert chord_symbol(label) == symbol and label in lake_chords.LABELS
            assert chord_pitch_classes(symbol) == tuple((root + i) % 12 for i in CHORD_QUALITIES[quality])


@pytest.mark.parametrize("symbol, parsed", [
    ("Am7", (9, "min7")), ("F#m7b5", (6, "hdim7")), ("Bb", (10, "maj")), ("Cmaj7", (0, "maj7")),
    ("Gsus4", (7, "sus4")), ("Edim", (4, "dim")), ("A:min7", (9, "min7")), ("Db:maj", (1, "maj")),
    ("CM7", (0, "maj7")), ("Cm", (0, "min")), ("C-7", (0, "min7")), ("Bø7", (11, "hdim7")), ("B°7", (11, "dim7")),
    ("Caug", (0, "aug")), ("C+", (0, "aug")), ("Gsus", (7, "sus4")), ("Dsus2", (2, "sus2")), ("C/E", (0, "maj")),
    ("Abm/Eb", (8, "min")), ("E#", (5, "maj")), ("Gbb7", (5, "7")), (" G7 ", (7, "7")), ("CΔ7", (0, "maj7")),
    # extensions are played as the chord they extend (issue 17: captions spell B6, E9, Cm9)
    ("Cm9", (0, "min7")), ("B6", (11, "maj")), ("E9", (4, "7")), ("Cmaj9", (0, "maj7")), ("G7sus4", (7, "sus4")),
    ("D5", (2, "maj")), ("Cadd9/E", (0, "maj")),
])
def test_parse_chord_reads_lead_sheet_symbols_and_lake_labels(symbol, parsed):
    assert parse_chord(symbol) == parsed


@pytest.mark.parametrize("bad", ["H7", "", "N", "Cm99", "C:minor7", "am", "C7/H", "Cmaj7 G"])
def test_parse_chord_refuses_what_it_cannot_read_in_one_line(bad):
    with pytest.raises(ValueError, match=r"^unknown chord ") as err:
        parse_chord(bad)
    assert "\n" not in str(err.value)


def test_chord_symbol_forms_and_errors():
    assert chord_symbol("N") == "N" and chord_symbol("A:min7") == "Am7" and chord_symbol("Eb", "hdim7") == "Ebm7b5"
    assert chord_symbol(13, "maj") == "C#"
    with pytest.raises(ValueError, match="unknown chord quality 'min9'"):
        chord_symbol("C:min9")
    with pytest.raises(ValueError, match="unknown chord quality"):
        chord_label(0, "minor")


@pytest.mark.parametrize("progression, key, names", [
    (["I", "V", "vi", "IV"], "C major", ["C", "G", "Am", "F"]),
    (["I", "V", "vi", "IV"], "Db major", ["C#", "G#", "A#m", "F#"]),
    (["i", "VI", "III", "VII"], "Am", ["Am", "F", "C", "G"]),
    (["iiø7", "V7", "i7"], "D小调", ["Em7b5", "A7", "Dm7"]),
    (["vii°", "I+", "vii°7"], "C major", ["Bdim", "Caug", "Bdim7"]),
    (["I", "bVII", "IV", "Vsus4", "IVsus2"], "D major", ["D", "C", "G", "Asus4", "Gsus2"]),
    (["I", "IV"], "F# major", ["F#", "B"]), (["iii", "vii°"], "C# major", ["E#m", "B#dim"]),
])
def test_chord_names_spell_numerals_in_the_key(progression, key, names):
    assert chord_names(progression, key) == names


MAJOR_NUMERALS = ["I", "ii", "iii", "IV", "V", "vi", "vii°", "V7", "ii7", "vi7", "Imaj7", "IVmaj7", "bVII", "I+"]
MINOR_NUMERALS = ["i", "iv", "v", "V", "VI", "III", "VII", "i7", "VImaj7", "iiø7", "V7", "iv7"]


def test_chord_names_sound_as_music21_reads_the_numerals_in_all_24_keys():
    for k in KEY_NAMES:
        numerals = MINOR_NUMERALS if k.endswith("minor") else MAJOR_NUMERALS
        for numeral, name in zip(numerals, chord_names(numerals, k)):
            expected = roman.RomanNumeral(numeral, m21(k)).pitchClasses
            assert chord_pitch_classes(name) == tuple(expected), (k, numeral, name)
            root, quality = roman_chord(numeral, k)
            assert parse_chord(name) == (pitch_class(root), quality)


def test_bad_numerals_and_keys_are_one_line_errors():
    with pytest.raises(ValueError, match="not a roman numeral chord: 'VIII'"):
        chord_names(["I", "VIII"], "C major")
    with pytest.raises(ValueError, match="unknown key 'H major'"):
        chord_names(["I"], "H major")


# -- instruments -----------------------------------------------------------------------------------
def test_every_prompt_word_names_an_instrument_with_a_program():
    assert set(INSTRUMENT_WORDS.values()) <= set(INSTRUMENTS)
    for word, name in INSTRUMENT_WORDS.items():
        assert instrument_program(word) == instrument_program(name) == INSTRUMENTS[name], word
    for name, program in INSTRUMENTS.items():
        assert -1 <= program <= 127 and instrument_name(program) == name and name in INSTRUMENT_WORDS.values()
    assert len(set(INSTRUMENTS.values())) == len(INSTRUMENTS), "two canonical names share a program"


@pytest.mark.parametrize("name, program", [
    ("piano", 0), ("electric piano", 4), ("synth pad", 88), ("synth bass", 38), ("electric bass", 33),
    ("acoustic bass", 32), ("string ensemble", 48), ("drums", -1), ("organ", 19), ("choir", 52), ("ukulele", 24),
    ("guzheng", 107), ("erhu", 110), ("pipa", 106), ("dizi", 77), ("二胡", 110), ("Rhodes", 4), ("鼓组", -1),
])
def test_instrument_programs(name, program):
    assert instrument_program(name) == program


def test_general_midi_names_and_programs_round_trip():
    for program in range(-1, 128):
        assert instrument_program(instrument_name(program)) == program
    for program in range(128):
        assert instrument_program(MIDI_INSTRUMENTS[program]["name"]) == program  # as the lake's captions name them
    assert instrument_name(66) == "tenor sax" and instrument_program("Drums") == -1
    with pytest.raises(ValueError, match="unknown instrument 'kazoo'"):
        instrument_program("kazoo")
    with pytest.raises(ValueError, match="unknown GM program 128"):
        instrument_name(128)


def test_split_of_is_the_one_split_and_it_has_a_test_share():
    import hashlib

    from lake.vocab import split_of

    draws = [split_of(hashlib.sha256(str(i).encode()).hexdigest()) for i in range(3000)]
    assert {s: draws.count(s) for s in ("train", "validation", "test")}["test"] > 200  # 10 %: ~300
    assert split_of("cluster-a") == split_of("cluster-a") and split_of("cluster-a") in ("train", "validation", "test")
    import lake.jobs.split as job
    assert not hasattr(job, "split_for")  # the job draws with lake.vocab.split_of, not a copy of its own
