"""The lake's Spark jobs, each incremental and idempotent (an app transaction per input version).

In dependency order (``pipeline.run_all``, which ``musiclake lake all`` and the demo call, runs the
first two through ``silver``):

* ``features``: bronze_midi_files → silver_scores, silver_chords, silver_tracks (and silver_quarantine).
* ``encode``: the pieces in silver_scores → silver_tokens and silver_track_tokens with the lake's tokenizer.
* ``silver``: features and encode in one pass over the bytes, where that gives exactly what the two give.
* ``dedup``: silver_scores fingerprints → silver_duplicates (exact and near-duplicate clusters).
* ``split``: train, validation or test per duplicate cluster → gold_splits.
* ``align``: silver (with lyrics, captions, chords, labels and splits) → gold text–music pairs and
  lyric segments.

And what they share:

* ``pipeline``: the chain above, in that order.
* ``common``: a job's report, pinned reads, lineage columns and the commit path.
* ``per_file``: how a per-file job (features, encode) runs: one pass over the bytes, outputs staged
  as parquet by the executors and committed by the driver.
* ``remote_files``: reading and writing a lake on an object store from the executors with pyarrow.
* ``maintenance``: optimize (compaction) and vacuum (old-file removal).
"""
