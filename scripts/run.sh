#!/usr/bin/env bash
# Quick start, 1: install what is needed, migrate the database, seed the demo and serve the lab
# on http://127.0.0.1:5000 (HOST and PORT change that; DATABASE_URL picks PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
exec .venv/bin/python run.py
