"""Challenger -> gates -> champion, forced promotion and rollback, on a real MLflow registry (sqlite).

Versions are registered straight from a run's artifact folder: the lifecycle never looks inside a
model, only at its metrics, tags and aliases, for the generator and the CLAP model alike (the
gating test works on the generator, the promote/rollback test on the CLAP model).
"""

from types import SimpleNamespace

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from common.config import ConfigError, Gate
from tests.support.config import make_config
from training import lifecycle
from training.cli import app
from training.lifecycle import LifecycleError, challenge, check_gates, promote, rollback
from training.registry import CHALLENGER, CHAMPION, CLAP_MODEL_NAME, MODEL_NAME, list_versions, resolve

GATES = {"val_loss": Gate(max=3.0, tolerance=0.05), "key_exact": Gate(min=0.5, tolerance=0.02)}


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    """One registry for the module; each test works on its own registered model (generator, clap)."""
    cfg = make_config(tmp_path_factory.mktemp("lifecycle"))
    client = MlflowClient(tracking_uri=cfg.mlflow.tracking_uri, registry_uri=cfg.mlflow.tracking_uri)
    experiment = client.create_experiment("lifecycle", artifact_location=cfg.mlflow.artifact_location)

    def register(model: str = MODEL_NAME, **logged: float) -> int:
        """A new version of ``model`` whose training run logged ``logged``."""
        run = client.create_run(experiment)
        for key, value in logged.items():
            client.log_metric(run.info.run_id, key, value)
        if not client.search_registered_models(f"name='{model}'"):
            client.create_registered_model(model)
        source = f"{cfg.mlflow.artifact_location}/{run.info.run_id}/artifacts/model"
        return int(client.create_model_version(model, source=source, run_id=run.info.run_id).version)

    return cfg, client, register


def _aliases(cfg, model=MODEL_NAME) -> dict[int, tuple[str, ...]]:
    return {v.version: v.aliases for v in list_versions(cfg, model) if v.aliases}


def test_gates_in_isolation_absolute_thresholds_regression_and_unmeasured():
    champion = {"val_loss": 2.5, "key_exact": 0.70}
    ok = check_gates({"val_loss": 2.54, "key_exact": 0.69}, GATES, champion, 1)
    assert all(c.passed for c in ok) and "champion v1 2.5, tolerance 0.05" in ok[1].reason
    low, = [c for c in check_gates({"val_loss": 2.0, "key_exact": 0.45}, GATES, champion, 1) if not c.passed]
    assert low.metric == "key_exact" and "below the minimum 0.5" in low.reason
    worse, = [c for c in check_gates({"val_loss": 2.6, "key_exact": 0.9}, GATES, champion, 1) if not c.passed]
    assert worse.metric == "val_loss" and "worse than the champion by 0.1" in worse.reason
    assert all(c.passed for c in check_gates({"val_loss": 2.6, "key_exact": 0.9}, GATES, None))  # no champion
    missing = check_gates({"val_loss": 2.0, "key_exact": float("nan")}, GATES, champion, 1)
    assert [c.passed for c in missing] == [False, True] and missing[0].reason == "key_exact: not measured"
    regression_only = {"val_loss": Gate(better="lower", tolerance=0.1)}
    assert check_gates({"val_loss": 9.0}, regression_only, None)[0].passed
    assert not check_gates({"val_loss": 2.61}, regression_only, {"val_loss": 2.5}, 3)[0].passed
    with pytest.raises(ValueError, match="say which way is better"):
        Gate(tolerance=0.1)
    with pytest.raises(ConfigError, match="train.gates.val_loss"):
        make_config("/tmp", "train.gates={val_loss: {tolerance: 0.1}}")


def test_bad_challengers_are_not_promoted_and_a_good_one_is(reg):
    cfg, client, register = reg
    v1 = register(val_loss=2.5)
    first = challenge(cfg, "generator", v1, GATES, metrics={"val_loss": 2.5},
                      evaluate=lambda c, ref: SimpleNamespace(metrics={"key_exact": 0.70, "ref": ref}))
    assert first.promoted and (first.champion_before, first.champion_after) == (None, v1)
    assert _aliases(cfg) == {v1: (CHAMPION,)}  # challenger moved on to champion
    tags = client.get_model_version(MODEL_NAME, str(v1)).tags
    assert tags["metric.val_loss"] == "2.5" and tags["metric.key_exact"] == "0.7" and "metric.ref" not in tags
    assert tags["lifecycle.decision"] == "promoted" and tags["lifecycle.decided_by"] == "gates"

    cases = [({"val_loss": 2.4, "key_exact": 0.45}, "key_exact 0.45 (>= 0.5; champion v1 0.7, tolerance 0.02): "
                                                    "below the minimum 0.5; worse than the champion by 0.25"),
             ({"val_loss": 2.6, "key_exact": 0.72}, "val_loss 2.6 (<= 3; champion v1 2.5, tolerance 0.05): "
                                                    "worse than the champion by 0.1"),
             ({"val_loss": 2.0}, "key_exact: not measured")]
    for metrics, why in cases:
        bad = register()
        decision = challenge(cfg, "generator", bad, GATES, metrics=metrics)
        assert not decision.promoted and decision.kind == "rejected"
        assert why in decision.reasons, decision.summary()
        assert resolve(cfg, CHAMPION).version == v1 and resolve(cfg, CHALLENGER).version == bad
        tags = client.get_model_version(MODEL_NAME, str(bad)).tags
        assert tags["lifecycle.decision"] == "rejected" and why in tags["lifecycle.reasons"]
        assert tags["lifecycle.compared_with"] == str(v1)
        assert "REJECTED" in decision.summary() and f"FAIL {why}" in decision.summary()

    # Within both tolerances of the champion, above both thresholds: promoted.
    good = register()
    decision = challenge(cfg, "generator", good, GATES, metrics={"val_loss": 2.54, "key_exact": 0.69})
    assert decision.promoted and (decision.champion_before, decision.champion_after) == (v1, good)
    assert resolve(cfg, CHAMPION).version == good
    assert CHALLENGER not in dict(client.get_registered_model(MODEL_NAME).aliases)
    assert [(e["event"], e["version"], e["previous"]) for e in lifecycle.history(cfg, MODEL_NAME)] == \
        [("promote", v1, None), ("promote", good, v1)]

    # The champion's metrics come from its tags, else from its run: v1 logged val_loss in its run.
    assert lifecycle.version_metrics(cfg, MODEL_NAME, v1) == {"val_loss": 2.5, "key_exact": 0.7}


def test_promote_and_rollback_move_the_alias_and_are_recorded(reg):
    cfg, client, register = reg
    cli = ["--set", f"mlflow.tracking_uri={cfg.mlflow.tracking_uri}"]
    generator_before = [(v.version, v.aliases) for v in list_versions(cfg, MODEL_NAME)]
    gates = {"mrr": Gate(min=0.1, tolerance=0.02), "val_loss": Gate(better="lower", tolerance=0.1)}
    v1, v2, v3 = register(CLAP_MODEL_NAME), register(CLAP_MODEL_NAME), register(CLAP_MODEL_NAME)
    assert challenge(cfg, "clap", v1, gates, metrics={"mrr": 0.30, "val_loss": 2.5}).promoted
    assert challenge(cfg, "clap", v2, gates, metrics={"mrr": 0.35, "val_loss": 2.4}).promoted
    assert not challenge(cfg, "clap", v3, gates, metrics={"mrr": 0.20, "val_loss": 2.4}).promoted

    runner = CliRunner()
    out = runner.invoke(app, ["promote", str(v3), "--model", "clap", "--reason", "listening test preferred it",
                              "--by", "alice", *cli])
    assert out.exit_code == 0, out.output
    assert f"{CLAP_MODEL_NAME} v{v3}: FORCED to champion by alice (champion was v{v2}): listening test" in out.output
    assert _aliases(cfg, CLAP_MODEL_NAME) == {v3: (CHAMPION,)}
    tags = client.get_model_version(CLAP_MODEL_NAME, str(v3)).tags
    assert (tags["lifecycle.decision"], tags["lifecycle.decided_by"]) == ("forced", "alice")

    listing = runner.invoke(app, ["models", "--model", "clap", *cli])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert lines[0] == f"{CLAP_MODEL_NAME}, newest first:"
    assert lines[1].split() == ["version", "aliases", "decision", "created", "fingerprint", "run"]
    assert lines[2].split()[:3] == [f"v{v3}", "@champion", "forced"]
    assert lines[3].split()[:3] == [f"v{v2}", "-", "promoted"]
    metrics = {line.split()[0]: line.split()[1:] for line in lines[lines.index("metrics per version:") + 1:]
               if line.strip()}
    assert metrics["metric"] == [f"v{v3}", f"v{v2}", f"v{v1}"]
    assert metrics["mrr"] == ["0.2000", "0.3500", "0.3000"] and metrics["val_loss"] == ["2.4000", "2.4000", "2.5000"]
    assert "champion history (newest last):" in listing.output and "by alice: listening test" in listing.output

    out = runner.invoke(app, ["rollback", "--model", "clap", "--reason", "users complained", "--by", "bob", *cli])
    assert out.exit_code == 0, out.output
    assert f"ROLLBACK by bob: champion v{v3} -> v{v2}: users complained" in out.output
    assert resolve(cfg, CHAMPION, model="clap").version == v2
    assert client.get_model_version(CLAP_MODEL_NAME, str(v3)).tags["lifecycle.decision"] == "rollback"
    assert rollback(cfg, "clap", reason="again", by="bob").champion_after == v1
    with pytest.raises(LifecycleError, match="no previous champion"):
        rollback(cfg, "clap", reason="once more")
    out = runner.invoke(app, ["rollback", "--model", "clap", "--reason", "once more", *cli])
    assert out.exit_code == 1 and "no previous champion recorded before v1" in out.output
    assert [(e["event"], e["version"], e["by"]) for e in lifecycle.history(cfg, "clap")] == [
        ("promote", v1, "gates"), ("promote", v2, "gates"), ("force", v3, "alice"), ("rollback", v2, "bob"),
        ("rollback", v1, "bob")]
    # After rolling back to v1, a promotion then a rollback returns to v1 again.
    promote(cfg, "clap", v2, reason="fixed", by="carol")
    assert rollback(cfg, "clap", reason="not fixed").champion_after == v1
    with pytest.raises(LifecycleError, match="already champion"):
        promote(cfg, "clap", v1, reason="x")
    with pytest.raises(LifecycleError, match="no version 99"):
        promote(cfg, "clap", 99, reason="x")

    assert [(v.version, v.aliases) for v in list_versions(cfg, MODEL_NAME)] == generator_before  # untouched
    wrong = runner.invoke(app, ["models", "--model", "nope", *cli])
    assert wrong.exit_code == 2 and "unknown model 'nope'" in wrong.output


def test_a_challenger_further_from_real_music_is_not_promoted(tmp_path):
    """The realism gate joins the configured ones when the evaluation measured it, and compares with the
    champion only on the same real songs."""
    cfg = make_config(tmp_path)
    client = MlflowClient(tracking_uri=cfg.mlflow.tracking_uri, registry_uri=cfg.mlflow.tracking_uri)
    experiment = client.create_experiment("realism", artifact_location=cfg.mlflow.artifact_location)

    def register() -> int:
        run = client.create_run(experiment)
        if not client.search_registered_models(f"name='{MODEL_NAME}'"):
            client.create_registered_model(MODEL_NAME)
        source = f"{cfg.mlflow.artifact_location}/{run.info.run_id}/artifacts/model"
        return int(client.create_model_version(MODEL_NAME, source=source, run_id=run.info.run_id).version)

    def evaluated(bacc: float, real_set: float = 7.0):
        return lambda c, ref: SimpleNamespace(metrics={"key_exact": 0.8, "realism.classifier_bacc": bacc,
                                                       "realism.real_set_id": real_set})

    gates = {"key_exact": Gate(min=0.5, tolerance=0.02)}
    v1 = register()
    assert challenge(cfg, "generator", v1, gates, evaluate=evaluated(0.80)).promoted
    worse = register()
    d = challenge(cfg, "generator", worse, gates, evaluate=evaluated(0.90))
    assert not d.promoted and resolve(cfg, CHAMPION).version == v1
    why = "realism.classifier_bacc 0.9 (champion v1 0.8, tolerance 0.05): worse than the champion by 0.1"
    assert why in d.reasons, d.summary()
    # within the tolerance: promoted; and the gate is there only because the evaluation measured realism
    close = register()
    assert challenge(cfg, "generator", close, gates, evaluate=evaluated(0.84)).promoted
    # measured against other real songs, the champion's 0.84 does not count
    other = register()
    d = challenge(cfg, "generator", other, gates, evaluate=evaluated(0.95, real_set=8.0))
    assert d.promoted and any("champion has no value" in r for r in d.reasons if r.startswith("realism")), d.summary()
    plain = register()
    d = challenge(cfg, "generator", plain, gates, metrics={"key_exact": 0.8})
    assert d.promoted and [c.metric for c in d.checks] == ["key_exact"]
    # a configured realism gate wins over the default one
    strict = register()
    d = challenge(cfg, "generator", strict, {**gates, "realism.classifier_bacc": Gate(max=0.9)},
                  evaluate=evaluated(0.93, real_set=8.0))
    assert not d.promoted and "above the maximum 0.9" in " ".join(d.reasons)
