"""A score a musician can read: clefs by register, a piano on a grand staff, unique part names, chord symbols,
fingerings and note names, rests on the beat."""

import xml.etree.ElementTree as ET

from serving.render import PieceMeta, render
from serving.render_score import clef_for, part_labels, rest_values
from training.notes import to_score

Q = 480


def _midi(tracks: dict[str, tuple[int, list]]) -> bytes:
    notes = {name: events for name, (_, events) in tracks.items()}
    programs = {name: prog for name, (prog, _) in tracks.items()}
    return to_score(notes, programs, 100, 4, 4).dumps_midi()


def _parts(xml: bytes):
    root = ET.fromstring(xml)
    names = {sp.get("id"): sp.find("part-name").text for sp in root.iter("score-part")}
    return root, names


def test_clef_follows_register():
    assert clef_for([40, 43, 47, 50]) == "bass"
    assert clef_for([64, 67, 72]) == "treble"
    assert clef_for([47, 50, 53, 55]) == "bass"  # harmony down to B2 is not written in treble clef


def test_piano_spanning_middle_c_gets_a_grand_staff_and_low_strings_a_bass_clef():
    piano = [(0, 0, 72, 4, 80), (0, 4, 76, 4, 80), (0, 0, 48, 8, 80), (0, 8, 43, 8, 80), (1, 0, 79, 16, 80)]
    cello = [(0, 0, 43, 8, 80), (0, 8, 47, 8, 80), (1, 0, 50, 16, 80)]
    xml = render("musicxml", _midi({"harmony": (0, piano), "bass": (42, cello)}),
                 PieceMeta(parts=["piano (harmony)", "cello (bass)"]))
    root, names = _parts(xml)
    parts = root.findall("part")
    assert len(parts) == 2
    first = parts[0].find("measure/attributes")
    assert first.find("staves").text == "2"
    clefs = sorted(c.find("sign").text for c in first.findall("clef"))
    assert clefs == ["F", "G"]
    cello_clef = parts[1].find("measure/attributes/clef/sign").text
    assert cello_clef == "F"
    # every piano note is on the staff its register says
    for n in parts[0].iter("note"):
        if n.find("pitch") is None:
            continue
        octave = int(n.find("pitch/octave").text)
        assert n.find("staff").text == ("1" if octave >= 4 else "2")


def test_part_names_and_abbreviations_are_unique():
    labels = part_labels(["synth lead (melody)", "synth pad (harmony)", "piano (harmony)", "piano (harmony)"])
    assert len({n for n, _ in labels}) == 4
    assert len({a for _, a in labels}) == 4
    xml = render("musicxml", _midi({"melody": (80, [(0, 0, 72, 16, 80)]), "harmony": (88, [(0, 0, 64, 16, 80)])}),
                 PieceMeta(parts=["synth lead (melody)", "synth pad (harmony)"]))
    root, _ = _parts(xml)
    abbrs = [sp.find("part-abbreviation").text for sp in root.iter("score-part")]
    assert len(set(abbrs)) == 2


def test_chord_symbols_and_labels_are_written():
    notes = [(0, 0, 60, 4, 80), (0, 4, 62, 4, 80), (0, 8, 64, 4, 80), (1, 0, 65, 16, 80)]
    meta = PieceMeta(key="C major", parts=["piano"], chords=[(0.0, "C"), (2.0, "Am7"), (4.0, "Bbmaj7")],
                     labels=[(0, 0.0, 60, "1"), (0, 1.0, 62, "2"), (0, 2.0, 64, "E"), (0, 4.0, 65, "F")])
    root, _ = _parts(render("musicxml", _midi({"melody": (0, notes)}), meta))
    harmonies = root.findall(".//harmony")
    roots = [(h.find("root/root-step").text, h.find("root/root-alter")) for h in harmonies]
    assert [r for r, _ in roots] == ["C", "A", "B"]
    assert roots[2][1] is not None and roots[2][1].text == "-1"
    assert [f.text for f in root.iter("fingering")] == ["1", "2"]
    assert [t.text for t in root.iter("text")] == ["E", "F"]


def test_rests_fall_on_beats_and_are_never_dotted():
    assert rest_values(0, 16, 4) == [(0, 16)]
    assert rest_values(3, 16, 4) == [(3, 1), (4, 4), (8, 8)]
    assert rest_values(6, 16, 4) == [(6, 2), (8, 8)]
    for start in range(16):
        for pos, length in rest_values(start, 16, 4):
            assert length in (1, 2, 4, 8, 16)
            assert pos % length == 0
            assert pos % 4 == 0 or pos // 4 == (pos + length - 1) // 4  # inside one beat unless on one


def test_swung_eighths_are_written_straight_under_a_swing_mark():
    swung = [(0, 0, 60, 2, 80), (0, 2, 62, 2, 80)]  # on the 16th grid for the helper; swing them in ticks below
    midi = _midi({"melody": (0, swung)})
    from symusic import Score

    s = Score.from_midi(midi)
    notes = s.tracks[0].notes
    notes[0].duration, notes[1].time, notes[1].duration = 320, 320, 160  # the second eighth at 2/3 of the beat
    meta = PieceMeta(parts=["sax"], swing=True)
    root, _ = _parts(render("musicxml", s.dumps_midi(), meta))
    kinds = [n.find("type").text for n in root.iter("note") if n.find("rest") is None]
    assert kinds == ["eighth", "eighth"]
    assert "Swing" in [w.text for w in root.iter("words")]


def test_a_viola_in_its_register_reads_the_alto_clef():
    viola = [(0, 0, 55, 8, 80), (0, 8, 60, 8, 80), (1, 0, 64, 16, 80)]
    root, _ = _parts(render("musicxml", _midi({"harmony": (41, viola)}), PieceMeta(parts=["viola"])))
    c = root.find("part/measure/attributes/clef")
    assert (c.find("sign").text, c.find("line").text) == ("C", "3")
