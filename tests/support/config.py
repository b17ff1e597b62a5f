"""The tests' config: every path under one root, services sized for a 2-core machine."""

from __future__ import annotations

import socket


def make_config(root, *extra: str):
    """A config whose lake, MLflow, site and output all live under ``root``."""
    from common.config import load_config

    overrides = [
        f"lake.uri={root}/lake",
        f"mlflow.tracking_uri=sqlite:///{root}/mlflow.db",
        f"mlflow.artifact_location={root}/mlartifacts",
        f"demo.site_dir={root}/site",
        f"demo.out_dir={root}/out",
        f"train.storage_path={root}/ray_results",
        f"serve.api_keys_file={root}/serve/api_keys.json",
        f"serve.pieces_dir={root}/pieces",
        "ray.num_cpus=2",
        "ray.object_store_memory_mb=256",
        "ray.include_dashboard=false",
        "spark.master=local[2]",
        "spark.driver_memory=1g",
        "spark.shuffle_partitions=2",
        # tests train without the evaluation set (minutes of sampling); they gate on the losses
        "train.gates={val_loss: {better: lower, tolerance: 0.1}}",
        *extra,
    ]
    return load_config(path=None, overrides=overrides, environ={})


def free_port() -> int:
    """A loopback port nothing listens on now (two test runs on one machine must not share a fixed one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
