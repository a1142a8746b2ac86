# Everything installs from nothing: `make run` and `make test` create .venv first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: run test install system-deps bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[web,test,ml,flower]'
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the browser tests (Playwright cannot download browsers here).
system-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium' for the browser tests"; fi; \
	fi

run: install
	$(BIN)/quorum serve --demo

test: install system-deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: install
	$(BIN)/python benchmarks/core.py

clean:
	rm -rf $(VENV) build *.egg-info

# One virtualenv per reference system (ElectionGuard, CrypTen, MPyC, OpenMined PSI,
# Flower) under $ANCHOR_VENVS (default ~/anchor-venvs); never in .venv.
.PHONY: anchors
anchors:
	bash benchmarks/setup_anchors.sh
