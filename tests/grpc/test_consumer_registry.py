"""Register and Subscribe are durable: a consumer id subscribed once still reads its topics,
without naming them or subscribing again, after the broker restarts (even after a crash)."""

from __future__ import annotations

import json
from pathlib import Path

from rafka.server.grpc.gen import rafka_pb2 as pb
from tests.grpc.helpers import collect, new_topic, publish, start_broker, stub


def test_subscriptions_survive_a_crash_and_a_restart(tmp_path: Path) -> None:
    broker = start_broker(tmp_path / "data")
    try:
        api = stub(broker.grpc_target)
        kept, deleted = new_topic(), new_topic()
        api.Register(
            pb.RegisterRequest(client_id="keeper", client_type=pb.CLIENT_TYPE_CONSUMER),
            timeout=10,
        )
        for topic in (kept, deleted):
            api.Subscribe(pb.SubscribeRequest(consumer_id="keeper", topic=topic), timeout=10)
        publish(api, kept, [b"one", b"two"])
        api.DeleteTopic(pb.DeleteTopicRequest(name=deleted), timeout=10)

        # SIGKILL: only what was on disk when each call answered survives.
        broker.kill()
        broker.restart()
        api = stub(broker.grpc_target)
        got = collect(api, pb.ConsumeRequest(consumer_id="keeper"), 2)
        assert [(m.topic, m.payload) for m in got] == [(kept, b"one"), (kept, b"two")]
        # The deleted topic left the subscription, so consuming did not bring it back.
        listed = api.ListTopics(pb.ListTopicsRequest(), timeout=10).topics
        assert deleted not in {t.name for t in listed}

        publish(api, kept, [b"three"])
        broker.restart()  # a clean stop this time
        api = stub(broker.grpc_target)
        got = collect(api, pb.ConsumeRequest(consumer_id="keeper", offset=2,
                                             start=pb.START_POSITION_OFFSET), 1)  # fmt: skip
        assert [m.payload for m in got] == [b"three"]
        stored = json.loads((tmp_path / "data" / "consumers.json").read_text())
        assert stored["clients"] == {"keeper": pb.CLIENT_TYPE_CONSUMER}
        assert stored["subscriptions"] == {"keeper": [kept]}
    finally:
        broker.stop()
