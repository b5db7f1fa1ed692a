"""A broker process: the broker core plus its front doors, started and stopped as one.

Start-up order: open every log (recovering after a crash) before any listener accepts, so a
client can never see a half-loaded broker. Shutdown order is the reverse: stop accepting, close
client connections, then flush and close every log and mark it clean.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from rafka.broker import Broker, BrokerSettings
from rafka.broker.cluster import ClusterLayout, StaticLayout, parse_peers
from rafka.broker.consumers import ConsumerRegistry
from rafka.broker.groups import GroupCoordinator, GroupSettings, LoopTimers, OffsetsTopicStore
from rafka.compiled import active_twins
from rafka.config import BrokerConfig, ConfigError
from rafka.log import LogConfig
from rafka.observability import Endpoint, Observed
from rafka.server.grpc.listener import GrpcListener
from rafka.server.http import HttpListener
from rafka.server.kafka.listener import KafkaListener, advertised_host_for
from rafka.server.kafka.service import AdvertisedEndpoint, KafkaFrontDoor
from rafka.server.scheduling import request_slice

logger = logging.getLogger("rafka.server")


def broker_settings(config: BrokerConfig, layout: ClusterLayout | None = None) -> BrokerSettings:
    log_defaults = LogConfig(
        segment_bytes=config["storage.segment_bytes"],
        segment_ms=config["storage.segment_ms"],
        index_interval_bytes=config["storage.index_interval_bytes"],
        retention_ms=config["storage.retention_ms"],
        retention_bytes=config["storage.retention_bytes"],
        max_message_bytes=config["storage.max_message_bytes"],
        flush_messages=config["storage.flush_messages"],
        flush_ms=config["storage.flush_ms"],
    )
    return BrokerSettings(
        # Multi-broker mode: broker P owns partition P and is broker P (cluster.py).
        broker_id=config["cluster.partition"]
        if config["cluster.total_partitions"]
        else config["broker.id"],
        data_dir=config.data_dir,
        engine=config["storage.type"],
        auto_create_topics=config["broker.auto_create_topics"],
        # Multi-broker mode: every topic has one partition per broker.
        default_partitions=config["cluster.total_partitions"]
        or config["broker.default_partitions"],
        log_defaults=log_defaults,
        retention_check_ms=config["broker.retention_check_ms"],
        topic_id_namespace=layout.topic_id_namespace if layout is not None else None,
    )


def group_settings(config: BrokerConfig) -> GroupSettings:
    return GroupSettings(
        offsets_topic_partitions=config["groups.offsets_topic_partitions"],
        offsets_retention_ms=config["groups.offsets_retention_minutes"] * 60_000,
        offsets_retention_check_ms=config["groups.offsets_retention_check_ms"],
        min_session_timeout_ms=config["groups.min_session_timeout_ms"],
        max_session_timeout_ms=config["groups.max_session_timeout_ms"],
        initial_rebalance_delay_ms=config["groups.initial_rebalance_delay_ms"],
        max_group_size=config["groups.max_size"],
        offset_metadata_max_bytes=config["groups.offset_metadata_max_bytes"],
    )


def cluster_layout(config: BrokerConfig) -> StaticLayout:
    """The original Rafka's static multi-broker layout (a single node unless configured)."""
    try:
        return StaticLayout(
            config["cluster.partition"],
            config["cluster.total_partitions"],
            parse_peers(config["cluster.peers"]),
            kafka_peers=parse_peers(config["cluster.kafka_peers"]),
        )
    except ValueError as exc:
        raise ConfigError(f"cluster: {exc}") from exc


def _check_kafka_peers(layout: StaticLayout, advertised: AdvertisedEndpoint) -> None:
    """Say at start-up what would otherwise only show as Kafka clients that cannot reach
    some partitions."""
    if not layout.total_partitions:
        return
    mine = next((b for b in layout.brokers if b.broker_id == layout.this_broker_id), None)
    if mine is None or mine.kafka is None:
        logger.warning(
            "multi-broker mode without cluster.kafka_peers (--kafka-peers): Kafka clients "
            "learn only this broker's address, so partitions other brokers own have no "
            "leader they can reach"
        )
    elif mine.kafka != (advertised.host, advertised.port):
        logger.warning(
            "cluster.kafka_peers lists this broker as %s:%d but it advertises %s:%d; "
            "Kafka clients are told the advertised address",
            *mine.kafka,
            advertised.host,
            advertised.port,
        )


class BrokerServer:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.layout = cluster_layout(config)
        self.broker = Broker(broker_settings(config, self.layout))
        # gRPC consumers' registrations and subscriptions, in the data dir beside topics.json.
        self.consumers = ConsumerRegistry(
            self.broker.settings.data_dir if self.broker.settings.engine == "disk" else None
        )
        settings = group_settings(config)
        self.group_store = OffsetsTopicStore(self.broker, settings)
        self.groups = GroupCoordinator(self.group_store, settings, self.broker.clock)
        self.kafka: KafkaListener | None = None
        self.grpc: GrpcListener | None = None
        self.observed = Observed(
            self.broker, self.groups, allow_writes=config["console.allow_writes"]
        )
        self.http: HttpListener | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # HTTP first, so /healthz answers (and /readyz says 503) while logs load.
        http = self.config.listener("http")
        if http.enabled:
            self.http = HttpListener(self.observed, http.host, http.port)
            http_port = await self.http.start()
            self.observed.endpoints.append(Endpoint("http", http.host, http_port))
            logger.info("http listener on %s:%d (metrics, health, console)", http.host, http_port)
        # Recovery can take a while on a large data dir; keep the loop responsive meanwhile.
        await loop.run_in_executor(None, self.broker.open)
        # Committed offsets and groups are read back from __consumer_offsets before serving,
        # and gRPC consumers' registrations and subscriptions from their file.
        await loop.run_in_executor(None, self._load_groups)
        # Everything loaded so far (topics, partitions, indexes, groups) lives as long as the
        # broker. Freezing it takes it out of the garbage collector's full passes, which with
        # 1,000 partitions took 75-100 ms each and landed on whatever request ran next.
        gc.collect()
        gc.freeze()
        # This coroutine runs on the loop's thread, the one every request is handled on.
        request_slice(self.config["server.scheduler_slice_us"])
        twins = active_twins()
        logger.info(
            "compiled modules: %s",
            ", ".join(twins) if twins else "none, all interpreted (make compile builds them)",
        )
        self.observed.loaded = True
        if self.http is not None:
            self.http.warm_up()  # metrics: read oldest timestamps off the loop, in the background
        self.broker.start_background_tasks()
        self.groups.start(LoopTimers())
        kafka = self.config.listener("kafka")
        if kafka.enabled:
            # The advertised port is only known once bound when asked for port 0.
            door = KafkaFrontDoor(self.broker, AdvertisedEndpoint("", 0), self.groups, self.layout)
            self.kafka = KafkaListener(
                door, kafka.host, kafka.port, self.config["listeners.kafka.max_request_bytes"]
            )
            port = await self.kafka.start()
            door.endpoint = AdvertisedEndpoint(
                self.config["listeners.kafka.advertised_host"] or advertised_host_for(kafka.host),
                self.config["listeners.kafka.advertised_port"] or port,
            )
            _check_kafka_peers(self.layout, door.endpoint)
            logger.info(
                "kafka listener on %s:%d, advertised as %s:%d",
                kafka.host,
                port,
                door.endpoint.host,
                door.endpoint.port,
            )
            self.observed.kafka = door
            self.observed.endpoints.append(
                Endpoint("kafka", door.endpoint.host, door.endpoint.port)
            )
        grpc_config = self.config.listener("grpc")
        if grpc_config.enabled:
            self.grpc = GrpcListener(
                self.broker,
                self.groups,
                self.layout,
                self.consumers,
                grpc_config.host,
                grpc_config.port,
            )
            grpc_port = await self.grpc.start()
            self.observed.grpc = self.grpc.calls
            self.layout.set_self_endpoint(grpc_config.host, grpc_port)
            logger.info("grpc listener on %s:%d", grpc_config.host, grpc_port)
        self.observed.ready = True
        logger.info(
            "rafka broker %d ready (data: %s, storage: %s)",
            self.broker.settings.broker_id,
            self.broker.settings.data_dir,
            self.broker.settings.engine,
        )

    def _load_groups(self) -> None:
        self.group_store.ensure_topic()
        self.groups.load()
        self.consumers.load()

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait_stopped(self) -> None:
        await self._stopping.wait()

    async def stop(self) -> None:
        logger.info("shutting down")
        self.observed.ready = False
        if self.kafka is not None:
            await self.kafka.close()
        if self.grpc is not None:
            await self.grpc.close()
        self.groups.close()
        self.observed.loaded = False
        await self.broker.close()
        if self.http is not None:
            await self.http.close()
        logger.info("shutdown complete")


async def run_server(config: BrokerConfig) -> None:
    """Run until SIGINT or SIGTERM, then shut down cleanly."""
    server = BrokerServer(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.request_stop)
    try:
        await server.start()
        await server.wait_stopped()
    finally:
        await server.stop()
