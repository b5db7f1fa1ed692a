# The two commands in the README:
#   make run    start a single-node broker (Kafka 9092, data in ./data) until Ctrl-C
#   make test   install everything the tests need, then lint, type-check and run every test
# Both work as the first command on a fresh machine.

VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: run test venv test-deps lint typecheck pytest clean bench compile

run: venv
	$(VENV)/bin/rafka broker $(ARGS)

venv:
	@scripts/bootstrap.sh $(VENV)

test-deps:
	@scripts/bootstrap.sh $(VENV) test
	@scripts/install-test-tools.sh

# Rebuild the compiled twins after editing their modules (run and test do it too).
compile:
	$(PY) scripts/compile.py

lint:
	$(VENV)/bin/ruff check rafka tests benchmarks scripts

typecheck:
	$(VENV)/bin/mypy

pytest:
	$(VENV)/bin/pytest $(ARGS)

test: test-deps lint typecheck pytest

# Rafka next to Tansu, Redis Streams and NATS JetStream on this machine (~25 min; ARGS=--quick
# for ~6 min). Installs its own prerequisites; writes docs/benchmarks.md and docs/benchmarks.png.
# Never part of `make test` or CI.
bench:
	benchmarks/setup.sh
	$(PY) benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
