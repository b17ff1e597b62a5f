"""CLAP end to end on real Ray Train, Delta and MLflow: fit, register, gate, embed, evaluate, search, reuse."""

from datetime import datetime, timezone

import pyarrow as pa
import pytest
from miditok.constants import MIDI_INSTRUMENTS
from mlflow import MlflowClient
from symusic import Note, Score, Tempo, TimeSignature, Track
from typer.testing import CliRunner

from lake.captions import caption_en, caption_zh
from lake.delta import Lake
from lake.schemas import GOLD_MUSIC_EMBEDDINGS, GOLD_PAIRS, SILVER_SCORES, SILVER_TOKENS
from lake.tokenizer import build_tokenizer, encode_ids, tokenizer_id
from lake.vocab import PITCH_CLASSES, mood_of, sha256_hex, tempo_bin
from tests.support.config import make_config
from training.clap import MODEL_NAME
from training.clap.api import ClapModel
from training.clap.cli import app
from training.clap.embeddings import embed_lake
from training.registry import CHAMPION
from training.cli import app as train_app
from training.clap.train import run_clap_training

SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
# Each style has its own instrument, tempo and meter, so a tiny model can tell them apart from the notes.
STYLES = {"folk": (24, 100.0, 2), "jazz": (66, 150.0, 4), "classical": (40, 64.0, 3)}
N = 30


def _piece(i: int):
    style = list(STYLES)[i % 3]
    program, bpm, beats = STYLES[style]
    tonic, mode = (i * 7) % 12, "minor" if (i // 3) % 2 else "major"
    bpm += i // 3  # every piece its own bytes
    s = Score(480)
    s.tempos.append(Tempo(0, qpm=bpm))
    s.time_signatures.append(TimeSignature(0, beats, 4))
    lead = Track(name="lead", program=program, is_drum=False)
    bass = Track(name="bass", program=32, is_drum=False)
    scale = SCALES[mode]
    for step in range(8 * beats):  # four bars of eighth notes walking the scale, a bass on each beat
        lead.notes.append(Note(step * 240, 240, 60 + tonic + scale[(step * (1 + i % 2)) % 7], 80))
    for beat in range(4 * beats):
        bass.notes.append(Note(beat * 480, 480, 36 + tonic + scale[(beat * 4) % 7], 70))
    s.tracks.extend([lead, bass])
    features = {"bpm": bpm, "style": style, "key_tonic": PITCH_CLASSES[tonic], "key_mode": mode,
                "time_signature": f"{beats}/4", "instruments": [MIDI_INSTRUMENTS[program]["name"], "Acoustic Bass"]}
    return s, features


def _lineage(n, source):
    now = datetime.now(timezone.utc)
    return {"source_table": [source] * n, "source_version": [0] * n, "job_run_id": ["test-fixture"] * n,
            "code_version": ["test"] * n, "processed_at": [now] * n}


def _table(rows, source):
    return pa.table({k: [r[k] for r in rows] for k in rows[0]} | _lineage(len(rows), source))


@pytest.fixture(scope="module")
def clap_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("clap-run")
    cfg = make_config(root, "clap.max_steps=120", "clap.batch_size=6", "clap.log_every=20", "clap.checkpoint_every=60",
                      "clap.gates={train.t2m.en.mrr_over_chance: {min: 1.5}}")
    tok = build_tokenizer(cfg.tokenizer)
    tid = tokenizer_id(cfg.tokenizer)
    gold, tokens, scores = [], [], []
    for i in range(N):
        score, f = _piece(i)
        sha = sha256_hex(score.dumps_midi())
        key = f"{f['key_tonic']} {f['key_mode']}"
        lyrics = i % 5 == 0
        en = caption_en(f)
        gold.append({"sha256": sha, "text": f"la li lo number {i}" if lyrics else en,
                     "text_kind": "lyrics" if lyrics else "caption", "caption": en, "caption_zh": caption_zh(f),
                     "style": f["style"], "bpm": f["bpm"], "tempo_bin": tempo_bin(f["bpm"]), "key_name": key,
                     "time_signature": f["time_signature"], "mood": mood_of(f["key_mode"], f["bpm"]),
                     "instruments": f["instruments"],
                     "split": {3: "validation", 7: "test"}.get(i % 10, "train")})
        ids = encode_ids(tok, score).tolist()
        tokens.append({"sha256": sha, "tokenizer_id": tid, "tokens": ids, "n_tokens": len(ids)})
        scores.append({"sha256": sha, "url": f"http://scores.test/{i}.mid", "title": f"Piece {i}", "source": "test",
                       "style": f["style"], "bpm": f["bpm"], "time_signature": f["time_signature"],
                       "key_tonic": f["key_tonic"], "key_mode": f["key_mode"], "key_confidence": 0.9,
                       "programs": [score.tracks[0].program, 32], "instruments": f["instruments"], "n_tracks": 2,
                       "note_count": score.note_num(), "duration_s": 8.0})
    lake = Lake.from_config(cfg)
    lake.append(GOLD_PAIRS, _table(gold, "silver_scores"))
    lake.append(SILVER_TOKENS, _table(tokens, "bronze_midi_files"))
    lake.append(SILVER_SCORES, _table(scores, "bronze_midi_files"))
    return cfg, gold


def _cli(cfg, *args, cli=app):
    sets = [f"lake.uri={cfg.lake.uri}", f"mlflow.tracking_uri={cfg.mlflow.tracking_uri}",
            f"mlflow.artifact_location={cfg.mlflow.artifact_location}"]
    return CliRunner().invoke(cli, [*args, *[x for s in sets for x in ("--set", s)]])


def test_fit_register_gate_embed_search_and_reuse(clap_cfg, ray_session, monkeypatch, tmp_path):
    cfg, gold = clap_cfg
    monkeypatch.setenv("MUSICLAKE_SEARCH_CACHE", str(tmp_path / "search-cache"))
    lake = Lake.from_config(cfg)
    first = run_clap_training(cfg)
    print(first.summary())
    assert not first.reused and first.model_name == MODEL_NAME and first.model_version == 1
    assert first.alias == CHAMPION and first.decision.promoted, first.decision.summary()
    assert first.data_versions == {SILVER_TOKENS.name: lake.version(SILVER_TOKENS),
                                   GOLD_PAIRS.name: lake.version(GOLD_PAIRS)}

    client = MlflowClient(tracking_uri=cfg.mlflow.tracking_uri)
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED" and run.data.params["clap.max_steps"] == "120"
    curve = [m.value for m in sorted(client.get_metric_history(first.run_id, "train_loss"), key=lambda m: m.step)]
    assert len(curve) == 120 and sum(curve[-20:]) < 0.7 * sum(curve[:20])
    assert {"lr", "tokens_per_s", "logit_scale", "val_loss"} <= set(run.data.metrics)
    m = run.data.metrics
    for split in ("train", "validation", "test"):
        assert m[f"{split}.t2m.en.pool"] == {"train": 24, "validation": 3, "test": 3}[split]
    # held-out pools of 3 are too small to say anything; on the training pieces it must beat chance
    assert m["train.t2m.en.mrr"] > 1.5 * m["chance.train.t2m.en.mrr"]
    assert m["train.t2m.zh.mrr"] > m["chance.train.t2m.zh.mrr"]
    assert m["train.search.en.p10"] > m["chance.train.search.en.p10"]  # short prompts find pieces that fit them
    mv = client.get_model_version(MODEL_NAME, "1")
    assert mv.tags["fingerprint"] == first.fingerprint and mv.tags["tokenizer_id"] == tokenizer_id(cfg.tokenizer)
    assert mv.tags[f"data.{GOLD_PAIRS.name}.version"] == str(lake.version(GOLD_PAIRS)) and mv.tags["git_commit"]
    assert mv.tags["text_tokenizer_id"].startswith("bpe-") and mv.tags["lifecycle.decision"] == "promoted"
    assert float(mv.tags["metric.validation.t2m.en.mrr"]) == pytest.approx(m["validation.t2m.en.mrr"])

    embedded = lake.read(GOLD_MUSIC_EMBEDDINGS).to_pylist()
    assert len(embedded) == N and {(r["model_name"], r["model_version"], r["dim"]) for r in embedded} == {
        (MODEL_NAME, 1, 64)}
    clap = ClapModel.load(cfg, CHAMPION)
    assert clap.version == 1
    again = embed_lake(lake, clap.encoder, MODEL_NAME, 1)
    assert (again.embedded, again.already) == (0, N) and lake.read(GOLD_MUSIC_EMBEDDINGS).num_rows == N

    # search: a training piece's caption brings up pieces of its style first, and often the piece itself
    train = [g for g in gold if g["split"] == "train"]
    found = {g["sha256"]: clap.nearest(g["caption"], k=3) for g in train}
    assert all(len(h) == 3 and h[0].score >= h[1].score >= h[2].score for h in found.values())
    assert sum(found[g["sha256"]][0].style == g["style"] for g in train) >= 0.7 * len(train)  # chance: 1/3
    assert sum(g["sha256"] in [h.sha256 for h in found[g["sha256"]]] for g in train) >= 0.3 * len(train)  # 1/10
    hit = found[train[0]["sha256"]][0]
    assert hit.title.startswith("Piece ") and hit.url.startswith("http://scores.test/") and hit.key_name
    # zero-shot style from the notes alone, over every piece: well above the 1/3 of chance
    guesses = [clap.zero_shot(_piece(i)[0].dumps_midi(), {"style": list(STYLES)})["style"] for i in range(N)]
    assert all(sum(g.values()) == pytest.approx(1.0) for g in guesses)
    assert sum(max(g, key=g.get) == list(STYLES)[i % 3] for i, g in enumerate(guesses)) >= 0.5 * N
    midis = [_piece(i)[0].dumps_midi() for i in range(4)]
    ranked = clap.rank("a jazz piece", midis)
    cosines = clap.embed_music(midis) @ clap.embed_text(["a jazz piece"])[0]
    assert sorted(i for i, _ in ranked) == [0, 1, 2, 3]
    assert [s for _, s in ranked] == sorted(cosines.tolist(), reverse=True)
    # the CLI's search reads the caption's key, tempo, meter and instruments, and CLAP orders what they leave level
    out = _cli(cfg, "search", train[0]["caption"], "-k", "3")
    assert out.exit_code == 0, out.output
    assert f"3 of {N} lake pieces for" in out.output and "CLAP v1" in out.output
    assert f"Piece {gold.index(train[0])}  [" in out.output

    # the same fingerprint is not trained again (the generic lifecycle tests show a failing challenger stays one)
    assert run_clap_training(cfg).reused
    listing = _cli(cfg, "models", "--model", "clap", cli=train_app)
    rows = {line.split()[0]: line.split() for line in listing.output.splitlines() if line.strip()}
    assert listing.exit_code == 0 and listing.output.startswith("musiclake-clap, newest first:")
    assert rows["v1"][1] == "@champion" and "promoted" in rows["v1"]
    assert "validation.t2m.en.mrr" in listing.output
