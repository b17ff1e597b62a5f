"""Training end to end on real Ray Train, Delta and MLflow: register, reuse, retrain, load, generate."""

from datetime import datetime, timezone

import mlflow.pyfunc
import pyarrow as pa
import pytest
from mlflow import MlflowClient
from symusic import Note, Score, Tempo, TimeSignature, Track
from typer.testing import CliRunner

from lake.delta import Lake
from lake.schemas import GOLD_PAIRS, SILVER_TOKENS
from lake.tokenizer import build_tokenizer, tokenizer_id
from lake.vocab import KEY_NAMES, PITCH_CLASSES, STYLES, sha256_hex, tempo_bin
from tests.conftest import make_config
from training.cli import app
from training.registry import CHAMPION, MODEL_NAME, ModelNotFound, list_versions, load_generator
from training.train import run_training

MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)


def _score(i: int) -> tuple[Score, float, str]:
    """Four bars of a scale-walking melody over a bass, key/tempo/program varying with ``i``."""
    tonic, minor = (i * 5) % 12, i % 3 == 0
    bpm = 60.0 + 13 * i
    scale = MINOR if minor else MAJOR
    s = Score(480)
    s.tempos.append(Tempo(0, qpm=bpm))
    s.time_signatures.append(TimeSignature(0, 4, 4))
    melody = Track(name="melody", program=(i * 7) % 80, is_drum=False)
    bass = Track(name="bass", program=32 + i % 8, is_drum=False)
    for step in range(32):  # eighth notes
        degree = (step * (1 + i % 3)) % 7
        melody.notes.append(Note(step * 240, 240, 60 + tonic + scale[degree], 70 + step % 30))
    for beat in range(16):
        bass.notes.append(Note(beat * 480, 480, 36 + tonic + scale[(beat // 4) * 2 % 7], 80))
    s.tracks.extend([melody, bass])
    key = f"{PITCH_CLASSES[tonic]} {'minor' if minor else 'major'}"
    assert key in KEY_NAMES
    return s, bpm, key


def _lineage(n, source):
    now = datetime.now(timezone.utc)
    return {"source_table": [source] * n, "source_version": [0] * n, "job_run_id": ["test-fixture"] * n,
            "code_version": ["test"] * n, "processed_at": [now] * n}


@pytest.fixture(scope="module")
def train_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("training-run")
    cfg = make_config(root, "train.max_steps=30", "train.n_embd=64", "train.n_head=2", "train.block_size=96",
                      "train.batch_size=4", "train.log_every=10", "train.num_workers=2", "train.dropout=0.0")
    tok = build_tokenizer(cfg.tokenizer)
    tid = tokenizer_id(cfg.tokenizer)
    gold, tokens = [], []
    for i in range(12):
        score, bpm, key = _score(i)
        sha = sha256_hex(score.dumps_midi())
        ids = tok.encode(score).ids
        gold.append({"sha256": sha, "text": f"piece {i}", "text_kind": "caption", "caption": f"piece {i}",
                     "style": STYLES[i % len(STYLES)], "bpm": bpm, "tempo_bin": tempo_bin(bpm), "key_name": key,
                     "time_signature": "4/4", "split": "validation" if i in (3, 8) else "train"})
        tokens.append({"sha256": sha, "tokenizer_id": tid, "tokens": ids, "n_tokens": len(ids)})
    lake = Lake.from_config(cfg)
    lake.append(GOLD_PAIRS, pa.table({k: [r[k] for r in gold] for k in gold[0]} | _lineage(12, "silver_scores")))
    lake.append(SILVER_TOKENS, pa.table({k: [r[k] for r in tokens] for k in tokens[0]}
                                        | _lineage(12, "bronze_midi_files")))
    return cfg


def test_train_register_reuse_retrain_and_generate(train_cfg, ray_session):
    cfg = train_cfg
    lake = Lake.from_config(cfg)
    first = run_training(cfg)
    assert not first.reused and first.model_name == MODEL_NAME
    assert (first.model_version, first.alias) == (1, CHAMPION)
    assert first.data_versions == {SILVER_TOKENS.name: lake.version(SILVER_TOKENS),
                                   GOLD_PAIRS.name: lake.version(GOLD_PAIRS)}
    assert first.metrics["train_loss"] > 0 and first.metrics["val_loss"] > 0
    assert "v1 @champion" in first.summary()

    client = MlflowClient(tracking_uri=cfg.mlflow.tracking_uri)
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.max_steps"] == "30"
    assert run.data.params["tokenizer_id"] == tokenizer_id(cfg.tokenizer)
    assert int(run.data.params["n_train_windows"]) >= 10 and int(run.data.params["n_validation_windows"]) >= 2
    assert run.data.tags[f"data.{SILVER_TOKENS.name}.version"] == str(lake.version(SILVER_TOKENS))
    assert run.data.tags[f"data.{GOLD_PAIRS.name}.version"] == str(lake.version(GOLD_PAIRS))
    assert run.data.tags["git_commit"]
    curve = client.get_metric_history(first.run_id, "train_loss")
    assert [m.step for m in curve] == [10, 20, 30]
    assert curve[-1].value < curve[0].value
    assert len(client.get_metric_history(first.run_id, "val_loss")) == 1
    mv = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    assert int(mv.version) == 1 and mv.tags["fingerprint"] == first.fingerprint and mv.run_id == first.run_id
    assert mv.tags[f"data.{GOLD_PAIRS.name}.version"] == str(lake.version(GOLD_PAIRS))
    assert mv.tags["git_commit"] == run.data.tags["git_commit"]

    again = run_training(cfg)
    assert again.reused and again.model_version == 1 and again.run_id == first.run_id
    assert len(client.search_model_versions(f"name='{MODEL_NAME}'")) == 1

    forced = run_training(cfg, force=True)
    assert not forced.reused and forced.model_version == 2 and forced.fingerprint == first.fingerprint
    assert int(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == 2

    assert [(v.version, v.aliases) for v in list_versions(cfg)] == [(2, (CHAMPION,)), (1, ())]
    assert run_training(cfg).model_version == 2  # the newest version with that fingerprint
    listing = CliRunner().invoke(app, ["models", "--set", f"mlflow.tracking_uri={cfg.mlflow.tracking_uri}"])
    assert listing.exit_code == 0 and f"{MODEL_NAME} v2 @{CHAMPION}" in listing.output

    gen, ref = load_generator(cfg, CHAMPION)
    assert (ref.name, ref.version, ref.ref, ref.run_id) == (MODEL_NAME, 2, CHAMPION, forced.run_id)
    piece = gen.generate("jazz", bpm=97.0, key="D minor", bars=2, seed=3)
    assert piece.n_notes > 0 and piece.n_tokens > 0 and piece.duration_s > 0
    parsed = Score.from_midi(piece.midi)
    assert parsed.note_num() == piece.n_notes
    assert [round(t.qpm, 2) for t in parsed.tempos] == [97.0]
    assert gen.generate("jazz", bpm=97.0, key="D minor", bars=2, seed=3).midi == piece.midi

    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/2")
    [answer] = pyfunc.predict([{"style": "jazz", "bpm": 97.0, "key": "D minor", "bars": 2, "seed": 3}])
    assert answer.midi == piece.midi and answer.n_notes == piece.n_notes

    old, old_ref = load_generator(cfg, "1")
    assert old_ref.version == 1 and old_ref.run_id == first.run_id
    with pytest.raises(ModelNotFound, match="version '7'"):
        load_generator(cfg, "7")
    with pytest.raises(ModelNotFound, match="alias 'staging'"):
        load_generator(cfg, "staging")
