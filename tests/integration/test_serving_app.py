"""The Ray Serve endpoint end to end: a tiny model trained on real Ray Train/Delta/MLflow, served, called over HTTP."""

import base64
import socket
import pytest
import requests
from symusic import Score

from serving.api import GENERATE_PATH, HEALTH_PATH, MODELS_PATH
from tests.conftest import make_config
from tests.support.music_lake import write_music_lake
from training.registry import CHAMPION, MODEL_NAME, client
from training.train import run_training

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory, ray_session):
    from serving import app as serving_app

    # Small enough to train in seconds, trained enough (80 steps) that sampling reliably yields notes.
    cfg = make_config(tmp_path_factory.mktemp("serving"), "train.max_steps=80", "train.num_workers=1",
                      "train.n_embd=64", "train.n_head=2", "train.n_layer=1", "train.block_size=96",
                      "train.batch_size=4", "train.dropout=0.0", "train.log_every=20",
                      f"serve.port={_free_port()}", "serve.replica_cpus=0.5", "serve.max_models_per_replica=1")
    write_music_lake(cfg, n=10, bars=8)
    # Two registered versions (v2 is champion), both trained before Serve takes its CPU share.
    assert run_training(cfg).model_version == 1
    assert run_training(cfg, force=True).model_version == 2
    url = serving_app.deploy(cfg)
    yield url, cfg
    serving_app.shutdown()


def _post(url: str, body: dict) -> requests.Response:
    return requests.post(url + GENERATE_PATH, json=body, timeout=300)


def test_generate_honors_explicit_values_and_returns_midi(served):
    endpoint, _ = served
    resp = _post(endpoint, {"prompt": "relaxed cafe afternoon with a touch of electronic", "bpm": 96,
                            "key": "d minor", "bars": 2, "seed": 5})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    attrs = body["attributes"]
    assert (attrs["bpm"], attrs["key"], attrs["style"]) == (96.0, "D minor", "electronic")
    assert attrs["sources"]["bpm"] == attrs["sources"]["key"] == "request"
    assert attrs["chords"][0] == "Dm"
    assert body["model"] == {"name": MODEL_NAME, "version": 2, "ref": CHAMPION}
    score = Score.from_midi(base64.b64decode(body["midi_base64"]))
    assert score.note_num() == body["n_notes"] > 0
    assert [round(t.qpm) for t in score.tempos] == [96]
    assert body["duration_s"] > 0 and body["elapsed_ms"] > 0
    assert body["seed"] == 5 and body["chords"] == ["Dm", "Dm"]  # a recommended progression ends on the tonic


def test_every_explicit_attribute_reaches_the_notes_and_each_track_says_who_wrote_it(served):
    endpoint, _ = served
    resp = _post(endpoint, {"prompt": "a waltz", "time_signature": "3/4", "key": "Eb major", "bpm": 88,
                            "instruments": ["flute", "harp", "cello", "drums"], "chords": ["Eb", "Ab", "Bb7"],
                            "bars": 3, "seed": 9})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [(t["role"], t["instrument"], t["program"], t["source"]) for t in body["tracks"]] == [
        ("melody", "flute", 73, "model"), ("harmony", "harp", 46, "model"), ("bass", "cello", 42, "model"),
        ("drums", "drums", -1, "arranger")]
    assert body["chords"] == ["Eb", "Ab", "Bb7"]
    score = Score.from_midi(base64.b64decode(body["midi_base64"]))
    assert {(-1 if t.is_drum else t.program) for t in score.tracks if t.note_num()} == {73, 46, 42, -1}
    assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (3, 4)
    bad = _post(endpoint, {"prompt": "jazz", "chords": ["Qm7"]})
    assert bad.status_code == 422 and "chords" in bad.json()["error"]


def test_version_number_and_chinese_prompt(served):
    endpoint, _ = served
    resp = _post(endpoint, {"prompt": "咖啡馆午后的轻松氛围,带点电子音乐元素", "model": "1", "bars": 1, "seed": 2})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == {"name": MODEL_NAME, "version": 1, "ref": "1"}
    assert body["attributes"]["style"] == "electronic" and body["attributes"]["sources"]["style"] == "keyword"
    assert Score.from_midi(base64.b64decode(body["midi_base64"])).note_num() > 0


@pytest.mark.parametrize("ref", ["7", "staging"])
def test_unknown_model_is_404(served, ref):
    endpoint, _ = served
    resp = _post(endpoint, {"prompt": "jazz", "model": ref, "bars": 1})
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
    endpoint, _ = served
    resp = _post(endpoint, body)
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error.startswith(f"invalid request: {field}:"), error


def test_body_that_is_not_json_is_422(served):
    endpoint, _ = served
    resp = requests.post(endpoint + GENERATE_PATH, data="not json", headers={"content-type": "application/json"},
                         timeout=30)
    assert resp.status_code == 422 and resp.json()["error"].startswith("invalid request: body: not valid JSON")


def test_health_and_models(served):
    endpoint, _ = served
    assert _post(endpoint, {"prompt": "a calm folk song", "bars": 1, "seed": 1}).status_code == 200
    health = requests.get(endpoint + HEALTH_PATH, timeout=30).json()
    assert health["status"] == "ok" and health["default_model"] == CHAMPION
    assert [m["version"] for m in health["loaded_models"]] == [2]
    models = requests.get(endpoint + MODELS_PATH, timeout=30).json()
    assert (models["name"], models["default_model"], models["default_version"]) == (MODEL_NAME, CHAMPION, 2)
    assert [(v["version"], v["aliases"]) for v in models["versions"]] == [(2, [CHAMPION]), (1, [])]


def test_moving_the_alias_takes_effect_at_once_and_old_versions_are_evicted(served):
    endpoint, cfg = served

    def version_served(body: dict) -> int:
        resp = _post(endpoint, {"prompt": "dark film music", "bars": 1, "seed": 3} | body)
        assert resp.status_code == 200, resp.text
        loaded = requests.get(endpoint + HEALTH_PATH, timeout=30).json()["loaded_models"]
        assert [m["version"] for m in loaded] == [resp.json()["model"]["version"]]  # serve.max_models_per_replica=1
        return resp.json()["model"]["version"]

    assert version_served({"model": "2"}) == 2
    assert version_served({"model": "1"}) == 1
    registry = client(cfg)
    registry.set_registered_model_alias(MODEL_NAME, CHAMPION, "1")
    try:
        assert version_served({}) == 1
    finally:
        registry.set_registered_model_alias(MODEL_NAME, CHAMPION, "2")
    assert version_served({}) == 2


def test_cli_generate_writes_the_midi(served, tmp_path):
    from typer.testing import CliRunner

    from serving.cli import app

    endpoint, _ = served
    out = tmp_path / "piece.mid"
    res = CliRunner().invoke(app, ["generate", "-p", "slow jazz in Eb major", "--bars", "1", "--seed", "4",
                                   "--model", "1", "--url", endpoint, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"model {MODEL_NAME} v1 (asked for '1')" in res.output
    score = Score.from_midi(out.read_bytes())
    assert score.note_num() > 0 and f"wrote {out}: {score.note_num()} notes" in res.output
    assert [round(t.qpm) for t in score.tempos] == [72]
