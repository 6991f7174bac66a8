# One command each: `make demo` runs the end-to-end demo, `make test` runs the whole suite.
# Both bootstrap .venv from nothing (uv from PyPI when the machine lacks it).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-fast test-slow lint demo simulator worker clean

$(STAMP): pyproject.toml
	@command -v uv >/dev/null 2>&1 || $(PY) -m pip install --quiet uv
	@test -x $(BIN)/python || uv venv --quiet --python $(PY) $(VENV)
	uv pip install --quiet --python $(BIN)/python -r pyproject.toml --extra dev
	@touch $(STAMP)

venv: $(STAMP)

# The Web UI test drives Debian's chromium (no browser download at run time).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "the Web UI test needs Debian's chromium: sudo apt-get install chromium"; exit 1; \
	fi

# The IMAP mailbox tests run a real dovecot (Debian's dovecot-imapd) on loopback.
DOVECOT := /usr/sbin/dovecot
$(DOVECOT):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; \
	else \
		echo "the IMAP tests need Debian's dovecot-imapd: sudo apt-get install dovecot-imapd"; exit 1; \
	fi

# The shared secret store's tests run a real PostgreSQL server from Debian's binaries (initdb in a temp dir).
POSTGRES_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))
.PHONY: postgresql
postgresql:
	@if [ -z "$(POSTGRES_INITDB)" ] && ! command -v initdb >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
		else \
			echo "the secret store tests need Debian's postgresql: sudo apt-get install postgresql"; exit 1; \
		fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) $(CHROMIUM) $(DOVECOT) postgresql
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q --durations=15

test-fast: $(STAMP) $(DOVECOT) postgresql
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(STAMP) $(CHROMIUM) $(DOVECOT) postgresql
	$(BIN)/python -m pytest -q -m slow

demo: $(STAMP)
	$(BIN)/python -m devstack.demo $(DEMO_ARGS)

simulator: $(STAMP)
	$(BIN)/python -m simulator $(SIM_ARGS)

worker: $(STAMP)
	$(BIN)/python worker.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# Re-record the replay histories under tests/replay/histories from real runs on a local stack (~20 s).
.PHONY: record-histories
record-histories: $(STAMP)
	$(BIN)/python -m tests.replay.record_histories
