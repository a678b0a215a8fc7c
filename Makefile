# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
DEMO_ADMIN_EMAIL ?= admin@vault.example
DEMO_ADMIN_PASSWORD ?= vault-demo-admin
DEMO_CUSTOMERS ?= 200
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-sqlite test-postgresql lint typecheck fmt bench fuzz install clean browser

$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# pycasbin 2.x replaced casbin 1.x: both install the module `casbin`
	$(BIN)/python -m pip uninstall --quiet --yes casbin casbin-sqlalchemy-adapter 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./clients/python
	touch $(STAMP)

install: $(STAMP)

## Initialise an SQLite vault under ./instance with demo data and serve it.
run: $(STAMP)
	$(BIN)/vault init --admin-email $(DEMO_ADMIN_EMAIL) --admin-password $(DEMO_ADMIN_PASSWORD)
	$(BIN)/vault demo --customers $(DEMO_CUSTOMERS) --if-empty
	$(BIN)/vault serve --worker --host $(HOST) --port $(PORT)

## Debian's Chromium for the browser tests (Playwright drives it; nothing is downloaded at
## run time); `make test` fails without it, as it does without PostgreSQL.
browser:
	@test -x /usr/bin/chromium \
	  || DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
	  || (apt-get update -q >/dev/null 2>&1 \
	      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null) \
	  || { echo "Chromium could not be installed (apt-get install chromium, as root)."; exit 1; }

## The whole suite on SQLite and on PostgreSQL, then lint and type checks.
test: $(STAMP) browser
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgresql
	$(MAKE) --no-print-directory lint typecheck

test-sqlite: $(STAMP)
	VAULT_TEST_DATABASE=sqlite $(BIN)/pytest -p no:cacheprovider -n 2 -q

test-postgresql: $(STAMP)
	VAULT_TEST_DATABASE=postgresql VAULT_TEST_POSTGRES_URL=$(PG_URL) $(BIN)/pytest -p no:cacheprovider -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

## Every benchmark (bench/): a table, and bench/results.json. The HTTP benchmark drives the
## served vault with wrk, installed here from Debian's packages when missing.
bench: $(STAMP)
	@command -v wrk >/dev/null \
	  || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null 2>&1 \
	  || (apt-get update -q >/dev/null 2>&1 \
	      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null) \
	  || { echo "wrk could not be installed (apt-get install wrk, as root)."; exit 1; }
	BENCH_POSTGRES_URL=$(PG_URL) $(BIN)/python -m bench

## The longer fuzz (bench/fuzz.py) on SQLite and on PostgreSQL ($(PG_URL)): a table, and
## bench/results.json's `fuzz`; fails on any server error or error that is no problem.
fuzz: $(STAMP)
	BENCH_POSTGRES_URL=$(PG_URL) $(BIN)/python -m bench.fuzz

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
