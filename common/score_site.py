"""A local static score site built from music21's corpus, and the HTTP server that serves it.

The crawler needs a real website to crawl without internet: :func:`build_site` exports corpus pieces
to MIDI and writes plain HTML around them (paginated index pages, lyrics pages, a few deliberately
broken links), :class:`ScoreSite` serves the folder on 127.0.0.1, and :func:`site_source` is the crawl
source that matches its markup. ``manifest.json`` records what the site holds, so tests and the demo
can check the lake against it, and makes a second build with the same settings free.
"""

from __future__ import annotations

import hashlib
import html
import json
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common.corpus_export import EXPORT_VERSION, export_pieces
from common.config import SourceConfig

MANIFEST = "manifest.json"
PAGE_SIZE = 25
LICENSE = "music21-corpus: public domain / BSD"

# Deliberately broken links and what the lake should make of them.
FAULTS = (
    {"name": "not-midi", "url_path": "/midi/broken/not-midi.mid", "expect": "crawl_error", "stage": "validate",
     "note": "an HTML body served as audio/midi"},
    {"name": "truncated", "url_path": "/midi/broken/truncated.mid", "expect": "bronze",
     "note": "the first half of a real MIDI: it starts with MThd, so it lands and the lake quarantines it later"},
    {"name": "missing", "url_path": "/midi/broken/missing.mid", "expect": "crawl_error", "stage": "fetch",
     "http_status": 404, "note": "linked but absent"},
)

_NAV = ('<nav class="site-nav"><a href="/index.html">Home</a> | <a href="/page-1.html">Browse</a> | '
        '<span>About this archive</span></nav>')


def _doc(title: str, body: str, lang: str = "en") -> str:
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'</head>\n<body>\n{_NAV}\n{body}\n<footer>Scores from the music21 corpus ({LICENSE}).</footer>\n'
            f'</body>\n</html>\n')


def _entry(p: dict) -> str:
    t = html.escape(p["title"], quote=True)
    line = (f'<a href="/{p["midi"]}" data-style="{p["style"]}" data-collection="{p["collection"]}" title="{t}">'
            f'{t}</a>')
    if p["lyrics_page"]:
        line += f' <a class="lyrics" href="/{p["lyrics_page"]}">lyrics</a>'
    return f"<li>{line}</li>"


def _fault_entry(f: dict) -> str:
    return f'<li><a href="{f["url_path"]}" data-collection="broken" title="{f["name"]}">{f["name"]}</a></li>'


def _listing(no: int, count: int, entries: list[str]) -> str:
    nav = []
    if no > 1:
        nav.append(f'<a class="page" rel="prev" href="/page-{no - 1}.html">previous</a>')
    if no < count:
        nav.append(f'<a class="page" rel="next" href="/page-{no + 1}.html">next</a>')
    body = (f"<h1>Scores, page {no} of {count}</h1>\n<ul class=\"scores\">\n" + "\n".join(entries) +
            f"\n</ul>\n<p class=\"pager\">{' '.join(nav)}</p>")
    return _doc(f"Scores, page {no}", body)


def _lyrics_page(p: dict) -> str:
    lines = "<br>\n".join(html.escape(line) for line in p["lyrics"])
    body = (f"<h1>{html.escape(p['title'])}</h1>\n<div class=\"lyrics\">\n<p>{lines}</p>\n</div>\n"
            f"<p class=\"listen\">Listen: <a class=\"midi\" href=\"/{p['midi']}\">MIDI</a></p>")
    return _doc(p["title"], body, lang=p["language"] or "und")


def _cached(site_dir: Path, limit: int, faults: bool) -> dict | None:
    path = site_dir / MANIFEST
    if not path.exists():
        return None
    manifest = json.loads(path.read_text())
    if manifest.get("export_version") != EXPORT_VERSION:  # exported by other rules: rebuild
        return None
    if len(manifest["pieces"]) >= limit and manifest["faults"] == faults:
        return manifest
    return None


def build_site(site_dir: str | Path, limit: int, faults: bool = True) -> dict:
    """Export ``limit`` corpus pieces into a static site under ``site_dir``; returns its manifest.

    Reuses the existing site when its manifest already holds at least ``limit`` pieces built with
    the same ``faults`` setting by the same export rules (``EXPORT_VERSION``). Otherwise builds next
    to it and swaps it in, so a half-built site is never taken for a finished one.
    """
    site_dir = Path(site_dir).resolve()
    cached = _cached(site_dir, limit, faults)
    if cached is not None:
        return cached
    if site_dir.exists() and any(site_dir.iterdir()) and not (site_dir / MANIFEST).exists():
        raise FileExistsError(f"{site_dir} is not empty and holds no {MANIFEST}: refusing to replace it")

    work = site_dir.with_name(site_dir.name + ".building")
    shutil.rmtree(work, ignore_errors=True)
    (work / "lyrics").mkdir(parents=True)
    pieces, skipped = export_pieces(limit, work / "midi")
    if not pieces:
        raise RuntimeError(f"site build: no corpus piece could be exported ({len(skipped)} failed)")

    for p in pieces:
        data = (work / p["midi"]).read_bytes()
        p.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data), has_lyrics=bool(p["lyrics"]),
                 lyrics_page=f"lyrics/{p['slug']}.html" if p["lyrics"] else None)
        if p["lyrics_page"]:
            (work / p["lyrics_page"]).write_text(_lyrics_page(p), encoding="utf-8")

    fault_files = []
    if faults:
        broken = work / "midi" / "broken"
        broken.mkdir(parents=True)
        (broken / "not-midi.mid").write_text(_doc("Not found", "<h1>This is not the file you want</h1>"))
        real = (work / pieces[0]["midi"]).read_bytes()
        truncated = real[: len(real) // 2]
        (broken / "truncated.mid").write_bytes(truncated)
        for f in FAULTS:
            f = dict(f)
            if f["name"] == "truncated":
                f["sha256"] = hashlib.sha256(truncated).hexdigest()
            fault_files.append(f)

    entries = [_entry(p) for p in pieces] + [_fault_entry(f) for f in fault_files]
    chunks = [entries[i:i + PAGE_SIZE] for i in range(0, len(entries), PAGE_SIZE)]
    for no, chunk in enumerate(chunks, start=1):
        (work / f"page-{no}.html").write_text(_listing(no, len(chunks), chunk), encoding="utf-8")
    links = "\n".join(f'<li><a class="page" href="/page-{no}.html">page {no}</a></li>' for no in range(1, len(chunks) + 1))
    (work / "index.html").write_text(_doc("Score archive", f"<h1>Score archive</h1>\n<p>{len(pieces)} scores.</p>\n"
                                                           f"<ul class=\"pages\">\n{links}\n</ul>"), encoding="utf-8")

    manifest = {"export_version": EXPORT_VERSION, "limit": limit, "faults": faults, "pieces": pieces,
                "fault_files": fault_files, "skipped": skipped}
    (work / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    shutil.rmtree(site_dir, ignore_errors=True)
    work.rename(site_dir)
    return manifest


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map,
                      ".mid": "audio/midi", ".html": "text/html; charset=utf-8", ".json": "application/json"}

    def log_request(self, code="-", size="-"):
        self.server.access_log.append({"path": self.path, "status": int(code) if str(code).isdigit() else code,
                                       "user_agent": self.headers.get("User-Agent"),
                                       "referer": self.headers.get("Referer")})

    def log_message(self, format, *args):  # quiet: the access log above is the record
        pass


class ScoreSite:
    """Serve a built site on ``host:port`` (port 0: any free port) from a background thread."""

    def __init__(self, site_dir: str | Path, host: str = "127.0.0.1", port: int = 0):
        self.site_dir = Path(site_dir).resolve()
        if not (self.site_dir / "index.html").exists():
            raise FileNotFoundError(f"{self.site_dir} holds no index.html: build the site first")
        self.host, self.port = host, port
        self.access_log: list[dict] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("score site is not running")
        return f"http://{self.host}:{self._server.server_address[1]}/"

    def start(self) -> "ScoreSite":
        if self._server is None:
            self._server = ThreadingHTTPServer((self.host, self.port), partial(_Handler, directory=str(self.site_dir)))
            self._server.access_log = self.access_log
            self._thread = threading.Thread(target=self._server.serve_forever, name="score-site", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> "ScoreSite":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def site_source(url: str, name: str = "score-site") -> SourceConfig:
    """The crawl source for a running score site at ``url``."""
    base = url if url.endswith("/") else url + "/"
    return SourceConfig(name=name, seeds=[base + "index.html"], allow_private=True, license=LICENSE,
                        page_link="css:a.page", midi_link="css:a[href$='.mid']", lyrics_link="css:a.lyrics",
                        lyrics_text="css:div.lyrics", max_depth=3,
                        # our own local site: no rate limit; its truncated fault is meant to reach the
                        # silver quarantine, so MIDI is checked by header here (sources default to parse)
                        requests_per_second=0, per_host_concurrency=8, midi_check="header")
