#!/usr/bin/env bash
# Create the project's virtualenv and install Rafka into it (with test extras if asked), then
# build the compiled twins (rafka/compiled.py): best effort for running the broker, required
# for the tests, so that CI tests what the benchmarks measure.
# Re-running is cheap: pip is only called when pyproject.toml changed since the last install,
# and a twin is only rebuilt when its module changed.
set -euo pipefail
venv=${1:-.venv}
extras=${2:-}
cd "$(dirname "$0")/.."

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
target=".[compile]"
stamp="$venv/.installed"
if [ -n "$extras" ]; then
  target=".[$extras,compile]"
  stamp="$venv/.installed-$extras"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e "$target"
  touch "$stamp"
fi
if [ "$extras" = test ]; then
  "$venv/bin/python" scripts/compile.py --require
else
  "$venv/bin/python" scripts/compile.py
fi
