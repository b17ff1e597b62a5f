"""The miditok tokenizer of the lake, built from ``config.tokenizer`` and identified by its config hash.

The tokenizer's full parameters are saved under ``<lake>/_meta/tokenizers/<tokenizer_id>.json``
beside the tables whose ``tokenizer_id`` column names it, so any token row can be decoded later;
a different config is a different id (and file), so every version of the vocabulary stays readable.

``kind`` picks the miditok tokenization among those that write one stream of single ids for all
instruments (:data:`KINDS`: REMI, TSD, MIDILike). The config accepts only REMI: TSD and MIDILike
write no Bar token, which training and sampling need; they stay buildable here for analysis.
:class:`ProgramSplitter` cuts that stream into one sequence per program for multi-track generation,
without tokenizing twice.
"""

from __future__ import annotations

import functools
import hashlib
import json

import miditok
import numpy as np

META_DIR = "_meta/tokenizers"
KINDS = {"REMI": miditok.REMI, "TSD": miditok.TSD, "MIDILike": miditok.MIDILike}


def _params(tok_cfg) -> dict:
    return dict(
        kind=tok_cfg.kind,
        use_programs=tok_cfg.use_programs,
        use_tempos=tok_cfg.use_tempos,
        use_time_signatures=tok_cfg.use_time_signatures,
        beat_res=dict(sorted(tok_cfg.beat_res.items())),
        num_velocities=tok_cfg.num_velocities,
        miditok=miditok.__version__ if hasattr(miditok, "__version__") else "3",
    )


def tokenizer_id(tok_cfg) -> str:
    """Stable id of a tokenizer config: same parameters, same id, same vocabulary."""
    blob = json.dumps(_params(tok_cfg), sort_keys=True).encode()
    return f"{tok_cfg.kind.lower()}-{hashlib.sha256(blob).hexdigest()[:12]}"


def _beat_res(spec: dict[str, int]) -> dict[tuple[int, int], int]:
    out = {}
    for span, res in spec.items():
        lo, hi = span.split("_")
        out[(int(lo), int(hi))] = int(res)
    return out


@functools.lru_cache(maxsize=8)
def _build(params_json: str) -> miditok.MusicTokenizer:
    p = json.loads(params_json)
    if p["kind"] not in KINDS:
        raise ValueError(f"tokenizer.kind {p['kind']!r} is not supported; known: {', '.join(KINDS)}")
    conf = miditok.TokenizerConfig(
        use_programs=p["use_programs"],
        one_token_stream_for_programs=True,
        use_tempos=p["use_tempos"],
        use_time_signatures=p["use_time_signatures"],
        beat_res=_beat_res(p["beat_res"]),
        num_velocities=p["num_velocities"],
        special_tokens=["PAD", "BOS", "EOS"],
    )
    return KINDS[p["kind"]](conf)


def build_tokenizer(tok_cfg) -> miditok.MusicTokenizer:
    """The tokenizer for ``config.tokenizer`` (cached per process; multi-track in one stream)."""
    return _build(json.dumps(_params(tok_cfg), sort_keys=True))


def encode_ids(tokenizer: miditok.MusicTokenizer, score) -> np.ndarray:
    """The token ids of ``score`` (int32), exactly ``tokenizer.encode(score).ids``.

    For the lake's default kind (REMI in one stream with programs) the ids come from
    :class:`lake.remi_fast.FastREMI`, about ten times faster than miditok's per-event loop and
    tested to give the same ids; every other configuration goes through miditok itself. The
    encoder is built once per tokenizer and kept on it.
    """
    from lake.remi_fast import FastREMI

    fast = getattr(tokenizer, "_lake_fast_remi", False)
    if fast is False:
        fast = FastREMI(tokenizer) if FastREMI.supports(tokenizer) else None
        tokenizer._lake_fast_remi = fast
    if fast is not None:
        return fast.encode(score)
    return np.asarray(tokenizer.encode(score).ids, dtype=np.int32)


def save_tokenizer(lake_uri: str, tok_cfg, storage_options: dict[str, str] | None = None) -> str:
    """Write the tokenizer's parameters beside the tables (a local lake or an object store); returns the file's URI."""
    import os
    import tempfile

    from lake.objectstore import filesystem

    tid = tokenizer_id(tok_cfg)
    target = f"{lake_uri.rstrip('/')}/{META_DIR}/{tid}.json"
    fs, path = filesystem(target, storage_options)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with tempfile.TemporaryDirectory() as tmp:
        build_tokenizer(tok_cfg).save(tmp, filename=f"{tid}.json")
        with open(os.path.join(tmp, f"{tid}.json"), "rb") as src, fs.open_output_stream(path) as dst:
            dst.write(src.read())
    return target


def load_tokenizer(path: str) -> miditok.MusicTokenizer:
    """A saved tokenizer, of the kind its file names."""
    with open(path) as f:
        kind = json.load(f).get("tokenization", "REMI")
    if kind not in KINDS:
        raise ValueError(f"{path}: tokenization {kind!r} is not supported; known: {', '.join(KINDS)}")
    return KINDS[kind](params=path)


# Token types of a one-stream multi-program sequence.
_SHARED, _POSITION, _PROGRAM, _NOTE = 0, 1, 2, 3
_TIME_ONLY = {"Bar", "Position"}
_SHARED_TYPES = {"Bar", "Position", "TimeShift", "Rest", "Tempo", "TimeSig", "PAD", "BOS", "EOS", "MASK"}


class ProgramSplitter:
    """Cuts one multi-program token stream into per-program streams (numpy, O(tokens) per program).

    In the one-stream mode every note's tokens follow a ``Program_<p>`` token. A program's stream
    keeps the shared tokens (bars, positions or time shifts, tempos, meters) and the note tokens of
    that program; a ``Position`` left with no note before the next bar or position is dropped.
    The result decodes with the same tokenizer to that program's notes.
    """

    def __init__(self, tokenizer: miditok.MusicTokenizer):
        size = len(tokenizer)
        self.kind = np.full(size, _NOTE, dtype=np.int8)
        self.program = np.full(size, -10, dtype=np.int64)
        self.time_only = np.zeros(size, dtype=bool)
        for token, i in tokenizer.vocab.items():
            head, _, value = token.partition("_")
            if head == "Program":
                self.kind[i], self.program[i] = _PROGRAM, int(value)
            elif head == "Position":
                self.kind[i] = _POSITION
            elif head in _SHARED_TYPES:
                self.kind[i] = _SHARED
            self.time_only[i] = head in _TIME_ONLY

    def split(self, ids) -> dict[int, np.ndarray]:
        """{program: int32 token ids} for every program with notes in the stream."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return {}
        kind = self.kind[ids]
        pos = np.arange(ids.size)
        last_prog = np.maximum.accumulate(np.where(kind == _PROGRAM, pos, -1))
        last_shared = np.maximum.accumulate(np.where((kind == _SHARED) | (kind == _POSITION), pos, -1))
        owner = np.where(last_prog > last_shared, self.program[ids[np.maximum(last_prog, 0)]], -10)
        note_part = (kind == _PROGRAM) | (kind == _NOTE)
        shared = ~note_part
        out = {}
        for p in np.unique(owner[note_part & (owner != -10)]).tolist():
            keep = shared | (note_part & (owner == p))
            seq = ids[keep]
            k = self.kind[seq]
            following_time = np.append(self.time_only[seq][1:], True)
            seq = seq[~((k == _POSITION) & following_time)]
            out[int(p)] = seq.astype(np.int32)
        return out
