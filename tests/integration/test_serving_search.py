"""POST /v1/search on the served application: the session lake's pieces described as the features job
describes them (silver_scores), then found by what a query states, with their title, source and licence; a
filter keeps exactly what it names; bad input is a 422 with one line."""

from datetime import datetime, timezone

import pytest

from serving.api import SEARCH_PATH

pytestmark = pytest.mark.serving


@pytest.fixture(scope="module")
def described(served):
    """silver_scores rows for the session lake's bronze files (written by lake.jobs.features' own functions)."""
    from lake.delta import Lake
    from lake.jobs.features import analyze_midi, feature_rows
    from lake.jobs.per_file import Lineage, to_table
    from lake.midi_features import Limits
    from lake.schemas import BRONZE_MIDI, SILVER_SCORES

    lake = Lake.from_config(served.cfg)
    bronze = lake.read(BRONZE_MIDI, columns=["sha256", "content", "url", "title", "source", "attrs_json", "size"])
    limits = Limits.from_config(served.cfg)
    rows = []
    for row in bronze.to_pylist():
        rows += feature_rows(row, analyze_midi(row["content"], limits)).get(SILVER_SCORES.name, [])
    lineage = Lineage(BRONZE_MIDI.name, lake.version(BRONZE_MIDI), "test-search", "test", datetime.now(timezone.utc))
    lake.append(SILVER_SCORES, to_table(rows, SILVER_SCORES, lineage))
    return {r["sha256"]: r for r in rows}


def test_search_finds_pieces_by_what_the_query_states(served, described):
    key = next(iter(described.values()))
    want = f"{key['key_tonic']} {key['key_mode']}"
    r = served.post(SEARCH_PATH, {"query": f"a piece in {want}", "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(described) and body["hits"]
    for hit in body["hits"]:  # a written key: only pieces in it (the lake's labelled key), with their provenance
        assert hit["key"] == want and f"key {want}" in hit["matched"]
        assert hit["piece"] in described and hit["title"].startswith("piece ") and hit["license"] == "test"
        assert hit["source"] == "test" and 0 <= hit["score"] <= 1
    zh = served.post(SEARCH_PATH, {"query": f"{key['key_tonic']}{'大调' if key['key_mode'] == 'major' else '小调'}的曲子",
                                   "k": 5}).json()
    assert [h["piece"] for h in zh["hits"]] == [h["piece"] for h in body["hits"]]  # the same in Chinese

    meter = body["hits"][0]["time_signature"]
    f = served.post(SEARCH_PATH, {"query": "anything", "k": 20, "filters": {"time_signature": meter, "bpm_min": 30}})
    assert f.status_code == 200 and f.json()["hits"]
    assert all(h["time_signature"] == meter for h in f.json()["hits"])
    none = served.post(SEARCH_PATH, {"query": "anything", "filters": {"bpm_min": 299}}).json()
    assert none["hits"] == [] and any("filters" in n for n in none["notes"])


@pytest.mark.parametrize("body, word", [({"query": "  "}, "blank"), ({"query": "x", "k": 0}, "k"),
                                        ({"query": "x", "filters": {"style": "polka"}}, "style"),
                                        ({"query": "x", "filters": {"key": "H# minor"}}, "key"),
                                        ({"query": "x", "limit": 3}, "limit")])
def test_bad_search_requests_are_a_422_naming_the_problem(served, body, word):
    r = served.post(SEARCH_PATH, body)
    assert r.status_code == 422 and word in r.text
