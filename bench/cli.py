"""``python -m bench``: parse the options, prepare the database, run, report."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench.scenarios import SCENARIOS

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Benchmark sessionorm's flush against Django save()/bulk helpers, SQLAlchemy's "
            "ORM Session, raw psycopg2 and COPY on PostgreSQL (docs/performance.md)."
        ),
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        metavar="N",
        help="also run with the sizes ×N and report the growth of time per row "
        "(save() loops and bulk_update are left out unless named in --contenders)",
    )
    parser.add_argument(
        "--repeat", type=int, default=5, metavar="N", help="timed runs after a warm-up (5)"
    )
    parser.add_argument("--only", metavar="SCENARIO[,...]", help="run only these scenarios")
    parser.add_argument("--contenders", metavar="NAME[,...]", help="run only these contenders")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and 1 repeat: a smoke test, not a benchmark",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="results directory"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of timing, profile 5 runs of each selected case (bench/profiling.py)",
    )
    parser.add_argument(
        "--profiler",
        choices=("auto", "py-spy", "pyinstrument"),
        default="auto",
        help="the sampler for --profile (auto: py-spy when installed, else pyinstrument)",
    )
    parser.add_argument(
        "--database",
        default="sessionorm_bench",
        help="the database to create (and drop) on the DATABASE_URL server",
    )
    parser.add_argument("--no-chart", action="store_true", help="skip the matplotlib chart")
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="FILE",
        help="run nothing: report a saved latest.json again (with --update-docs, --out)",
    )
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="also write the results into docs/performance.md (between its bench markers)",
    )
    parser.add_argument("--list", action="store_true", help="list scenarios and contenders")
    args = parser.parse_args(argv)
    if args.scale < 1 or args.repeat < 1:
        parser.error("--scale and --repeat must be at least 1")
    if args.quick:
        args.repeat, args.scale = 1, 1
    args.only = _names(parser, "--only", args.only, SCENARIOS)
    return args


def _names(parser, option, value, known) -> list[str] | None:
    if not value:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"{option}: unknown {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    os.chdir(Path(__file__).resolve().parent.parent)  # settings/ and tests/ import from here
    sys.path.insert(0, os.getcwd())

    from bench import contenders, database, profiling

    if args.from_json:
        from bench import report, targets

        runs, info, notes = report.load(args.from_json)
        return _write(args, runs, targets.evaluate(runs), info, notes)

    in_pyspy = bool(os.environ.get(profiling.CHILD))
    if args.profile and not in_pyspy and profiling.wanted_sampler(args.profiler) == "py-spy":
        # Re-run this command under py-spy, which samples it from outside.
        return profiling.record_with_pyspy(
            list(argv if argv is not None else sys.argv[1:]), args.out
        )

    started_server = not os.environ.get("DATABASE_URL")
    database.prepare(args.database)  # the contender modules import the Django models
    env = None
    try:
        cases = contenders.load()
        if args.list:
            return _list(cases)
        wanted = None
        if args.contenders:
            wanted = [name.strip() for name in args.contenders.split(",") if name.strip()]
            unknown = [name for name in wanted if name not in contenders.CONTENDERS]
            if unknown:
                print(
                    f"--contenders: unknown {', '.join(unknown)}; known: "
                    f"{', '.join(contenders.CONTENDERS)}",
                    file=sys.stderr,
                )
                return 2
        env = database.Env()
        if args.profile:
            return _profile(env, args, cases, wanted)
        return _benchmark(env, args, cases, wanted, started_server)
    finally:
        if env is not None:
            env.close()
        database.drop(args.database)


def _selected(cases, scenario: str, wanted, scale: int) -> tuple[list, list[str]]:
    chosen, notes = [], []
    for case in cases:
        if case.scenario != scenario:
            continue
        if wanted is not None and case.contender not in wanted:
            continue
        if scale > 1 and case.slow and wanted is None:
            # Left out at 1× too, so the growth compares the same cases.
            notes.append(
                f"{scenario}: {case.contender} left out of this --scale {scale} run "
                "(slow; name it in --contenders)"
            )
            continue
        chosen.append(case)
    return chosen, notes


def _benchmark(env, args, cases, wanted, started_server) -> int:
    from bench import contenders, machine, report, targets
    from bench.runner import Run, run_scenario

    scales = [1] if args.scale == 1 else [1, args.scale]
    load_before = _load()
    notes = [f"{module}: {reason}" for module, reason in contenders.UNAVAILABLE.items()]
    runs = []
    for scale in scales:
        run = Run(scale)
        for name in args.only or SCENARIOS:
            chosen, skipped = _selected(cases, name, wanted, args.scale)
            notes += [n for n in skipped if n not in notes]
            if not chosen:
                continue
            sizes = SCENARIOS[name].sizes(scale, args.quick)
            run.sizes[name] = sizes
            print(
                f"{name} at {scale}×: {', '.join(c.label(sizes) for c in chosen)}", file=sys.stderr
            )
            began = time.perf_counter()
            run.outcomes[name] = run_scenario(
                env, name, chosen, sizes, args.repeat, warmup=not args.quick
            )
            print(f"  ({time.perf_counter() - began:.1f} s)", file=sys.stderr)
        runs.append(run)
    info = {
        "date": report.now(),
        "machine": {**machine.machine(), "load_before": load_before, "load_after": _load()},
        "versions": machine.versions(env),
        "options": " ".join(_options(args)) or "(defaults)",
        "server": "throwaway (tests/pgserver.py)" if started_server else "DATABASE_URL",
    }
    found = targets.evaluate(runs) if not args.quick else []
    _write(args, runs, found, info, notes)
    failed = [
        o.label + " on " + o.scenario
        for r in runs
        for os_ in r.outcomes.values()
        for o in os_
        if not o.ok
    ]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _write(args, runs, found, info, notes) -> int:
    from bench import report

    text = report.write(args.out, runs, found, info, notes, make_chart=not args.no_chart)
    print(text)
    print(f"written to {args.out}/latest.md, latest.json", file=sys.stderr)
    if args.update_docs:
        docs = Path("docs/performance.md")
        marker = "bench"
        if len(runs) > 1:
            # The scale section: what only the larger run shows (the 1× tables are above).
            scaled = [t for t in found if t["scale"] > 1]
            text = report.markdown(runs, scaled, info, notes, tables=runs[-1:])
            marker = "bench-scale"
        report.update_docs(docs, marker, text, args.out)
        print(f"updated {docs} between its {marker} markers", file=sys.stderr)
    return 0


def _profile(env, args, cases, wanted) -> int:
    from bench import profiling

    selected = []
    for name in args.only or SCENARIOS:
        chosen, _ = _selected(cases, name, wanted, 1)
        sizes = SCENARIOS[name].sizes(args.scale, args.quick)
        selected += [(name, case, sizes) for case in chosen]
    sampler = "py-spy" if os.environ.get(profiling.CHILD) else "pyinstrument"
    return profiling.profile_cases(env, selected, args.out, sampler)


def _load() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: other work on the machine skews timings."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _options(args) -> list[str]:
    options = []
    if args.quick:
        options.append("--quick")
    if args.scale != 1:
        options.append(f"--scale {args.scale}")
    if args.repeat != 5 and not args.quick:
        options.append(f"--repeat {args.repeat}")
    if args.only:
        options.append(f"--only {','.join(args.only)}")
    if args.contenders:
        options.append(f"--contenders {args.contenders}")
    return options


def _list(cases) -> int:
    from bench import contenders

    for name, scenario in SCENARIOS.items():
        names = sorted({c.contender for c in cases if c.scenario == name})
        print(f"{name}: {scenario.title.format(**scenario.sizes())}")
        print(f"    contenders: {', '.join(names)}")
    print()
    for name, description in contenders.CONTENDERS.items():
        print(f"{name}: {description}")
    for module, reason in contenders.UNAVAILABLE.items():
        print(f"{module}: unavailable, {reason}")
    return 0
