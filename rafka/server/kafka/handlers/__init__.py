"""Kafka API handlers and the table of what this broker implements.

The table is what ApiVersions advertises, so it must list exactly the APIs and versions that
have a handler here; the version ranges are the ones kio can decode and our tests exercise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rafka.server.kafka.handlers.configs import (
    handle_alter_configs,
    handle_describe_configs,
    handle_incremental_alter_configs,
)
from rafka.server.kafka.handlers.fetch import handle_fetch
from rafka.server.kafka.handlers.group_offsets import (
    handle_offset_commit,
    handle_offset_delete,
    handle_offset_fetch,
)
from rafka.server.kafka.handlers.groups import (
    handle_delete_groups,
    handle_describe_groups,
    handle_find_coordinator,
    handle_heartbeat,
    handle_join_group,
    handle_leave_group,
    handle_list_groups,
    handle_sync_group,
)
from rafka.server.kafka.handlers.metadata import (
    handle_api_versions,
    handle_describe_cluster,
    handle_metadata,
)
from rafka.server.kafka.handlers.offsets import (
    handle_delete_records,
    handle_list_offsets,
    handle_offset_for_leader_epoch,
)
from rafka.server.kafka.handlers.produce import handle_produce
from rafka.server.kafka.handlers.producers import handle_init_producer_id
from rafka.server.kafka.handlers.topics import (
    handle_create_partitions,
    handle_create_topics,
    handle_delete_topics,
)

if TYPE_CHECKING:
    from rafka.server.kafka.service import ApiSpec


def _table() -> dict[int, ApiSpec]:
    from rafka.server.kafka.service import ApiSpec

    specs = [
        (0, ApiSpec("Produce", 3, 13, handle_produce)),
        (1, ApiSpec("Fetch", 4, 18, handle_fetch)),
        (2, ApiSpec("ListOffsets", 1, 11, handle_list_offsets)),
        (3, ApiSpec("Metadata", 0, 13, handle_metadata)),
        (8, ApiSpec("OffsetCommit", 2, 9, handle_offset_commit)),
        (9, ApiSpec("OffsetFetch", 1, 9, handle_offset_fetch)),
        (10, ApiSpec("FindCoordinator", 0, 6, handle_find_coordinator)),
        (11, ApiSpec("JoinGroup", 0, 9, handle_join_group)),
        (12, ApiSpec("Heartbeat", 0, 4, handle_heartbeat)),
        (13, ApiSpec("LeaveGroup", 0, 5, handle_leave_group)),
        (14, ApiSpec("SyncGroup", 0, 5, handle_sync_group)),
        (15, ApiSpec("DescribeGroups", 0, 6, handle_describe_groups)),
        (16, ApiSpec("ListGroups", 0, 5, handle_list_groups)),
        (18, ApiSpec("ApiVersions", 0, 4, handle_api_versions, before_auth=True)),
        (19, ApiSpec("CreateTopics", 2, 7, handle_create_topics)),
        (20, ApiSpec("DeleteTopics", 1, 6, handle_delete_topics)),
        (21, ApiSpec("DeleteRecords", 0, 2, handle_delete_records)),
        (22, ApiSpec("InitProducerId", 0, 6, handle_init_producer_id)),
        (23, ApiSpec("OffsetForLeaderEpoch", 2, 4, handle_offset_for_leader_epoch)),
        (32, ApiSpec("DescribeConfigs", 1, 4, handle_describe_configs)),
        (33, ApiSpec("AlterConfigs", 0, 2, handle_alter_configs)),
        (37, ApiSpec("CreatePartitions", 0, 3, handle_create_partitions)),
        (42, ApiSpec("DeleteGroups", 0, 2, handle_delete_groups)),
        (44, ApiSpec("IncrementalAlterConfigs", 0, 1, handle_incremental_alter_configs)),
        (47, ApiSpec("OffsetDelete", 0, 0, handle_offset_delete)),
        (60, ApiSpec("DescribeCluster", 0, 2, handle_describe_cluster)),
    ]
    return dict(specs)


API_TABLE: dict[int, ApiSpec] = _table()
