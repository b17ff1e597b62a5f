"""The evaluate stage: does a generator do what it is asked? Measured from the notes it writes.

A fixed set of requests (``training/eval_requests.yaml``: English and Chinese prompts, explicit
attribute combinations) goes to a generator; every piece is measured by :mod:`training.analysis`
(onset tempo, music21's key, chords per bar, instruments, meter: never the tempo event, the
time-signature event or a label the system wrote), and the report sets the aggregates beside the
targets of the model ``make demo`` trains:

    median BPM error <= 2 %, tempo-bin hit >= 90 %, exact key >= 85 %,
    chord accuracy per bar >= 85 %, requested instruments present >= 95 %

:func:`evaluate` takes any object with ``generate(PieceRequest) -> PieceResult``;
:func:`evaluate_version` loads a registered version by alias or number, evaluates it and logs the
report into a new MLflow run tagged with the model's name and version (what the promotion gate calls).

Realism (:mod:`training.realism`): every piece's melody statistics (repetition, steps, leaps, melody
on top, range, pitch-class entropy, syncopation, muspy's metrics) are measured too; given real songs
(``evaluate(..., real=...)``; :func:`evaluate_version` finds them: a folder, held-out POP909, or the
lake's test/validation pieces), the report sets the medians beside the real songs', with the
classifier two-sample test and the model's loss per note on those songs, as ``realism.*`` metrics.

Copying (:mod:`training.copycheck`): given an index of the model's training songs
(``evaluate(..., copy_index=...)``; :func:`evaluate_version` builds it from the rows the version
trained on), every piece's longest melody match with a training song is found; ``copy.share_4bar``
(pieces repeating 4 bars or more) and ``copy.longest_bars`` are reported and logged.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from training.analysis import Measurement, key_relation, measure
from training.realism import RealismReport, RealSet, compare, loss_per_note, piece_stats, real_set
from training.request import PieceRequest

DEFAULT_SET = Path(__file__).with_name("eval_requests.yaml")
LANGS = ("en", "zh", "request")
# "Accuracy 2" of tempo estimation: within 4 % of the tempo, its half, double, third or triple.
OCTAVE_TOLERANCE_PCT = 4.0

# Metric -> (comparison, threshold): the targets for the demo model, 16 bars x 4 tracks.
TARGETS: dict[str, tuple[str, float]] = {
    "bpm_error_median_pct": ("<=", 2.0),
    "tempo_bin_hit_pct": (">=", 90.0),
    "key_exact_pct": (">=", 85.0),
    "chord_accuracy_pct": (">=", 85.0),
    "instruments_present_pct": (">=", 95.0),
}
# The rows of the table, in order, with their labels.
METRIC_LABELS: dict[str, str] = {
    "bpm_error_median_pct": "median BPM error %",
    "tempo_bin_hit_pct": "tempo-bin hit %",
    "bpm_octave_hit_pct": "BPM within 4 % up to x2/x3 %",
    "key_exact_pct": "exact key %",
    "key_exact_or_relative_pct": "key exact or relative %",
    "key_with_drums_exact_pct": "exact key, drums read as pitches %",
    "chord_accuracy_pct": "chord accuracy per bar %",
    "instruments_present_pct": "requested instruments present %",
    "time_signature_hit_pct": "time signature hit %",
    "tracks_with_notes_median": "tracks with notes (median)",
    "gen_time_p50_ms": "generation time p50 ms",
    "gen_time_p95_ms": "generation time p95 ms",
    "n_cases": "cases",
    "n_failed": "failed generations",
}


class EvalSetError(ValueError):
    """The evaluation set file is malformed (one line says where)."""


# -- the evaluation set -------------------------------------------------------------------------
def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@dataclass(frozen=True)
class EvalCase:
    """One entry of the evaluation set: a prompt or explicit request fields, with its seed."""

    id: str
    kind: str  # "prompt" | "request"
    seed: int
    bars: int = 16
    prompt: str | None = None
    fields: dict = field(default_factory=dict)

    @property
    def lang(self) -> str:
        """"en" or "zh" for a prompt (by its characters), "request" for explicit fields."""
        if self.kind == "request":
            return "request"
        return "zh" if _is_chinese(self.prompt or "") else "en"

    def to_request(self) -> PieceRequest:
        if self.kind == "prompt":
            from training.understanding import request_for_prompt  # the endpoint's own rules, prompt -> request

            return request_for_prompt(self.prompt, bars=self.bars, seed=self.seed)
        return PieceRequest(**{"bars": self.bars, **self.fields, "seed": self.seed})


def load_eval_set(path: str | Path | None = None) -> list[EvalCase]:
    """The cases of an evaluation set file (default: :data:`DEFAULT_SET`), validated."""
    path = Path(path) if path is not None else DEFAULT_SET
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise EvalSetError(f"{path}: cannot read the evaluation set: {' '.join(str(e).split())}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list) or not doc["cases"]:
        raise EvalSetError(f"{path}: expected a mapping with a non-empty 'cases' list")
    bars = int(doc.get("bars", 16))
    cases, seen = [], set()
    for i, entry in enumerate(doc["cases"]):
        if not isinstance(entry, dict):
            raise EvalSetError(f"{path}: case {i} is not a mapping")
        e = dict(entry)
        cid, kind, seed = e.pop("id", None), e.pop("kind", None), e.pop("seed", None)
        where = f"{path}: case {i} ({cid or 'no id'})"
        if not cid or cid in seen:
            raise EvalSetError(f"{where}: every case needs a unique id")
        if kind not in ("prompt", "request"):
            raise EvalSetError(f"{where}: kind must be 'prompt' or 'request', not {kind!r}")
        if not isinstance(seed, int) or seed < 0:
            raise EvalSetError(f"{where}: seed must be a non-negative integer")
        case_bars = int(e.pop("bars", bars))
        if kind == "prompt":
            prompt = e.pop("prompt", None)
            if not isinstance(prompt, str) or not prompt.strip() or e:
                raise EvalSetError(f"{where}: a prompt case holds id, kind, seed, prompt (and bars) only")
            case = EvalCase(cid, kind, seed, case_bars, prompt=prompt)
        else:
            case = EvalCase(cid, kind, seed, case_bars, fields=e)
            try:
                case.to_request()
            except ValueError as err:
                raise EvalSetError(f"{where}: {' '.join(str(err).split())[:300]}") from None
        seen.add(cid)
        cases.append(case)
    return cases


def eval_set_digest(cases: list[EvalCase]) -> str:
    """A short hash of the cases, so runs say which evaluation set they were measured on."""
    blob = json.dumps([[c.id, c.kind, c.seed, c.bars, c.prompt, c.fields] for c in cases], sort_keys=True,
                      ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


# -- results ------------------------------------------------------------------------------------
@dataclass
class CaseResult:
    case: EvalCase
    request: dict  # the PieceRequest the case made (after the prompt rules)
    measurement: Measurement | None  # None when generation (or the request) failed
    error: str | None
    gen_ms: float  # wall time of generator.generate
    sources: dict[str, str] = field(default_factory=dict)  # role -> "model" | "arranger"
    realism: dict[str, float] | None = None  # training.realism.piece_stats of the piece

    @property
    def ok(self) -> bool:
        return self.measurement is not None

    def row(self) -> dict:
        """One flat row of the per-case table (JSON / CSV)."""
        m = self.measurement
        row = {"id": self.case.id, "lang": self.case.lang, "kind": self.case.kind, "prompt": self.case.prompt or "",
               "seed": self.case.seed, "style": self.request.get("style"), "error": self.error or "",
               "gen_ms": round(self.gen_ms, 1), "sources": ",".join(f"{r}:{s}" for r, s in self.sources.items())}
        if m is None:
            return row
        row.update(bpm_requested=m.bpm_requested, bpm_measured=m.bpm_measured, onset_pulse_bpm=m.onset_pulse_bpm,
                   bpm_error_pct=m.bpm_error_pct, tempo_bin_hit=m.tempo_bin_hit,
                   key_requested=m.key_requested, key_measured=m.key_measured or "", key_relation=m.key_relation,
                   key_with_drums=m.key_with_drums or "", chord_accuracy=m.chord_accuracy,
                   chords_requested=" ".join(m.chords_requested), chords_measured=" ".join(m.chords_measured),
                   instruments_requested=" ".join(map(str, m.instruments_requested)),
                   instruments_missing=" ".join(map(str, m.instruments_missing)),
                   instruments_present=m.instruments_present, tracks_with_notes=m.tracks_with_notes,
                   time_signature_requested=m.time_signature_requested, meter_measured=m.meter_measured or "",
                   time_signature_hit=m.time_signature_hit, n_notes=m.n_notes, duration_s=m.duration_s,
                   pulse_candidates=" ".join(f"{b:g}" for b, _ in m.extra.get("pulse_candidates", [])))
        for name, value in (self.realism or {}).items():
            row[f"realism_{name}"] = None if math.isnan(value) else round(value, 4)
        return row


def _octave_hit(measured: float, requested: float) -> bool:
    return measured > 0 and any(abs(measured - requested * f) <= requested * f * OCTAVE_TOLERANCE_PCT / 100
                                for f in (1.0, 2.0, 0.5, 3.0, 1 / 3))


def _pct(values) -> float:
    values = list(values)
    return round(100.0 * sum(bool(v) for v in values) / len(values), 2) if values else float("nan")


def aggregate(results: list[CaseResult]) -> dict[str, float]:
    """The report's figures over some cases. A failed generation counts as a miss everywhere (100 % BPM
    error, no key, no chord, no instrument); chords and instruments are pooled over bars / instruments."""
    n = len(results)
    ms = [r.measurement for r in results]
    out: dict[str, float] = {"n_cases": n, "n_failed": sum(m is None for m in ms)}
    if n == 0:
        return out
    out["bpm_error_median_pct"] = round(float(np.median([m.bpm_error_pct if m else 100.0 for m in ms])), 3)
    out["tempo_bin_hit_pct"] = _pct(m is not None and m.tempo_bin_hit for m in ms)
    out["bpm_octave_hit_pct"] = _pct(m is not None and _octave_hit(m.bpm_measured, m.bpm_requested) for m in ms)
    out["key_exact_pct"] = _pct(m is not None and m.key_relation == "exact" for m in ms)
    out["key_exact_or_relative_pct"] = _pct(m is not None and m.key_relation in ("exact", "relative") for m in ms)
    out["key_with_drums_exact_pct"] = _pct(m is not None and key_relation(m.key_with_drums, m.key_requested) == "exact"
                                           for m in ms)
    bars = [len(r.measurement.chords_requested) if r.ok else r.case.bars for r in results]
    hit_bars = [round(m.chord_accuracy * b) if m else 0 for m, b in zip(ms, bars)]
    out["chord_accuracy_pct"] = round(100.0 * sum(hit_bars) / max(sum(bars), 1), 2)
    wanted = [len(m.instruments_requested) if m else 1 for m in ms]
    present = [len(m.instruments_requested) - len(m.instruments_missing) if m else 0 for m in ms]
    out["instruments_present_pct"] = round(100.0 * sum(present) / max(sum(wanted), 1), 2)
    out["time_signature_hit_pct"] = _pct(m is not None and m.time_signature_hit for m in ms)
    out["tracks_with_notes_median"] = float(np.median([m.tracks_with_notes if m else 0 for m in ms]))
    times = [r.gen_ms for r in results if r.ok]
    if times:
        out["gen_time_p50_ms"] = round(float(np.percentile(times, 50)), 1)
        out["gen_time_p95_ms"] = round(float(np.percentile(times, 95)), 1)
    return out


def check(metrics: dict[str, float]) -> dict[str, bool]:
    """Metric -> whether it meets its target (:data:`TARGETS`); a metric that is missing fails."""
    out = {}
    for name, (op, threshold) in TARGETS.items():
        v = metrics.get(name)
        ok = v is not None and not (isinstance(v, float) and math.isnan(v))
        out[name] = bool(ok and (v <= threshold if op == "<=" else v >= threshold))
    return out


@dataclass
class EvalReport:
    results: list[CaseResult]
    eval_set: str = ""  # which set (a path or a name) and its digest
    model: str = ""  # "name vN" when a registered version was evaluated
    run_id: str | None = None  # the MLflow run it was logged to
    realism: RealismReport | None = None  # against real songs, when there were some to compare with
    copy: object | None = None  # training.copycheck.CopyReport: the pieces against the training songs
    copy_note: str = ""  # why copying was not measured

    def groups(self) -> dict[str, list[CaseResult]]:
        out = {"all": self.results}
        for lang in LANGS:
            out[lang] = [r for r in self.results if r.case.lang == lang]
        return out

    def metrics(self, group: str = "all") -> dict[str, float]:
        """The aggregates of ``group``; for all cases also the ``realism.*`` figures when measured."""
        out = aggregate(self.groups()[group])
        if group == "all" and self.realism is not None:
            out.update(self.realism.metrics())
        if group == "all" and self.copy is not None:
            out.update(self.copy.metrics())
        return out

    def checks(self) -> dict[str, bool]:
        return check(self.metrics())

    @property
    def passed(self) -> bool:
        return all(self.checks().values())

    def rows(self) -> list[dict]:
        return [r.row() for r in self.results]

    def table(self) -> str:
        """The aggregates per language beside the targets, with pass/fail for each target."""
        groups = self.groups()
        per = {g: aggregate(rs) for g, rs in groups.items()}
        checks = check(per["all"])
        heads = ["metric"] + [f"{g} ({len(rs)})" for g, rs in groups.items()] + ["target", ""]
        lines = []
        for name, label in METRIC_LABELS.items():
            cells = [label]
            for g in groups:
                v = per[g].get(name)
                cells.append("-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:g}")
            if name in TARGETS:
                op, thr = TARGETS[name]
                cells += [f"{op} {thr:g}", "pass" if checks[name] else "FAIL"]
            else:
                cells += ["", ""]
            lines.append(cells)
        widths = [max(len(str(row[i])) for row in [heads] + lines) for i in range(len(heads))]

        def fmt(row):
            return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths)))

        title = "evaluation" + (f" of {self.model}" if self.model else "")
        title += f" on {self.eval_set}" if self.eval_set else ""
        verdict = "all targets met" if self.passed else \
            "targets missed: " + ", ".join(METRIC_LABELS[k] for k, ok in checks.items() if not ok)
        out = [title, fmt(heads), "  ".join("-" * w for w in widths)] + [fmt(r) for r in lines] + [verdict]
        failed = [r for r in self.results if not r.ok]
        out += [f"failed {r.case.id}: {r.error}" for r in failed[:5]]
        if self.realism is not None:
            out += ["", self.realism.table()]
        if self.copy is not None:
            out += ["", self.copy.line()]
        elif self.copy_note:
            out += ["", f"copying: not measured ({self.copy_note})"]
        return "\n".join(out)

    def csv(self) -> str:
        rows = self.rows()
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()


# -- running ------------------------------------------------------------------------------------
def _one_line(e: BaseException, limit: int = 300) -> str:
    text = f"{type(e).__name__}: {' '.join(str(e).split())}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def evaluate(generator, cases: list[EvalCase] | None = None, progress: bool = True,
             real: RealSet | None = None, copy_index=None) -> EvalReport:
    """Every case through ``generator.generate(PieceRequest) -> PieceResult``, every piece measured.

    A case whose request or generation fails is kept as a failed result (its error in one line);
    the evaluation goes on with the next. With ``real`` songs the report carries the realism
    comparison (:func:`training.realism.compare`) and the generator's loss per note on them; with a
    ``copy_index`` (:class:`training.copycheck.CopyIndex`) each piece's longest match with its songs.
    """
    from common.progress import Progress

    cases = load_eval_set() if cases is None else list(cases)
    results: list[CaseResult] = []
    pieces: list[bytes] = []
    bar = Progress("evaluate", total=len(cases), unit="pieces") if progress else None
    for case in cases:
        req_dict: dict = {}
        try:
            req = case.to_request()
            req_dict = req.model_dump(mode="json", exclude_none=True)
            t0 = time.perf_counter()
            result = generator.generate(req)
            gen_ms = (time.perf_counter() - t0) * 1000.0
        except Exception as e:  # a generator that fails on a case is a result, not the end of the evaluation
            results.append(CaseResult(case, req_dict, None, _one_line(e), 0.0))
            if bar:
                bar.advance(1, failed=1)
            continue
        sources = {t.role if t.doubles is None else f"{t.role}+{t.instrument}": t.source for t in result.tracks}
        try:
            m = measure(result.midi, req)
            err = None
        except Exception as e:  # unreadable MIDI from the generator
            m, err = None, "measure: " + _one_line(e)
        try:
            stats = piece_stats(result.midi) if m is not None else None
        except Exception:  # noqa: BLE001 - a piece whose melody cannot be read has no realism figures
            stats = None
        results.append(CaseResult(case, req_dict, m, err, gen_ms, sources, stats))
        pieces.append(result.midi)
        if bar:
            bar.advance(1, failed=int(m is None))
    if bar:
        bar.close()
    report = EvalReport(results, eval_set=f"{len(cases)} cases, digest {eval_set_digest(cases)}")
    if real is not None:
        report.realism = compare([r.realism for r in results if r.realism], real)
        report.realism.loss_per_note, report.realism.loss_note = loss_per_note(generator, real)
    if copy_index is not None:
        from training.copycheck import check_pieces

        report.copy = check_pieces(copy_index, pieces)
    return report


def _metric_key(prefix: str, group: str, name: str) -> str:
    return f"{prefix}.{name}" if group == "all" else f"{prefix}.{group}.{name}"


def log_to_mlflow(client, run_id: str, report: EvalReport, prefix: str = "eval") -> dict[str, float]:
    """Log the aggregates (overall ``eval.<metric>``, per language ``eval.<lang>.<metric>``), the
    pass/fail of each target as tags, and the per-case table (``eval/cases.json``, ``eval/cases.csv``)
    and the printed table (``eval/table.txt``) as artifacts. Returns the metrics logged."""
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    logged: dict[str, float] = {}
    for group, rs in report.groups().items():
        if not rs:
            continue
        for name, value in aggregate(rs).items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            logged[_metric_key(prefix, group, name)] = float(value)
    metrics = [Metric(k, v, now, 0) for k, v in logged.items()]
    checks = report.checks()
    tags = [RunTag(f"{prefix}.passed", str(all(checks.values())).lower())]
    tags += [RunTag(f"{prefix}.target.{k}", "pass" if ok else "fail") for k, ok in checks.items()]
    if report.eval_set:
        tags.append(RunTag(f"{prefix}.set", report.eval_set[:250]))
    for i in range(0, len(metrics), 500):
        client.log_batch(run_id, metrics=metrics[i:i + 500], tags=tags if i == 0 else [])
    client.log_text(run_id, json.dumps(report.rows(), ensure_ascii=False, indent=1), f"{prefix}/cases.json")
    client.log_text(run_id, report.csv(), f"{prefix}/cases.csv")
    client.log_text(run_id, report.table(), f"{prefix}/table.txt")
    if report.realism is not None:
        found = report.realism.metrics()
        client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in found.items()],
                         tags=[RunTag("realism.real_set", report.realism.real.name[:250]),
                               RunTag("realism.real_set_digest", report.realism.real.digest)])
        client.log_text(run_id, report.realism.table(), f"{prefix}/realism.txt")
        logged.update(found)
    if report.copy is not None and report.copy.metrics():
        found = report.copy.metrics()
        client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in found.items()],
                         tags=[RunTag("copy.index", report.copy.index[:250])])
        client.log_text(run_id, report.copy.line(), f"{prefix}/copy.txt")
        logged.update(found)
    return logged


def evaluate_version(cfg, ref: str = "champion", cases: list[EvalCase] | None = None, limit: int | None = None,
                     set_path: str | Path | None = None, progress: bool = True,
                     real: str | Path | RealSet | bool | None = None, copy: bool = True) -> EvalReport:
    """Load the registered generator ``ref`` names (an alias or a version number), evaluate it and log
    the report into a new MLflow run of ``cfg.mlflow.experiment`` tagged with the model's name, version
    and the alias asked for. The report carries the run id.

    ``real``: the songs realism is measured against: a folder of MIDI, a :class:`RealSet`, False for
    none, or None for :func:`training.realism.real_set` (held-out POP909 when ``POP909_DIR`` is
    there, else the lake's test and validation pieces).

    ``copy``: measure the pieces against the rows the version trained on (:func:`training.copycheck.from_model`;
    when they cannot be read, the report says why and has no ``copy.*`` figures)."""
    from common.runinfo import code_version, new_run_id
    from training import registry

    if cases is None:
        cases = load_eval_set(set_path)
    if limit is not None:
        cases = cases[:max(0, int(limit))]
    generator, model_ref = registry.load_generator(cfg, ref)
    if real is False:
        real_songs = None
    elif isinstance(real, RealSet):
        real_songs = real
    else:
        real_songs = real_set(cfg, None if real is True else real)
    copy_index, copy_note = None, ""
    if copy:
        from training.copycheck import from_model

        try:
            copy_index = from_model(cfg, model_ref.version)
        except Exception as e:  # noqa: BLE001 - no lake, no data tags: copying is not measured, and said so
            copy_note = _one_line(e)
    report = evaluate(generator, cases, progress=progress, real=real_songs, copy_index=copy_index)
    report.copy_note = copy_note
    report.model = f"{model_ref.name} v{model_ref.version}"
    if set_path is not None:
        report.eval_set = f"{Path(set_path).name}: {report.eval_set}"
    client = registry.client(cfg)
    tags = {"musiclake.stage": "evaluate", "model_name": model_ref.name, "model_version": str(model_ref.version),
            "model_ref": str(ref), "model_run_id": model_ref.run_id or "", "git_commit": code_version()}
    run = client.create_run(registry.experiment_id(client, cfg), run_name=new_run_id("eval"), tags=tags)
    try:
        log_to_mlflow(client, run.info.run_id, report)
    except Exception:
        client.set_terminated(run.info.run_id, status="FAILED")
        raise
    client.set_terminated(run.info.run_id)
    report.run_id = run.info.run_id
    return report
