"""`musiclake train models` on a real MLflow registry (sqlite): every line fits a terminal, nothing is lost.

Versions are registered from runs with no model behind them (the listing only reads tags and aliases), with
the metric names the generator's evaluation and the CLAP model's retrieval evaluation really store.
"""

from __future__ import annotations

import re

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from tests.support.config import make_config
from training import lifecycle
from training.cli import WIDTH, app
from training.registry import CLAP_MODEL_NAME, MODEL_NAME

runner = CliRunner()

GENERATOR_METRICS = ["train_loss", "val_loss", "bpm_error_median_pct", "bpm_octave_hit_pct", "chord_accuracy_pct",
                     "gen_time_p50_ms", "gen_time_p95_ms", "instruments_present_pct", "key_exact_or_relative_pct",
                     "key_exact_pct", "key_with_drums_exact_pct", "n_cases", "n_failed", "tempo_bin_hit_pct",
                     "time_signature_hit_pct", "tracks_with_notes_median"]
CLAP_METRICS = [f"{split}.{d}.{lang}.mrr" for split in ("validation", "test") for d in ("t2m", "m2t")
                for lang in ("en", "zh")] + \
               [f"validation.t2m.{lang}.mrr_over_chance" for lang in ("en", "zh")] + \
               [f"{split}.search.{lang}.p10" for split in ("validation", "test") for lang in ("en", "zh")]
VERSIONS = 8  # more than one block of metric columns fits in a line
REASON = ("a listening test with twelve people preferred its chorales over the previous champion's in nine of "
          "twelve pairs, and its jazz voicings were judged less muddy")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    cfg = make_config(tmp_path_factory.mktemp("train-cli"))
    client = MlflowClient(tracking_uri=cfg.mlflow.tracking_uri, registry_uri=cfg.mlflow.tracking_uri)
    experiment = client.create_experiment("cli", artifact_location=cfg.mlflow.artifact_location)
    made = {}
    for model, metrics in ((MODEL_NAME, GENERATOR_METRICS), (CLAP_MODEL_NAME, CLAP_METRICS)):
        client.create_registered_model(model)
        made[model] = {}
        for n in range(1, VERSIONS + 1):
            run = client.create_run(experiment)
            source = f"{cfg.mlflow.artifact_location}/{run.info.run_id}/artifacts/model"
            version = int(client.create_model_version(model, source=source, run_id=run.info.run_id).version)
            values = {m: 1000.0 * n + i + 0.123456 for i, m in enumerate(metrics)}
            lifecycle.record_metrics(cfg, model, version, values)
            client.set_model_version_tag(model, str(version), "fingerprint", f"{n:016x}")
            made[model][version] = (run.info.run_id, values)
        lifecycle.promote(cfg, model, 2, reason="first", by="alice")
        lifecycle.promote(cfg, model, 3, reason=REASON, by="bob")
    return cfg, made


@pytest.mark.parametrize("model, name, metrics", [("generator", MODEL_NAME, GENERATOR_METRICS),
                                                  ("clap", CLAP_MODEL_NAME, CLAP_METRICS)])
def test_models_fits_a_terminal_and_keeps_every_value(registry, model, name, metrics):
    cfg, made = registry
    res = runner.invoke(app, ["models", "--model", model, "--set", f"mlflow.tracking_uri={cfg.mlflow.tracking_uri}"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(line) for line in lines) <= WIDTH, max(lines, key=len)
    assert lines[0] == f"{name}, newest first:"

    rows = {line.split()[0]: line.split() for line in lines if re.match(r"v\d+ ", line)}
    for version, (run_id, _) in made[name].items():
        assert rows[f"v{version}"][-2:] == [f"{version:016x}", run_id]  # fingerprint and the full run id
    assert rows["v3"][1:3] == ["@champion", "forced"]

    # each metric's row (in whichever block of columns) holds the value of each version under its heading
    seen = {}
    heading = None
    for line in lines:
        cells = line.split()
        if cells[:1] == ["metric"]:
            heading = cells[1:]
        elif heading and cells and cells[0] in metrics:
            seen.update({(cells[0], v): value for v, value in zip(heading, cells[1:])})
    assert sum(line.split()[:1] == ["metric"] for line in lines) >= 2  # the versions' columns wrapped
    assert len(seen) == VERSIONS * len(metrics)
    for version, (_, values) in made[name].items():
        for m in metrics:
            assert seen[(m, f"v{version}")] == f"{values[m]:.4f}"

    history = lines[lines.index("champion history (newest last):") + 1:]
    assert len(history) > 2  # the long reason wrapped onto more lines
    assert " ".join(" ".join(history).split()).endswith(f"by bob: {REASON}")
