"""What each child of the stack is started with: a service process's environment, a stand-in's
command line, and `stack.env`, the file ops commands source to reach a running stack."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from scifikpi_tools import standins as dev
from scifikpi_tools.services import Process, Standin
from scifikpi_tools.stack.addresses import API_PREFIX, HOST, StackAddresses

#: consumers' fetch wait on the stack's own Tansu broker (see `process_env`)
TANSU_FETCH_MAX_WAIT_MS = 20


@dataclass
class Connections:
    """The infrastructure every service process is pointed at, once it is up."""

    database_url: str = ""
    kafka_bootstrap_servers: str = ""
    #: the broker is the stack's own Tansu (not a given Kafka)
    own_broker: bool = False
    log_format: str = "json"
    #: set last, so a caller's value wins over everything the stack sets
    extra_env: dict[str, str] = field(default_factory=dict)


def process_env(
    addresses: StackAddresses, proc: Process, connections: Connections
) -> dict[str, str]:
    """The environment of one service process: ours, plus where everything else listens."""
    svc = addresses.service(proc.service)
    env = dict(os.environ)
    env.update(
        {
            "ENVIRONMENT": "local",
            "DATABASE_URL": connections.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": connections.kafka_bootstrap_servers,
            "LOG_FORMAT": connections.log_format,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if connections.own_broker:
        # Tansu answers a waiting fetch only when the wait ends (Kafka: when data arrives);
        # a short wait keeps each event hop at milliseconds instead of up to 500 ms.
        env.setdefault("KAFKA_FETCH_MAX_WAIT_MS", str(TANSU_FETCH_MAX_WAIT_MS))
    if "auth" in addresses.api_urls:
        env["JWKS_URL"] = f"{addresses.url('auth')}/.well-known/jwks.json"
    if svc.is_gateway:
        env.update(_upstream_env(addresses))
    if "api" in svc.processes:
        env[f"{svc.env_prefix}HTTP_HOST"] = HOST
        env[f"{svc.env_prefix}HTTP_PORT"] = str(addresses.ports[f"{svc.name}-api"])
    if proc.name in addresses.ports and not proc.is_api:
        env[f"{svc.env_prefix}METRICS_PORT"] = str(addresses.ports[proc.name])
    if svc.name == "payments":
        env.update(provider_env(addresses))
    if svc.name == "nft":
        # the TEP-64 metadata URLs point at this stack's gateway
        env["NFT_PUBLIC_BASE_URL"] = f"{addresses.gateway_url}{API_PREFIX}"
    env.update(connections.extra_env)
    return env


def _upstream_env(addresses: StackAddresses) -> dict[str, str]:
    """The gateway's upstream map (GatewaySettings.upstream_urls), plus the plain per-service
    name the deployment docs use."""
    env: dict[str, str] = {}
    for other in addresses.services:
        if not other.is_gateway and "api" in other.processes:
            key = other.env_prefix.rstrip("_")
            env[f"GATEWAY_UPSTREAM_URLS__{key}"] = addresses.url(other.name)
            env[f"GATEWAY_{key}_URL"] = addresses.url(other.name)
    return env


def provider_env(addresses: StackAddresses) -> dict[str, str]:
    """The payments service's provider settings pointing at the stand-ins (with their dev
    credentials; payments.settings.PaymentsSettings reads them)."""
    env: dict[str, str] = {}
    if addresses.localstripe_url:
        env["PAYMENTS_STRIPE_API_BASE"] = addresses.localstripe_url
        env["PAYMENTS_STRIPE_API_KEY"] = dev.DEV_STRIPE_SECRET_KEY
        env["PAYMENTS_STRIPE_WEBHOOK_SECRET"] = dev.DEV_STRIPE_WEBHOOK_SECRET
    if addresses.yookassa_url:
        env["PAYMENTS_YOOKASSA_API_BASE"] = addresses.yookassa_url + "/v3"
        env["PAYMENTS_YOOKASSA_SHOP_ID"] = dev.DEV_YOOKASSA_SHOP_ID
        env["PAYMENTS_YOOKASSA_SECRET_KEY"] = dev.DEV_YOOKASSA_SECRET_KEY
    return env


def standin_argv(
    addresses: StackAddresses, standin: Standin, extra_env: dict[str, str]
) -> list[str]:
    """`python -m <stand-in> --host --port` and the webhook it calls, with the credentials the
    payments service is given (`extra_env` may override them)."""
    argv = [sys.executable, "-m", standin.module, "--host", HOST]
    argv += ["--port", str(addresses.ports[standin.name])]
    if standin.provider == "stripe":
        # registered by the process itself at every start (a restarted localstripe is empty
        # and would otherwise have forgotten it): the same as POST /_config/webhooks/{id}
        secret = extra_env.get("PAYMENTS_STRIPE_WEBHOOK_SECRET", dev.DEV_STRIPE_WEBHOOK_SECRET)
        argv += ["--webhook-url", addresses.stripe_webhook_url, "--webhook-secret", secret]
    elif standin.provider == "yoomoney":
        shop_id = extra_env.get("PAYMENTS_YOOKASSA_SHOP_ID", dev.DEV_YOOKASSA_SHOP_ID)
        secret = extra_env.get("PAYMENTS_YOOKASSA_SECRET_KEY", dev.DEV_YOOKASSA_SECRET_KEY)
        argv += ["--shop-id", shop_id, "--secret-key", secret]
        argv += ["--webhook-url", addresses.yoomoney_webhook_url]
    return argv


def write_env_file(path: Path, connections: Connections, gateway_url: str) -> None:
    """What an ops command needs to reach this stack (`make ledger-check`, `auth-admin ...`),
    owner-only since the embedded database's URL holds its password."""
    values = {
        "ENVIRONMENT": "local",
        "DATABASE_URL": connections.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": connections.kafka_bootstrap_servers,
        # the collection's address derives from it: `nft-admin` must see the stack's own
        "NFT_PUBLIC_BASE_URL": f"{gateway_url}{API_PREFIX}",
    }
    path.touch(mode=0o600)
    path.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()))
