"""The cluster manifests in infra/k8s parse and name what they run."""

from pathlib import Path

import yaml

K8S = Path(__file__).resolve().parents[2] / "infra" / "k8s"


def test_every_manifest_parses_with_kind_and_name():
    docs = [d for f in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    assert docs, "no manifests found"
    for d in docs:
        assert d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"), d


def test_scheduled_ingest_runs_the_ingest_cli():
    docs = [d for d in yaml.safe_load_all((K8S / "rayjob-ingest.yaml").read_text()) if d]
    cron = next(d for d in docs if d["kind"] == "RayCronJob")
    assert cron["spec"]["schedule"].count(" ") == 4
    assert cron["spec"]["jobTemplate"]["entrypoint"].startswith("musiclake ingest run --source ")
