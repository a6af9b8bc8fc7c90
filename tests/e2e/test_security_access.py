"""Another user's resource, on every operation that takes an id.

The operations come from the merged OpenAPI the gateway serves: every path or query parameter
named `id`/`*_id` and every such request-body field. `CASES` says how the test obtains the
victim's id there and what the attacker (another active user) must get; an operation with an id
that `CASES` does not list fails the test, so a new route is covered when it is added.

Owned resources answer the attacker exactly as an id that does not exist (404 with the same
`type`: no oracle), and the victim's own request still works. Admin operations refuse a user
(403 `forbidden`). Public ids (catalog items, their TEP-64 metadata) are public by design.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from e2e_support import (
    API,
    admin_token,
    bearer,
    create_payment,
    eventually,
    idempotency_key,
    mined_user,
)
from scifikpi_common.testing.contracts import assert_problem
from scifikpi_tools.standins.pay import pay_stripe
from security_support import SECRETS, Users, bind_wallet

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@dataclass
class Victim:
    token: str
    payment_id: str  # the registration deposit, succeeded
    topup_id: str  # a top-up, never paid
    topup_key: str
    purchase_key: str
    item_id: str  # a catalog item (public)
    kept_nft: str  # minted, still in custody
    sent_nft: str  # minted and sent to the victim's wallet
    transfer_id: str
    quote: dict[str, Any]  # of the running second session, unpaid
    session_id: str


@dataclass
class Ctx:
    api: httpx.AsyncClient
    attacker: str
    victim: Victim
    localstripe_url: str


Case = Callable[[Ctx], Awaitable[None]]


def is_id(name: str) -> bool:
    return name == "id" or name.endswith("_id")


def id_operations(spec: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(METHOD, path, name) of every id in a path, a query or a JSON request body."""
    schemas = spec.get("components", {}).get("schemas", {})
    found = set()
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if not isinstance(op, dict) or method == "parameters":
                continue
            for p in shared + op.get("parameters", []):
                if p["in"] in ("path", "query") and is_id(p["name"]):
                    found.add((method.upper(), path, p["name"]))
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            schema = body.get("schema", {})
            ref = schema.get("$ref", "")
            props = schemas.get(ref.rsplit("/", 1)[-1], {}) if ref else schema
            for name in props.get("properties", {}):
                if is_id(name):
                    found.add((method.upper(), path, name))
    return found


async def same_as_unknown(ctx: Ctx, method: str, path: str, mine: str, slug: str) -> None:
    """The attacker gets for the victim's id exactly what a made-up id gets: 404 `slug`."""
    answers = []
    for value in (mine, str(uuid.uuid4())):
        r = await ctx.api.request(method, path.format(value), json={} if method == "POST" else None,
                                  headers=bearer(ctx.attacker))  # fmt: skip
        answers.append(assert_problem(r, 404, slug)["type"])
    assert answers[0] == answers[1]


async def victim_reads(ctx: Ctx, path: str) -> dict[str, Any]:
    r = await ctx.api.get(path, headers=bearer(ctx.victim.token))
    assert r.status_code == 200, r.text
    return r.json()


async def admin_only(ctx: Ctx, method: str, path: str, body: dict[str, Any] | None) -> None:
    r = await ctx.api.request(method, path, json=body, headers=bearer(ctx.attacker))
    assert_problem(r, 403, "forbidden")


# --------------------------------------------------------------------------- the cases


async def payment_by_id(ctx: Ctx) -> None:
    v = ctx.victim
    await same_as_unknown(ctx, "GET", "/payments/{}", v.payment_id, "payment-not-found")
    assert (await victim_reads(ctx, f"/payments/{v.payment_id}"))["status"] == "succeeded"


async def refund(ctx: Ctx) -> None:
    v = ctx.victim
    await admin_only(ctx, "POST", f"/admin/payments/{v.payment_id}/refund", {})
    assert (await victim_reads(ctx, f"/payments/{v.payment_id}"))["status"] == "succeeded"


async def purchase_by_id(ctx: Ctx) -> None:
    v = ctx.victim
    await same_as_unknown(ctx, "GET", "/nft/purchases/{}", v.kept_nft, "purchase-not-found")
    assert (await victim_reads(ctx, f"/nft/purchases/{v.kept_nft}"))["status"] == "completed"


async def transfer_nft(ctx: Ctx) -> None:
    v = ctx.victim
    await same_as_unknown(ctx, "POST", "/nft/{}/transfer", v.kept_nft, "nft-not-found")
    mine = {n["id"]: n["status"] for n in (await victim_reads(ctx, "/nft/mine"))["items"]}
    assert mine[v.kept_nft] == "custody", mine  # nothing moved


async def transfer_by_id(ctx: Ctx) -> None:
    v = ctx.victim
    await same_as_unknown(ctx, "GET", "/nft/transfers/{}", v.transfer_id, "transfer-not-found")
    assert (await victim_reads(ctx, f"/nft/transfers/{v.transfer_id}"))["nft_id"] == v.sent_nft


async def edit_item(ctx: Ctx) -> None:
    item = ctx.victim.item_id
    await admin_only(ctx, "PATCH", f"/admin/nft/catalog/{item}", {"price_points": "0.000001"})
    await admin_only(ctx, "POST", f"/admin/nft/catalog/{item}/retire", {})
    listed = (await ctx.api.get("/nft/catalog", params={"limit": 100})).json()["items"]
    assert next(i for i in listed if i["id"] == item)["price_points"] == "0.000100"


async def public_metadata(ctx: Ctx) -> None:
    """TEP-64 metadata: public by design (the on-chain content points here); no owner in it."""
    r = await ctx.api.get(f"/nft/metadata/items/{ctx.victim.item_id}.json")
    assert r.status_code == 200, r.text
    text = r.text.lower()
    assert "user_id" not in text and "@" not in text and "owner" not in text, r.text


async def buy_by_item_id(ctx: Ctx) -> None:
    """Catalog ids are public; the Idempotency-Key is per user: the victim's key gives the
    attacker a purchase of their own, never the victim's."""
    r = await ctx.api.post(
        "/nft/purchases", json={"catalog_item_id": ctx.victim.item_id},
        headers={**bearer(ctx.attacker), "Idempotency-Key": ctx.victim.purchase_key},
    )  # fmt: skip
    assert r.status_code == 202, r.text
    assert r.json()["id"] not in (ctx.victim.kept_nft, ctx.victim.sent_nft)


async def topup_key(ctx: Ctx) -> None:
    """Not an id field, but the other per-user handle of /payments: the victim's key."""
    r = await ctx.api.post(
        "/balance/topup", json={"amount_minor": 1500, "currency": "USD", "provider": "stripe"},
        headers={**bearer(ctx.attacker), "Idempotency-Key": ctx.victim.topup_key},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["id"] != ctx.victim.topup_id


async def foreign_quote(ctx: Ctx) -> None:
    """The attacker pays for the victim's quote: mining refuses it (the quote is another
    user's), payments refunds the attacker, the victim's session is not accelerated."""
    q = ctx.victim.quote
    payment = await create_payment(
        ctx.api, ctx.attacker, provider="stripe", purpose="acceleration",
        amount_minor=q["price_minor"], currency="USD", quote_id=q["quote_id"],
    )  # fmt: skip
    assert pay_stripe(ctx.localstripe_url, payment["provider_payment_id"])["status"] == "succeeded"

    async def refunded() -> bool:
        r = await ctx.api.get(f"/payments/{payment['id']}", headers=bearer(ctx.attacker))
        return r.json()["status"] == "refunded"

    await eventually(refunded, timeout_s=45, interval=0.5, what="foreign quote refunded")
    sessions = (await victim_reads(ctx, "/mining/sessions"))["items"]
    assert next(s for s in sessions if s["id"] == ctx.victim.session_id)["skipped_s"] == 0


P = API
CASES: dict[tuple[str, str, str], Case] = {
    ("GET", f"{P}/payments/{{payment_id}}", "payment_id"): payment_by_id,
    ("POST", f"{P}/admin/payments/{{payment_id}}/refund", "payment_id"): refund,
    ("POST", f"{P}/payments", "quote_id"): foreign_quote,
    ("GET", f"{P}/nft/purchases/{{purchase_id}}", "purchase_id"): purchase_by_id,
    ("POST", f"{P}/nft/purchases", "catalog_item_id"): buy_by_item_id,
    ("POST", f"{P}/nft/{{nft_id}}/transfer", "nft_id"): transfer_nft,
    ("GET", f"{P}/nft/transfers/{{transfer_id}}", "transfer_id"): transfer_by_id,
    ("GET", f"{P}/nft/metadata/items/{{item_id}}.json", "item_id"): public_metadata,
    ("PATCH", f"{P}/admin/nft/catalog/{{item_id}}", "item_id"): edit_item,
    ("POST", f"{P}/admin/nft/catalog/{{item_id}}/retire", "item_id"): edit_item,
}
#: checks of per-user handles that are not id fields, run with the table
EXTRA: tuple[Case, ...] = (topup_key,)


# --------------------------------------------------------------------------- the victim


async def _buy(api: httpx.AsyncClient, token: str, item_id: str, key: str) -> str:
    r = await api.post("/nft/purchases", json={"catalog_item_id": item_id},
                       headers={**bearer(token), "Idempotency-Key": key})  # fmt: skip
    assert r.status_code == 202, r.text
    purchase_id: str = r.json()["id"]

    async def completed() -> bool:
        p = (await api.get(f"/nft/purchases/{purchase_id}", headers=bearer(token))).json()
        assert p["status"] != "failed", p
        return p["status"] == "completed"

    await eventually(completed, timeout_s=60, what="purchase completed")
    return purchase_id


async def make_victim(api: httpx.AsyncClient, localstripe_url: str, database_url: str) -> Victim:
    admin = await admin_token(api, database_url)
    created = await api.post(
        "/admin/nft/catalog", headers=bearer(admin),
        json={"name": "Dyson Sphere", "image_url": "https://cdn.example.com/nft/dyson.png",
              "price_points": "0.000100", "supply_total": 10},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    token, _ = await mined_user(api, localstripe_url)
    SECRETS.add("access token", token)
    purchase_key = idempotency_key()
    kept, sent = await asyncio.gather(
        _buy(api, token, item_id, purchase_key), _buy(api, token, item_id, idempotency_key())
    )
    await bind_wallet(api, token)
    moved = await api.post(f"/nft/{sent}/transfer", json={}, headers=bearer(token))
    assert moved.status_code == 202, moved.text
    topup_key = idempotency_key()
    topup = await create_payment(api, token, provider="stripe", path="/balance/topup",
                                 amount_minor=1500, currency="USD", key=topup_key)  # fmt: skip
    started = await api.post("/mining/start", headers=bearer(token))
    assert started.status_code == 201, started.text
    quote = await api.post("/mining/acceleration/quote", json={"seconds": 10},
                           headers=bearer(token))  # fmt: skip
    assert quote.status_code == 201, quote.text
    payments = (await api.get("/payments", headers=bearer(token))).json()["items"]
    registration = next(p for p in payments if p["purpose"] == "registration")
    return Victim(
        token=token, payment_id=registration["id"], topup_id=topup["id"], topup_key=topup_key,
        purchase_key=purchase_key, item_id=item_id, kept_nft=kept, sent_nft=sent,
        transfer_id=moved.json()["id"], quote=quote.json(), session_id=started.json()["id"],
    )  # fmt: skip


async def test_every_id_taking_operation_is_in_the_table(gateway: httpx.AsyncClient) -> None:
    spec = (await gateway.get("/openapi.json")).json()
    assert spec.get("x-scifikpi-missing-services", []) == []
    found = id_operations(spec)
    assert found - set(CASES) == set(), f"add these to CASES: {sorted(found - set(CASES))}"
    assert set(CASES) - found == set(), f"stale CASES entries: {sorted(set(CASES) - found)}"


async def test_another_users_resource_on_every_id_taking_operation(
    api: httpx.AsyncClient, users: Users, localstripe_url: str, database_url: str
) -> None:
    [attacker], victim = await asyncio.gather(
        users.get("access-attacker"), make_victim(api, localstripe_url, database_url)
    )
    ctx = Ctx(api, attacker["access_token"], victim, localstripe_url)
    for case in dict.fromkeys([*CASES.values(), *EXTRA]):  # each check once, in table order
        await case(ctx)
