"""Feature captions (lake.captions): wording, determinism, and both languages."""

from __future__ import annotations

import pytest

from lake.captions import caption_en, caption_zh, chord_progression
from lake.vocab import mood_of


def feats(**over) -> dict:
    base = dict(bpm=96.0, style="classical", key_tonic="G", key_mode="major", time_signature="4/4",
                instruments=["Acoustic Grand Piano", "Choir Aahs"])
    return {**base, **over}


def test_english_caption_reads_the_features():
    assert caption_en(feats()) == ("A moderato classical piece in G major at 96 BPM, 4/4 time, "
                                   "for Acoustic Grand Piano and Choir Aahs. The mood is bright.")


@pytest.mark.parametrize("bpm, opening", [(50, "A largo"), (75, "An andante"), (120, "An allegro"),
                                          (180, "A presto")])
def test_tempo_word_and_article_follow_the_bpm(bpm, opening):
    assert caption_en(feats(bpm=bpm)).startswith(opening + " classical piece")


def test_unknown_style_is_left_out_and_tonic_is_normalised():
    text = caption_en(feats(style="polka", key_tonic="D#", key_mode="minor", bpm=71.6))
    assert text.startswith("An andante piece in Eb minor at 72 BPM")


def test_long_instrument_lists_are_shortened_and_deduplicated():
    names = ["Acoustic Grand Piano", "Violin", "Violin", "Viola", "Cello", "Drums"]
    text = caption_en(feats(instruments=names))
    assert text.endswith("for Acoustic Grand Piano, Violin, Viola and 2 more instruments. The mood is bright.")
    assert caption_en(feats(instruments=["Drums"])).endswith(", 4/4 time, for Drums. The mood is bright.")
    assert caption_en(feats(instruments=[])).endswith("at 96 BPM, 4/4 time. The mood is bright.")


def test_captions_are_deterministic():
    assert caption_en(feats()) == caption_en(dict(reversed(list(feats().items()))))
    assert caption_zh(feats()) == caption_zh(feats())


def test_chinese_caption():
    assert caption_zh(feats()) == "一首中板古典风格的G大调作品，每分钟96拍，4/4拍，由钢琴和合奏演奏。情绪明朗。"
    text = caption_zh(feats(style="jazz", key_tonic="Bb", key_mode="minor", bpm=150,
                            instruments=["Electric Bass (finger)", "Drums", "Tenor Sax"]))
    assert text == "一首活板爵士风格的降B小调作品，每分钟150拍，4/4拍，由贝斯、鼓组和簧管演奏。情绪激昂。"
    assert "风格" not in caption_zh(feats(style=None))


def test_unknown_instrument_name_is_an_error():
    with pytest.raises(ValueError, match="unknown General MIDI instrument name 'Kazoo'"):
        caption_zh(feats(instruments=["Kazoo"]))


@pytest.mark.parametrize("mode, bpm, mood", [("major", 50, "calm"), ("major", 96, "bright"), ("major", 140, "joyful"),
                                             ("minor", 66, "sad"), ("minor", 72, "melancholic"),
                                             ("minor", 180, "dramatic")])
def test_mood_follows_mode_and_tempo(mode, bpm, mood):
    assert mood_of(mode, bpm) == mood
    assert f"The mood is {mood}." in caption_en(feats(key_mode=mode, bpm=bpm))


def test_chord_progression_is_the_most_frequent_run_of_four_changes():
    bars = ["C", "C", "N", "G", "Am", "F", "C", "G", "Am", "F", "C", "G", "Am", "F", "Dm", "G7"]
    assert chord_progression(bars) == ["C", "G", "Am", "F"]
    assert chord_progression(["D", "D", None, "A", "", "D"]) == ["D", "A", "D"]  # short: the whole sequence
    assert chord_progression(["E", "B", "C#m", "A", "F#m", "B", "E", "A"]) == ["E", "B", "C#m", "A"]  # tie: first
    assert chord_progression([]) == [] and chord_progression(None) == []


def test_captions_carry_the_chord_progression_in_both_languages():
    f = feats(chords=["G", "G", "D", "Em", "C", "G", "D", "Em", "C"])
    assert caption_en(f).endswith("The mood is bright. The chord progression is G, D, Em, C.")
    assert caption_zh(f).endswith("情绪明朗。和弦进行为G - D - Em - C。")
    given = feats(progression=["Am", "F", "C", "G"], chords=["C"])  # a known progression wins over the bars
    assert caption_en(given).endswith("The chord progression is Am, F, C, G.")
    with pytest.raises(ValueError, match="unknown mode 'dorian'"):
        mood_of("dorian", 100)
