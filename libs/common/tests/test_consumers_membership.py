"""Static group membership: the ids and options every subscriber of a worker joins with."""

from __future__ import annotations

import socket

from commontest_schema import TEST_TOPIC, ThingHappened, inbox
from faststream.kafka import KafkaBroker
from scifikpi_common.messaging import EventConsumers, Membership, instance_id_from_env


def test_dynamic_membership_adds_nothing_but_the_group() -> None:
    assert Membership().options("ledger", "ledger.account.v1") == {"group_id": "ledger"}


def test_static_member_id_is_per_subscriber() -> None:
    """Two subscribers of one group are two members: one shared id would fence one of them."""
    m = Membership(instance_id="ledger-worker-0")
    a = m.options("ledger", "payments.payment.v1")
    b = m.options("ledger", "mining.session.v1")
    assert a["group_instance_id"] == "ledger-worker-0.payments.payment.v1"
    assert b["group_instance_id"] == "ledger-worker-0.mining.session.v1"
    assert "session_timeout_ms" not in a  # Tansu holds joins ~0.6 x the session: keep 10 s


def test_session_timeout_sets_a_heartbeat_a_third_of_it() -> None:
    opts = Membership(instance_id="x", session_timeout_ms=9000).options("g", "t")
    assert (opts["session_timeout_ms"], opts["heartbeat_interval_ms"]) == (9000, 3000)


def test_instance_id_from_env_prefers_the_service_setting() -> None:
    env = {"CONSUMER_INSTANCE_ID": "pod-a", "MINING_CONSUMER_INSTANCE_ID": "mining-worker-1"}
    assert instance_id_from_env("mining", env=env) == "mining-worker-1"
    assert instance_id_from_env("ledger", env=env) == "pod-a"


def test_instance_id_is_off_unless_set_and_auto_is_host_and_role() -> None:
    auto = {"CONSUMER_INSTANCE_ID": "auto"}
    assert instance_id_from_env("mining", "worker", env=auto) == f"{socket.gethostname()}-worker"
    assert instance_id_from_env("mining", env={}) is None
    assert instance_id_from_env("mining", env={"CONSUMER_INSTANCE_ID": "dynamic"}) is None
    assert instance_id_from_env("mining", env={"CONSUMER_INSTANCE_ID": " "}) is None
    assert instance_id_from_env("mining", env={"CONSUMER_INSTANCE_ID": "a b/c"}) == "a-b-c"


def test_subscription_options_of_a_batch_topic_and_a_plain_one() -> None:
    consumers = EventConsumers("commontest", inbox, max_batch=50, batch_timeout_ms=7)

    @consumers.batch_handler(ThingHappened)
    async def on_things(items, uow) -> None: ...

    batched = consumers.subscription_options(TEST_TOPIC, 20, Membership(instance_id="w0"))
    assert batched["group_id"] == "commontest"
    assert batched["group_instance_id"] == f"w0.{TEST_TOPIC}"
    assert (batched["batch"], batched["max_records"], batched["batch_timeout_ms"]) == (True, 50, 7)
    assert batched["fetch_max_wait_ms"] == 20
    plain = consumers.subscription_options("other.topic.v1")
    assert "batch" not in plain and "group_instance_id" not in plain


def test_attach_gives_each_aiokafka_consumer_its_static_id() -> None:
    """What reaches aiokafka, not only what we computed: FastStream keeps the builder kwargs."""
    consumers = EventConsumers("commontest", inbox)

    @consumers.handler(ThingHappened)
    async def on_thing(event, uow) -> None: ...

    broker = KafkaBroker("127.0.0.1:1")
    consumers.attach(broker, uow_factory=None, membership=Membership(instance_id="w0"))  # type: ignore[arg-type]
    (subscriber,) = broker.subscribers
    text = repr(vars(subscriber)) + repr(getattr(subscriber, "_connection_args", ""))
    assert f"w0.{TEST_TOPIC}" in text
