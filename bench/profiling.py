"""``--profile``: one run of each selected case under pyinstrument, summarised.

For every case the summary lists where the time went by package (self time) and the
top functions by self time and by inclusive time, as percentages of the run;
pyinstrument's own HTML tree is written beside it (``profile-<scenario>-<case>.html``).
Time inside a C call (psycopg2's ``execute``, waiting for the server) is the self time
of the Python function that made the call, e.g. Django's ``CursorWrapper._execute``.
"""

from __future__ import annotations

import gc
import re
from collections import defaultdict
from pathlib import Path

from bench.scenarios import SCENARIOS

INTERVAL = 0.0005  # seconds between samples


def profile(env, name: str, case_class, sizes: dict, out: Path, top: int = 15) -> str:
    """Profile one run of ``case_class`` on scenario ``name``; return the text summary."""
    from pyinstrument import Profiler

    scenario = SCENARIOS[name]
    env.truncate()
    scenario.seed(env, sizes)
    case = case_class(env)
    try:
        case.setup(sizes)
        gc.collect()
        profiler = Profiler(interval=INTERVAL)
        profiler.start()
        case.run()
        profiler.stop()
        case.check()
    finally:
        case.teardown()
        env.raw.rollback()
    label = case_class.label(sizes)
    slug = re.sub(r"[^a-z0-9]+", "-", f"{name}-{label}".lower()).strip("-")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"profile-{slug}.html").write_text(profiler.output_html())
    text = summarise(profiler.last_session.root_frame(), f"{name} / {label}", top)
    (out / f"profile-{slug}.txt").write_text(text)
    return text


def summarise(root, title: str, top: int) -> str:
    total = root.time or 1e-12
    self_time: dict = defaultdict(float)
    inclusive: dict = defaultdict(float)
    packages: dict = defaultdict(float)

    def walk(frame, stack: frozenset) -> None:
        key = (frame.function, frame.file_path_short or "?", frame.line_no or 0)
        self_time[key] += frame.total_self_time
        packages[_package(frame.file_path or "")] += frame.total_self_time
        if key not in stack:  # count a recursive function's time once
            inclusive[key] += frame.time
        for child in frame.children:
            if not child.is_synthetic:
                walk(child, stack | {key})

    walk(root, frozenset())
    lines = [
        f"{title}: {total:.3f} s sampled every {INTERVAL * 1000:g} ms (pyinstrument)",
        "self time by package: "
        + ", ".join(
            f"{package} {seconds / total:.0%}"
            for package, seconds in sorted(packages.items(), key=lambda kv: -kv[1])
            if seconds / total >= 0.005
        ),
        "",
        f"top {top} by self time:",
    ]
    lines += _ranked(self_time, inclusive, total, top, by_self=True)
    lines += ["", f"top {top} by inclusive time (sessionorm's own functions):"]
    mine = {k: v for k, v in inclusive.items() if "sessionorm/" in k[1]}
    lines += _ranked(self_time, mine, total, top, by_self=False)
    return "\n".join(lines) + "\n"


def _ranked(self_time, inclusive, total, top, by_self) -> list[str]:
    source = self_time if by_self else inclusive
    ranked = sorted(source.items(), key=lambda kv: -kv[1])[:top]
    rows = ["  %self  %incl  function (file:line)"]
    for key, _seconds in ranked:
        function, path, line = key
        rows.append(
            f"  {self_time.get(key, 0) / total:5.1%} {inclusive.get(key, 0) / total:6.1%}  "
            f"{function} ({path}:{line})"
        )
    return rows


def _package(path: str) -> str:
    for package in ("sessionorm", "django", "sqlalchemy", "psycopg2", "bench"):
        if f"/{package}/" in path:
            return package
    return "python" if path else "C/other"
