# Shared by the demo scripts (sourced, not run): where things live, starting brokers with
# recorded PIDs, and failing loudly. Settings (environment):
#   DEMO_BIN        directory holding start_broker, rafka, ... (default: ../.venv/bin)
#   DEMO_DIR   data, logs and PID files (default: ${TMPDIR:-/tmp}/rafka-demo)
#   BASE_PORT        first gRPC port (default 50051; the demos use BASE_PORT..BASE_PORT+2)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEMO_BIN="${DEMO_BIN:-$ROOT/.venv/bin}"
DEMO_DIR="${DEMO_DIR:-${TMPDIR:-/tmp}/rafka-demo}"
BASE_PORT="${BASE_PORT:-50051}"
PY="$DEMO_BIN/python"
export PATH="$DEMO_BIN:$PATH"
PID_DIR="$DEMO_DIR/pids"
mkdir -p "$PID_DIR"

fail() {
  echo "DEMO FAILED: $*" >&2
  exit 1
}

# start_demo_broker NAME [start_broker flags...]: start a broker in the background, record its
# PID in $PID_DIR/NAME.pid and wait until it says it is ready.
start_demo_broker() {
  local name=$1
  shift
  local log="$DEMO_DIR/$name.log"
  : >"$log"
  start_broker "$@" --kafka-port 0 --http-port 0 >>"$log" 2>&1 &
  local pid=$!
  echo "$pid" >"$PID_DIR/$name.pid"
  for _ in $(seq 1 200); do
    if grep -q "ready" "$log"; then
      echo "broker $name running (pid $pid, log $log)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$log" >&2
      fail "broker $name exited during start-up"
    fi
    sleep 0.1
  done
  cat "$log" >&2
  fail "broker $name not ready after 20 s"
}

# Stop the brokers this demo started when it exits, however it exits.
trap '"$ROOT/scripts/kill.sh" >/dev/null' EXIT
