"""The serving CLI without the service: recommend, config and request errors, an unreachable URL, `generate`
against a stand-in endpoint, and what `serve` prints at start."""

import json
import socket

import pytest
from typer.testing import CliRunner

from serving.cli import app

runner = CliRunner()


def test_recommend_prints_attributes_with_their_sources():
    res = runner.invoke(app, ["recommend", "--prompt", "咖啡馆午后的轻松氛围,带点电子音乐元素", "--bpm", "92"])
    assert res.exit_code == 0, res.output
    lines = {line.split()[0]: line for line in res.stdout.splitlines() if line.strip()}
    assert "electronic" in lines["style"] and "[keyword]" in lines["style"]  # then why: the word it read
    assert "92" in lines["bpm"] and "[request]" in lines["bpm"]
    key = lines["key"].split()[1]  # no key named: one the style and mood make likely
    assert "(I - V - vi - IV)" in lines["chords"] and lines["chords"].split()[1] == key  # the loop, on its tonic


def test_recommend_as_json():
    res = runner.invoke(app, ["recommend", "-p", "sad jazz", "--key", "Dm", "--json"])
    assert res.exit_code == 0, res.output
    attrs = json.loads(res.stdout)  # stdout is the JSON alone; which recommender answered goes to stderr
    assert (attrs["style"], attrs["key"], attrs["mood"]) == ("jazz", "D minor", "sad")
    assert attrs["sources"]["key"] == "request"


def test_config_error_exits_2_with_one_line():
    res = runner.invoke(app, ["recommend", "-p", "jazz", "--set", "serve.prot=1"])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == ["config error: serve.prot: unknown key (did you mean serve.port?) [from --set serve.prot]"]


def test_invalid_request_fails_before_any_network():
    res = runner.invoke(app, ["generate", "-p", "jazz", "--key", "H minor", "--url", "http://127.0.0.1:9"])
    assert res.exit_code == 2
    assert res.output.startswith("invalid request: key: unknown key 'H minor'")


def test_generate_without_an_endpoint_says_so(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "x.mid"
    res = runner.invoke(app, ["generate", "-p", "jazz", "--url", f"http://127.0.0.1:{port}", "--out", str(out)])
    assert res.exit_code == 1
    assert f"no endpoint at http://127.0.0.1:{port}/v1/generate" in res.output
    assert not out.exists()


# -- `musiclake generate` against a stand-in endpoint: where files go, write errors, a refused key -------------

class _Endpoint:
    """A stand-in for the service: answers POST /v1/generate with a piece and GET of its files with bytes,
    or every request with ``status`` (and its error) when that is not 200."""

    PIECE = {"id": "p1", "seed": 7, "n_notes": 12, "duration_s": 4.0, "elapsed_ms": 41.0,
             "urls": {fmt: f"/v1/pieces/p1.{fmt}" for fmt in ("mid", "wav", "musicxml", "png", "svg")},
             "provenance": {"generator": {"name": "musiclake-generator", "version": 3, "ref": "champion"}},
             "attributes": {"style": "jazz", "bpm": 100.0, "key": "D minor", "time_signature": "4/4", "mood": "sad",
                            "instruments": ["piano"], "chords": ["Dm"], "progression": ["i"], "sources": {}}}

    def __init__(self, status: int = 200):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading

        outer = self
        self.status = status

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, code, body: bytes, ctype: str):
                self.send_response(code)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", 0)))
                if outer.status != 200:
                    return self._answer(outer.status, json.dumps({"error": "missing or unknown API key"}).encode(),
                                        "application/json")
                self._answer(200, json.dumps(outer.PIECE).encode(), "application/json")

            def do_GET(self):
                self._answer(200, b"MThd-" + self.path.encode(), "application/octet-stream")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()



@pytest.fixture
def endpoint():
    ep = _Endpoint()
    yield ep
    ep.close()


def _generate(ep, *args):
    return runner.invoke(app, ["generate", "-p", "jazz", "--url", ep.url, "--api-key", "k", *args])


def test_generate_into_an_existing_folder_writes_generated_mid_there(endpoint, tmp_path):
    res = _generate(endpoint, "--out", str(tmp_path), "--formats", "mid,wav")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "generated.mid").read_bytes() == b"MThd-/v1/pieces/p1.mid"
    assert (tmp_path / "generated.wav").read_bytes() == b"MThd-/v1/pieces/p1.wav"
    assert f"wrote {tmp_path / 'generated.mid'}" in res.output


def test_generate_into_a_new_folder_given_with_a_trailing_slash(endpoint, tmp_path):
    res = _generate(endpoint, "--out", f"{tmp_path}/new/")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "new" / "generated.mid").is_file()


def test_a_file_that_cannot_be_written_is_one_line_naming_it(endpoint, tmp_path):
    (tmp_path / "x.wav").mkdir()  # the WAV's path is taken by a folder
    res = _generate(endpoint, "--out", str(tmp_path / "x.mid"), "--formats", "mid,wav")
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == f"error: cannot write {tmp_path / 'x.wav'}: Is a directory"
    assert "Traceback" not in res.output


def test_a_folder_that_cannot_be_made_fails_before_asking_for_a_piece(tmp_path):
    (tmp_path / "file").write_text("")
    # no endpoint at all: the path is checked first
    res = runner.invoke(app, ["generate", "-p", "jazz", "--url", "http://127.0.0.1:9",
                              "--out", str(tmp_path / "file" / "x.mid")])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        f"error: cannot make the folder {tmp_path / 'file'} for {tmp_path / 'file' / 'x.mid'}: File exists"]


def test_a_refused_key_says_where_keys_come_from(tmp_path):
    ep = _Endpoint(status=401)
    try:
        res = runner.invoke(app, ["generate", "-p", "jazz", "--url", ep.url, "--api-key", "wrong",
                                  "--set", f"serve.api_keys_file={tmp_path}/keys.json"])
    finally:
        ep.close()
    assert res.exit_code == 1
    first, hint = res.output.strip().splitlines()
    assert first == "error: 401 missing or unknown API key"
    assert "`musiclake keys`" in hint and f"serve.api_keys_file, here {tmp_path}/keys.json" in hint
    assert "--api-key" in hint and "$MUSICLAKE_API_KEY" in hint


def test_another_error_gets_no_key_hint():
    ep = _Endpoint(status=422)
    try:
        res = runner.invoke(app, ["generate", "-p", "jazz", "--url", ep.url, "--api-key", "k"])
    finally:
        ep.close()
    assert res.exit_code == 1 and res.output.strip().splitlines() == ["error: 422 missing or unknown API key"]


def test_no_endpoint_names_the_settings_to_change():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = runner.invoke(app, ["generate", "-p", "jazz", "--set", f"serve.port={port}"])
    assert res.exit_code == 1
    [line] = res.output.strip().splitlines()
    assert f"no endpoint at http://127.0.0.1:{port}/v1/generate (from serve.host/serve.port (127.0.0.1:{port}))" in line
    assert "--set serve.port=N" in line and "--url URL" in line


# -- what `musiclake serve` prints: the key only when its file was just made --------------------------------

def test_serve_prints_the_key_only_when_it_was_made_now(tmp_path):
    from common.config import load_config
    from serving.cli import startup_lines
    from serving.guard import ensure_keys

    keys_file = tmp_path / "serve" / "api_keys.json"
    cfg = load_config(overrides=[f"serve.api_keys_file={keys_file}", "serve.port=8123"], environ={})
    keys, made = ensure_keys(cfg.serve.api_keys_file)
    assert made
    key = keys[0]["key"]
    first = startup_lines(cfg, "http://127.0.0.1:8123", "champion -> none yet", keys, made)
    assert f"page:  http://127.0.0.1:8123/#key={key}" in first
    assert any(f"X-API-Key: {key}" in line for line in first)
    assert any("made now" in line for line in first)

    keys, made = ensure_keys(cfg.serve.api_keys_file)  # the next start
    assert not made
    later = startup_lines(cfg, "http://127.0.0.1:8123", "champion -> none yet", keys, made)
    assert not any(key in line or key[:8] in line for line in later), later
    assert not any("#key=" in line for line in later)
    assert any(line.startswith("page:  http://127.0.0.1:8123/ ") for line in later)
    assert any(str(keys_file) in line and "`musiclake keys`" in line for line in later)


def test_serve_without_auth_mentions_no_key(tmp_path):
    from common.config import load_config
    from serving.cli import startup_lines

    cfg = load_config(overrides=["serve.auth=false"], environ={})
    lines = startup_lines(cfg, "http://127.0.0.1:8000", "m", [], False)
    assert "page:  http://127.0.0.1:8000/   (serve.auth is off: no API key needed)" in lines
    assert not any("API keys" in line or "X-API-Key" in line for line in lines)


def test_keys_add_with_a_tenant_or_admin_and_the_listing_says_which(tmp_path):
    keys_file = tmp_path / "keys.json"
    opts = ["--set", f"serve.api_keys_file={keys_file}"]
    made = runner.invoke(app, ["keys", "--add", "ci", "--tenant", "team-a", *opts])
    ops = runner.invoke(app, ["keys", "--add", "ops", "--admin", *opts])
    assert made.exit_code == ops.exit_code == 0 and made.output.strip().startswith("mlk_")
    entries = {k["name"]: k for k in json.loads(keys_file.read_text())["keys"]}
    assert entries["ci"]["tenant"] == "team-a" and entries["ops"]["admin"] is True and "admin" not in entries["ci"]
    listing = runner.invoke(app, ["keys", *opts]).output
    assert "tenant team-a" in listing and "admin" in listing and "tenant default" in listing
    assert made.output.strip() not in listing  # listed by name and prefix, never in full
    lone = runner.invoke(app, ["keys", "--admin", *opts])
    assert lone.exit_code == 2 and "--add NAME" in lone.output
