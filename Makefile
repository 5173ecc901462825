# fluoseg: two commands do all set-up on a fresh machine.
#   make book   -> .venv, install, synthetic data, execute every notebook (cpu profile), HTML
#   make test   -> .venv, install, synthetic data (smoke), unit tests, every notebook (nbval)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PROFILE ?= cpu
# make bench BENCH_ARGS=--quick: the benchmark suite in minutes (default: full sizes)
BENCH_ARGS ?=
# Quieter TensorFlow in notebooks and tests (messages only, no change in numerics).
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: book test venv data data-smoke unit notebooks lint bench browser-check clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[cpu,book,test]"
	touch $(STAMP)

data: venv
	$(BIN)/fluoseg data --profile $(PROFILE)

data-smoke: venv
	$(BIN)/fluoseg data --profile smoke

_static/plotly.min.js: $(STAMP)
	mkdir -p _static
	$(BIN)/python -c "import plotly, pathlib, shutil; \
	src = pathlib.Path(plotly.__file__).parent / 'package_data' / 'plotly.min.js'; \
	shutil.copyfile(src, '_static/plotly.min.js')"

# MathJax served from the book itself (Sphinx's default is a CDN; the book must work offline)
_mathjax/mathjax/es5/tex-mml-chtml.js: $(STAMP)
	rm -rf _mathjax && mkdir -p _mathjax/mathjax
	$(BIN)/python -c "import mathjax, pathlib, shutil; \
	src = pathlib.Path(mathjax.__file__).parent / 'static' / 'mathjax' / 'es5'; \
	shutil.copytree(src, '_mathjax/mathjax/es5')"

book: venv _static/plotly.min.js _mathjax/mathjax/es5/tex-mml-chtml.js
	$(BIN)/fluoseg data --profile $(PROFILE)
	FLUOSEG_PROFILE=$(PROFILE) $(BIN)/jupyter-book build . -W --keep-going

unit: venv
	$(BIN)/python -m pytest -q

notebooks: venv data-smoke
	FLUOSEG_PROFILE=smoke $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=900 -p no:cacheprovider book

lint: venv
	$(BIN)/ruff check src tests benchmarks

test: venv data-smoke lint unit notebooks

bench: venv
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

browser-check: venv
	bash scripts/browser_check.sh

clean:
	rm -rf _build .jupyter_cache
