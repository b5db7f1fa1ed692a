#!/usr/bin/env bash
# Offset tracking: a consumer reads, stops; more messages are published; the same consumer id
# starts again and resumes exactly where it stopped: no message lost, none repeated. (The
# original's consumer ids changed on every start, so offsets could never resume.)
source "$(dirname "$0")/demo_lib.sh"
PORT=$BASE_PORT
DATA="$DEMO_DIR/offsets"
rm -rf "$DATA"
start_demo_broker offsets --port "$PORT" --data-dir "$DATA"
B="127.0.0.1:$PORT"

start_producer --brokers "$B" --topic tracked -m one -m two -m three -m four -m five --quiet
first=$(start_consumer --port "$PORT" --topic tracked --consumer-id tracker --max-messages 3 \
  --timeout 5 --format text)
echo "first run read: $(echo $first)"
[ "$(echo $first)" = "one two three" ] || fail "first run read: $first"

start_producer --brokers "$B" --topic tracked -m six -m seven --quiet
second=$(start_consumer --port "$PORT" --topic tracked --consumer-id tracker --timeout 1 \
  --format text)
echo "second run read: $(echo $second)"
[ "$(echo $second)" = "four five six seven" ] || fail "second run read: $second"

echo "restarting the broker; the committed offset is durable"
"$ROOT/scripts/kill.sh"
start_demo_broker offsets --port "$PORT" --data-dir "$DATA"
start_producer --brokers "$B" --topic tracked -m eight --quiet
third=$(start_consumer --port "$PORT" --topic tracked --consumer-id tracker --timeout 1 \
  --format text)
echo "third run read: $(echo $third)"
[ "$(echo $third)" = "eight" ] || fail "third run read: $third"
other=$(start_consumer --port "$PORT" --topic tracked --consumer-id someone-else --timeout 1 \
  --format text | wc -l)
[ "$other" = 8 ] || fail "another consumer id should read all 8 messages, read $other"
echo "a different consumer id still reads all $other messages"
echo "offset tracking demo OK"
