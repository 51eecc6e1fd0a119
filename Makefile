# An index of the project's commands, not a program: the logic lives in .ci/setup, manage.py
# commands and pyproject.toml. Pass extra arguments with ARGS, e.g. `make test ARGS="-k alarm"`.
PY := .venv/bin/python
# The suite runs on two cores (pytest-xdist; each worker has its own test database, topic root
# and channel-layer prefix): 12 min 52 s on the 2-core box (2026-12-04). `make test WORKERS=0` runs serially.
WORKERS ?= 2

.PHONY: run test lint bench

run:  ## set up this machine, then run the HMI, its own lossless broker, the ingest worker, simulator
	bash .ci/setup
	$(PY) manage.py run $(ARGS)

test:  ## set up this machine, then run the whole test suite on the real services
	bash .ci/setup
	$(PY) -m pytest -n $(WORKERS) $(ARGS)

lint:  ## what CI checks before the tests
	bash .ci/setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
	$(PY) manage.py check && $(PY) manage.py makemigrations --check --dry-run
	.venv/bin/mypy  # pyproject.toml [tool.mypy]: strict for most of plant/ and ingest/

bench:  ## print the figures of every bench/*.py script
	bash .ci/setup
	for script in bench/*.py; do [ -e "$$script" ] || continue; $(PY) "$$script" || exit 1; done
