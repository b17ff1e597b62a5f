"""A local website that misbehaves on purpose, for crawler tests: one real HTTP server, one fault per path.

:class:`HostileSite` serves, on 127.0.0.1, listing pages that link to good MIDI files, lyrics pages
and one link per fault. What each path does, and what the crawler must make of it, is in
:data:`FAULTS`; ``site.expected`` says what the lake should hold afterwards. Everything is made in
memory (MIDI bytes are written by :func:`midi_bytes`), so the site starts in milliseconds.

Switches, changeable between crawls: ``robots`` (``"rules"``, ``"malformed"``, ``"missing"``,
``"error"``, ``"slow-crawl"``), ``delay_s`` (every response waits this long first, like a remote
server), ``change(path)`` (new bytes, new ETag / Last-Modified at a MIDI path), ``etags`` (send
validators and answer conditional requests with 304). ``log`` records every request.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common.config import SourceConfig

UA_TOKEN = "musiclake"

ROBOTS = {
    "rules": ("# musiclake test site\nUser-agent: otherbot\nDisallow: /\n\n"
              "User-agent: *\nDisallow: /private/\nAllow: /private/ok-\nCrawl-delay: 0.01\n"),
    "malformed": ("\x00\x01garbage\ufffd line without colon\n<html><body>not robots</body></html>\n"
                  "Disallow: /before-any-agent/\nUser-agent *\nUser-agent: *\nCrawl-delay: soon\n"
                  "Disallow: /private/\nNoSuchField: x\n" + "x" * 2000 + "\n"),
    "slow-crawl": "User-agent: *\nCrawl-delay: 86400\n",
}

LYRICS = [
    # (slug, title, lang attr, lines (with chords to strip), link style)
    ("river", "Down by the River", "en", ["C   G/B   Am7", "[C]Down by the river where the [G]water is cold",
                                         "and you are the one that I love", "F  G  C"], "page_link"),
    ("wiegenlied", "Guten Abend, gut Nacht", None, ["Guten Abend, gut Nacht, mit Rosen bedacht",
                                                    "D   A7   D", "und die Nacht ist nicht mehr weit, ich bin bei dir"],
     "listing"),
    ("chanson", "Au clair de la lune", "fr", ["Au clair de la lune, mon ami Pierrot", "prête-moi ta plume pour écrire un mot",
                                              "Am | Dm | E7"], "title"),
]


def midi_bytes(seed: int, notes: int = 8) -> bytes:
    """A small valid format-0 MIDI file whose notes depend on ``seed`` (distinct seeds, distinct bytes)."""
    name = f"tune {seed}".encode()
    events = bytearray(b"\x00\xff\x03" + bytes([len(name)]) + name)  # track name: distinct per seed
    events += b"\x00\xff\x51\x03\x07\xa1\x20"  # tempo 500000 us per beat
    for i in range(notes):
        pitch = 36 + (seed * 7 + i * 5) % 60
        events += bytes([0x00, 0x90, pitch, 64 + (seed + i) % 60])
        events += bytes([0x83, 0x60, 0x80, pitch, 0x40])  # delta 480 ticks, note off
    events += b"\x00\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + (480).to_bytes(2, "big")
    return header + b"MTrk" + len(events).to_bytes(4, "big") + bytes(events)


@dataclass(frozen=True)
class Fault:
    path: str
    expect: str  # "error" | "skip" | "land"
    stage: str | None  # crawl error stage, for "error"
    reason: str  # a fragment the recorded reason must contain
    note: str


FAULTS = [
    Fault("/private/secret.mid", "skip", None, "robots.txt disallows /private/secret.mid", "robots.txt Disallow"),
    Fault("/private/ok-allowed.mid", "land", None, "", "robots.txt Allow beats a shorter Disallow"),
    Fault("/optout/noai.mid", "skip", None, "X-Robots-Tag: noai", "X-Robots-Tag: noai"),
    Fault("/optout/scoped-noai.mid", "skip", None, "X-Robots-Tag: noai", "X-Robots-Tag: musiclake: noai"),
    Fault("/optout/noindex.mid", "skip", None, "X-Robots-Tag: noindex", "X-Robots-Tag: noindex, nofollow"),
    Fault("/optout/other-bot.mid", "land", None, "", "X-Robots-Tag: otherbot: noai (not for us)"),
    Fault("/lyrics/meta-noindex.html", "skip", None, "meta robots: noindex", '<meta name="robots" content="noindex">'),
    Fault("/lyrics/meta-scoped.html", "skip", None, "meta robots: noai", '<meta name="musiclake" content="noai">'),
    Fault("/storm/1.mid", "error", "fetch", "HTTP 503 Service Unavailable", "a 5xx storm"),
    Fault("/storm/2.mid", "error", "fetch", "HTTP 500 Internal Server Error", "a 5xx storm"),
    Fault("/storm/3.mid", "error", "fetch", "HTTP 502 Bad Gateway", "a 5xx storm"),
    Fault("/flaky.mid", "land", None, "", "503 once, then fine: the retry lands it"),
    Fault("/slow.mid", "error", "fetch", "too slow: body not complete after", "drips a byte every 0.2 s"),
    Fault("/stall.mid", "error", "fetch", "stalled: no data", "headers, then silence"),
    Fault("/stall-headers.mid", "error", "fetch", "timed out after", "no response at all"),
    Fault("/truncated.mid", "error", "fetch", "truncated body", "Content-Length larger than the body"),
    Fault("/loop/a.mid", "error", "fetch", "redirect loop", "a -> b -> a"),
    Fault("/hops/0.mid", "error", "fetch", "too many redirects", "an endless chain of redirects"),
    Fault("/to-private.mid", "error", "fetch", "refused non-public host 127.0.0.2", "redirect to a private address"),
    Fault("/to-metadata.mid", "error", "fetch", "refused non-public host 169.254.169.254", "redirect to link-local"),
    Fault("/html-as.mid", "error", "validate", "not a MIDI file: body starts with b'<!DOCTYPE html", "HTML as .mid"),
    Fault("/huge-announced.mid", "error", "validate", "bytes announced > max_file_bytes", "Content-Length 50 MB"),
    Fault("/huge-chunked.mid", "error", "validate", "too large: over", "chunked, no length, endless"),
    Fault("/bomb.mid", "error", "validate", "after gzip decompression", "64 KB of gzip, 64 MB inflated"),
    Fault("/bad-header.mid", "error", "validate", "bad MIDI header", "MThd with a broken header"),
    Fault("/no-parse.mid", "error", "validate", "MIDI does not parse", "a good header, garbage after it"),
    Fault("/missing.mid", "error", "fetch", "HTTP 404 Not Found", "linked, absent"),
]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args):  # the site's own log is the record
        pass

    def do_GET(self):
        site = self.server.site
        path = self.path.split("?", 1)[0]
        site._log(path, self.headers)
        with site._lock:
            site.in_flight += 1
            site.max_in_flight = max(site.max_in_flight, site.in_flight)
        try:
            if site.delay_s:
                time.sleep(site.delay_s)
            site.route(self, path)
        except (ConnectionError, BrokenPipeError, TimeoutError):
            pass  # the client gave up: that is often the point
        finally:
            with site._lock:
                site.in_flight -= 1

    def send(self, status: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8", headers=None,
             length: int | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in (headers or {}).items():
            for one in (v if isinstance(v, list) else [v]):
                self.send_header(k, one)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: "HostileSite"

    def handle_error(self, request, client_address):  # clients hang up on purpose here
        pass


def _doc(title: str, body: str, lang: str | None = "en", head: str = "") -> bytes:
    lang_attr = f' lang="{lang}"' if lang else ""
    return (f"<!DOCTYPE html>\n<html{lang_attr}><head><meta charset='utf-8'><title>{html.escape(title)}</title>{head}"
            f"</head><body><nav><a href='/index.html'>Home</a> | Browse | About</nav>\n{body}\n"
            f"<footer>hostile test site</footer></body></html>\n").encode()


class HostileSite:
    def __init__(self, good: int = 12, host: str = "127.0.0.1", delay_s: float = 0.0, faults: bool = True,
                 page_size: int = 50):
        self.good, self.host, self.delay_s, self.faults, self.page_size = good, host, delay_s, faults, page_size
        self.robots = "rules"
        self.etags = True
        self.log: list[dict] = []
        self.clock = time.monotonic  # what ``log`` times requests with (tests may give their own)
        self.in_flight = self.max_in_flight = 0  # requests being answered now / at most at once
        self._lock = threading.Lock()
        self._flaky_seen: set[str] = set()
        # /endless/*.mid: bytes each response managed to hand to the kernel, and when its write failed
        self.sent: dict[str, int] = {}
        self.hung_up: dict[str, threading.Event] = {}
        self.files: dict[str, bytes] = {f"/midi/good-{i}.mid": midi_bytes(i) for i in range(good)}
        self.titles = {f"/midi/good-{i}.mid": f"Good tune {i}" for i in range(good)}
        if faults:
            for n, path in enumerate(("/private/ok-allowed.mid", "/optout/other-bot.mid", "/flaky.mid")):
                self.files[path] = midi_bytes(1000 + n)
            for n, (slug, title, *_rest) in enumerate(LYRICS):
                self.files[f"/midi/song-{slug}.mid"] = midi_bytes(2000 + n)
                self.titles[f"/midi/song-{slug}.mid"] = title
        self.versions = {p: 1 for p in self.files}
        self.modified = {p: formatdate(1_700_000_000, usegmt=True) for p in self.files}
        self._server: _Server | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> "HostileSite":
        self._server = _Server((self.host, 0), _Handler)
        self._server.site = self
        threading.Thread(target=self._server.serve_forever, name="hostile-site", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def source(self, name: str = "hostile", **overrides) -> SourceConfig:
        """A crawl source for this site: private hosts allowed for this host:port only, tight safety caps."""
        settings = dict(name=name, seeds=[self.url + "index.html"], private_hosts=[f"{self.host}:{self.port}"],
                        license="test-only", page_link="css:a.page", midi_link="css:a[href$='.mid']",
                        lyrics_link="css:a.lyrics", lyrics_text="css:div.lyrics", max_depth=3,
                        user_agent="musiclake-crawler/0.1 (+https://example.org/musiclake; test)",
                        timeout_s=1.0, max_request_s=1.5, max_file_bytes=1024 * 1024, max_redirects=4,
                        requests_per_second=0, per_host_concurrency=8, fetch_threads=4, retries=1)
        settings.update(overrides)
        return SourceConfig(**settings)

    # -- what the crawl should find ------------------------------------------------------
    def change(self, path: str) -> bytes:
        """New bytes (and validators) at ``path``; returns them."""
        with self._lock:
            self.versions[path] += 1
            body = midi_bytes(hash(path) % 500 + 10_000 * self.versions[path])
            self.files[path] = body
            self.modified[path] = formatdate(1_700_000_000 + 3600 * self.versions[path], usegmt=True)
        return body

    def etag(self, path: str) -> str:
        return '"' + hashlib.sha256(self.files[path]).hexdigest()[:16] + '"'

    def landable(self) -> dict[str, str]:
        """URL -> sha256 of every MIDI file the crawl must land."""
        return {self.url + p.lstrip("/"): hashlib.sha256(b).hexdigest() for p, b in self.files.items()}

    def requests_for(self, path: str) -> list[dict]:
        return [e for e in self.log if e["path"] == path]

    def _log(self, path: str, headers) -> None:
        with self._lock:
            self.log.append({"t": self.clock(), "path": path, "user_agent": headers.get("User-Agent"),
                             "if_none_match": headers.get("If-None-Match"),
                             "if_modified_since": headers.get("If-Modified-Since")})

    # -- pages ---------------------------------------------------------------------------
    def _entries(self) -> list[str]:
        entries = []
        for path in sorted(p for p in self.files if p.startswith("/midi/good-")):
            entries.append(f'<li><a href="{path}" data-style="folk" title="{self.titles[path]}">{self.titles[path]}</a></li>')
        if self.faults:
            for slug, title, _lang, _lines, style in LYRICS:
                midi = f"/midi/song-{slug}.mid"
                if style == "title":  # the MIDI sits in another entry; only titles tie them
                    entries.append(f'<li><a href="{midi}">{html.escape(title)}</a></li>')
                    entries.append(f'<li><a class="lyrics" href="/lyrics/{slug}.html">{html.escape(title)} (lyrics)</a></li>')
                else:
                    entries.append(f'<li><a href="{midi}">{html.escape(title)}</a> '
                                   f'<a class="lyrics" href="/lyrics/{slug}.html">lyrics</a></li>')
            for f in FAULTS:
                cls = ' class="lyrics"' if f.path.endswith(".html") else ""
                entries.append(f'<li><a{cls} href="{f.path}">{html.escape(f.note)}</a></li>')
            entries.append('<li><a class="page" href="/nofollow.html">more</a></li>')
            entries.append('<li><a class="page" href="/header-nofollow.html">even more</a></li>')
        return entries

    def route(self, h: _Handler, path: str) -> None:
        if path == "/robots.txt":
            return self._robots(h)
        if path in ("/", "/index.html"):
            pages = max(1, -(-len(self._entries()) // self.page_size))
            links = " ".join(f'<a class="page" href="/list-{n}.html">page {n}</a>' for n in range(1, pages + 1))
            return h.send(200, _doc("Hostile archive", f"<h1>Archive</h1><p>{links}</p>"))
        if path.startswith("/list-") and path.endswith(".html"):
            n = int(path[6:-5])
            chunk = self._entries()[(n - 1) * self.page_size: n * self.page_size]
            if not chunk:
                return h.send(404, _doc("Not found", "<h1>Not found</h1>"))
            # noindex on a listing page is about the page itself: its links are still followed
            return h.send(200, _doc(f"List {n}", "<ul>\n" + "\n".join(chunk) + "\n</ul>"),
                          headers={"X-Robots-Tag": "noindex"})
        if path == "/nofollow.html":
            return h.send(200, _doc("No follow", '<a href="/midi/hidden.mid">hidden</a>',
                                    head='<meta name="robots" content="nofollow">'))
        if path == "/header-nofollow.html":
            return h.send(200, _doc("No follow 2", '<a href="/midi/hidden2.mid">hidden</a>'),
                          headers={"X-Robots-Tag": "musiclake: nofollow"})
        if path.startswith("/lyrics/"):
            return self._lyrics(h, path)
        if path in self.files and path != "/flaky.mid":
            return self._file(h, path)
        return self._fault(h, path)

    def _robots(self, h: _Handler) -> None:
        if self.robots == "missing":
            return h.send(404, b"no robots here", "text/plain")
        if self.robots == "error":
            return h.send(503, b"try later", "text/plain")
        return h.send(200, ROBOTS[self.robots].encode("utf-8", errors="surrogateescape"), "text/plain")

    def _file(self, h: _Handler, path: str) -> None:
        body = self.files[path]
        headers = {}
        if path == "/optout/other-bot.mid":
            headers["X-Robots-Tag"] = "otherbot: noai, noindex"
        if self.etags:
            etag, modified = self.etag(path), self.modified[path]
            headers.update({"ETag": etag, "Last-Modified": modified})
            if h.headers.get("If-None-Match") == etag or (
                    not h.headers.get("If-None-Match") and h.headers.get("If-Modified-Since") == modified):
                h.send_response(304)
                for k, v in headers.items():
                    h.send_header(k, v)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
        h.send(200, body, "audio/midi", headers)

    def _lyrics(self, h: _Handler, path: str) -> None:
        slug = path[len("/lyrics/"):-len(".html")]
        if slug == "meta-noindex":
            return h.send(200, _doc("Hidden", "<h1>Hidden</h1><div class='lyrics'>la la la</div>",
                                    head='<meta name="robots" content="noindex, follow">'))
        if slug == "meta-scoped":
            return h.send(200, _doc("Hidden 2", "<h1>Hidden 2</h1><div class='lyrics'>na na na</div>",
                                    head='<meta name="otherbot" content="index"><meta name="MusicLake" content="noai">'))
        for s, title, lang, lines, style in LYRICS:
            if s == slug:
                text = "<br>\n".join(html.escape(line) for line in lines)
                listen = f'<p><a class="midi" href="/midi/song-{slug}.mid">MIDI</a></p>' if style == "page_link" else ""
                return h.send(200, _doc(title, f"<h1>{html.escape(title)}</h1><div class='lyrics'><p>{text}</p>"
                                               f"<script>var x='not lyrics';</script></div>{listen}", lang=lang))
        return h.send(404, _doc("Not found", "<h1>Not found</h1>"))

    def _fault(self, h: _Handler, path: str) -> None:
        w = h.wfile
        if path == "/flaky.mid":
            with self._lock:
                first = path not in self._flaky_seen
                self._flaky_seen.add(path)
            if first:
                return h.send(503, b"busy", "text/plain", {"Retry-After": "0"})
            return h.send(200, self.files[path], "audio/midi")
        if path.startswith("/storm/"):
            status = {"/storm/1.mid": 503, "/storm/2.mid": 500, "/storm/3.mid": 502}[path]
            return h.send(status, b"<h1>oops</h1>")
        if path == "/private/secret.mid":
            return h.send(200, midi_bytes(9999), "audio/midi")  # only a crawler ignoring robots.txt gets it
        if path in ("/optout/noai.mid", "/optout/scoped-noai.mid", "/optout/noindex.mid"):
            tag = {"/optout/noai.mid": ["noai"], "/optout/scoped-noai.mid": ["googlebot: noindex", "musiclake: noai"],
                   "/optout/noindex.mid": ["noindex, nofollow"]}[path]
            return h.send(200, midi_bytes(7777 + len(path)), "audio/midi", {"X-Robots-Tag": tag})
        if path == "/slow.mid":
            body = midi_bytes(4242)
            h.send_response(200)
            h.send_header("Content-Type", "audio/midi")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            for b in body:
                w.write(bytes([b]))
                w.flush()
                time.sleep(0.2)
            return
        if path == "/stall.mid":
            h.send_response(200)
            h.send_header("Content-Type", "audio/midi")
            h.send_header("Content-Length", "5000")
            h.end_headers()
            w.write(b"MThd")
            w.flush()
            time.sleep(4)
            return
        if path == "/stall-headers.mid":
            time.sleep(4)
            return
        if path == "/truncated.mid":
            body = midi_bytes(31337)
            h.send_response(200)
            h.send_header("Content-Type", "audio/midi")
            h.send_header("Content-Length", str(len(body) + 500))
            h.send_header("Connection", "close")
            h.end_headers()
            w.write(body)
            w.flush()
            h.close_connection = True
            return
        if path in ("/loop/a.mid", "/loop/b.mid"):
            return h.send(302, b"", headers={"Location": "/loop/b.mid" if path.endswith("a.mid") else "/loop/a.mid"})
        if path.startswith("/hops/"):
            n = int(path[6:-4])
            return h.send(301, b"", headers={"Location": f"/hops/{n + 1}.mid"})
        if path == "/to-private.mid":
            return h.send(302, b"", headers={"Location": f"http://127.0.0.2:{self.port}/midi/good-0.mid"})
        if path == "/to-metadata.mid":
            return h.send(302, b"", headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        if path == "/html-as.mid":
            return h.send(200, _doc("Oops", "<h1>Not a MIDI</h1>").replace(b"<!DOCTYPE html>\n", b"<!DOCTYPE html>"), "audio/midi")
        if path == "/huge-announced.mid":
            h.send_response(200)
            h.send_header("Content-Type", "audio/midi")
            h.send_header("Content-Length", str(50 * 1024 * 1024))
            h.end_headers()
            w.write(b"MThd" + b"\x00" * 1000)
            w.flush()
            return
        if path == "/huge-chunked.mid":
            h.send_response(200)
            h.send_header("Content-Type", "audio/midi")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            chunk = b"\x00" * 65536
            for _ in range(64):  # 4 MB, more than the test source's 1 MB cap
                w.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            w.write(b"0\r\n\r\n")
            w.flush()
            return
        if path.startswith("/endless/"):
            return self._endless(h, path)
        if path == "/bomb.mid":
            return h.send(200, _bomb(), "audio/midi", {"Content-Encoding": "gzip"})
        if path == "/bad-header.mid":
            return h.send(200, b"MThd\x00\x00\x00\x09\x00\x07\x00\x00\x00\x00MTrk\x00\x00\x00\x00", "audio/midi")
        if path == "/no-parse.mid":
            good = midi_bytes(5)
            return h.send(200, good[:14] + b"MTrk\x00\x00\xff\xff" + b"\x90" * 40, "audio/midi")
        return h.send(404, _doc("Not found", "<h1>Not found</h1>"))


    def _endless(self, h: _Handler, path: str) -> None:
        """A MIDI header, then zeros for ever, no length: counts what was sent until the client hangs up.

        The socket's send buffer is kept small, so ``sent`` is close to what the client took in
        (its own receive buffer aside): a client that stops reading but keeps the socket open stalls
        this writer, one that closes it makes the next write fail (``hung_up`` is set)."""
        import socket

        with self._lock:
            self.sent[path] = 0
            done = self.hung_up.setdefault(path, threading.Event())
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
        h.send_response(200)
        h.send_header("Content-Type", "audio/midi")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.flush()
        h.close_connection = True
        chunk = midi_bytes(1) + b"\x00" * (16 * 1024)
        try:
            while True:
                h.connection.sendall(chunk)
                with self._lock:
                    self.sent[path] += len(chunk)
        except OSError:
            done.set()


_BOMB: bytes | None = None


def _bomb() -> bytes:
    global _BOMB
    if _BOMB is None:
        _BOMB = gzip.compress(b"MThd" + b"\x00" * (64 * 1024 * 1024), compresslevel=9)
    return _BOMB
