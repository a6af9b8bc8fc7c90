"""The local stack, started for real: Postgres, broker, migrations, every service process.

One stack for the module (free ports, a temporary directory, a fresh database on 127.0.0.1:5432
or an embedded server); the last test stops it and checks nothing is left behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import httpx
import psutil
import pytest
from scifikpi_tools.localinfra import port_accepts
from scifikpi_tools.services import SERVICES
from scifikpi_tools.stack import LocalStack
from scifikpi_tools.standins import DEV_STRIPE_SECRET_KEY, DEV_YOOKASSA_SHOP_ID
from scifikpi_tools.testing import alive, descendants, wait_gone, wait_until

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    local = LocalStack.for_tests(tmp_path_factory.mktemp("stack"))
    async with local:
        yield local


def log_text(stack: LocalStack) -> str:
    return (stack.data_dir / "stack.log").read_text()


async def test_every_api_answers_ready(stack: LocalStack) -> None:
    assert set(stack.api_urls) == {s.name for s in SERVICES if "api" in s.processes}
    async with httpx.AsyncClient(timeout=5) as client:
        for name, url in stack.api_urls.items():
            response = await client.get(url + "/readyz")
            assert response.status_code == 200, (name, response.text)
        gateway = await client.get(stack.gateway_url + "/readyz")
        assert gateway.status_code == 200, gateway.text
        docs = await client.get(stack.docs_url)
        assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_every_process_runs_separately(stack: LocalStack) -> None:
    expected = {p.name for p in stack.processes}
    assert {"auth-api", "auth-worker", "auth-relay", "gateway-api"} <= expected
    assert {"payments-api", "payments-worker", "payments-relay", "payments-scheduler"} <= expected
    pids = {name: stack.pid(name) for name in expected}
    assert all(pid is not None and alive(pid) for pid in pids.values()), pids
    assert len(set(pids.values())) == len(pids)
    assert os.getpid() not in pids.values()
    # output of each process arrives prefixed with its name
    text = log_text(stack)
    for name in expected:
        assert f"\n{name:<14}| " in text or text.startswith(f"{name:<14}| "), name


async def test_a_killed_process_is_reported_and_restarted(stack: LocalStack) -> None:
    before = stack.pid("auth-worker")
    assert before is not None
    os.kill(before, signal.SIGKILL)
    after = await wait_until(
        lambda: (
            stack.pid("auth-worker") if stack.pid("auth-worker") not in (None, before) else None
        ),
        timeout_s=30,
    )
    record = next(e for e in stack.exits if e.name == "auth-worker" and e.pid == before)
    assert record.code == -signal.SIGKILL
    text = log_text(stack)
    assert f"auth-worker (pid {before}) was killed by SIGKILL" in text
    assert "restarting in" in text
    assert alive(after)
    # the rest of the stack kept serving
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(stack.gateway_url + "/readyz")).status_code == 200


async def test_a_killed_api_comes_back_ready(stack: LocalStack) -> None:
    before = stack.pid("auth-api")
    assert before is not None
    os.kill(before, signal.SIGTERM)  # a clean exit is a death too: restarted
    await wait_until(lambda: stack.pid("auth-api") not in (None, before), timeout_s=30)
    await stack.wait_ready(timeout_s=60)
    assert "auth-api (pid" in log_text(stack)


async def test_the_provider_standins_run_on_loopback_pointed_at_the_gateway(
    stack: LocalStack,
) -> None:
    assert stack.localstripe_url and stack.yookassa_url
    for name in ("localstripe", "yookassa"):
        pid = stack.pid(name)
        assert pid is not None and alive(pid)
        ips = {
            c.laddr.ip
            for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        }
        assert ips == {"127.0.0.1"}, (name, ips)
    async with httpx.AsyncClient(timeout=5) as client:
        config = (await client.get(stack.yookassa_url + "/_control/config")).json()
        assert config["webhook_url"] == stack.gateway_url + "/api/v1/payments/webhooks/yoomoney"
        assert config["shop_id"] == DEV_YOOKASSA_SHOP_ID
        intents = await client.get(
            stack.localstripe_url + "/v1/payment_intents",
            headers={"Authorization": f"Bearer {DEV_STRIPE_SECRET_KEY}"},
        )
        assert intents.status_code == 200 and intents.json()["data"] == []
    # payments is told where they are
    procs = {p.name: p for p in stack.processes}
    env = stack.env_for(procs["payments-api"])
    assert env["PAYMENTS_STRIPE_API_BASE"] == stack.localstripe_url
    assert env["PAYMENTS_YOOKASSA_API_BASE"] == stack.yookassa_url + "/v3"
    assert "localstripe: webhook 'scifikpi' -> " + stack.gateway_url in log_text(stack)


async def test_a_killed_standin_is_restarted_with_its_webhook(stack: LocalStack) -> None:
    before = stack.pid("localstripe")
    assert before is not None
    os.kill(before, signal.SIGKILL)
    await wait_until(lambda: stack.pid("localstripe") not in (None, before), timeout_s=30)
    port = stack.ports["localstripe"]
    await wait_until(lambda: port_accepts("127.0.0.1", port), timeout_s=30)
    assert log_text(stack).count("localstripe: webhook 'scifikpi'") >= 2


async def test_ops_commands_reach_the_stack_through_its_env_file(stack: LocalStack) -> None:
    """`make ledger-check` sources `<data_dir>/stack.env` and runs `ledger-admin check`."""
    import shlex
    import stat
    import subprocess
    import sys
    from pathlib import Path

    env_file = stack.env_file
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    values = {k: shlex.split(v)[0] for k, v in values.items()}
    assert values["DATABASE_URL"] == stack.database_url
    assert values["KAFKA_BOOTSTRAP_SERVERS"] == stack.kafka_bootstrap_servers
    check = subprocess.run(  # noqa: S603 - our own console script
        [str(Path(sys.executable).parent / "ledger-admin"), "check"],
        env={**os.environ, **values},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert '"ok": true' in check.stdout
    # the local TON chain: nft-scheduler deploys custody and the collection of this stack's
    # metadata URL (NFT_PUBLIC_BASE_URL in the env file), which `nft-admin custody` then finds
    assert values["NFT_PUBLIC_BASE_URL"] == f"{stack.gateway_url}/api/v1"
    for _ in range(60):
        custody = subprocess.run(  # noqa: S603 - our own console script
            [str(Path(sys.executable).parent / "nft-admin"), "custody"],
            env={**os.environ, **values},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if custody.returncode == 0:
            break
        await asyncio.sleep(0.5)
    assert custody.returncode == 0, custody.stdout + custody.stderr
    assert "status:           OK" in custody.stdout


async def test_stopping_leaves_no_process_behind(stack: LocalStack) -> None:
    running = descendants({pid for pid in stack.all_pids() if alive(pid)})
    assert stack.broker is None or stack.broker.pid in running
    assert len(running) >= len(stack.processes)
    postgres_pid = stack.postgres.pid if stack.postgres is not None else None
    await stack.stop()
    assert not stack.env_file.exists()  # ops commands no longer point at a stopped stack
    assert await wait_gone(running, timeout_s=20) == set()
    if postgres_pid is not None:
        assert await wait_gone({postgres_pid}) == set()
    assert not stack.supervisor.children or all(
        not c.running() for c in stack.supervisor.children.values()
    )
