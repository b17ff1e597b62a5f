"""Link extraction and lyrics cleaning with DrissionPage locators, on HTML strings."""

from __future__ import annotations

import pytest

from ingest.parse import clean_lyrics, extract_links, extract_lyrics
from musiclake.config import SourceConfig

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
