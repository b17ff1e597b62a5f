"""Training windows and the pinned join of gold pairs with silver tokens."""

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

from lake.delta import Lake
from lake.schemas import GOLD_PAIRS, SILVER_TOKENS
from training.data import load_pieces, make_windows, pin_versions

PAD, EOS, BAR = 0, 2, 3
PREFIX = [1, 900, 910, 920]


def test_a_short_piece_is_one_window_prefix_music_eos_then_pad():
    w = make_windows(PREFIX, [3, 10, 11, 12], block_size=15, pad_id=PAD, eos_id=EOS, bar_id=BAR)
    assert w.shape == (1, 16)
    assert w[0].tolist() == PREFIX + [3, 10, 11, 12, EOS] + [PAD] * 7


def test_a_long_piece_gives_windows_that_all_start_with_the_prefix_then_a_bar():
    bars = [[BAR] + list(range(10 + 5 * i, 15 + 5 * i)) for i in range(12)]  # 12 bars of 6 tokens
    tokens = [t for bar in bars for t in bar]
    w = make_windows(PREFIX, tokens, block_size=20, pad_id=PAD, eos_id=EOS, bar_id=BAR)
    assert w.shape[0] > 1 and w.shape[1] == 21
    assert (w[:, :4] == PREFIX).all()
    assert (w[:, 4] == BAR).all()
    covered = set(w[:, 4:].ravel().tolist()) - {PAD}
    assert covered == set(tokens) | {EOS}
    assert w[-1][w[-1] != PAD][-1] == EOS


def test_without_bar_tokens_windows_are_plain_consecutive_stretches():
    tokens = list(range(10, 40))
    w = make_windows([1], tokens, block_size=10, pad_id=PAD, eos_id=EOS)
    music = [t for row in w for t in row[1:] if t != PAD]
    assert music == tokens + [EOS]
    assert (w[:, 0] == 1).all()


def test_a_prefix_as_long_as_the_window_is_refused():
    with pytest.raises(ValueError, match="no room"):
        make_windows(list(range(17)), [5], block_size=16, pad_id=PAD, eos_id=EOS)


def _lineage(n):
    now = datetime.now(timezone.utc)
    return {"source_table": ["t"] * n, "source_version": [0] * n, "job_run_id": ["test"] * n,
            "code_version": ["test"] * n, "processed_at": [now] * n}


def test_load_pieces_joins_on_sha_at_pinned_versions_and_filters_the_tokenizer(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    lake.append(GOLD_PAIRS, pa.table({
        "sha256": ["a", "b", "c"], "text": ["x"] * 3, "text_kind": ["caption"] * 3, "caption": ["x"] * 3,
        "style": ["jazz", "folk", "pop"], "bpm": [120.0, 80.0, 100.0], "tempo_bin": [5, 3, 4],
        "key_name": ["C major", "A minor", "G major"], "time_signature": ["4/4"] * 3,
        "split": ["train", "validation", "train"], **_lineage(3)}))
    lake.append(SILVER_TOKENS, pa.table({
        "sha256": ["a", "b", "a", "d"], "tokenizer_id": ["tok1", "tok1", "tok2", "tok1"],
        "tokens": [[3, 10, 11], [3, 12], [3, 99, 99, 99], [3, 13]], "n_tokens": [3, 2, 4, 2], **_lineage(4)}))
    pinned = pin_versions(lake)
    # rows landing after the pin are not seen
    lake.append(SILVER_TOKENS, pa.table({"sha256": ["c"], "tokenizer_id": ["tok1"], "tokens": [[3, 14]],
                                         "n_tokens": [2], **_lineage(1)}))

    pieces = load_pieces(lake, pinned, "tok1")
    assert [(p.sha256, p.split, p.style, p.tempo_bin, p.key_name, p.tokens.tolist()) for p in pieces] == [
        ("a", "train", "jazz", 5, "C major", [3, 10, 11]),
        ("b", "validation", "folk", 3, "A minor", [3, 12]),
    ]
    assert [p.sha256 for p in load_pieces(lake, pin_versions(lake), "tok1")] == ["a", "b", "c"]
    assert [p.tokens.tolist() for p in load_pieces(lake, pinned, "tok2")] == [[3, 99, 99, 99]]
    assert isinstance(pieces[0].tokens, np.ndarray)
