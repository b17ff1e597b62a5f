"""The gate every request passes first (serving.gate.Gate), driven as ASGI without Ray.

The service it consults is a small stand-in that holds a real config and a real key check
(serving.guard.KeyRing); what is under test is the order of things: key from the headers before
any body, the body's deadline, the answer's deadline, and the request id on every answer.
"""

import asyncio
import json

from common.config import Config
from serving.gate import MAX_JSON_DEPTH, ApiError, Gate, json_depth
from serving.guard import KeyRing, ensure_keys
from serving.store import Reader


class Service:
    def __init__(self, tmp_path, **serve):
        self.cfg = Config.model_validate({"serve": serve})
        self.ring = KeyRing(tmp_path / "keys.json")
        self.key = ensure_keys(tmp_path / "keys.json")[0][0]["key"]

    def admit_key(self, key):
        entry = self.ring.entry(key) if key else None
        if entry is None:
            raise ApiError(401, "unknown API key")
        return Reader(entry["name"], entry["name"])


async def _call(gate, method, path, headers, messages, hold=False):
    """Run one request through ``gate``; the body arrives as ``messages`` (then nothing, if ``hold``)."""
    sent, received = [], []
    queue = list(messages)

    async def receive():
        received.append(1)
        if queue:
            return queue.pop(0)
        if hold:
            await asyncio.sleep(3600)  # a client that sends nothing more
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path,
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    await gate(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body, len(received), scope


async def _echo(scope, receive, send):
    """The app behind the gate: answers with the body it was given and the caller the gate admitted."""
    message = await receive()
    caller = scope.get("state", {}).get("caller")
    body = json.dumps({"body": message.get("body", b"").decode(), "caller": caller.key if caller else None}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def test_an_unknown_key_is_refused_before_a_byte_of_the_body_is_read(tmp_path):
    svc = Service(tmp_path)
    gate = Gate(_echo, lambda: svc)
    status, headers, body, reads, _ = asyncio.run(_call(gate, "POST", "/v1/generate", {
        "X-API-Key": "mlk_wrong", "content-length": "1000", "content-type": "application/json"}, [], hold=True))
    assert status == 401 and reads == 0
    assert json.loads(body)["request_id"] == headers[b"x-request-id"].decode()


def test_a_body_that_does_not_arrive_in_time_is_408_and_closes_the_connection(tmp_path):
    svc = Service(tmp_path, body_timeout_s=0.2)
    gate = Gate(_echo, lambda: svc)
    partial = [{"type": "http.request", "body": b'{"prom', "more_body": True}]
    status, headers, body, reads, _ = asyncio.run(asyncio.wait_for(_call(gate, "POST", "/v1/generate", {
        "X-API-Key": svc.key, "content-length": "1000"}, partial, hold=True), timeout=30))
    assert status == 408 and "serve.body_timeout_s" in json.loads(body)["error"]
    assert headers[b"connection"] == b"close" and reads == 2


def test_a_whole_body_reaches_the_route_with_the_admitted_caller(tmp_path):
    svc = Service(tmp_path)
    gate = Gate(_echo, lambda: svc)
    chunks = [{"type": "http.request", "body": b'{"prompt":', "more_body": True},
              {"type": "http.request", "body": b' "jazz"}', "more_body": False}]
    status, headers, body, _, _ = asyncio.run(_call(gate, "POST", "/v1/generate", {
        "Authorization": f"Bearer {svc.key}", "content-type": "application/json"}, chunks))
    assert status == 200 and json.loads(body) == {"body": '{"prompt": "jazz"}', "caller": "default"}
    assert len(headers[b"x-request-id"]) == 16


def test_bodies_over_the_limit_are_413_whether_declared_or_chunked(tmp_path):
    svc = Service(tmp_path, max_body_bytes=2048)
    gate = Gate(_echo, lambda: svc)
    declared = asyncio.run(_call(gate, "POST", "/v1/generate", {"X-API-Key": svc.key, "content-length": "4096"},
                                 [], hold=True))
    chunked = asyncio.run(_call(gate, "POST", "/v1/generate", {"X-API-Key": svc.key}, [
        {"type": "http.request", "body": b"x" * 1500, "more_body": True},
        {"type": "http.request", "body": b"x" * 1500, "more_body": True}], hold=True))
    assert declared[0] == chunked[0] == 413 and declared[3] == 0


def test_deeply_nested_json_is_422_saying_so():
    nested = b"[" * 5000 + b"]" * 5000
    assert json_depth(nested) == 5000 and json_depth(b'{"a": "[[[[[[", "b": [1, {"c": 2}]}') == 3


def test_deeply_nested_json_is_refused_by_the_gate(tmp_path):
    svc = Service(tmp_path)
    gate = Gate(_echo, lambda: svc)
    body = b'{"prompt": ' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1) + b"}"
    status, _, answer, _, _ = asyncio.run(_call(gate, "POST", "/v1/generate", {
        "X-API-Key": svc.key, "content-type": "application/json"}, [{"type": "http.request", "body": body}]))
    assert status == 422 and "nested deeper" in json.loads(answer)["error"]


def test_an_answer_later_than_the_request_timeout_is_504_and_the_late_one_goes_nowhere(tmp_path):
    svc = Service(tmp_path, request_timeout_s=0.2)
    finished = []

    async def slow(scope, receive, send):
        await asyncio.sleep(0.6)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"late"})
        finished.append(True)

    async def scenario():
        result = await _call(Gate(slow, lambda: svc), "GET", "/v1/models", {"X-API-Key": svc.key}, [])
        await asyncio.sleep(0.8)  # the work goes on in the background and ends
        return result

    status, _, body, _, _ = asyncio.run(scenario())
    assert status == 504 and "serve.request_timeout_s" in json.loads(body)["error"] and finished == [True]


def test_routes_outside_v1_need_no_key(tmp_path):
    svc = Service(tmp_path)
    status, headers, _, _, scope = asyncio.run(_call(Gate(_echo, lambda: svc), "GET", "/healthz", {}, []))
    assert status == 200 and b"x-request-id" in headers and "caller" not in scope["state"]

