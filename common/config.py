"""The one typed configuration of musiclake.

Precedence, lowest to highest: embedded defaults < YAML file < environment variables < CLI ``--set``.

* YAML file: ``--config PATH``, else ``$MUSICLAKE_CONFIG``, else ``./musiclake.yaml`` when present.
* Environment: ``MUSICLAKE__SECTION__KEY=value`` (double underscores nest), value parsed as YAML.
* CLI: ``--set section.key=value`` (repeatable), value parsed as YAML.

Every relative path is resolved against the working directory at load time, so Ray workers and
Spark executors see the same absolute locations. Pointing at a cluster is a config change only:
``ray.address``, ``spark.master``, ``lake.uri`` + ``lake.storage_options``, ``mlflow.tracking_uri``.
An unknown or mistyped key raises :class:`ConfigError` with one line naming it.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_PREFIX = "MUSICLAKE__"
DEFAULT_FILE = "musiclake.yaml"


class ConfigError(ValueError):
    """A configuration problem, always one line naming the offending key and its origin."""


def local_or_uri(v: str) -> str:
    """A URI (``s3://...``) as it is; a local path made absolute against the working directory."""
    return v if "://" in v else str(Path(v).expanduser().resolve())


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True)


class RayConfig(_Section):
    address: str | None = Field(None, description="None starts a local Ray; 'auto' or 'ray://host:10001' joins a cluster")
    num_cpus: int | None = Field(None, ge=1, description="CPUs for a local Ray (None: all)")
    object_store_memory_mb: int = Field(768, ge=128, description="object store size for a local Ray")
    include_dashboard: bool = True
    dashboard_port: int = Field(8265, ge=1, le=65535)
    worker_niceness: int = Field(0, ge=0, le=19, description="nice value of a local Ray's worker processes (Ray's own "
                                 "default is 15: every other process on the machine, a test run or a load test's "
                                 "clients, then takes the cores from the Serve replicas, samplers and Ray Train "
                                 "workers); a cluster's nodes set it when they start")
    auth_mode: Literal["disabled", "token"] | None = Field(
        None, description="a cluster's Ray auth mode (RAY_AUTH_MODE); None leaves it to the environment")
    auth_token_file: str | None = Field(
        None, description="the cluster's Ray token file (RAY_AUTH_TOKEN_PATH); None: ~/.ray/auth_token")


class SparkConfig(_Section):
    master: str = "local[*]"
    driver_memory: str = Field("2g", pattern=r"^\d+[mMgG]$")
    shuffle_partitions: int = Field(4, ge=1)
    conf: dict[str, str] = Field(default_factory=dict, description="extra spark.* settings")


class LimitsConfig(_Section):
    """Per-file caps of the lake jobs: a file beyond any is quarantined with the reason, never processed."""

    max_tracks: int = Field(256, ge=1)
    max_notes: int = Field(300_000, ge=1)
    max_duration_s: float = Field(3600.0, gt=0)
    min_bpm: float = Field(8.0, gt=0)
    max_bpm: float = Field(1000.0, gt=0)
    max_bars: int = Field(20_000, ge=1)
    max_seconds: float = Field(20.0, gt=0, description="wall clock per file (parse + features + tokens)")


class LakeConfig(_Section):
    uri: str = "./data/lake"
    storage_options: dict[str, str] = Field(default_factory=dict, description="object-store credentials/endpoint for delta-rs")
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    chunk_files: int = Field(50_000, ge=1, description="per-file jobs (features, encode) commit every this many files, "
                                                        "so a killed run keeps the chunks it finished")

    @field_validator("uri")
    @classmethod
    def _absolute(cls, v: str) -> str:
        return local_or_uri(v)


class MlflowConfig(_Section):
    tracking_uri: str = "sqlite:///./data/mlflow.db"
    artifact_location: str | None = Field(
        "./data/mlartifacts", description="where a new experiment keeps its artifacts; null: the tracking server "
                                          "decides (an `mlflow server` proxying to its own artifact store)")
    experiment: str = "musiclake"

    @field_validator("tracking_uri")
    @classmethod
    def _absolute_sqlite(cls, v: str) -> str:
        prefix = "sqlite:///"
        if v.startswith(prefix) and not v[len(prefix):].startswith("/"):
            return prefix + str(Path(v[len(prefix):]).resolve())
        return v

    @field_validator("artifact_location")
    @classmethod
    def _absolute_artifacts(cls, v: str | None) -> str | None:
        return v if v is None or "://" in v else Path(local_or_uri(v)).as_uri()


class SourceConfig(_Section):
    """One crawl source: where to start, what to follow, how politely."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    seeds: list[str] = Field(min_length=1)
    allowed_domains: list[str] = Field(default_factory=list, description="hosts (host:port allowed) to stay on; empty: the seeds' hosts")
    page_link: str = Field("css:a.page", description="DrissionPage locator of index/navigation links to follow")
    midi_link: str = Field("css:a[href$='.mid']", description="DrissionPage locator of MIDI file links")
    lyrics_link: str = Field("css:a.lyrics", description="DrissionPage locator of lyrics page links")
    lyrics_text: str = Field("css:div.lyrics", description="DrissionPage locator of the lyrics text on a lyrics page")
    max_depth: int = Field(3, ge=0)
    max_pages: int = Field(10_000, ge=1)
    user_agent: str = "musiclake-crawler/0.1 (+https://github.com/musiclake/musiclake; research crawler)"
    timeout_s: float = Field(10.0, gt=0)
    max_file_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    license: str = "unknown"
    allow_private: bool = Field(False, description="allow loopback/private hosts (the demo's local site); never "
                                                   "link-local/cloud-metadata addresses unless listed in private_hosts; "
                                                   "when private_hosts is set, only those")
    private_hosts: list[str] = Field(default_factory=list, description="only these private hosts (host or host:port) are allowed, also after redirects")
    # politeness and consent
    obey_robots: bool = Field(True, description="obey robots.txt (Disallow/Allow, Crawl-delay), fetched once per host and run")
    respect_noai: bool = Field(True, description="honour X-Robots-Tag and <meta name=robots> opt-outs (noai, noindex, none, nofollow)")
    requests_per_second: float = Field(1.0, ge=0, description="per host, across all workers together; 0: no rate limit")
    per_host_concurrency: int = Field(2, ge=1, description="requests in flight to one host, across all workers")
    max_crawl_delay_s: float = Field(30.0, ge=0, description="a robots.txt Crawl-delay above this skips the host")
    # distribution and safety
    fetch_threads: int = Field(8, ge=1, description="requests one fetch actor runs at once (one SessionPage each)")
    max_redirects: int = Field(5, ge=0)
    max_request_s: float = Field(60.0, gt=0, description="wall-clock cap on one request, body included")
    retries: int = Field(1, ge=0, description="retries after a 5xx, 429 or connection error")
    midi_check: Literal["parse", "header"] = Field("parse", description="parse: MIDI lands only if its header checks and it parses; header: header checks only")


class IngestConfig(_Section):
    sources: list[SourceConfig] = Field(default_factory=list)
    workers: int = Field(2, ge=1, description="Ray fetch tasks in flight")
    batch_size: int = Field(32, ge=1, description="URLs per Ray fetch task")
    checkpoint_s: float = Field(5.0, gt=0, description="seconds between commits of landed rows and the crawl frontier")
    land_every_rows: int = Field(500, ge=1, description="outcomes buffered before the lander commits (also every "
                                                        "checkpoint_s); also the most URLs per fetch task, so a killed "
                                                        "run fetches again at most about (tasks in flight + 1) x this")
    lease_ttl_s: float = Field(600.0, ge=5, description="per-source ingest lease: renewed every third of this; a dead holder's lease expires after it")
    import_max_file_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="bulk import: larger archive members are recorded as errors")
    actor_start_timeout_s: float = Field(120.0, gt=0, description="seconds the crawl's fetch actors may take to start; "
                                                                  "past it the crawl stops with what Ray is short of "
                                                                  "(e.g. CPUs other actors or placement groups hold)")


class TokenizerConfig(_Section):
    # Only kinds that work end to end (lake tokens, training, sampling bar by bar). lake.tokenizer can build
    # TSD and MIDILike too, but they write no Bar token, which the generator counts bars and places chords by.
    kind: Literal["REMI"] = "REMI"
    use_programs: bool = True
    use_tempos: bool = True
    use_time_signatures: bool = True
    beat_res: dict[str, int] = Field(default_factory=lambda: {"0_4": 8, "4_12": 4})
    num_velocities: int = Field(16, ge=1)
    max_file_bytes: int = Field(4 * 1024 * 1024, ge=64)

    @field_validator("kind", mode="before")
    @classmethod
    def _works_end_to_end(cls, v):
        from pydantic_core import PydanticCustomError

        if v in ("TSD", "MIDILike"):
            raise PydanticCustomError("tokenizer_kind", "{kind} writes no Bar token, which the generator needs to "
                                      "count bars and place a chord per bar; use REMI", {"kind": v})
        if v != "REMI":
            raise PydanticCustomError("tokenizer_kind", "unknown tokenization; the one that works end to end is REMI")
        return v


class Gate(_Section):
    """A promotion gate on one metric of a candidate model version (see training.lifecycle).

    ``min`` / ``max`` are absolute thresholds; the candidate must also not be worse than the current
    champion by more than ``tolerance`` (in the metric's own units). Which way is worse comes from
    ``better``, or, when that is unset, from the threshold given (``min``: higher is better).
    """

    min: float | None = Field(None, description="pass only when the metric is >= min")
    max: float | None = Field(None, description="pass only when the metric is <= max")
    better: Literal["higher", "lower"] | None = Field(None, description="direction for the regression check (default: from min/max)")
    tolerance: float = Field(0.0, ge=0, description="largest worsening against the champion that still passes")

    @model_validator(mode="after")
    def _has_direction(self):
        if self.better is None and (self.min is None) == (self.max is None):
            raise ValueError("say which way is better: set better (higher|lower), or exactly one of min/max")
        return self

    @property
    def higher_is_better(self) -> bool:
        return self.better == "higher" if self.better is not None else self.min is not None


# Model sizes and run lengths by name; keys set explicitly (file, env, --set) win over the preset.
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"n_layer": 2, "n_head": 4, "n_embd": 128, "block_size": 256, "batch_size": 12, "max_steps": 200,
             "learning_rate": 3e-3},
    "small": {"n_layer": 6, "n_head": 8, "n_embd": 384, "block_size": 512, "batch_size": 32, "max_steps": 5000,
              "learning_rate": 1e-3},
    "base": {"n_layer": 12, "n_head": 12, "n_embd": 768, "block_size": 1024, "batch_size": 32, "max_steps": 50_000,
             "learning_rate": 6e-4},
    # `make train-pop909`: POP909's train split (565 songs, held-out songs left out) plus the demo corpus's
    # (241) in at most 60 minutes on 2 CPU cores, sized from the measured rate (docs/models.md, "Training on
    # POP909"): 1.47 M parameters, 900 steps x 2 workers x 8 windows x 512 note steps = 7.4 M note steps
    # (~0.4 epoch), 41 min at the 3,000 note steps/s measured with a test suite beside it
    "pop909": {"n_layer": 3, "n_head": 4, "n_embd": 192, "block_size": 512, "batch_size": 8, "max_steps": 900,
               "learning_rate": 2e-3, "pitch_warmth": 1.0, "onset_warmth": 1.3},
}


class TrainConfig(_Section):
    """The generator's training run (training.train on the generic loop training.loop)."""

    preset: Literal["tiny", "small", "base", "pop909"] = Field("tiny", description="sizes from TRAIN_PRESETS; explicit keys override")
    num_workers: int = Field(2, ge=1, description="Ray Train workers (DDP ranks)")
    cpus_per_worker: int = Field(1, ge=1, description="CPUs each worker reserves, and its torch threads")
    use_gpu: bool = Field(False, description="one GPU per worker")
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="autocast dtype; fp16 adds a gradient scaler")
    # the preset's (TRAIN_PRESETS, the one place sizes and run lengths are written) unless set explicitly
    max_steps: int = Field(ge=1)
    batch_size: int = Field(ge=1, description="windows per worker per step")
    block_size: int = Field(ge=16)
    n_layer: int = Field(ge=1)
    n_head: int = Field(ge=1)
    n_embd: int = Field(ge=8)
    dropout: float = Field(0.1, ge=0, lt=1)
    pitch_warmth: float = Field(1.0, gt=0, le=4, description="the trained model samples pitches at the request's "
                                "temperature times this (saved with the model; docs/models.md, 'Phrases')")
    onset_warmth: float = Field(1.0, gt=0, le=4, description="the trained model samples the melody's onsets at the "
                                "request's temperature times this (saved with the model; docs/models.md)")
    learning_rate: float = Field(gt=0, description="peak learning rate after warm-up")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="cosine decay ends at learning_rate * this")
    warmup_steps: int | None = Field(None, ge=0, description="linear warm-up; None: 10% of max_steps, at most 50")
    weight_decay: float = Field(0.1, ge=0, description="AdamW decay on matrices (not on biases, norms)")
    grad_clip: float = Field(1.0, ge=0, description="max global gradient norm; 0: no clipping")
    seed: int = 0
    log_every: int = Field(10, ge=1, description="steps between MLflow batches and progress lines")
    eval_every: int = Field(0, ge=0, description="steps between validation passes; 0: only at the end")
    checkpoint_every: int = Field(50, ge=1, description="steps between checkpoints (and one at the end)")
    keep_checkpoints: int = Field(2, ge=1, description="checkpoints kept per run in storage_path")
    max_failures: int = Field(1, ge=-1, description="worker-group restarts from the last checkpoint; -1: no limit")
    storage_path: str = Field("./data/ray_results", description="Ray Train checkpoints and results")
    gates: dict[str, Gate] = Field(
        default_factory=lambda: {
            "val_loss": Gate(better="lower", tolerance=0.1),
            # measured from the notes on the fixed evaluation set (training.evaluate), in percent
            "key_exact_pct": Gate(min=75, tolerance=5), "chord_accuracy_pct": Gate(min=75, tolerance=5),
            "instruments_present_pct": Gate(min=95, tolerance=0), "tempo_bin_hit_pct": Gate(min=80, tolerance=5),
            "bpm_error_median_pct": Gate(max=2.0, tolerance=0.5)},
        description="metric -> gate a new version must pass to become champion (run without evaluation: "
                    "only the metrics it has are known, a gate on a missing metric fails)")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            preset = data.get("preset", "tiny")
            if preset in TRAIN_PRESETS:  # an unknown name is refused by the field's own check
                data = {**TRAIN_PRESETS[preset], **data}
            else:
                data = {**TRAIN_PRESETS["tiny"], **data}
        return data

    @field_validator("storage_path")
    @classmethod
    def _absolute(cls, v: str) -> str:
        return local_or_uri(v)


class ClapConfig(_Section):
    """The CLAP text-music model (training.clap) on the generic loop: a size preset, the run's knobs, its gates.

    Model sizes, steps, batch and learning rate come from ``training.clap.config.PRESETS[preset]``
    unless set here; the other keys are training.loop.TrainSettings of the same names.
    """

    preset: Literal["tiny", "small", "base"] = "tiny"
    num_workers: int = Field(2, ge=1, description="Ray Train workers (DDP ranks); the loss sees every rank's batch")
    cpus_per_worker: int = Field(1, ge=1)
    use_gpu: bool = False
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    max_steps: int | None = Field(None, ge=1, description="None: the preset's")
    batch_size: int | None = Field(None, ge=2, description="pairs per worker and step; None: the preset's")
    learning_rate: float | None = Field(None, gt=0, description="None: the preset's")
    seed: int = 0
    log_every: int = Field(10, ge=1)
    checkpoint_every: int = Field(100, ge=1, description="steps between checkpoints under train.storage_path")
    keep_checkpoints: int = Field(2, ge=1)
    max_failures: int = Field(2, ge=-1, description="worker-group restarts from the last checkpoint; -1: no limit")
    gates: dict[str, Gate] = Field(
        default_factory=lambda: {"validation.t2m.en.mrr_over_chance": Gate(min=1.5, tolerance=0.2),
                                 "validation.t2m.en.mrr": Gate(better="higher", tolerance=0.02)},
        description="held-out retrieval metric -> gate a new version must pass to become champion "
                    "(the champion is re-measured on the same pool first)")


class ServeConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    model_alias: str = "champion"
    max_models_per_replica: int = Field(3, ge=1, description="generator versions one replica holds (LRU)")
    clap_alias: str = Field("champion", description="the CLAP version that ranks candidates and fills recommendations")
    num_replicas: int = Field(1, ge=1)
    replica_cpus: float = Field(1.0, gt=0)
    replica_resources: dict[str, float] = Field(
        default_factory=dict, description="custom Ray resources each replica needs, e.g. {worker: 0.01} to place "
                                          "replicas on the nodes started with that resource")
    sampling: Literal["batched", "fast", "baseline"] = Field(
        "batched", description="batched: a replica's concurrent generations sampled together, one model step for "
                               "all of them (continuous batching on the fast path, the same notes per request); "
                               "fast: the numpy path, one worker thread per generation; baseline: the plain fp32 "
                               "path (for comparison)")
    sampling_processes: int = Field(
        2, ge=0, description="sampling=batched: Ray actors beside each replica that sample its requests, each a "
                             "process and interpreter lock of its own with its own batch (so sampling and the "
                             "replica's HTTP work use several cores; one per core suits); 0: in a thread of the "
                             "replica")
    alias_ttl_s: float = Field(2.0, ge=0, description="how long a resolved alias is reused before the registry is asked again")
    # admission: a replica generates this many pieces at once and queues this many more; beyond that, 503 + Retry-After
    # (sampling=batched: a 200's latency is about (max_concurrent + max_queue) / throughput once the replica is full;
    # 16 + 4 let the POP909 model's p95 reach 1.2 s with 16 clients on 2 cores. A queued request waits for a whole
    # piece and then takes a whole piece's time: no queue (10 + 0) cut the load test's p95 from 1.56-1.61 s to
    # 1.11-1.31 s at the same throughput, measured in turns; docs/models.md)
    max_concurrent: int = Field(10, ge=1, description="generations one replica runs at once (sampling=batched: "
                                                      "sampled together, and the most pieces one model step "
                                                      "carries; fast/baseline: worker threads, 2 suits 2 cores)")
    max_queue: int = Field(0, ge=0, description="generations one replica lets wait; more get 503 with Retry-After")
    max_candidates: int = Field(4, ge=1, le=16, description="the most candidates one request may ask the CLAP model to rank")
    # security
    auth: bool = Field(True, description="require an API key (header X-API-Key or 'Authorization: Bearer') on /v1/*")
    api_keys_file: str = Field("./data/serve/api_keys.json", description="keys and their names; made at first start")
    rate_limit_per_min: float = Field(120.0, gt=0, description="requests per minute per key (token bucket)")
    rate_burst: int = Field(20, ge=1, description="requests a key may send at once before the rate limit applies")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="largest JSON request body")
    max_upload_bytes: int = Field(1024 * 1024, ge=1024, description="largest uploaded MIDI file")
    max_connections: int = Field(256, ge=8, description="requests one replica holds at once (reading bodies, "
                                                        "waiting, generating); generation itself is bounded by "
                                                        "max_concurrent + max_queue")
    body_timeout_s: float = Field(10.0, gt=0, description="a client must send its whole request body within this; "
                                                          "a slower one is answered 408 and cut off")
    request_timeout_s: float = Field(120.0, gt=0, description="a request still unanswered after this is a 504")
    # renders: their own bounded pool, capped in length and size, and dearer to a key's rate than a read
    render_concurrent: int = Field(1, ge=1, description="renders (WAV, score, piano roll) one replica runs at once")
    render_queue: int = Field(4, ge=0, description="renders one replica lets wait; more get 503 with Retry-After")
    render_max_seconds: float = Field(300.0, gt=0, description="longest piece that is rendered (longer: 422)")
    render_max_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024, description="largest rendered file (larger: 422)")
    render_cost: int = Field(5, ge=1, description="rate-limit tokens a render that is not stored yet costs")
    # retention: applied when the service starts, every prune_every_s, and by `musiclake pieces prune`
    retention_days: float = Field(30.0, gt=0, description="pieces and uploads older than this are deleted")
    store_max_bytes: int = Field(2 * 1024**3, ge=1024 * 1024, description="the whole store's ceiling (pieces, "
                                                                           "renders, uploads, records)")
    key_quota_bytes: int = Field(256 * 1024**2, ge=64 * 1024, description="what one key's pieces, renders and "
                                                                         "uploads may take in the store")
    prune_every_s: float = Field(300.0, gt=0, description="how often a replica applies the retention policy")
    # outputs
    pieces_dir: str = Field("./data/pieces", description="every generated piece: its files and its provenance")
    soundfont: str = Field("/usr/share/sounds/sf2/FluidR3_GM.sf2", description="General MIDI soundfont for WAV rendering")
    fluidsynth: str = Field("fluidsynth", description="the FluidSynth executable that renders WAV")
    sample_rate: int = Field(44100, ge=8000, le=96000)

    @field_validator("api_keys_file", "pieces_dir")
    @classmethod
    def _absolute(cls, v: str) -> str:
        return local_or_uri(v)


class DemoConfig(_Section):
    corpus_limit: int = Field(300, ge=5, description="music21 corpus pieces exported to the local score site")
    site_dir: str = "./data/site"
    site_port: int = Field(8765, ge=0, le=65535, description="fixed so re-runs see the same URLs (0: any free port)")
    out_dir: str = "./out"
    prompt: str = "relaxed cafe afternoon with a touch of electronic"

    @field_validator("site_dir", "out_dir")
    @classmethod
    def _absolute(cls, v: str) -> str:
        return local_or_uri(v)


class Config(_Section):
    ray: RayConfig = Field(default_factory=RayConfig)
    spark: SparkConfig = Field(default_factory=SparkConfig)
    lake: LakeConfig = Field(default_factory=LakeConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    clap: ClapConfig = Field(default_factory=ClapConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    demo: DemoConfig = Field(default_factory=DemoConfig)

    def source(self, name: str) -> SourceConfig:
        for s in self.ingest.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.ingest.sources) or "none configured"
        raise ConfigError(f"ingest.sources: no source named {name!r} (known: {known})")


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        nxt = node.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{dotted}: {k!r} is not a section")
        node = nxt
    node[keys[-1]] = value


def _parse_scalar(text: str, origin: str) -> Any:
    try:
        return yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"{origin}: value {text!r} is not valid YAML ({e.__class__.__name__})") from None


def _section_at(path: tuple) -> type[BaseModel] | None:
    """The config section (a pydantic model) that ``path`` leads to from :class:`Config`, stepping through
    list items (``ingest.sources.0``) and dict values (``train.gates.val_loss``); None where it is no section."""

    def unwrap(t: Any) -> Any:  # X | None -> X
        args = [a for a in get_args(t) if a is not type(None)]
        return unwrap(args[0]) if get_origin(t) in (Union, UnionType) and len(args) == 1 else t

    node: Any = Config
    for part in path:
        if isinstance(node, type) and issubclass(node, BaseModel) and part in node.model_fields:
            node = unwrap(node.model_fields[part].annotation)
        elif get_origin(node) in (list, dict) and get_args(node):
            node = unwrap(get_args(node)[-1])  # a list's item, a dict's value
        else:
            return None
    return node if isinstance(node, type) and issubclass(node, BaseModel) else None


def _did_you_mean(loc: tuple) -> str:
    """`` (did you mean serve.port?)`` for a mistyped ``serve.prot``, from the keys the section has; else ''."""
    section = _section_at(loc[:-1])
    if section is None or not isinstance(loc[-1], str):
        return ""
    close = difflib.get_close_matches(loc[-1], list(section.model_fields), n=2, cutoff=0.6)
    prefix = "".join(f"{p}." for p in loc[:-1])
    return f" (did you mean {' or '.join(prefix + c for c in close)}?)" if close else ""


def _format_error(err: ValidationError, origins: dict[str, str]) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        problem = "unknown key" + _did_you_mean(tuple(first["loc"]))
    else:
        problem = f"{first['msg']} (got {first.get('input')!r})"
    related = [o for k, o in origins.items() if k == loc or k.startswith(loc + ".") or loc.startswith(k + ".")]
    origin = origins.get(loc) or (related[-1] if related else "defaults")
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"config error: {loc}: {problem} [from {origin}]{more}"


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                environ: dict[str, str] | None = None) -> Config:
    """Build the config from defaults, a YAML file, the environment and ``key=value`` overrides."""
    environ = dict(os.environ if environ is None else environ)
    tree: dict[str, Any] = {}
    origins: dict[str, str] = {}

    if path is None:
        path = environ.get("MUSICLAKE_CONFIG") or (DEFAULT_FILE if Path(DEFAULT_FILE).exists() else None)
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config error: file {p} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"config error: {p} is not valid YAML: {str(e).splitlines()[0]}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config error: {p} must hold a mapping of sections, not {type(loaded).__name__}")
        tree.update(loaded)
        origins.update({k: str(p) for k in loaded})

    for name, raw in sorted(environ.items()):
        if name.startswith(ENV_PREFIX):
            dotted = name[len(ENV_PREFIX):].lower().replace("__", ".")
            _set_path(tree, dotted, _parse_scalar(raw, name))
            origins[dotted] = f"env {name}"

    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"config error: --set {item!r} must look like section.key=value")
        dotted, raw = item.split("=", 1)
        _set_path(tree, dotted.strip(), _parse_scalar(raw, f"--set {dotted}"))
        origins[dotted.strip()] = f"--set {dotted.strip()}"

    try:
        return Config.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(_format_error(e, origins)) from None


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
