"""The serving CLI without an endpoint: recommend, config and request errors, an unreachable URL."""

import json
import socket

from typer.testing import CliRunner

from serving.cli import app

runner = CliRunner()


def test_recommend_prints_attributes_with_their_sources():
    res = runner.invoke(app, ["recommend", "--prompt", "咖啡馆午后的轻松氛围,带点电子音乐元素", "--bpm", "92"])
    assert res.exit_code == 0, res.output
    lines = {line.split()[0]: line for line in res.output.splitlines()}
    assert "electronic" in lines["style"] and lines["style"].endswith("[keyword]")
    assert "92" in lines["bpm"] and lines["bpm"].endswith("[request]")
    assert "C - G - Am - F" in lines["chords"] and "(I - V - vi - IV)" in lines["chords"]


def test_recommend_as_json():
    res = runner.invoke(app, ["recommend", "-p", "sad jazz", "--key", "Dm", "--json"])
    assert res.exit_code == 0, res.output
    attrs = json.loads(res.output)
    assert (attrs["style"], attrs["key"], attrs["mood"]) == ("jazz", "D minor", "sad")
    assert attrs["sources"]["key"] == "request"


def test_config_error_exits_2_with_one_line():
    res = runner.invoke(app, ["recommend", "-p", "jazz", "--set", "serve.prot=1"])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == ["config error: serve.prot: unknown key [from --set serve.prot]"]


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
