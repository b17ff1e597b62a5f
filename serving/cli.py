"""``musiclake serve | generate | recommend``: run the endpoint, call it, or just see what a prompt means."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError

from common.cli_common import ConfigOpt, SetOpt, load_or_exit
from serving.api import (API_KEY_HEADER, FORMATS, GENERATE_PATH, HEALTH_PATH, MODELS_PATH, PIECES_PATH,
                         RECOMMEND_PATH, UPLOADS_PATH, GenerateRequest, base_url)

app = typer.Typer(help="Serve the generator with Ray Serve and call it.", no_args_is_help=True)



def _request(prompt: str, bpm: Optional[float], key: Optional[str], bars: int, seed: Optional[int],
             model: Optional[str], candidates: int = 1, tension: Optional[str] = None) -> GenerateRequest:
    """Validate locally first, so a bad --key fails here with the same message the endpoint would give."""
    try:
        return GenerateRequest(prompt=prompt, bpm=bpm, key=key, bars=bars, seed=seed, model=model,
                               candidates=candidates, tension=_tension_arg(tension))
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        typer.echo(f"invalid request: {field}: {first['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from None


def _tension_arg(text: Optional[str]):
    """``--tension 0.7`` (every bar) or ``--tension 0,0.2,1`` (breakpoints over the bars)."""
    if text is None:
        return None
    try:
        points = [float(v) for v in text.split(",")]
    except ValueError:
        typer.echo(f"invalid request: --tension: {text!r} is not a number 0..1 or comma-separated numbers", err=True)
        raise typer.Exit(2) from None
    return points[0] if len(points) == 1 else points


def _show_attributes(attrs: dict) -> None:
    src = attrs["sources"]
    rows = [("style", attrs["style"]), ("bpm", f"{attrs['bpm']:g}"), ("key", attrs["key"]),
            ("time_signature", attrs["time_signature"]),
            ("mood", ", ".join(attrs.get("moods") or []) or attrs.get("mood") or "-"),
            ("instruments", ", ".join(attrs["instruments"])),
            ("chords", f"{' - '.join(attrs['chords'])}  ({' - '.join(attrs['progression'])})")]
    because = attrs.get("because") or {}
    for name, value in rows:
        why = because.get(name, "")
        typer.echo(f"  {name:<15}{value:<43} [{src.get(name, '-')}]" + (f"  {why}" if why else ""))
    for note in attrs.get("notes") or []:
        typer.echo(f"  note: {note}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def interrupt_on_stop_signals() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt here, whatever handler a library left (or a shell ignored):
    a serving loop then stops Serve cleanly, also when run in the background."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)


def api_key(cfg, given: Optional[str]) -> Optional[str]:
    """The key to call with: --api-key, else $MUSICLAKE_API_KEY, else the first key in serve.api_keys_file."""
    if given or os.environ.get("MUSICLAKE_API_KEY"):
        return given or os.environ["MUSICLAKE_API_KEY"]
    path = Path(cfg.serve.api_keys_file)
    if not path.exists():
        return None
    from serving.guard import KeyFileError, ensure_keys

    try:
        return ensure_keys(path)[0][0]["key"]
    except (KeyFileError, IndexError):
        return None


def page_url(cfg, key: Optional[str]) -> str:
    """The page's address; with the key in the fragment (never sent to the server) the page signs itself in."""
    return f"{base_url(cfg)}/" + (f"#key={key}" if key else "")


def startup_lines(cfg, url: str, model_line: str, keys: list[dict], made: bool) -> list[str]:
    """What ``musiclake serve`` prints when it is up. The API key itself (in the page URL and the curl line) only
    when its key file was made just now: logs of later starts keep no secret, they say where the keys are."""
    lines = [f"serving at {url}  (page /, POST {RECOMMEND_PATH} {GENERATE_PATH} {UPLOADS_PATH}, "
             f"GET {PIECES_PATH}/<id>.<fmt> {MODELS_PATH} {HEALTH_PATH}, docs /docs)",
             f"model: {model_line}"]
    body = json.dumps({"prompt": cfg.demo.prompt, "bars": 8, "seed": 7})
    curl = f"try:   curl -s -X POST {url}{GENERATE_PATH} -H 'content-type: application/json' -d '{body}'"
    if not cfg.serve.auth:
        lines += [f"page:  {url}/   (serve.auth is off: no API key needed)", curl]
    elif made and keys:
        key = keys[0]["key"]
        lines += [f"API keys: {cfg.serve.api_keys_file}  (made now: key '{keys[0].get('name', 'default')}', "
                  "shown this once)",
                  f"page:  {page_url(cfg, key)}",
                  f"{curl} -H '{API_KEY_HEADER}: {key}'"]
    else:
        lines += [f"API keys: {cfg.serve.api_keys_file}  (`musiclake keys` lists their names; "
                  "`musiclake keys --add NAME` makes one)",
                  f"page:  {page_url(cfg, None)}   (paste a key from that file)",
                  f'{curl} -H "{API_KEY_HEADER}: $MUSICLAKE_API_KEY"']
    return lines + ["Ctrl-C to stop"]


@app.command()
def serve(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Deploy the page and the API on Ray Serve and keep them up until Ctrl-C."""
    from serving import app as serving_app
    from serving.guard import ensure_keys
    from training.registry import ModelNotFound, resolve

    cfg = load_or_exit(config, set_)
    keys, made = ensure_keys(cfg.serve.api_keys_file) if cfg.serve.auth else ([], False)
    try:
        url = serving_app.deploy(cfg)
    except serving_app.PortInUse as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    alias = cfg.serve.model_alias
    try:
        ref = resolve(cfg, alias)
        model_line = f"{alias} -> {ref.name} v{ref.version} (run {ref.run_id})"
    except ModelNotFound as e:
        model_line = f"{alias} -> none yet ({e}); requests answer 404 until a model is trained"
    for line in startup_lines(cfg, url, model_line, keys, made):
        typer.echo(line)
    interrupt_on_stop_signals()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        typer.echo("stopping")
    finally:
        serving_app.shutdown()


@app.command()
def keys(add: Optional[str] = typer.Option(None, "--add", help="make a new key with this name and print it"),
         tenant: Optional[str] = typer.Option(None, "--tenant", help="with --add: keys of one tenant read each "
                                                                     "other's pieces (default: the key's own name)"),
         admin: bool = typer.Option(False, "--admin", help="with --add: the key reads every piece and record"),
         config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """List the API keys' names (making the first one if none exists), or add one."""
    from serving.guard import KeyFileError, add_key, ensure_keys

    cfg = load_or_exit(config, set_)
    path = cfg.serve.api_keys_file
    if (tenant or admin) and not add:
        typer.echo("error: --tenant and --admin go with --add NAME", err=True)
        raise typer.Exit(2)
    try:
        if add:
            typer.echo(add_key(path, add, tenant=tenant, admin=admin))
            return
        found, made = ensure_keys(path)
    except KeyFileError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{path}{'  (made now)' if made else ''}")
    for k in found:
        role = "admin" if k.get("admin") else f"tenant {k.get('tenant') or k.get('name', '?')}"
        typer.echo(f"  {k.get('name', '?'):<16} {k['key'][:8]}...  {role:<20} created {k.get('created_at', '?')}")


def _refused(cfg, status: int, message: str, where: str = "") -> None:
    """One line for an error answer; a 401 also says where keys come from. Exits 1."""
    typer.echo(f"error: {status} {message}{where}", err=True)
    if status == 401:
        typer.echo(f"hint: `musiclake keys` lists the API keys (they live in serve.api_keys_file, here "
                   f"{cfg.serve.api_keys_file}); pass one with --api-key KEY or $MUSICLAKE_API_KEY", err=True)
    raise typer.Exit(1)


def _fetch(cfg, session, url: str, path: Path) -> None:
    resp = session.get(url, timeout=300)
    if resp.status_code != 200:
        ctype = resp.headers.get("content-type", "")
        message = resp.json().get("error") if ctype.startswith("application/json") else resp.text[:300]
        _refused(cfg, resp.status_code, message, f" ({url})")
    _write(path, resp.content)


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as e:
        typer.echo(f"error: cannot write {path}: {e.strerror or e}", err=True)
        raise typer.Exit(1) from None


def output_path(out: Optional[str], out_dir: str) -> Path:
    """Where the MIDI file goes: --out as given; in that folder as generated.mid when --out is an existing
    folder or ends in '/'; <demo.out_dir>/generated.mid without --out. The other formats go beside it."""
    if out is None:
        return Path(out_dir) / "generated.mid"
    path = Path(out).expanduser()
    return path / "generated.mid" if out.endswith(("/", os.sep)) or path.is_dir() else path


@app.command()
def generate(prompt: str = typer.Option(..., "--prompt", "-p", help="what to make, English or Chinese"),
             bpm: Optional[float] = typer.Option(None, "--bpm"),
             key: Optional[str] = typer.Option(None, "--key", help="e.g. 'D minor', 'F#m', 'D小调'"),
             bars: int = typer.Option(8, "--bars"),
             seed: Optional[int] = typer.Option(None, "--seed"),
             model: Optional[str] = typer.Option(None, "--model", help="alias or version (default: serve.model_alias)"),
             candidates: int = typer.Option(1, "--candidates", help="pieces to write; the CLAP model keeps the best"),
             tension: Optional[str] = typer.Option(None, "--tension", help="film scoring: 0..1, or breakpoints over "
                                                                           "the bars, e.g. 0,0.3,1 (a build)"),
             formats: str = typer.Option("mid", "--formats", help="comma list of mid,wav,musicxml,png,svg to download"),
             out: Optional[str] = typer.Option(None, "--out", help="MIDI file, or a folder to write generated.mid in "
                                                                   "(default: <demo.out_dir>/generated.mid); other "
                                                                   "formats beside it"),
             url: Optional[str] = typer.Option(None, "--url", help="endpoint base URL (default: serve.host:port)"),
             key_: Optional[str] = typer.Option(None, "--api-key", help="default: $MUSICLAKE_API_KEY or serve.api_keys_file"),
             config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """POST a prompt to a running endpoint and write the files it made."""
    import requests

    cfg = load_or_exit(config, set_)
    wanted = [f.strip() for f in formats.split(",") if f.strip()]
    if bad := [f for f in wanted if f not in FORMATS]:
        typer.echo(f"invalid request: --formats: {', '.join(bad)} not one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    body = _request(prompt, bpm, key, bars, seed, model, candidates, tension).model_dump(exclude_none=True)
    path = output_path(out, cfg.demo.out_dir)
    try:  # before asking for a piece: a folder that cannot be made fails now, not after the generation
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        typer.echo(f"error: cannot make the folder {path.parent} for {path}: {e.strerror or e}", err=True)
        raise typer.Exit(1) from None
    base = (url or base_url(cfg)).rstrip("/")
    endpoint = base + GENERATE_PATH
    session = requests.Session()
    secret = api_key(cfg, key_)
    if secret:
        session.headers[API_KEY_HEADER] = secret
    try:
        resp = session.post(endpoint, json=body, timeout=600)
    except requests.ConnectionError:
        where = "--url" if url else f"serve.host/serve.port ({cfg.serve.host}:{cfg.serve.port})"
        typer.echo(f"error: no endpoint at {endpoint} (from {where}); start one with `musiclake serve`, or point "
                   f"at a running one with --url URL or --set serve.host=HOST --set serve.port=N", err=True)
        raise typer.Exit(1) from None
    payload = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    if resp.status_code != 200:
        _refused(cfg, resp.status_code, payload.get("error") or resp.text[:300])
    written = []
    for fmt in wanted:
        target = path if fmt == "mid" else path.with_suffix(f".{fmt}")
        _fetch(cfg, session, base + payload["urls"][fmt], target)
        written.append(target)
    m = payload["provenance"]["generator"]
    typer.echo(f"model {m['name']} v{m['version']} (asked for {m['ref']!r}), piece {payload['id']}, seed {payload['seed']}")
    _show_attributes(payload["attributes"])
    typer.echo(f"{payload['n_notes']} notes, {payload['duration_s']:.1f}s, {payload['elapsed_ms']:.0f} ms")
    for target in written:
        typer.echo(f"wrote {target}")


@app.command()
def recommend(prompt: Optional[str] = typer.Option(None, "--prompt", "-p", help="what to make, English or Chinese"),
              bpm: Optional[float] = typer.Option(None, "--bpm"),
              key: Optional[str] = typer.Option(None, "--key"),
              rules_only: bool = typer.Option(False, "--rules-only", help="leave out the zero-shot fallback (CLAP "
                                              "+ MiniLM) the service consults for a style or mood nothing names"),
              evaluate: bool = typer.Option(False, "--eval", help="score the recommender instead: the held-out "
                                            "prompts and the caption benchmark, per attribute, stated / implied, "
                                            "per language, beside the previous version"),
              previous: str = typer.Option("6d58539", "--previous", help="with --eval: the git revision to compare"),
              as_json: bool = typer.Option(False, "--json", help="print the attributes as JSON"),
              config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Print the attributes a prompt maps to and where each came from: the same code path as /v1/recommend
    (rules, then the CLAP version serve.clap_alias names with MiniLM for what nothing states; no Ray)."""
    from training.understanding import recommend as understand, service_fallback

    cfg = load_or_exit(config, set_)
    fallback, line = (None, "rules only (--rules-only)") if rules_only else service_fallback(cfg)
    typer.echo(line, err=True)
    if evaluate:
        from training.recommend_eval import load_prompts, run

        splits = load_prompts()
        run(splits, list(splits), fallback, "" if fallback is None else fallback.describe(), captions=True,
            previous=previous or None, out=typer.echo)
        return
    if not prompt:
        typer.echo("give --prompt TEXT (or --eval to score the recommender)", err=True)
        raise typer.Exit(2)
    req = _request(prompt, bpm, key, 8, None, None)
    try:
        attrs = understand(req.prompt, bpm=req.bpm, key=req.key, clap=fallback)
    except ValueError as e:  # an instrument General MIDI cannot play: the API answers 422 with this line
        typer.echo(f"invalid request: {str(e).splitlines()[0]}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(attrs.model_dump(), ensure_ascii=False, indent=2))
    else:
        _show_attributes(attrs.model_dump())
