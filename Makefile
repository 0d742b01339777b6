# The two commands (see README): `make demo` and `make test`. Everything else is a helper.
VENV   ?= .venv
PY     := $(VENV)/bin/python
CF     := $(VENV)/bin/corpusforge
EXTRAS ?= spark,ray,airflow,train,dev

.PHONY: setup demo test lint test-fast bench clean

setup: $(VENV)/.installed

# torch is pinned and installed first so no later resolver step can pull a CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

## The main job on the embedded default: sample WARCs -> web pipeline -> quality + decontamination -> SFT and RL
## prompts (embedded SmolLM2) -> token shards.
demo: setup
	$(CF) sample sample
	$(CF) run pipelines/configs/web.yaml
	$(CF) classifiers bootstrap "runs/web/data/*.parquet" --out runs/models/dclm
	$(CF) run pipelines/configs/score.yaml
	$(CF) stats runs/web-scored
	$(CF) run pipelines/configs/sft.yaml
	$(CF) run pipelines/configs/rl.yaml
	$(CF) mix mixtures/examples/demo_blend.yaml

## The test suite, as CI runs it.
test: setup
	$(VENV)/bin/pytest -q -p no:cacheprovider --durations=15

## Lint, format, layer contracts (import-linter) and the type checker; part of `make test`.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

## Skip the engine/end-to-end tests (Spark, Ray, Airflow, S3) for a quick local loop.
test-fast: setup
	$(VENV)/bin/pytest -q -m "not slow"

bench: setup
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf runs sample .pytest_cache
