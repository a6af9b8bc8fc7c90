"""The declarative service table and what each process gets: ports and environment."""

from __future__ import annotations

import socket

import pytest
from scifikpi_tools.services import SERVICES, STANDINS, Service, port_offsets
from scifikpi_tools.stack import LocalStack, StackError
from scifikpi_tools.standins import (
    DEV_STRIPE_SECRET_KEY,
    DEV_STRIPE_WEBHOOK_SECRET,
    DEV_YOOKASSA_SECRET_KEY,
    DEV_YOOKASSA_SHOP_ID,
)
from scifikpi_tools.testing import shifted_ports_base


def test_the_table_holds_every_service_and_the_gateway_last() -> None:
    names = [p.name for s in SERVICES for p in s.process_list()]
    assert names == [
        "auth-api",
        "auth-worker",
        "auth-relay",
        "payments-api",
        "payments-worker",
        "payments-relay",
        "payments-scheduler",
        "mining-api",
        "mining-worker",
        "mining-relay",
        "mining-scheduler",
        "ledger-api",
        "ledger-worker",
        "ledger-relay",
        "ledger-scheduler",
        "nft-api",
        "nft-worker",
        "nft-relay",
        "nft-scheduler",
        "analytics-api",
        "analytics-worker",
        "gateway-api",
    ]
    ports = {p.name: p.metrics_port for s in SERVICES for p in s.process_list()}
    assert ports == {
        "auth-api": None,
        "auth-worker": 9101,
        "auth-relay": 9111,
        "payments-api": None,
        "payments-worker": 9102,
        "payments-relay": 9112,
        "payments-scheduler": 9122,
        "mining-api": None,
        "mining-worker": 9103,
        "mining-relay": 9113,
        "mining-scheduler": 9123,
        "ledger-api": None,
        "ledger-worker": 9104,
        "ledger-relay": 9114,
        "ledger-scheduler": 9124,
        "nft-api": None,
        "nft-worker": 9105,
        "nft-relay": 9115,
        "nft-scheduler": 9125,
        "analytics-api": None,
        "analytics-worker": 9106,
        "gateway-api": None,
    }
    gateway = next(s for s in SERVICES if s.is_gateway)
    assert (gateway.http_port, gateway.has_db) == (8000, False)


def test_a_new_service_is_one_line() -> None:
    payments = Service("payments", 8002)
    procs = payments.process_list()
    assert [p.name for p in procs] == ["payments-api", "payments-worker", "payments-relay"]
    assert [p.metrics_port for p in procs] == [None, 9102, 9112]
    assert payments.env_prefix == "PAYMENTS_" and payments.has_db


async def test_a_service_without_a_relay_is_migrated_then_runs_its_api_and_worker(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """analytics publishes nothing: `make run` migrates it like the others, then starts its api
    and worker (console scripts of its pyproject), and no relay or scheduler."""
    from scifikpi_tools.stack import children
    from scifikpi_tools.stack.workspace import console_script, find_root

    stack = make_stack(tmp_path, monkeypatch, port_base=None)
    analytics = stack.service("analytics")
    assert analytics.has_db and analytics.env_prefix == "ANALYTICS_"
    names = [p.name for p in stack.processes if p.service == "analytics"]
    assert names == ["analytics-api", "analytics-worker"]
    assert not any(p.kind in ("relay", "scheduler") for p in analytics.process_list())
    for name in names:
        assert console_script(name)  # installed: the stack can start it

    migrated: list[tuple[str, list[str]]] = []

    async def run_once(name, argv, **kwargs) -> int:
        migrated.append((name, list(argv)))
        return 0

    monkeypatch.setattr(children, "run_once", run_once)
    root = find_root()
    await children.migrate(stack.services, stack.env_for, root=root, output=stack.output)
    order = [name for name, _ in migrated]
    assert order == [f"{s.name}-migrate" for s in SERVICES if s.has_db]
    argv = dict(migrated)["analytics-migrate"]
    assert argv[-4:] == ["-c", str(root / "services/analytics/alembic.ini"), "upgrade", "head"]

    started: list[str] = []
    monkeypatch.setattr(children, "console_script", lambda script: [script])
    supervisor = type("Recorder", (), {"start": lambda self, spec: started.append(spec.name)})()
    children.start_services(supervisor, stack.processes, stack.env_for, root=root)
    assert started.index("analytics-worker") < started.index("gateway-api")
    assert {"analytics-api", "analytics-worker"} <= set(started)
    assert "analytics-relay" not in started


def make_stack(tmp_path, monkeypatch: pytest.MonkeyPatch, **kwargs) -> LocalStack:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("KAFKA_FETCH_MAX_WAIT_MS", raising=False)
    stack = LocalStack(data_dir=tmp_path, **kwargs)
    stack._plan_ports()
    stack.database_url = "postgresql+asyncpg://postgres@127.0.0.1:5432/scifikpi"
    stack.kafka_bootstrap_servers = "127.0.0.1:9092"
    return stack


def test_ports_shift_together(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = shifted_ports_base()
    stack = make_stack(tmp_path, monkeypatch, port_base=base)
    assert stack.ports == {
        "auth-api": base + 1,
        "auth-worker": base + 1101,
        "auth-relay": base + 1111,
        "payments-api": base + 2,
        "payments-worker": base + 1102,
        "payments-relay": base + 1112,
        "payments-scheduler": base + 1122,
        "mining-api": base + 3,
        "mining-worker": base + 1103,
        "mining-relay": base + 1113,
        "mining-scheduler": base + 1123,
        "ledger-api": base + 4,
        "ledger-worker": base + 1104,
        "ledger-relay": base + 1114,
        "ledger-scheduler": base + 1124,
        "nft-api": base + 5,
        "nft-worker": base + 1105,
        "nft-relay": base + 1115,
        "nft-scheduler": base + 1125,
        "analytics-api": base + 6,
        "analytics-worker": base + 1106,
        "gateway-api": base,
        "localstripe": base + 420,
        "yookassa": base + 421,
    }
    assert stack.localstripe_url == f"http://127.0.0.1:{base + 420}"
    assert stack.yookassa_url == f"http://127.0.0.1:{base + 421}"
    assert stack.gateway_url == f"http://127.0.0.1:{base}"
    assert stack.docs_url == f"http://127.0.0.1:{base}/docs"


def test_each_process_gets_its_environment(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = make_stack(tmp_path, monkeypatch, port_base=None, log_format="console")
    procs = {p.name: p for p in stack.processes}
    auth_url = stack.url("auth")

    api = stack.env_for(procs["auth-api"])
    assert api["ENVIRONMENT"] == "local"
    assert api["DATABASE_URL"] == stack.database_url
    assert api["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
    assert api["LOG_FORMAT"] == "console"
    assert api["AUTH_HTTP_PORT"] == str(stack.ports["auth-api"])
    assert api["JWKS_URL"] == f"{auth_url}/.well-known/jwks.json"
    assert "REDIS_URL" not in api
    assert "KAFKA_FETCH_MAX_WAIT_MS" not in api  # a given broker is Kafka: its default wait

    worker = stack.env_for(procs["auth-worker"])
    assert worker["AUTH_METRICS_PORT"] == str(stack.ports["auth-worker"])
    relay = stack.env_for(procs["auth-relay"])
    assert relay["AUTH_METRICS_PORT"] == str(stack.ports["auth-relay"])

    gateway = stack.env_for(procs["gateway-api"])
    assert gateway["GATEWAY_HTTP_PORT"] == str(stack.ports["gateway-api"])
    assert gateway["GATEWAY_UPSTREAM_URLS__AUTH"] == auth_url
    assert gateway["GATEWAY_AUTH_URL"] == auth_url

    payments = stack.env_for(procs["payments-api"])
    assert payments["PAYMENTS_STRIPE_API_BASE"] == stack.localstripe_url
    assert payments["PAYMENTS_STRIPE_API_KEY"] == DEV_STRIPE_SECRET_KEY
    assert payments["PAYMENTS_STRIPE_WEBHOOK_SECRET"] == DEV_STRIPE_WEBHOOK_SECRET
    assert payments["PAYMENTS_YOOKASSA_API_BASE"] == f"{stack.yookassa_url}/v3"
    assert payments["PAYMENTS_YOOKASSA_SHOP_ID"] == DEV_YOOKASSA_SHOP_ID
    assert payments["PAYMENTS_YOOKASSA_SECRET_KEY"] == DEV_YOOKASSA_SECRET_KEY
    scheduler = stack.env_for(procs["payments-scheduler"])
    assert scheduler["PAYMENTS_METRICS_PORT"] == str(stack.ports["payments-scheduler"])
    assert scheduler["PAYMENTS_YOOKASSA_API_BASE"] == payments["PAYMENTS_YOOKASSA_API_BASE"]
    assert "PAYMENTS_STRIPE_API_BASE" not in api  # only payments talks to providers
    assert gateway["GATEWAY_UPSTREAM_URLS__PAYMENTS"] == stack.url("payments")
    assert gateway["GATEWAY_UPSTREAM_URLS__LEDGER"] == stack.url("ledger")
    assert gateway["GATEWAY_UPSTREAM_URLS__MINING"] == stack.url("mining")
    assert gateway["GATEWAY_UPSTREAM_URLS__NFT"] == stack.url("nft")
    assert gateway["GATEWAY_UPSTREAM_URLS__ANALYTICS"] == stack.url("analytics")
    nft = stack.env_for(procs["nft-api"])
    assert nft["NFT_PUBLIC_BASE_URL"] == f"{stack.gateway_url}/api/v1"
    analytics = stack.env_for(procs["analytics-worker"])
    assert analytics["ANALYTICS_METRICS_PORT"] == str(stack.ports["analytics-worker"])
    assert analytics["ANALYTICS_HTTP_PORT"] == str(stack.ports["analytics-api"])
    ledger_sweeper = stack.env_for(procs["ledger-scheduler"])
    assert ledger_sweeper["LEDGER_METRICS_PORT"] == str(stack.ports["ledger-scheduler"])

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert stack.env_for(procs["gateway-api"])["REDIS_URL"] == "redis://127.0.0.1:6379/0"


def test_consumers_wait_briefly_only_on_the_stacks_own_tansu(tmp_path, monkeypatch) -> None:
    stack = make_stack(tmp_path, monkeypatch, port_base=None)
    worker = next(p for p in stack.processes if p.name == "ledger-worker")
    assert "KAFKA_FETCH_MAX_WAIT_MS" not in stack.env_for(worker)
    stack.broker = object()  # type: ignore[assignment]  # "the stack started Tansu"
    assert stack.env_for(worker)["KAFKA_FETCH_MAX_WAIT_MS"] == "20"
    monkeypatch.setenv("KAFKA_FETCH_MAX_WAIT_MS", "100")  # the person's choice wins
    assert stack.env_for(worker)["KAFKA_FETCH_MAX_WAIT_MS"] == "100"


def test_busy_ports_are_refused_with_advice(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        base = taken.getsockname()[1]
        stack = LocalStack(data_dir=tmp_path, port_base=base)
        with pytest.raises(StackError, match="--ports-from"):
            stack._plan_ports()


def test_standins_start_with_the_webhooks_of_the_gateway(tmp_path, monkeypatch) -> None:
    base = shifted_ports_base()
    stack = make_stack(tmp_path, monkeypatch, port_base=base)
    assert [s.name for s in STANDINS] == ["localstripe", "yookassa"]
    stripe_argv = stack.standin_argv(STANDINS[0])
    assert stripe_argv[1:3] == ["-m", "scifikpi_tools.standins.localstripe"]
    assert stripe_argv[stripe_argv.index("--host") + 1] == "127.0.0.1"
    assert stripe_argv[stripe_argv.index("--port") + 1] == str(base + 420)
    assert stripe_argv[stripe_argv.index("--webhook-url") + 1] == (
        f"http://127.0.0.1:{base}/api/v1/payments/webhooks/stripe"
    )
    assert stripe_argv[stripe_argv.index("--webhook-secret") + 1] == DEV_STRIPE_WEBHOOK_SECRET
    yk_argv = stack.standin_argv(STANDINS[1])
    assert yk_argv[yk_argv.index("--port") + 1] == str(base + 421)
    assert yk_argv[yk_argv.index("--webhook-url") + 1] == (
        f"http://127.0.0.1:{base}/api/v1/payments/webhooks/yoomoney"
    )
    assert yk_argv[yk_argv.index("--shop-id") + 1] == DEV_YOOKASSA_SHOP_ID
    assert yk_argv[yk_argv.index("--secret-key") + 1] == DEV_YOOKASSA_SECRET_KEY


def test_port_offsets_cover_every_fixed_port() -> None:
    offsets = port_offsets()
    assert {
        *(0, 1, 2, 3, 4, 5, 6, 420, 421, 1092),
        *(1101, 1111, 1102, 1112, 1122, 1103, 1113, 1123, 1104, 1114, 1124, 1105, 1115, 1125),
        1106,  # analytics: a worker, no relay, no scheduler
    } == set(offsets)


def test_test_stacks_raise_the_gateway_rate_limits(tmp_path) -> None:
    stack = LocalStack.for_tests(tmp_path, extra_env={"GATEWAY_RATE_LIMIT_REQUESTS": "7"})
    assert int(stack.extra_env["GATEWAY_RATE_LIMIT_AUTH_REQUESTS"]) >= 10000
    assert stack.extra_env["GATEWAY_RATE_LIMIT_REQUESTS"] == "7"  # the caller's value wins
