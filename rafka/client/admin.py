"""Topic administration, metadata and metrics over gRPC (what `rafka topics` and `rafka
metrics` use). Every call goes to one broker; in multi-broker mode create and delete go to
every bootstrap broker, since each holds its own partition of every topic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType

from rafka.client.cluster import Cluster, with_retries
from rafka.server.grpc.gen import rafka_pb2 as pb


class Admin:
    def __init__(
        self,
        brokers: str | Sequence[str] = "127.0.0.1:50051",
        *,
        request_timeout_s: float = 30.0,
        retries: int = 3,
    ) -> None:
        self.cluster = Cluster(brokers)
        self.request_timeout_s = request_timeout_s
        self.retries = retries

    async def __aenter__(self) -> Admin:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.cluster.close()

    def _addresses(self, every: bool) -> list[str]:
        return list(self.cluster.bootstrap) if every else [self.cluster.default_address]

    async def create_topic(
        self, name: str, partitions: int = 0, configs: Mapping[str, str] | None = None
    ) -> pb.TopicInfo:
        request = pb.CreateTopicRequest(name=name, partitions=partitions, configs=configs or {})
        info = pb.TopicInfo()
        for address in self._addresses(every=True):
            stub = self.cluster.stub(address)
            response = await with_retries(
                lambda attempt, stub=stub: stub.CreateTopic(  # type: ignore[misc]
                    request, timeout=self.request_timeout_s, wait_for_ready=attempt > 0
                ),
                self.retries,
                0.1,
                what=f"create topic at {address}",
            )
            info = response.topic
        return info

    async def delete_topic(self, name: str) -> None:
        request = pb.DeleteTopicRequest(name=name)
        for address in self._addresses(every=True):
            stub = self.cluster.stub(address)
            await with_retries(
                lambda attempt, stub=stub: stub.DeleteTopic(  # type: ignore[misc]
                    request, timeout=self.request_timeout_s, wait_for_ready=attempt > 0
                ),
                self.retries,
                0.1,
                what=f"delete topic at {address}",
            )

    async def list_topics(self, include_internal: bool = False) -> list[pb.TopicInfo]:
        stub = self.cluster.stub(self.cluster.default_address)
        request = pb.ListTopicsRequest(include_internal=include_internal)
        response = await with_retries(
            lambda attempt: stub.ListTopics(
                request, timeout=self.request_timeout_s, wait_for_ready=attempt > 0
            ),
            self.retries,
            0.1,
            what="list topics",
        )
        return list(response.topics)

    async def describe_topic(self, name: str) -> pb.DescribeTopicResponse:
        stub = self.cluster.stub(self.cluster.default_address)
        request = pb.DescribeTopicRequest(name=name)
        return await with_retries(
            lambda attempt: stub.DescribeTopic(
                request, timeout=self.request_timeout_s, wait_for_ready=attempt > 0
            ),
            self.retries,
            0.1,
            what="describe topic",
        )

    async def metrics(self, address: str | None = None) -> pb.GetMetricsResponse:
        stub = self.cluster.stub(address or self.cluster.default_address)
        return await with_retries(
            lambda attempt: stub.GetMetrics(
                pb.GetMetricsRequest(),
                timeout=self.request_timeout_s,
                wait_for_ready=attempt > 0,
            ),
            self.retries,
            0.1,
            what="get metrics",
        )

    async def metadata(self) -> pb.GetMetadataResponse:
        stub = self.cluster.stub(self.cluster.default_address)
        return await with_retries(
            lambda attempt: stub.GetMetadata(
                pb.GetMetadataRequest(),
                timeout=self.request_timeout_s,
                wait_for_ready=attempt > 0,
            ),
            self.retries,
            0.1,
            what="get metadata",
        )
