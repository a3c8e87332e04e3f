"""A throwaway PostgreSQL server for the test suite and the benchmarks.

The suite proves sessionorm on a real PostgreSQL (savepoints, two-phase commit,
``UPDATE ... FROM (VALUES ...)``), and it must do so on a fresh machine where nobody set
up a database. So when ``DATABASE_URL`` is unset, :func:`ensure_database_url` starts a
private server for this process and points ``DATABASE_URL`` at it:

- binaries: ``$PG_BINDIR`` if set, else those bundled in the ``pgserver`` wheel
  (``pip install pgserver``), else the system's (``pg_config --bindir``, then the
  highest ``/usr/lib/postgresql/*/bin``). There is no SQLite fallback: a PostgreSQL run
  that quietly ran on SQLite would prove nothing.
- a fresh data directory under a short temporary directory, ``initdb`` with trust auth,
  UTF-8 and superuser ``postgres``; durability is switched off (fsync, synchronous
  commit, full page writes) because the data is thrown away.
- no TCP port: it listens only on a unix socket in that temporary directory, so runs
  never collide with each other or with a server already on port 5432. The socket path
  must stay under ~100 characters (``sun_path``), hence ``/tmp`` rather than ``$TMPDIR``.
- ``max_prepared_transactions`` is raised so two-phase commit can be tested.
- as root, ``initdb`` and ``postgres`` refuse to run, so both run as the unprivileged
  system user ``pgserver`` (created with ``useradd`` if missing, as the ``pgserver``
  wheel does), which owns the temporary directory.

Only the process that started the server stops it (``pg_ctl stop -m immediate``) and
deletes its directory, at exit. Child processes (pytest-xdist workers, ``manage.py``
subprocesses) inherit ``DATABASE_URL`` from the environment and so reuse the server
instead of starting their own. A small reaper process, which waits for its parent's end
on a pipe, does the same cleanup if the starting process dies without running its exit
handlers (SIGKILL, a crash), so a killed CI run leaves no server behind.

``python -m tests.pgserver`` starts a server, prints its URL and keeps it until Enter or
Ctrl-C, e.g. to run ``psql`` or ``manage.py`` against it; ``python -m tests.pgserver
--bindir`` prints the binaries it would use (the Makefile hands them to a venv whose
Python has no pgserver wheel).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

#: The system user that runs PostgreSQL when we are root (the name the pgserver wheel uses).
SYSTEM_USER = "pgserver"

#: Server settings for a throwaway test server (passed as ``-c`` options).
SERVER_OPTIONS = {
    "max_prepared_transactions": "20",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "listen_addresses": "''",
}

NO_BINARIES = (
    "No PostgreSQL binaries found for the test server. Install them with "
    "`pip install pgserver` (or `pip install -e '.[test]'`), install PostgreSQL "
    "(pg_config must be on PATH), set PG_BINDIR to a directory holding initdb and pg_ctl, "
    "or point DATABASE_URL at an existing server."
)


def ensure_database_url() -> None:
    """Make sure ``os.environ["DATABASE_URL"]`` names a PostgreSQL server.

    Does nothing when it is already set (by the user, or inherited from the process that
    started a server). Otherwise starts a throwaway server that lives as long as this
    process, and sets ``DATABASE_URL`` to it. ``DATABASE_URL_OTHER`` is left alone, so the
    ``other`` alias becomes a second database on the same server.
    """
    if os.environ.get("DATABASE_URL"):
        return
    os.environ["DATABASE_URL"] = start_server()


def find_bindir() -> Path:
    """Return the directory holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    # Located without importing pgserver, whose import pulls in psutil and platformdirs.
    spec = find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        candidates.extend(
            Path(location) / "pginstall" / "bin" for location in spec.submodule_search_locations
        )
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    candidates.extend(
        Path(path)
        for path in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    )
    for bindir in candidates:
        if all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise RuntimeError(NO_BINARIES)


def start_server() -> str:
    """Start a throwaway server owned by this process and return its URL."""
    bindir = find_bindir()
    run_as = _unprivileged_user()
    # mkdtemp makes a 0700 directory; /tmp keeps the socket path short.
    root = Path(tempfile.mkdtemp(prefix="sessionorm-pg-", dir="/tmp"))
    pgdata = root / "data"
    try:
        if run_as is not None:
            os.chown(root, run_as.pw_uid, run_as.pw_gid)
        _run(
            [
                bindir / "initdb",
                "-D",
                pgdata,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            run_as,
        )
        options = {**SERVER_OPTIONS, "unix_socket_directories": f"'{root}'"}
        _run(
            [
                bindir / "pg_ctl",
                "start",
                "-D",
                pgdata,
                "-w",
                "-t",
                "60",
                "-s",
                "-l",
                root / "server.log",
                "-o",
                " ".join(f"-c {name}={value}" for name, value in options.items()),
            ],
            run_as,
        )
    except BaseException:
        _discard(bindir, pgdata, root, run_as)
        raise
    _arrange_cleanup(bindir, pgdata, root, run_as)
    return f"postgresql://postgres@/postgres?host={root}"


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _unprivileged_user():
    """The pwd entry to run PostgreSQL as, or None to run as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    try:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        raise RuntimeError(
            f"Running as root, the test server needs the unprivileged system user "
            f"{SYSTEM_USER!r}, and creating it with useradd failed ({error}). Create it, "
            f"run the tests as another user, or set DATABASE_URL."
        ) from error
    return pwd.getpwnam(SYSTEM_USER)


def _run(command: list, run_as) -> None:
    kwargs = {}
    if run_as is not None:
        # group and extra_groups too, or the server keeps root's groups.
        kwargs = {"user": run_as.pw_uid, "group": run_as.pw_gid, "extra_groups": []}
    result = subprocess.run(
        [str(part) for part in command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd="/",
        **kwargs,
    )
    if result.returncode != 0:
        log = Path(command[command.index("-l") + 1]) if "-l" in command else None
        details = result.stdout + result.stderr
        if log is not None and log.exists():
            details += log.read_text()
        raise RuntimeError(
            f"The test PostgreSQL server failed: {' '.join(map(str, command))} exited with "
            f"{result.returncode}:\n{details}"
        )


def _discard(bindir: Path, pgdata: Path, root: Path, run_as) -> None:
    """Stop the server if it runs and delete its directory; never raises."""
    if (pgdata / "postmaster.pid").exists():
        with contextlib.suppress(RuntimeError):
            _run([bindir / "pg_ctl", "stop", "-D", pgdata, "-m", "immediate", "-s"], run_as)
    shutil.rmtree(root, ignore_errors=True)


# The reaper: a child that blocks reading its stdin, a pipe whose write end only the
# starting process holds. Any end of that process closes the pipe, and the reaper
# cleans up if the exit handler did not already (it then finds no directory).
_REAPER = """
import os, shutil, subprocess, sys
bindir, pgdata, root = sys.argv[1:4]
sys.stdin.read()
if os.path.exists(os.path.join(pgdata, "postmaster.pid")):
    subprocess.run([os.path.join(bindir, "pg_ctl"), "stop", "-D", pgdata, "-m", "immediate",
                    "-s"], capture_output=True, **{kwargs})
shutil.rmtree(root, ignore_errors=True)
"""


def _arrange_cleanup(bindir: Path, pgdata: Path, root: Path, run_as) -> None:
    owner = os.getpid()
    kwargs = "{}"
    if run_as is not None:
        kwargs = f"dict(user={run_as.pw_uid}, group={run_as.pw_gid}, extra_groups=[])"
    reaper = subprocess.Popen(
        [sys.executable, "-c", _REAPER.replace("{kwargs}", kwargs), bindir, pgdata, root],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
        start_new_session=True,  # so Ctrl-C reaches it only through the pipe
    )

    def stop() -> None:
        # A forked child inherits this handler; only the starting process may stop.
        if os.getpid() != owner:
            return
        _discard(bindir, pgdata, root, run_as)
        reaper.stdin.close()
        reaper.wait()

    atexit.register(stop)


if __name__ == "__main__":
    if sys.argv[1:] == ["--bindir"]:
        print(find_bindir())
        sys.exit()
    url = start_server()
    print(url)
    with contextlib.suppress(KeyboardInterrupt, EOFError):
        input("Server running; press Enter to stop it.\n")
