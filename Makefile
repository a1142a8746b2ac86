# Everything installs from nothing: `make run` and `make test` create .venv first. The install
# compiles the C extensions (setup.py); editing their sources re-runs the install.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
CSRC    := threshold/groups/_ed25519.c threshold/groups/_ed25519_x64.c threshold/groups/_modp.c threshold/_hashing.c mpc_ml/_ring.c
HASH    := $(shell cat pyproject.toml setup.py $(CSRC) | sha256sum | cut -c1-12)
RUN_STAMP  := $(VENV)/.run-$(HASH)
TEST_STAMP := $(VENV)/.test-$(HASH)

.PHONY: run test install install-test build-deps system-deps bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# `make run` needs the web extra only; `make test` adds the test tools and the optional
# extras (torch 2.13.0 from the local wheel, Flower) so that every adapter is tested.
$(RUN_STAMP): $(BIN)/python pyproject.toml setup.py $(CSRC) | build-deps
	$(BIN)/pip install -q -e '.[web]'
	touch $(RUN_STAMP)

$(TEST_STAMP): $(BIN)/python pyproject.toml setup.py $(CSRC) | build-deps
	$(BIN)/pip install -q -e '.[web,test,ml,flower]'
	touch $(TEST_STAMP) $(RUN_STAMP)

install: $(RUN_STAMP)

install-test: $(TEST_STAMP)

# OpenSSL's headers for threshold/groups/_modp.c and threshold/_hashing.c (libcrypto itself is on every Debian).
build-deps:
	@if [ ! -f /usr/include/openssl/bn.h ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev >/dev/null; \
	  else echo "OpenSSL headers missing: run 'sudo apt-get install libssl-dev'"; exit 1; fi; \
	fi

# Debian's chromium for the browser tests (Playwright cannot download browsers here).
system-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium' for the browser tests"; fi; \
	fi

run: install
	$(BIN)/quorum serve --demo

test: install-test system-deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: install-test
	$(BIN)/python benchmarks/core.py

clean:
	rm -rf $(VENV) build *.egg-info threshold/groups/_ed25519*.so threshold/groups/_modp*.so threshold/_hashing*.so mpc_ml/_ring*.so

# One virtualenv per reference system (ElectionGuard, CrypTen, MPyC, OpenMined PSI,
# Flower) under $ANCHOR_VENVS (default ~/anchor-venvs); never in .venv.
.PHONY: anchors
anchors:
	bash benchmarks/setup_anchors.sh
