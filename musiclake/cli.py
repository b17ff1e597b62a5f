"""`musiclake`: one console script, a subcommand per stage.

    musiclake ingest ...     crawl sources into the bronze tables        (ingest/cli.py)
    musiclake lake ...       Spark jobs and table listings               (lake/cli.py)
    musiclake train ...      fit, register, promote, roll back models    (training/cli.py)
    musiclake clap ...       the CLAP text-music model                   (training/clap/cli.py)
    musiclake evaluate       measure a generator from its notes          (training/eval_cli.py)
    musiclake search TEXT    lake pieces for a text (labels + CLAP)      (training/search, clap/cli.py)
    musiclake serve          run the Ray Serve endpoint                  (serving/cli.py)
    musiclake generate       call a running endpoint, write a MIDI file  (serving/cli.py)
    musiclake continue/infill  write on from a MIDI file through the endpoint (serving/from_upload_cli.py)
    musiclake verify FILE    is a MIDI file ours? (the watermark)         (serving/verify.py)
    musiclake screen FILE    is its melody a near-copy of a lake piece?   (serving/screen.py)
    musiclake demo           the whole pipeline on embedded defaults
    musiclake config         print the effective config

Every command takes ``--config PATH`` and repeatable ``--set section.key=value``.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from ingest.cli import app as ingest_app
from lake.cli import app as lake_app
from common.cli_common import ConfigOpt, SetOpt, load_or_exit
from common.config import dump_config
from serving import cli as serving_cli
from serving import education_cli
from serving.from_upload_cli import continue_cmd, infill_cmd
from serving.pieces_cli import app as pieces_app
from training.clap.cli import app as clap_app
from training.clap.cli import search as search_cmd
from training.cli import app as train_app
from training.eval_cli import evaluate as evaluate_cmd
from common.cluster import RayUnreachable
from lake.objectstore import StorageError

class _Console(typer.Typer):
    """The console script's app: runs the verb, then ends the process without interpreter finalisation.

    pyarrow's I/O thread pool (it reads Delta tables through deltalake's Python filesystem) can still
    be touching Python objects when the interpreter finalises; CPython then ends such a thread with
    ``pthread_exit``, whose forced unwind through arrow's C++ frames calls ``std::terminate``: "terminate
    called without an active exception", exit 134, after the verb had printed its result (about one run
    in twenty of ``ingest log``, one in two of a bare ``DeltaTable(...).to_pyarrow_table()``). So after a
    verb has finished, its exit code is final: wait for non-daemon threads, run the atexit handlers (Ray's
    shutdown among them), flush stdout/stderr and leave with ``os._exit``, the way a forked worker does.
    Tests calling the app through ``CliRunner`` are not affected (they do not go through ``__call__``)."""

    def __call__(self, *args, **kwargs):
        code: int = 0
        try:
            super().__call__(*args, **kwargs)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else _say(e.code))
        except KeyboardInterrupt:
            code = 130
        except _USER_ERRORS as e:  # a setting that does not work here: the one line names it, no traceback
            code = _say(f"musiclake: {e}")
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        _exit_now(code)


_USER_ERRORS = (RayUnreachable, StorageError)  # a setting that does not work here: one line naming it


def _say(message) -> int:
    print(message, file=sys.stderr)
    return 1


def _exit_now(code: int) -> None:
    import atexit
    import os
    import threading

    try:
        shutdown = getattr(threading, "_shutdown", None)  # what the interpreter does first: join non-daemon threads
        if shutdown is not None:
            shutdown()
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                if code == 0 and stream is sys.stdout:
                    code = 120  # what Python itself returns when stdout cannot be flushed at exit
        os._exit(code)


app = _Console(help="musiclake: crawl -> Delta lake -> Spark -> Ray Train -> MLflow -> Ray Serve.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(ingest_app, name="ingest", help="Crawl sources into the bronze Delta tables.")
app.add_typer(lake_app, name="lake", help="Lake tables and the Spark jobs that fill silver and gold.")
app.add_typer(train_app, name="train", help="Fit the generator with Ray Train; register it in MLflow.")
app.add_typer(clap_app, name="clap", help="The CLAP text-music model: train, evaluate, embed the lake, search it.")
app.command("evaluate", help="Measure a registered generator on the fixed request set, from the notes; log to MLflow.")(
    evaluate_cmd)
app.command("search", help="Text -> lake pieces: its key, meter, tempo, instruments, style, mood matched on the "
                            "lake's labels, ranked within by CLAP; --eval measures it.")(search_cmd)
app.command("serve", help="Run the page and the API on Ray Serve until Ctrl-C.")(serving_cli.serve)
app.command("generate", help="Call a running endpoint with a prompt and write the MIDI file.")(serving_cli.generate)
app.command("keys", help="The API keys of the endpoint: list them, or --add NAME.")(serving_cli.keys)
app.command("continue", help="Continue a MIDI file by N bars through a running endpoint.")(continue_cmd)
app.command("infill", help="Write bars I-J of a MIDI file anew through a running endpoint.")(infill_cmd)
app.add_typer(pieces_app, name="pieces", help="The piece store: usage per kind and key; apply retention now.")
app.command("exercise", help="Write a scale, arpeggio, interval drill or sight-reading tune (MIDI, MusicXML, "
                             "score).")(education_cli.exercise)
app.command("harmonize", help="Chords for a melody (MIDI or MusicXML) and an accompaniment in a style.")(
    education_cli.harmonize)
app.command("transfer", help="Re-arrange a piece in another style, keeping its melody; measured.")(
    education_cli.transfer)
app.command("recommend", help="Prompt -> style recommendation (BPM, key, instruments, chords).")(serving_cli.recommend)



@app.command(help="Run the whole pipeline on embedded defaults and print where every result is.")
def demo(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt,
         keep_serving: bool = typer.Option(False, "--keep-serving", help="leave the endpoint up until Ctrl-C")):
    from musiclake.demo import run_demo

    run_demo(load_or_exit(config, set_), keep_serving=keep_serving)


@app.command("verify", help="Is a MIDI file ours? The watermark's verdict (z-score, confidence) and the stored piece "
                            "it comes from (docs/copyright.md).")
def verify(file: str = typer.Argument(..., help="a MIDI file"), config: Optional[str] = ConfigOpt,
           set_: Optional[list[str]] = SetOpt,
           as_json: bool = typer.Option(False, "--json", help="print the verdict as JSON")):
    from serving.verify import verify_command

    verify_command(file, config, set_, as_json)


@app.command("screen", help="Is a MIDI file's melody a near-copy of a lake piece? The matches, their URL and licence, "
                            "and the bars (docs/copyright.md).")
def screen(file: str = typer.Argument(..., help="a MIDI file"), config: Optional[str] = ConfigOpt,
           set_: Optional[list[str]] = SetOpt,
           as_json: bool = typer.Option(False, "--json", help="print the verdict as JSON")):
    from serving.screen import screen_command

    screen_command(file, config, set_, as_json)


@app.command("config", help="Print the effective config (defaults < file < env < --set) as YAML.")
def show_config(config: Optional[str] = ConfigOpt, set_: Optional[list[str]] = SetOpt):
    typer.echo(dump_config(load_or_exit(config, set_)))


def main() -> None:  # pragma: no cover - console entry for `python -m musiclake.cli`
    app(prog_name="musiclake")


if __name__ == "__main__":
    sys.exit(main())
