"""A broker process: the broker core plus its front doors, started and stopped as one.

Start-up order: open every log (recovering after a crash) before any listener accepts, so a
client can never see a half-loaded broker. Shutdown order is the reverse: stop accepting, close
client connections, then flush and close every log and mark it clean.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from rafka.broker import Broker, BrokerSettings
from rafka.broker.cluster import StaticLayout, parse_peers
from rafka.broker.groups import GroupCoordinator, GroupSettings, LoopTimers, OffsetsTopicStore
from rafka.config import BrokerConfig, ConfigError
from rafka.log import LogConfig
from rafka.observability import Endpoint, Observed
from rafka.server.grpc.listener import GrpcListener
from rafka.server.http import HttpListener
from rafka.server.kafka.listener import KafkaListener, advertised_host_for
from rafka.server.kafka.service import AdvertisedEndpoint, KafkaFrontDoor

logger = logging.getLogger("rafka.server")


def broker_settings(config: BrokerConfig) -> BrokerSettings:
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
        )
    except ValueError as exc:
        raise ConfigError(f"cluster: {exc}") from exc


class BrokerServer:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.broker = Broker(broker_settings(config))
        settings = group_settings(config)
        self.group_store = OffsetsTopicStore(self.broker, settings)
        self.groups = GroupCoordinator(self.group_store, settings, self.broker.clock)
        self.kafka: KafkaListener | None = None
        self.layout = cluster_layout(config)
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
        # Committed offsets and groups are read back from __consumer_offsets before serving.
        await loop.run_in_executor(None, self._load_groups)
        self.observed.loaded = True
        self.broker.start_background_tasks()
        self.groups.start(LoopTimers())
        kafka = self.config.listener("kafka")
        if kafka.enabled:
            # The advertised port is only known once bound when asked for port 0.
            door = KafkaFrontDoor(self.broker, AdvertisedEndpoint("", 0), self.groups)
            self.kafka = KafkaListener(
                door, kafka.host, kafka.port, self.config["listeners.kafka.max_request_bytes"]
            )
            port = await self.kafka.start()
            door.endpoint = AdvertisedEndpoint(
                self.config["listeners.kafka.advertised_host"] or advertised_host_for(kafka.host),
                self.config["listeners.kafka.advertised_port"] or port,
            )
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
                self.broker, self.groups, self.layout, grpc_config.host, grpc_config.port
            )
            grpc_port = await self.grpc.start()
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
