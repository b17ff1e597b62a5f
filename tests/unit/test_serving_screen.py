"""Screening (serving/screen.py) against a lake's gold_melody_index (rows written here as the Spark job writes
them): a disguised copy is a near-copy naming the lake piece, its licence and the bars; an unrelated song is
not; a lake without the index says so; the command's answer and its one-line refusal of a non-MIDI file."""

from datetime import datetime, timezone

import pyarrow as pa
import pytest

from lake.delta import Lake
from lake.schemas import GOLD_MELODY_INDEX
from lake.similarity import melody_line, shingles_of_tokens, tokens
from serving.screen import Screener
from tests.support.config import make_config
from tests.unit.test_lake_similarity import _disguised, _song


def _rows(n: int) -> pa.Table:
    now = datetime.now(timezone.utc)
    rows = []
    for i in range(n):
        start, pitch = melody_line(_song(i))
        rows.append(dict(sha256=f"{i:064x}", shingles=shingles_of_tokens(tokens(start, pitch)).astype("int64").tolist(),
                         n_notes=int(start.size), source="test-site", url=f"https://example.org/song-{i}.mid",
                         title=f"Song {i}", license="cc0", source_table="bronze_midi_files", source_version=0,
                         job_run_id="r", code_version="c", processed_at=now))
    return pa.Table.from_pylist(rows, schema=GOLD_MELODY_INDEX.schema)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    cfg = make_config(tmp_path_factory.mktemp("screen"))
    Lake.from_config(cfg).insert_new(GOLD_MELODY_INDEX, _rows(20))
    return cfg


def test_a_disguised_copy_is_a_near_copy_with_its_source_and_bars(cfg):
    got = Screener(cfg).check(_disguised(_song(7), seed=1).dumps_midi())  # 8 bars of song 7, transposed, x1.5
    assert got.near_copy and got.index_pieces == 20 and got.index_version is not None
    top = got.matches[0]
    assert top.url.endswith("song-7.mid") and top.license == "cc0" and top.containment >= 0.15
    # the file's own bars (its 4/4 at its ticks: the 8 bars stretched x1.5 fill 12), most of them shared
    assert set(top.bars) <= set(range(1, 13)) and len(top.bars) >= 8 and "Song 7" in got.verdict
    other = Screener(cfg).check(_disguised(_song(4242), seed=2).dumps_midi())
    assert not other.near_copy and other.verdict == "no near-copy in the lake"


def test_without_an_index_nothing_is_flagged(tmp_path):
    got = Screener(make_config(tmp_path)).check(_song(1).dumps_midi())
    assert not got.near_copy and got.index_version is None and "no lake melody index" in got.verdict


def test_the_screen_command(cfg, tmp_path):
    import json

    from typer.testing import CliRunner

    from musiclake.cli import app

    path = tmp_path / "copy.mid"
    path.write_bytes(_disguised(_song(3), seed=5).dumps_midi())
    run = CliRunner().invoke(app, ["screen", str(path), "--json", "--set", f"lake.uri={cfg.lake.uri}"])
    assert run.exit_code == 0, run.output
    got = json.loads(run.stdout)
    assert got["near_copy"] and got["matches"][0]["url"].endswith("song-3.mid")
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi at all")
    run = CliRunner().invoke(app, ["screen", str(bad), "--set", f"lake.uri={cfg.lake.uri}"])
    assert run.exit_code == 1 and len(run.stderr.strip().splitlines()) == 1 and "bad.mid" in run.stderr
