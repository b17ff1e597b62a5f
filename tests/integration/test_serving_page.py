"""The page at ``/`` in a real browser (headless Chromium): prompt → Recommend → edit → Generate → listen.

The served application is the session's (tests/integration/conftest.py). Chromium and its driver are
Debian packages (``make setup`` → the Makefile's ``system-packages``); selenium talks to
/usr/bin/chromedriver directly, so selenium-manager never looks anything up on the network.
"""

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.serving

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOT = Path(tempfile.gettempdir()) / "musiclake-page.png"
GENERATE_TIMEOUT_S = 120

# Wraps fetch once the page has loaded: every /v1 call's method, path, body and status, for the asserts.
RECORD_FETCH = """
if (!window.__calls) {
  window.__calls = [];
  const orig = window.fetch;
  window.fetch = async (input, init = {}) => {
    const entry = {path: String(input), method: init.method || 'GET', body: init.body || null,
                   key: (init.headers || {})['X-API-Key'] || null, status: null};
    window.__calls.push(entry);
    const res = await orig(input, init);
    entry.status = res.status;
    return res;
  };
}
window.__calls.length = 0;
"""
# Records whether #generate was ever disabled (the busy state) since it was installed.
WATCH_BUSY = """
window.__wasBusy = false;
const b = document.querySelector('#generate');
new MutationObserver(() => { if (b.disabled) window.__wasBusy = true; })
  .observe(b, {attributes: true, attributeFilter: ['disabled']});
"""
MEDIA_READY = """
const a = document.querySelector('#audio'), img = document.querySelector('#roll');
const svg = document.querySelector('#score svg');
return a.readyState >= 1 && a.duration > 0 && img.complete && img.naturalWidth > 0
  && !!svg && svg.querySelectorAll('g.note').length > 0
  && ['mid', 'wav', 'musicxml'].every(f => (document.querySelector('#download-' + f).href || '').startsWith('blob:'));
"""


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: the page test drives Debian's Chromium headless; "
                    "`make setup` installs it (the Makefile target system-packages installs chromium and "
                    "chromium-driver)", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    old = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager must not run (no network here)
    profile = tempfile.mkdtemp(prefix="musiclake-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,1800", "--autoplay-policy=user-gesture-required",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        if old is None:
            os.environ.pop("SE_OFFLINE", None)
        else:
            os.environ["SE_OFFLINE"] = old


def _wait(driver, condition, timeout: float, what: str):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(condition)
    except TimeoutException:
        shot = SCREENSHOT.with_name("musiclake-page-timeout.png")
        driver.save_screenshot(str(shot))
        state = driver.execute_script(
            "return {error: document.querySelector('#error').textContent, "
            "status: document.querySelector('#status').textContent}")
        pytest.fail(f"timed out after {timeout} s waiting for {what}; page: {state}; screenshot {shot}")


def _text(driver, css: str) -> str:
    return driver.execute_script("return document.querySelector(arguments[0]).textContent", css).strip()


def _value(driver, css: str) -> str:
    return driver.execute_script("return document.querySelector(arguments[0]).value", css)


def _set(driver, css: str, value: str):
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.CSS_SELECTOR, css)
    field.clear()
    field.send_keys(value)


def _click(driver, css: str):
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, css).click()


def _calls(driver, path_end: str) -> list[dict]:
    return [c for c in driver.execute_script("return window.__calls") if c["path"].endswith(path_end)]


def _open(driver, served):
    # a fresh document each time: from the page itself, a link that differs only in its #fragment is no load
    driver.get("about:blank")
    driver.get(served.url + "/#key=" + served.key)
    _wait(driver, lambda d: d.execute_script("return document.readyState") == "complete", 30, "the page to load")
    driver.execute_script(RECORD_FETCH)


def _recommend(driver, prompt: str) -> dict:
    _set(driver, "#prompt", prompt)
    _click(driver, "#recommend")
    _wait(driver, lambda d: _value(d, "#bpm") != "" or _text(d, "#error"), 60, "Recommend to fill the fields")
    assert _text(driver, "#error") == ""
    fields = {name: _value(driver, "#" + name) for name in
              ("bpm", "key", "time-signature", "instruments", "chords", "style")}
    assert float(fields["bpm"]) > 0
    assert fields["key"].split()[-1] in ("major", "minor")
    assert fields["time-signature"].count("/") == 1
    assert fields["instruments"] and fields["chords"] and fields["style"]
    badges = driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('[data-source-for]')]"
        ".map(b => [b.dataset.sourceFor, b.textContent]))")
    sources = {"request", "prompt", "keyword", "inferred", "likely", "clap", "derived", "default"}
    for name in ("style", "bpm", "key", "time_signature", "instruments", "chords"):
        assert badges[name] in sources, (name, badges)
    return fields


def _generate(driver) -> dict:
    assert not driver.execute_script(MEDIA_READY)
    driver.execute_script(WATCH_BUSY)
    _click(driver, "#generate")
    _wait(driver, lambda d: d.execute_script(MEDIA_READY) or _text(d, "#error"), GENERATE_TIMEOUT_S,
          "the WAV, piano roll, score and downloads")
    assert _text(driver, "#error") == ""
    assert driver.execute_script("return window.__wasBusy"), "Generate was not disabled while the request ran"
    _wait(driver, lambda d: not d.execute_script("return document.querySelector('#generate').disabled"), 30,
          "Generate to be enabled again")
    status = _text(driver, "#status")  # each duration in ms under a second, else in seconds: never "0.0 s"
    assert re.match(r"Done in \d+(?: ms|\.\d s) \(generation \d+(?: ms|\.\d s) on the server\)", status), status
    (call,) = _calls(driver, "/v1/generate")
    assert call["status"] == 200 and call["method"] == "POST"
    return json.loads(call["body"])


def _check_piece(driver, served, bars: int):
    piece_id = _text(driver, "#piece-id")
    assert len(piece_id) == 20
    media = driver.execute_script("""
        const a = document.querySelector('#audio'), img = document.querySelector('#roll');
        const dl = f => { const x = document.querySelector('#download-' + f); return [x.href, x.download]; };
        return {duration: a.duration, paused: a.paused, src: a.src, roll: img.naturalWidth, rollSrc: img.src,
                notes: document.querySelectorAll('#score svg g.note').length,
                mid: dl('mid'), wav: dl('wav'), musicxml: dl('musicxml')}""")
    assert media["duration"] > 0 and media["paused"], media  # loadable, and nothing plays by itself
    assert media["src"].startswith("blob:") and media["rollSrc"].startswith("blob:")
    assert media["roll"] > 0 and media["notes"] > 0
    for fmt in ("mid", "wav", "musicxml"):
        href, name = media[fmt]
        assert href.startswith("blob:") and name == f"musiclake-{piece_id}.{fmt}", (fmt, href, name)
    # every file went out with the key
    files = [c for c in driver.execute_script("return window.__calls") if "/v1/pieces/" in c["path"]]
    assert {c["path"].rsplit(".", 1)[1] for c in files} == {"mid", "wav", "musicxml", "png", "svg"}
    assert all(c["key"] == served.key and c["status"] == 200 for c in files), files
    # the per-track table and the chords, as the server describes the piece
    info = served.get(f"/v1/pieces/{piece_id}").json()
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#tracks tbody tr')].map(r => [...r.cells].map(c => c.textContent))")
    assert len(rows) == len(info["tracks"]) > 0
    for row, track in zip(rows, info["tracks"]):
        assert row[0].startswith(track["role"]) and row[1].startswith(track["instrument"])
        assert row[3] == str(track["n_notes"])
        assert ("model" in row[2]) == (track["source"] == "model")
    assert len(info["chords"]) == bars
    chips = driver.execute_script(
        "return [...document.querySelectorAll('#result-chords .chord')].map(c => c.textContent)")
    assert chips == info["chords"]
    summary = _text(driver, "#summary")
    gen = info["provenance"]["generator"]
    assert f"v{gen['version']}" in summary and f"seed {info['seed']}" in summary
    assert "total" in _text(driver, "#timings")
    return info


def _screenshot(driver, path: Path):
    """The whole page (the window grows to its height for the shot)."""
    width, height = driver.execute_script(
        "return [window.outerWidth, Math.max(document.documentElement.scrollHeight, 600)]")
    driver.set_window_size(width, min(height + 140, 6000))
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1800)


def test_page_english_prompt_to_audio(browser, served):
    _open(browser, served)
    assert "#key=" not in browser.current_url  # the fragment is read, then removed from the address bar
    assert browser.execute_script("return localStorage.getItem('musiclake.apiKey')") == served.key
    assert _value(browser, "#api-key") == served.key
    # the model select lists the registered versions (v2 champion, v1) and the aliases
    _wait(browser, lambda d: d.execute_script("return document.querySelector('#model').options.length") > 2, 30,
          "the model select to fill")
    options = browser.execute_script("return [...document.querySelector('#model').options].map(o => o.value)")
    assert options[0] == "" and {"1", "2", "champion"} <= set(options), options

    fields = _recommend(browser, "relaxed cafe afternoon with a touch of electronic")
    (rec,) = _calls(browser, "/v1/recommend")
    assert json.loads(rec["body"]) == {"prompt": "relaxed cafe afternoon with a touch of electronic"}
    assert rec["key"] == served.key

    _set(browser, "#bars", "2")
    body = _generate(browser)
    # the recommended attributes travel with the prompt; derived chords are left to the server
    assert body["bars"] == 2 and body["bpm"] == float(fields["bpm"]) and body["key"] == fields["key"]
    assert body["time_signature"] == fields["time-signature"]
    info = _check_piece(browser, served, bars=2)
    assert info["attributes"]["bpm"] == float(fields["bpm"])
    assert info["provenance"]["generator"]["version"] == 2  # the champion, by default
    _screenshot(browser, SCREENSHOT)


def test_page_chinese_prompt_edited_fields(browser, served):
    _open(browser, served)
    fields = _recommend(browser, "咖啡馆午后的轻松氛围，加一点电子元素")
    # an edited field wins and is marked; an explicit model version is used
    bpm = round(float(fields["bpm"])) + 7
    _set(browser, "#bpm", str(bpm))
    assert _text(browser, "[data-source-for='bpm']") == "edited"
    _set(browser, "#chords", "Am F C G")
    _set(browser, "#bars", "2")
    _set(browser, "#seed", "7")
    browser.execute_script("const m = document.querySelector('#model'); m.value = '1';"
                           "m.dispatchEvent(new Event('change'))")
    body = _generate(browser)
    assert body["bpm"] == bpm and body["chords"] == ["Am", "F", "C", "G"] and body["seed"] == 7
    assert body["model"] == "1" and body["prompt"].startswith("咖啡馆")
    info = _check_piece(browser, served, bars=2)
    assert info["seed"] == 7 and info["attributes"]["bpm"] == bpm
    assert info["attributes"]["sources"]["bpm"] == "request"
    assert info["chords"] == ["Am", "F"]
    assert info["provenance"]["generator"]["version"] == 1
    assert f"{bpm} BPM" in _text(browser, "#summary")
    _screenshot(browser, SCREENSHOT.with_name("musiclake-page-zh.png"))


def test_page_wrong_key_shows_401(browser, served):
    _open(browser, served)
    _set(browser, "#api-key", "mlk_not_a_real_key")
    _set(browser, "#prompt", "a quiet piano waltz")
    _set(browser, "#bars", "2")
    _click(browser, "#generate")
    _wait(browser, lambda d: _text(d, "#error"), 30, "an error message")
    error = _text(browser, "#error")
    assert "401" in error and "API key" in error, error
    assert not browser.execute_script("return document.querySelector('#generate').disabled")
    # the rejected request did carry the (wrong) key
    assert all(c["key"] == "mlk_not_a_real_key" and c["status"] == 401 for c in _calls(browser, "/v1/generate"))
    # and without any key the message says so
    _set(browser, "#api-key", "")
    browser.execute_script("document.querySelector('#api-key').dispatchEvent(new Event('change'))")
    _click(browser, "#generate")
    _wait(browser, lambda d: "missing API key" in _text(d, "#error"), 30, "the missing-key message")
    assert "401" in _text(browser, "#error")
    # a #key= link opened on the page already open (no reload, only a hash change) still sets the key
    browser.get(served.url + "/#key=" + served.key)
    _wait(browser, lambda d: _value(d, "#api-key") == served.key, 10, "the key from the new fragment")
    _wait(browser, lambda d: "#key=" not in d.current_url, 10, "the fragment to be removed")


def test_page_tension_curve_and_continue_and_infill_an_upload(browser, served, tmp_path):
    """Film scoring's tension reaches /v1/generate; a MIDI file continued and infilled from the page plays."""
    from training.notes import to_score

    _open(browser, served)
    _set(browser, "#prompt", "a tense chase cue")
    _set(browser, "#bars", "4")
    _set(browser, "#tension-curve", "0 0.5 1")
    body = _generate(browser)
    assert body["tension"] == [0, 0.5, 1]
    _check_piece(browser, served, 4)
    # a curve cleared, the slider alone sends one number
    _set(browser, "#tension-curve", "")
    browser.execute_script("const t = document.querySelector('#tension'); t.value = '0.8';"
                           "t.dispatchEvent(new Event('input'))")
    assert _text(browser, "#tension-value") == "0.80"

    melody = [(b, 4 * i, 72 + (b + i) % 5, 4, 90) for b in range(4) for i in range(4)]
    chords = [(b, 0, p, 16, 70) for b in range(4) for p in (60, 64, 67)]
    song = tmp_path / "mine.mid"
    song.write_bytes(to_score({"melody": melody, "harmony": chords}, {"melody": 73, "harmony": 0}, 100.0, 4, 4)
                     .dumps_midi())
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, "#fu-file").send_keys(str(song))
    for mode, fields, region in (("continue", {"#fu-bars": "2"}, [5, 6]),
                                 ("infill", {"#fu-first": "2", "#fu-last": "3", "#fu-track": ""}, [2, 3])):
        browser.execute_script("const m = document.querySelector('#fu-mode'); m.value = arguments[0];"
                               "m.dispatchEvent(new Event('change'))", mode)
        shown = browser.execute_script("return [...document.querySelectorAll('#from-upload [data-mode]')]"
                                       ".filter(f => getComputedStyle(f).display !== 'none').map(f => f.dataset.mode)")
        assert shown and set(shown) == {mode}, shown  # only the fields of the chosen mode
        for css, value in fields.items():
            _set(browser, css, value)
        browser.execute_script("window.__calls.length = 0")
        before = _text(browser, "#piece-id")
        _click(browser, "#fu-go")
        _wait(browser, lambda d: (_text(d, "#piece-id") != before and d.execute_script(MEDIA_READY)
                                  and _text(d, "#status").startswith("Wrote")) or _text(d, "#error"),
              GENERATE_TIMEOUT_S, f"the {mode} piece's audio, roll and score")
        assert _text(browser, "#error") == ""
        (call,) = _calls(browser, f"/v1/{mode}")
        assert call["status"] == 200 and json.loads(call["body"])["upload"]
        status = _text(browser, "#status")
        assert status.startswith(f"Wrote bars {region[0]}–{region[1]}"), status
        info = served.get(f"/v1/pieces/{_text(browser, '#piece-id')}").json()
        assert {t["source"] for t in info["tracks"]} >= {"model"}
    _screenshot(browser, SCREENSHOT.with_name("musiclake-page-from-upload.png"))
    shot = SCREENSHOT.with_name("musiclake-page-from-upload.png")
    from PIL import Image

    with Image.open(shot) as img:  # the page with the infilled piece: a real picture, not a blank
        assert img.size[0] >= 1000 and len(set(img.convert("L").resize((64, 64)).getdata())) > 8
