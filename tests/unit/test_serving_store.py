"""The piece store and its retention policy, on a real folder, without Ray."""

import os
import time

import pytest

from serving.api import PieceInfo, PieceRecord
from serving.retention import HIGH_WATER, LOW_WATER, Policy, Pruner, prune
from serving.store import ADMIN, PieceNotFound, PieceStore, Reader, content_id
from tests.support.music_lake import piece
from training.request import Attributes

ALICE, ALICE2 = Reader("alice", "team-a"), Reader("alice-ci", "team-a")
BOB = Reader("bob", "bob")
DAY = 86400.0


def _midi(i: int) -> bytes:
    return piece(i, bars=2)[0].dumps_midi()


def _record(midi: bytes, reader: Reader, prompt: str, request_id: str, at: str = "2026-12-02T00:00:00.000+00:00"):
    pid, sha = content_id(midi)
    attrs = Attributes(style="pop", bpm=100, key="C major", time_signature="4/4", instruments=["piano"],
                       progression=["I"], chords=["C"], sources={})
    info = PieceInfo(id=pid, content_sha256=sha, created_at=at, request={"prompt": prompt}, attributes=attrs,
                     provenance={"generator": {"name": "g", "version": 1, "ref": "1"}, "generator_run_id": "r",
                                 "data_versions": {"t": 3}},
                     tracks=[], chords=["C"], seed=1, n_notes=1, duration_s=1.0, n_steps=3, urls={})
    return PieceRecord(request_id=request_id, key=reader.key, tenant=reader.tenant, created_at=at, piece=info)


def _age(path, days: float) -> None:
    """Make every file under ``path`` look ``days`` old."""
    when = time.time() - days * DAY
    for root, _dirs, files in os.walk(path):
        for name in files:
            os.utime(os.path.join(root, name), (when, when))
    if os.path.isfile(path):
        os.utime(path, (when, when))


def test_two_requests_that_make_the_same_notes_keep_a_record_each(tmp_path):
    store = PieceStore(tmp_path)
    midi = _midi(0)
    first = _record(midi, ALICE, "rainy jazz", "r1", "2026-12-02T00:00:00.000+00:00")
    second = _record(midi, ALICE2, "sunny pop", "r2", "2026-12-02T00:00:01.000+00:00")
    store.save(midi, first)
    store.save(midi, second)
    records = store.records(first.piece.id, ALICE)
    assert [(r.request_id, r.key, r.piece.request["prompt"]) for r in records] == [
        ("r1", "alice", "rainy jazz"), ("r2", "alice-ci", "sunny pop")]
    assert store.info(first.piece.id, ALICE).request["prompt"] == "sunny pop"  # the newest record
    assert store.midi(first.piece.id) == midi
    with pytest.raises(ValueError, match="content id"):
        store.save(midi + b"x", first)


def test_a_key_reads_only_its_tenants_pieces_and_admin_reads_all(tmp_path):
    store = PieceStore(tmp_path)
    midi = _midi(1)
    rec = _record(midi, ALICE, "mine", "r1")
    store.save(midi, rec)
    pid = rec.piece.id
    assert store.info(pid, ALICE2).request["prompt"] == "mine"  # same tenant
    with pytest.raises(PieceNotFound) as other:
        store.info(pid, BOB)
    with pytest.raises(PieceNotFound) as nobody:
        store.info("0" * 20, BOB)
    assert str(other.value).replace(pid, "X") == str(nobody.value).replace("0" * 20, "X")  # no hint it exists
    assert [r.key for r in store.records(pid, ADMIN)] == ["alice"]
    store.save(midi, _record(midi, BOB, "bob's", "r2", "2026-12-02T00:00:05.000+00:00"))
    assert [r.key for r in store.records(pid, BOB)] == ["bob"]  # bob sees his own record, not alice's prompt
    assert [r.key for r in store.records(pid, ADMIN)] == ["alice", "bob"]


def test_renders_are_made_once_and_ids_must_be_exactly_20_hex_digits(tmp_path):
    store = PieceStore(tmp_path)
    midi = _midi(2)
    rec = _record(midi, ALICE, "x", "r1")
    store.save(midi, rec)
    calls = []

    def render(data, info):
        calls.append(info.id)
        return b"rendered:" + data[:4]

    assert store.rendered(rec.piece.id, "wav") is None
    path, written = store.file(rec.piece.id, "wav", render, ALICE)
    assert path.read_bytes() == b"rendered:MThd" and written == 13
    assert store.file(rec.piece.id, "wav", render, ALICE) == (path, 0) and len(calls) == 1
    with pytest.raises(PieceNotFound):
        store.file(rec.piece.id, "png", render, BOB)
    for bad in (rec.piece.id + "\n", rec.piece.id.upper(), "../../etc/passwd", rec.piece.id + "0"):
        with pytest.raises(PieceNotFound):
            store.midi(bad)


def test_uploads_belong_to_their_uploaders_tenant(tmp_path):
    store = PieceStore(tmp_path)
    data = _midi(3)
    upload_id, sha, written = store.save_upload(data, ALICE, "u1")
    assert written > len(data) and sha == content_id(data)[1]
    assert store.upload(upload_id, ALICE2) == data and store.upload(upload_id, ADMIN) == data
    with pytest.raises(PieceNotFound, match="POST the MIDI"):
        store.upload(upload_id, BOB)
    with pytest.raises(PieceNotFound):
        store.upload(upload_id + "\n", ALICE)


def _store_with(tmp_path, owners_and_ages):
    """Pieces (one per entry) owned by the given readers, each with a 'wav' of 2000 bytes, aged in days."""
    store = PieceStore(tmp_path)
    ids = []
    for i, (readers, days) in enumerate(owners_and_ages):
        midi = _midi(10 + i)
        for j, reader in enumerate(readers):
            rec = _record(midi, reader, f"p{i}", f"r{i}x{j}")
            store.save(midi, rec)
        store.file(rec.piece.id, "wav", lambda m, info: b"\0" * 2000, readers[0])
        _age(tmp_path / rec.piece.id, days)
        ids.append(rec.piece.id)
    return store, ids


def test_age_removes_whole_pieces_nobody_asked_for_within_the_retention(tmp_path):
    store, (old, new) = _store_with(tmp_path, [([ALICE], 40), ([ALICE], 1)])
    up, _, _ = store.save_upload(_midi(30), BOB, "u1")
    _age(tmp_path / "uploads" / up, 40)
    report = prune(store, Policy(max_age_s=30 * DAY, max_bytes=10**9, key_quota_bytes=10**9))
    assert not (tmp_path / old).exists() and (tmp_path / new / "piece.wav").exists()
    assert not (tmp_path / "uploads" / up).exists()
    assert report.removed == {"age:piece": 1, "age:render": 1, "age:upload": 1}
    assert report.after.total < report.before.total and report.freed > 2000


def test_over_the_total_renders_go_first_then_the_oldest_pieces(tmp_path):
    store, ids = _store_with(tmp_path, [([ALICE], 3), ([BOB], 2), ([ALICE], 1)])
    total = prune(store, Policy(DAY * 30, 10**9, 10**9)).after.total
    renders = 3 * 2000
    # a ceiling that only the renders' removal (to 90 % of it) satisfies: every render goes, every piece stays
    report = prune(store, Policy(DAY * 30, max_bytes=int((total - renders) / 0.9) + 10, key_quota_bytes=10**9))
    assert report.removed == {"size:render": 3} and all((tmp_path / i / "piece.mid").exists() for i in ids)
    # a lower one takes the oldest piece next, and stops as soon as it is under
    report = prune(store, Policy(DAY * 30, max_bytes=int(report.after.total * 0.8), key_quota_bytes=10**9))
    assert report.removed == {"size:piece": 1} and not (tmp_path / ids[0]).exists()
    assert report.after.total <= int(report.before.total * 0.8)


def test_a_key_over_its_quota_loses_its_own_renders_then_pieces_and_shared_pieces_stay_for_others(tmp_path):
    store, (shared, alone, bobs) = _store_with(tmp_path, [([ALICE, BOB], 3), ([ALICE], 2), ([BOB], 1)])
    before = prune(store, Policy(DAY * 30, 10**9, 10**9)).after.by_key
    quota = before["alice"] - 1  # alice is just over; bob is not
    report = prune(store, Policy(DAY * 30, 10**9, key_quota_bytes=quota))
    assert report.removed.get("quota:render", 0) >= 1 and report.after.by_key["alice"] <= quota * 0.9
    assert (tmp_path / bobs / "piece.wav").exists() and (tmp_path / shared / "piece.mid").exists()


def test_a_shared_piece_loses_only_the_squeezed_keys_record(tmp_path):
    store, (shared, alone) = _store_with(tmp_path, [([ALICE, BOB], 3), ([ALICE], 2)])
    sizes = {(i.kind, i.id): i.bytes for i in store.scan()}
    quota = int(sizes[("piece", shared)] / HIGH_WATER) + 2  # once alice's renders are gone bob fits; alice does not
    report = prune(store, Policy(DAY * 30, 10**9, key_quota_bytes=quota))
    assert report.removed == {"quota:render": 2, "quota:piece-record": 1}
    assert [r.key for r in store.records(shared, ADMIN)] == ["bob"] and (tmp_path / alone / "piece.mid").exists()
    assert report.after.by_key["alice"] <= quota * 0.9 and report.after.by_key["bob"] <= quota


def test_a_render_about_to_be_written_gets_room_under_both_lines(tmp_path):
    store, ids = _store_with(tmp_path, [([ALICE], 3), ([ALICE], 2), ([BOB], 1)])
    now = prune(store, Policy(30 * DAY, 10**9, 10**9)).after
    ceiling = int(now.total / 0.95)  # under the 98 % line now; a 4000-byte render would cross it
    policy = Policy(30 * DAY, max_bytes=ceiling, key_quota_bytes=10**9)
    assert not prune(store, policy).removed  # nothing to do without the render
    report = prune(store, policy, room=4000, room_key="alice")
    assert report.removed and report.after.total + 4000 <= ceiling * LOW_WATER


def test_a_pinned_piece_is_never_pruned(tmp_path):
    store, (busy, idle) = _store_with(tmp_path, [([ALICE], 40), ([ALICE], 40)])
    with store.pin(busy):
        report = prune(store, Policy(30 * DAY, 10**9, 10**9))
    assert (tmp_path / busy / "piece.wav").exists() and not (tmp_path / idle).exists()
    assert report.skipped_pinned >= 1
    assert not prune(store, Policy(30 * DAY, 10**9, 10**9)).skipped_pinned and not (tmp_path / busy).exists()


def test_a_file_opened_before_pruning_reads_to_its_end(tmp_path):
    store, (pid,) = _store_with(tmp_path, [([ALICE], 40)])
    with open(tmp_path / pid / "piece.wav", "rb") as handle:
        prune(store, Policy(30 * DAY, 10**9, 10**9))
        assert not (tmp_path / pid).exists() and handle.read() == b"\0" * 2000


def test_the_pruner_says_when_a_write_crosses_a_line(tmp_path):
    store, _ = _store_with(tmp_path, [([ALICE], 1)])
    pruner = Pruner(store, Policy(30 * DAY, max_bytes=10**6, key_quota_bytes=50_000))
    pruner.run()
    assert pruner.room_for("alice", 10_000) and not pruner.room_for("alice", 60_000)
    assert not pruner.note("alice", 10_000) and pruner.note("alice", 40_000)
    assert not pruner.room_for("carol", 2 * 10**6)
