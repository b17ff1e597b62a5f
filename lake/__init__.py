"""The Delta lake: its tables, the one path to them, the Spark jobs that fill them, and the music analysis they run.

Tables and storage:

* ``schemas``: every table's spec (name, layer, schema, key), one module per layer.
* ``delta``: the one code path between musiclake and its Delta tables (delta-rs), :class:`delta.Lake`.
* ``objectstore``: the lake's files on a local folder or an object store, from ``lake.storage_options``.
* ``spark``: the Spark session for the jobs, from ``config.spark``.
* ``jobs``: the Spark jobs (features, encode, dedup, split, align) and maintenance.
* ``cli``: ``musiclake lake`` (tables, history, the jobs, optimize, vacuum, agreement).

What the jobs compute per piece:

* ``midi_features``: MIDI checks and caps, and the features (tempo, meter, key, instruments, ...) with symusic.
* ``chords``: chords per bar and per beat by template matching.
* ``dedup``: exact and near-duplicate fingerprints (note hash, MinHash + LSH) and their clusters.
* ``tokenizer``: the miditok tokenizer, built from ``config.tokenizer`` and identified by its config hash.
* ``remi_fast``: REMI token ids for a whole score in numpy, identical to miditok's ``encode``.
* ``captions``: captions in English and Chinese written from a piece's features.
* ``annotations``: labels that came with a piece (POP909) in the lake's own vocabulary.
* ``vocab``: the project's one music vocabulary (keys, tempo bins, styles, moods, chords,
  instruments) and the content-hash split.

Reports and figures: ``key_agreement`` (the lake's key against music21's), ``label_agreement`` (chords
and keys against an annotated set's labels), ``bench`` and ``bench_features`` (files/s of the jobs
and of the per-file steps).
"""

import os as _os
import sys as _sys

# In the Python workers Spark starts for the lake's jobs (lake.spark sets this variable for them,
# never for the driver), torch is kept out: miditok imports it only for its optional PyTorch
# datasets and guards that import, and the lake never uses it. Each worker then starts about a
# second sooner and ~200 MB smaller.
WORKER_ENV = "MUSICLAKE_SPARK_WORKER"
if _os.environ.get(WORKER_ENV) == "1" and "torch" not in _sys.modules:
    _sys.modules["torch"] = None
