#!/usr/bin/env bash
# Shared by run.sh and test.sh: make .venv with Python 3.11+ and install the pinned
# requirements (requirements.txt, or the file given). Does nothing when they are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUIREMENTS=${1:-requirements.txt}

is_311() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }

if [ ! -x .venv/bin/python ] || ! is_311 .venv/bin/python; then
  python=""
  for candidate in ${PYTHON:-} python3 python3.13 python3.12 python3.11 python; do
    if command -v "$candidate" >/dev/null 2>&1 && is_311 "$candidate"; then
      python=$candidate
      break
    fi
  done
  if [ -z "$python" ]; then
    echo "ecomlab needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)." >&2
    exit 1
  fi
  rm -rf .venv
  echo "Creating .venv with $("$python" --version 2>&1)…"
  if ! "$python" -m venv .venv; then
    echo "Could not create .venv: on Debian/Ubuntu install python3-venv first." >&2
    exit 1
  fi
fi

# Reinstall only when the requirements changed since the last install.
wanted=$(cat requirements*.txt | cksum)
stamp=".venv/.installed-$(basename "$REQUIREMENTS")"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "Installing $REQUIREMENTS into .venv…"
  .venv/bin/python -m pip install -qq --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$wanted" > "$stamp"
fi
