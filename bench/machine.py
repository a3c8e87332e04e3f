"""The machine and the versions a run measured, for the report."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    memory = None
    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_bytes": memory,
        "platform": platform.platform(),
    }


def versions(env) -> dict:
    def package(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "django": package("django"),
        "sqlalchemy": package("sqlalchemy"),
        "psycopg2": package("psycopg2-binary") or package("psycopg2"),
        "postgresql": env.server_version(),
        "sessionorm": _git_commit(),
    }


def _git_commit() -> str | None:
    """``git describe`` of the checkout sessionorm was imported from (``-dirty`` when it
    has uncommitted changes: the numbers are then of no commit)."""
    import sessionorm

    root = Path(sessionorm.__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None
