"""The ground floor every stage stands on: the config, run ids and code version, progress lines, the
cluster helpers, the options the stage CLIs share, and the corpus score site (demo data, benchmarks)."""
__version__ = "0.1.0"
