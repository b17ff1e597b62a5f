"""The corpus export writes the scores' tempo and instruments into the MIDI (real corpus pieces, read back by symusic)."""

from __future__ import annotations

import hashlib

import pytest
import symusic

from common.corpus_export import (CHORALE, EXPORT_VERSION, IRISH_DANCES, TEMPO_WORDS, VOICE, catalog, export_piece,
                                  name_program, tempo_word)
from common.score_site import _cached


@pytest.fixture(scope="module")
def candidates():
    return {c.slug: c for cands in catalog().values() for c in cands}


def export(candidates, slug, tmp_path, name="piece.mid"):
    result = export_piece(candidates[slug], str(tmp_path / name))
    assert "error" not in result, result
    data = (tmp_path / name).read_bytes()
    return result, data, symusic.Score.from_midi(data)


def track_programs(midi):
    return [t.program for t in midi.tracks if t.note_num()]


def first_tempo(midi):
    assert midi.tempos[0].time == 0
    return midi.tempos[0].qpm


def test_a_string_quartet_is_violins_viola_cello_at_its_marked_tempo(candidates, tmp_path):
    # Haydn op. 1/1, Menuetto: music21 reads the parts as a generic string ensemble (48); the names say more
    result, _, midi = export(candidates, "haydn-opus1no1-movement4", tmp_path)
    assert [(p["name"], p["program"]) for p in result["parts"]] == \
        [("Violin I", 40), ("Violin II", 40), ("Viola", 41), ("Cello", 42)]
    assert sorted(track_programs(midi)) == [40, 40, 41, 42]
    assert result["tempo"]["source"] == "marked" and result["tempo"]["bpm"] == 80.0  # the file's <sound tempo="80">
    assert first_tempo(midi) == pytest.approx(80.0, abs=0.01)


def test_a_chorale_is_sung_by_the_choir_at_an_assigned_tempo_the_same_every_time(candidates, tmp_path):
    # BWV 276 has no tempo at all: music21 alone would write 120 BPM and piano
    result, data, midi = export(candidates, "bwv276", tmp_path)
    assert [p["program"] for p in result["parts"]] == [VOICE] * 4 and set(track_programs(midi)) == {VOICE}
    tempo = result["tempo"]
    assert tempo["source"] == "assigned" and tempo["rule"].startswith("chorale")
    assert CHORALE[0][0] <= tempo["bpm"] <= CHORALE[0][1]
    assert first_tempo(midi) == pytest.approx(tempo["bpm"], abs=0.01)
    again, data2, _ = export(candidates, "bwv276", tmp_path, "again.mid")
    assert again == result and hashlib.sha256(data2).hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_chorale_with_horns_keeps_them_apart_from_the_voices(candidates, tmp_path):
    result, _, midi = export(candidates, "bwv128-5", tmp_path)
    assert [p["program"] for p in result["parts"]] == [60, 60] + [VOICE] * 4
    assert sorted(track_programs(midi)) == sorted([60, 60] + [VOICE] * 4)
    assert result["tempo"]["source"] == "marked" and first_tempo(midi) == pytest.approx(96.0, abs=0.01)


def test_an_abc_q_field_sets_the_tempo_and_a_folk_tune_gets_a_melodic_instrument(candidates, tmp_path):
    # O'Neill's 415, "The Loughrea Lasses": Q:80, which music21 reads as a quarter at 80
    result, _, midi = export(candidates, "oneills-0415", tmp_path)
    assert result["tempo"] == {**result["tempo"], "bpm": 80.0, "source": "marked", "rule": "metronome mark"}
    assert first_tempo(midi) == pytest.approx(80.0, abs=0.01)
    (part,) = result["parts"]
    assert part["program"] in (110, 78, 73) and part["by"].startswith("folk melody")
    assert track_programs(midi) == [part["program"]]


def test_a_jig_without_a_mark_is_assigned_a_jig_tempo_in_dotted_quarters(candidates, tmp_path):
    result, _, midi = export(candidates, "ryans-bundle-and-go-jig", tmp_path)
    tempo = result["tempo"]
    lo, hi, _ = IRISH_DANCES["jig"]
    assert tempo["source"] == "assigned" and "jig (ABC R: field)" in tempo["rule"]
    assert tempo["beat"] == 1.5 and lo <= tempo["beat_bpm"] <= hi and tempo["bpm"] == tempo["beat_bpm"] * 1.5
    assert first_tempo(midi) == pytest.approx(tempo["bpm"], abs=0.01)


def test_a_chinese_folk_song_gets_a_genre_tempo_and_a_chinese_instrument_stand_in(candidates, tmp_path):
    result, _, midi = export(candidates, "han1-428", tmp_path)  # R: Xiaodiao (a ditty)
    assert result["tempo"]["source"] == "assigned" and "xiaodiao" in result["tempo"]["rule"]
    assert 66 <= result["tempo"]["bpm"] <= 88
    assert track_programs(midi) == [result["parts"][0]["program"]] and result["parts"][0]["program"] in (110, 77, 73)


def test_part_names_in_english_german_and_italian():
    names = {"Violine": 40, "Violin II": 40, "2nd Violin": 40, "Bratsche": 41, "Violoncello": 42, "Flöte": 73,
             "Flauto traverso": 73, "Oboe d'amore": 68, "Klarinette": 71, "Horn 1": 60, "Corno": 60,
             "Corno inglese": 69, "Tromba I": 56, "Trompete": 56, "Fagott": 70, "Pauken": 47, "Continuo": 19,
             "Soprano": VOICE, "Tenore": VOICE, "Soprano Oboe 1 Violin1": VOICE, "Bass": VOICE,
             "Bass Clarinet": 71, "Double Bass": 43, "Cembalo": 6, "Klavier": 0, "Electric Piano": 4}
    assert {n: name_program(n) for n in names} == names
    assert name_program("MusicXML Part") is None and name_program("") is None and name_program(None) is None


def test_tempo_words_longest_phrase_wins_accents_and_case_do_not_matter():
    assert tempo_word("Allegro ma non troppo") == "allegro ma non troppo"
    assert tempo_word("ALLEGRO.") == "allegro"
    assert tempo_word("Nicht schnell") == "nicht schnell" and tempo_word("Mäßig") == "massig"
    assert tempo_word('"Very slow."') == "very slow"
    assert tempo_word("cresc.") is None and tempo_word(None) is None and tempo_word("Slowly") is None
    assert all(lo < hi for lo, hi in TEMPO_WORDS.values())


def test_a_site_exported_by_other_rules_is_not_reused(tmp_path):
    import json

    manifest = {"limit": 5, "faults": True, "pieces": [{}] * 5, "fault_files": [], "skipped": []}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert _cached(tmp_path, 5, True) is None  # a site from before the versioned export
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "export_version": EXPORT_VERSION}))
    assert _cached(tmp_path, 5, True) is not None
