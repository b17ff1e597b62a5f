"""What makes two training runs the same model (training.train.fingerprint, training.clap.train.fingerprint)."""

from __future__ import annotations

from common.config import TrainConfig
from training.train import fingerprint

VERSIONS = {"silver_tokens": 3, "gold_text_music_pairs": 2}


def test_same_settings_same_lake_same_versions_is_the_same_model():
    assert fingerprint(TrainConfig(), "tok", VERSIONS, "s3://b/lake") == fingerprint(TrainConfig(), "tok", dict(VERSIONS),
                                                                                      "s3://b/lake")


def test_another_lake_at_the_same_versions_is_another_model():
    # two prefixes of one bucket (or a local lake and an S3 one) can both stand at v3 with other rows
    assert fingerprint(TrainConfig(), "tok", VERSIONS, "s3://b/a/lake") != fingerprint(TrainConfig(), "tok", VERSIONS,
                                                                                        "s3://b/b/lake")


def test_versions_tokenizer_and_settings_each_change_it():
    base = fingerprint(TrainConfig(), "tok", VERSIONS, "/l")
    assert fingerprint(TrainConfig(), "tok", {**VERSIONS, "silver_tokens": 4}, "/l") != base
    assert fingerprint(TrainConfig(), "other", VERSIONS, "/l") != base
    assert fingerprint(TrainConfig(max_steps=TrainConfig().max_steps + 1), "tok", VERSIONS, "/l") != base
