"""The door every request passes first (ASGI middleware): request id, key, body, deadlines.

In this order, before any route runs:

1. **Request id**: Serve's own (its proxy sets ``X-Request-ID`` and echoes it on the answer and in its
   access log), or a fresh one outside Serve; in every error body and the server log's lines about
   the request.
2. **Key** (``/v1/*``): read from the headers alone and checked (401 / 429 / 503) before a byte of
   the body is read, so an unknown client cannot hold a connection open by sending slowly.
3. **Body**: a declared length over the route's limit is a 413 at once; the body must arrive whole
   within ``serve.body_timeout_s`` (else 408 and the connection is closed); a chunked body is read up
   to the limit. JSON nested deeper than ``MAX_JSON_DEPTH`` is a 422 that says so.
4. **Deadline**: a request that has not started its answer within ``serve.request_timeout_s`` is
   answered 504. The work already running (a generation in a worker thread) finishes in the
   background and still holds its admission slot, so the replica's bounds stay true.

Errors raised here and in the routes are :class:`ApiError`: a status and one line that names the
problem and nothing of the infrastructure.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from typing import Awaitable, Callable, Optional

from serving.api import API_KEY_HEADER, REQUEST_ID_HEADER, UPLOADS_PATH, VERIFY_PATH, ErrorResponse

log = logging.getLogger("ray.serve")
MAX_JSON_DEPTH = 32
_STRINGS = re.compile(rb'"(?:\\.|[^"\\])*"', re.S)
_BRACKETS = re.compile(rb"[\[\]{}]")


class ApiError(Exception):
    """An answer other than 200: status, one-line message, optional headers (Retry-After)."""

    def __init__(self, status: int, message: str, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def error_body(status: int, message: str, request_id: Optional[str], detail=None) -> bytes:
    return ErrorResponse(error=message, detail=detail, request_id=request_id).model_dump_json().encode()


def json_depth(body: bytes) -> int:
    """How deep a JSON text nests (strings skipped); cheap, and it never recurses."""
    depth = deepest = 0
    for m in _BRACKETS.finditer(_STRINGS.sub(b"", body)):
        depth += 1 if m.group() in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def key_from_headers(headers: dict[bytes, bytes]) -> Optional[str]:
    """The API key a request carries (``X-API-Key`` or ``Authorization: Bearer``), or None."""
    raw = headers.get(API_KEY_HEADER.lower().encode())
    if raw is None:
        auth = headers.get(b"authorization", b"")
        scheme, _, value = auth.partition(b" ")
        raw = value.strip() if scheme.lower() == b"bearer" else None
    try:
        return raw.decode("latin-1") if raw else None
    except UnicodeDecodeError:
        return None


class Gate:
    """ASGI middleware; ``service()`` is the replica's object (its ``cfg.serve`` and ``admit_key``)."""

    def __init__(self, app, service: Callable[[], object]):
        self.app, self.service = app, service

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        # Serve's proxy names each request (x-request-id, echoed on the answer and in its access log): use that
        # name; outside Serve make one and echo it here.
        given = headers.get(REQUEST_ID_HEADER.lower().encode())
        request_id = given.decode("latin-1")[:64] if given else secrets.token_hex(8)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = timed_out = False

        async def emit(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            if message["type"] == "http.response.start" and not given:
                message = dict(message)
                message["headers"] = list(message.get("headers") or []) + [
                    (REQUEST_ID_HEADER.lower().encode(), request_id.encode())]
            await send(message)

        async def send_with_id(message):  # the app's answer; dropped once the gate answered 504 for it
            if not timed_out:
                await emit(message)

        async def refuse(status: int, message: str, headers: Optional[dict] = None, close: bool = False):
            extra = [(k.lower().encode(), str(v).encode()) for k, v in (headers or {}).items()]
            if close:
                extra.append((b"connection", b"close"))
            body = error_body(status, message, request_id)
            await emit({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())] + extra})
            await emit({"type": "http.response.body", "body": body})

        svc = self.service()
        s = svc.cfg.serve
        path = scope.get("path", "")
        try:
            if path.startswith("/v1/"):
                state["caller"] = svc.admit_key(key_from_headers(headers))
            if scope["method"] not in ("GET", "HEAD", "OPTIONS", "DELETE"):
                body = await self._read_body(receive, headers, path, s)
                receive = _replay(body, receive)
        except ApiError as e:
            return await refuse(e.status, e.message, e.headers, close=e.status in (408, 413))

        task = asyncio.ensure_future(self.app(scope, receive, send_with_id))
        done, _ = await asyncio.wait({task}, timeout=s.request_timeout_s)
        if task in done:
            return task.result()
        if started:  # the answer is under way (a long download): let it finish
            return await task
        log.warning("request %s %s %s: no answer within serve.request_timeout_s=%g s; answered 504",
                    request_id, scope["method"], path, s.request_timeout_s)
        timed_out = True
        task.add_done_callback(_quietly)
        await refuse(504, f"no answer within {s.request_timeout_s:g} s (serve.request_timeout_s); the work "
                          f"goes on and may be retried later")

    @staticmethod
    async def _read_body(receive, headers: dict, path: str, s) -> bytes:
        limit = s.max_upload_bytes if path.startswith((UPLOADS_PATH, VERIFY_PATH)) else s.max_body_bytes
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise ApiError(413, f"request body too large: the limit is {limit} bytes")
        chunks, size = [], 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.body_timeout_s
        while True:
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise asyncio.TimeoutError
                message = await asyncio.wait_for(receive(), timeout=left)
            except asyncio.TimeoutError:
                raise ApiError(408, f"request body not received within {s.body_timeout_s:g} s "
                                    f"(serve.body_timeout_s)") from None
            if message["type"] != "http.request":
                raise ApiError(400, "the client closed the connection before sending its body")
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                raise ApiError(413, f"request body too large: the limit is {limit} bytes")
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype == b"application/json" and json_depth(body) > MAX_JSON_DEPTH:
            raise ApiError(422, f"invalid request: body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        return body


def _replay(body: bytes, receive) -> Callable[[], Awaitable[dict]]:
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _quietly(task: asyncio.Task) -> None:
    """A request answered 504 finished later: its own answer goes nowhere; a failure is logged."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("a request answered 504 failed afterwards: %r", task.exception())

