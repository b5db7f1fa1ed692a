#!/usr/bin/env bash
# Tools the tests drive besides Python packages: Debian's kcat and chromium (with its
# WebDriver, for the console tests), and kafkajs from npm.
# Each is installed only if missing, so this is quick on a machine that already has them.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v kcat >/dev/null 2>&1; then
  echo "installing kcat (Debian package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null
fi

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "installing chromium and chromium-driver (Debian packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if command -v npm >/dev/null 2>&1; then
  if [ ! -d tests/clients/js/node_modules/kafkajs ]; then
    echo "installing kafkajs (npm)"
    (cd tests/clients/js && npm ci --no-audit --no-fund --silent)
  fi
else
  echo "warning: npm not found; kafkajs tests will be skipped" >&2
fi
