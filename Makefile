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

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

demo: $(STAMP)
	$(BIN)/python -m devstack.demo $(DEMO_ARGS)

simulator: $(STAMP)
	$(BIN)/python -m simulator $(SIM_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# Re-record the replay histories under tests/replay/histories from real runs on a local stack (~20 s).
.PHONY: record-histories
record-histories: $(STAMP)
	$(BIN)/python -m tests.replay.record_histories
