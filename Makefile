# The newcomer's entry points. Every target builds the virtual environment it
# needs from pyproject.toml, so a fresh clone needs nothing but python3 and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv run chat test test-security lint format package bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## create .venv and install the bot with its test tools

run: $(STAMP) ## start the bot on :3978 (development defaults: SQLite, mail to files)
	$(PY) app.py --dev-defaults

chat: $(STAMP) ## talk to a running bot from the terminal, playing Teams
	$(PY) -m bot.devchat

test: $(STAMP) ## run the whole test suite (after lint and the format check)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q

test-security: $(STAMP) ## run only the security and fault suites
	$(PY) -m pytest -q -m "security or faults"

lint: $(STAMP) ## ruff: lint and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP) ## ruff format + import sort
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

package: $(STAMP) ## build dist/ice-downtime-assistant.zip (BOT_ID=... or MicrosoftAppId)
	$(PY) -m manifest.build

bench: $(STAMP) ## load benchmark: bare aiohttp vs stock echo bot vs this bot
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m bench.run

clean: ## remove the virtual environment and local state
	rm -rf $(VENV) var dist .pytest_cache .ruff_cache .hypothesis
