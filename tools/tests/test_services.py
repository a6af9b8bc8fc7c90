"""The declarative service table and what each process gets: ports and environment."""

from __future__ import annotations

import socket

import pytest
from scifikpi_tools.services import SERVICES, Service
from scifikpi_tools.stack import LocalStack, StackError
from scifikpi_tools.testing import shifted_ports_base


def test_the_table_holds_auth_and_the_gateway() -> None:
    names = [p.name for s in SERVICES for p in s.process_list()]
    assert names == ["auth-api", "auth-worker", "auth-relay", "gateway-api"]
    ports = {p.name: p.metrics_port for s in SERVICES for p in s.process_list()}
    assert ports == {"auth-api": None, "auth-worker": 9101, "auth-relay": 9111, "gateway-api": None}
    gateway = next(s for s in SERVICES if s.is_gateway)
    assert (gateway.http_port, gateway.has_db) == (8000, False)


def test_a_new_service_is_one_line() -> None:
    payments = Service("payments", 8002)
    procs = payments.process_list()
    assert [p.name for p in procs] == ["payments-api", "payments-worker", "payments-relay"]
    assert [p.metrics_port for p in procs] == [None, 9102, 9112]
    assert payments.env_prefix == "PAYMENTS_" and payments.has_db


def make_stack(tmp_path, monkeypatch: pytest.MonkeyPatch, **kwargs) -> LocalStack:
    monkeypatch.delenv("REDIS_URL", raising=False)
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
        "gateway-api": base,
    }
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

    worker = stack.env_for(procs["auth-worker"])
    assert worker["AUTH_METRICS_PORT"] == str(stack.ports["auth-worker"])
    relay = stack.env_for(procs["auth-relay"])
    assert relay["AUTH_METRICS_PORT"] == str(stack.ports["auth-relay"])

    gateway = stack.env_for(procs["gateway-api"])
    assert gateway["GATEWAY_HTTP_PORT"] == str(stack.ports["gateway-api"])
    assert gateway["GATEWAY_UPSTREAM_URLS__AUTH"] == auth_url
    assert gateway["GATEWAY_AUTH_URL"] == auth_url

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert stack.env_for(procs["gateway-api"])["REDIS_URL"] == "redis://127.0.0.1:6379/0"


def test_busy_ports_are_refused_with_advice(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        base = taken.getsockname()[1]
        stack = LocalStack(data_dir=tmp_path, port_base=base)
        with pytest.raises(StackError, match="--ports-from"):
            stack._plan_ports()
