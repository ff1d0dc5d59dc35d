# imagegen: `make run` starts the studio, `make test` runs every test, `make bench` the benchmarks.
# All set-up lives here: a virtual environment in .venv, the Python packages, Debian's chromium for the
# browser tests and Debian's PostgreSQL server for the tests of the shared database.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APP_STAMP := $(VENV)/.app-installed
DEV_STAMP := $(VENV)/.dev-installed
PORT ?= 8501

.PHONY: run test lint bench mutation lock chromium postgres clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# requirements*.txt say which ranges work; requirements.lock pins the exact versions installed and tested.
$(APP_STAMP): requirements.txt requirements.lock | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt -c requirements.lock
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt requirements.lock | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt -c requirements.lock
	touch $(APP_STAMP) $@

# Resolve the requirements afresh in a scratch environment and pin what it got.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet -r requirements-dev.txt
	{ echo "# Exact versions of everything requirements-dev.txt installs, as tested. Regenerate after changing a"; \
	  echo "# requirement: make lock"; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | sort -f; } > requirements.lock
	rm -rf .venv-lock

run: $(APP_STAMP)
	$(PY) -m ui.serve --server.port $(PORT)

# Debian's chromium drives the end-to-end tests; Playwright's own browser download is never used.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's PostgreSQL server: the tests start their own on 127.0.0.1 (as `nobody` when run as root).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

# axe-core, which the accessibility test loads into Chromium: the version package-lock.json pins.
AXE := node_modules/axe-core/axe.min.js
$(AXE): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(DEV_STAMP) chromium postgres $(AXE) lint
	$(PY) -m pytest

bench: $(DEV_STAMP)
	@for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Not part of `make test`: mutates the engine's critical lines one at a time and reports the survivors.
mutation: $(DEV_STAMP)
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2 || true
	$(PY) bench/_mutation_report.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis mutants node_modules
