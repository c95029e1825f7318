# Sourced by the scripts: a project virtual environment in .venv (created on first use).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    echo "python venv module missing: installing python3-venv" >&2
    apt-get update -qq && apt-get install -y -qq python3-venv python3-pip
    "$PY" -m venv .venv
  fi
  # a new environment only: an existing one must work without a package index
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
fi
VPY="$ROOT/.venv/bin/python"
