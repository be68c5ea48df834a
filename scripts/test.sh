#!/usr/bin/env bash
# Quick start, 2: install what is needed, lint (ruff) and run the whole test suite (extra
# arguments go to pytest, e.g. scripts/test.sh -k flow).
#  - Browser tests need Chromium: installed from Debian when missing and we are root with
#    apt-get; otherwise they are skipped with a reason (with CI=true or REQUIRE_BROWSER=1 a
#    missing Chromium fails them instead).
#  - TEST_DATABASE_URL=postgresql://… runs every database test on PostgreSQL as well.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt

has_chromium() { command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; }
if ! has_chromium && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Chromium for the browser tests (apt-get)…"
  if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq chromium) >/dev/null 2>&1; then
    echo "Could not install Chromium: the browser tests will be skipped." >&2
  fi
fi
if ! has_chromium; then
  echo "Chromium is not installed: the browser tests will be skipped (or fail with CI=true)." >&2
fi

# The linter first (pyproject.toml [tool.ruff]): a finding fails the run before any test.
if ! .venv/bin/ruff check .; then
  echo "ruff found problems (above): fix them, or see pyproject.toml for the rules." >&2
  exit 1
fi

# Two or more cores: spread the tests over them (each worker has its own databases).
workers=$(.venv/bin/python -c 'import os
cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
print(min(4, cores or 1))')
parallel=()
if [ "$workers" -gt 1 ]; then
  parallel=(-n "$workers")
fi
status=0
.venv/bin/python -m pytest ${parallel[@]+"${parallel[@]}"} "$@" || status=$?
if [ "$status" = 5 ]; then
  echo "No tests ran: that is a failure." >&2
fi
exit "$status"
