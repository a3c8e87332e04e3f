"""``--profile``: where a case's ``run()`` spends its time, summarised.

Each selected case runs ``PROFILE_RUNS`` times (setup and check untimed as usual) and
only the samples inside its ``run()`` count. The summary lists the time by package
(self time) and the top functions by self and by inclusive time, as percentages of
``run()``. Time inside a C call (psycopg2's ``execute``, waiting for the server) is
the self time of the Python function that made it, e.g. Django's
``CursorWrapper._execute``.

Two samplers, best first:

- py-spy (``pip install py-spy``): samples from outside the process, so the program
  runs at full speed and the percentages are those of a normal run. ``python -m bench
  --profile`` re-runs itself under ``py-spy record --idle`` (idle, so time waiting for
  the server counts) and reads its raw stacks.
- pyinstrument, in-process: its profiling hook slows call-heavy Python code
  (2-4× here), which inflates the share of small, often-called functions; used when
  py-spy is missing, or with ``--profiler pyinstrument``. It also writes its HTML tree.
"""

from __future__ import annotations

import gc
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench.scenarios import SCENARIOS

PROFILE_RUNS = 5
PYSPY_RATE = 500  # samples per second
PYINSTRUMENT_INTERVAL = 0.0005  # seconds
CHILD = "SESSIONORM_BENCH_PROFILE_CHILD"  # set in the process py-spy samples: its manifest
_FRAME = re.compile(r"^(.*) \((.*?)(?::(\d+))?\)$")


def pyspy() -> str | None:
    """The py-spy executable beside this Python, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def wanted_sampler(choice: str) -> str:
    if choice == "py-spy" or (choice == "auto" and pyspy()):
        return "py-spy"
    return "pyinstrument"


def record_with_pyspy(argv: list[str], out: Path, top: int = 15) -> int:
    """Run ``python -m bench argv`` under py-spy and summarise each profiled case."""
    executable = pyspy()
    if executable is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    raw, manifest = out / "profile.raw", out / "profile-manifest.json"
    command = [
        executable,
        "record",
        "--idle",
        "--rate",
        str(PYSPY_RATE),
        "--format",
        "raw",
        "--output",
        str(raw),
        "--",
        sys.executable,
        "-m",
        "bench",
        *argv,
    ]
    status = subprocess.run(command, env={**os.environ, CHILD: str(manifest)}).returncode
    if status != 0 or not manifest.exists():
        return status or 1
    stacks = _read_raw(raw)
    for entry in json.loads(manifest.read_text()):
        samples = [
            (stack[index + 1 :], count)
            for stack, count in stacks
            if (index := _run_frame(stack, entry)) is not None
        ]
        title = f"{entry['scenario']} / {entry['label']}"
        seconds = sum(entry["seconds"])
        weight = seconds / max(1, sum(count for _stack, count in samples))
        text = summarise(
            [(stack, count * weight) for stack, count in samples],
            f"{title}: {len(entry['seconds'])} runs, {seconds:.3f} s, "
            f"{sum(c for _s, c in samples):,} samples at {PYSPY_RATE}/s (py-spy, --idle)",
            top,
        )
        (out / f"profile-{_slug(title)}.txt").write_text(text)
        print(text)
    return 0


def _read_raw(path: Path) -> list[tuple[list[tuple], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if not frames or not count.isdigit():
            continue
        parsed = []
        for frame in frames.split(";"):
            match = _FRAME.match(frame)
            if match:
                parsed.append((match[1], match[2], int(match[3] or 0)))
            else:
                parsed.append((frame, "?", 0))
        stacks.append((parsed, int(count)))
    return stacks


def _run_frame(stack, entry) -> int | None:
    """The index of the case's ``run()`` frame in ``stack``, or None."""
    for index, (function, path, line) in enumerate(stack):
        if (
            function.rpartition(".")[2] == "run"  # py-spy names methods Class.method
            and entry["file"].endswith(path)
            and entry["first"] <= line <= entry["last"]
        ):
            return index
    return None


def profile_cases(env, selected, out: Path, sampler: str, top: int = 15) -> int:
    """Run each ``(scenario, case class, sizes)`` ``PROFILE_RUNS`` times, profiled."""
    manifest = []
    for name, case_class, sizes in selected:
        label = case_class.label(sizes)
        print(f"profiling {name} / {label} ({PROFILE_RUNS} runs)", file=sys.stderr)
        source, first = inspect.getsourcelines(case_class.run)
        entry = {
            "scenario": name,
            "label": label,
            "file": inspect.getsourcefile(case_class.run),
            "first": first,
            "last": first + len(source) - 1,
            "seconds": [],
        }
        profiler = None
        if sampler == "pyinstrument":
            from pyinstrument import Profiler

            profiler = Profiler(interval=PYINSTRUMENT_INTERVAL)
        for _ in range(PROFILE_RUNS):
            entry["seconds"].append(_run_once(env, name, case_class, sizes, profiler))
        manifest.append(entry)
        if profiler is not None:
            title = f"{name} / {label}"
            out.mkdir(parents=True, exist_ok=True)
            (out / f"profile-{_slug(title)}.html").write_text(profiler.output_html())
            text = summarise(
                list(_tree_samples(profiler.last_session.root_frame())),
                f"{title}: {PROFILE_RUNS} runs, {sum(entry['seconds']):.3f} s under the profiler "
                f"(pyinstrument, {PYINSTRUMENT_INTERVAL * 1000:g} ms; slows Python calls)",
                top,
            )
            (out / f"profile-{_slug(title)}.txt").write_text(text)
            print(text)
    if os.environ.get(CHILD):
        Path(os.environ[CHILD]).write_text(json.dumps(manifest, indent=1))
    return 0


def _run_once(env, name, case_class, sizes, profiler) -> float:
    env.truncate()
    SCENARIOS[name].seed(env, sizes)
    case = case_class(env)
    try:
        case.setup(sizes)
        gc.collect()
        if profiler is not None:
            profiler.start()
        start = time.perf_counter()
        case.run()
        elapsed = time.perf_counter() - start
        if profiler is not None:
            profiler.stop()
        case.check()
    finally:
        case.teardown()
        env.raw.rollback()
    return elapsed


def _tree_samples(root):
    """pyinstrument's frame tree as (stack below run(), self seconds) pairs."""

    def walk(frame, stack):
        here = [*stack, (frame.function, frame.file_path_short or "?", frame.line_no or 0)]
        yield here, frame.total_self_time
        for child in frame.children:
            if not child.is_synthetic:
                yield from walk(child, here)

    for stack, seconds in walk(root, []):
        index = next((i for i, f in enumerate(stack) if f[0] == "run"), None)
        if index is not None:  # only what the timed run() did (pyinstrument ran only then)
            yield stack[index + 1 :], seconds


def summarise(samples, title: str, top: int) -> str:
    """Percentages of the time in ``samples``: ``[(stack of (function, file, line), s)]``."""
    total = sum(seconds for _stack, seconds in samples) or 1e-12
    own: dict = defaultdict(float)
    inclusive: dict = defaultdict(float)
    packages: dict = defaultdict(float)
    for stack, seconds in samples:
        if not stack:
            own[("run() itself", "")] += seconds
            packages["bench"] += seconds
            continue
        stack = [_driver(frame) for frame in stack]
        function, path, _line = stack[-1]
        own[(function, path)] += seconds
        packages[_package(path)] += seconds
        for key in {(f, p) for f, p, _l in stack}:
            inclusive[key] += seconds
    lines = [
        title,
        "self time by package: "
        + ", ".join(
            f"{package} {seconds / total:.0%}"
            for package, seconds in sorted(packages.items(), key=lambda kv: -kv[1])
            if seconds / total >= 0.005
        ),
        "",
        f"top {top} by self time:",
        *_ranked(own, own, inclusive, total, top),
        "",
        f"top {top} of sessionorm's functions by inclusive time:",
        *_ranked(
            {k: v for k, v in inclusive.items() if k[1].startswith("sessionorm/")},
            own,
            inclusive,
            total,
            top,
        ),
    ]
    return "\n".join(lines) + "\n"


def _ranked(source, own, inclusive, total, top) -> list[str]:
    rows = ["  %self  %incl  function (file)"]
    for key, _seconds in sorted(source.items(), key=lambda kv: -kv[1])[:top]:
        function, path = key[0], key[1]
        rows.append(
            f"  {own.get(key, 0) / total:5.1%} {inclusive.get(key, 0) / total:6.1%}  "
            f"{function} ({path})"
        )
    return rows


def _driver(frame: tuple) -> tuple:
    """The bench's counting cursor stands for psycopg2's C cursor: the time in it is
    the driver's and the server's (sending, waiting, reading the result)."""
    function, path, line = frame
    if function.startswith("CountingCursor."):
        return (f"cursor.{function.partition('.')[2]}", "<psycopg2 + server>", line)
    return frame


def _package(path: str) -> str:
    if path == "<psycopg2 + server>":
        return "psycopg2 + server"
    for package in ("sessionorm", "django", "sqlalchemy", "psycopg2", "bench"):
        if path.startswith(f"{package}/") or f"/{package}/" in path:
            return package
    return "python" if path not in ("", "?") else "C/other"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
