"""The served API under a hostile client's probes: slow bodies, disk filling, internals in errors, records.

Every figure is read from the outside: status codes, the bytes that come back, the store's size on disk.
"""

import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from serving.api import GENERATE_PATH, HEALTH_PATH, MODELS_PATH, PIECES_PATH, REQUEST_ID_HEADER
from serving.guard import add_key
from serving.store import tree_size

pytestmark = pytest.mark.serving


def _key(served, name: str, **kw) -> dict:
    return _named_key(served, name, **kw)[0]


def _named_key(served, name: str, **kw) -> tuple[dict, str]:
    unique = f"{name}-{time.time_ns()}"
    return {"X-API-Key": add_key(served.cfg.serve.api_keys_file, unique, **kw)}, unique


def _gen(served, headers: dict, body: dict) -> dict:
    resp = requests.post(served.url + GENERATE_PATH, json=body, headers=headers, timeout=300)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.mark.parametrize("ref", ["nope", "99999999999999999999999", "0"])
def test_any_valid_looking_model_reference_is_404_without_internals(served, ref):
    resp = served.post(GENERATE_PATH, {"prompt": "jazz", "model": ref, "bars": 1})
    assert resp.status_code == 404, resp.text
    error = resp.json()["error"]
    assert f"'{ref}'" in error
    for internal in (served.cfg.mlflow.tracking_uri, "sqlite", "/", "Exception", "Error"):
        assert internal not in error.replace("GET /v1/models", ""), error
    assert resp.json()["request_id"] == resp.headers[REQUEST_ID_HEADER]


def test_trailing_slash_head_and_newline_ids(served):
    body = served.post(GENERATE_PATH, {"prompt": "folk", "bars": 1, "seed": 3}).json()
    slash = requests.post(served.url + GENERATE_PATH + "/", json={"prompt": "x"}, headers=served.headers | {
        "Host": "evil.example"}, allow_redirects=False, timeout=30)
    assert slash.status_code == 404 and "location" not in slash.headers
    head = requests.head(served.url + body["urls"]["mid"], headers=served.headers, timeout=30)
    get = served.get(body["urls"]["mid"])
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) == len(get.content)
    newline = served.get(f"{PIECES_PATH}/{body['id']}%0A.mid")
    assert newline.status_code in (404, 422)
    assert served.get(f"{PIECES_PATH}/{body['id']}%0A").status_code in (404, 422)


def test_each_request_keeps_its_record_and_keys_read_only_their_tenants_pieces(served):
    (a1, a1_name), a2 = _named_key(served, "a1", tenant="team-a"), _key(served, "a2", tenant="team-a")
    (b, b_name), admin = _named_key(served, "b"), _key(served, "ops", admin=True)
    ask = {"prompt": "slow piano ballad", "bars": 1, "seed": 11, "bpm": 80, "key": "C major"}
    first = _gen(served, a1, ask)
    second = _gen(served, b, ask)
    assert first["id"] == second["id"]  # the same notes, stored once

    def records(headers):
        resp = requests.get(served.url + first["urls"]["records"], headers=headers, timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()["records"]

    assert [r["key"] for r in records(a2)] == [a1_name]  # a tenant's keys read each other's records
    assert [r["key"] for r in records(b)] == [b_name]
    assert [r["key"] for r in records(admin)] == [a1_name, b_name]
    ids = {r["request_id"] for r in records(admin)}
    assert len(ids) == 2
    outsider = _key(served, "c")
    for path in (first["urls"]["info"], first["urls"]["records"], first["urls"]["mid"]):
        resp = requests.get(served.url + path, headers=outsider, timeout=30)
        assert resp.status_code == 404, (path, resp.status_code)
    assert requests.get(served.url + first["urls"]["info"], headers=a2, timeout=30).status_code == 200


def test_a_piece_too_long_to_render_is_422_naming_the_cap_and_its_midi_stays(served):
    body = served.post(GENERATE_PATH, {"prompt": "ambient drone", "bars": 64, "time_signature": "8/4", "bpm": 30,
                                       "seed": 1}, timeout=600).json()
    assert body["duration_s"] > served.cfg.serve.render_max_seconds
    wav = served.get(body["urls"]["wav"])
    assert wav.status_code == 422 and "serve.render_max_seconds" in wav.json()["error"]
    assert served.get(body["urls"]["mid"]).status_code == 200
    assert not list(Path(served.cfg.serve.pieces_dir, body["id"]).glob("piece.wav"))


def _slow_client(served, headers: dict) -> socket.socket:
    sock = socket.create_connection((served.url.split("//")[1].split(":")[0], int(served.url.rsplit(":", 1)[1])))
    lines = [f"POST {GENERATE_PATH} HTTP/1.1", f"Host: {served.url.split('//')[1]}", "Content-Type: application/json",
             "Content-Length: 1000"] + [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b'{"prompt":')
    return sock


def _status_of(sock: socket.socket, wait_s: float) -> int | None:
    sock.settimeout(wait_s)
    try:
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status
    except (socket.timeout, ConnectionError, http.client.HTTPException):
        return None
    finally:
        sock.close()


def test_thirty_silent_clients_do_not_stop_a_normal_client(served):
    silent = [_slow_client(served, _key(served, f"slow{i}")) for i in range(30)]
    try:
        normal = served.post(GENERATE_PATH, {"prompt": "bright pop", "bars": 2, "seed": 2}, timeout=60)
        assert normal.status_code == 200, normal.text
        # an unknown key is refused from its headers alone, with its body still unsent
        assert _status_of(_slow_client(served, {"X-API-Key": "mlk_wrong"}), 30) == 401
    finally:
        statuses = [_status_of(s, 60) for s in silent]
    assert statuses.count(408) == 30, statuses  # each cut off after serve.body_timeout_s


def test_rendering_past_the_quota_and_the_store_size_keeps_the_store_under_and_never_500s(served):
    limit = served.cfg.serve.store_max_bytes
    keys = [_key(served, f"filler{i}") for i in range(4)]
    seen, stop, statuses = [], threading.Event(), []

    def watch():
        while not stop.is_set():
            seen.append(tree_size(served.cfg.serve.pieces_dir)[0])
            time.sleep(0.05)

    def fill(i: int) -> None:
        for j in range(6):  # 8 bars at 60 bpm: about 5.8 MB of WAV each
            body = requests.post(served.url + GENERATE_PATH, headers=keys[i], timeout=300, json={
                "prompt": "calm strings", "bars": 8, "bpm": 60, "seed": 1000 * i + j})
            statuses.append(body.status_code)
            if body.status_code != 200:
                continue
            while True:
                wav = requests.get(served.url + body.json()["urls"]["wav"], headers=keys[i], timeout=300)
                statuses.append(wav.status_code)
                if wav.status_code != 503:
                    break
                time.sleep(float(wav.headers["Retry-After"]))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(fill, range(4)))
    finally:
        stop.set()
        watcher.join()
    assert statuses.count(200) >= 40 and not [s for s in statuses if s >= 500 and s != 503], statuses
    assert max(seen) <= limit, (max(seen), limit)
    stats = requests.get(served.url + HEALTH_PATH, timeout=30)
    assert stats.status_code == 200
    assert requests.get(served.url + MODELS_PATH, headers=keys[0], timeout=30).status_code == 200
    assert json.loads(stats.text)["status"] == "ok"
