"""Every line the stack logged during the e2e run holds no secret.

Runs after every other test of the session (security_support's hook moves this file last, and
its name sorts last anyway). It first sends secrets where a careless handler would log them,
then scans the stack's log (`e2e.log_path`) for:

- JWTs (any, so every test's access tokens and every forged one), `Authorization` values;
- refresh tokens: every 43-character token-shaped string is hashed and looked up among the
  SHA-256 digests auth stores, so every test's refresh tokens count, not only recorded ones;
- what the security tests recorded (`security_support.SECRETS`: tokens, the test passwords, the
  card number they sent), verbatim;
- card numbers (13-19 digits, Luhn-valid, a card network's prefix), Stripe secret and webhook
  keys, credentials inside URLs.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import bearer, individual, new_email
from security_support import CARD_NUMBER, SECRETS, SecretRecord, b64url

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*")
#: a credential after `authorization:`/`=` (possessive: "[redacted]" and prose such as
#: "an `Authorization: Bearer <token>` header" are no credentials), or after Bearer/Basic
AUTHORIZATION = re.compile(
    r"(?i)(?:\bauthorization[\"']?+\s*[:=]\s*[\"']?+(?:bearer\s+|basic\s+)?+"
    r"(?!\[redacted\])[A-Za-z0-9._~+/=-]{12,}"
    r"|\b(?:bearer|basic)\s+[A-Za-z0-9._~+/-]{12,}=*)"
)
STRIPE_SECRET = re.compile(r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]{4,}|\bwhsec_[A-Za-z0-9_]{8,}")
URL_CREDENTIALS = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@\"']+:[^/\s@\"']+@")
TOKEN_SHAPED = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
DIGITS = re.compile(r"(?<![\w.])\d(?:[ -]?\d){12,18}(?!\w)")  # not inside hex ids
#: IIN prefixes of Visa, Mastercard, Amex, Discover, JCB, UnionPay, Mir, Maestro
CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6011|65|35|62|220[0-4]|5018|5020|6304)")


def luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_numbers(line: str) -> Iterator[str]:
    for m in DIGITS.finditer(line):
        digits = re.sub(r"[ -]", "", m.group())
        if 13 <= len(digits) <= 19 and CARD_PREFIX.match(digits) and luhn(digits):
            yield digits


def mask(secret: str) -> str:
    return f"{secret[:6]}…({len(secret)} chars)"


def findings(lines: Iterable[str], record: SecretRecord, refresh_digests: set[bytes]) -> list[str]:
    """`line N: what: masked value` for every secret in `lines`."""
    known = sorted(record.values, key=len, reverse=True)
    verbatim = re.compile("|".join(map(re.escape, known))) if known else None
    found = []
    for n, line in enumerate(lines, 1):
        hits = [("JWT", m.group()) for m in JWT.finditer(line)]
        hits += [("Authorization value", m.group()) for m in AUTHORIZATION.finditer(line)]
        hits += [("Stripe secret", m.group()) for m in STRIPE_SECRET.finditer(line)]
        hits += [("credentials in a URL", m.group()) for m in URL_CREDENTIALS.finditer(line)]
        hits += [("card number", c) for c in card_numbers(line)]
        hits += [
            ("refresh token", m.group())
            for m in TOKEN_SHAPED.finditer(line)
            if hashlib.sha256(m.group().encode()).digest() in refresh_digests
        ]
        if verbatim is not None:
            hits += [(record.values[m.group()], m.group()) for m in verbatim.finditer(line)]
        shown = line
        for _, value in hits:  # the report must not leak what it found
            shown = shown.replace(value, mask(value))
        found += [f"line {n}: {what}: {shown[:100]!r}" for what, _ in hits]
    return found


async def refresh_token_digests(database_url: str) -> set[bytes]:
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT token_hash FROM auth.refresh_tokens")
    finally:
        await conn.close()
    return {bytes(r["token_hash"]) for r in rows}


def test_the_detectors_find_each_kind_of_secret_and_nothing_else() -> None:
    """Without this the scan could pass by finding nothing at all."""
    refresh = b64url(bytes(range(32)))
    record = SecretRecord()
    record.add("test password", "Planted-Password-123")
    jwt_like = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJl"
    planted = [
        f'{{"event": "x", "token": "{jwt_like}"}}',
        '{"headers": {"authorization": "Bearer abcdefghijklmnop"}}',
        "card 4111 1111 1111 1111 declined",
        "key sk_test_51Habcdef and whsec_0123456789abc",
        "dsn postgresql://app:hunter2@db:5432/app",
        f"refresh={refresh}",
        "login with Planted-Password-123",
    ]
    found = findings(planted, record, {hashlib.sha256(refresh.encode()).digest()})
    assert {int(f.split(":")[0].removeprefix("line ")) for f in found} == set(range(1, 8)), found
    clean = [
        'detail="An `Authorization: Bearer <token>` header is required."',
        'www-authenticate: Bearer error="invalid_token"',
        '{"user_id": "0190f1d2-7c3a-7b4e-9a1b-2c3d4e5f6a7b", "authorization": "[redacted]"}',
        '{"timestamp": 1718000000000, "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}',
        '{"kid": "' + b64url(bytes(32)) + '", "amount_minor": 100000, "offset": 4111111111}',
        "postgresql://postgres@127.0.0.1:5432/scifikpi_stack_1",
    ]
    assert findings(clean, record, set()) == []


async def test_secrets_sent_where_a_careless_handler_would_log_them(
    api: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    """Secrets in the places logs pick up: failed logins, 4xx bodies, query strings, headers."""
    password = "Careless-Handler-9182"
    SECRETS.add("test password", password)
    r = await api.post("/auth/login", json={"email": new_email("leak"), "password": password})
    assert r.status_code == 401, r.text
    body = {**individual(new_email("leak")), "card_number": CARD_NUMBER, "cvc": "123"}
    assert (await api.post("/auth/register", json=body)).status_code == 422
    card = {"amount_minor": 1000, "currency": "USD", "provider": "stripe", "purpose": "topup",
            "card": {"number": CARD_NUMBER, "exp": "12/34", "cvc": "123"}}  # fmt: skip
    bogus = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.bGVha2VkLXNpZ25hdHVyZQ"
    SECRETS.add("forged token", bogus)
    r = await api.post("/payments", json=card, headers={**bearer(bogus), "Idempotency-Key": "k"})
    assert r.status_code == 401, r.text
    assert (await gateway.get(f"/api/v1/no-such-route?access_token={bogus}")).status_code == 404
    unknown = b64url(hashlib.sha256(password.encode()).digest())
    SECRETS.add("refresh token", unknown)
    assert (await api.post("/auth/refresh", json={"refresh_token": unknown})).status_code == 401


async def test_no_log_line_of_the_run_holds_a_secret(e2e: Any, database_url: str) -> None:
    if not e2e.log_path:
        pytest.skip("E2E_GATEWAY_URL names an external stack: its log is not ours to read")
    await asyncio.sleep(1.0)  # the last lines reach the file through the supervisor's pipes
    digests = await refresh_token_digests(database_url)
    assert digests, "auth stored no refresh token: the run made no session to look for"
    text = await asyncio.to_thread(Path(e2e.log_path).read_text, "utf-8", "replace")
    lines = text.splitlines()
    assert len(lines) > 100, f"only {len(lines)} lines in {e2e.log_path}"
    found = findings(lines, SECRETS, digests)
    assert not found, f"{len(found)} secrets in {e2e.log_path}:\n" + "\n".join(found[:30])
