"""Phrase plans learned from real songs: reading a song's phrases, and drawing a plan by seed."""

from collections import Counter

from training.request import PieceRequest
from training.structure import LEARNED, MIN_RESTATED, letters, plan_for_seed


def _bar(n: int) -> tuple:
    """A made-up bar signature: n quarter notes rising by a tone."""
    return (tuple(range(0, 4 * n, 4)), (2,) * (n - 1))


def test_letters_name_returning_phrases_and_count_their_shared_bars():
    a, b, c, d, e = (_bar(n) for n in (1, 2, 3, 4, 5))
    x = ((1, 3), ())
    assert letters([a, b, c, d] * 4) == ("AAAA", 4)
    assert letters([a, b, c, d, e, e, e, e, a, b, x, x, e, e, e, x]) == ("ABAB", 2)  # (2 + 3) / 2 -> 2
    assert letters([a, b, c, d, e, e, e, e, x, x, x, x, (0,), (0,), (0,), (0,)]) == ("ABCD", 0)
    assert letters([a, b, c]) is None  # under two phrases


def test_a_plan_is_drawn_by_the_seed_from_the_learned_table():
    drawn = [plan_for_seed(seed) for seed in range(400)]
    assert drawn == [plan_for_seed(seed) for seed in range(400)]  # reproducible
    learned = {s for s, _ in LEARNED}
    assert all(s in learned for s, _ in drawn)
    # a return restates at least MIN_RESTATED bars, the songs' own count where it is more; ABCD none
    assert all(round(r * 4) >= MIN_RESTATED if s != "ABCD" else r == 0 for s, r in drawn)
    assert any(round(r * 4) > MIN_RESTATED for _, r in drawn)
    weight = Counter()
    for (structure, _), songs in LEARNED.items():
        weight[structure] += songs
    top3 = {s for s, _ in weight.most_common(3)}
    assert Counter(s for s, _ in drawn).most_common(1)[0][0] in top3  # drawn as often as the songs have it
    assert len(set(drawn)) > 5  # varied, as the songs are
    assert plan_for_seed(3, 0.75)[1] == 0.75  # a repetition the caller set stays


def test_a_request_without_a_structure_gets_a_drawn_plan_and_an_asked_one_wins():
    plans = {PieceRequest(bars=16, seed=s).resolve().sections for s in range(40)}
    assert len(plans) > 2
    asked = PieceRequest(bars=16, seed=1, structure="ABCD").resolve()
    assert "".join(asked.sections) == "A" * 4 + "B" * 4 + "C" * 4 + "D" * 4 and set(asked.copy_of) == {None}
