# Each target sets itself up on a fresh machine: only python3 (3.11+) and make are assumed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed

.PHONY: run test bench migrate lint venv clean chromium

# (Re)create the virtualenv when it is missing or broken (e.g. its Python moved),
# and reinstall whenever requirements.txt (or the client package's metadata) changes.
$(STAMP): requirements.txt clients/python/pyproject.toml
	@if ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
		echo "creating $(VENV)"; rm -rf $(VENV); $(PYTHON) -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

venv: $(STAMP)

migrate: venv
	$(BIN)/flask --app wsgi db upgrade

# Serve on 127.0.0.1:$${PORT:-8000}; the database comes from AUREA_DATABASE_URL
# (default: instance/aurea.db). exec: gunicorn receives Ctrl-C / SIGTERM directly.
run: migrate
	exec $(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Speed beside a hello-world yardstick; PostgreSQL too when AUREA_BENCH_POSTGRES_URL is set.
bench: venv
	@command -v wrk >/dev/null || { echo "installing wrk"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi; }
	$(BIN)/python -m bench.run

# Debian's Chromium for the dashboard's browser test (skipped without it, except under CI=true).
chromium:
	@command -v chromium >/dev/null || { echo "installing chromium"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; }

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache
