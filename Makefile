# Two commands for a fresh machine with Python >= 3.11 and make:
#   make run    create .venv, install Foley, start the bot
#   make test   create .venv, install Foley with test tools, run every test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint check sync simulator bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,ffmpeg]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m bot run

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

check: $(STAMP)
	$(BIN)/python -m bot check

sync: $(STAMP)
	$(BIN)/python -m bot sync

simulator: $(STAMP)
	$(BIN)/python -m bot.simulator

bench: $(STAMP)
	$(BIN)/python bench/ledger_bench.py
	$(BIN)/python -m bench.jobs_bench
	$(BIN)/python bench/dispatch_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
