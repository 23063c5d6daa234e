#!/usr/bin/env bash
# Set up everything the tests need, then run the linters and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
# mypy (one core, about a minute) runs beside the tests; either failing fails the run.
mypy_log=$(mktemp)
.venv/bin/mypy custody collectors app ui >"$mypy_log" 2>&1 &
mypy_pid=$!
trap 'kill "$mypy_pid" 2>/dev/null || true; rm -f "$mypy_log"' EXIT
status=0
# One worker per core; a module's tests stay on one worker (module fixtures build whole cases).
.venv/bin/python -m pytest -q -p no:cacheprovider -n auto --dist loadfile "$@" || status=$?
mypy_status=0
wait "$mypy_pid" || mypy_status=$?
cat "$mypy_log"
if [ "$mypy_status" -ne 0 ]; then
    echo "mypy failed" >&2
    exit 1
fi
exit "$status"
