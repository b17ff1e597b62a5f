"""The lake's tokenizer (lake.tokenizer): configurable kinds, saved and reloaded, and per-program streams."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from symusic import Score

from lake.tokenizer import KINDS, ProgramSplitter, build_tokenizer, load_tokenizer, save_tokenizer, tokenizer_id
from common.config import TokenizerConfig
from tests.support.scores import band_score, d_minor_duo, drums_and_piano


def config(kind: str):
    """The default tokenizer config with another kind (the config model may list fewer kinds than the lake supports)."""
    return SimpleNamespace(**{**TokenizerConfig().model_dump(), "kind": kind})


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_builds_saves_and_reloads_with_its_own_id(kind, tmp_path):
    cfg = config(kind)
    tok = build_tokenizer(cfg)
    assert isinstance(tok, KINDS[kind])
    path = save_tokenizer(str(tmp_path), cfg)
    assert path.endswith(f"{tokenizer_id(cfg)}.json") and tokenizer_id(cfg).startswith(kind.lower())
    again = load_tokenizer(path)
    assert type(again) is type(tok) and again.vocab == tok.vocab
    ids = tok.encode(Score.from_midi(d_minor_duo())).ids
    assert again.decode(ids).note_num() == 20


def test_ids_differ_by_config_and_unknown_kinds_are_refused():
    assert len({tokenizer_id(config(k)) for k in KINDS}) == len(KINDS)
    with pytest.raises(ValueError, match="not supported"):
        build_tokenizer(config("Octuple"))


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("make", [d_minor_duo, drums_and_piano, lambda: band_score().dumps_midi()])
def test_per_program_streams_decode_to_that_programs_notes(kind, make):
    tok = build_tokenizer(config(kind))
    score = Score.from_midi(make())
    ids = tok.encode(score).ids
    parts = ProgramSplitter(tok).split(ids)
    expected = {}
    for t in score.tracks:
        program = -1 if t.is_drum else t.program
        expected[program] = expected.get(program, 0) + t.note_num()
    assert set(parts) == set(expected)
    for program, seq in parts.items():
        decoded = tok.decode(seq)
        notes = {(-1 if t.is_drum else t.program): t.note_num() for t in decoded.tracks if t.note_num()}
        assert notes == {program: expected[program]}
        assert len(seq) < len(ids) or len(parts) == 1
