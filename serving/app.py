"""The Ray Serve application: POST /v1/generate turns a prompt into MIDI with a registered model version.

Model versions are MLflow registry versions, not Serve deployment versions: a request names an alias
("champion") or a version number, the alias is resolved to a concrete version on every request (so
a new champion is served as soon as it is registered), and that version is loaded once per replica
through ``@serve.multiplexed`` (least recently used versions are evicted beyond
``serve.max_models_per_replica``). Model loading and sampling run in worker threads so one slow
generation never blocks the replica's event loop.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route signatures of the Serve
# ingress class at runtime, and string annotations would turn the request body into a query param.
import asyncio
import base64
import time

import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from ray import serve
from starlette.exceptions import HTTPException

from musiclake.config import Config
from serving.api import (API_VERSION, GENERATE_PATH, HEALTH_PATH, MODELS_PATH, ErrorResponse, GenerateRequest,
                         GenerateResponse, HealthResponse, ModelInfo, ModelsResponse, RegisteredVersion, base_url)
from training.prompts import recommend
from training.registry import MODEL_NAME, ModelNotFound, list_versions, load_generator, resolve

APP_NAME = "musiclake"

api = FastAPI(title="musiclake", version=API_VERSION,
              description="Prompt (English or Chinese) → style attributes → MIDI from a registered generator.")


def _error(status: int, message: str, detail=None) -> JSONResponse:
    return JSONResponse(status_code=status, content=ErrorResponse(error=message, detail=detail).model_dump())


@api.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 whose one-line message names the offending field (``bpm``, ``key``, a misspelled ``bmp``)."""
    problems = []
    for err in exc.errors():
        if err["type"] == "json_invalid":
            field, message = "body", f"not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})"
        else:
            field = ".".join(str(p) for p in err["loc"] if p != "body") or "body"
            message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        problems.append({"field": field, "message": message})
    first = problems[0]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return _error(422, f"invalid request: {first['field']}: {first['message']}{more}", problems)


@api.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return _error(exc.status_code, str(exc.detail))


class _Loaded:
    """A generator held in the replica's multiplex cache; Serve calls ``__del__`` when it evicts one."""

    def __init__(self, generator, info: ModelInfo, registry: dict):
        self.generator, self.info, self._registry = generator, info, registry
        registry[info.version] = self

    def __del__(self):
        if self._registry.get(self.info.version) is self:
            del self._registry[self.info.version]


@serve.deployment(name="generator")
@serve.ingress(api)
class GeneratorService:
    """One replica: validates, recommends attributes, resolves and loads the model version, generates."""

    def __init__(self, config: dict):
        self.cfg = Config.model_validate(config)
        self._loaded: dict[int, _Loaded] = {}

        async def load(version: str) -> _Loaded:
            return await asyncio.to_thread(self._load_version, version)

        # Wired per instance so the cache size comes from the config this replica was given.
        self.get_model = serve.multiplexed(max_num_models_per_replica=self.cfg.serve.max_models_per_replica)(load)

    def _load_version(self, version: str) -> _Loaded:
        generator, ref = load_generator(self.cfg, version)
        return _Loaded(generator, ModelInfo(name=ref.name, version=ref.version, ref=version), self._loaded)

    @api.post(GENERATE_PATH, response_model=GenerateResponse,
              responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}, 500: {"model": ErrorResponse}})
    async def generate(self, req: GenerateRequest):
        t0 = time.perf_counter()
        try:
            attrs = recommend(req.prompt, **req.explicit())
            piece_req = req.piece_request(attrs)
        except pydantic.ValidationError as e:  # a chord the vocabulary does not read, an unknown instrument
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "body"
            return _error(422, f"invalid request: {field}: {err['msg'].removeprefix('Value error, ')}")
        except ValueError as e:  # a roman numeral that is no chord
            return _error(422, f"invalid request: {str(e).splitlines()[0]}")
        ref = req.model or self.cfg.serve.model_alias
        try:
            model_ref = await asyncio.to_thread(resolve, self.cfg, ref)
            loaded = await self.get_model(str(model_ref.version))
        except ModelNotFound as e:
            return _error(404, str(e))
        except Exception as e:  # noqa: BLE001 - any load failure is this request's 500, with its message
            return _error(500, f"could not load model {ref!r}: {type(e).__name__}: {e}")
        try:
            piece = await asyncio.to_thread(loaded.generator.generate, piece_req)
        except Exception as e:  # noqa: BLE001 - a failed generation is a 500 that says why
            return _error(500, f"generation failed: {type(e).__name__}: {e}")
        return GenerateResponse(
            midi_base64=base64.b64encode(piece.midi).decode("ascii"), attributes=attrs,
            model=ModelInfo(name=model_ref.name, version=model_ref.version, ref=ref), tracks=piece.tracks,
            chords=piece.chords, seed=piece.seed, n_notes=piece.n_notes, duration_s=piece.duration_s,
            n_steps=piece.n_steps, elapsed_ms=(time.perf_counter() - t0) * 1000)

    @api.get(HEALTH_PATH, response_model=HealthResponse)
    async def healthz(self) -> HealthResponse:
        return HealthResponse(default_model=self.cfg.serve.model_alias,
                              loaded_models=[entry.info for entry in self._loaded.values()])

    @api.get(MODELS_PATH, response_model=ModelsResponse)
    async def models(self) -> ModelsResponse:
        alias = self.cfg.serve.model_alias
        versions = await asyncio.to_thread(list_versions, self.cfg)
        try:
            default_version = (await asyncio.to_thread(resolve, self.cfg, alias)).version
        except ModelNotFound:
            default_version = None
        return ModelsResponse(name=MODEL_NAME, default_model=alias, default_version=default_version,
                              versions=[RegisteredVersion(version=v.version, aliases=list(v.aliases), run_id=v.run_id)
                                        for v in versions])


def build_app(cfg: Config):
    """The bound application, its replicas sized by ``cfg.serve``; the config travels as a plain dict."""
    return GeneratorService.options(
        num_replicas=cfg.serve.num_replicas,
        ray_actor_options={"num_cpus": cfg.serve.replica_cpus},
    ).bind(cfg.model_dump())


def deploy(cfg: Config) -> str:
    """Start (or join) Ray, start Serve on ``cfg.serve.host:port``, run the app; returns the base URL."""
    from musiclake.cluster import init_ray

    init_ray(cfg)
    serve.start(http_options={"host": cfg.serve.host, "port": cfg.serve.port})
    serve.run(build_app(cfg), name=APP_NAME, route_prefix="/")
    return base_url(cfg)


def shutdown() -> None:
    """Tear the application and Serve's proxy and controller down (Ray itself stays up)."""
    serve.shutdown()
