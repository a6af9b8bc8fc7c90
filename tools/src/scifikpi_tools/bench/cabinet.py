"""Cabinet benchmark on the whole local stack: the acceleration chain's latency and the
throughput of `GET /mining/status` through the gateway.

    uv run python -m scifikpi_tools.bench.cabinet [--rate 20] [--duration 10] [--json]

It starts the stack as the e2e tests do (every service process, Tansu or KAFKA_BOOTSTRAP_SERVERS,
a fresh database on DATABASE_URL / 127.0.0.1:5432 / embedded Postgres). Users register through the
gateway; their deposits and accelerations enter the chain where payments' relay would put them: a
`PaymentSucceeded` envelope on `payments.payment.v1` (the provider leg is measured by the payments
bench). Each flow's latency runs from that publish to the moment `GET /api/v1/balance` through
the gateway shows the session's points, i.e. PaymentSucceeded → mining (MiningAccelerated +
MiningCompleted) → relay → ledger (PointsCredited) → readable; flows start open-loop at `--rate`
per second. A flow reads `/balance` once the ledger's PointsCredited for its session is on
`ledger.account.v1` (published only after the credit committed), then every 20 ms until the
points show: polling every in-flight flow every 20 ms from the start made the bench its own load
(hundreds of reads a second once the chain slowed, which slowed it more). Then `wrk` drives
`GET /mining/status` (reads only) for one user with a running session, through the gateway and,
for comparison, at the mining API itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from scifikpi_common.clock import utcnow
from scifikpi_common.events import Envelope, PaymentSucceeded, PointsCredited
from scifikpi_common.events.base import parse_envelope

from scifikpi_tools.bench.gateway import run_wrk
from scifikpi_tools.bench.stackproc import separate_stack
from scifikpi_tools.bench.support import percentile

API = "/api/v1"
PASSWORD = "Orbital-Kestrel-4821"  # noqa: S105 - a benchmark account's password
TARGET_P99_MS = 500.0
STACK_ENV = {"MINING_SESSION_DURATION_S": "3600"}
#: warm-up flows available, and the latency that says the consumer groups have settled
WARMUP = 40
SETTLED_MS = 300.0
#: how often a flow reads /balance: the figures' resolution, light enough not to be the load
POLL_S = 0.02
Purpose = Literal["registration", "topup", "acceleration"]


class Credits:
    """The sessions the ledger has credited (PointsCredited on `ledger.account.v1`), as they
    are published; a flow waits on its session's."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._consumer = AIOKafkaConsumer(
            PointsCredited.TOPIC,
            bootstrap_servers=bootstrap_servers,
            group_id=f"bench-{uuid.uuid4().hex}",
            auto_offset_reset="latest",
            enable_auto_commit=False,
            fetch_max_wait_ms=10,  # Tansu answers a fetch when its wait ends, not on data
        )
        self._credited: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        while not self._consumer.assignment():  # joined: what is published from now on is seen
            await self._consumer.getmany(timeout_ms=100)
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self._consumer.stop()

    def credited(self, session_id: str) -> asyncio.Future[None]:
        return self._credited.setdefault(session_id, asyncio.get_running_loop().create_future())

    async def _read(self) -> None:
        async for record in self._consumer:
            envelope = parse_envelope(record.value)
            if envelope.event_type == PointsCredited.EVENT_TYPE:
                done = self.credited(str(envelope.payload["session_id"]))
                if not done.done():
                    done.set_result(None)


class Bench:
    def __init__(
        self, client: httpx.AsyncClient, producer: AIOKafkaProducer, credits: Credits
    ) -> None:
        self.client, self.producer, self.credits = client, producer, credits

    @classmethod
    @asynccontextmanager
    async def on(cls, stack: dict[str, Any]) -> AsyncIterator[Bench]:
        """A bench on a running stack (`separate_stack`): a producer on its broker and a client
        of its gateway with room for every flow at once."""
        producer = AIOKafkaProducer(bootstrap_servers=stack["kafka_bootstrap_servers"])
        credits = Credits(stack["kafka_bootstrap_servers"])
        await producer.start()
        await credits.start()
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        try:
            async with httpx.AsyncClient(
                base_url=stack["gateway_url"], timeout=30, limits=limits
            ) as client:
                yield cls(client, producer, credits)
        finally:
            await credits.stop()
            await producer.stop()

    async def publish(self, event: PaymentSucceeded) -> None:
        envelope = Envelope.wrap(event, producer="payments")
        await self.producer.send_and_wait(
            event.TOPIC, envelope.to_bytes(), key=envelope.key.encode()
        )

    async def paid(self, user_id: uuid.UUID, purpose: Purpose, amount: int, **extra: Any) -> None:
        await self.publish(
            PaymentSucceeded(
                user_id=user_id,
                payment_id=uuid.uuid4(),
                purpose=purpose,
                provider="stripe",
                amount_minor=amount,
                currency="USD",
                succeeded_at=utcnow(),
                **extra,
            )
        )

    async def active_user(self) -> tuple[uuid.UUID, str]:
        """Register, deposit USD 10.00 (PaymentSucceeded), wait for activation; (id, token)."""
        email = f"bench.{uuid.uuid4().hex[:12]}@example.com"
        r = await self.client.post(
            f"{API}/auth/register",
            json={
                "account_type": "individual",
                "email": email,
                "password": PASSWORD,
                "country": "US",
                "full_name": "Bench User",
                "initial_deposit": {"amount_minor": 1000, "currency": "USD"},
            },
        )
        r.raise_for_status()
        body = r.json()
        user_id = uuid.UUID(body["user"]["id"])
        await self.paid(user_id, "registration", 1000)
        refresh = body["refresh_token"]
        for _ in range(600):
            r = await self.client.post(f"{API}/auth/refresh", json={"refresh_token": refresh})
            r.raise_for_status()
            body = r.json()
            refresh = body["refresh_token"]
            if body["user"]["status"] == "active":
                return user_id, body["access_token"]
            await asyncio.sleep(0.05)
        raise RuntimeError("account never activated")

    async def started_with_quote(self, token: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        r = await self.client.post(f"{API}/mining/start", headers=headers)
        r.raise_for_status()
        session = r.json()
        r = await self.client.post(
            f"{API}/mining/acceleration/quote",
            json={"seconds": session["duration_s"]},
            headers=headers,
        )
        if r.status_code == 422:  # a second has passed: quote what remains
            remaining = (await self.client.get(f"{API}/mining/status", headers=headers)).json()
            r = await self.client.post(
                f"{API}/mining/acceleration/quote",
                json={"seconds": remaining["remaining_s"]},
                headers=headers,
            )
        r.raise_for_status()
        return {**r.json(), "target_points": session["target_points"], "session_id": session["id"]}

    async def flow(self, user_id: uuid.UUID, token: str, quote: dict[str, Any]) -> float:
        """Publish the paying PaymentSucceeded; ms until /balance shows the session's points."""
        headers = {"Authorization": f"Bearer {token}"}
        credited = self.credits.credited(quote["session_id"])
        started = time.perf_counter()
        await self.paid(
            user_id, "acceleration", quote["price_minor"], quote_id=uuid.UUID(quote["quote_id"])
        )
        deadline = started + 30
        try:
            await asyncio.wait_for(asyncio.shield(credited), timeout=30)
        except TimeoutError:
            raise RuntimeError(f"no PointsCredited within 30 s for {user_id}") from None
        while time.perf_counter() < deadline:
            r = await self.client.get(f"{API}/balance", headers=headers)
            if r.status_code == 200 and r.json()["points"]["available"] == quote["target_points"]:
                return (time.perf_counter() - started) * 1000
            await asyncio.sleep(POLL_S)
        raise RuntimeError(f"no credit within 30 s for {user_id}")


async def prepare_users(bench: Bench, n: int, concurrency: int = 8) -> list[tuple[Any, ...]]:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> tuple[Any, ...]:
        async with gate:
            user_id, token = await bench.active_user()
            return user_id, token, await bench.started_with_quote(token)

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def settle(bench: Bench, users: list[tuple[Any, ...]]) -> None:
    """Flows one at a time until one is quick: consumer groups of a fresh stack rebalance for a
    while after `/readyz` (each worker's consumers join one by one), and nothing is consumed
    meanwhile; that is start-up, not the chain's latency."""
    for i, user in enumerate(users):
        took = await bench.flow(*user)
        if took < SETTLED_MS:
            print(f"chain settled after {i + 1} warm-up flow(s) (last {took:.0f} ms)")
            return
    print(f"warning: the chain never answered under {SETTLED_MS:.0f} ms in {len(users)} flows")


async def run_chain(bench: Bench, users: list[tuple[Any, ...]], rate: float) -> list[float]:
    async def at(delay: float, user: tuple[Any, ...]) -> float:
        await asyncio.sleep(delay)
        return await bench.flow(*user)

    return sorted(await asyncio.gather(*(at(i / rate, u) for i, u in enumerate(users))))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n = int(args.rate * args.duration)
    async with separate_stack(STACK_ENV) as stack:
        async with Bench.on(stack) as bench:
            print(f"preparing {n + WARMUP} users (register, deposit, start, quote)...")
            users = await prepare_users(bench, n + WARMUP)
            await settle(bench, users[:WARMUP])
            latencies = await run_chain(bench, users[WARMUP:], args.rate)
            _, reader_token = await bench.active_user()
            await bench.started_with_quote(reader_token)
        status = direct = None
        if shutil.which("wrk"):
            through = f"{stack['gateway_url']}{API}/mining/status"
            straight = f"{stack['api_urls']['mining']}/mining/status"
            wrk = {"connections": args.connections, "threads": 1}
            auth = {"Authorization": f"Bearer {reader_token}"}
            await asyncio.to_thread(run_wrk, through, duration_s=2, headers=auth, **wrk)
            status = await asyncio.to_thread(
                run_wrk, through, duration_s=args.duration, headers=auth, **wrk
            )
            direct = await asyncio.to_thread(
                run_wrk, straight, duration_s=args.duration, headers=auth, **wrk
            )
    return {
        "chain": {
            "flows": len(latencies),
            "rate_per_s": args.rate,
            "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": latencies[-1],
            "target_p99_ms": TARGET_P99_MS,
        },
        "mining_status": None
        if status is None or direct is None
        else {
            "rps": status.rps,
            "p50_ms": status.p50_ms,
            "p99_ms": status.p99_ms,
            "errors": status.errors,
            "connections": args.connections,
            "direct": {
                "rps": direct.rps,
                "p50_ms": direct.p50_ms,
                "p99_ms": direct.p99_ms,
                "errors": direct.errors,
            },
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="acceleration flows per second")
    parser.add_argument("--duration", type=int, default=10, help="seconds of flows / of wrk")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    c = result["chain"]
    print(
        f"acceleration chain (PaymentSucceeded -> points in GET /balance), {c['flows']} flows at "
        f"{c['rate_per_s']:g}/s:\n  p50 {c['p50_ms']:.1f} ms  p99 {c['p99_ms']:.1f} ms  max "
        f"{c['max_ms']:.1f} ms  (target p99 < {TARGET_P99_MS:.0f} ms: "
        f"{'met' if c['p99_ms'] < TARGET_P99_MS else 'NOT met'})"
    )
    s = result["mining_status"]
    if s is None:
        print("GET /mining/status: wrk is not installed (apt-get install wrk); skipped")
    else:
        d = s["direct"]
        print(
            f"GET /mining/status, wrk -t1 -c{s['connections']}, one user with a running session:\n"
            f"  gateway {s['rps']:>7,.0f} req/s  p50 {s['p50_ms']:.2f} ms  p99 {s['p99_ms']:.2f} ms"
            f"  errors {s['errors']}\n"
            f"  direct  {d['rps']:>7,.0f} req/s  p50 {d['p50_ms']:.2f} ms  p99 {d['p99_ms']:.2f} ms"
            f"  errors {d['errors']}  (mining-api itself, for comparison)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
