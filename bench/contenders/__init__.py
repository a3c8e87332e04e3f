"""Contenders: one module per way of writing the same changes, one class per scenario.

Every class is a :class:`Case` registered for one scenario::

    register = contender("raw", "psycopg2: execute_values ... RETURNING, ...")

    @register("update")
    class Update(Case):
        def setup(self, sizes): ...   # untimed: load the rows, open sessions
        def run(self): ...            # timed
        def check(self): ...          # untimed: raise CheckFailed on a wrong result

``Case.check`` checks the database through the scenario; a contender adds checks of
its own objects (keys copied into foreign keys, identity-map state). ``teardown`` always
runs, and must leave no transaction open (the next run truncates the tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.scenarios import SCENARIOS

#: Every case, in registration order (module order in ``MODULES``, then class order).
CASES: list[type[Case]] = []
#: contender name -> what it does, in the order of the report's columns.
CONTENDERS: dict[str, str] = {}
#: contender module -> why it is not available (a library it needs is not installed).
UNAVAILABLE: dict[str, str] = {}

#: The contender modules, in report order; imported after Django is set up.
MODULES = (
    "sessionorm",
    "sessionorm_bulk",
    "django_plain",
    "django_save",
    "django_bulk",
    "sqlalchemy_orm",
    "raw",
    "pgcopy",
)


class Case:
    """One contender on one scenario; see the module docstring for the protocol."""

    scenario: str = ""
    contender: str = ""
    #: Shown after the contender's name when it has several cases for one scenario.
    variant: str = ""
    #: Left out of ``--scale`` runs unless named in ``--contenders`` (minutes at 10x).
    slow = False

    def __init__(self, env):
        self.env = env
        self.sizes: dict = {}

    @classmethod
    def label(cls, sizes: dict) -> str:
        if not cls.variant:
            return cls.contender
        return f"{cls.contender} ({cls.variant.format(**sizes)})"

    def ops(self) -> int:
        """Rows or calls one run handles (the scenario's by default)."""
        return SCENARIOS[self.scenario].ops(self.sizes)

    def setup(self, sizes: dict) -> None:
        self.sizes = sizes

    def run(self) -> dict | None:
        """The timed work; a memory case returns its measurements."""
        raise NotImplementedError

    def check(self) -> None:
        SCENARIOS[self.scenario].check(self.env, self.sizes)

    def teardown(self) -> None:
        pass


@dataclass
class _Contender:
    name: str
    cases: list = field(default_factory=list)

    def __call__(self, scenario: str, *, variant: str = "", slow: bool = False):
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}")

        def decorate(cls):
            cls.scenario, cls.contender = scenario, self.name
            cls.variant = variant or cls.variant
            cls.slow = slow or cls.slow
            CASES.append(cls)
            return cls

        return decorate


def contender(name: str, description: str) -> _Contender:
    """Register a contender; the result is the decorator for its cases."""
    CONTENDERS[name] = description
    return _Contender(name)


def load() -> list[type[Case]]:
    """Import every contender module (Django must be set up) and return the cases."""
    import importlib

    if not CASES:
        for module in MODULES:
            try:
                importlib.import_module(f"bench.contenders.{module}")
            except ModuleNotFoundError as exc:
                if exc.name == "sessionorm.bulk":
                    UNAVAILABLE[module] = "this sessionorm has no bulk API"
                    continue
                if (exc.name or "").partition(".")[0] in ("bench", "sessionorm", "django"):
                    raise
                UNAVAILABLE[module] = f"needs {exc.name} (pip install -e '.[bench]')"
    return CASES
