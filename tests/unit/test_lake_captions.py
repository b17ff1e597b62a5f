"""Feature captions (lake.captions): wording, determinism, and both languages."""

from __future__ import annotations

import pytest

from lake.captions import caption_en, caption_zh


def feats(**over) -> dict:
    base = dict(bpm=96.0, style="classical", key_tonic="G", key_mode="major", time_signature="4/4",
                instruments=["Acoustic Grand Piano", "Choir Aahs"])
    return {**base, **over}


def test_english_caption_reads_the_features():
    assert caption_en(feats()) == ("A moderato classical piece in G major at 96 BPM, 4/4 time, "
                                   "for Acoustic Grand Piano and Choir Aahs.")


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
    assert text.endswith("for Acoustic Grand Piano, Violin, Viola and 2 more instruments.")
    assert caption_en(feats(instruments=["Drums"])).endswith(", 4/4 time, for Drums.")
    assert caption_en(feats(instruments=[])).endswith("at 96 BPM, 4/4 time.")


def test_captions_are_deterministic():
    assert caption_en(feats()) == caption_en(dict(reversed(list(feats().items()))))
    assert caption_zh(feats()) == caption_zh(feats())


def test_chinese_caption():
    assert caption_zh(feats()) == "一首中板古典风格的G大调作品，每分钟96拍，4/4拍，由钢琴和合奏演奏。"
    text = caption_zh(feats(style="jazz", key_tonic="Bb", key_mode="minor", bpm=150,
                            instruments=["Electric Bass (finger)", "Drums", "Tenor Sax"]))
    assert text == "一首活板爵士风格的降B小调作品，每分钟150拍，4/4拍，由贝斯、鼓组和簧管演奏。"
    assert "风格" not in caption_zh(feats(style=None))


def test_unknown_instrument_name_is_an_error():
    with pytest.raises(ValueError, match="unknown General MIDI instrument name 'Kazoo'"):
        caption_zh(feats(instruments=["Kazoo"]))
