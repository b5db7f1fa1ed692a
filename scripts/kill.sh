#!/usr/bin/env bash
# Stop the brokers the demos started, and only those: each demo records its brokers' PIDs in
# $DEMO_DIR/pids/*.pid; a PID whose process is no longer a Rafka broker (the number was
# reused) is left alone.
set -euo pipefail
DEMO_DIR="${DEMO_DIR:-${TMPDIR:-/tmp}/rafka-demo}"
PID_DIR="$DEMO_DIR/pids"
[ -d "$PID_DIR" ] || exit 0
shopt -s nullglob
for file in "$PID_DIR"/*.pid; do
  pid=$(cat "$file")
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "start_broker"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "broker $pid did not stop in 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "stopped broker $(basename "$file" .pid) (pid $pid)"
  fi
  rm -f "$file"
done
