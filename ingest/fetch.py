"""Fetching one URL politely and safely with a DrissionPage ``SessionPage``, and judging what came back.

A :class:`Fetcher` holds one ``SessionPage`` (one HTTP session, the source's honest user agent). For
each URL it:

* refuses private, loopback and link-local hosts unless the source allows them, before the request
  and again at connect time for every hop (redirects, DNS answers that changed), connecting to the
  address it checked;
* asks the politeness gate (:mod:`ingest.politeness`) for robots.txt consent and a per-host slot;
* sends ``If-None-Match`` / ``If-Modified-Since`` when the task carries validators (304: not modified);
* follows redirects itself (each hop checked; loops and more than ``max_redirects`` hops refused);
* streams the body with caps on bytes (after decompression: gzip bombs stop at the cap) and on
  wall-clock time (slow drips stop at ``max_request_s``); truncated bodies are caught;
* honours ``X-Robots-Tag`` and ``<meta name="robots">`` opt-outs (noai, noindex, none, nofollow);
* trusts a MIDI body only when its header checks and (``midi_check: parse``) symusic parses it.

It returns an :class:`Outcome` saying what was found, or in one line why the URL was skipped or
could not be landed. Fetch actors (:mod:`ingest.crawler`) run one Fetcher per thread; tests use them
directly.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import struct
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Protocol
from urllib.parse import urldefrag, urljoin, urlsplit

import requests
import urllib3
from DrissionPage import SessionOptions, SessionPage
from DrissionPage.common import make_session_ele
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ingest.parse import LyricsPage, PageLinks, extract_links, extract_lyrics
from ingest.robots import (ALLOW_ALL, NOFOLLOW_DIRECTIVES, ROBOTS_MAX_BYTES, RobotsRules, header_opt_outs,
                           meta_opt_outs, parse_robots, skip_reason)
from common.config import SourceConfig

MIDI_MAGIC = b"MThd"
ACCEPT = "text/html,application/xhtml+xml;q=0.9,audio/midi;q=0.9,*/*;q=0.5"
CHUNK = 64 * 1024
RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_RETRY_WAIT_S = 5.0


class HostRefused(Exception):
    """The URL's host resolves to an address the source may not reach."""


class _Stop(Exception):
    """Raised from the response hook to abandon a response; the reason is kept on the Fetcher."""


@dataclass(frozen=True)
class Task:
    kind: str  # "page" | "midi" | "lyrics"
    url: str
    depth: int = 0
    referrer: str | None = None
    title: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # validators from the last crawl: sent as If-None-Match / If-Modified-Since
    last_modified: str | None = None


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
    final_url: str | None = None  # after redirects
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False  # HTTP 304 on a conditional request: nothing new, no body
    skipped: str | None = None  # consent / politeness reason the content was not taken
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """No error. A skipped or not-modified outcome is ok but carries nothing to land."""
        return self.error_stage is None

    @property
    def landable(self) -> bool:
        return self.error_stage is None and self.skipped is None and not self.not_modified


class Gate(Protocol):
    """Politeness for one request: ``enter`` waits for a slot or returns why the URL must be skipped."""

    def enter(self, url: str) -> str | None: ...

    def leave(self, url: str) -> None: ...


# -- where a request may go ------------------------------------------------------------------

def host_port(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return host, f"{host}:{parts.port}" if parts.port else host


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def allowed_hosts(source: SourceConfig) -> list[str]:
    """The source's ``allowed_domains``, else the hosts (with port) of its seeds."""
    return [d.lower() for d in source.allowed_domains] or sorted({host_port(s)[1] for s in source.seeds})


def host_allowed(url: str, allowed: list[str]) -> bool:
    """``host:port`` entries match exactly; plain host entries match the host and its subdomains, any port."""
    host, hp = host_port(url)
    for entry in allowed:
        if ":" in entry:
            if hp == entry:
                return True
        elif host == entry or host.endswith("." + entry):
            return True
    return False


def _private_ok(host: str, port: int | None, private_hosts) -> bool:
    host = host.strip("[]").lower()
    return any(entry.lower().replace("[", "").replace("]", "") in (host, f"{host}:{port}")
               for entry in private_hosts or ())


# link-local (cloud metadata lives here: 169.254.169.254) and AWS's IPv6 metadata address
_LINK_LOCAL = [ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")]


def _link_local(ip) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)
    ip = mapped or ip
    return ip.is_link_local or any(ip.version == n.version and ip in n for n in _LINK_LOCAL)


def _vetted_addresses(host: str, port: int | None, private_hosts=(), allow_private: bool = False) -> list[tuple]:
    """Every address of ``host``; raises :class:`HostRefused` when one may not be reached.

    What a source may reach besides public addresses, from ``allow_private`` and ``private_hosts``:

    * a host listed in ``private_hosts`` (``host`` or ``host:port``, matched by name, as written in
      the URL) is always allowed, whatever it resolves to;
    * otherwise, when ``private_hosts`` is set, no other non-public address is allowed, whether or
      not ``allow_private`` is set: the list means "only these private hosts";
    * with ``allow_private`` and an empty ``private_hosts``, loopback and private addresses are
      allowed, but link-local addresses (169.254.0.0/16, fe80::/10: cloud metadata) and
      ``fd00:ec2::254`` still are not: they must be listed in ``private_hosts`` by name;
    * with neither, only public (globally routable) addresses are allowed.
    """
    if _private_ok(host, port, private_hosts):
        try:
            return socket.getaddrinfo(host.strip("[]"), port, proto=socket.IPPROTO_TCP)
        except socket.gaierror as e:
            raise HostRefused(f"cannot resolve host {host}: {e.strerror}") from None
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as e:
        raise HostRefused(f"cannot resolve host {host}: {e.strerror}") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if _link_local(ip):
            raise HostRefused(f"refused non-public host {host} ({ip}): link-local and cloud metadata addresses "
                              f"are refused unless listed in private_hosts")
        if ip.is_global and not (getattr(ip, "ipv4_mapped", None) and not ip.ipv4_mapped.is_global):
            continue
        if private_hosts:
            raise HostRefused(f"refused non-public host {host} ({ip}): not in private_hosts")
        if not allow_private:
            raise HostRefused(f"refused non-public host {host} ({ip}): the source does not set allow_private")
    return infos


def check_host(url: str, allow_private: bool, private_hosts=()) -> None:
    """Raise :class:`HostRefused` unless the URL's host may be reached (see :func:`_vetted_addresses`:
    public addresses; the hosts in ``private_hosts`` and only those when it is set; other private
    addresses with ``allow_private``, never link-local / metadata ones unless listed).

    The same check runs again when a connection opens (:class:`_GuardedHTTPConnection`), so a
    redirect or a DNS answer that changes between the two cannot reach a private address.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise HostRefused(f"no host in {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise HostRefused(f"bad port in {url[:120]!r}") from None
    _vetted_addresses(host, port, private_hosts, allow_private)


class _RefusedAddress(OSError):
    pass


class _GuardedHTTPConnection(HTTPConnection):
    """Resolves, vets every address, and connects to a vetted one (no second lookup to rebind)."""

    private_hosts: tuple[str, ...] = ()
    allow_private: bool = False

    def _new_conn(self) -> socket.socket:
        try:
            infos = _vetted_addresses(self._dns_host, self.port, self.private_hosts, self.allow_private)
        except HostRefused as e:
            raise urllib3.exceptions.NewConnectionError(self, str(e)) from _RefusedAddress(str(e))
        last: Exception | None = None
        for family, socktype, proto, _, address in infos:
            sock = socket.socket(family, socket.SOCK_STREAM, proto)
            try:
                if isinstance(self.timeout, (int, float)):
                    sock.settimeout(self.timeout)
                for opt in self.socket_options or ():
                    sock.setsockopt(*opt)
                sock.connect(address)
                return sock
            except OSError as e:
                sock.close()
                last = e
        if isinstance(last, socket.timeout):
            raise urllib3.exceptions.ConnectTimeoutError(self, f"connection to {self.host} timed out")
        raise urllib3.exceptions.NewConnectionError(self, f"Failed to establish a new connection: {last}")


class _GuardedHTTPSConnection(_GuardedHTTPConnection, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


def _phrase(response: requests.Response) -> str:
    """The standard reason phrase of the status (servers word theirs freely), else the server's."""
    try:
        return HTTPStatus(response.status_code).phrase
    except ValueError:
        return response.reason or ""


class _Transport(HTTPAdapter):
    """The session's HTTP adapter: keeps the last transport error (DrissionPage swallows it quietly)
    and, when guarded, opens only connections :func:`_vetted_addresses` allows."""

    def __init__(self, guarded: bool, private_hosts=(), allow_private: bool = False):
        self.guarded = guarded
        self.private_hosts = tuple(private_hosts)
        self.allow_private = allow_private
        self.error: Exception | None = None
        super().__init__(pool_connections=4, pool_maxsize=4)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        if getattr(self, "guarded", False):
            allowed = {"private_hosts": self.private_hosts, "allow_private": self.allow_private}
            http_conn = type("_Conn", (_GuardedHTTPConnection,), allowed)
            https_conn = type("_TLSConn", (_GuardedHTTPSConnection,), allowed)
            self.poolmanager.pool_classes_by_scheme = {
                "http": type("_Pool", (_GuardedHTTPPool,), {"ConnectionCls": http_conn}),
                "https": type("_TLSPool", (_GuardedHTTPSPool,), {"ConnectionCls": https_conn})}

    def send(self, request, **kwargs):
        try:
            return super().send(request, **kwargs)
        except Exception as e:
            self.error = e
            raise


def _drop(response: requests.Response, drain: bool) -> None:
    """Done with a response whose body is not wanted: read a small announced body so the connection
    can serve the next request, else close the connection (never read an unbounded body)."""
    raw = response.raw
    declared = response.headers.get("content-length", "").strip()
    try:
        if drain and declared.isdigit() and int(declared) <= CHUNK:
            raw.read(int(declared) or None, decode_content=False)
            raw.release_conn()
            return
    except Exception:
        pass
    _hang_up(raw)


def _hang_up(raw) -> None:
    """Close the response's connection now, for real: the server stops sending at once.

    Closing the connection alone is not enough: the response's file object still holds the socket
    (a socket closes only when its last file object does), so an abandoned body kept streaming into
    the kernel buffers until garbage collection, and the host saw the request still in flight after
    its per-host slot had been handed back. Shut the socket down, then close the body and the connection."""
    conn = getattr(raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        raw.close()  # closes the body's file object and the connection
    except Exception:
        pass
    if conn is not None:
        conn.close()
    raw.release_conn()


def midi_problem(body: bytes, parse: bool) -> str | None:
    """Why ``body`` is not a MIDI file we trust, else None."""
    if not body.startswith(MIDI_MAGIC):
        return f"not a MIDI file: body starts with {body[:16]!r}"
    if len(body) < 22:
        return f"not a MIDI file: {len(body)} bytes is too short for a header and a track"
    length, fmt, ntracks, division = struct.unpack(">IHHH", body[4:14])
    if length != 6:
        return f"bad MIDI header: header length {length}, expected 6"
    if fmt not in (0, 1, 2):
        return f"bad MIDI header: format {fmt}"
    if ntracks == 0 or (fmt == 0 and ntracks != 1):
        return f"bad MIDI header: {ntracks} tracks for format {fmt}"
    if division == 0:
        return "bad MIDI header: division 0"
    if body[14:18] != b"MTrk":
        return f"bad MIDI header: no MTrk chunk after the header (found {body[14:18]!r})"
    if parse:
        import symusic

        try:
            symusic.Score.from_midi(body)
        except Exception as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            return f"MIDI does not parse: {first[:200]}"
    return None


class Fetcher:
    def __init__(self, source: SourceConfig, gate: Gate | None = None):
        self.source = source
        self.gate = gate
        self.allowed = allowed_hosts(source)
        self._response: requests.Response | None = None
        self._failure: tuple[str, str] | None = None
        self._skip: str | None = None
        self._cap = source.max_file_bytes
        self._truncate_at_cap = False
        self._kind = "page"
        self._header_directives: set[str] = set()
        self._transport = _Transport(guarded=True, private_hosts=source.private_hosts,  # link-local: always vetted
                                     allow_private=source.allow_private)
        options = (SessionOptions(read_file=False)
                   .set_timeout(source.timeout_s)
                   .set_retry(times=0, interval=0)
                   .set_headers({"user-agent": source.user_agent, "accept": ACCEPT,
                                 "accept-encoding": "gzip, deflate"}))
        options.adapters.extend([("http://", self._transport), ("https://", self._transport)])  # add_adapter() needs this list
        options.set_hooks({"response": [self._on_response]})
        self.page = SessionPage(options)

    # -- the response, read under caps ---------------------------------------------------
    def _on_response(self, response: requests.Response, *args, **kwargs) -> requests.Response:
        """Keep the response (DrissionPage drops it on errors); read its body here, under caps."""
        self._response = response
        status = response.status_code
        if status in (304,) or 300 <= status < 400 or status >= 400:
            response._content, response._content_consumed = b"", True  # nothing of these bodies is kept
            _drop(response, drain=True)
            return response
        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > self._cap and not self._truncate_at_cap:
            self._stop(response, "validate", f"too large: {declared} bytes announced > max_file_bytes {self._cap}")
        if self.source.respect_noai and self._kind == "page":
            self._header_directives = header_opt_outs(response.headers, self.source.user_agent)
        if self.source.respect_noai and self._kind in ("midi", "lyrics"):
            # a listing page's own opt-outs do not cover the files it links to; only nofollow matters there
            self._header_directives = header_opt_outs(response.headers, self.source.user_agent)
            self._skip = skip_reason(self._header_directives, "X-Robots-Tag")
            if self._skip is not None:
                response._content, response._content_consumed = b"", True
                _drop(response, drain=False)
                return response
        deadline = self._started + self.source.max_request_s
        data = bytearray()
        try:
            while True:
                chunk = response.raw.read1(CHUNK, decode_content=True)  # what has arrived, not a full CHUNK
                if not chunk:
                    break
                data += chunk
                if len(data) > self._cap:
                    if self._truncate_at_cap:
                        del data[self._cap:]
                        break
                    encoding = response.headers.get("content-encoding")
                    after = f" after {encoding} decompression" if encoding else ""
                    self._stop(response, "validate", f"too large: over {self._cap} bytes{after} (max_file_bytes)")
                if time.monotonic() > deadline:
                    self._stop(response, "fetch", f"too slow: body not complete after {self.source.max_request_s:g}s "
                                                  f"({len(data)} bytes read; max_request_s)")
        except _Stop:
            raise
        except urllib3.exceptions.ProtocolError as e:
            expected = declared if declared.isdigit() else "?"
            self._stop(response, "fetch", f"truncated body: connection ended after {len(data)} of {expected} bytes "
                                          f"({type(e.args[1]).__name__ if len(e.args) > 1 else 'ProtocolError'})")
        except urllib3.exceptions.ReadTimeoutError:
            self._stop(response, "fetch", f"stalled: no data for {self.source.timeout_s:g}s after {len(data)} bytes")
        except urllib3.exceptions.DecodeError as e:
            self._stop(response, "validate", f"bad content encoding: {str(e)[:160]}")
        except (socket.timeout, TimeoutError):
            self._stop(response, "fetch", f"stalled: no data for {self.source.timeout_s:g}s after {len(data)} bytes")
        response._content, response._content_consumed = bytes(data), True
        response.raw.release_conn()
        return response

    def _stop(self, response: requests.Response, stage: str, reason: str) -> None:
        self._failure = (stage, reason)
        _drop(response, drain=False)
        raise _Stop(reason)

    def _request(self, url: str, headers: dict[str, str]) -> requests.Response | None:
        self._response = self._failure = self._skip = None
        self._header_directives = set()
        self._transport.error = None
        self._started = time.monotonic()
        # quiet: failures are read from the hook and the transport; an empty Referer sends none
        self.page.get(url, headers=headers, stream=True, allow_redirects=False, retry=0,
                      timeout=self.source.timeout_s)
        return self._response

    def _once(self, url: str, headers: dict[str, str], use_gate: bool) -> tuple[requests.Response | None, str | None]:
        """One request through the gate, with the source's retries; (response, skip reason)."""
        for attempt in range(self.source.retries + 1):
            if use_gate and self.gate is not None:
                reason = self.gate.enter(url)
                if reason is not None:
                    return None, reason
            try:
                response = self._request(url, headers)
            finally:
                if use_gate and self.gate is not None:
                    self.gate.leave(url)
            retry = (self._failure is None and self._skip is None and
                     (response is None or response.status_code in RETRY_STATUSES))
            if not retry or attempt == self.source.retries:
                return response, None
            wait = 0.5 * (attempt + 1)
            after = response.headers.get("retry-after", "") if response is not None else ""
            if after.strip().isdigit():
                wait = float(after.strip())
            time.sleep(min(wait, MAX_RETRY_WAIT_S))
        return None, None  # not reached

    def _get(self, task: Task, out: Outcome, headers: dict[str, str], use_gate: bool = True) -> requests.Response | None:
        """GET with redirects followed by hand (each hop checked); None when ``out`` already says why."""
        url, hops = task.url, [task.url]
        while True:
            try:
                check_host(url, self.source.allow_private, self.source.private_hosts)
            except HostRefused as e:
                self._fail(out, "fetch", str(e) + (f" (redirected from {task.url})" if len(hops) > 1 else ""))
                return None
            response, skip = self._once(url, headers, use_gate)
            out.final_url = url
            if skip is not None:
                out.skipped = skip
                return None
            if response is not None:
                out.http_status = response.status_code
                out.content_type = response.headers.get("content-type")
            if self._failure is not None:
                self._fail(out, *self._failure)
                return None
            if response is None:
                self._fail(out, "fetch", self._describe(self._transport.error))
                return None
            location = response.headers.get("location")
            if not (300 <= response.status_code < 400 and response.status_code != 304 and location):
                return response
            nxt = urldefrag(urljoin(url, location.strip()))[0]
            if nxt in hops:
                self._fail(out, "fetch", f"redirect loop: {' -> '.join(hops[hops.index(nxt):])} -> {nxt}")
                return None
            if len(hops) > self.source.max_redirects:
                self._fail(out, "fetch", f"too many redirects: more than max_redirects {self.source.max_redirects} "
                                         f"(last {url} -> {nxt})")
                return None
            if urlsplit(nxt).scheme.lower() not in ("http", "https"):
                self._fail(out, "fetch", f"redirect to unsupported scheme: {nxt[:120]}")
                return None
            try:  # a private target is the graver fault: name it even when the host is also not allowed
                check_host(nxt, self.source.allow_private, self.source.private_hosts)
            except HostRefused as e:
                self._fail(out, "fetch", f"{e} (redirected from {url})")
                return None
            if not host_allowed(nxt, self.allowed):
                self._fail(out, "fetch", f"redirect to host {host_port(nxt)[1]} outside allowed_domains")
                return None
            hops.append(nxt)
            headers = {**headers, "Referer": ""}
            url = nxt

    # -- fetching a task -----------------------------------------------------------------
    def fetch_batch(self, tasks: list[Task]) -> list[Outcome]:
        return [self.fetch(t) for t in tasks]

    def fetch(self, task: Task) -> Outcome:
        out = Outcome(task=task, fetched_at=datetime.now(timezone.utc))
        t0 = time.monotonic()
        try:
            self._cap, self._truncate_at_cap = self.source.max_file_bytes, False
            self._kind = task.kind
            return self._fetch(task, out)
        finally:
            out.elapsed_ms = (time.monotonic() - t0) * 1000

    def _fetch(self, task: Task, out: Outcome) -> Outcome:
        headers = {"Referer": task.referrer or ""}
        if task.etag:
            headers["If-None-Match"] = task.etag
        if task.last_modified:
            headers["If-Modified-Since"] = task.last_modified
        response = self._get(task, out, headers)
        if response is None:
            return out
        out.etag = response.headers.get("etag")
        out.last_modified = response.headers.get("last-modified")
        if self._skip is not None:
            out.skipped = self._skip
            return out
        if response.status_code == 304:
            out.not_modified, out.size = True, 0
            return out
        if response.status_code >= 400:
            return self._fail(out, "fetch", f"HTTP {response.status_code} {_phrase(response)}".strip())
        if response.status_code >= 300:
            return self._fail(out, "fetch", f"HTTP {response.status_code} {_phrase(response)} without a Location")

        body = response.content
        out.size = len(body)
        if not body:
            return self._fail(out, "fetch", "empty body")
        out.sha256 = hashlib.sha256(body).hexdigest()
        if task.kind == "midi":
            problem = midi_problem(body, parse=self.source.midi_check == "parse")
            if problem is not None:
                return self._fail(out, "validate", problem)
            out.body, out.md5 = body, hashlib.md5(body).hexdigest()
            return out
        try:
            html = self.page.html
            base = out.final_url or task.url
            directives = meta_opt_outs(make_session_ele(html), self.source.user_agent) if self.source.respect_noai else set()
            if task.kind == "page":
                nofollow = sorted(directives & set(NOFOLLOW_DIRECTIVES))
                where = "meta robots"
                if not nofollow:
                    nofollow, where = sorted(self._header_directives & set(NOFOLLOW_DIRECTIVES)), "X-Robots-Tag"
                if nofollow:
                    out.links = PageLinks([], [], [])
                    out.skipped = f"{where}: {', '.join(nofollow)} (links not followed)"
                else:
                    out.links = extract_links(html, base, self.source)
            else:
                out.skipped = skip_reason(directives, "meta robots")
                if out.skipped is None:
                    out.lyrics = extract_lyrics(html, base, self.source)
        except Exception as e:  # lxml and locator errors alike: the page could not be read
            return self._fail(out, "parse_page", f"{type(e).__name__}: {str(e)[:200]}")
        return out

    def fetch_robots(self, url: str) -> RobotsRules:
        """The robots.txt rules for ``url``'s origin (RFC 9309: 4xx allows all, 5xx/unreachable disallows all)."""
        target = origin(url) + "/robots.txt"
        out = Outcome(task=Task("robots", target), fetched_at=datetime.now(timezone.utc))
        self._cap, self._truncate_at_cap = ROBOTS_MAX_BYTES, True
        self._kind = "robots"
        saved_allowed = self.allowed
        self.allowed = self.allowed + [host_port(url)[1]]
        try:
            response = self._get(out.task, out, {"Referer": ""}, use_gate=False)
        finally:
            self.allowed = saved_allowed
            self._cap, self._truncate_at_cap = self.source.max_file_bytes, False
        if response is None or out.skipped:
            why = out.reason or out.skipped or "no response"
            return RobotsRules(disallow_all_reason=f"robots.txt unreachable ({why}): whole host treated as disallowed")
        if response.status_code >= 500:
            return RobotsRules(disallow_all_reason=f"robots.txt unreachable (HTTP {response.status_code}): "
                                                   f"whole host treated as disallowed")
        if response.status_code >= 400 or not response.content:
            return ALLOW_ALL
        return parse_robots(response.content, self.source.user_agent)

    def _describe(self, error: Exception | None) -> str:
        if error is None:
            return "no response"
        cause = getattr(error.args[0], "reason", None) if error.args else None  # urllib3 wraps the real cause
        if isinstance(cause, urllib3.exceptions.NewConnectionError) and isinstance(cause.__cause__, _RefusedAddress):
            return str(cause.__cause__)
        refused = isinstance(cause, urllib3.exceptions.NewConnectionError)  # a TimeoutError subclass, oddly
        if isinstance(error, requests.Timeout) or (isinstance(cause, urllib3.exceptions.TimeoutError) and not refused):
            return f"timed out after {self.source.timeout_s:g}s"
        cause = cause or error
        return f"connection error: {type(cause).__name__}: {str(cause)[:200]}"

    @staticmethod
    def _fail(out: Outcome, stage: str, reason: str) -> Outcome:
        out.error_stage, out.reason = stage, reason
        return out

    def close(self) -> None:
        self.page.close()
