"""The key agreement report: how two keys relate, and the lake's key against music21 on a real exported chorale."""

from __future__ import annotations

import json

import pytest

from common.corpus_export import catalog, export_piece
from lake.key_agreement import main, piece_keys, relation, summarize

C, D, E, F, G, A = 0, 2, 4, 5, 7, 9


@pytest.mark.parametrize("ours, ref, expected", [
    ((C, "major"), (C, "major"), "exact"),
    ((G, "major"), (C, "major"), "fifth"), ((F, "major"), (C, "major"), "fifth"),
    ((D, "minor"), (A, "minor"), "fifth"),
    ((A, "minor"), (C, "major"), "relative"), ((C, "major"), (A, "minor"), "relative"),
    ((C, "minor"), (C, "major"), "parallel"), ((A, "major"), (A, "minor"), "parallel"),
    ((D, "major"), (C, "major"), "other"), ((E, "minor"), (C, "major"), "other"),
    ((C, "major"), (E, "minor"), "other"),
])
def test_relation(ours, ref, expected):
    assert relation(ours, ref) == expected


def test_summary_shares_and_mirex_score():
    rows = [{"lake": (C, "major"), "ref": (C, "major")}, {"lake": (G, "major"), "ref": (C, "major")},
            {"lake": (A, "minor"), "ref": (C, "major")}, {"lake": (D, "major"), "ref": (C, "major")},
            {"lake": (C, "major")}]  # no reference: not counted
    s = summarize(rows, "ref")
    assert s["n"] == 4 and s["counts"] == {"exact": 1, "fifth": 1, "relative": 1, "parallel": 0, "other": 1}
    assert s["mirex"] == pytest.approx((1 + 0.5 + 0.3) / 4)


@pytest.fixture(scope="module")
def chorale_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("key-site")
    c = next(c for c in catalog()["bach"] if c.slug == "bwv276")
    result = export_piece(c, str(site / "midi" / "bwv276.mid"))
    assert "error" not in result, result
    piece = {"slug": c.slug, "collection": c.collection, "midi": "midi/bwv276.mid", "corpus_path": c.corpus_path,
             "number": None, "sha256": "0" * 64}
    (site / "manifest.json").write_text(json.dumps({"pieces": [piece]}))
    return site, piece


def test_lake_key_of_a_chorale_against_music21(chorale_site):
    site, piece = chorale_site
    keys = piece_keys(piece, str(site))
    assert "error" not in keys
    # BWV 276 "Christ ist erstanden" closes on D; music21 reads D minor (Dorian) from the score and the MIDI alike
    assert keys["score_key"] == keys["midi_key"] == (D, "minor")
    assert relation(keys["lake"], keys["score_key"]) in ("exact", "relative", "parallel", "fifth")


def test_cli_prints_the_table(chorale_site, capsys):
    site, _ = chorale_site
    assert main(["--site", str(site), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "music21 analyze('key') on the corpus score" in out and "bach-chorales" in out and "MIREX" in out
    assert main(["--site", str(site / "nowhere")]) == 2
