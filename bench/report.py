"""The results as Markdown tables, JSON and a chart of the ratios to sessionorm."""

from __future__ import annotations

import json
import os
import re
import statistics
from datetime import UTC, datetime
from pathlib import Path

from bench.scenarios import SCENARIOS

REFERENCE = "sessionorm"
LOWER_BOUND = "copy"


def ratio(run, scenario: str, label: str, reference: str) -> float | None:
    mine, theirs = run.per_op(scenario, label), run.per_op(scenario, reference)
    if mine is None or not theirs:
        return None
    return mine / theirs


def _x(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3g}×" if value < 10 else f"{value:,.0f}×"


def _s(value: float) -> str:
    return f"{value:.4f}" if value < 10 else f"{value:.1f}"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def scenario_table(run, name: str) -> str:
    scenario = SCENARIOS[name]
    outcomes = run.outcomes[name]
    lines = [
        f"### {name} — {scenario.title.format(**run.sizes[name])}"
        + (f" (scale {run.scale}×)" if run.scale != 1 else ""),
        "",
    ]
    if scenario.kind == "memory":
        return "\n".join(lines + _memory_table(run, name, outcomes)) + "\n"
    has_copy = any(o.label == LOWER_BOUND for o in outcomes)
    if scenario.kind == "calls":
        head = (
            "| contender | median µs/call | min µs | max µs | calls/s | × sessionorm "
            "| statements/call | gc |"
        )
        align = "|---|--:|--:|--:|--:|--:|--:|--:|"
    else:
        head = "| contender | median s | min s | max s | rows/s |"
        head += " × copy |" if has_copy else ""
        head += " × sessionorm | statements | gc |"
        align = "|---|--:|--:|--:|--:|" + ("--:|" if has_copy else "") + "--:|--:|--:|"
    lines += [head, align]
    for o in outcomes:
        if not o.ok:
            reason = o.error or "no measurement"
            lines.append(f"| {o.label} | FAILED: {reason.replace('|', '/')} |")
            continue
        if scenario.kind == "calls":
            per = 1e6 / o.ops
            statements = "—" if o.statements is None else f"{o.statements / o.ops:.3g}"
            lines.append(
                f"| {o.label} | {o.median * per:.2f} | {min(o.times) * per:.2f} | "
                f"{max(o.times) * per:.2f} | {_rate(o.ops / o.median)} | "
                f"{_x(ratio(run, name, o.label, REFERENCE))} | {statements} | {_gc(o)} |"
            )
            continue
        row = (
            f"| {o.label} | {_s(o.median)} | {_s(min(o.times))} | {_s(max(o.times))} | "
            f"{_rate(o.ops / o.median)} |"
        )
        if has_copy:
            row += f" {_x(ratio(run, name, o.label, LOWER_BOUND))} |"
        statements = "—" if o.statements is None else f"{o.statements:,}"
        row += f" {_x(ratio(run, name, o.label, REFERENCE))} | {statements} | {_gc(o)} |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def _gc(outcome) -> str:
    """The median share of a run spent in the cyclic garbage collector."""
    if not outcome.gc_times:
        return "—"
    shares = [g / t for g, t in zip(outcome.gc_times, outcome.times, strict=True) if t]
    return f"{statistics.median(shares):.0%}" if shares else "—"


def _memory_table(run, name: str, outcomes) -> list[str]:
    baseline = next((o for o in outcomes if o.label == "django" and o.metrics), None)
    lines = [
        "| contender | objects | peak MiB | held B/object | overhead vs django B/object "
        "| after drop B/object | alive after drop | still in session |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for o in outcomes:
        if not o.ok or not o.metrics:
            lines.append(f"| {o.label} | FAILED: {(o.error or 'no measurement')} |")
            continue
        m = o.metrics[-1]
        overhead = "—"
        if baseline is not None:
            overhead = f"{m['held_per_object'] - baseline.metrics[-1]['held_per_object']:,.0f}"
        mapped = "—" if m["still_mapped"] is None else f"{m['still_mapped']:,}"
        lines.append(
            f"| {o.label} | {m['objects']:,} | {m['peak_bytes'] / 2**20:,.1f} | "
            f"{m['held_per_object']:,.0f} | {overhead} | {m['dropped_per_object']:,.1f} | "
            f"{m['alive']:,} | {mapped} |"
        )
    return lines


def growth_rows(runs) -> list[dict]:
    """Time per row at the largest scale over time per row at 1×, per case."""
    if len(runs) < 2:
        return []
    small, large = runs[0], runs[-1]
    rows = []
    for name, outcomes in large.outcomes.items():
        if SCENARIOS[name].kind != "rows" or not SCENARIOS[name].scaled:
            continue
        for o in outcomes:
            before, after = small.per_op(name, o.label), large.per_op(name, o.label)
            rows.append(
                {
                    "scenario": name,
                    "contender": o.label,
                    "per_row_1x": before,
                    "per_row_nx": after,
                    "growth": after / before if before and after else None,
                }
            )
    return rows


def growth_table(runs) -> str:
    rows = growth_rows(runs)
    if not rows:
        return ""
    scale = runs[-1].scale
    lines = [
        f"### Growth: time per row, 1× → {scale}×",
        "",
        f"| scenario | contender | µs/row at 1× | µs/row at {scale}× | growth |",
        "|---|---|--:|--:|--:|",
    ]
    for row in rows:

        def us(value):
            return "—" if value is None else f"{value * 1e6:.2f}"

        lines.append(
            f"| {row['scenario']} | {row['contender']} | {us(row['per_row_1x'])} | "
            f"{us(row['per_row_nx'])} | {_x(row['growth'])} |"
        )
    return "\n".join(lines) + "\n"


def targets_table(targets: list[dict]) -> str:
    lines = ["| target | measured | met? |", "|---|---|:-:|"]
    marks = {True: "yes", False: "**no**", None: "—"}
    for t in targets:
        lines.append(f"| {t['target']} | {t['measured']} | {marks[t['met']]} |")
    return "\n".join(lines) + "\n"


def environment_lines(info: dict) -> str:
    m, v = info["machine"], info["versions"]
    memory = f"{m['memory_bytes'] / 2**30:.1f} GiB" if m.get("memory_bytes") else "?"
    return (
        f"- machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), "
        f"{memory} RAM, {m['platform']}; load average {m.get('load_before')} before, "
        f"{m.get('load_after')} after\n"
        f"- versions: Python {v['python']}, Django {v['django']}, SQLAlchemy "
        f"{v['sqlalchemy']}, psycopg2 {v['psycopg2']}, PostgreSQL {v['postgresql']}, "
        f"sessionorm {v['sessionorm']}\n"
        f"- options: {info['options']}\n"
    )


def markdown(runs, targets, info: dict, notes: list[str], tables=None) -> str:
    """The report; ``tables``: the runs whose per-scenario tables to include (all)."""
    parts = [f"## Benchmark results ({info['date']})\n", environment_lines(info)]
    parts += [f"- note: {note}\n" for note in notes]
    if targets:
        parts += ["\n### Targets (issue 5)\n\n", targets_table(targets)]
    for run in runs if tables is None else tables:
        for name in run.outcomes:
            parts += ["\n", scenario_table(run, name)]
    growth = growth_table(runs)
    if growth:
        parts += ["\n", growth]
    return "".join(parts)


def as_json(runs, targets, info: dict, notes: list[str]) -> dict:
    return {
        **info,
        "notes": notes,
        "targets": targets,
        "runs": [
            {
                "scale": run.scale,
                "scenarios": {
                    name: {
                        "title": SCENARIOS[name].title.format(**run.sizes[name]),
                        "kind": SCENARIOS[name].kind,
                        "sizes": run.sizes[name],
                        "results": {o.label: o.as_json() for o in outcomes},
                    }
                    for name, outcomes in run.outcomes.items()
                },
            }
            for run in runs
        ],
        "growth": growth_rows(runs),
    }


def chart(run, path: Path) -> Path | None:
    """Bars of each contender's ratio to sessionorm, one panel per scenario (log scale)."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "sessionorm-bench"  # stable ids: small diffs
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    panels = []
    for name, outcomes in run.outcomes.items():
        bars = []
        for o in outcomes:
            if SCENARIOS[name].kind == "memory":
                value = _memory_ratio(outcomes, o)
            else:
                value = ratio(run, name, o.label, REFERENCE)
            if value is not None:
                bars.append((o.label, value))
        if bars:
            panels.append((name, bars))
    if not panels:
        return None
    heights = [0.5 + 0.32 * len(bars) for _name, bars in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(8, sum(heights) + 0.8),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    values = [v for _name, bars in panels for _label, v in bars]
    low, high = min(values + [1.0]) / 1.5, max(values + [1.0]) * 1.5
    for ax, (name, bars) in zip(axes[:, 0], panels, strict=True):
        labels = [label for label, _ in bars][::-1]
        numbers = [v for _, v in bars][::-1]
        colors = [
            "#2a9d8f" if label.startswith(REFERENCE) else "#e76f51" if v > 1 else "#8ab17d"
            for label, v in zip(labels, numbers, strict=True)
        ]
        ax.barh(labels, numbers, color=colors)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlim(low, high)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}×"))
        metric = "held bytes/object" if SCENARIOS[name].kind == "memory" else "median time"
        ax.set_title(f"{name} ({metric})", fontsize=9, loc="left")
        ax.tick_params(labelsize=8)
        for y, v in enumerate(numbers):
            ax.text(v, y, f" {_x(v)}", va="center", fontsize=7)
    axes[-1, 0].set_xlabel(
        "ratio to sessionorm (log scale; below 1: faster than sessionorm, or fewer bytes)"
    )
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)
    return path


def _memory_ratio(outcomes, outcome) -> float | None:
    reference = next((o for o in outcomes if o.label == REFERENCE and o.metrics), None)
    if reference is None or not outcome.metrics:
        return None
    theirs = reference.metrics[-1]["held_per_object"]
    return outcome.metrics[-1]["held_per_object"] / theirs if theirs else None


def write(out: Path, runs, targets, info: dict, notes: list[str], make_chart: bool) -> str:
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(runs, targets, info, notes)
    chart_path = None
    if make_chart:
        chart_path = chart(runs[-1] if len(runs) == 1 else runs[0], out / "ratios.svg")
    if chart_path is not None:
        text += f"\n![ratios to sessionorm]({chart_path.name})\n"
    (out / "latest.md").write_text(text)
    (out / "latest.json").write_text(
        json.dumps(as_json(runs, targets, info, notes), indent=2, default=str) + "\n"
    )
    return text


def update_docs(docs: Path, marker: str, text: str, out: Path) -> None:
    """Replace what lies between ``<!-- {marker}:begin -->`` and ``<!-- {marker}:end -->``
    in ``docs`` with ``text`` (the chart's link made relative to the docs)."""
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    page = docs.read_text()
    if begin not in page or end not in page:
        raise SystemExit(f"{docs} has no {begin} ... {end} section to update")
    chart = os.path.relpath(out.resolve() / "ratios.svg", docs.resolve().parent)
    text = text.replace("](ratios.svg)", f"]({chart})")
    # One level down: the docs hold the report inside a section of their own.
    text = re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE)
    head, rest = page.split(begin, 1)
    _old, tail = rest.split(end, 1)
    docs.write_text(f"{head}{begin}\n{text}{end}{tail}")


def load(path: Path):
    """``(runs, info, notes)`` back from a ``latest.json``, to report it again."""
    from bench.runner import Outcome, Run

    data = json.loads(Path(path).read_text())
    runs = []
    for saved in data["runs"]:
        run = Run(saved["scale"])
        for name, scenario in saved["scenarios"].items():
            run.sizes[name] = scenario["sizes"]
            run.outcomes[name] = [
                Outcome(
                    name,
                    result["contender"],
                    label,
                    ops=result["ops"],
                    times=result["times"],
                    gc_times=result.get("gc_times", []),
                    metrics=[result["metrics"]] if result.get("metrics") else [],
                    statements=result["statements"],
                    error=result["error"],
                )
                for label, result in scenario["results"].items()
            ]
        runs.append(run)
    info = {key: data[key] for key in ("date", "machine", "versions", "options", "server")}
    return runs, info, data.get("notes", [])


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
