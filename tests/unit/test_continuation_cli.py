"""`musiclake continue | infill` and `musiclake generate --tension` against a stand-in endpoint that records what
it was sent: the upload, then the route's body; the piece's MIDI written beside the file."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from musiclake.cli import app

runner = CliRunner()
PIECE = {"id": "p1", "seed": 7, "n_notes": 12, "duration_s": 4.0, "elapsed_ms": 41.0, "region": [9, 12],
         "urls": {fmt: f"/v1/pieces/p1.{fmt}" for fmt in ("mid", "wav", "musicxml", "png", "svg")},
         "provenance": {"generator": {"name": "musiclake-generator", "version": 3, "ref": "champion"}},
         "attributes": {"style": "pop", "bpm": 100.0, "key": "D minor", "time_signature": "4/4",
                        "instruments": ["piano"], "chords": ["Dm"], "progression": [], "sources": {}}}


@pytest.fixture
def endpoint():
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: bytes, ctype: str):
            self.send_response(200)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            data = self.rfile.read(int(self.headers.get("content-length", 0)))
            calls.append((self.path, data))
            answer = {"id": "ab" * 10} if self.path == "/v1/uploads" else PIECE
            self._answer(json.dumps(answer).encode(), "application/json")

        def do_GET(self):
            self._answer(b"MThd-" + self.path.encode(), "application/octet-stream")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", calls
    server.shutdown()
    server.server_close()


def test_continue_uploads_the_file_then_asks_for_the_bars(endpoint, tmp_path):
    url, calls = endpoint
    song = tmp_path / "song.mid"
    song.write_bytes(b"MThd-song")
    res = runner.invoke(app, ["continue", str(song), "--bars", "4", "--seed", "3", "--url", url, "--api-key", "k"])
    assert res.exit_code == 0, res.output
    assert calls[0] == ("/v1/uploads", b"MThd-song")
    assert calls[1][0] == "/v1/continue"
    assert json.loads(calls[1][1]) == {"upload": "ab" * 10, "bars": 4, "seed": 3}
    assert (tmp_path / "song-continue.mid").read_bytes() == b"MThd-/v1/pieces/p1.mid"
    assert "bars 9-12" in res.output


def test_infill_sends_the_bar_range_and_track_and_refuses_a_bad_range(endpoint, tmp_path):
    url, calls = endpoint
    song = tmp_path / "song.mid"
    song.write_bytes(b"MThd-song")
    res = runner.invoke(app, ["infill", str(song), "--bars", "5-8", "--track", "1", "--url", url, "--api-key", "k"])
    assert res.exit_code == 0, res.output
    assert json.loads(calls[1][1]) == {"upload": "ab" * 10, "first_bar": 5, "last_bar": 8, "track": 1}
    for bad, says in (("8-5", "last_bar"), ("five", "--bars")):
        res = runner.invoke(app, ["infill", str(song), "--bars", bad, "--url", url])
        assert res.exit_code == 2 and says in res.output and len(res.output.strip().splitlines()) == 1
    assert len(calls) == 2  # nothing sent for a bad range


def test_generate_sends_a_tension_or_a_curve(endpoint, tmp_path):
    url, calls = endpoint
    for arg, sent in (("0.7", 0.7), ("0,0.5,1", [0.0, 0.5, 1.0])):
        res = runner.invoke(app, ["generate", "-p", "a chase", "--tension", arg, "--url", url, "--api-key", "k",
                                  "--out", str(tmp_path / "cue.mid")])
        assert res.exit_code == 0, res.output
        assert json.loads(calls[-1][1])["tension"] == sent
    res = runner.invoke(app, ["generate", "-p", "a chase", "--tension", "2", "--url", url])
    assert res.exit_code == 2 and "tension" in res.output
