#!/usr/bin/env bash
# Create the project's virtualenv and install Rafka into it (with test extras if asked).
# Re-running is cheap: pip is only called when pyproject.toml changed since the last install.
set -euo pipefail
venv=${1:-.venv}
extras=${2:-}
cd "$(dirname "$0")/.."

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
target="."
stamp="$venv/.installed"
if [ -n "$extras" ]; then
  target=".[$extras]"
  stamp="$venv/.installed-$extras"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e "$target"
  touch "$stamp"
fi
