#!/usr/bin/env bash
# Set up everything the tests need, then run the linters and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy custody collectors app ui
.venv/bin/lint-imports
# One worker per core; a module's tests stay on one worker (module fixtures build whole cases).
.venv/bin/python -m pytest -q -p no:cacheprovider -n auto --dist loadfile "$@"
