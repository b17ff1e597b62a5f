"""The served application end to end over HTTP: tiny models trained on real Ray Train/Delta/MLflow, served by Ray Serve.

Everything is measured from what comes back: the MIDI's notes, the WAV's samples, the MusicXML's parts.
"""

import hashlib
import io
import json
import threading
import time
import wave
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from symusic import Score

from serving.api import (GENERATE_PATH, HEALTH_PATH, MODELS_PATH, PIECES_PATH, RECOMMEND_PATH, UPLOADS_PATH)
from serving.guard import add_key
from tests.support.music_lake import piece
from training.registry import CHAMPION, CLAP_MODEL_NAME, MODEL_NAME, client

pytestmark = pytest.mark.serving


def _generate(served, body: dict) -> dict:
    resp = served.post(GENERATE_PATH, body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _file(served, body: dict, fmt: str) -> bytes:
    resp = served.get(body["urls"][fmt])
    assert resp.status_code == 200, resp.text
    return resp.content


def test_generate_honors_explicit_values_and_stores_a_traceable_piece(served):
    body = _generate(served, {"prompt": "relaxed cafe afternoon with a touch of electronic", "bpm": 96,
                              "key": "d minor", "bars": 2, "seed": 5})
    attrs = body["attributes"]
    assert (attrs["bpm"], attrs["key"], attrs["style"]) == (96.0, "D minor", "electronic")
    assert attrs["sources"]["bpm"] == attrs["sources"]["key"] == "request"
    assert body["provenance"]["generator"] == {"name": MODEL_NAME, "version": 2, "ref": CHAMPION}
    assert body["provenance"]["generator_run_id"] == client(served.cfg).get_model_version(MODEL_NAME, "2").run_id
    assert set(body["provenance"]["data_versions"]) == {"bronze_midi_files", "gold_text_music_pairs"}
    assert "midi_base64" not in body  # large outputs go by URL
    midi = _file(served, body, "mid")
    assert hashlib.sha256(midi).hexdigest() == body["content_sha256"] and body["id"] == body["content_sha256"][:20]
    score = Score.from_midi(midi)
    assert score.note_num() == body["n_notes"] > 0
    assert [round(t.qpm) for t in score.tempos] == [96]
    assert body["seed"] == 5 and body["chords"] == ["Dm", "Dm"]  # a recommended progression ends on the tonic
    timings = body["timings"]
    assert 0 < timings["generate_ms"] <= timings["total_ms"]
    stored = served.get(body["urls"]["info"]).json()
    assert stored["request"]["bpm"] == 96 and stored["seed"] == 5 and stored["provenance"] == body["provenance"]
    assert stored["content_sha256"] == body["content_sha256"]


def test_same_request_and_seed_make_the_same_piece(served):
    req = {"prompt": "a calm folk song", "bars": 2, "seed": 11}
    assert _generate(served, req)["content_sha256"] == _generate(served, req)["content_sha256"]


def test_every_explicit_attribute_reaches_the_notes_and_each_track_says_who_wrote_it(served):
    body = _generate(served, {"prompt": "a waltz", "time_signature": "3/4", "key": "Eb major", "bpm": 88,
                              "instruments": ["flute", "harp", "cello", "drums"], "chords": ["Eb", "Ab", "Bb7"],
                              "bars": 3, "seed": 9})
    assert [(t["role"], t["instrument"], t["program"], t["source"]) for t in body["tracks"]] == [
        ("melody", "flute", 73, "model"), ("harmony", "harp", 46, "model"), ("bass", "cello", 42, "model"),
        ("drums", "drums", -1, "arranger")]
    assert body["chords"] == ["Eb", "Ab", "Bb7"]
    score = Score.from_midi(_file(served, body, "mid"))
    assert {(-1 if t.is_drum else t.program) for t in score.tracks if t.note_num()} == {73, 46, 42, -1}
    assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (3, 4)
    bad = served.post(GENERATE_PATH, {"prompt": "jazz", "chords": ["Qm7"]})
    assert bad.status_code == 422 and "chords" in bad.json()["error"]


def test_every_format_is_served_and_measures_right(served):
    body = _generate(served, {"prompt": "piano and bass ballad in Bb major", "bpm": 80, "bars": 4, "seed": 4,
                              "instruments": ["piano", "acoustic bass"]})
    score = Score.from_midi(_file(served, body, "mid"))
    with wave.open(io.BytesIO(_file(served, body, "wav"))) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        seconds = w.getnframes() / w.getframerate()
    assert body["duration_s"] - 0.1 <= seconds <= body["duration_s"] + 2.0
    assert np.sqrt(np.mean(frames.astype(np.float64) ** 2)) > 100  # not silence
    xml = ET.fromstring(_file(served, body, "musicxml"))
    parts = xml.findall("part")
    assert len(parts) == sum(1 for t in score.tracks if t.note_num())
    assert {f.text for f in xml.iter("fifths")} == {"-2"}  # Bb major
    pitched = [n for n in xml.iter("note") if n.find("pitch") is not None and n.find("tie[@type='stop']") is None]
    assert len(pitched) == score.note_num()
    png = _file(served, body, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = ET.fromstring(_file(served, body, "svg"))
    assert svg.tag.endswith("svg") and len([g for g in svg.iter() if "note" in (g.get("class") or "").split()]) > 0
    again = served.get(body["urls"]["wav"])
    assert again.status_code == 200 and again.headers["content-type"] == "audio/wav"
    assert served.get(PIECES_PATH + "/0123456789abcdef0123.wav").status_code == 404
    assert served.get(body["urls"]["mid"].replace(".mid", ".doc")).status_code == 422


def test_version_number_and_chinese_prompt(served):
    body = _generate(served, {"prompt": "咖啡馆午后的轻松氛围,带点电子音乐元素", "model": "1", "bars": 1, "seed": 2})
    assert body["provenance"]["generator"] == {"name": MODEL_NAME, "version": 1, "ref": "1"}
    assert body["attributes"]["style"] == "electronic" and body["attributes"]["sources"]["style"] == "keyword"
    assert Score.from_midi(_file(served, body, "mid")).note_num() > 0


def test_recommend_says_where_each_attribute_came_from(served):
    resp = served.post(RECOMMEND_PATH, {"prompt": "sad jazz at 70 bpm", "key": "F minor"})
    assert resp.status_code == 200, resp.text
    attrs = resp.json()["attributes"]
    assert (attrs["style"], attrs["bpm"], attrs["key"]) == ("jazz", 70.0, "F minor")
    assert (attrs["sources"]["style"], attrs["sources"]["bpm"], attrs["sources"]["key"]) == ("keyword", "prompt",
                                                                                            "request")
    zh = served.post(RECOMMEND_PATH, {"prompt": "深夜的爵士酒吧,慵懒的萨克斯"}).json()["attributes"]
    assert zh["style"] == "jazz" and "saxophone" in " ".join(zh["instruments"]).lower()
    # No style word at all: the zero-shot fallback decides, and says so.
    open_ = served.post(RECOMMEND_PATH, {"prompt": "music for a quiet rainy morning"}).json()
    assert open_["attributes"]["sources"]["style"] == "clap"
    assert open_["clap"]["name"] == CLAP_MODEL_NAME


def test_candidates_are_ranked_by_the_clap_model(served):
    body = _generate(served, {"prompt": "a bright folk dance", "bars": 2, "seed": 20, "candidates": 3})
    cands = body["candidates"]
    assert len(cands) == 3 and sorted(c["seed"] for c in cands) == [20, 21, 22]
    assert [c["score"] for c in cands] == sorted((c["score"] for c in cands), reverse=True)
    assert body["seed"] == cands[0]["seed"] and body["content_sha256"] == cands[0]["content_sha256"]
    assert body["provenance"]["clap"]["name"] == CLAP_MODEL_NAME
    too_many = served.post(GENERATE_PATH, {"prompt": "folk", "candidates": 16})
    assert too_many.status_code == 422 and "serve.max_candidates" in too_many.json()["error"]


def test_an_uploaded_melody_is_kept_and_harmonized(served):
    score, _ = piece(0, bars=4)  # 4/4, C major melody + harmony + bass
    up = requests.post(served.url + UPLOADS_PATH, data=score.dumps_midi(), timeout=60,
                       headers=served.headers | {"content-type": "audio/midi"})
    assert up.status_code == 200, up.text
    info = up.json()
    body = _generate(served, {"prompt": "harmonize my tune", "key": "C major", "bpm": 100, "bars": 4, "seed": 1,
                              "melody": info["id"], "instruments": ["flute", "piano", "acoustic bass"]})
    assert body["tracks"][0]["role"] == "melody" and body["tracks"][0]["source"] == "upload"
    assert body["provenance"]["melody_upload"] == info["id"]
    out = Score.from_midi(_file(served, body, "mid"))
    melody_in = sorted(score.tracks[0].notes.numpy()["pitch"].tolist())
    melody_out = sorted(next(t for t in out.tracks if t.program == 73).notes.numpy()["pitch"].tolist())
    assert melody_out == melody_in
    missing = served.post(GENERATE_PATH, {"prompt": "x", "melody": "0" * 20})
    assert missing.status_code == 404 and "upload" in missing.json()["error"]


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"), (b"RIFF....WAVEfmt ", "not MIDI"), (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00",
                                                      "truncated"),
])
def test_hostile_uploads_are_422_with_the_lakes_reason(served, data, reason):
    resp = requests.post(served.url + UPLOADS_PATH, data=data, headers=served.headers, timeout=60)
    assert resp.status_code == 422 and reason in resp.json()["error"], resp.text


def test_bodies_over_the_limit_are_413(served):
    big = {"prompt": "x" * 100, "instruments": ["piano"] * 1, "chords": ["C"] * 8, "pad": "y" * 70_000}
    assert served.post(GENERATE_PATH, big).status_code == 413
    resp = requests.post(served.url + UPLOADS_PATH, data=b"MThd" + b"\0" * 2_000_000, headers=served.headers,
                         timeout=60)
    assert resp.status_code == 413 and "limit" in resp.json()["error"]


@pytest.mark.parametrize("ref", ["7", "staging"])
def test_unknown_model_is_404(served, ref):
    resp = served.post(GENERATE_PATH, {"prompt": "jazz", "model": ref, "bars": 1})
    assert resp.status_code == 404
    assert f"'{ref}'" in resp.json()["error"]


@pytest.mark.parametrize("body, field", [
    ({"bpm": 100}, "prompt"),
    ({"prompt": "jazz", "bpm": 1000}, "bpm"),
    ({"prompt": "jazz", "bmp": 100}, "bmp"),
    ({"prompt": "jazz", "key": "H minor"}, "key"),
    ({"prompt": "jazz", "bars": 0}, "bars"),
])
def test_invalid_requests_are_422_naming_the_field(served, body, field):
    resp = served.post(GENERATE_PATH, body)
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error.startswith(f"invalid request: {field}:"), error


def test_body_that_is_not_json_is_422(served):
    resp = requests.post(served.url + GENERATE_PATH, data="not json",
                         headers=served.headers | {"content-type": "application/json"}, timeout=30)
    assert resp.status_code == 422 and resp.json()["error"].startswith("invalid request: body: not valid JSON")


def test_keys_are_required_on_v1_but_not_on_health_or_the_page(served):
    no_key = requests.post(served.url + GENERATE_PATH, json={"prompt": "jazz"}, timeout=30)
    assert no_key.status_code == 401 and "X-API-Key" in no_key.json()["error"]
    wrong = requests.get(served.url + MODELS_PATH, headers={"X-API-Key": "mlk_not-a-key"}, timeout=30)
    assert wrong.status_code == 401 and wrong.json()["error"].startswith("unknown API key: ")
    bearer = requests.get(served.url + MODELS_PATH, headers={"Authorization": f"Bearer {served.key}"}, timeout=30)
    assert bearer.status_code == 200
    assert requests.get(served.url + HEALTH_PATH, timeout=30).status_code == 200
    page = requests.get(served.url + "/", timeout=30)
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert requests.get(served.url + "/static/app.js", timeout=30).status_code == 200


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(served):
    key = add_key(served.cfg.serve.api_keys_file, f"limited-{time.time_ns()}")
    keys_file = Path(served.cfg.serve.api_keys_file)
    keys = json.loads(keys_file.read_text())
    for entry in keys["keys"]:
        if entry["key"] == key:
            entry.update(rate_limit_per_min=6, rate_burst=3)
    keys_file.write_text(json.dumps(keys))
    statuses = [requests.get(served.url + MODELS_PATH, headers={"X-API-Key": key}, timeout=30) for _ in range(5)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
    assert 1 <= int(statuses[3].headers["Retry-After"]) <= 10 and "6 requests/min" in statuses[3].json()["error"]
    assert served.get(MODELS_PATH).status_code == 200  # other keys are not limited by it


def test_a_full_queue_answers_503_with_retry_after_and_nothing_else_fails(served):
    body = {"prompt": "rock anthem", "bars": 32, "candidates": 4}  # long enough that the slots stay taken

    def call(i):
        return served.post(GENERATE_PATH, body | {"seed": 10 * i}, timeout=600)

    with ThreadPoolExecutor(48) as pool:
        answers = list(pool.map(call, range(48)))
    codes = [r.status_code for r in answers]
    assert set(codes) <= {200, 503}, codes
    busy = [r for r in answers if r.status_code == 503]
    assert busy, f"48 concurrent requests never filled {served.cfg.serve.max_concurrent} slots + " \
                 f"{served.cfg.serve.max_queue} queue places"
    assert all(int(r.headers["Retry-After"]) >= 1 and r.json()["error"].startswith("busy") for r in busy)
    assert codes.count(200) >= served.cfg.serve.max_concurrent


def test_health_and_models(served):
    assert served.post(GENERATE_PATH, {"prompt": "a calm folk song", "bars": 1, "seed": 1}).status_code == 200
    health = requests.get(served.url + HEALTH_PATH, timeout=30).json()
    assert health["status"] == "ok" and health["default_model"] == CHAMPION and health["audio"] == "ok"
    assert (MODEL_NAME, 2) in {(m["name"], m["version"]) for m in health["loaded_models"]}
    models = served.get(MODELS_PATH).json()
    gen = models["generator"]
    assert (gen["name"], gen["default_model"], gen["default_version"]) == (MODEL_NAME, CHAMPION, 2)
    assert [(v["version"], v["aliases"]) for v in gen["versions"]] == [(2, [CHAMPION]), (1, [])]
    assert (models["clap"]["name"], models["clap"]["default_version"]) == (CLAP_MODEL_NAME, 1)


def test_moving_the_alias_under_load_switches_versions_without_a_failed_request(served):
    registry = client(served.cfg)
    seen: list[tuple[float, int, int]] = []  # (time, status, version)
    stop = threading.Event()

    def client_loop(i):
        n = 0
        while not stop.is_set():
            r = served.post(GENERATE_PATH, {"prompt": "dark film music", "bars": 2, "seed": i * 100 + n})
            seen.append((time.monotonic(), r.status_code,
                         r.json()["provenance"]["generator"]["version"] if r.status_code == 200 else -1))
            n += 1

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(4)
        moved_at = time.monotonic()
        registry.set_registered_model_alias(MODEL_NAME, CHAMPION, "1")
        time.sleep(4 + 2 * served.cfg.serve.alias_ttl_s)
    finally:
        stop.set()
        for t in threads:
            t.join()
        registry.set_registered_model_alias(MODEL_NAME, CHAMPION, "2")
    assert {status for _, status, _ in seen} == {200}, [s for s in seen if s[1] != 200][:3]
    before = {v for t, _, v in seen if t < moved_at}
    settled = {v for t, _, v in seen if t > moved_at + served.cfg.serve.alias_ttl_s + 3}
    assert before == {2} and settled == {1}, (before, settled)


def test_cli_generate_writes_the_files(served, tmp_path):
    from typer.testing import CliRunner

    from serving.cli import app

    out = tmp_path / "piece.mid"
    res = CliRunner().invoke(app, ["generate", "-p", "slow jazz in Eb major", "--bars", "1", "--seed", "4",
                                   "--model", "1", "--url", served.url, "--out", str(out), "--formats", "mid,wav",
                                   "--api-key", served.key])
    assert res.exit_code == 0, res.output
    assert f"model {MODEL_NAME} v1 (asked for '1')" in res.output
    score = Score.from_midi(out.read_bytes())
    assert score.note_num() > 0 and f"wrote {out}" in res.output
    assert [round(t.qpm) for t in score.tempos] == [72]
    with wave.open(str(out.with_suffix(".wav"))) as w:
        assert w.getnframes() > 0
