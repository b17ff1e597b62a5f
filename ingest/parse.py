"""Reading fetched HTML with DrissionPage locators: which links to follow, and clean lyrics text.

Everything here works on an HTML string plus the URL it came from, so a Ray fetch actor and a unit
test run exactly the same code. The locators come from the crawl source (``SourceConfig``), so a new
site is a config change, not a code change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin

from DrissionPage.common import make_session_ele

from musiclake.config import SourceConfig


@dataclass(frozen=True)
class Link:
    url: str  # absolute, without fragment
    title: str | None  # the link text, else its title attribute
    attrs: dict[str, str] = field(default_factory=dict)  # the link's data-* attributes, without the prefix


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
    midi_url: str | None  # the MIDI the page itself links to


def _links(root, locator: str, base_url: str) -> list[Link]:
    out, seen = [], set()
    for ele in root.eles(locator):
        href = ele.attr("href")
        if not href or href.lower().startswith(("javascript:", "mailto:")):
            continue
        url = urldefrag(urljoin(base_url, href.strip()))[0]
        if url in seen:
            continue
        seen.add(url)
        attrs = {k[5:]: v for k, v in ele.attrs.items() if k.startswith("data-")}
        title = " ".join(ele.text.split()) or (ele.attr("title") or "").strip() or None
        out.append(Link(url, title, attrs))
    return out


def extract_links(html: str, base_url: str, source: SourceConfig) -> PageLinks:
    """The navigation, MIDI and lyrics links of a page, per the source's locators."""
    root = make_session_ele(html)
    return PageLinks(pages=_links(root, source.page_link, base_url),
                     midi=_links(root, source.midi_link, base_url),
                     lyrics=_links(root, source.lyrics_link, base_url))


def clean_lyrics(text: str) -> str:
    """One lyric line per line: whitespace collapsed, blank lines dropped."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


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
    midi = _links(root, source.midi_link, base_url)
    return LyricsPage(title=title or None, text=text, language=None if lang in ("", "und") else lang,
                      midi_url=midi[0].url if midi else None)
