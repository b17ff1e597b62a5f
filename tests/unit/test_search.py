"""Text search over the lake (training.search): the numpy text tower, reading a query, filtering and ranking on
the labels, English = Chinese, and the cached index."""

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from lake.vocab import GM_NAMES, mood_of, tempo_bin
from training.search.index import SearchIndex
from training.search.query import read_query
from training.search.rank import Searcher


def _piece(i, key, meter="4/4", bpm=100.0, programs=(0,), collection="pop909", style="other", styles=("pop",),
           title=None, forms=()):
    return {"sha256": f"{i:064x}", "title": title or f"piece {i}", "url": f"file:///x/{i}.mid", "source": "t",
            "collection": collection, "style": style, "styles": list(styles), "key": key, "mode": key.split()[1],
            "bpm": float(bpm), "tempo_bin": tempo_bin(bpm), "time_signature": meter, "programs": list(programs),
            "instruments": [GM_NAMES[p] for p in programs], "mood": mood_of(key.split()[1], bpm), "split": "test",
            "forms": list(forms), "caption": None, "caption_zh": None}


def _searcher(pieces, embeddings=None, tower=None) -> Searcher:
    table = pa.Table.from_pylist(pieces)
    has = np.ones(len(pieces), dtype=bool) if embeddings is not None else np.zeros(len(pieces), dtype=bool)
    return Searcher(SearchIndex(table, embeddings, has, tower, {"clap_version": None}))


LAKE = [
    _piece(1, "D minor", "3/4", 80), _piece(2, "D minor", "4/4", 80), _piece(3, "F major", "3/4", 80),
    _piece(4, "D minor", "3/4", 150, programs=(40, 42), collection="bach-chorales", style="classical",
           styles=("classical",), forms=("chorale",)),
    _piece(5, "A major", "6/8", 160, programs=(110,), collection="irish", style="folk", styles=("folk",),
           title="Judy's -- Jig", forms=("jig",)),
    _piece(6, "E minor", "2/4", 60, collection="essen-china", style="folk", styles=("folk",)),
    _piece(7, "C major", "4/4", 120), _piece(8, "G major", "4/4", 66),
]


def test_a_written_key_or_meter_returns_only_pieces_that_have_it():
    s = _searcher(LAKE)
    for query, check in [("something in D minor", lambda h: h.key == "D minor"),
                         ("a piece in 3/4 time", lambda h: h.time_signature == "3/4"),
                         ("D小调，3/4拍", lambda h: h.key == "D minor" and h.time_signature == "3/4"),
                         ("in a minor key", lambda h: h.key.endswith("minor"))]:
        hits = s.search(query, k=10).hits
        assert hits and all(check(h) for h in hits), query
    assert {h.sha256 for h in s.search("D minor", k=10).hits} == {LAKE[i]["sha256"] for i in (0, 1, 3)}
    r = s.search("a piece in F# minor for piano", k=3)  # no piece has it: the nearest, and a note that says so
    assert len(r.hits) == 3 and any("F# minor" in n for n in r.notes)


def test_a_chinese_query_gives_its_english_translations_results():
    s = _searcher(LAKE)
    pairs = [("a sad Chinese folk song", "一首悲伤的中国民歌"), ("joyful Irish jig for fiddle", "欢快的爱尔兰吉格舞，二胡"),
             ("calm piano piece in G major", "平静的钢琴曲，G大调"), ("Bach chorale in D minor, 3/4 time", "巴赫众赞歌，D小调，3/4拍"),
             ("a fast piece for violin and cello", "快速的小提琴和大提琴作品")]
    for en, zh in pairs:
        a, b = s.search(en, k=8), s.search(zh, k=8)
        assert read_query(en).same_as(read_query(zh)), (en, zh)
        assert [h.sha256 for h in a.hits] == [h.sha256 for h in b.hits] and \
            [h.score for h in a.hits] == [h.score for h in b.hits], (en, zh)


def test_scores_are_calibrated_and_name_what_matched():
    s = _searcher(LAKE)
    r = s.search("lively Irish jig for fiddle", k=len(LAKE))
    top = r.hits[0]
    assert top.sha256 == LAKE[4]["sha256"] and top.score >= 0.9 and not top.missed
    assert {"irish", "jig", "Fiddle", "6/8 time"} <= set(top.matched)
    assert all(0 <= h.score <= 1 for h in r.hits)
    assert r.hits[-1].score < 0.3 and r.hits[-1].missed  # a piece meeting nothing asked scores low and says so
    r = s.search("a sad Chinese folk song", k=1)
    assert r.hits[0].collection == "essen-china"


def test_only_what_the_query_says_counts():
    w = read_query("a nice piece")  # no key, tempo or meter written: nothing is asked (no likely key, no default)
    assert w.key is None and w.mode is None and w.meter is None and w.bpm is None and w.tempo is None
    w = read_query("waltz with the chords Am F C G")  # the key the lake's pieces with that loop are labelled in
    assert w.meter == "3/4" and not w.meter_stated and w.key == "C major" and not w.key_stated
    assert read_query("96 bpm").bpm == 96 and read_query("♩=96, 4/4").meter_stated
    r = _searcher(LAKE).search("waltz", k=3)  # implied meter: a boost, not a filter
    assert r.candidates == len(LAKE) and r.hits[0].time_signature == "3/4"


def test_the_numpy_text_tower_computes_what_torch_computes():
    torch = pytest.importorskip("torch")
    from training.clap.encoder import ClapEncoder
    from training.clap.model import Clap, ClapConfig
    from training.clap.text import train_tokenizer
    from training.search.texttower import TextTower, export

    tok = train_tokenizer(["a calm folk piece in D minor", "一首平静的民谣", "lively Irish jig for fiddle"] * 3, 300)
    torch.manual_seed(0)
    model = Clap(ClapConfig(music_vocab_size=20, text_vocab_size=tok.get_vocab_size(), text_len=16, n_embd=32,
                            n_head=4, embed_dim=16))
    with torch.no_grad():
        for p in model.text.parameters():
            p.add_(0.3 * torch.randn_like(p))  # away from the tiny initial weights, so a mistake shows
    encoder = ClapEncoder(model, tok, vocab=None, tokenizer_id="t")  # the music side is not used
    texts = ["melancholic waltz in a minor key", "悲伤的中国民歌", "x", "a very long query " * 10]
    want = encoder.embed_text(texts)
    got = TextTower(*export(encoder)).embed(texts)
    assert np.allclose(got, want, atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)


def test_clap_orders_pieces_the_labels_leave_level():
    class Tower:
        def embed(self, texts):
            return np.array([[1.0, 0.0]], dtype=np.float32)

    pieces = [_piece(i, "C major") for i in range(1, 5)]
    emb = np.array([[0.1, 0.99], [0.9, 0.43], [0.5, 0.86], [-0.2, 0.98]], dtype=np.float32)
    r = _searcher(pieces, emb, Tower()).search("C major", k=4)
    assert [h.sha256 for h in r.hits] == [pieces[i]["sha256"] for i in (1, 2, 0, 3)] and r.ranked_by == "labels + CLAP"
    r = _searcher(pieces, emb, Tower()).search("something", k=4)  # nothing the labels know: CLAP alone
    assert r.ranked_by == "CLAP" and r.hits[0].sha256 == pieces[1]["sha256"]


def test_the_index_is_built_once_and_rebuilt_when_the_lake_changes(tmp_path, monkeypatch):
    import training.search.index as ix
    from lake.schemas import BRONZE_MIDI, GOLD_MUSIC_EMBEDDINGS, GOLD_PAIRS, SILVER_SCORES

    monkeypatch.setenv("MUSICLAKE_SEARCH_CACHE", str(tmp_path / "cache"))
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"x")
    versions = {SILVER_SCORES.name: 3, GOLD_PAIRS.name: 2, GOLD_MUSIC_EMBEDDINGS.name: 1, BRONZE_MIDI.name: 4}
    bronze = [{"sha256": "a" * 64, "license": "public domain"}]
    scores = [{"sha256": "a" * 64, "title": "Puss in the Corner -- Jig", "url": "http://h/midi/ryans-mammoth/p.mid",
               "source": "score-site", "style": "folk", "bpm": 160.0, "time_signature": "6/8", "key_tonic": "D",
               "key_mode": "major", "programs": [110]},
              {"sha256": "b" * 64, "title": "101", "url": "file:///pop909/101.mid", "source": "pop909",
               "style": "other", "bpm": 80.0, "time_signature": "4/4", "key_tonic": "A", "key_mode": "minor",
               "programs": [0]}]
    gold = [{"sha256": "b" * 64, "key_name": "C major", "mood": "calm", "split": "test", "caption": "c",
             "caption_zh": "z", "time_signature": "4/4"}]
    builds = []

    class FakeLake:
        def version(self, spec):
            return versions[spec.name]

        def read(self, spec, version=None, columns=None, filters=None):
            assert version == versions[spec.name]  # every table at the version recorded
            return pa.Table.from_pylist(scores if spec is SILVER_SCORES else gold if spec is GOLD_PAIRS else
                                        bronze if spec is BRONZE_MIDI else [])

    monkeypatch.setattr("lake.delta.Lake.from_config", classmethod(lambda cls, cfg: FakeLake()))
    monkeypatch.setattr(ix, "_resolve_clap", lambda cfg, ref: builds.append(ref))
    cfg = SimpleNamespace(lake=SimpleNamespace(uri=str(tmp_path / "lake")),
                          mlflow=SimpleNamespace(tracking_uri=f"sqlite:///{db}"))
    s = Searcher(ix.load_index(cfg))
    assert len(builds) == 1 and len(s) == 2 and s.index.tower is None
    assert s.collection.tolist() == ["irish", "pop909"] and s.key.tolist() == ["D major", "C major"]  # labels win
    assert s.styles[1] == {"pop"} and s.forms[0] == {"jig"}
    assert s.license == ["public domain", None] and s.source == ["score-site", "pop909"]  # bronze's licence
    Searcher(ix.load_index(cfg))
    assert len(builds) == 1  # nothing changed: the cache answers
    assert ix.is_current(cfg, s.index)  # what a server checks before each search
    versions[GOLD_PAIRS.name] = 3
    assert not ix.is_current(cfg, s.index)
    Searcher(ix.load_index(cfg))
    assert len(builds) == 2  # a new table version: rebuilt
    assert s.search("lively Irish jig for fiddle", k=1).hits[0].collection == "irish"


def test_odd_queries_answer_and_partial_matches_say_so():
    s = _searcher(LAKE)
    for q in ["🎵 sad 钢琴 in D minor 🎹", "kazoo solo", "x" * 2000, "每分钟96拍的华尔兹", "  "]:
        r = s.search(q, k=3)
        assert len(r.hits) == 3 and all(0 <= h.score <= 1 for h in r.hits), q
    assert any("kazoo" in n for n in s.search("kazoo solo").notes)
    top = s.search("a piece for viola", k=1).hits[0]  # no viola in the lake: a violin or cello is its family
    assert top.matched == ["Viola (in part)"]


def test_filters_keep_only_pieces_with_exactly_those_values():
    s = _searcher(LAKE)
    r = s.search("a calm piece", k=10, filters={"key": "D minor", "time_signature": "3/4"})
    assert {h.sha256 for h in r.hits} == {LAKE[i]["sha256"] for i in (0, 3)}
    r = s.search("something", k=10, filters={"style": "folk", "bpm_min": 100})
    assert [h.collection for h in r.hits] == ["irish"]
    r = s.search("a piece in G major", k=10, filters={"collection": "irish"})  # a filter never relaxes
    assert [h.key for h in r.hits] == ["A major"] and any("G major" in n for n in r.notes)
    r = s.search("anything", k=5, filters={"key": "B minor"})
    assert r.hits == [] and any("filters" in n for n in r.notes)


def test_an_empty_lake_answers_with_no_hits_and_says_why():
    empty = pa.table({k: pa.array([]) for k in _piece(0, "C major")})  # an index built from no pieces
    s = Searcher(SearchIndex(empty, None, np.zeros(0, dtype=bool), None, {"clap_version": None}))
    r = s.search("a sad waltz in D minor", k=5, filters={"style": "folk"})
    assert r.hits == [] and r.total == 0 and any("no described pieces" in n for n in r.notes)
