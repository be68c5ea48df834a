#!/usr/bin/env bash
# Quick start, 2: install what is needed and run the whole test suite.
#  - browser tests need Chromium: installed from Debian when missing and we are root;
#    otherwise they are skipped with a reason (CI=true or REQUIRE_BROWSER=1 make that a failure);
#  - TEST_DATABASE_URL=postgresql://… runs every database test on PostgreSQL as well.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Chromium for the browser tests (apt-get)…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
    || echo "Could not install Chromium: browser tests will be skipped." >&2
fi
workers=$(.venv/bin/python -c 'import os; print(min(4, os.cpu_count() or 1))')
exec .venv/bin/python -m pytest -n "$workers" "$@"
