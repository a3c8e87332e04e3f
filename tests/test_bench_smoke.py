"""The benchmark suite, untimed: every contender's result is right on every scenario.

``python -m bench --quick`` runs in a subprocess (it sets Django up with its own
settings and models) against the server this test run uses: ``DATABASE_URL`` is set by
``settings.test``, so the subprocess starts no second server; it creates, and drops,
a database of its own on it. Tiny sizes, one run per case, no chart: about 10 s.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgresql

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "insert_graph",
    "update",
    "delete",
    "mixed",
    "dirty_in_large_map",
    "get_hit",
    "load",
    "memory",
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """``latest.json`` of one ``python -m bench --quick`` run, and its output."""
    pytest.importorskip(
        "sqlalchemy", reason="the benchmark compares against SQLAlchemy: pip install -e '.[test]'"
    )
    assert os.environ.get("DATABASE_URL"), "settings.test sets DATABASE_URL"
    out = tmp_path_factory.mktemp("bench")
    command = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--no-chart",
        "--out",
        str(out),
        "--database",
        f"sessionorm_bench_smoke_{os.getpid()}",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads((out / "latest.json").read_text()), result


def test_every_scenario_ran_on_the_test_server(results):
    data, _result = results
    assert data["server"] == "DATABASE_URL"  # no second server
    assert data["notes"] == []  # every contender available
    [run] = data["runs"]
    assert set(run["scenarios"]) == SCENARIOS


def test_every_contender_checks_out_on_every_scenario(results):
    data, _result = results
    for name, scenario in data["runs"][0]["scenarios"].items():
        assert len(scenario["results"]) >= 3, name
        for label, result in scenario["results"].items():
            assert result["error"] is None, f"{name} / {label}: {result['error']}"
            assert len(result["times"]) == 1 and result["ops"] > 0, f"{name} / {label}"


def test_sessionorm_batches_and_reads_the_identity_map(results):
    """The statement counts the suite reports: what the flush plan promises."""
    scenarios = results[0]["runs"][0]["scenarios"]
    # One INSERT per table, or a key reservation and a COPY per table on the COPY path.
    assert scenarios["insert_graph"]["results"]["sessionorm"]["statements"] <= 4
    assert scenarios["update"]["results"]["sessionorm"]["statements"] <= 1
    assert scenarios["get_hit"]["results"]["sessionorm"]["statements"] == 0
    assert scenarios["get_hit"]["results"]["django"]["statements"] > 0


def test_the_markdown_report_has_a_table_per_scenario(results):
    data, result = results
    for name in SCENARIOS:
        assert f"### {name} — " in result.stdout
