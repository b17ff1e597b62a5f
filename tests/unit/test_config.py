"""The config: defaults, precedence (file < env < --set), and one clear line for every mistake."""

from pathlib import Path

import pytest

from common.config import ConfigError, load_config


def test_embedded_defaults_are_local_and_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(environ={})
    assert cfg.ray.address is None
    assert cfg.spark.master == "local[*]"
    assert cfg.lake.uri == str(tmp_path / "data" / "lake")
    assert cfg.mlflow.tracking_uri == f"sqlite:///{tmp_path}/data/mlflow.db"
    assert cfg.mlflow.artifact_location == (tmp_path / "data" / "mlartifacts").as_uri()
    assert cfg.serve.host == "127.0.0.1"


def test_precedence_file_then_env_then_flags(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("spark:\n  master: spark://file:7077\n  driver_memory: 3g\nray:\n  address: auto\n")
    cfg = load_config(f, environ={})
    assert (cfg.spark.master, cfg.spark.driver_memory, cfg.ray.address) == ("spark://file:7077", "3g", "auto")

    env = {"MUSICLAKE__SPARK__MASTER": "spark://env:7077"}
    cfg = load_config(f, environ=env)
    assert cfg.spark.master == "spark://env:7077" and cfg.spark.driver_memory == "3g"

    cfg = load_config(f, overrides=["spark.master=local[2]", "train.max_steps=7"], environ=env)
    assert cfg.spark.master == "local[2]" and cfg.train.max_steps == 7


def test_cluster_uris_pass_through_untouched():
    cfg = load_config(overrides=["lake.uri=s3://bucket/lake", "mlflow.tracking_uri=http://mlflow:5000",
                                 "lake.storage_options={AWS_REGION: eu-west-1}"], environ={})
    assert cfg.lake.uri == "s3://bucket/lake"
    assert cfg.mlflow.tracking_uri == "http://mlflow:5000"
    assert cfg.lake.storage_options == {"AWS_REGION": "eu-west-1"}


def test_a_null_artifact_location_leaves_it_to_the_tracking_server(tmp_path):
    from training.registry import client, experiment_id

    cfg = load_config(overrides=[f"mlflow.tracking_uri=sqlite:///{tmp_path}/m.db", "mlflow.artifact_location=null",
                                 "mlflow.experiment=proxied"], environ={})
    assert cfg.mlflow.artifact_location is None
    c = client(cfg)
    exp = c.get_experiment(experiment_id(c, cfg))
    assert exp.name == "proxied" and exp.artifact_location and "mlartifacts" not in exp.artifact_location


def test_config_file_from_environment_variable(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("serve:\n  port: 9001\n")
    assert load_config(environ={"MUSICLAKE_CONFIG": str(f)}).serve.port == 9001


@pytest.mark.parametrize("overrides, env, fragment", [
    (["spark.mastr=local"], {}, "spark.mastr: unknown key (did you mean spark.master?) [from --set spark.mastr]"),
    (["sparc.master=local"], {}, "sparc: unknown key (did you mean spark?)"),
    (["train.max_steps=many"], {}, "train.max_steps: Input should be a valid integer"),
    ([], {"MUSICLAKE__SERVE__PORT": "99999"}, "serve.port"),
    (["spark.driver_memory=lots"], {}, "spark.driver_memory"),
    (["nonsense"], {}, "must look like section.key=value"),
    (["tokenizer.kind=TSD"], {}, "tokenizer.kind: TSD writes no Bar token, which the generator needs"),
    (["tokenizer.kind=MIDILike"], {}, "tokenizer.kind: MIDILike writes no Bar token"),
    (["tokenizer.kind=Octuple"], {}, "tokenizer.kind: unknown tokenization; the one that works end to end is REMI"),
])
def test_mistakes_are_one_clear_line(overrides, env, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=overrides, environ=env)
    msg = str(err.value)
    assert fragment in msg
    assert "\n" not in msg


@pytest.mark.parametrize("overrides, env, fragment", [
    (["serve.prot=1"], {}, "serve.prot: unknown key (did you mean serve.port?) [from --set serve.prot]"),
    ([], {"MUSICLAKE__LAKE__LIMITS__MAX_NOTEZ": "5"},
     "lake.limits.max_notez: unknown key (did you mean lake.limits.max_notes?) [from env"),
    (["train.gates.val_loss.tolerence=1"], {}, "(did you mean train.gates.val_loss.tolerance?)"),
    (["ingest.sources=[{name: a, seeds: ['http://x/'], allowed_domain: []}]"], {},
     "ingest.sources.0.allowed_domain: unknown key (did you mean ingest.sources.0.allowed_domains?)"),
])
def test_an_unknown_key_suggests_the_close_one_in_its_own_section(overrides, env, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=overrides, environ=env)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_a_typo_in_a_yaml_file_gets_a_suggestion_and_nonsense_gets_none(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("serve:\n  prot: 9000\n")
    with pytest.raises(ConfigError) as err:
        load_config(f, environ={})
    assert str(err.value) == f"config error: serve.prot: unknown key (did you mean serve.port?) [from {f}]"
    with pytest.raises(ConfigError) as err:
        load_config(overrides=["serve.zzzzzz=1"], environ={})
    assert str(err.value) == "config error: serve.zzzzzz: unknown key [from --set serve.zzzzzz]"


def test_env_origin_is_named():
    with pytest.raises(ConfigError, match=r"from env MUSICLAKE__SERVE__PORT"):
        load_config(environ={"MUSICLAKE__SERVE__PORT": "99999"})


def test_bad_yaml_file_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("spark: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(bad, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml", environ={})
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(listy, environ={})


def test_unknown_source_is_named():
    cfg = load_config(environ={}, overrides=[
        "ingest.sources=[{name: site, seeds: ['http://example.org/']}]"])
    assert cfg.source("site").seeds == ["http://example.org/"]
    with pytest.raises(ConfigError, match="no source named 'other'"):
        cfg.source("other")


def test_shipped_example_configs_validate():
    root = Path(__file__).resolve().parents[2]
    for f in sorted((root / "infra" / "config").glob("*.yaml")):
        load_config(f, environ={})


def test_train_sizes_and_run_length_come_from_the_preset_unless_set():
    from common.config import TRAIN_PRESETS, TrainConfig

    for name, preset in TRAIN_PRESETS.items():
        cfg = TrainConfig(preset=name)
        assert {k: getattr(cfg, k) for k in preset} == preset, name
    assert TrainConfig().model_dump(include=set(TRAIN_PRESETS["tiny"])) == TRAIN_PRESETS["tiny"]
    mixed = TrainConfig(preset="small", max_steps=9, batch_size=3)
    assert (mixed.max_steps, mixed.batch_size, mixed.n_layer) == (9, 3, TRAIN_PRESETS["small"]["n_layer"])
