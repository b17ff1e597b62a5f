"""MusicXML joins MIDI as an upload; a hostile or absurd file is one clear MidiError (the API's 422), never a crash."""

import io
import zipfile

import pytest

from lake.midi_features import Limits, MidiError
from serving.uploads import read_upload, upload_format, upload_midi

NOTES = "".join(f"<note><pitch><step>{s}</step><octave>4</octave></pitch><duration>1</duration><type>quarter</type></note>"
                for s in "CDEFGABC")


def musicxml(parts: int = 1, notes: str = NOTES, tempo: float | None = None) -> bytes:
    plist = "".join(f'<score-part id="P{i}"><part-name>Flute {i}</part-name></score-part>' for i in range(parts))
    sound = f'<direction><sound tempo="{tempo}"/></direction>' if tempo else ""
    body = "".join(f'<part id="P{i}"><measure number="1"><attributes><divisions>1</divisions>'
                   f'<time><beats>4</beats><beat-type>4</beat-type></time></attributes>{sound}{notes}</measure></part>'
                   for i in range(parts))
    return (f'<?xml version="1.0" encoding="UTF-8"?><score-partwise version="4.0"><part-list>{plist}</part-list>'
            f'{body}</score-partwise>').encode()


def test_a_musicxml_melody_becomes_a_midi_upload():
    midi, fmt = upload_midi(musicxml(), Limits())
    assert fmt == "musicxml" and midi[:4] == b"MThd"
    up = read_upload(midi, Limits())
    assert [int(p) for p in up.melody[:, 2]] == [60, 62, 64, 65, 67, 69, 71, 60]


def test_compressed_mxl_is_read_through_its_container():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("META-INF/container.xml", '<container><rootfiles><rootfile full-path="score.xml"/></rootfiles>'
                                             '</container>')
        z.writestr("score.xml", musicxml())
    midi, fmt = upload_midi(buf.getvalue(), Limits())
    assert fmt == "mxl" and len(read_upload(midi, Limits()).melody) == 8


@pytest.mark.parametrize("data, words", [
    (b"", "empty file (0 bytes); nor MusicXML"),
    (b"%PDF-1.7 not music at all", "not MIDI: no MThd header (starts with b'%PDF-1.7'); nor MusicXML"),
    (b"<html><body>hello</body></html>", "not MIDI"),
    (b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><score-partwise>&b;'
     b"</score-partwise>", "entity"),
    (musicxml()[:200], "unreadable MusicXML"),
    (musicxml(parts=40), "too many tracks"),
])
def test_hostile_files_are_one_line(data, words):
    with pytest.raises(MidiError) as e:
        midi, _ = upload_midi(data, Limits(max_tracks=32))
        read_upload(midi, Limits(max_tracks=32))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_zip_bomb_is_refused_before_it_unpacks():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("score.xml", b"<" + b" " * 5_000_000)
    assert len(buf.getvalue()) < 50_000
    with pytest.raises(MidiError, match="unpacks to more than"):
        upload_midi(buf.getvalue(), Limits(max_bytes=1_000_000))


def test_too_many_notes_and_an_absurd_tempo_are_refused():
    with pytest.raises(MidiError, match="too many notes"):
        upload_midi(musicxml(notes=NOTES * 20), Limits(max_notes=100))
    midi, _ = upload_midi(musicxml(tempo=4000), Limits())
    with pytest.raises(MidiError, match="tempo"):
        read_upload(midi, Limits())


def test_format_is_read_from_the_bytes():
    assert upload_format(b"MThd\x00\x00\x00\x06") == "mid"
    assert upload_format(b"\xef\xbb\xbf  <?xml version='1.0'?><score-partwise/>") == "musicxml"
    assert upload_format(b"PK\x03\x04rest") == "mxl"
