#!/usr/bin/env bash
# Quick start, 1: install what is needed, migrate, seed the demo and serve on 127.0.0.1:5000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
exec .venv/bin/python run.py
