#!/usr/bin/env bash
# Hello, World: one broker, one message. A consumer started before the message arrives gets
# it live; one started afterwards replays it from the log. (The original delivered a lone
# message to neither.)
source "$(dirname "$0")/demo_lib.sh"
PORT=$BASE_PORT
DATA="$DEMO_DIR/helloworld"
rm -rf "$DATA"

start_demo_broker helloworld --port "$PORT" --data-dir "$DATA"

echo "starting a consumer that waits for one message..."
start_consumer --port "$PORT" --topic greetings --consumer-id early --from earliest \
  --max-messages 1 --timeout 20 --format json >"$DEMO_DIR/hello-early.json" &
early=$!
sleep 1

start_producer --brokers "127.0.0.1:$PORT" --topic greetings --message "Hello, World!" \
  --key example-key

wait "$early" || fail "the waiting consumer failed"
echo "a consumer connecting after the publish..."
start_consumer --port "$PORT" --topic greetings --consumer-id late --from earliest \
  --max-messages 1 --timeout 10 --format json >"$DEMO_DIR/hello-late.json"

for who in early late; do
  "$PY" - "$DEMO_DIR/hello-$who.json" "$who" <<'PYEOF' || fail "$who consumer"
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
assert len(lines) == 1, f"expected one message, got {len(lines)}"
m = lines[0]
assert m["payload"] == "Hello, World!" and m["key"] == "example-key", m
print(f"{sys.argv[2]} consumer received {m['payload']!r} (key {m['key']}, {m['message_id']})")
PYEOF
done
echo "helloworld demo OK"
