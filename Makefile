# 智理 Zhili — the two commands: `make demo` and `make test`. Everything else is installed by `make install`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
SCALE ?= small
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo serve test test-sqlite test-postgres stress lint typecheck bench bench-hub seed clean check screenshots

install: $(STAMP)  ## create .venv and install Python, apt and npm dependencies (idempotent)

$(STAMP): pyproject.toml constraints.txt deploy/apt-packages.txt $(wildcard package-lock.json)
	@bash deploy/install-apt.sh deploy/apt-packages.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@if [ -f package.json ]; then npm ci --no-audit --no-fund; fi
	@touch $(STAMP)

demo: install  ## install, seed the small demo if the database is empty, serve on http://127.0.0.1:8000
	$(BIN)/zhili demo --scale $(SCALE) --host $(HOST) --port $(PORT)

serve: install
	$(BIN)/zhili serve --host $(HOST) --port $(PORT)

seed: install
	$(BIN)/zhili seed --scale $(SCALE)

test: install  ## the whole suite on SQLite and on PostgreSQL (the two passes side by side)
	$(MAKE) --no-print-directory lint
	# The two passes share nothing (each its own database; e2e only in the SQLite pass) and each is one Python
	# process: run side by side on the two cores, each pass's output printed whole when it ends (docs/benchmarks.md).
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

test-sqlite:
	@echo "== tests on SQLite =="
	@bash deploy/ensure-mosquitto.sh
	ZHILI_TEST_DATABASE_URL= ZHILI_REQUIRE_MQTT=1 $(BIN)/pytest

test-postgres:
	@echo "== tests on PostgreSQL ($(PG_TEST_URL)) =="
	@bash deploy/wait-postgres.sh "$(PG_TEST_URL)"
	@bash deploy/ensure-mosquitto.sh
	# tests/e2e drive a live server over its own seeded SQLite file: they ran in the SQLite pass, and running them
	# again here would test nothing new
	ZHILI_TEST_DATABASE_URL=$(PG_TEST_URL) ZHILI_REQUIRE_POSTGRES=1 ZHILI_REQUIRE_MQTT=1 $(BIN)/pytest --ignore=tests/e2e

FUZZ_EXAMPLES ?= 40
STORED_EXAMPLES ?= 150
STRESS_TESTS := tests/test_api_fuzz.py tests/test_stored_values.py tests/test_concurrent_use.py
# crash safety (docs/reliability.md): SIGKILLs of the served district under intake, and PostgreSQL's own outage
CRASH_KILLS ?= 20
CRASH_SECONDS ?= 180
PG_OUTAGE_SECONDS ?= 5
CRASH_TESTS := tests/cases/test_crash_intake.py tests/cases/test_pg_restart_intake.py
CRASH_ENV = ZHILI_CRASH_KILLS=$(CRASH_KILLS) ZHILI_CRASH_SECONDS=$(CRASH_SECONDS) \
  ZHILI_PG_OUTAGE_SECONDS=$(PG_OUTAGE_SECONDS) ZHILI_CRASH_RETRY_SAMPLE=1000000 ZHILI_CRASH_REPORT=var/stress/crash.jsonl

# the mixed load (bench/bench_mixed.py): a fresh medium seed on PostgreSQL, or an existing seeded database
# (LARGE_DB_URL=postgresql+psycopg://…/zhili_large LARGE_VAR_DIR=<its var folder>)
MIXED_SECONDS ?= 150
LARGE_DB_URL ?=
LARGE_VAR_DIR ?=

stress: install  ## the long runs of the standing hostile-input and crash tests, on SQLite then PostgreSQL, then the mixed load on PostgreSQL (figures: var/stress/, docs/reliability.md, docs/benchmarks.md)
	@mkdir -p var/stress
	@echo "== stress on SQLite: schemathesis $(FUZZ_EXAMPLES) examples per operation and role, $(STORED_EXAMPLES) stored-value examples =="
	ZHILI_TEST_DATABASE_URL= ZHILI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) ZHILI_STORED_EXAMPLES=$(STORED_EXAMPLES) \
	  ZHILI_FUZZ_REPORT=var/stress/fuzz-sqlite.json $(BIN)/pytest $(STRESS_TESTS) --durations=5
	@echo "== stress on PostgreSQL ($(PG_TEST_URL)) =="
	@bash deploy/wait-postgres.sh "$(PG_TEST_URL)"
	ZHILI_TEST_DATABASE_URL=$(PG_TEST_URL) ZHILI_REQUIRE_POSTGRES=1 ZHILI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
	  ZHILI_STORED_EXAMPLES=$(STORED_EXAMPLES) ZHILI_FUZZ_REPORT=var/stress/fuzz-postgres.json \
	  $(BIN)/pytest $(STRESS_TESTS) --durations=5
	@echo "== crash safety: $(CRASH_KILLS) SIGKILLs over ≈ $(CRASH_SECONDS) s on SQLite, then on PostgreSQL with its $(PG_OUTAGE_SECONDS) s outage (var/stress/crash.jsonl) =="
	ZHILI_TEST_DATABASE_URL= $(CRASH_ENV) $(BIN)/pytest tests/cases/test_crash_intake.py -s --durations=5
	ZHILI_TEST_DATABASE_URL=$(PG_TEST_URL) ZHILI_REQUIRE_POSTGRES=1 $(CRASH_ENV) $(BIN)/pytest $(CRASH_TESTS) -s --durations=5
	@echo "== mixed load on PostgreSQL: 80 % reads, 20 % writes, 1 then 2 workers, $(MIXED_SECONDS) s each (bench/bench_mixed.py) =="
	@if [ -n "$(LARGE_DB_URL)" ]; then \
	  $(BIN)/python bench/bench_mixed.py --database-url "$(LARGE_DB_URL)" --var-dir "$(LARGE_VAR_DIR)" \
	    --workers 1 2 --seconds $(MIXED_SECONDS) --json var/stress/mixed.json; \
	else \
	  $(BIN)/python bench/bench_mixed.py --seed medium --pg-server "$(PG_TEST_URL)" \
	    --workers 1 2 --seconds $(MIXED_SECONDS) --json var/stress/mixed.json; \
	fi

lint:  ## ruff, mypy and the import contracts in .importlinter (core knows no domain, the domain layers, no front door)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install  ## run the benchmarks (results go to docs/benchmarks.md by hand, with the command)
	$(BIN)/python bench/bench_locate.py
	$(BIN)/python bench/bench_seed.py --scale small
	$(BIN)/python bench/bench_seed.py --scale large
	@bash deploy/ensure-mosquitto.sh
	$(BIN)/python bench/bench_iot_ingest.py --seconds 15 --devices 2000
	# the case list's bounded total and the one-row audit chain head on PostgreSQL (a scratch database of its own)
	$(BIN)/python bench/bench_bounded_reads.py --cases 1000000 --events 2000000 --months 36
	# 4E scoring needs a scored large demo: ZHILI_DATABASE_URL=… $(BIN)/python bench/bench_eval.py --month YYYY-MM

bench-hub: install  ## the data hub's benchmarks at the sizes docs/benchmarks.md quotes (the 1M runs take minutes each)
	$(BIN)/python bench/hub_febrl.py
	$(BIN)/python bench/hub_address.py
	$(BIN)/python bench/hub_mapping.py --rows 200000
	$(BIN)/python bench/hub_csv_stream.py --rows 1000000
	$(BIN)/python bench/hub_quality.py --records 1000000
	$(BIN)/python bench/hub_resolve_1m.py --n 1000000
	$(BIN)/python bench/hub_import.py --rows 100000
	$(BIN)/python bench/hub_import_1m.py

check: install
	$(BIN)/zhili check

screenshots: install  ## PNGs of the main pages into docs/screenshots/ (headless /usr/bin/chromium, own temp database)
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
