# The newcomer's entry points. Every target builds the virtual environment it
# needs from pyproject.toml, so a fresh clone needs nothing but python3 and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv run chat migrate migration test test-security lint typecheck format package bench mutation cards docs infra-check clean

# checkov lives in its own virtual environment: it pins dozens of packages that
# must not mix with the bot's. Built on first use, once per machine (the stamp
# names the version, so changing the pin rebuilds it).
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := .venv-checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

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

migrate: $(STAMP) ## apply pending schema migrations to DATABASE_URL (production's release step)
	$(PY) -m bot.store.migrations upgrade

migration: $(STAMP) ## write the next schema revision from the models: make migration m="add x"
	@test -n "$(m)" || { echo 'usage: make migration m="what the revision changes"'; exit 2; }
	$(PY) -m bot.store.migrations new "$(m)"
	$(PY) -m ruff format --quiet bot/store/migrations/versions

test: $(STAMP) infra-check lint ## run the whole test suite (after checkov, lint, the format check and mypy)
	$(PY) -m pytest -q

test-security: $(STAMP) ## run only the security and fault suites
	$(PY) -m pytest -q -m "security or faults"

lint: $(STAMP) typecheck ## ruff (lint and format check) and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP) ## mypy, strict, over the paths in pyproject.toml's [tool.mypy]
	$(PY) -m mypy

format: $(STAMP) ## ruff format + import sort
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

package: $(STAMP) ## build dist/ice-downtime-assistant.zip (BOT_ID=... or MicrosoftAppId)
	$(PY) -m manifest.build

bench: $(STAMP) ## load benchmark: bare aiohttp vs stock echo bot vs this bot
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m bench.run

MUTATION_JOBS ?= 2
mutation: $(STAMP) ## mutation testing of the modules in mutation/targets.py (slow; docs/coverage.md)
	$(PY) -m pip install --quiet -e '.[dev,mutation]'
	$(PY) -m mutation --jobs $(MUTATION_JOBS) $(MODULES)

docs: $(STAMP) ## rewrite docs/request-form.md from the form's declarations (a test checks it)
	$(PY) -m bot.orders.form_review

# The gallery needs node, npm and Debian's Chromium; installed here when missing
# (apt needs root, as on CI and the team's machines). Not part of `make test`.
CARDS_DIR := tools/cards
cards: $(STAMP) ## picture every card, light and dark, 500 and 360 px, into docs/cards/
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation fonts-dejavu-core >/dev/null; }
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	@test -d $(CARDS_DIR)/node_modules/adaptivecards || (cd $(CARDS_DIR) && npm ci --no-audit --no-fund --silent)
	$(PY) $(CARDS_DIR)/build.py

$(CHECKOV_STAMP):
	@rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	@touch $(CHECKOV_STAMP)

# Offline (--skip-download: no Prisma Cloud calls). checkov exits 0 when it
# cannot parse a file, so a parsing error fails here explicitly.
infra-check: $(CHECKOV_STAMP) ## checkov: scan the Azure templates in infra/azure (offline)
	@$(CHECKOV_VENV)/bin/checkov --directory infra/azure --framework bicep --skip-download \
		--compact --quiet > $(CHECKOV_VENV)/report.txt; status=$$?; \
	cat $(CHECKOV_VENV)/report.txt; \
	if grep -q 'Parsing errors' $(CHECKOV_VENV)/report.txt; then \
		echo "infra-check: checkov could not parse a template, so its checks did not run" >&2; exit 1; fi; \
	if ! grep -q 'Passed checks: [1-9]' $(CHECKOV_VENV)/report.txt; then \
		echo "infra-check: checkov checked nothing" >&2; exit 1; fi; \
	exit $$status

clean: ## remove the virtual environments and local state
	rm -rf $(VENV) $(CHECKOV_VENV) var dist .pytest_cache .ruff_cache .mypy_cache .hypothesis
