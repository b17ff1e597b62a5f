"""The evaluate stage over explicit requests, with a small rule-based generator written here.

:class:`RuleGenerator` is a real generator, not a mock: it writes the requested tempo, meter,
chords and instruments as notes with symusic (a tune of chord tones, block chords on every beat, a
bass on the downbeats, a drum kit), so the measured figures can be predicted. :class:`WrongKey`
writes the same music a tritone away from the request.
"""

from __future__ import annotations

import json
import time

import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from lake.vocab import CHORD_QUALITIES, tempo_bin
from training import evaluate as E
from training.request import PieceRequest, PieceResult, TrackResult

TPQ = 480
SIXTEENTH = TPQ // 4


class RuleGenerator:
    """Writes every attribute of a request as notes; ``shift`` transposes it all (a wrong key)."""

    shift = 0

    def generate(self, req: PieceRequest) -> PieceResult:
        t0 = time.perf_counter()
        plan = req.resolve()
        compound = plan.denominator == 8 and plan.numerator % 3 == 0
        beat = 6 * SIXTEENTH if compound else 16 // plan.denominator * SIXTEENTH
        bar = plan.bar_steps * SIXTEENTH
        beats = bar // beat
        score = Score(TPQ)
        score.tempos.append(Tempo(0, float(req.bpm)))
        score.time_signatures.append(TimeSignature(0, plan.numerator, plan.denominator))
        results = []
        for track in plan.tracks:
            t = Track(track.instrument, max(track.program, 0), track.program < 0)
            for b, (root, quality) in enumerate(plan.chord_pcs):
                root = (root + self.shift) % 12
                tones = [root + iv for iv in CHORD_QUALITIES[quality][:3]]
                start = b * bar
                for k in range(beats):
                    at = start + k * beat
                    if track.role == "melody":
                        t.notes.append(Note(at, beat * 9 // 10, 72 + tones[k % 3] % 12, 90))
                    elif track.role == "harmony":
                        for p in tones:
                            t.notes.append(Note(at, beat * 9 // 10, 60 + p % 12, 70))
                    elif track.role == "bass" and k % 2 == 0:
                        t.notes.append(Note(at, beat * 19 // 10, 36 + root, 95))
                    elif track.role == "drums":
                        t.notes.append(Note(at, SIXTEENTH, 36 if k % 2 == 0 else 38, 100))
                        t.notes.append(Note(at + beat // 2, SIXTEENTH, 42, 60))
            score.tracks.append(t)
            results.append(TrackResult(role=track.role, instrument=track.instrument, program=track.program,
                                       source="arranger", n_notes=t.note_num(), doubles=track.doubles))
        midi = score.dumps_midi()
        return PieceResult(midi=midi, request=req, chords=list(plan.chords), tracks=results, seed=req.seed or 0,
                           n_notes=sum(r.n_notes for r in results), duration_s=req.bars * bar / TPQ * 60 / req.bpm,
                           n_steps=0, elapsed_ms=(time.perf_counter() - t0) * 1000)


class WrongKey(RuleGenerator):
    shift = 6


class FailsOnJazz(RuleGenerator):
    def generate(self, req: PieceRequest) -> PieceResult:
        if req.style == "jazz":
            raise RuntimeError("no jazz today")
        return super().generate(req)


CASES = [
    E.EvalCase("pop-d", "request", 1, bars=8, fields=dict(
        style="pop", bpm=100, key="D major", time_signature="4/4",
        instruments=["flute", "piano", "acoustic bass", "drums"], progression=["I", "IV", "V", "I"])),
    E.EvalCase("waltz-am", "request", 2, bars=8, fields=dict(
        style="classical", bpm=132, key="A minor", time_signature="3/4",
        instruments=["violin", "piano", "acoustic bass"], chords=["Am", "Dm", "E", "Am"])),
    E.EvalCase("jazz-eb", "request", 3, bars=8, fields=dict(
        style="jazz", bpm=150, key="Eb major", time_signature="4/4",
        instruments=["saxophone", "electric piano", "acoustic bass", "drums"], chords=["Eb", "Ab", "Bb7", "Eb"])),
]


@pytest.fixture(scope="module")
def report():
    return E.evaluate(RuleGenerator(), CASES, progress=False)


def test_a_generator_that_does_what_is_asked_meets_every_target(report):
    m = report.metrics()
    assert m["n_cases"] == 3 and m["n_failed"] == 0
    assert m["bpm_error_median_pct"] < 0.5
    assert m["tempo_bin_hit_pct"] == 100.0
    assert m["key_exact_pct"] == 100.0
    assert m["chord_accuracy_pct"] == 100.0
    assert m["instruments_present_pct"] == 100.0
    assert m["time_signature_hit_pct"] == 100.0
    assert m["tracks_with_notes_median"] == 4.0
    assert report.passed and all(report.checks().values())
    assert report.metrics("request")["n_cases"] == 3 and report.metrics("en")["n_cases"] == 0


def test_per_case_rows_say_what_was_measured(report):
    rows = {r["id"]: r for r in report.rows()}
    assert rows["waltz-am"]["meter_measured"] == "3/4"
    assert rows["waltz-am"]["key_measured"] == "A minor"
    assert rows["jazz-eb"]["chords_requested"] == "Eb:maj Ab:maj Bb:7 Eb:maj Eb:maj Ab:maj Bb:7 Eb:maj"
    assert rows["pop-d"]["instruments_requested"] == "-1 0 32 73"
    assert rows["pop-d"]["sources"] == "melody:arranger,harmony:arranger,bass:arranger,drums:arranger"
    assert "id,lang,kind" in report.csv().splitlines()[0]


def test_the_table_shows_targets_and_verdicts(report):
    table = report.table()
    assert "median BPM error %" in table and "<= 2" in table and ">= 85" in table
    assert "FAIL" not in table and "all targets met" in table


def test_a_wrong_key_generator_scores_zero_on_key():
    bad = E.evaluate(WrongKey(), CASES, progress=False)
    m = bad.metrics()
    assert m["key_exact_pct"] == 0.0
    assert m["chord_accuracy_pct"] == 0.0  # a tritone away, every chord is wrong too
    assert m["tempo_bin_hit_pct"] == 100.0  # what it did right still counts
    assert not bad.passed and bad.checks()["key_exact_pct"] is False
    assert "FAIL" in bad.table()


def test_a_failing_case_is_a_miss_not_the_end():
    rep = E.evaluate(FailsOnJazz(), CASES, progress=False)
    m = rep.metrics()
    assert m["n_failed"] == 1
    assert m["tempo_bin_hit_pct"] == pytest.approx(200 / 3, abs=0.01)
    assert m["instruments_present_pct"] == pytest.approx(100 * 7 / 8, abs=0.01)  # 4 + 3 of 4 + 3 + 1
    failed = [r for r in rep.results if not r.ok]
    assert failed[0].case.id == "jazz-eb" and "no jazz today" in failed[0].error


def test_the_fixed_eval_set_loads_and_covers_what_it_must():
    cases = E.load_eval_set()
    assert 24 <= len(cases) <= 32
    assert len({c.id for c in cases}) == len(cases)
    langs = {c.lang for c in cases}
    assert langs == {"en", "zh", "request"}
    explicit = [c.to_request() for c in cases if c.kind == "request"]
    assert {r.time_signature for r in explicit} >= {"4/4", "3/4", "6/8", "2/4"}
    assert len({tempo_bin(r.bpm) for r in explicit}) >= 7  # every MidiCaps bin from 40 to 210 BPM
    assert any(r.key.endswith("minor") for r in explicit) and any("b" in r.key.split()[0] for r in explicit)
    assert all(c.bars == 16 for c in cases)


def test_a_bad_eval_set_is_refused_in_one_line(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text("cases:\n  - {id: a, kind: request, seed: 1, bpm: 500}\n")
    with pytest.raises(E.EvalSetError, match="case 0 \\(a\\)"):
        E.load_eval_set(path)
    path.write_text("cases:\n  - {id: a, kind: song, seed: 1}\n")
    with pytest.raises(E.EvalSetError, match="kind must be"):
        E.load_eval_set(path)


def test_log_to_mlflow_writes_metrics_tags_and_the_case_table(cfg, report):
    from training.registry import client as mlflow_client

    c = mlflow_client(cfg)
    exp = c.get_experiment_by_name("eval-tests") or c.create_experiment("eval-tests")
    exp_id = exp if isinstance(exp, str) else exp.experiment_id
    run = c.create_run(exp_id)
    logged = E.log_to_mlflow(c, run.info.run_id, report)
    got = c.get_run(run.info.run_id)
    assert got.data.metrics["eval.key_exact_pct"] == 100.0
    assert got.data.metrics["eval.request.chord_accuracy_pct"] == 100.0
    assert logged["eval.bpm_error_median_pct"] == got.data.metrics["eval.bpm_error_median_pct"]
    assert got.data.tags["eval.passed"] == "true"
    assert got.data.tags["eval.target.instruments_present_pct"] == "pass"
    local = c.download_artifacts(run.info.run_id, "eval/cases.json")
    with open(local, encoding="utf-8") as f:
        assert [r["id"] for r in json.load(f)] == ["pop-d", "waltz-am", "jazz-eb"]


def _rule_pyfunc():
    """An MLflow PythonModel whose generator is a :class:`RuleGenerator` (as the registry loads them)."""
    import mlflow.pyfunc

    class RuleModel(mlflow.pyfunc.PythonModel):
        def load_context(self, context) -> None:
            self.generator = RuleGenerator()

        def predict(self, context, model_input: list[str], params=None) -> list[str]:
            return []

    return RuleModel()


def test_evaluate_version_loads_the_registered_model_and_logs_a_tagged_run(tmp_path):
    import mlflow
    from typer.testing import CliRunner

    from training.eval_cli import app

    from tests.support.config import make_config
    from training import registry

    cfg = make_config(tmp_path)
    c = registry.client(cfg)
    exp_id = c.create_experiment(cfg.mlflow.experiment, artifact_location=cfg.mlflow.artifact_location)
    with mlflow.start_run(experiment_id=exp_id):
        info = mlflow.pyfunc.log_model(name="model", python_model=_rule_pyfunc(), pip_requirements=["mlflow"])
    mv = mlflow.register_model(info.model_uri, registry.MODEL_NAME)
    c.set_registered_model_alias(registry.MODEL_NAME, registry.CHAMPION, mv.version)

    rep = E.evaluate_version(cfg, "champion", cases=CASES[:2], progress=False)
    assert rep.model == f"{registry.MODEL_NAME} v{mv.version}" and rep.passed
    run = c.get_run(rep.run_id)
    assert run.info.experiment_id == exp_id and run.info.status == "FINISHED"
    assert run.data.tags["model_name"] == registry.MODEL_NAME
    assert run.data.tags["model_version"] == str(mv.version) and run.data.tags["model_ref"] == "champion"
    assert run.data.metrics["eval.n_cases"] == 2 and run.data.metrics["eval.key_exact_pct"] == 100.0
    with pytest.raises(registry.ModelNotFound):
        E.evaluate_version(cfg, "challenger", cases=CASES[:1], progress=False)

    # the command line: the same, printed, with a set file of its own and a limit
    entries = [f"  - {{id: c{i}, kind: request, seed: {i}, bpm: {bpm}, key: G major}}\n"
               for i, bpm in enumerate((90, 140, 70))]
    (tmp_path / "set.yaml").write_text("bars: 4\ncases:\n" + "".join(entries))
    overrides = ["--set", f"mlflow.tracking_uri=sqlite:///{tmp_path}/mlflow.db",
                 "--set", f"mlflow.artifact_location={tmp_path}/mlartifacts"]
    out = CliRunner().invoke(app, ["--model", str(mv.version), "--eval-set", str(tmp_path / "set.yaml"),
                                   "--limit", "2", *overrides])
    assert out.exit_code == 0, out.output
    assert "cases" in out.output and "logged to MLflow run" in out.output
    runs = c.search_runs([exp_id], "tags.model_ref = '%s'" % mv.version)
    assert len(runs) == 1 and runs[0].data.metrics["eval.n_cases"] == 2
    missing = CliRunner().invoke(app, ["--model", "challenger", *overrides])
    assert missing.exit_code == 1 and "no alias 'challenger'" in missing.output

    # realism against a folder of real songs; a folder that is not there is an error in one line
    songs = _real_songs(tmp_path)
    out = CliRunner().invoke(app, ["--model", str(mv.version), "--eval-set", str(tmp_path / "set.yaml"),
                                   "--real", str(songs), *overrides])
    assert out.exit_code == 0, out.output
    assert f"realism: generated against 6 real pieces ({songs})" in out.output
    runs = c.search_runs([exp_id], "tags.model_ref = '%s'" % mv.version, order_by=["attributes.start_time DESC"])
    assert runs[0].data.metrics["realism.n_real"] == 6 and runs[0].data.metrics["realism.n_generated"] == 3
    gone = CliRunner().invoke(app, ["--model", str(mv.version), "--real", str(tmp_path / "nowhere"), *overrides])
    assert gone.exit_code == 1 and "no such folder of real MIDI files" in gone.output


def _real_songs(tmp_path) -> "object":
    """A folder of 'real' pieces for the realism section: a motif that comes back, transposed, over chords."""
    folder = tmp_path / "real"
    folder.mkdir()
    for k in range(6):
        s = Score(TPQ)
        s.tempos.append(Tempo(0, 96.0))
        s.time_signatures.append(TimeSignature(0, 4, 4))
        mel, acc = Track("melody", 73, False), Track("piano", 0, False)
        for b in range(16):
            shift = (b + k) % 3
            for t, d, p in ((0, 480, 67), (480, 240, 69), (720, 240, 71), (960, 480, 69), (1440, 480, 67)):
                mel.notes.append(Note(b * 1920 + t, d, p + shift, 90))
            for p in (48, 52, 55):
                acc.notes.append(Note(b * 1920, 1920, p + shift, 60))
        s.tracks.extend([mel, acc])
        (folder / f"song{k}.mid").write_bytes(s.dumps_midi())
    return folder


def test_the_realism_section_sets_the_pieces_beside_real_songs(tmp_path, cfg):
    from training.realism import folder_set
    from training.registry import client as mlflow_client

    real = folder_set(_real_songs(tmp_path))
    assert real.kind == "folder" and len(real.stats) == 6
    rep = E.evaluate(RuleGenerator(), CASES, progress=False, real=real)
    assert all(r.realism is not None for r in rep.results)
    m = rep.metrics()
    # the rule generator's tune is one chord tone per beat: on the beat, on top of its chords
    assert m["realism.syncopation"] == 0.0 and m["realism.melody_on_top"] == 1.0
    assert m["realism.real.bar_repeat"] == pytest.approx(15 / 16)
    assert m["realism.n_generated"] == 3 and m["realism.n_real"] == 6
    assert 0.0 <= m["realism.classifier_bacc"] <= 1.0
    assert "realism.classifier_bacc" not in rep.metrics("request")  # only over all cases
    table = rep.table()
    assert "realism: generated against 6 real pieces" in table and "classifier balanced accuracy" in table
    assert "not measured (the generator has no note model to score with)" in table
    assert "realism_bar_repeat" in rep.rows()[0]

    c = mlflow_client(cfg)
    exp = c.get_experiment_by_name("eval-tests") or c.create_experiment("eval-tests")
    run = c.create_run(exp if isinstance(exp, str) else exp.experiment_id)
    logged = E.log_to_mlflow(c, run.info.run_id, rep)
    got = c.get_run(run.info.run_id)
    assert got.data.metrics["realism.classifier_bacc"] == m["realism.classifier_bacc"] == logged["realism.classifier_bacc"]
    assert got.data.metrics["realism.real.bar_repeat"] == pytest.approx(15 / 16)
    assert got.data.tags["realism.real_set"] == real.name and got.data.tags["realism.real_set_digest"] == real.digest
    with open(c.download_artifacts(run.info.run_id, "eval/realism.txt"), encoding="utf-8") as f:
        assert "melody onsets between beats" in f.read()
    # without real songs there is no section, and the figures stay what they were
    assert E.evaluate(RuleGenerator(), CASES[:1], progress=False).realism is None
