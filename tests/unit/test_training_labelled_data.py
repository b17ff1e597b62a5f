"""The generator's training rows: labelled bars and chords win over the notes' own; held-out POP909 songs
never reach them (training.data, training.notes)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from lake.delta import Lake
from lake.schemas import BRONZE_ANNOTATIONS, BRONZE_MIDI, GOLD_PAIRS
from training.data import (held_out_shas, is_held_out, labelled_bars, licence_line, pin_versions, piece_windows,
                           training_rows)
from training.notes import BAR, F, HEADER, meter_index, note_table, seconds_to_ticks
from training.realism import HELD_OUT_POP909

TPQ, BPM = 480, 120.0
OFFSET = 40  # ticks: POP909 files start their grid a little after 0
QUARTER_S = 60.0 / BPM


def _pop_like(pickup: bool = False) -> Score:
    """Four 4/4 bars at 120 BPM that declare 1/4 (as most POP909 files do), starting 40 ticks late: a melody
    on every beat, a held chord per bar (C, F, G7, C); with ``pickup`` the bars start a bar later and a
    melody note sounds on the beat before the first of them."""
    s = Score(TPQ)
    s.tempos.append(Tempo(0, qpm=BPM))
    s.time_signatures.append(TimeSignature(0, 1, 4))
    mel, acc = Track(name="MELODY", program=0), Track(name="PIANO", program=0)
    first = OFFSET + (4 * TPQ if pickup else 0)
    if pickup:
        mel.notes.append(Note(OFFSET + 3 * TPQ, TPQ, 71, 90))
    for bar, chord in enumerate([(60, 64, 67), (53, 57, 60), (55, 59, 62, 65), (60, 64, 67)]):
        t0 = first + bar * 4 * TPQ
        for beat in range(4):
            mel.notes.append(Note(t0 + beat * TPQ, TPQ, 72 + 2 * beat, 90))
        for p in chord:
            acc.notes.append(Note(t0, 4 * TPQ, p, 60))
    s.tracks.extend([mel, acc])
    return s


def _downbeats(first_bar: int = 0, n: int = 4) -> list[float]:
    return [(OFFSET / TPQ + 4 * (first_bar + b)) * QUARTER_S for b in range(n)]


LABELS = ["C:maj", "F:maj", "G:7", "N"]  # the last bar's label says "no chord", whatever its notes say


def test_seconds_to_ticks_follows_the_tempo_map():
    s = Score(TPQ)
    s.tempos.extend([Tempo(0, qpm=120.0), Tempo(4 * TPQ, qpm=60.0)])
    assert np.allclose(seconds_to_ticks(s, [0.0, 1.0, 2.0, 3.0]), [0, 2 * TPQ, 4 * TPQ, 5 * TPQ])


def test_unlabelled_bars_follow_the_declared_meter():
    t = note_table(_pop_like(), "1/4")
    assert t.bar_steps == 4 and t.n_bars == 16  # a "bar" per beat: what the labelled downbeats fix
    assert t.time_signature is None


def test_labelled_downbeats_and_chords_replace_the_notes_own():
    t = note_table(_pop_like(), "1/4", bar_start_s=_downbeats(), bar_chords=LABELS)
    assert (t.bar_steps, t.n_bars, t.time_signature) == (16, 4, "4/4")
    assert t.chords == [(0, "maj"), (5, "maj"), (7, "7"), (None, None)]
    mel = t.role == 0
    # the 40-tick offset is the bar line's, so the melody sits on the beats 0, 4, 8, 12 of each bar
    assert sorted(set(t.pos[mel].tolist())) == [0, 4, 8, 12]
    assert np.bincount(t.bar[mel]).tolist() == [4, 4, 4, 4]
    assert set(t.pos[~mel].tolist()) == {0} and set(t.dur[~mel].tolist()) == {16}


def test_a_pickup_before_the_first_labelled_downbeat_gets_a_bar_without_a_chord():
    t = note_table(_pop_like(pickup=True), "1/4", bar_start_s=_downbeats(first_bar=1), bar_chords=LABELS)
    assert t.n_bars == 5 and t.chords[0] == (None, None) and t.chords[1] == (0, "maj")
    pickup = (t.bar == 0)
    assert t.pitch[pickup].tolist() == [71] and t.pos[pickup].tolist() == [12]


def test_chords_that_do_not_match_the_bars_fall_back_to_the_notes():
    t = note_table(_pop_like(), "1/4", bar_start_s=_downbeats(), bar_chords=LABELS[:3])
    assert t.bar_steps == 4 and t.time_signature is None


def test_labelled_bars_only_for_rows_whose_chords_are_labels():
    starts, chords = _downbeats(), LABELS
    assert labelled_bars("labels:pop909", np.array(starts), np.array(chords, dtype=object)) == (starts, chords)
    assert labelled_bars("analysis", starts, chords) == (None, None)
    assert labelled_bars(None, starts, chords) == (None, None)
    assert labelled_bars("labels:pop909", None, None) == (None, None)
    assert labelled_bars("labels:pop909", starts, chords[:2]) == (None, None)


def _windows(**labels) -> np.ndarray:
    midi = _pop_like().dumps_midi()
    return np.stack(piece_windows(midi, "pop", BPM, "C major", "1/4", 128, [0], None, **labels))


def test_training_windows_of_a_labelled_row_carry_its_meter_bars_and_chords():
    labelled = _windows(bar_start_s=_downbeats(), bar_chords=LABELS)
    plain = _windows()
    for w, meter, bars in ((labelled, "4/4", 4), (plain, "1/4", 16)):
        head = w[0][w[0][:, F["kind"]] == HEADER][0]
        assert head[F["meter"]] - 1 == meter_index(meter)
        assert (w[0][:, F["kind"]] == BAR).sum() == bars
    bar_rows = labelled[0][labelled[0][:, F["kind"]] == BAR]
    assert (bar_rows[:, F["chord_root"]] - 1).tolist() == [0, 5, 7, 12]  # 12: no chord


# -- held-out songs ---------------------------------------------------------------------------------
def test_is_held_out_reads_the_annotation_or_the_file_name():
    assert 10 in HELD_OUT_POP909 and 11 not in HELD_OUT_POP909
    assert is_held_out(None, "pop909", "010") and not is_held_out(None, "pop909", "011")
    assert is_held_out("pop909", None, url="file:///data/pop909/010/010.mid")
    assert not is_held_out("pop909", None, url="file:///data/pop909/011/011.mid")
    assert not is_held_out("score-site", None, url="http://scores.test/midi/010.mid")  # not a POP909 file


def _song(n: int) -> bytes:
    s = _pop_like()
    s.tracks[0].notes.append(Note(OFFSET, 1, 40 + n % 40, 10 + n))  # distinct bytes per song
    return s.dumps_midi()


def _land(lake: Lake, songs: dict[str, tuple[bytes, str, str, bool]]) -> dict[str, str]:
    """``{name: (midi, source, url, annotated)}`` -> bronze rows, POP909 annotations, gold pairs (all train)."""
    now = datetime.now(timezone.utc)
    bronze, ann, gold, shas = [], [], [], {}
    for name, (data, source, url, annotated) in songs.items():
        sha = hashlib.sha256(data).hexdigest()
        shas[name] = sha
        lic = "MIT" if source == "pop909" else "PD"
        bronze.append(dict(sha256=sha, md5=sha[:32], content=data, size=len(data), url=url, attrs_json="{}",
                           source=source, license=lic, fetched_at=now, ingest_run_id="t"))
        if annotated:
            ann.append(dict(sha256=sha, md5=sha[:32], source=source, format="pop909", item=name, origin=url,
                            labels_sha256="x", beat_s=[0.0], beat_downbeat=[True], chord_start_s=[0.0],
                            chord_end_s=[1.0], chord_labels=["C:maj"], key_start_s=[0.0], key_end_s=[1.0],
                            key_labels=["C:maj"], key_name="C major", track_index=[0], track_names=["MELODY"],
                            track_roles=["melody"], license=lic, ingested_at=now, ingest_run_id="t"))
        gold.append(dict(sha256=sha, text="t", text_kind="caption", caption="t", style="pop", bpm=BPM, tempo_bin=4,
                         key_name="C major", time_signature="1/4", split="train",
                         chord_source="labels:pop909" if annotated else "analysis",
                         bar_start_s=_downbeats() if annotated else None, bar_chords=LABELS if annotated else None,
                         source_table="silver_scores", source_version=0, job_run_id="t", code_version="t",
                         processed_at=now))
    table = lambda rows: pa.table({k: [r[k] for r in rows] for k in rows[0]})  # noqa: E731
    lake.append(BRONZE_MIDI, table(bronze))
    if ann:
        lake.append(BRONZE_ANNOTATIONS, table(ann))
    lake.append(GOLD_PAIRS, table(gold))
    return shas


def test_held_out_pop909_songs_never_reach_the_training_rows(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    root = "file:///sets/pop909"
    shas = _land(lake, {
        "009": (_song(9), "pop909", f"{root}/009/009.mid", True),
        "010": (_song(10), "pop909", f"{root}/010/010.mid", True),  # held out, annotated
        "011": (_song(11), "pop909", f"{root}/011/011.mid", True),
        "020": (_song(20), "pop909", f"{root}/020/020.mid", False),  # held out, landed without labels
        # a set imported under another source name: its annotation still names the song
        "030": (_song(30), "my-pop", "file:///elsewhere/x.mid", True),
        "tune": (_song(99), "score-site", "http://scores.test/midi/010.mid", False),
    })
    versions = pin_versions(lake)
    assert BRONZE_ANNOTATIONS.name in versions
    held = held_out_shas(lake, versions)
    assert held == {shas["010"], shas["020"], shas["030"]}
    rows, counts, licences = training_rows(lake, versions)
    kept = set(rows.column("sha256").to_pylist())
    assert kept == {shas["009"], shas["011"], shas["tune"]}
    assert counts["held_out_pieces"] == 3
    assert licences == {"pop909 MIT": 2, "score-site PD": 1}
    assert licence_line(licences) == "pop909 MIT (2); score-site PD (1)"
    # the labelled rows travel with their bars and chords, the unlabelled one without
    by_sha = {r["sha256"]: r for r in rows.to_pylist()}
    assert by_sha[shas["009"]]["bar_chords"] == LABELS and by_sha[shas["tune"]]["bar_start_s"] is None


def test_a_lake_without_annotations_pins_what_it_always_did(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    _land(lake, {"tune": (_song(1), "score-site", "http://scores.test/midi/1.mid", False)})
    assert set(pin_versions(lake)) == {BRONZE_MIDI.name, GOLD_PAIRS.name}


@pytest.mark.parametrize("song", sorted(HELD_OUT_POP909)[:3])
def test_every_held_out_number_is_refused_whatever_its_spelling(song):
    assert is_held_out(None, "pop909", f"{song:03d}") and is_held_out(None, "pop909", str(song))
