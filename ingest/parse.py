"""Reading fetched HTML with DrissionPage locators: which links to follow, and clean lyrics text.

Everything here works on an HTML string plus the URL it came from, so a Ray fetch actor and a unit
test run exactly the same code. The locators come from the crawl source (``SourceConfig``), so a new
site is a config change, not a code change.

Lyrics become clean text: markup, scripts, navigation and chord symbols (chord-only lines such as
``C  G/B  Am7``, inline ``[Am]`` chords) are dropped; the language is the page's ``lang`` when it
has one, else a guess from common function words. A lyrics page is linked to its MIDI by the page's
own MIDI link (``page_link``), else by the listing entry that holds both links (``listing``), else by
title (``title``, :func:`title_key`, done by the crawler once every MIDI title of the crawl is known).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin

from DrissionPage.common import make_session_ele

from common.config import SourceConfig


@dataclass(frozen=True)
class Link:
    url: str  # absolute, without fragment
    title: str | None  # the link text, else its title attribute
    attrs: dict[str, str] = field(default_factory=dict)  # the link's data-* attributes, without the prefix
    midi_url: str | None = None  # lyrics links: the MIDI link in the same listing entry, if any


@dataclass(frozen=True)
class PageLinks:
    pages: list[Link]
    midi: list[Link]
    lyrics: list[Link]


@dataclass(frozen=True)
class LyricsPage:
    title: str | None
    text: str
    language: str | None
    midi_url: str | None  # the MIDI the page links to (or, after matching, the one it was linked to)
    match_method: str = "none"  # "page_link" | "listing" | "title" | "none"


def _href(ele, base_url: str) -> str | None:
    href = ele.attr("href")
    if not href or href.strip().lower().startswith(("javascript:", "mailto:", "data:")):
        return None
    return urldefrag(urljoin(base_url, href.strip()))[0]


def _links(root, locator: str, base_url: str, sibling_midi: str | None = None) -> list[Link]:
    out, seen = [], set()
    for ele in root.eles(locator):
        url = _href(ele, base_url)
        if url is None or url in seen:
            continue
        seen.add(url)
        attrs = {k[5:]: v for k, v in ele.attrs.items() if k.startswith("data-")}
        title = " ".join(ele.text.split()) or (ele.attr("title") or "").strip() or None
        midi_url = None
        if sibling_midi is not None:  # the MIDI link of the same listing entry (the link's parent element)
            parent = ele.parent()
            for candidate in (parent.eles(sibling_midi) if parent else []):
                midi_url = _href(candidate, base_url)
                if midi_url and midi_url != url:
                    break
                midi_url = None
        out.append(Link(url, title, attrs, midi_url))
    return out


def extract_links(html: str, base_url: str, source: SourceConfig) -> PageLinks:
    """The navigation, MIDI and lyrics links of a page, per the source's locators."""
    root = make_session_ele(html)
    return PageLinks(pages=_links(root, source.page_link, base_url),
                     midi=_links(root, source.midi_link, base_url),
                     lyrics=_links(root, source.lyrics_link, base_url, sibling_midi=source.midi_link))


_CHORD = (r"(?:[A-G](?:#|b|\u266f|\u266d)?(?:maj|min|m|M|dim|aug|sus|add|\+|-|o|\u00f8|\u0394)?"
          r"(?:\d{1,2})?(?:(?:sus|add|maj|b|#)\d{1,2})*(?:/[A-G](?:#|b)?)?|N\.?C\.?)")
_CHORD_TOKEN = re.compile(rf"^\(?{_CHORD}\)?$")
_INLINE_CHORD = re.compile(rf"\[{_CHORD}\]")
_BAR = re.compile(r"^[|:/.\-x%]+$")


def is_chord_line(line: str) -> bool:
    """A line of chord symbols only (``C  G/B  Am7 | F``), as chord sheets put above the words."""
    tokens = line.split()
    chords = [t for t in tokens if _CHORD_TOKEN.match(t)]
    if not chords or any(not (_CHORD_TOKEN.match(t) or _BAR.match(t)) for t in tokens):
        return False
    # one bare "A" is a word more often than a chord
    return not (len(tokens) == 1 and tokens[0] in ("A", "a"))


def clean_lyrics(text: str) -> str:
    """One lyric line per line: chords dropped, whitespace collapsed, blank lines dropped."""
    lines = []
    for line in text.splitlines():
        line = " ".join(_INLINE_CHORD.sub("", line).split())
        if line and not is_chord_line(line):
            lines.append(line)
    return "\n".join(lines)


_FUNCTION_WORDS = {
    "en": "the and you of to is in my that it me your with for on be all we this love are",
    "de": "und der die das ich du nicht ist mit ein sie zu den es mein dich auf wie so",
    "fr": "le la les et je tu de des un une est que qui pas mon ton dans pour sur au",
    "es": "el la los las y de que en un una es mi tu no con por para se te me",
    "it": "il la le e di che un una non mi ti per con del della sono io tu ma",
    "pt": "o a os as e de que em um uma não meu teu com por para se eu",
    "nl": "de het een en van ik je niet is dat die met op te zijn mijn",
    "la": "et in est non ad cum qui quae quod deus te me mea tua sed nobis",
}
_WORDS = {lang: set(words.split()) for lang, words in _FUNCTION_WORDS.items()}


def guess_language(text: str) -> str | None:
    """The language whose function words the text uses most (at least 3 hits and 10 % of words), else None."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    if len(words) < 4:
        return None
    scores = {lang: sum(w in vocab for w in words) for lang, vocab in _WORDS.items()}
    lang, hits = max(scores.items(), key=lambda kv: kv[1])
    if hits < 3 or hits < 0.1 * len(words) or list(scores.values()).count(hits) > 1:
        return None
    return lang


def title_key(title: str | None) -> str | None:
    """A title reduced for matching: accents, case, punctuation, bracketed notes and articles dropped."""
    if not title:
        return None
    text = unicodedata.normalize("NFKD", title)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(lyrics|midi|the|a|an|der|die|das|le|la|les|el)\b", " ", text)
    words = re.findall(r"[a-z0-9]+", text)
    return " ".join(words) or None


def extract_lyrics(html: str, base_url: str, source: SourceConfig) -> LyricsPage:
    """The lyrics of a lyrics page as clean text (markup, scripts and page chrome dropped).

    Raises ``ValueError`` when the page holds no lyrics where the source's locator points.
    """
    root = make_session_ele(html)
    blocks = root.eles(source.lyrics_text)
    text = clean_lyrics("\n".join(b.text for b in blocks))
    if not text:
        raise ValueError(f"no lyrics text at {source.lyrics_text}")
    heading = root.ele("xpath://h1")
    title = " ".join(heading.text.split()) if heading else None
    if not title:
        head_title = root.ele("xpath://title")
        title = " ".join(head_title.text.split()) if head_title else None
    lang = (root.attr("lang") or "").strip() if root.tag == "html" else ""
    language = None if lang in ("", "und") else lang
    midi = _links(root, source.midi_link, base_url)
    return LyricsPage(title=title or None, text=text, language=language or guess_language(text),
                      midi_url=midi[0].url if midi else None, match_method="page_link" if midi else "none")
