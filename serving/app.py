"""The Ray Serve application: the page at ``/`` and the ``/v1`` API (shapes in :mod:`serving.api`).

* ``POST /v1/recommend``: prompt → attributes, each with its source (rules, then the CLAP model's
  zero-shot scores for what the rules leave open).
* ``POST /v1/generate``: prompt and/or attributes → a stored piece: per-track provenance, model
  versions, seed, timings and the URLs of its files; ``candidates: N`` writes N and keeps the one
  the CLAP model puts closest to the prompt.
* ``POST /v1/uploads``: a MIDI file, checked on the lake's guarded path, whose melody ``generate``
  can keep (``melody: <upload id>``).
* ``GET /v1/pieces/{id}.{mid,wav,musicxml,png,svg}``: a piece's files, each rendered on its first
  request (WAV by FluidSynth); ``GET /v1/pieces/{id}``: its description.
* ``GET /v1/models``: the generator's and the CLAP model's registered versions and aliases.

**Versions** are MLflow registry versions, not Serve deployment versions. An alias is resolved
to a version at most every ``serve.alias_ttl_s`` seconds, so moving "champion" is picked up within
that time without a restart; each version is loaded once per replica through ``@serve.multiplexed``
(least recently used versions are evicted), and a request that resolved the old version finishes
on it. **Guards** (:mod:`serving.guard`): API keys on ``/v1/*``, per-key rate limits, body size
limits, and admission (503 + Retry-After when the queue is full). Model loading, sampling and
rendering run in worker threads, so the replica's event loop keeps answering. With
``serve.sampling=batched`` (the default) the admitted generations of a replica are sampled together
by one :class:`training.generator.BatchRunner` per loaded generator version: one model step feeds every
piece in hand, and a request that arrives joins at the next step. The runners work in Ray actors
beside the replica (:class:`SamplerActor`, ``serve.sampling_processes``), so sampling has interpreters
of its own.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route signatures of the Serve
# ingress class at runtime, and string annotations would turn the request body into a query param.
import asyncio
import dataclasses
import logging
import math
import secrets
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, Optional

import pydantic
import ray
from fastapi import Depends, FastAPI, Path as PathParam, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from ray import serve
from starlette.exceptions import HTTPException

from lake.midi_features import Limits, MidiError
from common.config import Config
from serving import render as renderer
from serving.api import (API_KEY_HEADER, API_VERSION, BUSY, COMMON_ERRORS, FORMATS, GENERATE_PATH, HEALTH_PATH,
                         MODELS_PATH, NOT_FOUND, PIECE_ID, PIECES_PATH, RECOMMEND_PATH, RENDER_ERRORS, UPLOADS_PATH,
                         Candidate, ErrorResponse, GenerateRequest, GenerateResponse, HealthResponse, ModelInfo,
                         ModelsResponse, PieceInfo, PieceRecord, Provenance, RecommendRequest, RecommendResponse,
                         RecordsResponse, RegisteredModel, RegisteredVersion, Timings, UploadResponse, base_url,
                         piece_url, records_url)
from serving.files import OpenFile, wav_bytes
from serving.gate import ApiError, Gate, key_from_headers
from serving.guard import Admission, Busy, KeyFileError, KeyRing, RateLimiter
from serving.retention import Policy, Pruner
from serving.store import PieceNotFound, PieceStore, Reader, content_id
from serving import from_upload
from serving.api import CONTINUE_PATH, INFILL_PATH, ContinueRequest, FromUploadResponse, InfillRequest
from serving.uploads import melody_notes, read_upload, upload_midi
from serving import education
from serving.api import (EXERCISE_PATH, HARMONIZE_PATH, TRANSFER_PATH, ExerciseRequest, ExerciseResponse,
                         HarmonizeRequest, HarmonizeResponse, TransferRequest, TransferResponse)
from serving.api import VERIFY_PATH, VerifyResponse
from serving.verify import PieceIndex, verify as verify_midi
from serving.api import SCREEN_PATH, Similarity
from serving.api import SEARCH_PATH, SEARCH_UNAVAILABLE, SearchHit, SearchRequest, SearchResponse
from serving.screen import RESEEDS, Screener, new_tracks
from training.watermark import WatermarkKeyError
from training import registry as reg
from training.generator import BatchRunner
from training.prompts import load_fallback, minilm_scorer, recommend

APP_NAME = "musiclake"
MAX_VERSION = 2**31 - 1  # registry versions are positive 32-bit integers
STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger("ray.serve")

api = FastAPI(title="musiclake", version=API_VERSION,
              description="Prompt (English or Chinese) → style attributes → a multi-track piece from a registered "
                          "generator → MIDI, WAV, MusicXML, piano roll, score. /v1/* needs an API key. Every "
                          "answer carries X-Request-ID; error bodies name it too.")
api.router.redirect_slashes = False  # a trailing slash is a 404, never a redirect to whatever Host was sent


def _request_id(request: Optional[Request]) -> Optional[str]:
    return None if request is None else request.scope.get("state", {}).get("request_id")


def _error(status: int, message: str, detail=None, headers=None, request: Optional[Request] = None) -> JSONResponse:
    body = ErrorResponse(error=message, detail=detail, request_id=_request_id(request))
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


@api.exception_handler(ApiError)
async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return _error(exc.status, exc.message, headers=exc.headers, request=request)


@api.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 whose one-line message names the offending field (``bpm``, ``key``, a misspelled ``bmp``)."""
    problems = []
    for err in exc.errors():
        if err["type"] == "json_invalid":
            field, message = "body", f"not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})"
        else:
            field = ".".join(str(p) for p in err["loc"] if p not in ("body", "path", "query", "header")) or "body"
            message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        problems.append({"field": field, "message": message})
    first = problems[0]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return _error(422, f"invalid request: {first['field']}: {first['message']}{more}",
                  [{"field": p["field"], "message": str(p["message"])} for p in problems], request=request)


# The request body of the routes that read a MIDI file as it is (verify, screen), for the OpenAPI spec.
_MIDI_BODY = {"requestBody": {"required": True, "content": {
    t: {"schema": {"type": "string", "format": "binary"}} for t in ("audio/midi", "application/octet-stream")}}}
_HTTP_MESSAGES = {404: "no such route (the API is under /v1; see /docs)", 405: "method not allowed on this route"}


@api.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 400:  # FastAPI's "error parsing the body": bytes that are not UTF-8 JSON
        return _error(422, "invalid request: body: not valid JSON (undecodable bytes)", request=request)
    message = _HTTP_MESSAGES.get(exc.status_code, f"HTTP {exc.status_code}")
    return _error(exc.status_code, message, headers=getattr(exc, "headers", None), request=request)


@api.exception_handler(Exception)
async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A fault of ours: the client learns the request id and nothing else; the log has the traceback."""
    rid = _request_id(request)
    log.exception("request %s %s %s: unexpected error", rid, request.method, request.url.path)
    return _error(500, f"internal error: the server log has the details under request id {rid}", request=request)


def _service() -> "MusicService":
    """The replica's :class:`MusicService` (for the key dependency and the body limit)."""
    return serve.get_replica_context().servable_object


_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="an API key (or use Bearer)")
_bearer = HTTPBearer(auto_error=False, description="the API key as a bearer token")


async def caller(request: Request, key: Optional[str] = Security(_key_header),
                 bearer: Optional[HTTPAuthorizationCredentials] = Security(_bearer)) -> Reader:
    """The calling key (checked by :class:`serving.gate.Gate` from the headers, before the body was read)."""
    admitted = request.scope.get("state", {}).get("caller")
    return admitted if admitted is not None else _service().admit_key(key or (bearer.credentials if bearer else None))


_AUTH = [Depends(caller)]
_PIECE_ID = PathParam(pattern=PIECE_ID, description="a piece id (20 hex digits)")
Format = Literal[FORMATS]  # type: ignore[valid-type]


class _Loaded:
    """A model held in a replica's multiplex cache; Serve calls ``__del__`` when it evicts one."""

    def __init__(self, model, info: ModelInfo, run_id: str, data_versions: dict, registry: dict, fallback=None,
                 runner=None):
        self.model, self.info, self.run_id, self.data_versions = model, info, run_id, data_versions
        self.fallback = fallback  # CLAP: the recommender's zero-shot fallback over this version
        self.runner = runner  # generator, serve.sampling=batched: the BatchRunner that samples its requests together
        self._registry, self._key = registry, (info.name, info.version)
        registry[self._key] = self

    async def generate(self, piece_reqs: list, given) -> list:
        """The generator's pieces for ``piece_reqs``: handed to the batch runner together (sampled with every
        other request in hand), or one after another in a worker thread."""
        if self.runner is not None:
            return await self.runner.generate_all(piece_reqs, given)
        return [await asyncio.to_thread(self.model.generate, pr, given) for pr in piece_reqs]

    def __del__(self):
        if self.runner is not None:
            self.runner.close()
        if self._registry.get(self._key) is self:
            del self._registry[self._key]


@ray.remote(num_cpus=0)
class SamplerActor:
    """``serve.sampling_processes``: one generator version's :class:`BatchRunner` in a process of its own
    beside the replica (its own interpreter lock), so sampling and the replica's HTTP, recommending and
    storing run on several cores at once."""

    def __init__(self, config: dict, version: int, weights: dict | None = None):
        cfg = Config.model_validate(config)
        generator, _ = reg.load_generator(cfg, str(version))
        if weights is not None:  # the replica's one copy in Ray's object store: read in place, not copied
            generator.fast_model.use_weights(weights)
        self.runner = BatchRunner(generator.optimized(), max_batch=cfg.serve.max_concurrent)

    def ready(self) -> bool:
        return True

    async def generate(self, req, given):
        return await asyncio.wrap_future(self.runner.submit(req, given))


class _Batched:
    """``serve.sampling=batched``: one loaded generator version's BatchRunners, in ``serve.sampling_processes``
    :class:`SamplerActor` processes on this node (each request goes to the one with the fewest pieces in hand,
    a request's candidates together), or in a thread of the replica when that is 0."""

    def __init__(self, cfg: Config, version: int, generator):
        self.actors, self.local = [], None
        n = cfg.serve.sampling_processes
        if n:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
            # one copy of the sampling weights in the node's object store, mapped read-only by every actor:
            # processes sampling side by side then read the same memory through the shared cache (the weights
            # are read once per step; one copy each cost ~14 % more CPU per piece, docs/models.md)
            self.weights = ray.put(generator.fast_model.weights())
            self.actors = [SamplerActor.options(scheduling_strategy=here).remote(cfg.model_dump(), version, self.weights)
                           for _ in range(n)]
            ray.get([a.ready.remote() for a in self.actors])  # loaded (this runs in a worker thread of the replica)
            self.in_hand = [0] * n
        else:
            self.local = BatchRunner(generator, max_batch=cfg.serve.max_concurrent)

    async def generate_all(self, reqs: list, given) -> list:
        """The pieces for ``reqs`` (one request's candidates), sampled together with the pieces in hand."""
        if self.local is not None:
            return list(await asyncio.gather(*(asyncio.wrap_future(self.local.submit(r, given)) for r in reqs)))
        i = min(range(len(self.actors)), key=self.in_hand.__getitem__)
        self.in_hand[i] += len(reqs)
        try:
            return list(await asyncio.gather(*(self.actors[i].generate.remote(r, given) for r in reqs)))
        finally:
            self.in_hand[i] -= len(reqs)

    def close(self) -> None:
        """On eviction. A request that resolved this version before may still be generating or about to:
        the local runner finishes what it holds and writes later requests alone; the actors are not killed
        but let go, and Ray ends each once the last handle is gone and its tasks are done."""
        if self.local is not None:
            self.local.close()


class RenderTooLarge(Exception):
    """A rendering came out over ``serve.render_max_bytes``; it is not stored."""

    def __init__(self, size: int):
        super().__init__(f"{size} bytes")
        self.size = size


def _busy(e: Busy) -> ApiError:
    return ApiError(503, f"busy: every generation slot and queue place is taken; retry in {e.retry_after} s",
                    {"Retry-After": str(e.retry_after)})


def _invalid(e: ValueError) -> ApiError:
    """A 422 naming the field, for what passed the request's own validation but not the generator's."""
    if isinstance(e, pydantic.ValidationError):
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "body"
        return ApiError(422, f"invalid request: {field}: {err['msg'].removeprefix('Value error, ')}")
    return ApiError(422, f"invalid request: {str(e).splitlines()[0]}")


def _meta(info: PieceInfo) -> "renderer.PieceMeta":
    a = info.attributes
    marks = info.marks
    return renderer.PieceMeta(key=a.key, bpm=a.bpm, time_signature=a.time_signature,
                              parts=[f"{t.instrument} ({t.role})" for t in info.tracks if t.n_notes],
                              chords=marks.chords if marks else None, labels=marks.labels if marks else None,
                              swing=bool(marks and marks.swing))


# Everything the app holds is in place before the ingress below takes its copy of it.
api.add_middleware(Gate, service=_service)
api.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")


@serve.deployment(name="musiclake")
@serve.ingress(api)
class MusicService:
    """One replica: guards, recommends, resolves and loads model versions, generates, stores and renders."""

    async def __init__(self, config: dict):
        self.cfg = Config.model_validate(config)
        s = self.cfg.serve
        self.keys = KeyRing(s.api_keys_file) if s.auth else None
        self.limiter = RateLimiter(s.rate_limit_per_min, s.rate_burst)
        self.admission = Admission(s.max_concurrent, s.max_queue)
        self.renders = Admission(s.render_concurrent, s.render_queue)  # its own pool: renders never starve generation
        self.store = PieceStore(s.pieces_dir)
        self.verify_index = PieceIndex(self.store)  # stored pieces' interval triples, for POST /v1/verify
        self.screener = Screener(self.cfg)  # the lake's melody index (gold_melody_index), read on first use
        self._searcher = None  # training.search's index: read on first use (POST /v1/search)
        self.pruner = Pruner(self.store, Policy.from_config(self.cfg))
        lake_limits = Limits.from_config(self.cfg)
        self.limits = dataclasses.replace(lake_limits, max_bytes=min(lake_limits.max_bytes, s.max_upload_bytes))
        self._loaded: dict[tuple[str, int], _Loaded] = {}
        self._aliases: dict[tuple[str, str], tuple[reg.ModelRef, float]] = {}
        self._minilm_scorer, self._minilm_lock = False, threading.Lock()  # False: not tried yet
        try:
            renderer.check_audio(s.fluidsynth, s.soundfont)
            self.audio = "ok"
        except renderer.RenderError as e:
            self.audio = str(e)
            log.warning("WAV rendering unavailable: %s", e)

        async def load_generator(model_id: str) -> _Loaded:
            return await asyncio.to_thread(self._load, reg.MODEL_NAME, int(model_id.rsplit("-", 1)[1]))

        async def load_clap(model_id: str) -> _Loaded:
            return await asyncio.to_thread(self._load, reg.CLAP_MODEL_NAME, int(model_id.rsplit("-", 1)[1]))

        # Wired per instance so the cache sizes come from the config this replica was given.
        self._generators = serve.multiplexed(max_num_models_per_replica=s.max_models_per_replica)(load_generator)
        self._claps = serve.multiplexed(max_num_models_per_replica=2)(load_clap)
        await self._prune("start")
        self._pruning = asyncio.get_running_loop().create_task(self._prune_every(s.prune_every_s))
        await self._warm()

    # -- retention ------------------------------------------------------------------------------
    async def _prune(self, why: str, room: int = 0, key: Optional[str] = None) -> None:
        try:
            report = await asyncio.to_thread(self.pruner.run, room, key)
        except Exception:  # noqa: BLE001 - a failed pass is logged; the next one tries again
            log.exception("retention pass (%s) failed", why)
            return
        if report.freed or why == "start":
            log.info("retention (%s): %s", why, report.summary())

    async def _prune_every(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            await self._prune("scheduled")

    async def _wrote(self, reader: Reader, written: int) -> None:
        """Count what a request wrote; over the store's or the key's line, prune before answering."""
        if self.pruner.note(reader.key, written):
            await self._prune(f"over a line after a write by {reader.key!r}")

    async def _warm(self) -> None:
        """Load the default generator and CLAP versions now, so the first request does not wait for them."""
        for model, alias in ((reg.MODEL_NAME, self.cfg.serve.model_alias), (reg.CLAP_MODEL_NAME, self.cfg.serve.clap_alias)):
            try:
                await self._model(model, alias)
            except ApiError as e:  # nothing registered yet: requests say so (404) until something is
                log.warning("not preloaded: %s", e.message)
        await asyncio.to_thread(self._minilm)

    # -- guards ---------------------------------------------------------------------------------
    def admit_key(self, key: Optional[str]) -> Reader:
        """The calling key; 401 without a known key, 429 (with Retry-After) when its rate is spent, 503 when
        the key file has never been readable. Runs from the headers alone, before any body is read."""
        entry: dict = {"name": "anonymous", "admin": True}  # serve.auth off: one open service
        if self.keys is not None:
            if not key:
                raise ApiError(401, f"missing API key: send it in the {API_KEY_HEADER} header "
                                    f"(or Authorization: Bearer); the operator lists keys with `musiclake keys`")
            try:
                entry = self.keys.entry(key)
            except KeyFileError as e:
                log.error("API keys unreadable, every request refused: %s", e)
                raise ApiError(503, "API keys cannot be read on the server: the operator must repair the key file "
                                    "(serve.api_keys_file)", {"Retry-After": "30"}) from None
            if self.keys.problem:
                log.warning("API key file unreadable, the keys read before stay in force: %s", self.keys.problem)
            if entry is None:
                raise ApiError(401, "unknown API key: ask the operator for one (`musiclake keys --add NAME` on "
                                    "the server makes it)")
        name = str(entry.get("name") or "unnamed")
        self._charge(key or "anonymous", name, entry, 1)
        return Reader(key=name, tenant=str(entry.get("tenant") or name), admin=bool(entry.get("admin")))

    def _charge(self, key: str, name: str, entry: dict, cost: float) -> None:
        s = self.cfg.serve
        per_minute = entry.get("rate_limit_per_min") or s.rate_limit_per_min
        wait = self.limiter.take(key, per_minute=per_minute, burst=entry.get("rate_burst"), cost=cost)
        if wait > 0:
            raise ApiError(429, f"rate limit: {per_minute:g} requests/min for key {name!r}"
                                + (f" (a render costs {cost:g})" if cost > 1 else "") + f"; retry in {wait:.1f} s",
                           {"Retry-After": str(max(1, math.ceil(wait)))})

    def _charge_render(self, request: Request) -> None:
        """A render that is not stored yet costs ``serve.render_cost`` of the key's tokens (one is paid)."""
        extra = self.cfg.serve.render_cost - 1
        if extra <= 0 or self.keys is None:
            return
        key = key_from_headers(dict(request.scope.get("headers") or [])) or ""
        entry = self.keys.entry(key) or {}
        self._charge(key, str(entry.get("name") or "unnamed"), entry, extra)

    # -- models ---------------------------------------------------------------------------------
    def _resolve(self, model: str, ref: str) -> reg.ModelRef:
        """``ref`` (alias or version) → a concrete version; an alias is cached for ``serve.alias_ttl_s``."""
        now = time.monotonic()
        hit = self._aliases.get((model, ref))
        if hit is not None and hit[1] > now:
            return hit[0]
        found = reg.resolve(self.cfg, ref, model)
        # a version number names the same model for good; an alias is asked again after the TTL
        self._aliases[(model, ref)] = (found, now + (3600.0 if ref.isdigit() else self.cfg.serve.alias_ttl_s))
        return found

    def _load(self, model: str, version: int) -> _Loaded:
        ref = reg.resolve(self.cfg, str(version), model)
        if model == reg.MODEL_NAME:
            generator, _ = reg.load_generator(self.cfg, str(version))
            sampling = self.cfg.serve.sampling
            loaded = generator.baseline() if sampling == "baseline" else generator.optimized()
            runner = _Batched(self.cfg, version, loaded) if sampling == "batched" else None
            fallback = None
        else:
            from training.clap.api import ClapModel

            loaded = ClapModel.load(self.cfg, str(version))
            minilm = self._minilm()
            fallback = load_fallback(clap_model=loaded, minilm=minilm if minilm is not None else False)
            runner = None
        tags = reg.client(self.cfg).get_run(ref.run_id).data.tags
        return _Loaded(loaded, ModelInfo(name=ref.name, version=version, ref=str(version)), ref.run_id,
                       reg.data_versions(tags), self._loaded, fallback, runner)

    def _minilm(self):
        """The English sentence encoder the recommender's fallback shares (None when not installed)."""
        with self._minilm_lock:
            if self._minilm_scorer is False:
                try:
                    self._minilm_scorer = minilm_scorer()
                except ImportError as e:
                    log.warning("MiniLM fallback unavailable (%s): CLAP alone fills what the rules miss", e)
                    self._minilm_scorer = None
            return self._minilm_scorer

    async def _model(self, model: str, ref: str) -> tuple[_Loaded, ModelInfo]:
        missing = ApiError(404, f"model {model!r} has no version or alias {ref!r} (GET {MODELS_PATH} lists them)")
        if ref.isdigit() and not 1 <= int(ref) <= MAX_VERSION:  # never registered; MLflow itself overflows on it
            raise missing
        try:
            found = await asyncio.to_thread(self._resolve, model, ref)
        except reg.ModelNotFound:
            raise missing from None
        except Exception:  # noqa: BLE001 - the registry's own failure: logged here, not shown to the client
            log.exception("model registry failed resolving %s %r", model, ref)
            raise ApiError(503, "the model registry did not answer; retry shortly", {"Retry-After": "5"}) from None
        load = self._generators if model == reg.MODEL_NAME else self._claps
        try:
            loaded = await load(f"{'generator' if model == reg.MODEL_NAME else 'clap'}-{found.version}")
        except Exception:  # noqa: BLE001 - a version that will not load is this request's error, said once
            log.exception("could not load %s v%s", model, found.version)
            raise ApiError(503, f"could not load {model} v{found.version}; retry shortly",
                           {"Retry-After": "5"}) from None
        return loaded, ModelInfo(name=found.name, version=found.version, ref=ref)

    async def _clap(self) -> tuple[Optional[_Loaded], Optional[ModelInfo]]:
        """The configured CLAP version, or (None, None) when none is registered (rules decide alone)."""
        try:
            return await self._model(reg.CLAP_MODEL_NAME, self.cfg.serve.clap_alias)
        except ApiError as e:
            if e.status == 404:
                return None, None
            raise

    def _rules_fallback(self):
        """MiniLM alone, for when no CLAP version is registered."""
        minilm = self._minilm()
        return None if minilm is None else load_fallback(clap=False, minilm=minilm)

    async def _recommend(self, req: RecommendRequest):
        clap, clap_info = await self._clap()
        fallback = clap.fallback if clap is not None else await asyncio.to_thread(self._rules_fallback)
        try:
            rec = await asyncio.to_thread(recommend, req.prompt, clap=fallback, bars=getattr(req, "bars", None),
                                          **req.explicit())  # bars: stated chords framed by a key close the piece
        except ValueError as e:  # a chord the vocabulary does not read, an unknown instrument, a bad numeral
            raise _invalid(e) from None
        used_clap = any(v == "clap" for v in rec.sources.values())
        return rec, (clap_info if used_clap else None)

    # -- routes ---------------------------------------------------------------------------------
    @api.get("/", include_in_schema=False)
    async def page(self):
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @api.post(RECOMMEND_PATH, response_model=RecommendResponse, dependencies=_AUTH,
              responses={**COMMON_ERRORS, 503: BUSY[503]})
    async def recommend_route(self, req: RecommendRequest) -> RecommendResponse:
        t0 = time.perf_counter()
        attrs, clap_info = await self._recommend(req)
        return RecommendResponse(attributes=attrs, clap=clap_info, elapsed_ms=(time.perf_counter() - t0) * 1000)

    @api.post(GENERATE_PATH, response_model=GenerateResponse,
              responses={**COMMON_ERRORS, **NOT_FOUND, **BUSY})
    async def generate(self, req: GenerateRequest, request: Request,
                       reader: Reader = Depends(caller)) -> GenerateResponse:
        t0 = time.perf_counter()
        try:
            self.admission.check()  # a full replica says so before doing any work for the request
        except Busy as e:
            raise _busy(e) from None
        attrs, clap_info = await self._recommend(req)
        seed = req.seed if req.seed is not None else secrets.randbelow(2**31 - 16)
        try:
            piece_reqs = [req.piece_request(attrs, seed=(seed + i) % 2**31) for i in range(req.candidates)]
        except ValueError as e:
            raise _invalid(e) from None
        if req.candidates > self.cfg.serve.max_candidates:
            raise ApiError(422, f"invalid request: candidates: at most {self.cfg.serve.max_candidates} "
                                f"(serve.max_candidates)")
        given = None
        if req.melody is not None:
            given = {"melody": await asyncio.to_thread(self._melody, req.melody, piece_reqs[0], reader)}
        t_rec = time.perf_counter()
        try:
            async with self.admission.slot():
                gen, gen_info = await self._model(reg.MODEL_NAME, req.model or self.cfg.serve.model_alias)
                clap, rank_info = (await self._clap()) if req.candidates > 1 else (None, None)
                if req.candidates > 1 and clap is None:
                    raise ApiError(404, f"candidates need a CLAP model: {reg.CLAP_MODEL_NAME} has no "
                                        f"{self.cfg.serve.clap_alias!r} (serve.clap_alias)")
                t_gen = time.perf_counter()
                pieces = await gen.generate(piece_reqs, given)
                t_rank = time.perf_counter()
                ranked = None
                if clap is not None:
                    order = await asyncio.to_thread(clap.model.rank, req.prompt, [p.midi for p in pieces])
                    ranked = [Candidate(seed=pieces[i].seed, score=round(score, 4),
                                        content_sha256=content_id(pieces[i].midi)[1]) for i, score in order]
                    pieces = [pieces[order[0][0]]]
                pieces, similarity = await self._screened(gen, pieces, given)
                t_store = time.perf_counter()
        except Busy as e:
            raise _busy(e) from None
        piece = pieces[0]
        tracks = [t.model_copy(update={"source": "upload"}) if given and t.role in given and t.doubles is None else t
                  for t in piece.tracks]
        piece_id, sha = content_id(piece.midi)
        created = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        info = PieceInfo(
            id=piece_id, content_sha256=sha, created_at=created,
            request=req.model_dump(exclude_none=True), attributes=attrs,
            provenance=Provenance(generator=gen_info, generator_run_id=gen.run_id, data_versions=gen.data_versions,
                                  clap=rank_info or clap_info, melody_upload=req.melody),
            tracks=tracks, chords=piece.chords, seed=piece.seed, n_notes=piece.n_notes,
            duration_s=piece.duration_s, n_steps=piece.n_steps,
            urls={fmt: piece_url(piece_id, fmt) for fmt in FORMATS} | {"info": piece_url(piece_id),
                                                                       "records": records_url(piece_id)},
            similarity=similarity)
        record = PieceRecord(request_id=_request_id(request) or secrets.token_hex(8), key=reader.key,
                             tenant=reader.tenant, created_at=created, piece=info)
        with self.store.pin(piece_id):
            written = await asyncio.to_thread(self.store.save, piece.midi, record)
            await self._wrote(reader, written)
        t_end = time.perf_counter()
        timings = Timings(recommend_ms=(t_rec - t0) * 1000, generate_ms=(t_rank - t_gen) * 1000,
                          rank_ms=(t_store - t_rank) * 1000, store_ms=(t_end - t_store) * 1000,
                          total_ms=(t_end - t0) * 1000)
        return GenerateResponse(**info.model_dump(), candidates=ranked, timings=timings, elapsed_ms=timings.total_ms)

    async def _screened(self, gen, pieces: list, given):
        """The piece after screening against the lake (serving.screen; every track but the user's given melody):
        a near-copy is written again with another seed, up to RESEEDS times, then refused (422 naming the lake
        piece)."""
        def check(midi):
            return self.screener.check(midi, tracks=new_tracks(midi, tuple(given)) if given else None)

        similarity = await asyncio.to_thread(check, pieces[0].midi)
        attempts = 1
        while similarity.near_copy and attempts <= RESEEDS:
            req = pieces[0].request.model_copy(update={"seed": (pieces[0].seed + 7919) % 2**31})
            pieces = await gen.generate([req], given)
            similarity = await asyncio.to_thread(check, pieces[0].midi)
            attempts += 1
        if similarity.near_copy:
            raise ApiError(422, f"refused: {attempts} pieces in a row were near-copies of a lake piece "
                                f"({similarity.verdict}); try another prompt, model or seed")
        return pieces, similarity.model_copy(update={"attempts": attempts})

    def _melody(self, upload_id: str, piece_req, reader: Reader):
        try:
            upload = read_upload(self.store.upload(upload_id, reader), self.limits)
            return melody_notes(upload, piece_req.resolve())
        except PieceNotFound as e:
            raise ApiError(404, str(e)) from None
        except MidiError as e:
            raise ApiError(422, f"invalid request: melody: {e}") from None

    @api.post(UPLOADS_PATH, response_model=UploadResponse,
              openapi_extra={"requestBody": {"required": True, "content": {
                  t: {"schema": {"type": "string", "format": "binary"}} for t in (
                      "audio/midi", "application/vnd.recordare.musicxml+xml", "application/vnd.recordare.musicxml",
                      "application/octet-stream")}}},
              responses={**COMMON_ERRORS})
    async def upload(self, request: Request, reader: Reader = Depends(caller)) -> UploadResponse:
        """A MIDI or MusicXML file (.mxl too); MusicXML is kept as the MIDI file it makes. Nothing is stored
        unless the whole file passes the lake's checks."""
        data = await request.body()
        try:
            data, fmt = await asyncio.to_thread(upload_midi, data, self.limits)
            up = await asyncio.to_thread(read_upload, data, self.limits)
        except MidiError as e:
            raise ApiError(422, f"invalid request: body: {e}") from None
        upload_id, sha, written = await asyncio.to_thread(self.store.save_upload, data, reader,
                                                          _request_id(request) or secrets.token_hex(8))
        await self._wrote(reader, written)
        return UploadResponse(id=upload_id, content_sha256=sha, n_tracks=up.n_tracks, n_notes=up.n_notes,
                              duration_s=round(up.duration_s, 3), melody_notes=int(len(up.melody)), format=fmt)

    # -- education: exercises, harmonization, style transfer (serving.education) -------------------
    async def _keep(self, made, req, request: Request, reader: Reader, similarity=None) -> PieceInfo:
        """Store a piece the rules made, with this request's record (and its screening); its description."""
        piece_id, sha = content_id(made.midi)
        created = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        urls = {fmt: piece_url(piece_id, fmt) for fmt in FORMATS} | {"info": piece_url(piece_id),
                                                                     "records": records_url(piece_id)}
        info = made.info(piece_id, sha, created, req.model_dump(exclude_none=True), urls)
        if similarity is not None:
            info = info.model_copy(update={"similarity": similarity})
        record = PieceRecord(request_id=_request_id(request) or secrets.token_hex(8), key=reader.key,
                             tenant=reader.tenant, created_at=created, piece=info)
        with self.store.pin(piece_id):
            written = await asyncio.to_thread(self.store.save, made.midi, record)
            await self._wrote(reader, written)
        return info

    def _uploaded(self, upload_id: str, reader: Reader) -> bytes:
        try:
            return self.store.upload(upload_id, reader)
        except PieceNotFound as e:
            raise ApiError(404, str(e)) from None

    @api.post(EXERCISE_PATH, response_model=ExerciseResponse, responses={**COMMON_ERRORS})
    async def exercise(self, req: ExerciseRequest, request: Request,
                       reader: Reader = Depends(caller)) -> ExerciseResponse:
        """A scale, arpeggio, interval drill or sight-reading tune, note for note, as a stored piece."""
        try:
            made = await asyncio.to_thread(education.exercise, req)
        except ValueError as e:
            raise _invalid(e) from None
        info = await self._keep(made, req, request, reader)
        return ExerciseResponse(id=info.id, urls=info.urls, **made.extra)

    @api.post(HARMONIZE_PATH, response_model=HarmonizeResponse, responses={**COMMON_ERRORS, **NOT_FOUND})
    async def harmonize(self, req: HarmonizeRequest, request: Request,
                        reader: Reader = Depends(caller)) -> HarmonizeResponse:
        """Chords for an uploaded melody (per bar or per beat, roman numerals in the detected key) and the
        melody accompanied in a style, stored as a piece."""
        data = await asyncio.to_thread(self._uploaded, req.melody, reader)
        try:
            made = await asyncio.to_thread(education.harmonize, req, data, self.limits)
        except ValueError as e:
            raise _invalid(e) from None
        similarity = await asyncio.to_thread(self.screener.check, made.midi, new_tracks(made.midi))  # accompaniment
        info = await self._keep(made, req, request, reader, similarity)
        return HarmonizeResponse(id=info.id, urls=info.urls, tracks=info.tracks, similarity=similarity, **made.extra)

    @api.post(TRANSFER_PATH, response_model=TransferResponse, responses={**COMMON_ERRORS, **NOT_FOUND})
    async def transfer(self, req: TransferRequest, request: Request,
                       reader: Reader = Depends(caller)) -> TransferResponse:
        """An uploaded piece re-arranged in another style, its melody kept; melody survival and the style's
        marks before and after, measured from the notes."""
        data = await asyncio.to_thread(self._uploaded, req.piece, reader)
        try:
            made = await asyncio.to_thread(education.transfer, req, data, self.limits)
        except ValueError as e:
            raise _invalid(e) from None
        similarity = await asyncio.to_thread(self.screener.check, made.midi, new_tracks(made.midi))  # new parts
        info = await self._keep(made, req, request, reader, similarity)
        return TransferResponse(id=info.id, urls=info.urls, tracks=info.tracks, similarity=similarity, **made.extra)

    @api.post(VERIFY_PATH, response_model=VerifyResponse,
              openapi_extra=_MIDI_BODY,
              responses={**COMMON_ERRORS})
    async def verify_route(self, request: Request, reader: Reader = Depends(caller)) -> VerifyResponse:
        """Whether a MIDI file carries this deployment's watermark, and the stored piece it comes from."""
        data = await request.body()
        try:
            return await asyncio.to_thread(verify_midi, data, self.limits, self.verify_index, reader)
        except MidiError as e:
            raise ApiError(422, f"invalid request: body: {e}") from None
        except WatermarkKeyError as e:
            raise ApiError(503, f"verification unavailable: {e}") from None

    def _search_index(self):
        """The lake's search index (training.search), read or built on first use, and again when the lake's
        tables or the registry have changed since (checked before each search: 10-20 ms)."""
        from training.search import Searcher, load_index
        from training.search.index import is_current

        if self._searcher is None or not is_current(self.cfg, self._searcher.index):
            self._searcher = Searcher(load_index(self.cfg, self.cfg.serve.clap_alias))
        return self._searcher

    @api.post(SEARCH_PATH, response_model=SearchResponse, dependencies=_AUTH,
              responses={**COMMON_ERRORS, **SEARCH_UNAVAILABLE})
    async def search_route(self, req: SearchRequest) -> SearchResponse:
        t0 = time.perf_counter()
        try:
            searcher = await asyncio.to_thread(self._search_index)
        except (OSError, ValueError) as e:
            raise ApiError(503, f"search unavailable: {e}") from None
        filters = req.filters.model_dump(exclude_none=True) if req.filters else None
        r = await asyncio.to_thread(searcher.search, req.query, req.k, filters=filters)
        hits = [SearchHit(piece=h.sha256, score=h.score, title=h.title, source=h.source, url=h.url, license=h.license,
                          collection=h.collection, style=h.style, key=h.key, time_signature=h.time_signature,
                          bpm=h.bpm, mood=h.mood, instruments=h.instruments, matched=h.matched, missed=h.missed)
                for h in r.hits]
        return SearchResponse(query=req.query, hits=hits, total=r.total, candidates=r.candidates,
                              ranked_by=r.ranked_by, notes=r.notes, elapsed_ms=(time.perf_counter() - t0) * 1000)

    @api.post(SCREEN_PATH, response_model=Similarity,
              openapi_extra=_MIDI_BODY,
              responses={**COMMON_ERRORS})
    async def screen_route(self, request: Request, reader: Reader = Depends(caller)) -> Similarity:
        """Whether a MIDI file's melody is a near-copy of a lake piece: the verdict, the pieces and the bars."""
        data = await request.body()
        try:
            score = await asyncio.to_thread(read_upload, data, self.limits)
        except MidiError as e:
            raise ApiError(422, f"invalid request: body: {e}") from None
        clap, _ = await self._clap()  # its nearest lake pieces are reported beside the verdict (informational)
        return await asyncio.to_thread(self.screener.check, score.score, clap=clap.model if clap else None)

    @api.post(CONTINUE_PATH, response_model=FromUploadResponse, responses={**COMMON_ERRORS, **NOT_FOUND, **BUSY})
    async def continue_route(self, req: ContinueRequest, request: Request,
                             reader: Reader = Depends(caller)) -> FromUploadResponse:
        """An upload and N bars after it, in its key, tempo and meter (docs/continuation.md)."""
        return await self._from_upload(req, request, reader)

    @api.post(INFILL_PATH, response_model=FromUploadResponse, responses={**COMMON_ERRORS, **NOT_FOUND, **BUSY})
    async def infill_route(self, req: InfillRequest, request: Request,
                           reader: Reader = Depends(caller)) -> FromUploadResponse:
        """An upload with bars first_bar..last_bar of one track (or every track) written anew, the rest kept."""
        return await self._from_upload(req, request, reader)

    async def _written_screened(self, gen, req, score, seed: int):
        """Continue or infill, then screen what the model wrote (its tracks, the bars written): a near-copy is
        written again with another seed, up to RESEEDS times, then refused (422 naming the lake piece)."""
        def write_and_check(seed):
            written = from_upload.write(gen.model, req, score, seed)
            tracks = [i for i, n in written.written.items() if n]
            return written, self.screener.check(written.score, tracks=tracks, bars=tuple(written.region))

        written, similarity = await asyncio.to_thread(write_and_check, seed)
        attempts = 1
        while similarity.near_copy and attempts <= RESEEDS:
            seed = (seed + 7919) % 2**31
            written, similarity = await asyncio.to_thread(write_and_check, seed)
            attempts += 1
        if similarity.near_copy:
            raise ApiError(422, f"refused: {attempts} pieces in a row were near-copies of a lake piece "
                                f"({similarity.verdict}); try another seed")
        return written, similarity.model_copy(update={"attempts": attempts}), seed

    async def _from_upload(self, req, request: Request, reader: Reader) -> FromUploadResponse:
        t0 = time.perf_counter()
        try:
            data = await asyncio.to_thread(self.store.upload, req.upload, reader)
            up = await asyncio.to_thread(read_upload, data, self.limits)
        except PieceNotFound as e:
            raise ApiError(404, str(e)) from None
        except MidiError as e:
            raise ApiError(422, f"invalid request: upload: {e}") from None
        seed = req.seed if req.seed is not None else secrets.randbelow(2**31)
        try:
            async with self.admission.slot():
                gen, gen_info = await self._model(reg.MODEL_NAME, req.model or self.cfg.serve.model_alias)
                written, similarity, seed = await self._written_screened(gen, req, up.score, seed)
        except Busy as e:
            raise _busy(e) from None
        except ValueError as e:  # ContinuationError: bars the upload lacks, a drum track, a meter off the grid
            raise ApiError(422, f"invalid request: {str(e).splitlines()[0]}") from None
        midi = written.score.dumps_midi()
        piece_id, sha = content_id(midi)
        created = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        from symusic import TimeUnit

        info = PieceInfo(
            id=piece_id, content_sha256=sha, created_at=created, request=req.model_dump(exclude_none=True),
            attributes=from_upload.attributes(written, req.style),
            provenance=Provenance(generator=gen_info, generator_run_id=gen.run_id, data_versions=gen.data_versions,
                                  melody_upload=req.upload),
            tracks=from_upload.tracks(written), chords=list(written.reading.chords), seed=seed,
            n_notes=int(written.score.note_num()), duration_s=float(written.score.to(TimeUnit.second).end()),
            n_steps=written.n_steps,
            urls={fmt: piece_url(piece_id, fmt) for fmt in FORMATS} | {"info": piece_url(piece_id),
                                                                       "records": records_url(piece_id)},
            similarity=similarity)
        record = PieceRecord(request_id=_request_id(request) or secrets.token_hex(8), key=reader.key,
                             tenant=reader.tenant, created_at=created, piece=info)
        with self.store.pin(piece_id):
            await self._wrote(reader, await asyncio.to_thread(self.store.save, midi, record))
        return FromUploadResponse(**info.model_dump(), region=list(written.region), upload=req.upload,
                                  elapsed_ms=(time.perf_counter() - t0) * 1000)

    @api.api_route(PIECES_PATH + "/{piece_id}.{fmt}", methods=["GET", "HEAD"], response_class=FileResponse,
                   responses={**COMMON_ERRORS, **NOT_FOUND, **RENDER_ERRORS, 200: {"description": "the file", "content": {
                       renderer.MEDIA_TYPES[f]: {"schema": {"type": "string", "format": "binary"}} for f in FORMATS}},
                       503: {"model": ErrorResponse, "description": "every render slot and queue place is taken "
                                                                    "(see Retry-After), or this format cannot be "
                                                                    "rendered here (audio settings)",
                             "headers": BUSY[503]["headers"]}})
    async def piece_file(self, request: Request, piece_id: str = _PIECE_ID,
                         fmt: Format = PathParam(description="file format"), reader: Reader = Depends(caller)):
        """A piece's file; a format not stored yet is rendered first (its own bounded pool, capped in
        length and size, and ``serve.render_cost`` of the key's rate)."""
        with self.store.pin(piece_id):
            path = await asyncio.to_thread(self._stored_file, piece_id, fmt, reader)
            if path is None:
                await self._render(request, piece_id, fmt, reader)
                path = await asyncio.to_thread(self._stored_file, piece_id, fmt, reader)
            try:  # opened now: retention may delete the file, the download still arrives whole
                handle = open(path, "rb")
            except (OSError, TypeError):
                raise ApiError(404, f"no piece {piece_id!r}") from None
        return OpenFile(handle, renderer.MEDIA_TYPES[fmt], f"musiclake-{piece_id}.{fmt}")

    def _stored_file(self, piece_id: str, fmt: str, reader: Reader):
        try:
            self.store.records(piece_id, reader)  # 404 unless this key may read the piece
            return self.store.rendered(piece_id, fmt)
        except PieceNotFound as e:
            raise ApiError(404, str(e)) from None

    async def _render(self, request: Request, piece_id: str, fmt: str, reader: Reader) -> None:
        s = self.cfg.serve
        if fmt == "wav" and self.audio != "ok":
            raise ApiError(503, "WAV rendering is not available on this server (the operator's audio settings)")
        info = await asyncio.to_thread(self.store.info, piece_id, reader)
        if info.duration_s > s.render_max_seconds:
            raise ApiError(422, f"piece {piece_id} lasts {info.duration_s:.0f} s: this server renders pieces up to "
                                f"{s.render_max_seconds:g} s (serve.render_max_seconds); its MIDI file is available")
        estimate = wav_bytes(info.duration_s, s.sample_rate) if fmt == "wav" else 0
        if estimate > s.render_max_bytes:
            raise ApiError(422, f"piece {piece_id} would render to a {estimate / 2**20:.0f} MB WAV: the limit is "
                                f"{s.render_max_bytes / 2**20:.0f} MB (serve.render_max_bytes); its MIDI file is "
                                f"available")
        if estimate > s.key_quota_bytes:
            raise ApiError(422, f"piece {piece_id} would render to a {estimate / 2**20:.0f} MB WAV: more than one "
                                f"key may keep ({s.key_quota_bytes / 2**20:.0f} MB, serve.key_quota_bytes); its MIDI "
                                f"file is available")
        self._charge_render(request)
        try:
            async with self.renders.slot():
                if not self.pruner.room_for(reader.key, estimate):
                    await self._prune(f"making room for a render by {reader.key!r}", estimate, reader.key)
                path, written = await asyncio.to_thread(
                    self.store.file, piece_id, fmt, lambda midi, meta: self._rendered(fmt, midi, meta), reader)
        except Busy as e:
            raise ApiError(503, f"busy: every render slot and queue place is taken; retry in {e.retry_after} s",
                           {"Retry-After": str(e.retry_after)}) from None
        except PieceNotFound as e:
            raise ApiError(404, str(e)) from None
        except RenderTooLarge as e:
            raise ApiError(422, f"piece {piece_id} renders to a {e.size / 2**20:.0f} MB {fmt}: the limit is "
                                f"{s.render_max_bytes / 2**20:.0f} MB (serve.render_max_bytes)") from None
        except renderer.RenderError as e:
            log.error("request %s: rendering %s of %s failed: %s", _request_id(request), fmt, piece_id, e)
            raise ApiError(503, f"could not render {fmt} for this piece; its MIDI file is available") from None
        await self._wrote(reader, written)

    def _rendered(self, fmt: str, midi: bytes, info: PieceInfo) -> bytes:
        s = self.cfg.serve
        data = renderer.render(fmt, midi, _meta(info), soundfont=s.soundfont, fluidsynth=s.fluidsynth,
                               sample_rate=s.sample_rate)
        if len(data) > s.render_max_bytes:  # never stored: the answer is the 422 below
            raise RenderTooLarge(len(data))
        return data

    @api.get(PIECES_PATH + "/{piece_id}", response_model=PieceInfo, responses={**COMMON_ERRORS, **NOT_FOUND})
    async def piece_info(self, piece_id: str = _PIECE_ID, reader: Reader = Depends(caller)) -> PieceInfo:
        """The piece as the newest request this key may read described it."""
        try:
            return await asyncio.to_thread(self.store.info, piece_id, reader)
        except PieceNotFound as e:
            raise ApiError(404, str(e)) from None

    @api.get(PIECES_PATH + "/{piece_id}/records", response_model=RecordsResponse,
             responses={**COMMON_ERRORS, **NOT_FOUND})
    async def piece_records(self, piece_id: str = _PIECE_ID, reader: Reader = Depends(caller)) -> RecordsResponse:
        """Every request that made this piece, as far as this key may read them (its tenant's; admin: all)."""
        try:
            records = await asyncio.to_thread(self.store.records, piece_id, reader)
        except PieceNotFound as e:
            raise ApiError(404, str(e)) from None
        return RecordsResponse(piece_id=piece_id, records=records)

    @api.get(MODELS_PATH, response_model=ModelsResponse, dependencies=_AUTH, responses={**COMMON_ERRORS})
    async def models(self) -> ModelsResponse:
        def listing(model: str, alias: str) -> RegisteredModel:
            versions = reg.list_versions(self.cfg, model)
            default = next((v.version for v in versions if alias in v.aliases), None)
            if default is None and alias.isdigit() and any(v.version == int(alias) for v in versions):
                default = int(alias)
            return RegisteredModel(name=model, default_model=alias, default_version=default, versions=[
                RegisteredVersion(version=v.version, aliases=list(v.aliases), run_id=v.run_id) for v in versions])

        s = self.cfg.serve
        gen, clap = await asyncio.gather(asyncio.to_thread(listing, reg.MODEL_NAME, s.model_alias),
                                         asyncio.to_thread(listing, reg.CLAP_MODEL_NAME, s.clap_alias))
        return ModelsResponse(generator=gen, clap=clap)

    @api.get(HEALTH_PATH, response_model=HealthResponse)
    async def healthz(self) -> HealthResponse:
        return HealthResponse(default_model=self.cfg.serve.model_alias,
                              audio="ok" if self.audio == "ok" else "unavailable",
                              loaded_models=[entry.info for entry in list(self._loaded.values())])


def build_app(cfg: Config):
    """The bound application, its replicas sized by ``cfg.serve``; the config travels as a plain dict."""
    s = cfg.serve
    return MusicService.options(
        num_replicas=s.num_replicas,
        ray_actor_options={"num_cpus": s.replica_cpus, **({"resources": dict(s.replica_resources)}
                                                          if s.replica_resources else {})},
        # The replica's own admission answers 503 + Retry-After for generation and renders; a replica holds many
        # more requests than it generates at once, so clients that send slowly (cut off after serve.body_timeout_s)
        # never fill it: an idle connection costs a coroutine, not a slot.
        max_ongoing_requests=s.max_connections,
        max_queued_requests=4 * s.max_connections,
    ).bind(cfg.model_dump())


def app_builder(args: dict) -> serve.Application:
    """Ray Serve import path (KubeRay RayService): ``serving.app:app_builder``, args ``{config: PATH}``."""
    from common.config import load_config

    return build_app(load_config((args or {}).get("config")))


class PortInUse(RuntimeError):
    """``serve.host:serve.port`` is taken by another program."""


def _check_port(cfg: Config) -> None:
    import socket

    host, port = cfg.serve.host, cfg.serve.port
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            raise PortInUse(f"serve.port {port} on {host} is not free ({e.strerror}): set serve.port "
                            f"(e.g. --set serve.port={port + 1}) or stop what holds it") from None


def deploy(cfg: Config) -> str:
    """Start (or join) Ray, start Serve on ``cfg.serve.host:port``, run the app; returns the base URL."""
    from common.cluster import init_ray

    _check_port(cfg)
    init_ray(cfg)
    # Serve's own end-to-end timeout sits behind the app's (serve.request_timeout_s answers 504 first).
    serve.start(http_options={"host": cfg.serve.host, "port": cfg.serve.port,
                              "request_timeout_s": cfg.serve.request_timeout_s + 30})
    serve.run(build_app(cfg), name=APP_NAME, route_prefix="/")
    return base_url(cfg)


def shutdown() -> None:
    """Tear the application and Serve's proxy and controller down (Ray itself stays up)."""
    serve.shutdown()
