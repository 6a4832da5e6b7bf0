# Two commands for a fresh machine with Python >= 3.11 and make:
#   make run    create .venv, install Foley (runtime + ffmpeg extra), start the bot
#   make test   the same, plus the test tools (dev extra), then run every test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Two stamps, so `make run` never installs test tools and `make test` afterwards
# adds only the dev extra.
RUNTIME := $(VENV)/.installed-runtime
DEV     := $(VENV)/.installed-dev

.PHONY: run test lint check sync simulator demo bench clean

$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[ffmpeg]"
	touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e ".[dev,ffmpeg]"
	touch $(DEV)

run: $(RUNTIME)
	$(BIN)/python -m bot run

check: $(RUNTIME)
	$(BIN)/python -m bot check

sync: $(RUNTIME)
	$(BIN)/python -m bot sync

simulator: $(RUNTIME)
	$(BIN)/python -m bot.simulator

# Simulator + the tests' fake Discord + the bot, a scripted session; audio in demo-output/.
# Needs the dev extra: the fake Discord lives with the tests (tests/fakes).
demo: $(DEV)
	$(BIN)/python -m demo

test: $(DEV)
	$(BIN)/python -m pytest -q

lint: $(DEV)
	$(BIN)/ruff check .

bench: $(DEV)
	$(BIN)/python bench/ledger_bench.py
	$(BIN)/python -m bench.jobs_bench
	$(BIN)/python -m bench.poll_bench
	$(BIN)/python bench/dispatch_bench.py
	$(BIN)/python -m bench.scale_bench
	$(BIN)/python -m bench.voice_bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo-output
