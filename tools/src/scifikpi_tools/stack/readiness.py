"""Is the stack up: every API's /readyz, then the banner a person sees, with the API list read
from the gateway's merged OpenAPI."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from scifikpi_tools.services import GATEWAY_PORT
from scifikpi_tools.stack.addresses import StackAddresses
from scifikpi_tools.stack.environment import Connections
from scifikpi_tools.stack.infrastructure import shown
from scifikpi_tools.stack.workspace import StackError
from scifikpi_tools.supervisor import Output


async def wait_ready(api_urls: dict[str, str], timeout_s: float, output: Output) -> None:
    """Until every API answers 200 on /readyz; StackError with each one's last answer after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    pending = dict(api_urls)
    last: dict[str, str] = dict.fromkeys(pending, "no answer yet")
    async with httpx.AsyncClient(timeout=3.0) as client:
        while pending:
            for name, base in list(pending.items()):
                answer = await _readyz(client, base)
                if answer is None:
                    del pending[name]
                    output.say(f"{name}-api ready at {base}")
                else:
                    last[name] = answer
            if not pending:
                return
            if time.monotonic() > deadline:
                details = "; ".join(f"{n}: {last[n]}" for n in pending)
                raise StackError(f"not ready after {timeout_s:.0f}s: {details}")
            await asyncio.sleep(0.25)


async def _readyz(client: httpx.AsyncClient, base: str) -> str | None:
    """None when ready, else what came back instead of 200."""
    try:
        response = await client.get(base + "/readyz")
    except httpx.HTTPError as exc:
        return type(exc).__name__
    if response.status_code == 200:
        return None
    return f"{response.status_code} {response.text[:200]}"


async def api_list(gateway_url: str) -> list[str]:
    """`METHOD /path  summary` of every operation in the gateway's merged OpenAPI."""
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            spec = (await client.get(gateway_url + "/openapi.json")).json()
    except (httpx.HTTPError, ValueError):
        return []
    lines = []
    for path, item in sorted(spec.get("paths", {}).items()):
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                lines.append(f"{method.upper():<6} {path}  {op.get('summary', '')}".rstrip())
    return lines


def banner(
    addresses: StackAddresses, connections: Connections, env_file: Path, apis: list[str]
) -> str:
    """What `make run` prints once everything is ready."""
    rows = [
        "",
        "SciFiKPI stack is up",
        f"  gateway   {addresses.gateway_url}",
        f"  swagger   {addresses.docs_url}",
        f"  database  {shown(connections.database_url)}",
        f"  broker    {connections.kafka_bootstrap_servers}",
        f"  ops env   {env_file}  (e.g. `make ledger-check`)",
        "  services  " + ", ".join(f"{n} {u}" for n, u in addresses.api_urls.items()),
        "  processes " + ", ".join(f"{p.name}" for p in addresses.processes),
    ]
    rows += _standin_rows(addresses)
    if apis:
        rows.append("  API (through the gateway):")
        rows += [f"    {line}" for line in apis]
    rows += ["Ctrl-C stops everything.", ""]
    return "\n".join(rows)


def _standin_rows(addresses: StackAddresses) -> list[str]:
    rows = []
    if addresses.localstripe_url:
        rows.append(
            f"  stripe    localstripe {addresses.localstripe_url} "
            f"(webhook -> {addresses.stripe_webhook_url})"
        )
    if addresses.yookassa_url:
        rows.append(
            f"  yoomoney  YooKassa fake {addresses.yookassa_url}/v3 (control "
            f"{addresses.yookassa_url}/_control; webhook -> {addresses.yoomoney_webhook_url})"
        )
    if addresses.standins:
        base = addresses.port_base
        shift = "" if base in (None, GATEWAY_PORT) else f" --ports-from {base}"
        rows.append(
            f"  pay       uv run python -m scifikpi_tools.standins.pay{shift} "
            "stripe|yoomoney <provider payment id>   (docs/payments-local.md)"
        )
    return rows
