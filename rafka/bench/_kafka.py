"""The Kafka transport: librdkafka through confluent-kafka, against any Kafka-compatible broker.

Produce is the harness's fastest correct path (`produce_batch` of prebuilt messages, partitions
round-robin per call of 1000, failures reported); consume assigns every partition from the
beginning and asks for exactly the messages still missing, so the last call returns when the
last message arrives instead of waiting out a timeout; the latency receiver polls one message
at a time. With `Workload.consumer == "fetch"` the consume workload reads with the raw Fetch
client instead (`_rawfetch.py`: batch headers counted, no record decoded), which measures how
fast the broker serves rather than how fast a Python consumer decodes.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from typing import Any

from rafka.bench._latency import StampRecorder, measure
from rafka.bench._procstat import own_cpu_seconds
from rafka.bench._results import Latency, Throughput, percentiles
from rafka.bench._workload import Progress, Workload, no_progress

_BATCH = 1000  # messages per produce_batch() call
_QUEUE_BYTES = 64 << 20  # payload bytes the producer may hold unacknowledged
_CONSUME_MAX = 10_000  # messages per consume() call
_TICK = 0.1  # seconds between progress reports
# The raw Fetch consumer re-reads a topic until this much reading has been timed.
RAW_FETCH_MIN_SECONDS = 1.0
RAW_FETCH_MAX_PASSES = 50


class KafkaDriver:
    """Runs workloads over the Kafka protocol; `bootstrap` is HOST:PORT of any broker."""

    via = "kafka"

    def __init__(self, bootstrap: str, client_config: dict[str, Any] | None = None) -> None:
        try:
            import confluent_kafka  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "rafka bench needs confluent-kafka: pip install 'rafka[bench]'"
            ) from exc
        self.bootstrap = bootstrap
        self.client_config = dict(client_config or {})

    def _conf(self, **extra: Any) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap, **self.client_config, **extra}

    def describe(self) -> dict[str, str]:
        import confluent_kafka

        return {"confluent_kafka": confluent_kafka.version()[0],
                "librdkafka": confluent_kafka.libversion()[0]}

    # ------------------------------------------------------------------------------ topics
    def create_topic(self, topic: str, partitions: int, timeout: float = 20.0) -> None:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient
        from confluent_kafka.cimpl import NewTopic

        admin = AdminClient(self._conf(log_level=4))  # no info lines on stderr
        try:
            admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # until every partition has a leader
            meta = admin.list_topics(topic, timeout=5).topics.get(topic)
            if (meta is not None and meta.error is None and len(meta.partitions) == partitions
                    and all(p.leader >= 0 for p in meta.partitions.values())):
                return
            time.sleep(0.1)
        raise RuntimeError(f"topic {topic} has no leader for every partition after {timeout} s")

    def delete_topic(self, topic: str, timeout: float = 20.0) -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(self._conf(log_level=4))  # no info lines on stderr
        with contextlib.suppress(Exception):  # best effort: never fail a run on clean-up
            admin.delete_topics([topic])[topic].result(timeout)

    # ----------------------------------------------------------------------------- produce
    def produce(self, topic: str, w: Workload, progress: Progress) -> Throughput:
        from confluent_kafka import Producer

        errors = [0]
        batch_sizes = [0.0, 0.0]  # sum and count of batch sizes over librdkafka stats windows

        def on_error(err: Any, msg: Any) -> None:  # only failures: delivery.report.only.error
            errors[0] += 1

        def on_stats(raw: str) -> None:
            hist = json.loads(raw).get("topics", {}).get(topic, {}).get("batchsize", {})
            batch_sizes[0] += hist.get("sum", 0)
            batch_sizes[1] += hist.get("cnt", 0)

        conf = self._conf(**{
            "acks": w.acks,
            "linger.ms": w.linger_ms,
            "compression.type": w.compression,
            "delivery.report.only.error": True,
            "statistics.interval.ms": 500,
            "stats_cb": on_stats,
        })
        if w.batch_bytes is not None:
            conf["batch.size"] = w.batch_bytes
            conf["message.max.bytes"] = max(1_000_000, w.batch_bytes + 65536)
        producer = Producer(conf)
        value = os.urandom(w.size) if w.payload == "random" else bytes(w.size)
        msgs = [{"value": value}] * _BATCH
        max_queued = max(_BATCH, _QUEUE_BYTES // w.size)
        sent = calls = 0
        c0, t0 = own_cpu_seconds(), time.perf_counter()
        next_tick = t0
        while sent < w.count and time.perf_counter() - t0 < w.max_seconds:
            while len(producer) > max_queued:
                producer.poll(0.002)
            k = min(_BATCH, w.count - sent)
            # The per-message 'partition' is ignored by produce_batch: round-robin per call.
            sent += producer.produce_batch(topic, msgs if k == _BATCH else msgs[:k],
                                           partition=calls % w.partitions, on_delivery=on_error)
            calls += 1
            producer.poll(0)
            if (now := time.perf_counter()) >= next_tick:
                progress(sent - len(producer), w.count)
                next_tick = now + _TICK
        flush_deadline = time.perf_counter() + 60
        while (left := producer.flush(_TICK)) and time.perf_counter() < flush_deadline:
            progress(sent - left, w.count)
        secs = time.perf_counter() - t0
        cpu = own_cpu_seconds() - c0
        delivered = sent - left - errors[0]
        progress(delivered, w.count)
        avg_batch = batch_sizes[0] / batch_sizes[1] if batch_sizes[1] else None
        return Throughput("produce", delivered, w.count, delivered * w.size, secs,
                          errors[0] + left, cpu, capped=sent < w.count,
                          avg_batch_bytes=avg_batch)

    # ----------------------------------------------------------------------------- consume
    def consume(self, topic: str, expected: int, w: Workload, progress: Progress) -> Throughput:
        if w.consumer == "fetch":
            return self._consume_raw_fetch(topic, expected, w, progress)
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        consumer = Consumer(self._conf(**{
            "group.id": f"rafka-bench-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            # librdkafka stops fetching a partition for fetch.queue.backoff.ms (1 s) whenever
            # its local queue holds queued.min.messages (100,000): a fast broker with small
            # messages fills that within a fetch or two and then the run measures the pause.
            "fetch.queue.backoff.ms": 1,
        }))
        # Metadata first: assigned before the leader is known, librdkafka resolves
        # OFFSET_BEGINNING on a retry timer, ~0.5 s later, which is the client, not the broker.
        consumer.list_topics(topic, timeout=10)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(w.partitions)])
        got = nbytes = errors = 0
        c0, t0 = own_cpu_seconds(), time.perf_counter()
        t_last, next_tick = t0, t0
        try:
            while got < expected:
                left = w.max_seconds - (time.perf_counter() - t0)
                if left <= 0:
                    break
                # Ask for no more than is missing: consume(n, t) returns when n messages are
                # there or t has passed, so asking for more would end the run on a timeout.
                batch = consumer.consume(min(_CONSUME_MAX, expected - got), min(_TICK, left))
                for m in batch:
                    if m.error() is not None:
                        errors += 1
                    else:
                        got += 1
                        value = m.value()
                        nbytes += len(value) if value is not None else 0
                if batch:
                    t_last = time.perf_counter()
                if t_last >= next_tick:
                    progress(got, expected)
                    next_tick = t_last + _TICK
        finally:
            cpu = own_cpu_seconds() - c0
            consumer.close()
        progress(got, expected)
        return Throughput("consume", got, expected, nbytes, t_last - t0, errors, cpu,
                          capped=got < expected)

    def _consume_raw_fetch(self, topic: str, expected: int, w: Workload, progress: Progress
                           ) -> Throughput:
        """The broker's serving rate: records counted from batch headers (`_rawfetch.py`).

        Payload bytes are messages x `w.size` (values are not looked at), the same MB as the
        librdkafka consumer's figure for the uncompressed, key-less messages produce writes.
        A topic holding more than `expected` records (an existing `--topic`) is counted up to
        `expected`.

        One pass over 100 MB takes ~0.1 s here, too short to time on a shared machine, so the
        topic is read again from offset 0, each pass on fresh connections, until
        RAW_FETCH_MIN_SECONDS of reading have been timed (or RAW_FETCH_MAX_PASSES): the figure
        covers every pass, and `passes` says how many there were."""
        from rafka.bench._rawfetch import RawFetchClient

        got, seconds, cpu, passes, capped = 0, 0.0, 0.0, 0, False
        while not passes or (
            seconds < RAW_FETCH_MIN_SECONDS and passes < RAW_FETCH_MAX_PASSES and not capped
        ):
            with RawFetchClient(self.bootstrap) as client:  # connect and ApiVersions: untimed
                c0 = own_cpu_seconds()
                counted = client.count(topic, expected, w.max_seconds,
                                       progress if not passes else no_progress)
                cpu += own_cpu_seconds() - c0
            got += min(counted.messages, expected)
            seconds += counted.seconds
            capped = counted.capped
            passes += 1
        return Throughput("consume", got, expected * passes, got * w.size, seconds, 0, cpu,
                          capped=capped, passes=passes)

    # ----------------------------------------------------------------------------- latency
    def latency(self, topic: str, w: Workload, progress: Progress) -> Latency:
        sender = _KafkaSender(self._conf(**{
            "acks": w.acks,
            "linger.ms": w.latency_linger_ms,
            "compression.type": w.compression,
        }), topic)
        t0 = time.perf_counter()
        sent, samples, lags = measure(
            sender, receive_latency, (self._conf(), topic),
            size=w.size, rate=w.rate, seconds=w.latency_seconds, progress=progress,
        )
        pct, lag = percentiles(samples), percentiles(lags)
        return Latency(
            "latency", sent, len(samples), w.rate, w.latency_seconds, w.latency_linger_ms,
            p50_ms=pct["p50_ms"], p90_ms=pct["p90_ms"], p99_ms=pct["p99_ms"],
            p999_ms=pct["p999_ms"], max_ms=pct["max_ms"], mean_ms=pct["mean_ms"],
            sender_lag_p99_ms=lag["p99_ms"], sender_lag_max_ms=lag["max_ms"],
            elapsed_seconds=time.perf_counter() - t0,
        )


class _KafkaSender:
    def __init__(self, conf: dict[str, Any], topic: str) -> None:
        from confluent_kafka import Producer

        self.producer = Producer(conf)
        self.topic = topic

    def send(self, value: bytes) -> None:
        self.producer.produce(self.topic, value, partition=0)
        self.producer.poll(0)

    def close(self) -> None:
        self.producer.flush(30)


def receive_latency(conf: dict[str, Any], topic: str, recorder: StampRecorder,
                    deadline: float) -> None:
    """Latency receiver (runs in a child process): one message per poll(), so each message is
    stamped when librdkafka hands it over, not when a batch fills up or a timeout expires.
    Consumer settings are librdkafka's defaults (fetch.wait.max.ms=500, fetch.min.bytes=1)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({**conf, "group.id": f"rafka-bench-lat-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})
    consumer.list_topics(topic, timeout=10)
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    try:
        while time.monotonic() < deadline:
            m = consumer.poll(0.05)
            if m is None or m.error() is not None:
                continue
            value = m.value()
            if value is not None and recorder.record(value):
                return
    finally:
        consumer.close()
