"""The ground floor every stage stands on.

* ``config``: the one typed configuration (defaults < YAML < environment < ``--set``).
* ``cli_common``: the ``--config`` / ``--set`` options every stage's command line shares.
* ``cluster``: connecting to Ray, local by default or a cluster at ``ray.address``.
* ``runinfo``: the code version and fresh run ids stamped on every job's output.
* ``progress``: a live progress line (counts and rate).
* ``corpus_export``: pieces of music21's bundled corpus exported to MIDI (the demo's music).
* ``score_site``: the local static score site built from them, and its HTTP server (demo, tests, benchmarks).
"""
__version__ = "0.1.0"
