"""docker-compose.yml's payments processes and the payment-provider stand-ins
(docs/payments-local.md): the payments environment, the stand-ins' command lines against it and
the gateway's routes, and their relay (deploy/compose/tools/expose.py) run for real on loopback.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _compose_helpers import (
    PAYMENTS_PROCESSES,
    STANDINS,
    command_of,
    env_of,
    flags,
)
from _deploy_helpers import (
    METRICS_PORTS,
    TOOLS_DIR,
    settings_from_env,
)

#: What a person running against the real providers puts in the shell or in .env.
REAL_PROVIDER_ENV = {
    "PAYMENTS_STRIPE_API_BASE": "https://api.stripe.com",
    "PAYMENTS_STRIPE_API_KEY": "sk_test_51RealLookingKey",
    "PAYMENTS_STRIPE_WEBHOOK_SECRET": "whsec_real_endpoint_secret",
    "PAYMENTS_YOOKASSA_API_BASE": "https://api.yookassa.ru/v3",
    "PAYMENTS_YOOKASSA_SHOP_ID": "512345",
    "PAYMENTS_YOOKASSA_SECRET_KEY": "test_real_shop_key",
    "PAYMENTS_YOOKASSA_IP_ALLOWLIST": "185.71.76.0/27,185.71.77.0/27",
}


def test_payments_environment_parses_into_its_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments.settings import PaymentsSettings

    services = compose["services"]
    api = settings_from_env(monkeypatch, env_of(services["payments-api"]), PaymentsSettings)
    assert (api.http_host, api.http_port) == ("0.0.0.0", 8002)  # noqa: S104
    assert api.http_port == PaymentsSettings.model_fields["http_port"].default
    assert api.database_url == "postgresql+asyncpg://payments:payments@postgres:5432/scifikpi"
    assert api.kafka_bootstrap_servers == "kafka:9092"
    assert str(api.environment) == "local"
    assert api.jwks_url == "http://auth-api:8001/.well-known/jwks.json"
    # Without provider variables on the host: the stand-ins, with their development credentials.
    assert api.stripe_api_base == "http://localstripe:8420"
    assert api.yookassa_api_base == "http://yookassa:8421/v3"
    from scifikpi_tools import standins

    assert api.stripe_api_key.get_secret_value() == standins.DEV_STRIPE_SECRET_KEY
    assert api.stripe_webhook_secrets == [standins.DEV_STRIPE_WEBHOOK_SECRET]
    assert api.yookassa_shop_id == standins.DEV_YOOKASSA_SHOP_ID
    assert api.yookassa_secret_key.get_secret_value() == standins.DEV_YOOKASSA_SECRET_KEY
    assert "127.0.0.1:8002/readyz" in " ".join(services["payments-api"]["healthcheck"]["test"])
    for name in PAYMENTS_PROCESSES - {"payments-api"}:
        settings = settings_from_env(monkeypatch, env_of(services[name]), PaymentsSettings)
        assert settings.metrics_port == METRICS_PORTS[name], name
        assert f"127.0.0.1:{settings.metrics_port}/metrics" in " ".join(
            services[name]["healthcheck"]["test"]
        )
    migrate = settings_from_env(monkeypatch, env_of(services["payments-migrate"]), PaymentsSettings)
    assert migrate.database_url == api.database_url


def test_payments_placeholders_are_refused_outside_local(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallbacks are the stand-ins' development values: fine locally, refused elsewhere; the
    real provider variables of the host replace them all."""
    from payments.settings import PaymentsSettings
    from pydantic import ValidationError

    service = compose["services"]["payments-api"]
    with pytest.raises(ValidationError, match="development placeholder|https"):
        settings_from_env(
            monkeypatch, {**env_of(service), "ENVIRONMENT": "staging"}, PaymentsSettings
        )

    env = env_of(service, REAL_PROVIDER_ENV)
    for key, value in REAL_PROVIDER_ENV.items():
        assert env[key] == value, key
    real = settings_from_env(monkeypatch, {**env, "ENVIRONMENT": "staging"}, PaymentsSettings)
    assert real.stripe_api_base == "https://api.stripe.com"
    assert real.stripe_webhook_secrets == ["whsec_real_endpoint_secret"]
    assert real.yookassa_ip_allowlist == ["185.71.76.0/27", "185.71.77.0/27"]


def test_standins_are_wired_to_payments_and_the_gateway(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stand-in command lines against the payments environment and the gateway's route table:
    the same secrets on both sides, API bases at the relayed ports, webhooks to public routes."""
    from gateway.routes import API_PREFIX, PUBLIC, ROUTES
    from payments.settings import PaymentsSettings
    from payments.webhooks import ip_allowed
    from scifikpi_common.network import client_ip

    services = compose["services"]
    payments = settings_from_env(monkeypatch, env_of(services["payments-api"]), PaymentsSettings)
    gateway_port = env_of(services["gateway"])["GATEWAY_HTTP_PORT"]
    public_routes = {r.public_path for r in ROUTES if r.access == PUBLIC and "POST" in r.method_set}
    modules = {}
    for name in STANDINS:
        svc = services[name]
        argv = command_of(svc)
        assert argv[:2] == ["python", "/opt/scifikpi/expose.py"], argv
        separator = argv.index("--")
        relay, child = flags(argv[:separator]), argv[separator + 1 :]
        assert child[:2] == ["python", "-m"]
        modules[name] = child[2]
        own = flags(child)
        listen_host, listen_port = relay["listen"].rsplit(":", 1)
        assert listen_host == "0.0.0.0"  # noqa: S104 - the compose network, inside the container
        # The stand-in itself stays on loopback; the relay targets exactly it.
        assert relay["target"] == f"127.0.0.1:{own['port']}" and own["host"] == "127.0.0.1"
        assert own["port"] != listen_port
        # Webhooks go through the gateway, to public routes, as the real providers' do.
        webhook = own["webhook-url"]
        assert webhook.startswith(f"http://gateway:{gateway_port}{API_PREFIX}/"), webhook
        assert webhook.split(f":{gateway_port}", 1)[1] in public_routes, webhook
        assert "healthcheck" in svc and listen_port in " ".join(svc["healthcheck"]["test"])
        assert svc.get("init") is True, "the relay is PID 1 otherwise"
        assert f"./deploy/compose/tools/expose.py:{argv[1]}:ro" in svc["volumes"]
        published = svc["ports"][0].rsplit(":", 1)[1]
        assert published == listen_port
        if name == "localstripe":
            assert payments.stripe_api_base == f"http://localstripe:{listen_port}"
            assert own["webhook-secret"] in payments.stripe_webhook_secrets
            assert webhook.endswith("/payments/webhooks/stripe")
        else:
            assert payments.yookassa_api_base == f"http://yookassa:{listen_port}/v3"
            assert own["shop-id"] == payments.yookassa_shop_id
            assert own["secret-key"] == payments.yookassa_secret_key.get_secret_value()
            assert webhook.endswith("/payments/webhooks/yoomoney")
            # confirmation_url links open in a browser on the host: the published port.
            host_port = svc["ports"][0].split(":")[1]
            assert own["public-url"] == f"http://127.0.0.1:{host_port}"
    assert modules == {
        "localstripe": "scifikpi_tools.standins.localstripe",
        "yookassa": "scifikpi_tools.standins.yookassa",
    }
    # The fake notifies from its container address; the gateway (a compose-network peer that
    # payments trusts) forwards it in X-Forwarded-For, and the allowlist takes it. Docker's default
    # address pools are in 172.16.0.0/12 and 192.168.0.0/16.
    for fake, gateway in (("172.18.0.7", "172.18.0.9"), ("192.168.32.4", "192.168.32.2")):
        source = client_ip(gateway, fake, payments.trusted_proxy_networks)
        assert source == fake and ip_allowed(source, payments.yookassa_networks)
    assert not ip_allowed("203.0.113.10", payments.yookassa_networks)


@pytest.mark.parametrize("name", sorted(STANDINS))
def test_standin_command_lines_are_accepted_by_the_tools(
    compose: dict[str, Any], name: str
) -> None:
    """Every flag compose passes is one the stand-in's own CLI documents."""
    argv = command_of(compose["services"][name])
    child = argv[argv.index("--") + 1 :]
    result = subprocess.run(  # noqa: S603 - this interpreter, a module of this repo
        [sys.executable, *child[1:3], "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for flag in flags(child):
        assert f"--{flag}" in result.stdout, f"{name}: --{flag} is not an option of {child[2]}"
    relay_help = subprocess.run(  # noqa: S603 - this interpreter, the repo's relay script
        [sys.executable, str(TOOLS_DIR / "expose.py"), "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    for flag in flags(argv[: argv.index("--")]):
        assert f"--{flag}" in relay_help.stdout, flag


# --- the stand-ins' relay, deploy/compose/tools/expose.py -----------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_expose_relays_to_a_loopback_server_and_stops_it(tmp_path: Path) -> None:
    """deploy/compose/tools/expose.py for real, on loopback: it starts the command, accepts only
    once the command listens, relays HTTP both ways, and on SIGTERM stops the command and exits 0."""
    (tmp_path / "hello.txt").write_text("relayed\n")
    listen, target = _free_port(), _free_port()
    proc = subprocess.Popen(  # noqa: S603 - this interpreter, the repo's relay script
        [sys.executable, str(TOOLS_DIR / "expose.py"), f"--listen=127.0.0.1:{listen}",
         f"--target=127.0.0.1:{target}", "--", sys.executable, "-m", "http.server", str(target),
         "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{listen}/hello.txt", timeout=5) as r:
                    body = r.read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "the relay never answered"
                time.sleep(0.1)
        assert body == "relayed\n"
        for _ in range(3):  # keep-alive-less requests, one connection each
            with urllib.request.urlopen(f"http://127.0.0.1:{listen}/hello.txt", timeout=5) as r:
                assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        output = proc.stdout.read() if proc.stdout else ""
        assert f"127.0.0.1:{listen} -> 127.0.0.1:{target}" in output
        # The command is gone with it: nothing listens on either port.
        for port in (listen, target):
            with socket.socket() as sock:
                assert sock.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_expose_exits_with_the_command_when_it_cannot_start() -> None:
    port = _free_port()
    result = subprocess.run(  # noqa: S603 - this interpreter, the repo's relay script
        [sys.executable, str(TOOLS_DIR / "expose.py"), f"--listen=127.0.0.1:{_free_port()}",
         f"--target=127.0.0.1:{port}", "--ready-timeout=20", "--", sys.executable, "-c",
         "raise SystemExit(3)"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
