# Two commands do all the set-up on a fresh machine with nothing but python3:
#   make run   - create .venv, install, serve the demo app with AutoWorker
#   make test  - create .venv, install, run ruff, actionlint, mypy, the distributions'
#                check and pytest
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
# pytest workers: the reference machine has 2 cores.
JOBS   ?= 2
LINTED := $(wildcard src tests examples bench noxfile.py .ci/check_dist.py)

.PHONY: run test lint typecheck pytest dist venv clean bench test-gunicorn configs soak pythons pythons-all

venv: $(STAMP)

# pip stays in the venv (the tests use it); uv installs the rest, several times faster
# than pip on a machine without caches, and fills the cache nox's environments reuse.
# --compile-bytecode, as pip does: with PYTHONDONTWRITEBYTECODE set, every process the
# tests start would otherwise compile every module it imports.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	UV_PYTHON_DOWNLOADS=never $(BIN)/uv pip install --quiet --compile-bytecode \
		--python $(BIN)/python -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	@echo "safeworkers demo: http://$(HOST):$(PORT)/  (Ctrl-C to stop)"
	$(BIN)/gunicorn --chdir examples/apps --bind $(HOST):$(PORT) \
		-k safeworkers.AutoWorker demo_wsgi:app

# actionlint: the GitHub workflows (.github/workflows), which cannot run here; with
# shellcheck on PATH (.ci/run installs it) it checks their shell steps too.
lint: $(STAMP)
	$(BIN)/ruff check --output-format concise $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/actionlint .github/workflows/*.yml

typecheck: $(STAMP)
	$(BIN)/mypy

# The code the tests' servers and child interpreters import, compiled once (see above).
COMPILED := src tests/harness tests/apps examples/apps
pytest: $(STAMP)
	$(BIN)/python -m compileall -q $(COMPILED) >/dev/null
	$(BIN)/pytest -n $(JOBS) --timeout 180

# The sdist and the wheel, built and checked as an index and a user would: twine
# check --strict, the wheel's contents (the .pth start-up hook), installed in a
# throwaway venv (.ci/check_dist.py; the release workflow runs the same).
dist: $(STAMP)
	$(BIN)/python .ci/check_dist.py --out dist

# The whole suite on this venv's Python, then a fast subset (unit, guard
# matrix, one real server per worker) on the other supported Pythons.
test: lint typecheck dist pytest pythons

# The supported Pythons this machine lacks (3.14, 3.14t: the hosted workflow runs them)
# are named and skipped, also where CI is set (nox would fail on them there).
pythons: $(STAMP)
	$(BIN)/nox -s subset --no-error-on-missing-interpreters

# The whole suite on every supported Python (3.10-3.14; those not installed are skipped).
pythons-all: $(STAMP)
	$(BIN)/nox -s tests --no-error-on-missing-interpreters

# The reliability suite (tests/reliability, part of `make test`) with ten
# times the requests, reloads, kills and hostile rounds.
SOAK ?= 10
soak: $(STAMP)
	SWTEST_SOAK=$(SOAK) $(BIN)/pytest -n $(JOBS) tests/reliability

# Side-by-side benchmarks (bench/run.py): JSON in bench/results, the docs'
# tables and chart. Record on a quiet machine (load average < 0.5).
$(VENV)/.bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $@

# wrk (the load) from the system's packages, installed when missing where apt-get and
# root allow it, as .ci/run does for the test suite's tools.
bench: $(VENV)/.bench
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null || \
		  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }; }; } || true
	$(BIN)/python bench/run.py

# examples/configs: every deployment template rendered for the demo apps
# (tests/unit/cli/test_template.py checks they match what the command renders).
configs: $(STAMP)
	$(BIN)/safeworkers template all -o examples/configs --app demo_wsgi:app --force
	$(BIN)/safeworkers template hypercorn -o examples/configs/hypercorn --app demo_asgi:app --force

clean:
	rm -rf $(VENV) .nox .mypy_cache .pytest_cache .ruff_cache dist

# The worker tests against another gunicorn release line, e.g.
#   make test-gunicorn GUNICORN=23   (or 25; CI runs the newest through `make test`)
GUNICORN ?= 25
GVENV    := .venv-gunicorn$(GUNICORN)
WORKER_TESTS ?= tests/integration/test_workers.py tests/integration/test_eventlet_worker.py \
	tests/integration/test_trio_worker.py tests/integration/test_sockets_wiring.py \
	tests/integration/test_after_patch.py tests/integration/test_template_starts.py

$(GVENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(GVENV)
	$(GVENV)/bin/python -m pip install --quiet --upgrade pip
	$(GVENV)/bin/python -m pip install --quiet -e '.[all,test]' 'gunicorn==$(GUNICORN).*'
	@touch $@

test-gunicorn: $(GVENV)/.installed
	$(GVENV)/bin/gunicorn --version
	$(GVENV)/bin/pytest -n $(JOBS) --timeout 180 $(WORKER_TESTS)
