"""The Kafka group handlers at every version in the API table: requests built with kio, run
through the handler, encoded and decoded again with the client codec, fields checked.

These cover the translation layer at versions no client in the other tests happens to use.
"""

from __future__ import annotations

import asyncio
import inspect
from datetime import timedelta
from typing import Any

import pytest
from kio.index import load_request_schema
from kio.schema.errors import ErrorCode

from rafka.broker import Broker, BrokerSettings
from rafka.broker.groups import GroupCoordinator, GroupSettings, ManualTimers
from rafka.protocol import decode_response, encode_response
from rafka.server.kafka.context import ConnectionState, RequestContext
from rafka.server.kafka.entities import build
from rafka.server.kafka.handlers import API_TABLE
from rafka.server.kafka.service import AdvertisedEndpoint, KafkaFrontDoor
from tests.broker.groups.helpers import FakeStore

SESSION = timedelta(seconds=10)


class Door:
    """A front door over an in-memory broker and a coordinator on manual timers."""

    def __init__(self) -> None:
        broker = Broker(BrokerSettings(engine="in_memory"))
        broker.open()
        broker.create_topic("t", 3)
        self.timers = ManualTimers()
        self.store = FakeStore(topics={"t": 3})
        self.coordinator = GroupCoordinator(
            self.store, GroupSettings(initial_rebalance_delay_ms=0), self.timers.clock
        )
        self.coordinator.start(self.timers)
        self.door = KafkaFrontDoor(
            broker, AdvertisedEndpoint("broker.test", 9092), self.coordinator
        )

    async def call(self, api_key: int, version: int, fields: dict[str, Any]) -> Any:
        request = build(load_request_schema(api_key, version), fields)
        ctx = RequestContext(api_key, version, 7, "client-x", ConnectionState("127.0.0.1:5555"))
        result = API_TABLE[api_key].handler(self.door, ctx, request)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            await asyncio.sleep(0)
            self.timers.advance(0)  # let a parked JoinGroup complete
            result = await task
        frame = b"".join(bytes(c) for c in encode_response(7, api_key, version, result))
        return decode_response(api_key, version, frame[4:])


def versions(api_key: int) -> list[int]:
    spec = API_TABLE[api_key]
    return list(range(spec.min_version, spec.max_version + 1))


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.mark.parametrize("version", versions(11))
def test_join_sync_heartbeat_describe_leave(version: int) -> None:
    async def scenario() -> None:
        d = Door()
        join = {
            "group_id": "g",
            "session_timeout": SESSION,
            "rebalance_timeout": SESSION,
            "member_id": "",
            "group_instance_id": None,
            "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": b"meta"}],
            "reason": None,
        }
        answer = await d.call(11, version, join)
        if version >= 4:
            assert answer.error_code == ErrorCode.member_id_required
            answer = await d.call(11, version, {**join, "member_id": answer.member_id})
        assert answer.error_code == ErrorCode.none
        member = answer.member_id
        assert (answer.generation_id, answer.leader, answer.protocol_name) == (1, member, "range")
        assert [(m.member_id, m.metadata) for m in answer.members] == [(member, b"meta")]

        sync_version = min(version, 5)
        synced = await d.call(
            14,
            sync_version,
            {
                "group_id": "g",
                "generation_id": 1,
                "member_id": member,
                "group_instance_id": None,
                "protocol_type": "consumer",
                "protocol_name": "range",
                "assignments": [{"member_id": member, "assignment": b"mine"}],
            },
        )
        assert (synced.error_code, synced.assignment) == (ErrorCode.none, b"mine")

        beat = {"group_id": "g", "generation_id": 1, "member_id": member, "group_instance_id": None}
        assert (await d.call(12, min(version, 4), beat)).error_code == ErrorCode.none
        stale = await d.call(12, min(version, 4), {**beat, "generation_id": 0})
        assert stale.error_code == ErrorCode.illegal_generation

        described = await d.call(
            15, min(version, 6), {"groups": ["g"], "include_authorized_operations": True}
        )
        (group,) = described.groups
        assert (group.group_state, group.protocol_data) == ("Stable", "range")
        assert [(m.member_id, m.client_id, m.client_host) for m in group.members] == [
            (member, "client-x", "/127.0.0.1")
        ]
        assert group.members[0].member_assignment == b"mine"

        leave_version = min(version, 5)
        leave = (
            {"group_id": "g", "members": [{"member_id": member, "group_instance_id": None}]}
            if leave_version >= 3
            else {"group_id": "g", "member_id": member}
        )
        left = await d.call(13, leave_version, leave)
        assert left.error_code == ErrorCode.none
        again = await d.call(13, leave_version, leave)
        if leave_version >= 3:
            assert again.members[0].error_code == ErrorCode.unknown_member_id
        else:
            assert again.error_code == ErrorCode.unknown_member_id

    run(scenario())


@pytest.mark.parametrize("version", versions(8))
def test_offset_commit_then_fetch(version: int) -> None:
    async def scenario() -> None:
        d = Door()
        committed = await d.call(
            8,
            version,
            {
                "group_id": "solo",
                "generation_id_or_member_epoch": -1,
                "member_id": "",
                "group_instance_id": None,
                "topics": [
                    {
                        "name": "t",
                        "partitions": [
                            {
                                "partition_index": 1,
                                "committed_offset": 42,
                                "committed_metadata": "x",
                            },
                            {
                                "partition_index": 9,
                                "committed_offset": 1,
                                "committed_metadata": None,
                            },
                        ],
                    }
                ],
            },
        )
        codes = {p.partition_index: p.error_code for p in committed.topics[0].partitions}
        assert codes == {1: ErrorCode.none, 9: ErrorCode.unknown_topic_or_partition}
        for fetch_version in versions(9):
            if fetch_version >= 8:
                fields: dict[str, Any] = {
                    "groups": [
                        {
                            "group_id": "solo",
                            "topics": [{"name": "t", "partition_indexes": [1, 2]}],
                        },
                        {"group_id": "other", "topics": None},
                    ]
                }
                answer = await d.call(9, fetch_version, fields)
                topics = answer.groups[0].topics
                assert answer.groups[1].topics == ()
            else:
                fields = {
                    "group_id": "solo",
                    "topics": [{"name": "t", "partition_indexes": [1, 2]}],
                }
                topics = (await d.call(9, fetch_version, fields)).topics
            found = {
                p.partition_index: (p.committed_offset, p.metadata) for p in topics[0].partitions
            }
            assert found == {1: (42, "x"), 2: (-1, "")}

    run(scenario())


@pytest.mark.parametrize("version", versions(10))
def test_find_coordinator(version: int) -> None:
    async def scenario() -> None:
        d = Door()
        if version >= 4:
            answer = await d.call(10, version, {"key_type": 0, "coordinator_keys": ["a", "b"]})
            assert [(c.key, c.node_id, c.host, c.port) for c in answer.coordinators] == [
                ("a", 0, "broker.test", 9092),
                ("b", 0, "broker.test", 9092),
            ]
            txn = await d.call(10, version, {"key_type": 1, "coordinator_keys": ["tx"]})
            assert txn.coordinators[0].error_code == ErrorCode.invalid_request
        else:
            answer = await d.call(10, version, {"key": "a", "key_type": 0})
            assert (answer.error_code, answer.node_id, answer.host) == (
                ErrorCode.none,
                0,
                "broker.test",
            )

    run(scenario())


@pytest.mark.parametrize("version", versions(16))
def test_list_groups(version: int) -> None:
    async def scenario() -> None:
        d = Door()
        await d.call(8, 8, _standalone_commit("solo"))
        answer = await d.call(16, version, {"states_filter": [], "types_filter": []})
        assert [g.group_id for g in answer.groups] == ["solo"]
        if version >= 4:
            assert answer.groups[0].group_state == "Empty"
            stable = await d.call(16, version, {"states_filter": ["Stable"], "types_filter": []})
            assert stable.groups == ()

    run(scenario())


@pytest.mark.parametrize("version", versions(15))
def test_describe_an_unknown_group(version: int) -> None:
    async def scenario() -> None:
        d = Door()
        answer = await d.call(
            15, version, {"groups": ["nope"], "include_authorized_operations": False}
        )
        (group,) = answer.groups
        if version >= 6:
            assert group.error_code == ErrorCode.group_id_not_found
        else:
            assert (group.error_code, group.group_state) == (ErrorCode.none, "Dead")

    run(scenario())


@pytest.mark.parametrize("version", versions(42))
def test_delete_groups_and_offsets(version: int) -> None:
    async def scenario() -> None:
        d = Door()
        await d.call(8, 8, _standalone_commit("solo"))
        await d.call(8, 8, _standalone_commit("keep"))
        deleted = await d.call(
            47,
            0,
            {"group_id": "keep", "topics": [{"name": "t", "partitions": [{"partition_index": 1}]}]},
        )
        assert deleted.error_code == ErrorCode.none
        assert deleted.topics[0].partitions[0].error_code == ErrorCode.none
        answer = await d.call(42, version, {"groups_names": ["solo", "nope"]})
        codes = {r.group_id: r.error_code for r in answer.results}
        assert codes == {"solo": ErrorCode.none, "nope": ErrorCode.group_id_not_found}
        gone = await d.call(47, 0, {"group_id": "solo", "topics": []})
        assert gone.error_code == ErrorCode.group_id_not_found

    run(scenario())


def _standalone_commit(group: str) -> dict[str, Any]:
    return {
        "group_id": group,
        "generation_id_or_member_epoch": -1,
        "member_id": "",
        "group_instance_id": None,
        "topics": [
            {
                "name": "t",
                "partitions": [
                    {"partition_index": 1, "committed_offset": 5, "committed_metadata": ""}
                ],
            }
        ],
    }
