# kapflow: `make run` for the demo practice, `make test` for the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test screenshots install lint fmt browser migrate bench bench-pg bench-load bench-records bench-controlled probe-queries clean pdf-libs pg-tools

$(STAMP): pyproject.toml | pdf-libs
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	$(PY) -m pip install -qq -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	@mkdir -p var
	$(PY) manage.py migrate --noinput

# The demo runs on the embedded defaults: a SQLite file in var/, the task queue in var/, and
# two-factor sign-in switched off (the pages say so) so a newcomer needs no authenticator app.
# Emailed links (printed by the console email backend) lead to this server unless
# KAPFLOW_SITE_URL names the practice's own address.
run: export KAPFLOW_MFA_REQUIRED ?= 0
run: export KAPFLOW_SITE_URL ?= http://$(HOST):$(PORT)
run: migrate
	$(PY) manage.py load_demo
	@echo "kapflow is starting on http://$(HOST):$(PORT)/ (Ctrl-C stops the server and the worker)"
	@echo "Sign in at http://$(HOST):$(PORT)/accounts/login/ with one of the demo sign-ins above;"
	@echo "clients and guardians sign in there too and land on their portal."
	@$(PY) manage.py run_huey --quiet & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(PY) manage.py runserver $(HOST):$(PORT)

# WeasyPrint (letters as PDF) needs Pango and at least one font from the system. Installed when
# missing and we may use apt.
pdf-libs:
	@{ ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 && fc-list 2>/dev/null | grep -q . ; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Pango and a font for the letters' PDFs…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fontconfig >/dev/null; \
	  else echo "Pango is missing: letters cannot be made as PDF (apt-get install libpangoft2-1.0-0 fonts-dejavu-core)."; fi; }

# `manage.py backup` and `restore` on PostgreSQL run pg_dump and pg_restore (docs/backup.md), and
# the suite's backup tests on PostgreSQL too. Installed when missing and we may use apt.
pg-tools:
	@command -v pg_dump >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing PostgreSQL's client tools for backup and restore…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null; \
	  else echo "pg_dump is missing: backups of a PostgreSQL database need it (apt-get install postgresql-client)."; fi; }

# Debian's Chromium drives the browser tests. Installed when missing and we may use apt.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed: the browser tests will be skipped (apt-get install chromium)."; fi; }

# The suite runs in parallel (pytest-xdist): one worker more than there are cores, since the
# browser tests leave a core idle while Chromium works, each worker with its own test database.
# A worker that runs out of tests takes half of what another has left (worksteal), so no worker
# sits idle while one works through the slow browser tests. That is safe in any order: a test
# that commits empties the database with `flush` when it ends, and the flush puts back what the
# migrations write (the audit triggers, the starting consent documents) for the tests after it.
# Python keeps what it compiles (in __pycache__ folders, which git ignores) even where the
# environment says not to (PYTHONDONTWRITEBYTECODE, set on some machines and in some CI images):
# otherwise every worker compiles kapflow and pytest rewrites every test module's asserts again,
# about 7 s of a core per process on every run, where a run after the first takes 3.
WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
test: export PYTHONDONTWRITEBYTECODE =
test: $(STAMP) browser pg-tools
	$(PY) -m pytest -n $(WORKERS) --dist worksteal $(PYTEST_ARGS)

# The browser tests again, photographing every page they open into test-artifacts/screenshots/
# (emptied first): look at them after a change to a template or the stylesheet.
screenshots: $(STAMP) browser
	rm -rf test-artifacts/screenshots
	KAPFLOW_SCREENSHOTS=1 $(PY) -m pytest -n $(WORKERS) -m browser $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# bench/README.md: every page at group size against a bare signed-in request, on SQLite and on
# PostgreSQL (DATABASE_URL, else a kapflow_bench database on 127.0.0.1), and fifty clinicians at
# once on gunicorn. BENCH_ARGS passes options, e.g. BENCH_ARGS="--reuse".
BENCH_STAMP := $(VENV)/.bench-stamp
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	@touch $(BENCH_STAMP)

bench: $(STAMP)
	$(PY) bench/pages.py $(BENCH_ARGS)

bench-pg: $(STAMP)
	$(PY) bench/pages.py --database postgres $(BENCH_ARGS)

bench-load: $(BENCH_STAMP)
	$(PY) bench/load.py $(BENCH_ARGS)

# bench/records.py: a client's FHIR bundle and PDF, the practice export and the backup, at group
# size; BENCH_ARGS="--database postgres" for PostgreSQL.
bench-records: $(STAMP)
	$(PY) bench/records.py $(BENCH_ARGS)

# bench/controlled.py: the controlled-substance pages and reports with a ledger of 6 lots of
# 20,000 entries; BENCH_ARGS="--database postgres" for PostgreSQL.
bench-controlled: $(STAMP)
	$(PY) bench/controlled.py $(BENCH_ARGS)

# bench/repeated_queries.py: the suite's requests that ran one query with many different values (a
# query per row shown), listed from test-artifacts/repeated-queries/.
probe-queries: $(STAMP)
	rm -rf test-artifacts/repeated-queries
	PYTHONPATH=bench $(PY) -m pytest -n $(WORKERS) -p repeated_queries --ignore=tests/browser -q $(PYTEST_ARGS)
	$(PY) bench/repeated_queries.py report

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
