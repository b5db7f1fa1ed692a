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
from rafka.config import BrokerConfig
from rafka.log import LogConfig
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
        broker_id=config["broker.id"],
        data_dir=config.data_dir,
        engine=config["storage.type"],
        auto_create_topics=config["broker.auto_create_topics"],
        default_partitions=config["broker.default_partitions"],
        log_defaults=log_defaults,
        retention_check_ms=config["broker.retention_check_ms"],
    )


class BrokerServer:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.broker = Broker(broker_settings(config))
        self.kafka: KafkaListener | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Recovery can take a while on a large data dir; keep the loop responsive meanwhile.
        await loop.run_in_executor(None, self.broker.open)
        self.broker.start_background_tasks()
        kafka = self.config.listener("kafka")
        if kafka.enabled:
            # The advertised port is only known once bound when asked for port 0.
            door = KafkaFrontDoor(self.broker, AdvertisedEndpoint("", 0))
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
        logger.info(
            "rafka broker %d ready (data: %s, storage: %s)",
            self.broker.settings.broker_id,
            self.broker.settings.data_dir,
            self.broker.settings.engine,
        )

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait_stopped(self) -> None:
        await self._stopping.wait()

    async def stop(self) -> None:
        logger.info("shutting down")
        if self.kafka is not None:
            await self.kafka.close()
        await self.broker.close()
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
