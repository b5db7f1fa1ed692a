"""InitProducerId: producer ids for idempotent producers (transactions are not supported)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from rafka.server.kafka.context import NO_THROTTLE, RequestContext

if TYPE_CHECKING:
    from rafka.server.kafka.service import KafkaFrontDoor


def handle_init_producer_id(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    if request.transactional_id is not None:
        return ctx.response(
            {
                "throttle_time": NO_THROTTLE,
                "error_code": ErrorCode.transactional_id_authorization_failed,
                "producer_id": -1,
                "producer_epoch": -1,
            }
        )
    existing = getattr(request, "producer_id", -1)
    epoch = getattr(request, "producer_epoch", -1)
    if existing >= 0 and epoch >= 0:
        # KIP-360: a producer bumping its own epoch after an error keeps its id.
        producer_id, producer_epoch = existing, epoch + 1
    else:
        producer_id, producer_epoch = door.broker.producer_ids.allocate(), 0
    return ctx.response(
        {
            "throttle_time": NO_THROTTLE,
            "error_code": ErrorCode.none,
            "producer_id": producer_id,
            "producer_epoch": producer_epoch,
        }
    )
