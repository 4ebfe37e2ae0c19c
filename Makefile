# The two commands of the README: `make demo` (install + quickstart) and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.benchsel-installed

.PHONY: demo test install lint typecheck clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	VENV=$(VENV) bash scripts/install.sh

demo: $(STAMP)
	$(BIN)/benchsel list
	$(BIN)/benchsel run suites/quickstart.yaml

test: $(STAMP)
	bash scripts/install_browser.sh
	$(BIN)/python -m pytest -q -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check benchsel tests benchmarks scripts
	$(BIN)/ruff format --check benchsel tests benchmarks scripts
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV)
