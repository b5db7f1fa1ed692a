"""What can go wrong in a group operation, in words every front door can translate.

The coordinator answers with a `GroupError` (or None for success) rather than raising: a
JoinGroup may fail for one member while the rest of its group carries on, and an OffsetCommit
fails per partition. The member names are Kafka's error names so the Kafka door maps them one
to one; the gRPC door will map them to status codes. Each value is a sentence for logs and
for front doors that carry an error message.
"""

from __future__ import annotations

import enum


class GroupError(enum.Enum):
    INVALID_GROUP_ID = "the group id is empty"
    COORDINATOR_NOT_AVAILABLE = "the group coordinator is not available"
    # Not produced today (groups are loaded before any door serves); kept for front doors.
    COORDINATOR_LOAD_IN_PROGRESS = "the group coordinator is still loading its groups"
    UNKNOWN_MEMBER_ID = "the member id is not known to the group"
    ILLEGAL_GENERATION = "the generation id is not the group's current generation"
    REBALANCE_IN_PROGRESS = "the group is rebalancing; rejoin it"
    FENCED_INSTANCE_ID = "another member has taken over this group.instance.id"
    MEMBER_ID_REQUIRED = "rejoin with the member id given in this response"
    INCONSISTENT_GROUP_PROTOCOL = "the member's protocol type or protocols do not match the group's"
    INVALID_SESSION_TIMEOUT = "the session timeout is outside the broker's allowed range"
    GROUP_MAX_SIZE_REACHED = "the group already has as many members as the broker allows"
    GROUP_ID_NOT_FOUND = "the group does not exist"
    NON_EMPTY_GROUP = "the group still has members"
    OFFSET_METADATA_TOO_LARGE = "the committed metadata string is too long"
    INVALID_COMMIT_OFFSET_SIZE = "the offset commit is too large to store"
    GROUP_SUBSCRIBED_TO_TOPIC = "the group's members still subscribe to this topic"
    UNKNOWN_TOPIC_OR_PARTITION = "the topic or partition does not exist"
    UNKNOWN_SERVER_ERROR = "the coordinator failed to store the group"
