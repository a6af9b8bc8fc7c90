"""Fuzz the public API through the gateway with schemathesis, as a user and as an admin.

The merged OpenAPI at `<gateway>/openapi.json` is the contract the frontend is generated from,
so every response must match it: no 5xx, documented status codes, content types and bodies, and
every error an RFC 9457 `application/problem+json` with a `type`. The run is schemathesis' engine
(the same phases as its CLI: coverage, fuzzing, and stateful chains over the links it infers, since
the spec declares none), seeded and deterministic so a CI failure reproduces.

    python -m scifikpi_tools.fuzz                 # starts a fresh local stack for the run
    python -m scifikpi_tools.fuzz --running       # the `make run` stack (.local/stack.env)
    python -m scifikpi_tools.fuzz --url URL --database-url DSN --localstripe-url URL
    options: --examples N (per operation and phase), --seed S, --stateful-steps N

`tests/e2e/test_fuzz.py` runs the same `fuzz()` with few examples on the e2e stack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events

from scifikpi_tools.stack import LocalStack
from scifikpi_tools.stackenv import add_target_arguments, read_stack_env
from scifikpi_tools.standins.pay import pay_stripe

API = "/api/v1"
#: our own check: every error is problem+json with a `type` (RFC 9457, docs/problems.md)
PROBLEM_CHECK = "problem_json_errors"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    PROBLEM_CHECK,
)
#: operations an identity fuzzes: `x-access` of the merged spec (absent = public)
SCOPES = {"user": {"public", "user"}, "admin": {"admin"}}
#: access tokens last 15 minutes: a long run logs in again before they expire
TOKEN_REFRESH_S = 600


@schemathesis.check
def problem_json_errors(ctx: Any, response: schemathesis.Response, case: Any) -> bool | None:
    """A 4xx/5xx must be `application/problem+json` whose body has a string `type`."""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if content_type.split(";")[0].strip().lower() != "application/problem+json":
        raise AssertionError(
            f"{response.status_code} answered with Content-Type {content_type!r}, "
            "not application/problem+json"
        )
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} problem body is not JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not body["type"]:
        raise AssertionError(f"{response.status_code} problem body has no string `type`: {body!r}")
    return None


@dataclass(frozen=True)
class Identity:
    """Who the fuzzer is: `user` (an active account) or `admin`, by the password it logs in with."""

    role: str
    email: str
    password: str


@dataclass
class Finding:
    """One distinct failure (check, operation, title), with the first response and its curl."""

    check: str
    operation: str
    title: str
    status: int | None
    body: str
    curl: str
    count: int = 1

    def render(self) -> str:
        curl = self.curl if len(self.curl) <= 400 else self.curl[:400] + "..."
        return (
            f"[{self.check}] {self.operation} -> {self.status} ({self.count}x): {self.title}\n"
            f"      {self.body[:300]}\n      {curl}"
        )


@dataclass
class Tally:
    """What a run covered and found, summed over its engine events."""

    role: str
    checks: tuple[str, ...] = CHECKS
    operations: set[str] = field(default_factory=set)
    selected: int = 0
    cases: int = 0
    cases_by_phase: Counter[str] = field(default_factory=Counter)
    failures_by_check: Counter[str] = field(default_factory=Counter)
    findings: dict[tuple[str, str, str], Finding] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    inferred_links: int = 0
    stop_reason: str = ""
    seconds: float = 0.0

    def on_event(self, event: events.EngineEvent) -> None:
        if isinstance(event, events.ScenarioFinished):
            self._on_scenario(event.recorder, str(event.phase))
        elif isinstance(event, events.PhaseStarted) and event.payload is not None:
            self.inferred_links = event.payload.inferred_transitions
        elif isinstance(event, events.NonFatalError):
            self.errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            self.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            self.stop_reason, self.seconds = str(event.stop_reason), event.running_time

    def _on_scenario(self, recorder: Any, phase: str) -> None:
        self.cases += len(recorder.cases)
        self.cases_by_phase[phase] += len(recorder.cases)
        for case_id, node in recorder.cases.items():
            label = node.value.operation.label
            interaction = recorder.interactions.get(case_id)
            response = interaction.response if interaction is not None else None
            if response is not None:
                self.operations.add(label)
            for check in recorder.checks.get(case_id, []):
                if check.failure_info is not None:
                    self._on_failure(check, label, response)

    def _on_failure(self, check: Any, label: str, response: Any) -> None:
        self.failures_by_check[check.name] += 1
        key = (check.name, label, check.failure_info.failure.title)
        if key in self.findings:
            self.findings[key].count += 1
            return
        body = response.content.decode("utf-8", "replace") if response is not None else ""
        status = response.status_code if response is not None else None
        self.findings[key] = Finding(*key[:2], key[2], status, body, check.failure_info.code_sample)

    @property
    def failures(self) -> int:
        return sum(self.failures_by_check.values())

    def summary(self) -> str:
        phases = ", ".join(f"{p} {n}" for p, n in sorted(self.cases_by_phase.items()))
        names = sorted(set(self.checks) | set(self.failures_by_check))
        lines = [
            f"{self.role}: {len(self.operations)}/{self.selected} operations, {self.cases} cases "
            f"({phases}), {self.inferred_links} inferred links, {self.seconds:.1f} s, "
            f"{self.stop_reason}",
            "  failures by check: "
            + ", ".join(f"{name} {self.failures_by_check.get(name, 0)}" for name in names),
        ]
        lines += [f"  {f.render()}" for f in self.findings.values()]
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)


def make_config(*, examples: int, seed: int, stateful_steps: int, continue_on_failure: bool,
                checks: Sequence[str] = CHECKS) -> SchemathesisConfig:  # fmt: skip
    """`checks` only (or "all"), every testing phase, one worker, seeded and deterministic, no
    database of past examples: two runs with the same seed send the same cases."""
    generation = {
        "mode": "all", "max-examples": examples, "deterministic": True, "database": "none",
    }  # fmt: skip
    every = "all" in checks
    selected: dict[str, Any] = {"enabled": every} | {name: {"enabled": True} for name in checks}
    selected.pop("all", None)
    return SchemathesisConfig.from_dict(
        {
            "seed": seed,
            "generation": generation,
            "checks": selected,
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": stateful_steps >= 2, "max-steps": max(stateful_steps, 2)},
            },
            "workers": 1,
            "continue-on-failure": continue_on_failure,
            "request-timeout": 20,
        }
    )


def _access(ctx: Any) -> str:
    return str(ctx.operation.definition.raw.get("x-access", "public"))


def _login_auth(api_url: str, identity: Identity) -> type:
    """An auth provider class (schemathesis instantiates it) that logs `identity` in."""

    class LoginAuth:
        def get(self, case: Any, ctx: Any) -> str:
            login = requests.post(
                f"{api_url}/auth/login",
                json={"email": identity.email, "password": identity.password},
                timeout=20,
            )
            login.raise_for_status()
            return str(login.json()["access_token"])

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return LoginAuth


def fuzz(gateway_url: str, identity: Identity, *, examples: int = 10, seed: int = 12,
         stateful_steps: int = 6, continue_on_failure: bool = False,
         checks: Sequence[str] = CHECKS) -> Tally:  # fmt: skip
    """Runs schemathesis over the operations `identity.role` may call; blocking (engine is sync)."""
    config = make_config(
        examples=examples, seed=seed, stateful_steps=stateful_steps,
        continue_on_failure=continue_on_failure, checks=checks,
    )  # fmt: skip
    loaded = schemathesis.openapi.from_url(f"{gateway_url}/openapi.json", config=config)
    schema = loaded.include(lambda ctx: _access(ctx) in SCOPES[identity.role])
    # a fresh token before the last one expires; never on a 401 (the fuzzer provokes those)
    schema.auth(refresh_interval=TOKEN_REFRESH_S, retry_on=[])(
        _login_auth(gateway_url + API, identity)
    )
    tally = Tally(identity.role, tuple(checks), selected=schema.statistic.operations.selected)
    for event in engine.from_schema(schema).execute():
        tally.on_event(event)
    return tally


# --- identities and the command line -----------------------------------------------------------

#: a fuzz account's password (a test stack's, never a real one)
PASSWORD = "Fuzzing-Kestrel-4821"  # noqa: S105
#: what a stack this tool starts runs with: the e2e suite's settings (short mining sessions)
STACK_ENV = {"MINING_SESSION_DURATION_S": "60", "MINING_COMPLETE_INTERVAL_S": "0.5"}


async def active_user(api: Any, localstripe_url: str) -> Identity:
    """Registers, pays the USD 10 deposit at localstripe, waits until active, starts mining."""
    email = f"fuzz.user.{uuid.uuid4().hex[:12]}@example.com"
    body = {
        "account_type": "individual", "email": email, "password": PASSWORD, "country": "US",
        "full_name": "Fuzz User", "initial_deposit": {"amount_minor": 1000, "currency": "USD"},
    }  # fmt: skip
    registered = (await api.post("/auth/register", json=body)).raise_for_status().json()
    auth = {"Authorization": f"Bearer {registered['access_token']}"}
    payment = await api.post(
        "/payments",
        json={"amount_minor": 1000, "currency": "USD", "provider": "stripe",
              "purpose": "registration"},
        headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
    )  # fmt: skip
    intent = payment.raise_for_status().json()["provider_payment_id"]
    await asyncio.to_thread(pay_stripe, localstripe_url, intent)
    deadline = time.monotonic() + 60
    while (await api.get("/auth/me", headers=auth)).json().get("status") != "active":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{email} not active within 60 s")
        await asyncio.sleep(0.3)
    identity = Identity("user", email, PASSWORD)
    login = await api.post("/auth/login", json={"email": email, "password": PASSWORD})
    token = login.raise_for_status().json()["access_token"]
    started = await api.post("/mining/start", headers={"Authorization": f"Bearer {token}"})
    if started.status_code != 201:
        raise RuntimeError(f"POST /mining/start answered {started.status_code}: {started.text}")
    return identity


def create_admin(database_url: str) -> Identity:
    """An admin made as ops would: `auth-admin create-admin` against the stack's database."""
    email = f"fuzz.admin.{uuid.uuid4().hex[:12]}@example.com"
    made = subprocess.run(  # noqa: S603 - our own console script
        [str(Path(sys.executable).parent / "auth-admin"), "create-admin", "--email", email,
         "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "local"},
    )  # fmt: skip
    if made.returncode != 0:
        raise RuntimeError(f"auth-admin create-admin failed: {made.stderr.strip()}")
    return Identity("admin", email, PASSWORD)


@dataclass(frozen=True)
class Target:
    gateway_url: str
    localstripe_url: str
    database_url: str | None


def running_stack(env_file: Path) -> Target:
    """The `make run` stack from its `stack.env`."""
    stack = read_stack_env(env_file)
    return Target(stack.gateway_url, stack.standin_url(8420), stack.values.get("DATABASE_URL"))


async def run_against(target: Target, args: argparse.Namespace) -> list[Tally]:
    async with httpx.AsyncClient(base_url=target.gateway_url + API, timeout=20) as api:
        identities = [await active_user(api, target.localstripe_url)]
    if target.database_url:
        identities.append(await asyncio.to_thread(create_admin, target.database_url))
    else:
        print("no --database-url: admin operations are not fuzzed", file=sys.stderr)
    tallies = []
    for identity in identities:
        tally = await asyncio.to_thread(
            fuzz, target.gateway_url, identity, examples=args.examples, seed=args.seed,
            stateful_steps=args.stateful_steps, continue_on_failure=True,
            checks=tuple(args.checks.split(",")),
        )  # fmt: skip
        print(tally.summary(), flush=True)
        tallies.append(tally)
    return tallies


async def _main(args: argparse.Namespace) -> list[Tally]:
    if args.url:
        target = Target(args.url.rstrip("/"), args.localstripe_url, args.database_url)
        return await run_against(target, args)
    if args.running:
        return await run_against(running_stack(Path(args.running)), args)
    with tempfile.TemporaryDirectory(prefix="fuzz-stack-") as tmp:
        # the fuzzer runs in a thread: this loop keeps draining the services' output meanwhile
        stack = LocalStack.for_tests(Path(tmp), extra_env=STACK_ENV, output=Path(tmp, "log"))
        async with stack:
            assert stack.localstripe_url is not None
            target = Target(stack.gateway_url, stack.localstripe_url, stack.database_url)
            return await run_against(target, args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scifikpi_tools.fuzz", description=__doc__.splitlines()[0]
    )
    add_target_arguments(parser)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="with --url: the stack's database, to create the admin")  # fmt: skip
    parser.add_argument("--localstripe-url", default="http://127.0.0.1:8420")
    parser.add_argument("--examples", type=int, default=100, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--stateful-steps", type=int, default=20)
    parser.add_argument("--checks", default=",".join(CHECKS), help="comma-separated, or all")
    args = parser.parse_args(argv)
    started = time.monotonic()
    tallies = asyncio.run(_main(args))
    failures = sum(t.failures for t in tallies)
    errors = sum(len(t.errors) for t in tallies)
    print(
        f"fuzz: {sum(len(t.operations) for t in tallies)} operations, "
        f"{sum(t.cases for t in tallies)} cases, {failures} failures, {errors} errors "
        f"in {time.monotonic() - started:.0f} s"
    )
    return 1 if failures or errors else 0


if __name__ == "__main__":
    sys.exit(main())
