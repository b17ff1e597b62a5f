"""The page's education tools in a real browser (headless Chromium): an exercise with its fingering engraved, a
MusicXML melody harmonized with the chord suggestions shown and over the score, a MIDI piece re-arranged as a
string quartet with its measures; the downloads include PNG and SVG; a screenshot is checked."""

import json
from pathlib import Path

import pytest
from test_serving_page import (GENERATE_TIMEOUT_S, MEDIA_READY, SCREENSHOT, _calls, _click, _open, _screenshot,  # noqa: F401
                               _set, _text, _wait, browser)

pytestmark = pytest.mark.serving

ARPEGGIO = {"C": (60, 64, 67, 72), "F": (65, 69, 72, 77), "G": (67, 71, 74, 79)}


def _musicxml(chords: list[str]) -> bytes:
    steps = {60: "C", 62: "D", 64: "E", 65: "F", 67: "G", 69: "A", 71: "B", 72: "C", 74: "D", 77: "F", 79: "G"}
    measures = []
    for i, c in enumerate(chords):
        notes = "".join(f"<note><pitch><step>{steps[p]}</step><octave>{p // 12 - 1}</octave></pitch>"
                        f"<duration>1</duration><type>quarter</type></note>" for p in ARPEGGIO[c])
        attrs = ("<attributes><divisions>1</divisions><key><fifths>0</fifths></key><time><beats>4</beats>"
                 "<beat-type>4</beat-type></time></attributes>") if i == 0 else ""
        measures.append(f'<measure number="{i + 1}">{attrs}{notes}</measure>')
    return ('<?xml version="1.0" encoding="UTF-8"?><score-partwise version="4.0"><part-list><score-part id="P1">'
            f'<part-name>Flute</part-name></score-part></part-list><part id="P1">{"".join(measures)}</part>'
            '</score-partwise>').encode()


def _wait_for_piece(driver, before: str, status_start: str, what: str):
    _wait(driver, lambda d: (_text(d, "#piece-id") != before and d.execute_script(MEDIA_READY)
                             and _text(d, "#status").startswith(status_start)) or _text(d, "#error"),
          GENERATE_TIMEOUT_S, what)
    assert _text(driver, "#error") == ""


def _downloads(driver) -> dict:
    return driver.execute_script(
        "return Object.fromEntries(['mid','wav','musicxml','png','svg'].map(f => "
        "[f, document.querySelector('#download-' + f).href || '']))")


def test_page_exercise_harmonize_and_transfer(browser, served, tmp_path):
    from selenium.webdriver.common.by import By

    _open(browser, served)
    # an exercise: a D major arpeggio over two octaves, its fingering in the engraved score
    browser.execute_script("const k = document.querySelector('#ex-kind'); k.value = 'arpeggio';")
    _set(browser, "#ex-tonic", "D")
    _set(browser, "#ex-octaves", "2")
    before = _text(browser, "#piece-id")
    _click(browser, "#ex-go")
    _wait_for_piece(browser, before, "Exercise written", "the exercise's audio, roll and score")
    (call,) = _calls(browser, "/v1/exercise")
    assert call["status"] == 200 and json.loads(call["body"])["tonic"] == "D"
    assert "D major arpeggio" in _text(browser, "#ed-key")
    assert browser.execute_script("return document.querySelectorAll('#score svg g.fing').length") == 13
    assert all(v.startswith("blob:") for v in _downloads(browser).values())

    # a MusicXML melody harmonized: the suggestions as chips and over the score
    tune = tmp_path / "tune.musicxml"
    tune.write_bytes(_musicxml(["C", "F", "G", "C"]))
    browser.find_element(By.CSS_SELECTOR, "#ed-file").send_keys(str(tune))
    browser.execute_script("const s = document.querySelector('#ed-style'); s.value = 'jazz';")
    before = _text(browser, "#piece-id")
    _click(browser, "#ed-go")
    _wait_for_piece(browser, before, "Harmonized", "the harmonized piece")
    chips = browser.execute_script("return [...document.querySelectorAll('#ed-chords .chord')].map(c => c.textContent)")
    assert chips == ["C I", "F IV", "G V", "C I"]
    assert "key C major" in _text(browser, "#ed-key")
    assert browser.execute_script("return document.querySelectorAll('#score svg g.harm').length") == 4
    (up,) = _calls(browser, "/v1/uploads")
    assert up["status"] == 200
    info = served.get(f"/v1/pieces/{_text(browser, '#piece-id')}").json()
    assert {t["instrument"] for t in info["tracks"]} >= {"saxophone", "acoustic bass", "drums"}

    # the same tune re-arranged as a string quartet: its measures shown
    browser.execute_script("const m = document.querySelector('#ed-mode'); m.value = 'transfer';"
                           "m.dispatchEvent(new Event('change'));"
                           "const s = document.querySelector('#ed-style'); s.value = 'string_quartet';")
    assert _text(browser, "#ed-go") == "Re-arrange"
    assert browser.execute_script("return document.querySelector('#ed-per').closest('.field').hidden")
    before = _text(browser, "#piece-id")
    _click(browser, "#ed-go")
    _wait_for_piece(browser, before, "Re-arranged", "the re-arranged piece")
    measures = _text(browser, "#ed-measures")
    assert "intervals 1.00, onsets 1.00" in measures and "cello" in measures and "viola" in measures
    rows = browser.execute_script(
        "return [...document.querySelectorAll('#tracks tbody tr')].map(r => r.cells[1].textContent)")
    assert sorted(r.split(" ·")[0] for r in rows) == ["cello", "viola", "violin", "violin"]

    shot = SCREENSHOT.with_name("musiclake-page-education.png")
    _screenshot(browser, shot)
    from PIL import Image

    with Image.open(shot) as img:  # a real picture of the page with the quartet's score, not a blank
        assert img.size[0] >= 1000 and len(set(img.convert("L").resize((64, 64)).getdata())) > 8
    assert Path(shot).stat().st_size > 20_000
