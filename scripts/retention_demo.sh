#!/usr/bin/env bash
# Retention: messages expire by age (--retention-seconds) and by size (retention.bytes).
# Retention deletes whole old segments, so the demo topics use small segments.
source "$(dirname "$0")/demo_lib.sh"
PORT=$BASE_PORT
B="127.0.0.1:$PORT"
DATA="$DEMO_DIR/retention"
rm -rf "$DATA"

start_demo_broker retention --port "$PORT" --data-dir "$DATA" --retention-seconds 2 \
  --set broker.retention_check_ms=200

field() {  # field TOPIC NAME: a partition figure from GetMetrics (check_metrics --json)
  check_metrics --port "$PORT" --json | "$PY" -c "
import json, sys
(figures,) = json.load(sys.stdin).values()
print(sum(int(p.get('$2', 0)) for p in figures['partitions'] if p['topic'] == '$1'))"
}

echo "== by age: retention 2 s"
rafka topics create aging --brokers "$B" --partitions 1 --config segment.bytes=1024 \
  --config segment.ms=2000
start_producer --brokers "$B" --topic aging --count 20 --size 100 --batch-size 5 --quiet
[ "$(field aging log_start_offset)" = 0 ] || fail "aging lost messages too early"
echo "published 20 messages; waiting for them to age out..."
sleep 3
# A new append rolls the old segment (older than segment.ms); retention never deletes the
# active segment.
start_producer --brokers "$B" --topic aging --message fresh --quiet
sleep 1
start=$(field aging log_start_offset)
echo "log start offset of aging is now $start"
[ "$start" = 20 ] || fail "expected the 20 old messages to expire, log starts at $start"
left=$(start_consumer --brokers "$B" --topic aging --from earliest --timeout 1 --format text)
[ "$left" = fresh ] || fail "expected only 'fresh' to remain, got: $left"

echo "== by size: retention.bytes=4096"
rafka topics create sized --brokers "$B" --partitions 1 \
  --config segment.bytes=1024 --config retention.bytes=4096 --config retention.ms=-1
start_producer --brokers "$B" --topic sized --count 200 --size 100 --batch-size 5 --quiet
sleep 1
start=$(field sized log_start_offset)
size=$(field sized bytes)
echo "sized keeps $size bytes, log start offset $start"
[ "$start" -gt 0 ] || fail "nothing was deleted by size"
[ "$size" -le $((4096 + 1024)) ] || fail "sized holds $size bytes, over retention.bytes"
echo "retention demo OK"
