# reprolab: `make run` sets up and runs the main job, `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser postgres run smoke test bench bench-review ui clean

setup: $(STAMP)

# torch==2.13.0 is pinned in pyproject.toml: pip takes the CPU wheel, not a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: setup
	$(BIN)/reprolab run proof-rm --preset default

smoke: setup
	$(BIN)/reprolab run proof-rm --preset smoke --json

# The review app's browser tests drive Debian's chromium through Playwright's Python client
# (Playwright's own browser download is not used). CI runs as root with Debian's registry reachable.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "warning: /usr/bin/chromium is missing; install Debian's chromium package for the browser tests"; \
	  fi; \
	fi

# The PostgreSQL review-store tests start their own throwaway server on 127.0.0.1 with Debian's
# server programs (initdb, pg_ctl). The package's default cluster is not created, so no
# system-wide server is left running.
postgres:
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    mkdir -p /etc/postgresql-common; \
	    [ -e /etc/postgresql-common/createcluster.conf ] || \
	      echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else \
	    echo "warning: PostgreSQL's server programs are missing; install Debian's postgresql package" \
	      "for the PostgreSQL review-store tests"; \
	  fi; \
	fi

test: setup browser postgres
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/proof_rm.py

bench-review: setup
	$(BIN)/python benchmarks/review_load.py

ui: setup
	$(BIN)/reprolab ui
