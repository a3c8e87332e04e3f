"""Benchmarks: sessionorm's flush against Django, SQLAlchemy, raw psycopg2 and COPY.

Run with ``make bench`` or ``python -m bench --help``; what each scenario and contender
measures, and the latest results, are in ``docs/performance.md``.

Layout: ``scenarios`` (the data each scenario starts from, its sizes, and the database
state every contender must leave), ``contenders/`` (one module per way of writing the
changes, one class per scenario), ``runner`` (timing, interleaving, checks), ``report``
(tables, JSON, chart), ``targets`` (issue 5's targets), ``profiling`` (pyinstrument).
This package is also the Django app of the benchmark models (``bench.models``).
"""
