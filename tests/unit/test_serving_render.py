"""serving.render: every format measured from its output (samples, XML elements, pixels)."""

from __future__ import annotations

import io
import os
import shutil
import wave
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from serving import render as R
from serving import render_engrave
from serving.render import FORMATS, MEDIA_TYPES, PieceMeta, RenderError, check_audio, render

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
HAVE_AUDIO = shutil.which("fluidsynth") is not None and os.path.isfile(SOUNDFONT)


@pytest.fixture
def audio():
    """WAV tests fail (never skip) without FluidSynth and the soundfont, saying how to get them."""
    if not HAVE_AUDIO:
        pytest.fail(f"fluidsynth or {SOUNDFONT} is missing: `make setup` installs them (Makefile: system-packages)")


needs_audio = pytest.mark.usefixtures("audio")
TPQ = 480
Q = TPQ  # a quarter in ticks
S = TPQ // 4  # a 16th


def make_midi(tracks, bpm=120.0, ts=(4, 4)) -> bytes:
    """tracks: (name, program or -1 for drums, [(start, duration, pitch, velocity) in ticks])."""
    from symusic import Note, Score, Tempo, TimeSignature, Track

    score = Score(TPQ)
    score.tempos.append(Tempo(0, qpm=float(bpm)))
    score.time_signatures.append(TimeSignature(0, *ts))
    for name, program, notes in tracks:
        tr = Track(name=name, program=max(0, program), is_drum=program < 0)
        for start, dur, pitch, vel in notes:
            tr.notes.append(Note(start, dur, pitch, vel))
        score.tracks.append(tr)
    return score.dumps_midi()


# two bars of 4/4: a flute tune (a note tied over the bar line, an E natural and a Bb in Bb major),
# piano chords (a triad, then two overlapping notes that need a second voice), a bass, drums, and an empty track
FLUTE = [(0, Q, 70, 90), (Q, Q, 72, 90), (2 * Q, 3 * Q, 74, 90), (5 * Q + S, S, 64, 90), (6 * Q, 2 * Q, 77, 90)]
PIANO = [(0, 2 * Q, 58, 70), (0, 2 * Q, 62, 70), (0, 2 * Q, 65, 70), (2 * Q, 2 * Q, 60, 70), (3 * Q, 2 * Q, 63, 70),
         (4 * Q, 4 * Q, 55, 70), (4 * Q, 4 * Q, 58, 70)]
BASS = [(0, 2 * Q, 34, 90), (2 * Q, 2 * Q, 41, 90), (4 * Q, 4 * Q, 39, 90)]
DRUMS = [(i * Q // 2, S, 42, 80) for i in range(16)] + [(i * Q, S, 36 if i % 2 == 0 else 38, 100) for i in range(8)]
TRACKS = [("melody", 73, FLUTE), ("empty", 40, []), ("harmony", 0, PIANO), ("bass", 32, BASS), ("drums", -1, DRUMS)]
META = PieceMeta(key="Bb major", bpm=120, time_signature="4/4",
                 parts=["Flute (melody)", "Violin (unused)", "Piano (harmony)", "Bass", "Drums"], title="Test piece")


@pytest.fixture(scope="module")
def midi() -> bytes:
    return make_midi(TRACKS)


@pytest.fixture(scope="module")
def musicxml(midi) -> bytes:
    return render("musicxml", midi, META)


def _strip(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# ------------------------------------------------------------------------------------------- api


def test_formats_and_media_types(midi):
    assert set(FORMATS) == set(MEDIA_TYPES)
    assert render("mid", midi) == midi
    with pytest.raises(RenderError, match="unknown format"):
        render("mp3", midi)


def test_junk_midi_is_a_one_line_render_error():
    with pytest.raises(RenderError) as e:
        render("png", b"not a midi file")
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------------------------------- wav


def _read_wav(data: bytes):
    with wave.open(io.BytesIO(data)) as w:
        assert w.getsampwidth() == 2  # 16-bit PCM
        assert w.getnchannels() in (1, 2)
        rate, ch = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, ch)
    return rate, pcm.astype(np.float64) / 32768.0


@needs_audio
def test_wav_sustained_a4_peaks_at_440_hz():
    data = render("wav", make_midi([("piano", 0, [(0, 4 * Q, 69, 100)])]), soundfont=SOUNDFONT, sample_rate=22050)
    rate, x = _read_wav(data)
    assert rate == 22050
    duration = len(x) / rate
    assert 2.0 <= duration <= 2.0 + R.TAIL_S + 0.01  # 4 quarters at 120 bpm, then at most the release tail
    mono = x.mean(axis=1)
    assert np.sqrt(np.mean(mono[: rate * 2] ** 2)) > 0.02  # far above silence (normalised to -1 dBFS peak)
    assert np.max(np.abs(x)) <= 1.0
    seg = mono[int(0.1 * rate): int(1.1 * rate)]
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    freqs = np.fft.rfftfreq(len(seg), 1 / rate)
    band = freqs > 50
    peak = freqs[band][np.argmax(spectrum[band])]
    assert abs(peak - 440.0) < 5.0, peak


@needs_audio
def test_wav_of_a_piece_lasts_the_piece(midi):
    rate, x = _read_wav(render("wav", midi, META, soundfont=SOUNDFONT, sample_rate=22050))
    duration = len(x) / rate
    assert 4.0 <= duration <= 4.0 + R.TAIL_S + 0.01  # 2 bars of 4/4 at 120 bpm
    rms = np.sqrt(np.mean(x ** 2, axis=0))
    assert (rms > 0.01).all()  # both channels sound
    second_bar = x[2 * rate: 4 * rate]
    assert np.sqrt(np.mean(second_bar ** 2)) > 0.01


@needs_audio
def test_wav_of_an_empty_piece_is_short_and_silent():
    rate, x = _read_wav(render("wav", make_midi([("piano", 0, [])]), soundfont=SOUNDFONT, sample_rate=22050))
    assert len(x) / rate <= R.TAIL_S + 0.01
    assert np.max(np.abs(x)) == 0.0


def test_missing_fluidsynth_names_the_setting(midi, tmp_path):
    for call in (lambda: check_audio(str(tmp_path / "no-fluidsynth"), SOUNDFONT),
                 lambda: render("wav", midi, soundfont=SOUNDFONT, fluidsynth=str(tmp_path / "no-fluidsynth"))):
        with pytest.raises(RenderError) as e:
            call()
        assert "serve.fluidsynth" in str(e.value) and "\n" not in str(e.value)


@needs_audio
def test_missing_or_bad_soundfont_names_the_setting(midi, tmp_path):
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"RIFF\0\0\0\0WAVE" + b"\0" * 64)
    for sf in (str(tmp_path / "missing.sf2"), str(bad), ""):
        with pytest.raises(RenderError) as e:
            render("wav", midi, soundfont=sf)
        assert "serve.soundfont" in str(e.value) and "\n" not in str(e.value)


@needs_audio
def test_check_audio_passes_with_the_installed_soundfont():
    assert os.path.isabs(check_audio("fluidsynth", SOUNDFONT))


# ------------------------------------------------------------------------------------------- musicxml


def test_musicxml_parts_names_key_time_tempo(musicxml):
    root = ET.fromstring(musicxml)
    assert _strip(root.tag) == "score-partwise"
    names = [p.findtext("part-name") for p in root.findall("part-list/score-part")]
    assert names == ["Flute (melody)", "Piano (harmony)", "Bass", "Drums"]  # the empty track has no part
    parts = root.findall("part")
    assert len(parts) == 4
    for part in parts:
        assert len(part.findall("measure")) == 2
        assert part.find("measure/attributes/time/beats").text == "4"
        assert part.find("measure/attributes/time/beat-type").text == "4"
    for part in parts[:3]:  # pitched parts carry Bb major (2 flats); the drum staff has none
        assert part.find("measure/attributes/key/fifths").text == "-2"
    assert parts[3].find("measure/attributes/clef/sign").text == "percussion"
    assert parts[2].find("measure/attributes/clef/sign").text == "F"  # the bass reads bass clef
    tempos = [float(s.get("tempo")) for s in root.iter("sound") if s.get("tempo")]
    assert tempos and abs(tempos[0] - 120) < 1e-6
    assert root.findtext("work/work-title") == "Test piece" or root.findtext("movement-title") == "Test piece"


def _heads(part):
    """(onset in divisions, MIDI pitch or None for unpitched, tie types) of every note head of a part."""
    alter_of = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    out, t0 = [], 0
    for m in part.findall("measure"):
        divisions = m.find("attributes/divisions")
        if divisions is not None:
            div = int(divisions.text)
        cursor, last_onset = 0, 0
        for el in m:
            tag = _strip(el.tag)
            if tag == "backup":
                cursor -= int(el.findtext("duration"))
            elif tag == "forward":
                cursor += int(el.findtext("duration"))
            elif tag == "note":
                dur = int(el.findtext("duration"))
                onset = last_onset if el.find("chord") is not None else cursor
                if el.find("chord") is None:
                    cursor += dur
                last_onset = onset
                if el.find("rest") is not None:
                    continue
                p = el.find("pitch")
                midi = None
                if p is not None:
                    midi = 12 * (int(p.findtext("octave")) + 1) + alter_of[p.findtext("step")] + int(
                        float(p.findtext("alter") or 0))
                out.append((t0 + onset, midi, {t.get("type") for t in el.findall("tie")}, el))
        t0 += 4 * div  # 4/4 bars
    return out, div


def test_musicxml_note_count_pitches_and_ties_match_the_midi(musicxml):
    parts = ET.fromstring(musicxml).findall("part")
    for part, (_name, _prog, notes) in zip(parts, [t for t in TRACKS if t[2]]):
        heads, div = _heads(part)
        starts = [(on, p) for on, p, ties, _ in heads if "stop" not in ties]  # a tied-over head is no new note
        assert len(starts) == len(notes)
        if _prog >= 0:
            assert sorted(starts) == sorted((s * div // Q, p) for s, _d, p, _v in notes)
    flute, _ = _heads(parts[0])
    tied = [(on, p, ties) for on, p, ties, _ in flute if ties]
    assert [t[2] for t in tied] == [{"start"}, {"stop"}]  # the D5 from beat 3 of bar 1 over the bar line
    assert {t[1] for t in tied} == {74}


def test_musicxml_spells_for_the_key(musicxml):
    flute = ET.fromstring(musicxml).findall("part")[0]
    heads, _ = _heads(flute)
    by_pitch = {p: el for _on, p, _t, el in heads}
    bb = by_pitch[70]
    assert (bb.findtext("pitch/step"), bb.findtext("pitch/alter")) == ("B", "-1")
    assert bb.find("accidental") is None  # the key signature has it
    e = by_pitch[64]
    assert e.findtext("pitch/step") == "E" and e.findtext("accidental") == "natural"


def test_musicxml_reread_by_music21_gives_the_same_pitches(musicxml):
    from music21 import converter
    from music21.chord import ChordBase

    assert len(ET.fromstring(musicxml).findall("part")) == 4  # a part per track with notes (the piano: 2 staves)
    score = converter.parseData(musicxml.decode(), format="musicxml")
    staves: dict[str, list] = {}  # music21 reads a grand staff back as two PartStaffs of one part name
    for part in score.parts:
        staves.setdefault(part.partName, []).append(part)
    assert len(staves) == 4
    for group, (_name, prog, notes) in zip(staves.values(), [t for t in TRACKS if t[2]]):
        if prog < 0:
            assert sum(len(n.notes) if isinstance(n, ChordBase) else 1 for n in group[0].recurse().notes) == len(notes)
            continue
        got = []
        for part in group:
            for n in part.flatten().notes:
                for x in (n.notes if n.isChord else [n]):
                    if x.tie is None or x.tie.type == "start":
                        got.append((float(n.offset), x.pitch.midi))
            assert part.recurse().getElementsByClass("KeySignature")[0].sharps == -2
        assert sorted(got) == sorted((s / Q, p) for s, _d, p, _v in notes)


def test_musicxml_three_four_and_no_meta():
    midi = make_midi([("piano", 0, [(0, 3 * Q, 60, 80), (3 * Q, 3 * Q, 67, 80)])], bpm=90, ts=(3, 4))
    root = ET.fromstring(render("musicxml", midi))
    part = root.find("part")
    assert part.find("measure/attributes/time/beats").text == "3"
    assert len(part.findall("measure")) == 2
    assert root.find("part-list/score-part/part-name").text == "Acoustic Grand Piano" or root.find(
        "part-list/score-part/part-name").text
    assert [float(s.get("tempo")) for s in root.iter("sound") if s.get("tempo")][0] == pytest.approx(90)


def test_musicxml_of_a_generated_piece():
    import torch

    from training.generator import Generator
    from training.model import NoteModelConfig, NoteTransformer
    from training.request import PieceRequest
    from symusic import Score

    torch.manual_seed(0)
    gen = Generator(NoteTransformer(NoteModelConfig(n_layer=1, n_head=2, n_embd=32, block_size=64)))
    res = gen.generate(PieceRequest(style="pop", bpm=100, key="D minor", bars=4,
                                    instruments=["flute", "piano", "acoustic bass", "drums"], seed=1))
    meta = PieceMeta(key="D minor", bpm=100, time_signature="4/4", parts=[t.instrument for t in res.tracks])
    root = ET.fromstring(render("musicxml", res.midi, meta))
    score = Score.from_midi(res.midi)
    with_notes = [t for t in score.tracks if len(t.notes)]
    parts = root.findall("part")
    assert len(parts) == len(with_notes)
    for part, tr in zip(parts, with_notes):
        heads, _ = _heads(part)
        assert len([h for h in heads if "stop" not in h[2]]) == len({(n.time, n.pitch) for n in tr.notes})
        assert part.find("measure/attributes/key/fifths") is None or part.find(
            "measure/attributes/key/fifths").text == "-1"
    svg = render("svg", res.midi, meta)
    assert _svg_note_count(svg) > 0
    assert render("png", res.midi, meta)[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------- png


def test_png_piano_roll_colours_per_track(midi):
    from PIL import Image

    data = render("png", midi, META)
    img = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = img.size
    assert 480 <= w <= 1700 and 50 <= h <= 800
    px = np.asarray(img).reshape(-1, 3)
    colours = R.track_colours(4)
    counts = [int(np.all(px == np.array(c), axis=1).sum()) for c in colours]
    assert all(c > 20 for c in counts), counts  # every track drawn in its own colour
    assert len(set(colours)) == 4
    background = int(np.all(px == np.array(R.BACKGROUND), axis=1).sum())
    assert background > 0.3 * len(px)  # and mostly background
    assert counts[0] > 0 and counts[3] > 0


def test_png_of_an_empty_piece_still_decodes():
    from PIL import Image

    img = Image.open(io.BytesIO(render("png", make_midi([("piano", 0, [])]))))
    assert img.size[0] >= 480


# ------------------------------------------------------------------------------------------- svg


def _svg_note_count(svg: bytes) -> int:
    root = ET.fromstring(svg)
    return sum(1 for el in root.iter() if "note" in (el.get("class") or "").split())


def test_svg_engraves_every_note_head(midi, musicxml):
    svg = render("svg", midi, META)
    root = ET.fromstring(svg)
    assert _strip(root.tag) == "svg"
    heads = sum(1 for n in ET.fromstring(musicxml).iter("note") if n.find("rest") is None)
    assert _svg_note_count(svg) == heads > 0


def test_svg_pages_are_stacked_into_one_document(midi, monkeypatch):
    long_midi = make_midi([(n, p, [(s + b * 8 * Q, d, pi, v) for b in range(12) for s, d, pi, v in notes])
                           for n, p, notes in TRACKS])
    monkeypatch.setattr(render_engrave, "SVG_PAGE_HEIGHT", 3000)  # force several pages
    svg = render("svg", long_midi, META)
    root = ET.fromstring(svg)
    pages = [el for el in root if _strip(el.tag) == "svg"]
    assert len(pages) > 1
    ys = [float(p.get("y")) for p in pages]
    assert ys == sorted(ys) and ys[0] == 0
    heads = sum(1 for n in ET.fromstring(render("musicxml", long_midi, META)).iter("note") if n.find("rest") is None)
    assert _svg_note_count(svg) == heads
