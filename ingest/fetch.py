"""Fetching one URL politely with a DrissionPage ``SessionPage``, and judging what came back.

A :class:`Fetcher` holds one ``SessionPage`` (one HTTP session, the source's honest user agent, its
timeout, one retry). It refuses private/loopback hosts unless the source allows them, fetches,
checks status/size/magic bytes, and parses pages and lyrics pages, returning an :class:`Outcome` that
says either what was found or, in one line, why the URL could not be landed. The crawler runs
Fetchers as Ray actors; tests use them directly.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from DrissionPage import SessionOptions, SessionPage

from ingest.parse import LyricsPage, PageLinks, extract_links, extract_lyrics
from musiclake.config import SourceConfig

MIDI_MAGIC = b"MThd"
RETRIES = 1  # DrissionPage retries on exceptions, empty bodies and error statuses alike: keep it low
RETRY_INTERVAL_S = 0.5
ACCEPT = "text/html,application/xhtml+xml;q=0.9,audio/midi;q=0.9,*/*;q=0.5"


class HostRefused(Exception):
    """The URL's host resolves to an address the source may not reach."""


class TooLarge(Exception):
    """The server announced a body larger than the source's ``max_file_bytes``."""


@dataclass(frozen=True)
class Task:
    kind: str  # "page" | "midi" | "lyrics"
    url: str
    depth: int = 0
    referrer: str | None = None
    title: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    task: Task
    fetched_at: datetime
    http_status: int | None = None
    content_type: str | None = None
    size: int | None = None
    error_stage: str | None = None  # "fetch" | "validate" | "parse_page" when the URL failed
    reason: str | None = None
    body: bytes | None = None  # MIDI bytes
    sha256: str | None = None  # of the body (MIDI file or lyrics page)
    md5: str | None = None
    links: PageLinks | None = None  # for pages
    lyrics: LyricsPage | None = None  # for lyrics pages

    @property
    def ok(self) -> bool:
        return self.error_stage is None


def check_host(url: str, allow_private: bool) -> None:
    """Raise :class:`HostRefused` unless every address of the URL's host is public (or allowed).

    A plain check on the resolved IPs; full SSRF hardening (pinning the IP for the connection,
    re-checking redirects) is left for later.
    """
    host = urlsplit(url).hostname
    if not host:
        raise HostRefused(f"no host in {url!r}")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as e:
        raise HostRefused(f"cannot resolve host {host}: {e.strerror}") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if not ip.is_global:
            raise HostRefused(f"refused non-public host {host} ({ip}): the source does not set allow_private")


def _phrase(response: requests.Response) -> str:
    """The standard reason phrase of the status (servers word theirs freely), else the server's."""
    try:
        return HTTPStatus(response.status_code).phrase
    except ValueError:
        return response.reason or ""


class _Transport(HTTPAdapter):
    """The session's HTTP adapter, keeping the last transport error (DrissionPage swallows it quietly)."""

    error: Exception | None = None

    def send(self, request, **kwargs):
        try:
            return super().send(request, **kwargs)
        except Exception as e:
            self.error = e
            raise


class Fetcher:
    def __init__(self, source: SourceConfig):
        self.source = source
        self._response: requests.Response | None = None
        self._refusal: str | None = None
        self._transport = _Transport()
        options = (SessionOptions(read_file=False)
                   .set_timeout(source.timeout_s)
                   .set_retry(times=RETRIES, interval=RETRY_INTERVAL_S)
                   .set_headers({"user-agent": source.user_agent, "accept": ACCEPT}))
        options.adapters.extend([("http://", self._transport), ("https://", self._transport)])  # add_adapter() needs this list
        options.set_hooks({"response": [self._on_response]})
        self.page = SessionPage(options)

    def _on_response(self, response: requests.Response, *args, **kwargs) -> requests.Response:
        """Keep the last response (DrissionPage drops it on errors) and stop oversized bodies early."""
        self._response = response
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.source.max_file_bytes:
            self._refusal = f"too large: {declared} bytes announced > max_file_bytes {self.source.max_file_bytes}"
            response.close()
            raise TooLarge(self._refusal)
        return response

    def fetch_batch(self, tasks: list[Task]) -> list[Outcome]:
        return [self.fetch(t) for t in tasks]

    def fetch(self, task: Task) -> Outcome:
        out = Outcome(task=task, fetched_at=datetime.now(timezone.utc))
        try:
            check_host(task.url, self.source.allow_private)
        except HostRefused as e:
            return self._fail(out, "fetch", str(e))

        self._response = self._refusal = self._transport.error = None
        # quiet: failures are read from the hook and the transport below; an empty Referer sends none
        self.page.get(task.url, headers={"Referer": task.referrer or ""})
        response = self._response
        if response is not None:
            out.http_status = response.status_code
            out.content_type = response.headers.get("content-type")
        if self._refusal is not None:
            return self._fail(out, "validate", self._refusal)
        if response is None:
            return self._fail(out, "fetch", self._describe(self._transport.error))
        if response.status_code >= 400:
            return self._fail(out, "fetch", f"HTTP {response.status_code} {_phrase(response)}".strip())

        body = response.content
        out.size = len(body)
        if not body:
            return self._fail(out, "fetch", "empty body")
        if len(body) > self.source.max_file_bytes:
            return self._fail(out, "validate", f"too large: {len(body)} bytes > max_file_bytes {self.source.max_file_bytes}")
        out.sha256 = hashlib.sha256(body).hexdigest()
        if task.kind == "midi":
            return self._midi(out, body)
        try:
            if task.kind == "page":
                out.links = extract_links(self.page.html, response.url, self.source)
            else:
                out.lyrics = extract_lyrics(self.page.html, response.url, self.source)
        except Exception as e:  # lxml and locator errors alike: the page could not be read
            return self._fail(out, "parse_page", f"{type(e).__name__}: {str(e)[:200]}")
        return out

    def _describe(self, error: Exception | None) -> str:
        if error is None:
            return "no response"
        cause = getattr(error.args[0], "reason", None) if error.args else None  # urllib3 wraps the real cause
        refused = isinstance(cause, urllib3.exceptions.NewConnectionError)  # a TimeoutError subclass, oddly
        if isinstance(error, requests.Timeout) or (isinstance(cause, urllib3.exceptions.TimeoutError) and not refused):
            return f"timed out after {self.source.timeout_s:g}s"
        cause = cause or error
        return f"connection error: {type(cause).__name__}: {str(cause)[:200]}"

    @staticmethod
    def _midi(out: Outcome, body: bytes) -> Outcome:
        if not body.startswith(MIDI_MAGIC):
            return Fetcher._fail(out, "validate", f"not a MIDI file: body starts with {body[:16]!r}")
        out.body, out.md5 = body, hashlib.md5(body).hexdigest()
        return out

    @staticmethod
    def _fail(out: Outcome, stage: str, reason: str) -> Outcome:
        out.error_stage, out.reason = stage, reason
        return out

    def close(self) -> None:
        self.page.close()
