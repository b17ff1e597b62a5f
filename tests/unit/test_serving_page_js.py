"""The page's duration format (serving/static/app.js ``formatDuration``), run with node: a recommendation that
took 41 ms reads "41 ms", not "0.0 s"."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

APP_JS = Path(__file__).resolve().parents[2] / "serving" / "static" / "app.js"
NODE = shutil.which("node")


def _function(source: str, name: str) -> str:
    """The text of the top-level ``function name(...) {...}`` in ``source``, up to its matching brace."""
    start = source.index(f"\nfunction {name}(") + 1
    depth = 0
    for i in range(source.index("{", start), len(source)):
        depth += {"{": 1, "}": -1}.get(source[i], 0)
        if depth == 0:
            return source[start:i + 1]
    raise AssertionError(f"{name} has no closing brace")


def _format(values: list) -> list[str]:
    script = ('"use strict";\n' + _function(APP_JS.read_text(), "formatDuration")
              + f"\nprocess.stdout.write(JSON.stringify({json.dumps(values)}.map(formatDuration)));")
    done = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_durations_under_a_second_are_milliseconds_and_longer_ones_seconds():
    assert _format([0, 0.4, 41, 41.6, 999.4, 999.6, 1000, 1234, 12_345, 61_000]) == [
        "0 ms", "0 ms", "41 ms", "42 ms", "999 ms", "1.0 s", "1.0 s", "1.2 s", "12.3 s", "61.0 s"]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_a_missing_duration_is_not_shown_as_a_number():
    assert _format([None, -5, "41"]) == ["?", "?", "?"]


def test_every_duration_the_page_shows_goes_through_it():
    source = APP_JS.read_text()
    rest = source.replace(_function(source, "formatDuration"), "")
    assert "{s} s" not in rest and "/ 1000).toFixed(1)" not in rest  # the old "0.0 s" formatting
    assert rest.count("formatDuration(") >= 4  # the ticker, done(), the server's time, the timings table


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_page_script_parses():
    done = subprocess.run([NODE, "--check", str(APP_JS)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
