"""Screening (serving/screen.py) against a lake's gold_melody_index (rows written here as the Spark job writes
them): a disguised copy is a near-copy naming the lake piece, its licence, the line and the bars; an unrelated
song is not; only the tracks and bars asked are read (new material); a lake without the index, or indexed by
an older scheme, says so; the command's answer and its one-line refusal of a non-MIDI file."""

from datetime import datetime, timezone

import pyarrow as pa
import pytest

from lake.delta import Lake
from lake.schemas import GOLD_MELODY_INDEX
from lake.similarity import SCHEME, piece_tokens, shingles
from serving.screen import Screener, new_tracks
from tests.support.config import make_config
from tests.unit.test_lake_similarity import _disguised, _song


def _rows(n: int) -> pa.Table:
    now = datetime.now(timezone.utc)
    rows = []
    for i in range(n):
        seq = piece_tokens(_song(i))
        rows.append(dict(sha256=f"{i:064x}", shingles=shingles(seq).astype("int64").tolist(), tokens=seq.tobytes(),
                         scheme=SCHEME, n_notes=int(seq.size), source="test-site",
                         url=f"https://example.org/song-{i}.mid", title=f"Song {i}", license="cc0",
                         source_table="bronze_midi_files", source_version=0, job_run_id="r", code_version="c",
                         processed_at=now))
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
    assert top.url.endswith("song-7.mid") and top.license == "cc0" and top.score >= got.threshold
    assert top.line in ("melody", "skyline") and 0.3 < top.containment <= 1.0
    # the file's own bars (its 4/4 at its ticks: the 8 bars stretched x1.5 fill 12), most of them aligned
    assert set(top.bars) <= set(range(1, 13)) and len(top.bars) >= 8 and "Song 7" in got.verdict
    other = Screener(cfg).check(_disguised(_song(4242), seed=2).dumps_midi())
    assert not other.near_copy and other.verdict == "no near-copy in the lake"


def test_only_the_new_tracks_and_bars_are_read(cfg):
    from symusic import Score

    song = _song(9, bars=16)  # the lake's song 9 has 32 bars: its first 16 here, the melody and the bass
    screener = Screener(cfg)
    whole = screener.check(song)
    assert whole.near_copy and whole.matches[0].url.endswith("song-9.mid")
    mixed = Score(song.ticks_per_quarter)  # bars 1-8 a copy, bars 9-16 from an unrelated song
    mixed.tempos = list(song.tempos)
    bar = 4 * song.ticks_per_quarter
    mixed.tracks.extend([song.tracks[0].copy(), song.tracks[1].copy()])
    other = _song(5151, bars=16)
    for k in (0, 1):
        mixed.tracks[k].notes = ([n for n in song.tracks[k].notes if n.time < 8 * bar]
                                 + [n for n in other.tracks[k].notes if n.time >= 8 * bar])
    assert screener.check(mixed, bars=(1, 8)).near_copy
    late = screener.check(mixed, bars=(9, 16))  # the bars a continuation wrote: no copy
    assert not late.near_copy and all(b >= 9 for m in late.matches for b in m.bars)
    assert not screener.check(song, tracks=[]).near_copy  # nothing new: nothing to judge
    assert new_tracks(song) == [1] and new_tracks(song, ("bass",)) == [0]


def test_an_index_of_the_older_scheme_is_left_out(tmp_path):
    cfg = make_config(tmp_path)
    rows = _rows(3).drop_columns(["tokens", "scheme"])
    Lake.from_config(cfg).insert_new(GOLD_MELODY_INDEX, rows)
    got = Screener(cfg).check(_song(1).dumps_midi())
    assert not got.near_copy and got.index_pieces == 0 and "older scheme" in got.verdict


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


def test_clap_neighbours_are_reported_beside_the_verdict_and_never_decide_it(cfg):
    from training.clap.api import Neighbor, NoEmbeddings

    class Clap:
        def __init__(self, fail=False):
            self.fail, self.asked = fail, []

        def nearest(self, midi, k=10):
            self.asked.append((midi, k))
            if self.fail:
                raise NoEmbeddings("no rows")
            return [Neighbor("a" * 64, 0.99991, "Song 3", "https://example.org/song-3.mid")]

    clap = Clap()
    unrelated = _disguised(_song(4243), seed=2)
    got = Screener(cfg).check(unrelated.dumps_midi(), clap=clap)
    assert not got.near_copy and [n.title for n in got.clap_neighbors] == ["Song 3"]  # close in CLAP: no copy
    assert got.clap_neighbors[0].score == 0.9999 and clap.asked[0][1] == 3 and clap.asked[0][0][:4] == b"MThd"
    assert Screener(cfg).check(unrelated, clap=Clap(fail=True)).clap_neighbors == []
    assert Screener(cfg).check(unrelated).clap_neighbors == []
