"""Text search over the lake: a query is read with the prompt-understanding code, matched against the lake's
labels, and ranked within what matches by the CLAP model. One module per job:

* :mod:`.index`     - the search index: every piece's labels and CLAP embedding in one cached parquet, rebuilt
  when the lake tables or the CLAP version change;
* :mod:`.texttower` - the CLAP text tower in numpy (search needs no torch and no MLflow);
* :mod:`.query`     - what a query asks for (key, mode, tempo, meter, instruments, style, mood, collection, form);
* :mod:`.rank`      - filter, score (calibrated 0-1, with the matched attributes) and rank;
* :mod:`.evaluate`  - queries from held-out pieces' labels, R@10 / MRR / key precision beside the baselines.

    searcher = Searcher.load(cfg)           # once: the cached index (built the first time)
    searcher.search("melancholic waltz in a minor key", k=10)   # [Hit(sha256, score, matched, missed, ...)]
"""

from training.search.index import SearchIndex, index_path, load_index  # noqa: F401
from training.search.query import Want, read_query  # noqa: F401
from training.search.rank import Hit, Searcher  # noqa: F401
