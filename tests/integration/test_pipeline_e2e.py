"""The whole pipeline at tiny scale, exactly as `make demo` runs it, against real services.

Real Ray (tasks, Data, Train, Serve), real Spark, real Delta tables, real MLflow, a real local
site crawled with DrissionPage. The results are then read back the way a user would: the tables
with deltalake directly, the model from MLflow's registry, the MIDI file with music21.
"""

from __future__ import annotations

import json

import pytest
from deltalake import DeltaTable

from tests.support.config import free_port, make_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    return make_config(root, "demo.corpus_limit=12", "demo.site_port=0", f"serve.port={free_port()}",
                       "train.max_steps=40", "train.num_workers=2", "train.n_embd=64", "train.n_layer=2",
                       "train.block_size=128", "train.log_every=10")


@pytest.fixture(scope="module")
def first_run(demo_cfg, ray_session):
    from musiclake.demo import run_demo

    return run_demo(demo_cfg)


def test_tables_hold_the_site_and_its_faults(demo_cfg, first_run):
    manifest = json.loads((first_run_site(demo_cfg) / "manifest.json").read_text())
    lake = demo_cfg.lake.uri
    bronze = DeltaTable(f"{lake}/bronze_midi_files").to_pyarrow_table(columns=["sha256", "url"])
    good = {p["sha256"] for p in manifest["pieces"]}
    landed = set(bronze.column("sha256").to_pylist())
    assert good <= landed, "every exported piece lands in bronze"

    errors = DeltaTable(f"{lake}/bronze_crawl_errors").to_pyarrow_table().to_pylist()
    reasons = {e["url"].rsplit("/", 1)[-1]: e["reason"] for e in errors}
    assert "404" in reasons["missing.mid"]
    assert "not a MIDI" in reasons["not-midi.mid"]

    quarantine = DeltaTable(f"{lake}/silver_quarantine").to_pyarrow_table().to_pylist()
    assert [q["url"].rsplit("/", 1)[-1] for q in quarantine] == ["truncated.mid"]
    assert quarantine[0]["error"]

    scores = DeltaTable(f"{lake}/silver_scores").to_pyarrow_table()
    assert set(scores.column("sha256").to_pylist()) == good, "every good piece is parsed, nothing else"
    pairs = DeltaTable(f"{lake}/gold_text_music_pairs").to_pyarrow_table().to_pylist()
    assert {p["sha256"] for p in pairs} == good
    assert any(p["text_kind"] == "lyrics" for p in pairs) and any(p["text_kind"] == "caption" for p in pairs)
    assert all(p["source_version"] >= 1 for p in pairs)


def first_run_site(cfg):
    from pathlib import Path

    return Path(cfg.demo.site_dir)


def test_model_is_registered_with_lineage(demo_cfg, first_run):
    import mlflow

    from training.registry import CHAMPION, MODEL_NAME

    client = mlflow.MlflowClient(tracking_uri=demo_cfg.mlflow.tracking_uri)
    mv = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    assert int(mv.version) == first_run.training.model_version
    run = client.get_run(mv.run_id)
    assert run.data.tags.get("data.silver_tokens.version") is not None or any(
        k.startswith("data.") for k in {**run.data.params, **run.data.tags})
    history = client.get_metric_history(mv.run_id, "train_loss")
    assert len(history) >= 2


def test_the_demo_writes_midi_wav_and_musicxml_for_both_prompts(first_run):
    import wave

    import music21
    from symusic import Score

    assert sorted(p.suffix for p in first_run.outputs) == [".mid", ".mid", ".musicxml", ".musicxml", ".wav", ".wav"]
    for path in first_run.outputs:
        if path.suffix == ".mid":
            assert Score.from_midi(path.read_bytes()).note_num() > 0
        elif path.suffix == ".musicxml":
            assert len(music21.converter.parse(str(path)).flatten().notes) > 0
        else:
            with wave.open(str(path)) as w:
                assert w.getnframes() / w.getframerate() > 1.0
    for payload in first_run.responses:
        assert payload["provenance"]["generator"]["version"] == first_run.training.model_version
        assert payload["n_notes"] > 0
    assert first_run.api_key.startswith("mlk_")


def test_second_run_reuses_everything(demo_cfg, first_run):
    from lake.delta import Lake
    from musiclake.demo import run_demo

    before = {t.name: (t.version, t.rows) for t in Lake.from_config(demo_cfg).describe()}
    second = run_demo(demo_cfg)
    after = {t.name: (t.version, t.rows) for t in second.tables}
    for name in ("bronze_midi_files", "bronze_lyrics_pages", "silver_scores", "silver_tokens",
                 "silver_quarantine", "gold_text_music_pairs"):
        assert after[name] == before[name], f"{name} changed on a re-run"
    assert second.training.reused
    assert second.training.model_version == first_run.training.model_version
    assert sum(r.midi_landed for r in second.ingest) == 0
