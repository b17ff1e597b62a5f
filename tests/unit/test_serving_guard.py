"""Keys, rate limits, admission and uploaded melodies, without Ray (the store: test_serving_store.py)."""

import asyncio
import json
import os

import pytest

from lake.midi_features import Limits, MidiError
from serving.guard import Admission, Busy, KeyFileError, KeyRing, RateLimiter, add_key, ensure_keys
from serving.uploads import melody_notes, read_upload
from tests.support.music_lake import piece
from training.request import PieceRequest


def test_the_first_start_makes_one_private_key_and_later_starts_keep_it(tmp_path):
    path = tmp_path / "serve" / "keys.json"
    keys, made = ensure_keys(path)
    assert made and len(keys) == 1 and keys[0]["name"] == "default" and keys[0]["key"].startswith("mlk_")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    again, made_again = ensure_keys(path)
    assert not made_again and again == keys
    extra = add_key(path, "ci")
    assert extra != keys[0]["key"] and [k["name"] for k in ensure_keys(path)[0]] == ["default", "ci"]
    with pytest.raises(KeyFileError, match="exists already"):
        add_key(path, "ci")


def test_the_key_ring_sees_added_and_removed_keys(tmp_path):
    path = tmp_path / "keys.json"
    ring = KeyRing(path)
    first = ensure_keys(path)[0][0]["key"]
    assert ring.entry(first)["name"] == "default" and ring.entry("mlk_wrong") is None and ring.entry(None) is None
    second = add_key(path, "svc")
    os.utime(path, (1, 1))  # a new mtime, whatever the clock's resolution
    assert ring.entry(second)["name"] == "svc"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({"keys": [k for k in data["keys"] if k["name"] != "default"]}))
    os.utime(path, (2, 2))
    assert ring.entry(first) is None and ring.entry(second)["name"] == "svc"


def test_a_broken_key_file_names_the_setting(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    ring = KeyRing(path)
    assert "serve.api_keys_file" in ring.problem
    with pytest.raises(KeyFileError, match="serve.api_keys_file"):
        ring.entry("mlk_anything")


def test_a_key_file_that_breaks_later_leaves_the_keys_read_before_in_force(tmp_path):
    path = tmp_path / "keys.json"
    ring = KeyRing(path)
    key = ensure_keys(path)[0][0]["key"]
    assert ring.entry(key)["name"] == "default" and ring.problem is None
    path.write_text('{"keys": [{"name": "half"')  # an editor's half-written save
    os.utime(path, (5, 5))
    assert ring.entry(key)["name"] == "default" and "not a key file" in ring.problem
    path.write_text(json.dumps({"keys": [{"name": "new", "key": "mlk_new"}]}))
    os.utime(path, (6, 6))
    assert ring.entry(key) is None and ring.entry("mlk_new")["name"] == "new" and ring.problem is None


def test_token_bucket_allows_the_burst_then_says_when_to_retry():
    limiter = RateLimiter(per_minute=60, burst=3)
    assert [limiter.take("k", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("k", now=0.0)
    assert wait == pytest.approx(1.0)
    assert limiter.take("k", now=1.01) == 0.0  # a token is back after a second
    assert limiter.take("other", now=0.0) == 0.0  # buckets are per key
    assert limiter.take("slow", now=0.0, per_minute=6, burst=1) == 0.0
    assert limiter.take("slow", now=0.0, per_minute=6, burst=1) == pytest.approx(10.0)


def test_a_render_costs_more_tokens_than_a_read():
    limiter = RateLimiter(per_minute=60, burst=10)
    assert limiter.take("k", now=0.0, cost=5) == 0.0 and limiter.take("k", now=0.0, cost=5) == 0.0
    assert limiter.take("k", now=0.0) == pytest.approx(1.0)  # ten tokens spent by two renders
    assert limiter.take("k", now=0.0, cost=50) == pytest.approx(10.0)  # capped at the bucket's depth


def test_admission_runs_slots_queues_the_next_and_refuses_the_rest_at_once():
    async def scenario():
        gate = Admission(slots=1, queue=1)
        release = asyncio.Event()
        order = []

        async def job(name):
            async with gate.slot():
                order.append(name)
                await release.wait()

        first = asyncio.create_task(job("a"))
        await asyncio.sleep(0)
        second = asyncio.create_task(job("b"))
        await asyncio.sleep(0)
        assert (gate.running, gate.waiting) == (1, 1)
        with pytest.raises(Busy) as busy:
            async with gate.slot():
                pass
        assert busy.value.retry_after >= 1
        release.set()
        await asyncio.gather(first, second)
        assert order == ["a", "b"] and (gate.running, gate.waiting) == (0, 0)

    asyncio.run(scenario())


def test_an_uploaded_melody_lands_on_the_grid_and_hostile_files_are_refused(tmp_path):
    score, _ = piece(0, bars=4)
    upload = read_upload(score.dumps_midi(), Limits())
    plan = PieceRequest(style="pop", bpm=100, key="C major", bars=2, instruments=["flute", "piano"]).resolve()
    notes = melody_notes(upload, plan)
    melody = score.tracks[0].notes.numpy()
    in_two_bars = melody["time"] < 2 * 4 * score.ticks_per_quarter
    assert [n[2] for n in notes] == melody["pitch"][in_two_bars].tolist()
    assert all(0 <= bar < 2 and 0 <= pos < plan.bar_steps and pos + dur <= plan.bar_steps
               for bar, pos, _, dur, _ in notes)
    for data, reason in ((b"", "empty"), (b"MThd\0\0\0\6\0\1\0\1\1\xe0", "truncated"), (b"\x00" * 40, "not MIDI")):
        with pytest.raises(MidiError, match=reason):
            read_upload(data, Limits())
    with pytest.raises(MidiError, match="too large"):
        read_upload(score.dumps_midi(), Limits(max_bytes=64))
