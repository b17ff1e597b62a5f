"""Link extraction and lyrics cleaning with DrissionPage locators, on HTML strings."""

from __future__ import annotations

import pytest

from ingest.parse import clean_lyrics, extract_links, extract_lyrics
from common.config import SourceConfig

SRC = SourceConfig(name="t", seeds=["http://site.test/index.html"])

LISTING = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>p</title></head><body>
<nav><a href="/index.html">Home</a> <a href="javascript:void(0)">menu</a></nav>
<ul>
 <li><a href="/midi/folk/a.mid" data-style="folk" data-collection="essen-china" title="Song A">Song  A</a>
     <a class="lyrics" href="../lyrics/a.html#top">lyrics</a></li>
 <li><a href="b.mid" title="Only a title attribute"><img src="x.png"></a></li>
 <li><a href="http://other.test/c.mid" data-style="jazz">C</a></li>
 <li><a href="/midi/folk/a.mid">Song A again</a></li>
 <li><a href="/notes.txt">not a midi link</a></li>
</ul>
<p><a class="page" href="page-2.html">next</a> <a class="page" rel="prev" href="/page-0.html">prev</a></p>
</body></html>"""


def test_links_are_absolute_deduplicated_and_carry_data_attributes():
    links = extract_links(LISTING, "http://site.test/pages/page-1.html", SRC)
    assert [l.url for l in links.midi] == ["http://site.test/midi/folk/a.mid", "http://site.test/pages/b.mid",
                                           "http://other.test/c.mid"]
    a, b, c = links.midi
    assert a.title == "Song A" and a.attrs == {"style": "folk", "collection": "essen-china"}
    assert b.title == "Only a title attribute" and b.attrs == {}
    assert c.attrs == {"style": "jazz"}
    assert [l.url for l in links.lyrics] == ["http://site.test/lyrics/a.html"]
    assert [l.url for l in links.pages] == ["http://site.test/pages/page-2.html", "http://site.test/page-0.html"]


def test_locators_come_from_the_source():
    src = SRC.model_copy(update={"midi_link": "xpath://nav/a", "page_link": "css:li a[title='Song A']"})
    links = extract_links(LISTING, "http://site.test/", src)
    assert [l.url for l in links.midi] == ["http://site.test/index.html"]  # javascript: links are dropped
    assert [l.url for l in links.pages] == ["http://site.test/midi/folk/a.mid"]


LYRICS = """<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Head title</title><style>.lyrics{color:red}</style></head>
<body>
<nav class="site-nav"><a href="/index.html">Home</a> | <a href="/page-1.html">Browse</a></nav>
<h1>  Nun  ruhen alle Wälder </h1>
<div class="lyrics">
  <p>Nun ruhen <b>alle</b> Wälder,<br>
  Vieh, Menschen,   Städt und Felder,<br><br>
  es schläft die ganze Welt;</p>
  <script>var tracking = "not lyrics";</script>
  <p>ihr aber, <i>meine Sinnen</i>,<br>auf, auf, ihr sollt beginnen</p>
</div>
<p class="listen">Listen: <a class="midi" href="/midi/bach/bwv392.mid">MIDI</a></p>
<footer>Footer text</footer>
</body></html>"""


def test_lyrics_are_clean_text_with_line_breaks_and_no_page_chrome():
    page = extract_lyrics(LYRICS, "http://site.test/lyrics/bwv392.html", SRC)
    assert page.text == ("Nun ruhen alle Wälder,\nVieh, Menschen, Städt und Felder,\nes schläft die ganze Welt;\n"
                         "ihr aber, meine Sinnen,\nauf, auf, ihr sollt beginnen")
    for chrome in ("Home", "Browse", "tracking", "Footer", "Listen", "<", "color"):
        assert chrome not in page.text
    assert page.title == "Nun ruhen alle Wälder"
    assert page.language == "de"
    assert page.midi_url == "http://site.test/midi/bach/bwv392.mid"


def test_lyrics_page_without_h1_language_or_midi_link():
    html = '<html lang="und"><head><title>Only head</title></head><body><div class="lyrics">la la</div></body></html>'
    page = extract_lyrics(html, "http://site.test/l.html", SRC)
    assert (page.title, page.language, page.midi_url, page.text) == ("Only head", None, None, "la la")


def test_page_without_lyrics_is_an_error():
    with pytest.raises(ValueError, match="no lyrics text at css:div.lyrics"):
        extract_lyrics("<html><body><div class='other'>x</div></body></html>", "http://site.test/", SRC)


def test_clean_lyrics_collapses_whitespace_and_drops_blank_lines():
    assert clean_lyrics("  a   b \n\n\t c\r\n \n") == "a b\nc"


# -- chords, language, links between lyrics and MIDI ------------------------------------------

def test_chord_lines_and_inline_chords_are_dropped_but_words_stay():
    text = ("Intro: \nC   G/B   Am7 | F\n[C]Amazing [G/B]grace how [Am]sweet the sound\nN.C.\nDm  E7sus4  Cmaj7  Bb\n"
            "A\nA day in the life\nAm I dreaming")
    assert clean_lyrics(text) == "Intro:\nAmazing grace how sweet the sound\nA\nA day in the life\nAm I dreaming"


def test_language_is_guessed_when_the_page_does_not_say():
    from ingest.parse import guess_language

    assert guess_language("the river and the sea, you are all that I love in the world") == "en"
    assert guess_language("Guten Abend, gut Nacht, mit Rosen bedacht, und die Nacht ist nicht weit") == "de"
    assert guess_language("Au clair de la lune, mon ami Pierrot, prête-moi ta plume pour écrire un mot") == "fr"
    assert guess_language("la la la") is None and guess_language("") is None
    html = '<html><body><div class="lyrics">the moon and the stars are in my heart with you</div></body></html>'
    page = extract_lyrics(html, "http://site.test/l.html", SRC)
    assert page.language == "en" and page.match_method == "none"


def test_lyrics_link_carries_the_midi_link_of_its_listing_entry():
    html = ('<ul><li><a href="/m/a.mid">A</a> <a class="lyrics" href="/l/a.html">lyrics</a></li>'
            '<li><a class="lyrics" href="/l/b.html">lyrics only</a></li></ul>')
    links = extract_links(html, "http://site.test/", SRC)
    assert [(l.url, l.midi_url) for l in links.lyrics] == [("http://site.test/l/a.html", "http://site.test/m/a.mid"),
                                                           ("http://site.test/l/b.html", None)]


def test_title_key_ignores_case_accents_punctuation_and_notes():
    from ingest.parse import title_key

    assert title_key("Au Clair de la Lune!") == title_key("au clair de la lune (lyrics)") == "au clair de lune"
    assert title_key("Nun ruhen alle Wälder [BWV 392]") == "nun ruhen alle walder"
    assert title_key("") is None and title_key("(lyrics)") is None
