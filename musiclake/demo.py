"""The main job on embedded defaults: corpus site → ingest → lake → gold → models → serve → MIDI, WAV, MusicXML.

Each stage is the real one (the same functions the per-stage CLIs call); the demo only wires them
and reports where every result is. A second run reuses what is there: the site export is cached,
ingest lands nothing twice, the Spark jobs are incremental, training reuses a model trained on the
same table versions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from common.config import Config

PROMPTS = (
    ("en", None),  # cfg.demo.prompt
    ("zh", "咖啡馆午后的轻松氛围,带点电子音乐元素"),
)


@dataclass
class DemoResult:
    tables: list = field(default_factory=list)
    ingest: list = field(default_factory=list)
    lake_jobs: list = field(default_factory=list)
    training: object = None
    clap: object = None
    evaluation: object = None
    endpoint: str = ""
    api_key: str = ""
    api_keys_file: str = ""
    key_made: bool = False  # the key is printed only on the run that made it (logs keep what is printed)
    outputs: list[Path] = field(default_factory=list)
    responses: list[dict] = field(default_factory=list)
    ray_dashboard: str | None = None
    elapsed_s: float = 0.0


STAGES = 7


def _stage(n: int, title: str) -> None:
    print(f"\n=== [{n}/{STAGES}] {title} ===", flush=True)


def with_site_source(cfg: Config, site_url: str) -> Config:
    """The config plus the local score site as a crawl source (replacing one of the same name)."""
    from common.score_site import site_source

    src = site_source(site_url)
    others = [s for s in cfg.ingest.sources if s.name != src.name]
    return cfg.model_copy(update={"ingest": cfg.ingest.model_copy(update={"sources": [*others, src]})})


def run_demo(cfg: Config, keep_serving: bool = False) -> DemoResult:
    import ray
    import requests

    from ingest.crawler import run_ingest
    from common.score_site import ScoreSite, build_site
    from lake.delta import Lake
    from lake.jobs.pipeline import run_all
    from lake.spark import spark_session
    from common.cluster import dashboard_url, init_ray
    from serving import app as serving_app
    from training.train import run_training

    t0 = time.monotonic()
    result = DemoResult()
    owns_ray = not ray.is_initialized()

    _stage(1, f"score site: music21 corpus ({cfg.demo.corpus_limit} pieces) as MIDI + lyrics pages")
    build_site(cfg.demo.site_dir, cfg.demo.corpus_limit, faults=True)
    site = ScoreSite(cfg.demo.site_dir, port=cfg.demo.site_port)
    try:
        site.start()
    except OSError as e:
        raise SystemExit(f"demo: demo.site_port {cfg.demo.site_port} on 127.0.0.1 is not free ({e.strerror}): "
                         f"set demo.site_port (e.g. --set demo.site_port=0 for any free port)") from None
    try:
        print(f"site: {site.url} (files in {cfg.demo.site_dir})")
        cfg = with_site_source(cfg, site.url)
        init_ray(cfg)
        result.ray_dashboard = dashboard_url()

        _stage(2, "ingest: Ray + DrissionPage crawler -> bronze Delta tables")
        result.ingest = run_ingest(cfg, ["score-site"])
        for rep in result.ingest:
            print(rep.summary())
    finally:
        site.stop()

    _stage(3, "lake: Spark features, encode, dedup -> silver; split, align -> gold text-music pairs")
    spark = spark_session(cfg, app_name="musiclake-demo")
    try:
        result.lake_jobs = run_all(cfg, spark)
    finally:
        spark.stop()

    _stage(4, "generator: Ray Train (tiny preset) -> MLflow challenger -> evaluation from the notes -> gates")

    def evaluate(cfg_, ref):
        from training.evaluate import evaluate_version

        report = evaluate_version(cfg_, ref)
        result.evaluation = report
        print(report.table(), flush=True)
        return report

    result.training = run_training(cfg, evaluate=evaluate)
    print(result.training.summary())

    _stage(5, "CLAP: text-music contrastive model (Ray Train) -> retrieval evaluation -> gates -> lake embeddings")
    from training.clap.train import run_clap_training

    result.clap = run_clap_training(cfg)
    print(result.clap.summary())

    _stage(6, "serving: Ray Serve page + /v1 API -> MIDI, WAV and MusicXML for two prompts")
    from serving.api import API_KEY_HEADER, GENERATE_PATH
    from serving.guard import ensure_keys

    if cfg.serve.auth:
        keys, made = ensure_keys(cfg.serve.api_keys_file)
        result.api_key, result.api_keys_file, result.key_made = keys[0]["key"], cfg.serve.api_keys_file, made
        print(f"API keys: {cfg.serve.api_keys_file}{' (made now)' if made else ''}")
    try:
        result.endpoint = serving_app.deploy(cfg)
    except serving_app.PortInUse as e:
        raise SystemExit(f"demo: {e}") from None
    out_dir = Path(cfg.demo.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    http = requests.Session()
    if result.api_key:
        http.headers[API_KEY_HEADER] = result.api_key
    try:
        for lang, prompt in PROMPTS:
            # the version this run trained (or reused), champion or not: the demo shows what it made
            body = {"prompt": prompt or cfg.demo.prompt, "bars": 16, "seed": 7,
                    "model": str(result.training.model_version)}
            resp = http.post(result.endpoint + GENERATE_PATH, json=body, timeout=300)
            if resp.status_code != 200:
                raise RuntimeError(f"endpoint answered {resp.status_code}: {resp.text[:300]}")
            payload = resp.json()
            version = payload["provenance"]["generator"]["version"]
            files = []
            for fmt in ("mid", "wav", "musicxml"):
                got = http.get(result.endpoint + payload["urls"][fmt], timeout=300)
                if got.status_code != 200:
                    raise RuntimeError(f"{payload['urls'][fmt]} answered {got.status_code}: {got.text[:300]}")
                path = out_dir / f"demo-{lang}-v{version}.{fmt}"
                path.write_bytes(got.content)
                files.append(path)
            result.outputs.extend(files)
            result.responses.append(payload)
            a = payload["attributes"]
            tracks = ", ".join(f"{t['role']}={t['instrument']} ({t['source']}, {t['n_notes']})" for t in payload["tracks"])
            print(f"[{lang}] {body['prompt']!r} -> {a['style']}, {a['bpm']:g} BPM, {a['key']}, {a['time_signature']}; "
                  f"chords {'-'.join(a['chords'])}; tracks {tracks}; {payload['n_notes']} notes, "
                  f"{payload['duration_s']:.1f}s, generated in {payload['timings']['generate_ms']:.0f} ms "
                  f"(request {payload['elapsed_ms']:.0f} ms); piece {payload['id']}")
            for path in files:
                print(f"    {path}  ({path.stat().st_size / 1024:.0f} kB)")
        if keep_serving:
            print(f"\npage: {_page(result)}\nserving at {result.endpoint} until Ctrl-C", flush=True)
            # on the cluster a SIGINT here was swallowed (a stack dump showed the demo still asleep after it)
            from serving.cli import interrupt_on_stop_signals

            interrupt_on_stop_signals()
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    finally:
        serving_app.shutdown()

    _stage(7, "where everything is")
    result.tables = Lake.from_config(cfg).describe()
    result.elapsed_s = time.monotonic() - t0
    print(report(cfg, result))
    if owns_ray:
        ray.shutdown()
    return result


def _page(r: DemoResult) -> str:
    return f"{r.endpoint}/" + (f"#key={r.api_key}" if r.api_key and r.key_made else "")


def report(cfg: Config, r: DemoResult) -> str:
    from serving.api import API_KEY_HEADER

    lines = [f"Delta tables under {cfg.lake.uri}:",
             f"  {'table':<24} {'layer':<7} {'version':>7} {'rows':>8} {'size':>10}"]
    for t in r.tables:
        lines.append(f"  {t.name:<24} {t.layer:<7} {t.version:>7} {t.rows:>8} {t.size_bytes / 1e6:>8.2f}MB")
    lines.append(f"MLflow: {cfg.mlflow.tracking_uri}")
    for tr in (r.training, r.clap):
        if tr is not None:
            lines.append(f"  {tr.model_name} v{tr.model_version} @{tr.alias or '-'}{' (reused)' if tr.reused else ''}"
                         f"  run {tr.run_id}")
    lines += [
        "  UI: make mlflow-ui  ->  http://127.0.0.1:5000",
        f"Ray dashboard (while running): {r.ray_dashboard or 'disabled'}",
        "Generated (MIDI, WAV, MusicXML):",
        *[f"  {p}" for p in r.outputs],
        f"Demo took {r.elapsed_s:.0f}s",
        "",
        f"Page: {_page(r)}   (up while serving: make serve, or musiclake demo --keep-serving)",
        f"API:  {r.endpoint}/v1/generate, /v1/recommend, /v1/models; spec {r.endpoint}/openapi.json",
    ]
    if r.api_key and r.key_made:
        lines.append(f"API key: {r.api_key}   (made now: shown once; header {API_KEY_HEADER}; keys in {r.api_keys_file})")
    elif r.api_key:
        lines.append(f"API key: in {r.api_keys_file} (shown only when made; `musiclake keys` lists names; "
                     f"header {API_KEY_HEADER})")
    return "\n".join(lines)
