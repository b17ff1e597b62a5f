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

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
    artifact_location: str = "./data/mlartifacts"
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
    def _absolute_artifacts(cls, v: str) -> str:
        return v if "://" in v else Path(local_or_uri(v)).as_uri()


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
    allow_private: bool = Field(False, description="allow loopback/private hosts (the demo's local site)")
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
    land_every_rows: int = Field(500, ge=1, description="outcomes buffered before the lander commits (also every checkpoint_s)")
    lease_ttl_s: float = Field(600.0, ge=5, description="per-source ingest lease: renewed every third of this; a dead holder's lease expires after it")
    import_max_file_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="bulk import: larger archive members are recorded as errors")


class TokenizerConfig(_Section):
    kind: Literal["REMI", "TSD", "MIDILike"] = "REMI"
    use_programs: bool = True
    use_tempos: bool = True
    use_time_signatures: bool = True
    beat_res: dict[str, int] = Field(default_factory=lambda: {"0_4": 8, "4_12": 4})
    num_velocities: int = Field(16, ge=1)
    max_file_bytes: int = Field(4 * 1024 * 1024, ge=64)


class TrainConfig(_Section):
    num_workers: int = Field(2, ge=1)
    max_steps: int = Field(300, ge=1)
    batch_size: int = Field(16, ge=1)
    block_size: int = Field(256, ge=16)
    n_layer: int = Field(2, ge=1)
    n_head: int = Field(4, ge=1)
    n_embd: int = Field(128, ge=8)
    dropout: float = Field(0.1, ge=0, lt=1)
    learning_rate: float = Field(3e-3, gt=0)
    seed: int = 0
    log_every: int = Field(10, ge=1)
    storage_path: str = Field("./data/ray_results", description="Ray Train checkpoints and results")

    @field_validator("storage_path")
    @classmethod
    def _absolute(cls, v: str) -> str:
        return local_or_uri(v)


class ServeConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    model_alias: str = "champion"
    max_models_per_replica: int = Field(3, ge=1)
    num_replicas: int = Field(1, ge=1)
    replica_cpus: float = Field(1.0, gt=0)


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


def _format_error(err: ValidationError, origins: dict[str, str]) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        problem = "unknown key"
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
