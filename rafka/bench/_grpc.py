"""The gRPC transport against a Rafka broker, with the generated stubs and `rafka.client`.

Throughput takes the lowest-overhead correct path, as the Kafka driver does with librdkafka, so
that the broker and not Python client code is measured: produce sends prebuilt PublishBatch
requests of 1,000 messages, 4 calls in flight, partitions round-robin per call, and counts the
results; consume opens one Consume stream from the earliest offset (1,000 messages per
response) and stops the clock at the last expected message. Latency goes through the client
library as an application would: `rafka.client.SyncProducer` sends, and a receiver in a child
process stamps each message as `rafka.client.Consumer.consume()` yields it. `acks` and
`compression` have no gRPC equivalent and are ignored.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from rafka.bench._latency import StampRecorder, measure
from rafka.bench._procstat import own_cpu_seconds
from rafka.bench._results import Latency, Throughput, percentiles
from rafka.bench._workload import Progress, Workload

_BATCH = 1000  # messages per PublishBatch call, and most messages per Consume response
_IN_FLIGHT = 4  # PublishBatch calls in flight at once
_TICK = 0.1


class GrpcDriver:
    via = "grpc"

    def __init__(self, address: str) -> None:
        import rafka.client  # noqa: F401  (fails early when grpc is not installed)

        self.address = address

    def describe(self) -> dict[str, str]:
        import grpc

        return {"grpcio": grpc.__version__, "client": "rafka.client"}

    def create_topic(self, topic: str, partitions: int) -> None:
        from rafka.client import Admin

        async def go() -> None:
            async with Admin(self.address) as admin:
                await admin.create_topic(topic, partitions)

        asyncio.run(go())

    def delete_topic(self, topic: str) -> None:
        from rafka.client import Admin

        async def go() -> None:
            async with Admin(self.address) as admin:
                await admin.delete_topic(topic)

        try:
            asyncio.run(go())
        except Exception:  # best effort: never fail a run on clean-up
            return

    def _channel(self) -> Any:
        import grpc

        from rafka.client.cluster import CHANNEL_OPTIONS

        return grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)

    def produce(self, topic: str, w: Workload, progress: Progress) -> Throughput:
        import grpc

        from rafka.server.grpc.gen import rafka_pb2 as pb
        from rafka.server.grpc.gen import rafka_pb2_grpc

        def batch(partition: int, k: int) -> Any:
            one = pb.PublishRequest(producer_id="rafka-bench", topic=topic, partition=partition,
                                    payload=bytes(w.size))
            return pb.PublishBatchRequest(messages=[one] * k)

        async def go() -> Throughput:
            full = [batch(p, _BATCH) for p in range(w.partitions)]
            st = {"sent": 0, "acked": 0, "errors": 0}
            async with self._channel() as channel:
                stub: Any = rafka_pb2_grpc.BrokerServiceStub(channel)
                c0, t0 = own_cpu_seconds(), time.perf_counter()
                next_tick = [t0]

                async def sender() -> None:
                    while st["sent"] < w.count and time.perf_counter() - t0 < w.max_seconds:
                        k = min(_BATCH, w.count - st["sent"])
                        part = (st["sent"] // _BATCH) % w.partitions
                        st["sent"] += k
                        try:
                            reply = await stub.PublishBatch(
                                full[part] if k == _BATCH else batch(part, k), timeout=60)
                            st["acked"] += len(reply.results)
                            st["errors"] += k - len(reply.results)
                        except grpc.aio.AioRpcError:
                            st["errors"] += k
                        if (now := time.perf_counter()) >= next_tick[0]:
                            progress(st["acked"], w.count)
                            next_tick[0] = now + _TICK

                await asyncio.gather(*(sender() for _ in range(_IN_FLIGHT)))
                secs, cpu = time.perf_counter() - t0, own_cpu_seconds() - c0
            progress(st["acked"], w.count)
            return Throughput("produce", st["acked"], w.count, st["acked"] * w.size, secs,
                              st["errors"], cpu, capped=st["sent"] < w.count)

        return asyncio.run(go())

    def consume(self, topic: str, expected: int, w: Workload, progress: Progress) -> Throughput:
        from rafka.server.grpc.gen import rafka_pb2 as pb
        from rafka.server.grpc.gen import rafka_pb2_grpc

        async def go() -> Throughput:
            got = nbytes = 0
            consumer_id = f"rafka-bench-{uuid.uuid4().hex[:8]}"
            async with self._channel() as channel:
                stub: Any = rafka_pb2_grpc.BrokerServiceStub(channel)
                await stub.Register(pb.RegisterRequest(
                    client_id=consumer_id, client_type=pb.CLIENT_TYPE_CONSUMER), timeout=30)
                c0, t0 = own_cpu_seconds(), time.perf_counter()
                t_last = next_tick = t0
                call = stub.Consume(pb.ConsumeRequest(
                    consumer_id=consumer_id, topic=topic, start=pb.START_POSITION_EARLIEST,
                    max_batch=_BATCH))
                try:
                    async with asyncio.timeout(w.max_seconds):
                        async for response in call:
                            got += len(response.messages)
                            nbytes += sum(len(m.payload) for m in response.messages)
                            t_last = time.perf_counter()
                            if got >= expected:
                                break
                            if t_last >= next_tick:
                                progress(got, expected)
                                next_tick = t_last + _TICK
                except TimeoutError:
                    pass
                finally:
                    call.cancel()
                cpu = own_cpu_seconds() - c0
            progress(got, expected)
            return Throughput("consume", got, expected, nbytes, t_last - t0, 0, cpu,
                              capped=got < expected)

        return asyncio.run(go())

    def latency(self, topic: str, w: Workload, progress: Progress) -> Latency:
        from rafka.client import SyncProducer

        class Sender:
            def __init__(self, address: str) -> None:
                self.producer = SyncProducer(address, linger_ms=w.latency_linger_ms)

            def send(self, value: bytes) -> None:
                self.producer.publish_nowait(topic, value, partition=0)

            def close(self) -> None:
                self.producer.close()

        t0 = time.perf_counter()
        sent, samples, lags = measure(
            Sender(self.address), receive_latency, (self.address, topic),
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


def receive_latency(address: str, topic: str, recorder: StampRecorder, deadline: float) -> None:
    """Latency receiver (child process): stamps each message as the Consume stream yields it."""
    from rafka.client import Consumer

    async def go() -> None:
        async with Consumer(address, f"rafka-bench-lat-{uuid.uuid4().hex[:8]}",
                            start="earliest", commit="manual") as consumer:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    async for m in consumer.consume(topic):
                        if m.payload is not None and recorder.record(m.payload):
                            return
            except TimeoutError:
                return

    asyncio.run(go())
