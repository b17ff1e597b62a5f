"""The education verbs on the command line: files written, bad input one line and exit 1."""

from symusic import Score
from typer.testing import CliRunner

from musiclake.cli import app

runner = CliRunner()


def test_exercise_writes_midi_and_a_score_with_fingering(tmp_path):
    out = tmp_path / "scale.mid"
    r = runner.invoke(app, ["exercise", "--tonic", "D", "--difficulty", "2", "--out", str(out),
                            "--formats", "mid,musicxml"])
    assert r.exit_code == 0, r.output
    assert "D4(1) E4(2) F#4(3)" in r.output
    notes = Score.from_midi(out.read_bytes()).tracks[0].notes
    assert [n.pitch for n in notes][:8] == [62, 64, 66, 67, 69, 71, 73, 74]
    assert out.with_suffix(".musicxml").read_text().count("<fingering") == 15


def test_harmonize_and_transfer_a_file(tmp_path):
    tune = tmp_path / "tune.mid"
    runner.invoke(app, ["exercise", "--kind", "arpeggio", "--tonic", "F", "--out", str(tune), "--formats", "mid"])
    r = runner.invoke(app, ["harmonize", str(tune), "--out", str(tmp_path / "h.mid"), "--formats", "mid"])
    assert r.exit_code == 0, r.output
    assert "key F major" in r.output and "F       I" in r.output
    r = runner.invoke(app, ["transfer", str(tune), "--style", "jazz", "--out", str(tmp_path / "j.mid"),
                            "--formats", "mid"])
    assert r.exit_code == 0, r.output
    assert "melody kept: intervals 1.00" in r.output


def test_bad_input_is_one_line_and_exit_1(tmp_path):
    junk = tmp_path / "junk.mid"
    junk.write_bytes(b"not music")
    for args in (["harmonize", str(junk)], ["exercise", "--scale", "bebop"], ["transfer", str(tmp_path / "none.mid")],
                 ["harmonize", str(junk), "--formats", "mp3"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 1, (args, r.output)
        lines = [x for x in r.output.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, r.output)
