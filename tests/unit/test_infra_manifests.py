"""The cluster manifests in infra/k8s, validated offline at schema level.

No cluster and no network: every resource is checked for the keys its kind needs, and everything
that names something else is checked against the thing named: Services against the pods they
select, env and volume references against the ConfigMaps/Secrets/PVCs defined here, the config
against the real loader (``common.config.load_config``, which refuses unknown keys), entrypoints
against the real Typer app, the Serve import path against this repo's code.
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pytest
import yaml

from common.config import ConfigError, load_config

K8S = Path(__file__).resolve().parents[2] / "infra" / "k8s"
NAMESPACE = "musiclake"
PART_OF = ("app.kubernetes.io/part-of", "musiclake")
CONFIG_MAP = "musiclake-config"
CONFIG_KEY = "musiclake.yaml"
# Applied with -f instead of -k on purpose (see kustomization.yaml).
OPTIONAL_FILES = {"raycluster.yaml", "ingest-submitter.yaml"}
# The only images that are not the musiclake image.
EXTERNAL_IMAGES = {"registry.k8s.io/kubectl:v1.31.0"}
CLUSTER_SCOPED = {"Namespace"}
RAY_KINDS = {"RayCluster", "RayService", "RayJob", "RayCronJob"}


# -- loading ------------------------------------------------------------------------------------

def _docs_of(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def _label(origin: str, d: dict) -> str:
    md = d.get("metadata") or {}
    return f"{origin}:{d.get('kind')}/{md.get('name') or md.get('generateName')}"


def _load() -> list[tuple[str, dict]]:
    """(origin, manifest) for every file, plus manifests kept as ConfigMap data (templates)."""
    out = []
    for f in sorted(K8S.glob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        for d in _docs_of(f.read_text()):
            out.append((f.name, d))
            if d.get("kind") == "ConfigMap":
                for key, value in (d.get("data") or {}).items():
                    try:
                        inner = _docs_of(value)
                    except yaml.YAMLError:
                        continue
                    for t in inner:
                        if isinstance(t, dict) and "apiVersion" in t and "kind" in t:
                            out.append((f"{f.name}[{d['metadata']['name']}/{key}]", t))
    return out


DOCS = _load()


def _kind(kind: str) -> list[tuple[str, dict]]:
    return [(o, d) for o, d in DOCS if d["kind"] == kind]


def _named(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for _, d in _kind(kind) if d["metadata"].get("name")}


def _kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def _image() -> str:
    (img,) = _kustomization()["images"]
    return f"{img['newName']}:{img['newTag']}"


def _config_text() -> str:
    return _named("ConfigMap")[CONFIG_MAP]["data"][CONFIG_KEY]


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("k8s") / CONFIG_KEY
    p.write_text(_config_text())
    return p


@pytest.fixture(scope="module")
def cfg(config_file):
    return load_config(config_file, environ={})


# -- pods, containers, Ray cluster specs ----------------------------------------------------------

def _ray_cluster_spec(d: dict) -> dict | None:
    spec = d["spec"]
    return {"RayCluster": lambda: spec, "RayService": lambda: spec["rayClusterConfig"],
            "RayJob": lambda: spec["rayClusterSpec"],
            "RayCronJob": lambda: spec["jobTemplate"]["rayClusterSpec"]}.get(d["kind"], lambda: None)()


def _ray_groups(d: dict) -> list[tuple[str, dict]]:
    """(group name, group) of a Ray resource: the head, then each worker group."""
    rc = _ray_cluster_spec(d)
    return [("head", rc["headGroupSpec"])] + [(g["groupName"], g) for g in rc["workerGroupSpecs"]]


def _pod_templates(d: dict) -> list[tuple[str, dict]]:
    """(where, pod template) for every pod a resource makes; KeyError when a required key is missing."""
    kind, spec = d["kind"], d.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return [("template", spec["template"])]
    if kind == "CronJob":
        return [("jobTemplate", spec["jobTemplate"]["spec"]["template"])]
    if kind in RAY_KINDS:
        return [(name, g["template"]) for name, g in _ray_groups(d)]
    return []


def _containers(d: dict) -> list[tuple[str, dict, dict]]:
    """(where, container, pod template) for every container of a resource."""
    return [(f"{where}/{c.get('name')}", c, t) for where, t in _pod_templates(d)
            for c in t["spec"]["containers"] + t["spec"].get("initContainers", [])]


def _count_containers(node) -> int:
    if isinstance(node, dict):
        return sum(len(v) if k in ("containers", "initContainers") and isinstance(v, list) else _count_containers(v)
                   for k, v in node.items())
    if isinstance(node, list):
        return sum(_count_containers(v) for v in node)
    return 0


ALL_CONTAINERS = [(f"{_label(o, d)}:{w}", c, t, d) for o, d in DOCS for w, c, t in _containers(d)]
MUSICLAKE_CONTAINERS = [x for x in ALL_CONTAINERS if not x[1]["image"] in EXTERNAL_IMAGES]


def _cpu(q) -> float:
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


_MEM = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
        "m": 2**20, "g": 2**30}  # the last two: Spark's spelling (spark.driver_memory)


def _mem(q) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", str(q))
    assert m and m.group(2) in _MEM | {"": 1}, f"not a memory quantity: {q!r}"
    return float(m.group(1)) * _MEM.get(m.group(2), 1)


def _mounted_path(container: dict, template: dict, path: str) -> tuple[dict, str]:
    """The volume a file path lies on in this container, and the path inside the volume."""
    best = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best[0]["mountPath"].rstrip("/")):
                best = (m, path[len(mp):].lstrip("/"))
    assert best, f"{path} is on no volume mount of container {container['name']}"
    volumes = {v["name"]: v for v in template["spec"].get("volumes", [])}
    m, rest = best
    assert not m.get("subPath"), f"{path}: subPath mounts never see updates"
    return volumes[m["name"]], rest


def _ports(container: dict) -> dict:
    """name -> number and number -> number of a container's ports."""
    out = {}
    for p in container.get("ports", []):
        out[p["containerPort"]] = p["containerPort"]
        if p.get("name"):
            out[p["name"]] = p["containerPort"]
    return out


# -- every resource -------------------------------------------------------------------------------

def test_every_manifest_parses_with_kind_and_name():
    assert DOCS, "no manifests found"
    for o, d in DOCS:
        md = d.get("metadata") or {}
        assert d.get("apiVersion") and d.get("kind"), _label(o, d)
        assert md.get("name") or (md.get("generateName") and "[" in o), f"{_label(o, d)}: no metadata.name"
        if d["kind"] not in CLUSTER_SCOPED:
            assert md.get("namespace") == NAMESPACE, f"{_label(o, d)}: metadata.namespace should be {NAMESPACE}"
        assert (md.get("labels") or {}).get(PART_OF[0]) == PART_OF[1], f"{_label(o, d)}: no {PART_OF[0]} label"


def test_names_are_unique_per_kind():
    seen = set()
    for o, d in DOCS:
        key = (d["kind"], d["metadata"].get("name") or d["metadata"]["generateName"])
        assert key not in seen, f"{_label(o, d)} defined twice"
        seen.add(key)


def test_kustomization_lists_every_manifest_but_the_alternatives():
    k = _kustomization()
    assert k["kind"] == "Kustomization"
    listed = k["resources"]
    assert len(listed) == len(set(listed))
    files = {f.name for f in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) <= files, f"listed but missing: {set(listed) - files}"
    assert files - set(listed) == OPTIONAL_FILES
    assert listed[0] == "namespace.yaml"


def test_every_pod_template_is_labelled_and_every_container_found():
    for o, d in DOCS:
        for where, t in _pod_templates(d):
            labels = (t.get("metadata") or {}).get("labels") or {}
            assert labels.get(PART_OF[0]) == PART_OF[1], f"{_label(o, d)}:{where}: pod template lacks {PART_OF}"
        # a kind this test does not know how to read would hide its containers from every check below
        assert len(_containers(d)) == _count_containers(d), f"{_label(o, d)}: containers this test cannot reach"


def test_one_musiclake_image_everywhere():
    image = _image()
    assert image.split(":")[-1] not in ("", "latest")
    for where, c, _, _ in ALL_CONTAINERS:
        assert c.get("image"), f"{where}: no image"
        assert c["image"] == image or c["image"] in EXTERNAL_IMAGES, \
            f"{where}: image {c['image']!r}; every musiclake container runs {image} (kustomization.yaml images)"
    assert MUSICLAKE_CONTAINERS


def test_every_container_has_requests_and_limits():
    for where, c, _, _ in ALL_CONTAINERS:
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(res.get(part) or {}), f"{where}: resources.{part} needs cpu and memory"
        assert _cpu(res["requests"]["cpu"]) <= _cpu(res["limits"]["cpu"]), where
        assert _mem(res["requests"]["memory"]) <= _mem(res["limits"]["memory"]), where


def test_volume_mounts_and_probes_name_what_exists():
    for where, c, t, _ in ALL_CONTAINERS:
        volumes = {v["name"] for v in t["spec"].get("volumes", [])}
        for m in c.get("volumeMounts", []):
            assert m["name"] in volumes, f"{where}: mounts undefined volume {m['name']!r}"
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            p = c.get(probe)
            if p and "httpGet" in p:
                port = p["httpGet"]["port"]
                assert isinstance(port, int) or port in _ports(c), f"{where}: {probe} on unknown port {port!r}"
                assert p["httpGet"]["path"].startswith("/")


def test_every_reference_to_a_configmap_secret_or_pvc_resolves():
    config_maps, secrets, pvcs = _named("ConfigMap"), _named("Secret"), _named("PersistentVolumeClaim")

    def keys(d):
        return set(d.get("data") or {}) | set(d.get("stringData") or {})

    for where, c, t, _ in ALL_CONTAINERS:
        for e in c.get("env", []):
            ref = (e.get("valueFrom") or {})
            if "secretKeyRef" in ref:
                r = ref["secretKeyRef"]
                assert r["name"] in secrets, f"{where}: env {e['name']} names undefined Secret {r['name']!r}"
                assert r["key"] in keys(secrets[r["name"]]), f"{where}: Secret {r['name']} has no key {r['key']!r}"
            if "configMapKeyRef" in ref:
                r = ref["configMapKeyRef"]
                assert r["name"] in config_maps, f"{where}: env {e['name']} names undefined ConfigMap {r['name']!r}"
                assert r["key"] in keys(config_maps[r["name"]]), f"{where}: ConfigMap {r['name']} has no key {r['key']!r}"
        for ef in c.get("envFrom", []):
            if "secretRef" in ef:
                assert ef["secretRef"]["name"] in secrets, where
            if "configMapRef" in ef:
                assert ef["configMapRef"]["name"] in config_maps, where
        for v in t["spec"].get("volumes", []):
            if "configMap" in v:
                name = v["configMap"]["name"]
                assert name in config_maps, f"{where}: volume {v['name']} names undefined ConfigMap {name!r}"
                for it in v["configMap"].get("items", []):
                    assert it["key"] in keys(config_maps[name]), where
            if "secret" in v:
                name = v["secret"]["secretName"]
                assert name in secrets, f"{where}: volume {v['name']} names undefined Secret {name!r}"
                for it in v["secret"].get("items", []):
                    assert it["key"] in keys(secrets[name]), f"{where}: Secret {name} has no key {it['key']!r}"
            if "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"]["claimName"]
                assert claim in pvcs, f"{where}: volume {v['name']} names undefined PVC {claim!r}"


def test_pvcs_request_storage():
    for o, d in _kind("PersistentVolumeClaim"):
        assert d["spec"]["accessModes"], _label(o, d)
        assert _mem(d["spec"]["resources"]["requests"]["storage"]) > 0, _label(o, d)


# -- Deployments and Services ---------------------------------------------------------------------

def test_deployments_select_their_pods_and_probe_them():
    deployments = _kind("Deployment")
    assert {d["metadata"]["name"] for _, d in deployments} >= {"mlflow", "spark-master", "spark-worker"}
    for o, d in deployments:
        selector = d["spec"]["selector"]["matchLabels"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert selector and selector.items() <= labels.items(), f"{_label(o, d)}: selector does not match its pods"
        for c in d["spec"]["template"]["spec"]["containers"]:
            assert c.get("readinessProbe") and c.get("livenessProbe"), f"{_label(o, d)}/{c['name']}: needs probes"


def _workload_pods() -> list[tuple[str, dict, dict]]:
    return [(_label(o, d), t["metadata"].get("labels") or {}, t) for o, d in DOCS
            if d["kind"] not in RAY_KINDS for _, t in _pod_templates(d)]


def test_services_select_pods_and_target_their_ports():
    services = _kind("Service")
    assert services
    for o, s in services:
        selector = s["spec"]["selector"]
        pods = [(w, t) for w, labels, t in _workload_pods() if selector.items() <= labels.items()]
        assert pods, f"{_label(o, s)}: selects no pod template defined here ({selector})"
        for p in s["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            for w, t in pods:
                ports = {}
                for c in t["spec"]["containers"]:
                    ports |= _ports(c)
                assert target in ports, f"{_label(o, s)}: targetPort {target!r} is no container port of {w}"
                assert isinstance(p["port"], int)


# -- the config -----------------------------------------------------------------------------------

def test_the_config_map_is_a_valid_musiclake_config(config_file, cfg):
    raw = yaml.safe_load(config_file.read_text())
    assert set(raw) <= set(type(cfg).model_fields)
    assert cfg.ray.address == "auto"
    assert cfg.lake.uri.startswith("s3://")
    assert cfg.mlflow.tracking_uri.startswith("http://")
    assert cfg.spark.master.startswith(("spark://", "k8s://"))
    for key in cfg.lake.storage_options:  # credentials come from the Secret via env, never from the ConfigMap
        assert not re.search(r"secret|access_key|token|password", key, re.I), f"lake.storage_options.{key} in a ConfigMap"


def test_the_loader_refuses_what_these_checks_must_catch(config_file, tmp_path):
    """The checks below lean on load_config refusing unknown keys; show that it does, for file and env."""
    bad = yaml.safe_load(config_file.read_text())
    bad["serve"]["num_replica"] = 2
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="serve.num_replica"):
        load_config(p, environ={})
    with pytest.raises(ConfigError, match="lake.urii"):
        load_config(config_file, environ={"MUSICLAKE__LAKE__URII": "s3://x"})


def _env_of(container: dict) -> dict[str, str]:
    """The container's environment as the process sees it; Secret values as placeholders."""
    env = {}
    for e in container.get("env", []):
        env[e["name"]] = e["value"] if "value" in e else "placeholder-from-" + next(iter(e["valueFrom"]))
    return env


def test_every_musiclake_env_var_is_a_config_key_and_loads(config_file):
    seen = 0
    for where, c, _, _ in MUSICLAKE_CONTAINERS:
        env = {k: v for k, v in _env_of(c).items() if k.startswith("MUSICLAKE__")}
        seen += len(env)
        for name, value in env.items():
            try:
                load_config(config_file, environ={name: value})
            except ConfigError as e:
                pytest.fail(f"{where}: env {name}: {e}")
        load_config(config_file, environ=env)
    assert seen


def test_the_config_file_is_mounted_where_musiclake_config_says():
    needs = {id(c) for _, _, c, _, _ in _commands()} | {id(c) for _, c, _, d in MUSICLAKE_CONTAINERS
                                                        if d["kind"] in RAY_KINDS}
    for where, c, t, _ in MUSICLAKE_CONTAINERS:
        path = _env_of(c).get("MUSICLAKE_CONFIG")
        if path is None:
            assert id(c) not in needs, f"{where}: runs musiclake code but has no MUSICLAKE_CONFIG"
            continue
        volume, inside = _mounted_path(c, t, path)
        assert volume.get("configMap", {}).get("name") == CONFIG_MAP and inside == CONFIG_KEY, \
            f"{where}: MUSICLAKE_CONFIG={path} is not {CONFIG_MAP}/{CONFIG_KEY}"


def test_the_secret_is_a_template_with_a_valid_keys_file(cfg, tmp_path):
    from serving.guard import ensure_keys

    for o, s in _kind("Secret"):
        assert "data" not in s, f"{_label(o, s)}: no base64 data in the repo, only stringData placeholders"
        for key, value in s["stringData"].items():
            assert "REPLACE_ME" in value, f"{_label(o, s)}: {key} looks like a real secret"
    secret = _named("Secret")["musiclake-secrets"]["stringData"]
    name = PurePosixPath(cfg.serve.api_keys_file).name
    p = tmp_path / name
    p.write_text(secret[name])
    keys, made = ensure_keys(p)
    assert keys and not made


# -- the CLI entrypoints --------------------------------------------------------------------------

def _parse_cli(argv: list[str]) -> tuple[str, dict]:
    """``musiclake ...`` through the real Typer app: (verb path, parsed params); fails on unknown verbs/options."""
    import typer.main

    from musiclake.cli import app

    assert argv[0] == "musiclake", argv
    cmd, args, path = typer.main.get_command(app), argv[1:], []
    while hasattr(cmd, "commands"):
        assert args and args[0] in cmd.commands, \
            f"`musiclake {' '.join(path)}` has no command {args[:1]} (known: {sorted(cmd.commands)})"
        path.append(args[0])
        cmd, args = cmd.commands[args[0]], args[1:]
    try:
        ctx = cmd.make_context("musiclake " + " ".join(path), list(args))
    except Exception as e:  # the vendored click's UsageError
        pytest.fail(f"`{' '.join(argv)}`: {type(e).__name__}: {e}")
    return " ".join(path), ctx.params


def _rayjob_specs() -> list[tuple[str, dict, dict]]:
    """(label, RayJob spec, resource) for RayJobs, RayCronJob templates and RayJob templates in ConfigMaps."""
    out = [(_label(o, d), d["spec"], d) for o, d in _kind("RayJob")]
    out += [(_label(o, d), d["spec"]["jobTemplate"], d) for o, d in _kind("RayCronJob")]
    return out


def _commands() -> list[tuple[str, list[str], dict, dict, dict]]:
    """(where, argv, container that runs it, its pod template, resource) for every musiclake command."""
    out = []
    for label, spec, d in _rayjob_specs():
        head = _ray_groups(d)[0][1]["template"]
        out.append((label, shlex.split(spec["entrypoint"]), head["spec"]["containers"][0], head, d))
    for where, c, t, d in MUSICLAKE_CONTAINERS:
        if d["kind"] not in RAY_KINDS and c.get("command", [None])[0] == "musiclake":
            out.append((where, c["command"] + c.get("args", []), c, t, d))
    return out


def test_every_command_is_a_real_cli_verb_and_its_config_is_mounted(cfg):
    verbs = {}
    for where, argv, c, t, d in _commands():
        verb, params = _parse_cli(argv)
        verbs.setdefault(verb, []).append(where)
        if params.get("config"):
            volume, inside = _mounted_path(c, t, str(params["config"]))
            assert volume.get("configMap", {}).get("name") == CONFIG_MAP and inside == CONFIG_KEY, \
                f"{where}: --config {params['config']} is not {CONFIG_MAP}/{CONFIG_KEY}"
        for source in params.get("source") or []:
            cfg.source(source)  # raises when config.yaml has no such ingest source
    # every stage of the pipeline has its manifest
    assert {"ingest run", "lake all", "train run", "clap train"} <= set(verbs), verbs


def test_training_clusters_fit_the_configured_workers(cfg):
    need = {"train run": cfg.train.num_workers * cfg.train.cpus_per_worker,
            "clap train": cfg.clap.num_workers * cfg.clap.cpus_per_worker}
    for where, argv, _, _, d in _commands():
        verb, _ = _parse_cli(argv)
        if verb in need:
            assert _worker_cpus(d) >= need[verb], f"{where}: {_worker_cpus(d)} worker CPUs < {need[verb]} needed"


def test_the_lake_driver_has_room_for_spark_driver_memory(cfg):
    (job,) = [(w, c) for w, argv, c, _, _ in _commands() if _parse_cli(argv)[0] == "lake all"]
    limit = _mem(job[1]["resources"]["limits"]["memory"])
    assert limit > _mem(cfg.spark.driver_memory), f"{job[0]}: memory limit below spark.driver_memory"


# -- Ray resources --------------------------------------------------------------------------------

def _worker_cpus(d: dict) -> float:
    """CPUs Ray sees on the worker groups at their configured replicas (KubeRay: the CPU limit)."""
    total = 0.0
    for name, g in _ray_groups(d)[1:]:
        c = g["template"]["spec"]["containers"][0]
        cpus = g.get("rayStartParams", {}).get("num-cpus") or c["resources"]["limits"]["cpu"]
        total += g["replicas"] * _cpu(cpus)
    return total


def test_ray_resources_have_a_head_and_sized_worker_groups():
    import ray

    ray_docs = [(o, d) for o, d in DOCS if d["kind"] in RAY_KINDS]
    assert {d["kind"] for _, d in ray_docs} >= {"RayService", "RayJob", "RayCronJob"}
    for o, d in ray_docs:
        rc = _ray_cluster_spec(d)
        assert rc["rayVersion"] == ray.__version__, f"{_label(o, d)}: rayVersion {rc['rayVersion']} != installed Ray"
        assert rc["headGroupSpec"]["template"]["spec"]["containers"], _label(o, d)
        assert rc["workerGroupSpecs"], f"{_label(o, d)}: no worker groups"
        for g in rc["workerGroupSpecs"]:
            assert g["groupName"] and "rayStartParams" in g, _label(o, d)
            assert g.get("minReplicas", 0) <= g["replicas"] <= g.get("maxReplicas", g["replicas"]), _label(o, d)
            assert g["template"]["spec"]["containers"], _label(o, d)


def test_rayjobs_clean_up_and_are_bounded():
    specs = _rayjob_specs()
    assert specs
    for label, spec, _ in specs:
        assert spec["entrypoint"].startswith("musiclake "), label
        assert spec["shutdownAfterJobFinishes"] is True, label
        assert spec["activeDeadlineSeconds"] > 0 and spec["ttlSecondsAfterFinished"] >= 0, label


def test_scheduled_ingest_runs_the_ingest_cli():
    docs = _docs_of((K8S / "rayjob-ingest.yaml").read_text())
    cron = next(d for d in docs if d["kind"] == "RayCronJob")
    assert cron["spec"]["schedule"].count(" ") == 4
    assert cron["spec"]["jobTemplate"]["entrypoint"].startswith("musiclake ingest run --source ")


_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


def _schedules() -> dict[str, str]:
    return {_label(o, d): d["spec"]["schedule"] for o, d in DOCS if d["kind"] in ("CronJob", "RayCronJob")}


def test_schedules_have_five_fields_and_the_lake_follows_ingest():
    schedules = _schedules()
    assert schedules
    for label, s in schedules.items():
        fields = s.split()
        assert len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields), f"{label}: bad schedule {s!r}"
    ingest = next(s for label, s in schedules.items() if "RayCronJob/musiclake-ingest" in label).split()
    lake = next(s for label, s in schedules.items() if "CronJob/musiclake-lake" in label).split()
    assert lake[1:] == ingest[1:] and int(lake[0]) > int(ingest[0]), "the lake jobs run in the hour after ingest"


# -- serving --------------------------------------------------------------------------------------

APP_BUILDER_HINT = '''serving/app.py needs the application builder the RayService imports:

def app_builder(args: dict) -> serve.Application:
    """Ray Serve import path (KubeRay RayService): ``serving.app:app_builder``, args ``{config: PATH}``."""
    from common.config import load_config

    return build_app(load_config((args or {}).get("config")))
'''


def _rayservice() -> dict:
    (svc,) = [d for _, d in _kind("RayService")]
    return svc


def _serve_config() -> dict:
    sc = yaml.safe_load(_rayservice()["spec"]["serveConfigV2"])
    assert isinstance(sc, dict) and sc["applications"], "serveConfigV2 must be YAML with applications"
    return sc


def _resolve(import_path: str):
    module, _, attr = import_path.partition(":")
    assert module and attr, f"import_path {import_path!r} must look like module:attribute"
    obj = importlib.import_module(module)
    for part in attr.split("."):
        if not hasattr(obj, part):
            pytest.fail(f"import_path {import_path!r}: {module} has no {attr!r}.\n" + APP_BUILDER_HINT)
        obj = getattr(obj, part)
    return obj


def test_rayservice_import_path_builds_the_real_application(config_file, cfg):
    from ray import serve

    sc = _serve_config()
    (app,) = sc["applications"]
    assert app["route_prefix"] == "/" and app["name"]
    target = _resolve(app["import_path"])
    if isinstance(target, serve.Application):
        built = target
    else:
        assert callable(target), f"{app['import_path']} is neither an Application nor a builder"
        path = app.get("args", {}).get("config")
        assert path, "serveConfigV2 args.config: the mounted musiclake config"
        built = target({**app["args"], "config": str(config_file)})  # the same file, here
        assert isinstance(built, serve.Application), f"{app['import_path']} returned {type(built).__name__}"
    deployment = built._bound_deployment
    names = {deployment.name}
    for d in app.get("deployments", []):
        assert d["name"] in names, f"serveConfigV2 deployment {d['name']!r} is not in the app (has {names})"
        # the overrides must not contradict the config the builder sized it from
        assert d.get("num_replicas", cfg.serve.num_replicas) == cfg.serve.num_replicas
        assert d.get("ray_actor_options", {}).get("num_cpus", cfg.serve.replica_cpus) == cfg.serve.replica_cpus
    assert deployment.num_replicas == cfg.serve.num_replicas


def test_rayservice_ports_probes_and_volumes_match_the_config(cfg):
    from serving.api import HEALTH_PATH

    svc = _rayservice()
    sc = _serve_config()
    assert sc["http_options"]["port"] == cfg.serve.port
    assert sc["http_options"]["host"] == cfg.serve.host == "0.0.0.0"
    assert _worker_cpus(svc) >= cfg.serve.num_replicas * cfg.serve.replica_cpus, "workers too small for the replicas"
    pvcs = _named("PersistentVolumeClaim")
    for group, g in _ray_groups(svc):
        t = g["template"]
        (c,) = t["spec"]["containers"]
        assert _ports(c).get("serve") == cfg.serve.port, f"{group}: container port 'serve' != serve.port"
        assert c.get("readinessProbe") and c.get("livenessProbe"), f"{group}: needs probes"
        if group != "head":  # a worker is ready when the application answers through its proxy
            probe = c["readinessProbe"]["httpGet"]
            assert probe["path"] == HEALTH_PATH and _ports(c).get(probe["port"], probe["port"]) == cfg.serve.port
        # every node may hold a replica: the pieces on one shared volume, the keys from the Secret
        volume, _ = _mounted_path(c, t, cfg.serve.pieces_dir)
        claim = volume["persistentVolumeClaim"]["claimName"]
        assert "ReadWriteMany" in pvcs[claim]["spec"]["accessModes"], f"{claim} must be ReadWriteMany"
        volume, inside = _mounted_path(c, t, cfg.serve.api_keys_file)
        assert inside in {it["path"] for it in volume["secret"]["items"]}, f"{group}: api_keys_file not in the Secret"
        _mounted_path(c, t, _serve_config()["applications"][0]["args"]["config"])


# -- service addresses in the config --------------------------------------------------------------

def _service_at(host: str, port: int) -> dict:
    """The Service a cluster DNS name (name, name.ns, name.ns.svc[.cluster.local]) and port reach."""
    name, *rest = host.split(".")
    if rest:
        assert rest[0] == NAMESPACE and rest[1:] in ([], ["svc"], ["svc", "cluster", "local"]), host
    services = _named("Service")
    assert name in services, f"{host}: no Service {name!r} here"
    assert port in {p["port"] for p in services[name]["spec"]["ports"]}, f"{host}: Service {name} has no port {port}"
    return services[name]


def test_config_urls_reach_services_defined_here(cfg):
    mlflow = urlparse(cfg.mlflow.tracking_uri)
    _service_at(mlflow.hostname, mlflow.port)
    if cfg.spark.master.startswith("spark://"):
        spark = urlparse(cfg.spark.master)
        _service_at(spark.hostname, spark.port)
    server = _named("Deployment")["mlflow"]["spec"]["template"]["spec"]["containers"][0]
    args = dict(a.split("=", 1) for a in server["args"] if "=" in a)
    assert args["--default-artifact-root"] == cfg.mlflow.artifact_location
    assert mlflow.hostname in args["--allowed-hosts"].split(",") or \
        f"{mlflow.hostname}:{mlflow.port}" in args["--allowed-hosts"].split(",")


def test_the_spark_driver_is_reachable_where_the_config_says(cfg):
    conf = cfg.spark.conf
    host = conf["spark.driver.host"]
    (lake,) = [(c, t) for _, argv, c, t, _ in _commands() if _parse_cli(argv)[0] == "lake all"]
    c, t = lake
    hostname, subdomain, *rest = host.split(".")
    assert t["spec"]["hostname"] == hostname and t["spec"]["subdomain"] == subdomain, host
    assert rest[0] == NAMESPACE
    headless = _named("Service")[subdomain]
    assert headless["spec"].get("clusterIP") == "None", f"{subdomain} must be headless to name the pod"
    assert headless["spec"]["selector"].items() <= t["metadata"]["labels"].items()
    for key in ("spark.driver.port", "spark.blockManager.port"):
        assert int(conf[key]) in _ports(c).values(), f"{key} {conf[key]} is no port of the driver container"
    assert conf.get("spark.driver.bindAddress") == "0.0.0.0"
