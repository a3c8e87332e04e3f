"""Issue 5's targets, evaluated on a run: ``(target, measured, met)`` rows.

Every target compares medians from the same run; each row carries the ``scale`` of the
run it was measured on (the growth rows and the 10× COPY row: the larger one). A target
whose cases did not run (``--only``, ``--contenders``) or failed is reported with
``met=None``.
"""

from __future__ import annotations

from bench.report import REFERENCE, growth_rows


def evaluate(runs) -> list[dict]:
    base = runs[0]
    rows = [
        _ratio(base, "insert_graph", "django_bulk", 0.9, "insert_graph: ≤ 0.9× Django bulk_create"),
        _ratio(base, "insert_graph", "raw", 1.5, "insert_graph: ≤ 1.5× execute_values"),
        _ratio(base, "update", "raw", 2.0, "update: ≤ 2× UPDATE … FROM (VALUES …)"),
        _ratio(base, "delete", "django_bulk", 1.5, "delete: ≤ 1.5× QuerySet.delete()"),
        _map_size(base),
        *_get_hit(base),
        _ratio(base, "load", "django", 1.3, "load: ≤ 1.3× a plain Django QuerySet"),
        *_memory(base),
    ]
    rows = [{**row, "scale": base.scale} for row in rows if row is not None]
    if len(runs) > 1:
        large = runs[-1]
        scaled = [
            *_growth(runs),
            _ratio(
                large, "insert_graph", "copy", 2.0, f"insert_graph at {large.scale}×: ≤ 2× COPY"
            ),
        ]
        rows += [{**row, "scale": large.scale} for row in scaled if row is not None]
    return rows


def _row(target: str, measured: str, met: bool | None) -> dict:
    return {"target": target, "measured": measured, "met": met}


def _ratio(run, scenario, other, limit, target, mine=REFERENCE):
    a, b = run.per_op(scenario, mine), run.per_op(scenario, other)
    if scenario not in run.outcomes:
        return None
    if a is None or b is None:
        return _row(target, "not measured", None)
    value = a / b
    ops = run.find(scenario, mine).ops
    return _row(
        target,
        f"{value:.2f}× ({a * ops:.3f} s vs {b * run.find(scenario, other).ops:.3f} s)",
        value <= limit,
    )


def _map_size(run):
    if "dirty_in_large_map" not in run.outcomes:
        return None
    small = next(
        (
            o.label
            for o in run.outcomes["dirty_in_large_map"]
            if o.label.startswith(REFERENCE + " (")
        ),
        None,
    )
    large, little = (
        run.per_op("dirty_in_large_map", REFERENCE),
        (run.per_op("dirty_in_large_map", small) if small else None),
    )
    target = "dirty_in_large_map: 1 dirty among 100,000 within 2× of among 10"
    if large is None or little is None:
        return _row(target, "not measured", None)
    value = large / little
    return _row(
        target,
        f"{value:.2f}× ({large * 1e6:.0f} µs vs {little * 1e6:.0f} µs per flush)",
        value <= 2.0,
    )


def _get_hit(run):
    if "get_hit" not in run.outcomes:
        return []
    rows = []
    mine = run.find("get_hit", REFERENCE)
    if mine is not None and mine.statements is not None:
        rows.append(
            _row(
                "get_hit: no query",
                f"{mine.statements} statements for {mine.ops:,} calls",
                mine.statements == 0,
            )
        )
    a, django = run.per_op("get_hit", REFERENCE), run.per_op("get_hit", "django")
    target = "get_hit: ≥ 50× faster than Model.objects.get"
    if a is None or django is None:
        rows.append(_row(target, "not measured", None))
    else:
        rows.append(
            _row(
                target,
                f"{django / a:,.0f}× ({a * 1e6:.2f} µs vs {django * 1e6:.0f} µs)",
                django / a >= 50,
            )
        )
    sa = run.per_op("get_hit", "sqlalchemy")
    target = "get_hit: no slower than SQLAlchemy's identity-map hit"
    if a is None or sa is None:
        rows.append(_row(target, "not measured", None))
    else:
        rows.append(_row(target, f"{a / sa:.2f}× ({a * 1e6:.2f} µs vs {sa * 1e6:.2f} µs)", a <= sa))
    return rows


def _memory(run):
    if "memory" not in run.outcomes:
        return []
    outcomes = {o.label: o for o in run.outcomes["memory"] if o.ok and o.metrics}
    mine = outcomes.get(REFERENCE)
    if mine is None:
        return [_row("memory: dropped objects are freed", "not measured", None)]
    m = mine.metrics[-1]
    # Freed: no instance is left alive and the session maps none of them. The bytes that
    # remain are stated: an emptied dict keeps the capacity it grew to.
    freed = m["alive"] == 0 and m["still_mapped"] == 0
    rows = [
        _row(
            "memory: objects the application dropped are freed",
            f"{m['alive']:,} of {m['objects']:,} objects alive after the drop, "
            f"{m['still_mapped']:,} mapped; {m['dropped_per_object']:.1f} B/object remain "
            f"(of {m['held_per_object']:,.0f} held)",
            freed,
        )
    ]
    django = outcomes.get("django")
    if django is not None:
        overhead = m["held_per_object"] - django.metrics[-1]["held_per_object"]
        rows.append(
            _row(
                "memory: retained overhead per mapped object, stated in bytes",
                f"{overhead:,.0f} B/object over plain Django "
                f"({m['held_per_object']:,.0f} vs {django.metrics[-1]['held_per_object']:,.0f})",
                True,
            )
        )
    return rows


def _growth(runs):
    rows = []
    scale = runs[-1].scale
    for row in growth_rows(runs):
        if row["contender"] != REFERENCE:
            continue
        target = f"growth 1×→{scale}×, {row['scenario']}: time per row within 1.3×"
        if row["growth"] is None:
            rows.append(_row(target, "not measured", None))
        else:
            rows.append(_row(target, f"{row['growth']:.2f}×", row["growth"] <= 1.3))
    return rows
