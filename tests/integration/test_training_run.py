"""Training end to end on real Ray Train, Delta and MLflow: stop, resume, gate, register, reuse, retrain, generate."""

import re
import mlflow.pyfunc
import pytest
from mlflow import MlflowClient
from ray.train import TrainingFailedError
from symusic import Score
from typer.testing import CliRunner

from lake.delta import Lake
from lake.schemas import BRONZE_MIDI, GOLD_PAIRS
from tests.support.config import make_config
from tests.support.music_lake import write_music_lake
from tests.support.training_faults import DieAt
from training import train as train_module
from training.cli import app
from training.generator_task import GeneratorTask
from training.notes import FORMAT_ID
from training.registry import CHAMPION, MODEL_NAME, ModelNotFound, list_versions, load_generator
from training.request import PieceRequest
from training.train import NothingToResume, run_training


@pytest.fixture(scope="module")
def train_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("training-run")
    cfg = make_config(root, "train.max_steps=30", "train.n_embd=64", "train.n_head=2", "train.block_size=96",
                      "train.batch_size=4", "train.log_every=10", "train.num_workers=2", "train.dropout=0.0",
                      "train.checkpoint_every=10", "train.max_failures=0")
    write_music_lake(cfg, n=12, bars=8)
    return cfg


def test_train_interrupt_resume_register_reuse_retrain_and_generate(train_cfg, ray_session, monkeypatch, tmp_path):
    cfg = train_cfg
    lake = Lake.from_config(cfg)
    # Both URIs: a client given only the tracking URI takes the registry URI set process-wide by the last
    # registry.client() call, which may be another test's database.
    client = MlflowClient(tracking_uri=cfg.mlflow.tracking_uri, registry_uri=cfg.mlflow.tracking_uri)
    with pytest.raises(NothingToResume, match="no interrupted generator run"):
        run_training(cfg, resume=True)

    # The first run stops at step 25 (a worker dies, max_failures=0); --resume finishes it from step 20.
    with monkeypatch.context() as m:
        m.setattr(train_module, "GeneratorTask", lambda **kw: DieAt(GeneratorTask(**kw), (25,), 0, tmp_path))
        with pytest.raises(TrainingFailedError):
            run_training(cfg)
    [stopped] = client.search_runs([client.get_experiment_by_name(cfg.mlflow.experiment).experiment_id])
    assert stopped.info.status == "FAILED" and not list_versions(cfg)
    first = run_training(cfg, resume=True)
    assert first.resumed_from == 20 and first.run_id == stopped.info.run_id and not first.reused
    assert first.model_name == MODEL_NAME and (first.model_version, first.alias) == (1, CHAMPION)
    assert first.decision.promoted and first.decision.champion_before is None
    assert first.data_versions == {BRONZE_MIDI.name: lake.version(BRONZE_MIDI),
                                   GOLD_PAIRS.name: lake.version(GOLD_PAIRS)}
    assert first.metrics["train_loss"] > 0 and first.metrics["val_loss"] > 0
    assert "resumed from step 20 and trained: musiclake-generator v1 @champion" in first.summary()
    assert "PROMOTED to champion (champion was none)" in first.summary()

    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.max_steps"] == "30" and run.data.params["train.preset"] == "tiny"
    assert run.data.params["tokenizer_id"] == FORMAT_ID
    assert int(run.data.params["n_train_windows"]) >= 10 and int(run.data.params["n_validation_windows"]) >= 2
    assert run.data.tags[f"data.{BRONZE_MIDI.name}.version"] == str(lake.version(BRONZE_MIDI))
    assert run.data.tags[f"data.{GOLD_PAIRS.name}.version"] == str(lake.version(GOLD_PAIRS))
    assert run.data.tags["git_commit"]
    curve = client.get_metric_history(first.run_id, "train_loss")
    assert sorted({m.step for m in curve}) == list(range(1, 31))  # every step, across the stop
    by_step = {m.step: m.value for m in curve}
    assert sum(by_step[s] for s in range(26, 31)) < sum(by_step[s] for s in range(1, 6))
    assert {m.step for m in client.get_metric_history(first.run_id, "lr")} == set(range(1, 31))
    assert len(client.get_metric_history(first.run_id, "val_loss")) == 1
    mv = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    assert int(mv.version) == 1 and mv.tags["fingerprint"] == first.fingerprint and mv.run_id == first.run_id
    assert mv.tags[f"data.{GOLD_PAIRS.name}.version"] == str(lake.version(GOLD_PAIRS))
    assert mv.tags["git_commit"] == run.data.tags["git_commit"]
    # the licences of the rows it trained on, per source: "<source> <licence> (<pieces>)[; ...]"
    assert re.fullmatch(r"[^;]+ \(\d+\)(; [^;]+ \(\d+\))*", mv.tags["data_licence"]), mv.tags["data_licence"]
    assert float(mv.tags["metric.val_loss"]) == first.metrics["val_loss"]
    assert mv.tags["lifecycle.decision"] == "promoted"

    again = run_training(cfg)
    assert again.reused and again.model_version == 1 and again.run_id == first.run_id and again.alias == CHAMPION
    assert len(client.search_model_versions(f"name='{MODEL_NAME}'")) == 1

    # Trained straight through, the same config gives exactly the resumed run's model: no regression, promoted.
    forced = run_training(cfg, force=True)
    assert not forced.reused and forced.model_version == 2 and forced.fingerprint == first.fingerprint
    assert forced.metrics == first.metrics
    assert forced.decision.promoted and forced.decision.champion_before == 1
    assert int(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == 2
    with pytest.raises(NothingToResume):
        run_training(cfg, resume=True)

    assert [(v.version, v.aliases) for v in list_versions(cfg)] == [(2, (CHAMPION,)), (1, ())]
    assert run_training(cfg).model_version == 2  # the newest version with that fingerprint
    listing = CliRunner().invoke(app, ["models", "--set", f"mlflow.tracking_uri={cfg.mlflow.tracking_uri}"])
    assert listing.exit_code == 0
    rows = {line.split()[0]: line.split() for line in listing.output.splitlines() if line.strip()}
    assert listing.output.startswith(f"{MODEL_NAME}, newest first:") and rows["v2"][1:3] == [f"@{CHAMPION}", "promoted"]
    assert f"{first.metrics['val_loss']:.4f}" in listing.output

    gen, ref = load_generator(cfg, CHAMPION)
    assert (ref.name, ref.version, ref.ref, ref.run_id) == (MODEL_NAME, 2, CHAMPION, forced.run_id)
    req = PieceRequest(style="jazz", bpm=97.0, key="D minor", bars=2, seed=3)
    piece = gen.generate(req)
    assert piece.n_notes > 0 and piece.n_steps > 0 and piece.duration_s > 0
    parsed = Score.from_midi(piece.midi)
    assert parsed.note_num() == piece.n_notes
    assert [round(t.qpm, 2) for t in parsed.tempos] == [97.0]
    assert gen.generate(req).midi == piece.midi

    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/2")
    [answer] = pyfunc.predict([{"style": "jazz", "bpm": 97.0, "key": "D minor", "bars": 2, "seed": 3}])
    assert answer["midi"] == piece.midi and answer["n_notes"] == piece.n_notes

    old, old_ref = load_generator(cfg, "1")
    assert old_ref.version == 1 and old_ref.run_id == first.run_id
    with pytest.raises(ModelNotFound, match="version '7'"):
        load_generator(cfg, "7")
    with pytest.raises(ModelNotFound, match="alias 'staging'"):
        load_generator(cfg, "staging")
