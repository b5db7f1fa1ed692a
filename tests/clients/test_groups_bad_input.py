"""Bad group requests over a raw socket: each gets the right error code, the broker does not
crash, and a live consumer group next door never notices."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from kio.index import load_request_schema
from kio.schema.errors import ErrorCode

from rafka.server.kafka.entities import build
from tests.clients.test_groups_confluent import (
    BROKER_ARGS,
    committed,
    create_topic,
    names,
    produce,
    wait_until_read,
)
from tests.support.broker_process import BrokerProcess
from tests.support.group_consumer import GroupConsumer, wait_for_balance
from tests.support.raw_kafka import RawKafka

pytestmark = pytest.mark.slow
JOIN, SYNC, HEARTBEAT, LEAVE, COMMIT, DESCRIBE = 11, 14, 12, 13, 8, 15


def request(api_key: int, version: int, **fields: Any) -> Any:
    return build(load_request_schema(api_key, version), fields)


def join(raw: RawKafka, group: str, **overrides: Any) -> Any:
    fields = {
        "group_id": group,
        "session_timeout": timedelta(seconds=10),
        "rebalance_timeout": timedelta(seconds=10),
        "member_id": "",
        "group_instance_id": None,
        "protocol_type": "consumer",
        "protocols": [{"name": "range", "metadata": b""}],
        **overrides,
    }
    return raw.call(JOIN, 5, request(JOIN, 5, **fields))


def commit(raw: RawKafka, group: str, member: str, generation: int, metadata: str = "") -> Any:
    response = raw.call(
        COMMIT,
        8,
        request(
            COMMIT,
            8,
            group_id=group,
            generation_id_or_member_epoch=generation,
            member_id=member,
            group_instance_id=None,
            topics=[
                {
                    "name": TOPIC,
                    "partitions": [
                        {
                            "partition_index": 0,
                            "committed_offset": 1,
                            "committed_metadata": metadata,
                        }
                    ],
                }
            ],
        ),
    )
    return response.topics[0].partitions[0].error_code


TOPIC, GROUP = names("bad")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BrokerProcess, GroupConsumer]]:
    """A broker with one healthy consumer group reading TOPIC."""
    with BrokerProcess(tmp_path_factory.mktemp("bad") / "data", *BROKER_ARGS) as broker:
        partitions = create_topic(broker, TOPIC, 2)
        with GroupConsumer(broker.bootstrap, GROUP, TOPIC) as consumer:
            wait_for_balance([consumer], partitions)
            yield broker, consumer
            consumer.close()


def member_and_generation(raw: RawKafka) -> tuple[str, int]:
    described = raw.call(
        DESCRIBE, 5, request(DESCRIBE, 5, groups=[GROUP], include_authorized_operations=False)
    )
    (group,) = described.groups
    assert group.group_state == "Stable"
    (member,) = group.members
    return member.member_id, 1


def test_joins_that_do_not_fit_the_group_are_refused(
    live: tuple[BrokerProcess, GroupConsumer],
) -> None:
    broker, _ = live
    with RawKafka(broker.bootstrap) as raw:
        assert join(raw, GROUP, protocol_type="connect").error_code == (
            ErrorCode.inconsistent_group_protocol
        )
        unknown = [{"name": "my-own-assignor", "metadata": b"x"}]
        assert (
            join(raw, GROUP, protocols=unknown).error_code == ErrorCode.inconsistent_group_protocol
        )
        assert join(raw, GROUP, protocols=[]).error_code == ErrorCode.inconsistent_group_protocol
        short = join(raw, GROUP, session_timeout=timedelta(milliseconds=1))
        assert short.error_code == ErrorCode.invalid_session_timeout
        assert join(raw, "").error_code == ErrorCode.invalid_group_id
        stranger = join(raw, GROUP, member_id="made-up")
        assert stranger.error_code == ErrorCode.unknown_member_id
        # A member id handed out but never used does not disturb the group.
        assert join(raw, GROUP).error_code == ErrorCode.member_id_required


def test_commits_from_strangers_stale_generations_and_huge_metadata_are_refused(
    live: tuple[BrokerProcess, GroupConsumer],
) -> None:
    broker, _ = live
    with RawKafka(broker.bootstrap) as raw:
        member, generation = member_and_generation(raw)
        assert commit(raw, GROUP, "stranger", generation) == ErrorCode.unknown_member_id
        assert commit(raw, GROUP, member, generation - 1) == ErrorCode.illegal_generation
        assert commit(raw, GROUP, member, generation + 5) == ErrorCode.illegal_generation
        assert commit(raw, GROUP, "", -1) == ErrorCode.unknown_member_id  # group has members
        assert commit(raw, "standalone", "", -1, "x" * 4097) == ErrorCode.offset_metadata_too_large
        assert commit(raw, "standalone", "", -1, "x" * 4096) == ErrorCode.none
        assert commit(raw, "gone", "someone", 3) == ErrorCode.illegal_generation

        beat = request(HEARTBEAT, 4, group_id=GROUP, generation_id=generation, member_id="nobody")
        assert raw.call(HEARTBEAT, 4, beat).error_code == ErrorCode.unknown_member_id
        stale = request(
            HEARTBEAT, 4, group_id=GROUP, generation_id=generation + 1, member_id=member
        )
        assert raw.call(HEARTBEAT, 4, stale).error_code == ErrorCode.illegal_generation
        sync = request(SYNC, 5, group_id="no-group", generation_id=1, member_id="x", assignments=[])
        assert raw.call(SYNC, 5, sync).error_code == ErrorCode.unknown_member_id
        leave = request(
            LEAVE, 5, group_id=GROUP, members=[{"member_id": "nobody", "group_instance_id": None}]
        )
        answer = raw.call(LEAVE, 5, leave)
        assert [m.error_code for m in answer.members] == [ErrorCode.unknown_member_id]
    assert (TOPIC, 0) not in committed(broker, GROUP)


def test_deleting_a_live_or_unknown_group_is_refused(
    live: tuple[BrokerProcess, GroupConsumer],
) -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    broker, _ = live
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.delete_consumer_groups([GROUP, "no-such-group"], request_timeout=15)
    for group, expected in ((GROUP, "NON_EMPTY_GROUP"), ("no-such-group", "GROUP_ID_NOT_FOUND")):
        with pytest.raises(KafkaException) as raised:
            futures[group].result(timeout=15)
        assert raised.value.args[0].name() == expected


def test_an_undecodable_join_closes_only_that_connection(
    live: tuple[BrokerProcess, GroupConsumer],
) -> None:
    broker, _ = live
    with RawKafka(broker.bootstrap) as raw:
        header = struct.pack(">hhih", JOIN, 5, 1, 3) + b"raw"
        body = struct.pack(">h", 200) + b"short"  # a group id longer than the frame
        raw.send_raw(struct.pack(">i", len(header + body)) + header + body)
        assert raw.is_closed_by_peer()


def test_the_live_group_never_noticed(live: tuple[BrokerProcess, GroupConsumer]) -> None:
    broker, consumer = live
    events = consumer.rebalance_events()
    produce(broker, TOPIC, [f"still-{i}" for i in range(20)])
    wait_until_read([consumer], 20)
    assert consumer.rebalance_events() == events
    assert len(events) == 1  # the one assignment it got when it joined
    with RawKafka(broker.bootstrap) as raw:
        member_and_generation(raw)
