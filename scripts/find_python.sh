#!/bin/sh
# Print the path of the newest Python >= 3.12 on this machine (Django 6.1 needs 3.12+).
# Real paths only: pyenv's shims answer nothing useful without PYENV_VERSION.
for candidate in \
    "$(command -v python3.13 2>/dev/null)" \
    "$(command -v python3.12 2>/dev/null)" \
    /root/.pyenv/versions/3.13*/bin/python3 \
    /root/.pyenv/versions/3.12*/bin/python3 \
    /usr/local/bin/python3.13 /usr/bin/python3.13 \
    /usr/local/bin/python3.12 /usr/bin/python3.12; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    # The interpreter must run and really be 3.12+ (a shim may fail or be another one).
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
        echo "$candidate"
        exit 0
    fi
done
echo "find_python.sh: no Python >= 3.12 found (tried python3.13, python3.12 on PATH" \
    "and /root/.pyenv/versions/3.1[23]*); Django 6.1 needs one" >&2
exit 1
