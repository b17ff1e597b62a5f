"""The arranger's drum part: the groove in each bar, a fill into each new phrase, a crash where it lands."""

from training.arranger import CRASH, KICK, TOMS, drums
from training.request import PieceRequest


def _by_bar(notes, bars):
    out = {b: [] for b in range(bars)}
    for bar, pos, pitch, dur, vel in notes:
        out[bar].append((pos, pitch, dur, vel))
    return out


def test_a_fill_closes_each_phrase_and_a_crash_opens_the_next():
    plan = PieceRequest(style="pop", bars=16, time_signature="4/4", seed=0).resolve()
    bars = _by_bar(drums(plan), 16)
    for bar, hits in bars.items():
        toms = [(pos, pitch, vel) for pos, pitch, _, vel in hits if pitch in TOMS]
        closes = bar in (3, 7, 11)  # 4-bar phrases; the piece's last bar ends it without a fill
        if closes:
            assert [p for p, _, _ in toms] == list(range(12, 16))  # the last beat, in 16ths
            assert [t for _, t, _ in toms] == list(TOMS)  # down the toms
            assert [v for _, _, v in toms] == sorted(v for _, _, v in toms)  # louder into the next phrase
            assert all(pos < 12 for pos, pitch, _, _ in hits if pitch not in TOMS)  # the groove stops for it
        else:
            assert not toms
        crash = [pos for pos, pitch, _, _ in hits if pitch == CRASH]
        assert crash == ([0] if bar in (4, 8, 12) else [])
        assert (0, KICK) in {(pos, pitch) for pos, pitch, _, _ in hits}


def test_a_light_style_fills_in_eighths_and_three_four_fills_its_last_beat():
    jazz = PieceRequest(style="jazz", bars=8, time_signature="4/4", seed=0).resolve()
    toms = [(bar, pos) for bar, pos, pitch, _, _ in drums(jazz) if pitch in TOMS]
    assert toms == [(3, 12), (3, 14)]
    waltz = PieceRequest(style="pop", bars=8, time_signature="3/4", seed=0).resolve()
    toms = [(bar, pos) for bar, pos, pitch, _, _ in drums(waltz) if pitch in TOMS]
    assert toms == [(3, 8), (3, 9), (3, 10), (3, 11)]
