"""POST /v1/verify on the served application, and the page's verify tool (headless Chromium, as
test_serving_page.py drives it): a piece the service made, transposed and cut, is found ours and named;
a hand-made file is not ours; a file that is not MIDI is a 422 with one line."""

import json

import pytest
import requests
from symusic import Score

from tests.integration.test_serving_page import _click, _open, _text, _wait, browser  # noqa: F401 - the fixture

pytestmark = pytest.mark.serving


def _post_midi(served, data: bytes) -> requests.Response:
    return requests.post(served.url + "/v1/verify", data=data, timeout=120,
                         headers=served.headers | {"Content-Type": "audio/midi"})


def _disguised(midi: bytes) -> bytes:
    """Transposed down a fourth and cut to its first 8 bars."""
    s = Score.from_midi(midi)
    for t in s.tracks:
        if not t.is_drum:
            for n in t.notes:
                n.pitch = max(0, n.pitch - 5)
    return s.clip(0, s.ticks_per_quarter * 4 * 8).dumps_midi()


@pytest.fixture(scope="module")
def our_piece(served):
    res = served.post("/v1/generate", {"prompt": "a gentle pop love song", "bars": 12, "seed": 7})
    assert res.status_code == 200, res.text
    pid = res.json()["id"]
    midi = served.get(f"/v1/pieces/{pid}.mid")
    assert midi.status_code == 200
    return pid, midi.content


def _hand_made() -> bytes:
    from training.notes import to_score

    melody = [(b, 2 * i, 60 + (3 * b + 5 * i) % 12, 2, 90) for b in range(8) for i in range(8)]
    return to_score({"melody": melody}, {"melody": 0}, 100.0, 4, 4).dumps_midi()


def test_verify_finds_our_disguised_piece_and_refuses_what_is_not_midi(served, our_piece):
    pid, midi = our_piece
    got = _post_midi(served, _disguised(midi))
    assert got.status_code == 200, got.text
    v = got.json()
    assert v["piece_id"] == pid and v["piece_share"] >= 0.5, v  # found in the store by its notes
    assert v["scored"] > 0 and 0.0 <= v["confidence"] <= 1.0 and v["ours"] == (v["z"] >= v["threshold_z"])
    assert v["ours"], v  # the service marks what it writes (the tests' key, tests/conftest.py)
    theirs = _post_midi(served, _hand_made()).json()
    assert not theirs["ours"] and theirs["piece_id"] is None
    bad = _post_midi(served, b"MThd\x00\x00\x00\x06 not really")
    assert bad.status_code == 422 and len(bad.json()["error"].splitlines()) == 1
    assert "/v1/verify" in served.get("/openapi.json").json()["paths"]


def test_page_verify_tool(browser, served, our_piece, tmp_path):  # noqa: F811 - the imported fixture
    from selenium.webdriver.common.by import By

    pid, midi = our_piece
    _open(browser, served)
    for name, data in (("ours.mid", _disguised(midi)), ("theirs.mid", _hand_made())):
        path = tmp_path / name
        path.write_bytes(data)
        expected = _post_midi(served, data).json()
        browser.execute_script("document.querySelector('#verify-result').textContent = ''")
        browser.find_element(By.CSS_SELECTOR, "#verify-file").send_keys(str(path))
        _click(browser, "#verify-go")
        _wait(browser, lambda d: _text(d, "#verify-result") not in ("", "Reading…"), 60, "the verify verdict")
        shown = _text(browser, "#verify-result")
        assert shown.startswith("Ours" if expected["ours"] else "Not ours"), (shown, json.dumps(expected))
        assert expected["verdict"].split(";")[0] in shown
        if expected["piece_id"]:
            assert _text(browser, "#verify-piece") == expected["piece_id"] == pid


def test_what_continue_infill_harmonize_and_transfer_write_is_screened(served):
    """Each answer carries the screening of its new material (the verdict, the lake index read), as generate's."""
    from tests.support.music_lake import piece

    score, _ = piece(3, bars=8)
    up = requests.post(served.url + "/v1/uploads", data=score.dumps_midi(), timeout=60,
                       headers=served.headers | {"content-type": "audio/midi"})
    assert up.status_code == 200, up.text
    uid = up.json()["id"]
    for path, body in (("/v1/continue", {"upload": uid, "bars": 4, "seed": 1}),
                       ("/v1/infill", {"upload": uid, "first_bar": 3, "last_bar": 4, "seed": 1}),
                       ("/v1/harmonize", {"melody": uid}), ("/v1/transfer", {"piece": uid, "style": "jazz"})):
        res = served.post(path, body)
        assert res.status_code == 200, (path, res.text)
        sim = res.json()["similarity"]
        assert sim["near_copy"] is False and sim["verdict"] and sim["attempts"] >= 1, (path, sim)
        stored = served.get(f"/v1/pieces/{res.json()['id']}").json()
        assert stored["similarity"] == sim, path
