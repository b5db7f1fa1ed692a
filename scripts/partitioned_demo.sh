#!/usr/bin/env bash
# Three brokers, each owning one partition of every topic. Keyed messages go to
# murmur2(key) % 3 (Kafka's default partitioner), each stored on the broker that owns that
# partition; a publish to the wrong broker is refused, naming the owner.
source "$(dirname "$0")/demo_lib.sh"
PORTS=("$BASE_PORT" "$((BASE_PORT + 1))" "$((BASE_PORT + 2))")
PEERS="127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}"
TOPIC=partitioned-topic
COUNT=30
rm -rf "$DEMO_DIR/partitioned"

for i in 0 1 2; do
  start_demo_broker "partitioned-$i" --port "${PORTS[$i]}" --partition "$i" \
    --total-partitions 3 --peers "$PEERS" --data-dir "$DEMO_DIR/partitioned/broker-$i"
done

lines="$DEMO_DIR/partitioned-input.txt"
for n in $(seq 1 "$COUNT"); do printf 'user-%d\tevent %d\n' "$n" "$n"; done >"$lines"
start_producer --brokers "$PEERS" --topic "$TOPIC" --key-delimiter $'\t' --file "$lines" --quiet

echo "what each broker stores:"
for i in 0 1 2; do
  check_metrics --port "${PORTS[$i]}" --json >"$DEMO_DIR/partitioned-metrics-$i.json"
done
start_consumer --brokers "$PEERS" --topic "$TOPIC" --from earliest --timeout 2 --format json \
  >"$DEMO_DIR/partitioned-all.json"

"$PY" - "$DEMO_DIR" "$COUNT" "$TOPIC" <<'PYEOF' || fail "messages are not where their keys say"
import json, sys
from collections import Counter
from rafka.partitioner import partition_for_key
folder, count, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3]
expected = Counter(partition_for_key(f"user-{n}".encode(), 3) for n in range(1, count + 1))
for i in range(3):
    (figures,) = json.load(open(f"{folder}/partitioned-metrics-{i}.json")).values()
    stored = {int(p.get("partition", 0)): int(p["messages"])
              for p in figures["partitions"] if p["topic"] == topic}
    others = {p: n for p, n in stored.items() if p != i and n}
    assert not others, f"broker {i} stores messages of partitions it does not own: {others}"
    assert stored.get(i, 0) == expected[i], f"broker {i}: {stored.get(i, 0)} != {expected[i]}"
    print(f"broker {i} owns partition {i}: {stored.get(i, 0)} messages")
messages = [json.loads(line) for line in open(f"{folder}/partitioned-all.json") if line.strip()]
assert len(messages) == count, f"consumed {len(messages)} of {count}"
for m in messages:
    assert m["partition"] == partition_for_key(m["key"].encode(), 3), m
assert len(expected) == 3, "the keys did not spread over all three brokers"
print(f"all {count} messages consumed, each from murmur2(key) % 3")
PYEOF

echo "publishing partition 1 straight to broker 0 (must be refused):"
if start_producer --brokers "127.0.0.1:${PORTS[0]}" --direct --topic "$TOPIC" --partition 1 \
  --message wrong-broker 2>"$DEMO_DIR/partitioned-refused.txt"; then
  fail "broker 0 accepted a message for partition 1"
fi
cat "$DEMO_DIR/partitioned-refused.txt"
grep -q "FAILED_PRECONDITION.*owned by broker 1 at 127.0.0.1:${PORTS[1]}" \
  "$DEMO_DIR/partitioned-refused.txt" || fail "the refusal does not name the owner"
echo "partitioned demo OK"
