"""The BrokerService servicer: each RPC turned into broker, group-coordinator and log calls.

Handlers run on the broker's event loop (grpc.aio), so they call the broker directly, as the
Kafka handlers do. Errors leave through `_run`/`_stream`, which map them to status codes
(`errors.py`); once the listener starts closing, every call answers UNAVAILABLE.

Consumer identity: a consumer's committed offsets live in the group coordinator's durable
store (`__consumer_offsets`) under the group id `group` or, if empty, `consumer_id`, so they
survive restarts and show up with their lag wherever Kafka groups do. Register and Subscribe
say who is around and what a Consume without a topic reads; they are kept durably too
(`rafka.broker.consumers`, `<data_dir>/consumers.json`), so a consumer subscribed once still
reads its topics after the broker restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from rafka.broker import Broker, Topic
from rafka.broker.cluster import ClusterLayout
from rafka.broker.consumers import ConsumerRegistry
from rafka.broker.groups import UNKNOWN_MEMBER_ID, CommitRequest, GroupCoordinator, OffsetToCommit
from rafka.server.grpc import metrics
from rafka.server.grpc.consume import ConsumeStream, ShutdownSignal, stream_settings
from rafka.server.grpc.convert import parse_message_id
from rafka.server.grpc.errors import HANDLED, RpcError, group_error, invalid, status_for
from rafka.server.grpc.gen import rafka_pb2 as pb
from rafka.server.grpc.gen import rafka_pb2_grpc
from rafka.server.grpc.publish import Publisher

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")


class BrokerServicer(rafka_pb2_grpc.BrokerServiceServicer):
    def __init__(
        self,
        broker: Broker,
        groups: GroupCoordinator,
        layout: ClusterLayout,
        consumers: ConsumerRegistry,
    ) -> None:
        self.broker = broker
        self.groups = groups
        self.layout = layout
        self.consumers = consumers
        self.shutdown = ShutdownSignal()
        self.publisher = Publisher(broker, layout, broker.clock)
        self.open_streams = 0

    def close(self) -> None:
        """Answer UNAVAILABLE from now on and end every open Consume stream."""
        self.shutdown.close()

    # ------------------------------------------------------------ plumbing

    async def _run(self, context: Context, work: Callable[[], Awaitable[T]]) -> T:
        try:
            self.shutdown.check()
            if self.broker.closed:
                raise RpcError(grpc.StatusCode.UNAVAILABLE, "the broker is shutting down")
            return await work()
        except HANDLED as exc:
            code, message = status_for(exc)
            await context.abort(code, message)

    # ------------------------------------------------------------ publishing

    async def Publish(self, request: pb.PublishRequest, context: Context) -> pb.PublishResponse:
        async def work() -> pb.PublishResponse:
            outcome = self.publisher.publish([request])
            await _all(outcome.durable)
            return outcome.response.results[0]

        return await self._run(context, work)

    async def PublishBatch(
        self, request: pb.PublishBatchRequest, context: Context
    ) -> pb.PublishBatchResponse:
        async def work() -> pb.PublishBatchResponse:
            outcome = self.publisher.publish_batch(request)
            await _all(outcome.durable)
            return outcome.response

        return await self._run(context, work)

    # ------------------------------------------------------------ consuming

    # Yields serialized ConsumeResponses, which grpc sends as they are (grpc/preserialized.py);
    # the generated base class types the stream as message objects.
    async def Consume(  # type: ignore[override]
        self, request: pb.ConsumeRequest, context: Context
    ) -> AsyncIterator[bytes]:
        try:
            self.shutdown.check()
            topics = (
                [request.topic] if request.topic else self.consumers.topics(request.consumer_id)
            )
            if not topics:
                raise invalid(
                    "no topic: name one, or Subscribe this consumer id to topics first"
                )
            stream = ConsumeStream(
                self.broker,
                self.groups,
                self.layout,
                self.shutdown,
                request,
                stream_settings(request, topics),
            )
            self.open_streams += 1
            try:
                async for response in stream.responses():
                    yield response
            finally:
                self.open_streams -= 1
        except HANDLED as exc:
            code, message = status_for(exc)
            await context.abort(code, message)

    # ------------------------------------------------------------ consumers

    async def Register(self, request: pb.RegisterRequest, context: Context) -> pb.RegisterResponse:
        async def work() -> pb.RegisterResponse:
            if not request.client_id:
                raise invalid("client_id is empty")
            _stored(self.consumers.register, request.client_id, request.client_type)
            return pb.RegisterResponse(success=True, message=f"registered {request.client_id}")

        return await self._run(context, work)

    async def Subscribe(
        self, request: pb.SubscribeRequest, context: Context
    ) -> pb.SubscribeResponse:
        async def work() -> pb.SubscribeResponse:
            if not request.consumer_id:
                raise invalid("consumer_id is empty")
            if not request.topic:
                raise invalid("topic name is empty")
            topic = self.broker.get_or_create_topic(request.topic)
            _stored(self.consumers.subscribe, request.consumer_id, topic.name)
            return pb.SubscribeResponse(
                success=True,
                message=f"{request.consumer_id} subscribed to {topic.name}",
                partitions=len(topic.partitions),
            )

        return await self._run(context, work)

    async def Acknowledge(
        self, request: pb.AcknowledgeRequest, context: Context
    ) -> pb.AcknowledgeResponse:
        async def work() -> pb.AcknowledgeResponse:
            topic, partition, offset = request.topic, request.partition, request.offset
            if request.message_id:
                topic_in_id, partition, offset = parse_message_id(request.message_id)
                if topic and topic != topic_in_id:
                    raise invalid(
                        f"message id {request.message_id!r} is not from topic {topic!r}"
                    )
                topic = topic_in_id
            group = self._group(request.group, request.consumer_id)
            # An ack moves the committed offset forward only: acking an older message after
            # a newer one must not make the consumer re-read.
            current = self._committed(group, topic, partition)
            target = max(current, offset + 1)
            if target != current:
                await self._commit(group, topic, partition, target)
            return pb.AcknowledgeResponse(
                success=True,
                message=f"acknowledged {topic}/{partition}/{offset} for {group}",
                committed_offset=target,
            )

        return await self._run(context, work)

    async def UpdateOffset(
        self, request: pb.UpdateOffsetRequest, context: Context
    ) -> pb.UpdateOffsetResponse:
        async def work() -> pb.UpdateOffsetResponse:
            group = self._group(request.group, request.consumer_id)
            await self._commit(group, request.topic, request.partition, request.offset)
            return pb.UpdateOffsetResponse(
                success=True,
                message=f"{group} committed {request.topic}/{request.partition} at "
                f"{request.offset}",
            )

        return await self._run(context, work)

    @staticmethod
    def _group(group: str, consumer_id: str) -> str:
        name = group or consumer_id
        if not name:
            raise invalid("consumer_id is empty")
        return name

    def _committed(self, group: str, topic: str, partition: int) -> int:
        self.broker.get_partition(topic, partition)
        fetched = self.groups.fetch_offsets(group, [(topic, partition)])
        if fetched.error is not None:
            raise group_error(fetched.error, group)
        committed = fetched.offsets.get((topic, partition))
        return committed.offset if committed is not None else -1

    async def _commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        if offset < 0:
            raise invalid(f"offset must be >= 0, got {offset}")
        self.broker.get_partition(topic, partition)
        self.layout.check_owner(topic, partition)
        pending = self.groups.commit_offsets(
            CommitRequest(
                group, UNKNOWN_MEMBER_ID, None, -1, (OffsetToCommit(topic, partition, offset),)
            )
        )
        errors = await pending.settle()
        error = errors.get((topic, partition))
        if error is not None:
            raise group_error(error, group)

    # ------------------------------------------------------------ metrics and metadata

    async def GetMetrics(
        self, request: pb.GetMetricsRequest, context: Context
    ) -> pb.GetMetricsResponse:
        async def work() -> pb.GetMetricsResponse:
            return metrics.collect(self.broker, self.groups, self.broker.clock)

        return await self._run(context, work)

    async def GetMetadata(
        self, request: pb.GetMetadataRequest, context: Context
    ) -> pb.GetMetadataResponse:
        async def work() -> pb.GetMetadataResponse:
            response = pb.GetMetadataResponse(
                total_partitions=self.layout.total_partitions,
                this_broker_id=(
                    self.broker.settings.broker_id
                    if self.layout.this_broker_id is None
                    else self.layout.this_broker_id
                ),
                cluster_id=self.layout.cluster_id or self.broker.cluster_id,
            )
            for endpoint in self.layout.brokers:
                response.brokers.append(
                    pb.BrokerInfo(
                        broker_id=endpoint.broker_id,
                        host=endpoint.host,
                        port=endpoint.port,
                        partitions=[endpoint.broker_id] if self.layout.total_partitions else [],
                    )
                )
            names = list(request.topics) or sorted(
                n for n, t in self.broker.topics.items() if not t.record.internal
            )
            for name in names:
                topic = self.broker.get_topic(name)
                response.topics.append(_topic_info(topic))
            return response

        return await self._run(context, work)

    # ------------------------------------------------------------ administration

    async def CreateTopic(
        self, request: pb.CreateTopicRequest, context: Context
    ) -> pb.CreateTopicResponse:
        async def work() -> pb.CreateTopicResponse:
            total = self.layout.total_partitions
            if total and request.partitions not in (0, total):
                raise invalid(
                    f"in multi-broker mode every topic has {total} partitions (one per broker); "
                    f"got {request.partitions}"
                )
            if request.partitions < 0:
                raise invalid(f"partition count must be >= 1, got {request.partitions}")
            topic = self.broker.create_topic(
                request.name, request.partitions or None, dict(request.configs)
            )
            assert topic is not None
            return pb.CreateTopicResponse(topic=_topic_info(topic))

        return await self._run(context, work)

    async def DeleteTopic(
        self, request: pb.DeleteTopicRequest, context: Context
    ) -> pb.DeleteTopicResponse:
        async def work() -> pb.DeleteTopicResponse:
            topic = self.broker.get_topic(request.name)
            if topic.record.internal:
                raise invalid(f"topic {request.name!r} is internal and cannot be deleted")
            self.broker.delete_topic(request.name)
            _stored(self.consumers.forget_topic, request.name)
            return pb.DeleteTopicResponse()

        return await self._run(context, work)

    async def ListTopics(
        self, request: pb.ListTopicsRequest, context: Context
    ) -> pb.ListTopicsResponse:
        async def work() -> pb.ListTopicsResponse:
            topics = sorted(self.broker.topics.values(), key=lambda t: t.name)
            return pb.ListTopicsResponse(
                topics=[
                    _topic_info(t)
                    for t in topics
                    if request.include_internal or not t.record.internal
                ]
            )

        return await self._run(context, work)

    async def DescribeTopic(
        self, request: pb.DescribeTopicRequest, context: Context
    ) -> pb.DescribeTopicResponse:
        async def work() -> pb.DescribeTopicResponse:
            topic = self.broker.get_topic(request.name)
            response = pb.DescribeTopicResponse(
                topic=_topic_info(topic), configs=dict(topic.record.configs)
            )
            for partition in topic.partitions:
                log = partition.log
                owner = self.layout.owner_id(partition.index)
                address = next(
                    (b.address for b in self.layout.brokers if b.broker_id == owner), ""
                )
                response.partitions.append(
                    pb.PartitionInfo(
                        partition=partition.index,
                        owner_broker_id=owner,
                        owner=address,
                        log_start_offset=log.log_start_offset,
                        log_end_offset=log.log_end_offset,
                        high_watermark=log.high_watermark,
                        size_bytes=log.size_bytes,
                        segments=log.segment_count,
                    )
                )
            return response

        return await self._run(context, work)


def _topic_info(topic: Topic) -> pb.TopicInfo:
    return pb.TopicInfo(
        name=topic.name,
        partitions=len(topic.partitions),
        internal=topic.record.internal,
        topic_id=str(topic.record.topic_id),
    )


def _stored(change: Callable[..., None], *args: Any) -> None:
    """Apply a change to the durable consumer registry; a failed write is the broker's fault."""
    try:
        change(*args)
    except OSError as exc:
        raise RpcError(grpc.StatusCode.INTERNAL, f"cannot store it: {exc}") from exc


async def _all(waits: list[Awaitable[None]]) -> None:
    if waits:
        await asyncio.gather(*waits)
