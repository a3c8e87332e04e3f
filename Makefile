# make demo   the demo on SQLite at http://127.0.0.1:8000/
# make test   the suite on PostgreSQL then SQLite, under Django 5.2 (Python 3.11, .venv)
#             and Django 6.1 (newest Python >= 3.12, .venv-django61)
# make lint   ruff
# make bench  the benchmark suite (bench/, docs/performance.md) on a throwaway PostgreSQL;
#             options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--only update --repeat 3"
#
# Each venv is made once and reinstalled only when pyproject.toml changes (a stamp file).

PYTHON ?= python3
VENV := .venv
VENV61 := .venv-django61
PIP_INSTALL = bin/pip install -q --disable-pip-version-check

.PHONY: demo test lint bench

demo: $(VENV)/.stamp-demo
	$(VENV)/bin/python manage.py migrate
	$(VENV)/bin/python manage.py demo_data
	$(VENV)/bin/python manage.py runserver 127.0.0.1:8000

# All four runs go ahead even when one fails, so one `make test` shows everything; the
# target fails if any did. Each run ends with pytest's summary line, the last run's last.
# pgserver has no wheel for Python 3.13, so the Django 6.1 runs borrow .venv's binaries.
test: $(VENV)/.stamp-test $(VENV61)/.stamp-test
	@status=0; \
	echo "==== ruff ===="; \
	$(VENV)/bin/ruff check . || status=1; \
	echo "==== Django 5.2 on PostgreSQL ===="; \
	$(VENV)/bin/python -m pytest || status=1; \
	echo "==== Django 5.2 on SQLite ===="; \
	$(VENV)/bin/python -m pytest --ds=settings.test_sqlite || status=1; \
	echo "==== Django 6.1 on PostgreSQL ===="; \
	PG_BINDIR="$${PG_BINDIR:-$$($(VENV)/bin/python -m tests.pgserver --bindir 2>/dev/null)}" \
	$(VENV61)/bin/python -m pytest || status=1; \
	echo "==== Django 6.1 on SQLite ===="; \
	$(VENV61)/bin/python -m pytest --ds=settings.test_sqlite || status=1; \
	exit $$status

lint: $(VENV)/.stamp-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# 6-10 minutes on 2 cores; results in bench/results/ (see docs/performance.md).
bench: $(VENV)/.stamp-bench
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Django 6.1 needs Python 3.12+; scripts/find_python.sh explains itself when none is found.
$(VENV61)/bin/python:
	@python=$$(scripts/find_python.sh) && echo "$$python -m venv $(VENV61)" && \
	"$$python" -m venv $(VENV61)

$(VENV)/.stamp-demo: pyproject.toml | $(VENV)/bin/python
	$(VENV)/$(PIP_INSTALL) -e .
	@touch $@

$(VENV)/.stamp-test: pyproject.toml | $(VENV)/bin/python
	$(VENV)/$(PIP_INSTALL) -e '.[test]' 'Django>=5.2,<5.3'
	@touch $@

$(VENV)/.stamp-bench: pyproject.toml | $(VENV)/bin/python
	$(VENV)/$(PIP_INSTALL) -e '.[test,bench]' 'Django>=5.2,<5.3'
	@touch $@

$(VENV61)/.stamp-test: pyproject.toml | $(VENV61)/bin/python
	$(VENV61)/$(PIP_INSTALL) -e '.[test]' 'Django>=6.1,<6.2'
	@touch $@

