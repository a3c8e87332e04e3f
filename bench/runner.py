"""Running the cases: fresh tables, untimed setup, timed run, check, interleaved.

For each scenario every case runs once as a warm-up (not recorded; it counts the
statements each contender sends), then ``repeat`` times. Cases marked slow (the
per-object loops, thousands of round trips a run, 10-30x sessionorm's time and in no
target) skip the warm-up, count their statements in their first timed run, and stop
after ``SLOW_REPEAT`` timed runs: that keeps a default run near 8 minutes on 2 cores.

Each round runs every case once, the order rotated by one per round, so machine noise
(another process, the server's checkpoints) spreads over all contenders instead of
landing on one. Before each run the tables are truncated (``RESTART IDENTITY
CASCADE``) and the scenario seeds them; only ``run()`` is inside the timer; a case
whose ``check()`` fails, or that raises, reports the error and no time at all.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field

from bench.scenarios import SCENARIOS, CheckFailed

#: Timed runs of a slow case (the per-object loops, 10-30× sessionorm's time).
SLOW_REPEAT = 3


@dataclass
class Outcome:
    """What one case measured on one scenario at one size."""

    scenario: str
    contender: str
    label: str
    ops: int = 0
    times: list[float] = field(default_factory=list)
    #: Seconds of each timed run spent in the cyclic garbage collector.
    gc_times: list[float] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    statements: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.times)

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.ok else None

    def as_json(self) -> dict:
        result = {
            "contender": self.contender,
            "ops": self.ops,
            "statements": self.statements,
            "error": self.error,
            "times": self.times,
            "gc_times": self.gc_times,
        }
        if self.ok:
            result.update(
                median=self.median,
                min=min(self.times),
                max=max(self.times),
                per_op=self.median / self.ops if self.ops else None,
            )
        if self.metrics:
            result["metrics"] = self.metrics[-1]
        return result


def run_scenario(
    env, name: str, cases: list, sizes: dict, repeat: int, warmup: bool = True, log=None
) -> list[Outcome]:
    """Run ``cases`` (Case classes of scenario ``name``) and return one Outcome each.

    Without ``warmup`` (``--quick``) the statements are counted in the recorded runs:
    the smoke test wants every check, not stable times.
    """
    log = log or _log
    scenario = SCENARIOS[name]
    if scenario.repeat is not None:
        repeat = min(repeat, scenario.repeat)
    outcomes = [Outcome(name, case.contender, case.label(sizes)) for case in cases]
    first = 0 if warmup else 1
    for round_ in range(first, repeat + 1):  # round 0 is the warm-up
        shift = round_ % len(cases)
        for index in [*range(shift, len(cases)), *range(shift)]:
            case, outcome = cases[index], outcomes[index]
            if outcome.error is not None:
                continue
            # A slow case (thousands of statements per run) gains nothing from a warm-up;
            # it counts its statements in its first timed run (< 0.5% of its time), and
            # stops after SLOW_REPEAT runs: it is a distant reference, never in a target.
            counted = first if not case.slow else max(first, 1)
            if round_ < counted or (case.slow and round_ > SLOW_REPEAT):
                continue
            try:
                elapsed, collecting, statements, metrics, ops = run_once(
                    env, scenario, case, sizes, count=round_ == counted
                )
            except Exception as exc:  # noqa: BLE001 - any failure is reported, not timed
                outcome.error = _describe(exc)
                outcome.times.clear()
                log(f"  {outcome.label}: FAILED: {outcome.error}")
                if not isinstance(exc, CheckFailed):
                    traceback.print_exc(file=sys.stderr)
                continue
            outcome.ops = ops
            if round_ == counted:
                outcome.statements = statements
            if round_ == 0:
                what = "warm-up"
            else:
                outcome.times.append(elapsed)
                outcome.gc_times.append(collecting)
                if metrics:
                    outcome.metrics.append(metrics)
                what = f"{round_}/{min(repeat, SLOW_REPEAT) if case.slow else repeat}"
            log(f"  {outcome.label:<28} {what:>8}  {elapsed:9.4f} s")
    return outcomes


def run_once(env, scenario, case_class, sizes: dict, count: bool):
    """Truncate, seed, set up, time ``run()``, check, tear down.

    Returns ``(seconds, of which in the garbage collector, statements or None, metrics
    or None, ops)``.
    """
    env.truncate()
    scenario.seed(env, sizes)
    case = case_class(env)
    try:
        case.setup(sizes)
        gc.collect()  # start every run from the same heap; gc stays on, as in production
        collector = GcTimer()
        gc.callbacks.append(collector)
        try:
            with env.counting(enabled=count) as counter:
                start = time.perf_counter()
                metrics = case.run()
                elapsed = time.perf_counter() - start
        finally:
            gc.callbacks.remove(collector)
        statements = counter.count if count else None
        case.check()
        return elapsed, collector.seconds, statements, metrics, case.ops()
    finally:
        case.teardown()
        _end_transactions(env)


class GcTimer:
    """A ``gc.callbacks`` hook that sums the time the cyclic collector runs: many live
    objects make its full collections long, a cost a profiler spreads over whatever
    Python code happened to allocate when one started."""

    def __init__(self):
        self.seconds = 0.0
        self._started: float | None = None

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self._started = None


def _end_transactions(env) -> None:
    """Make sure no transaction outlives a case, so the next TRUNCATE does not wait.

    A correct case ends its own (teardown closes its sessions); this only cleans up
    after one that failed half-way, by dropping Django's connection and its atomic
    state (the server rolls back), and rolling back the psycopg2 connection.
    """
    env.raw.rollback()
    connection = env.django
    if connection.in_atomic_block:
        _log("  (a case left a Django transaction open; closing the connection)")
        connection.atomic_blocks.clear()
        connection.savepoint_ids.clear()
        connection.in_atomic_block = False
        connection.needs_rollback = False
        connection.close()
    elif connection.connection is not None and not connection.get_autocommit():
        connection.rollback()
        connection.set_autocommit(True)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Run:
    """Every scenario at one scale: the sizes used and each case's outcome."""

    scale: int
    sizes: dict[str, dict] = field(default_factory=dict)
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)

    def find(self, scenario: str, label: str) -> Outcome | None:
        for outcome in self.outcomes.get(scenario, ()):
            if outcome.label == label:
                return outcome
        return None

    def per_op(self, scenario: str, label: str) -> float | None:
        """Median seconds per row (or call) of one case, None if it did not run or failed."""
        outcome = self.find(scenario, label)
        if outcome is None or not outcome.ok or not outcome.ops:
            return None
        return outcome.median / outcome.ops
