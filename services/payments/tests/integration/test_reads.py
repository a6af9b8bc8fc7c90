"""GET /payments/{id} (own only) and GET /payments (newest first, keyset cursor)."""

from __future__ import annotations

import uuid

from _pay_helpers import payment_body
from scifikpi_common.testing.contracts import assert_problem


async def test_get_own_payment(client, user) -> None:
    created = (await client.post("/payments", json=payment_body(), headers=user.headers())).json()
    r = await client.get(f"/payments/{created['id']}", headers=user.auth)
    assert r.status_code == 200 and r.json() == created


async def test_other_users_payment_is_not_found(client, user, make_user, admin) -> None:
    created = (await client.post("/payments", json=payment_body(), headers=user.headers())).json()
    r = await client.get(f"/payments/{created['id']}", headers=make_user().auth)
    assert_problem(r, 404, "payment-not-found")
    assert_problem(
        await client.get(f"/payments/{uuid.uuid4()}", headers=user.auth), 404, "payment-not-found"
    )
    assert (await client.get(f"/payments/{created['id']}", headers=admin.auth)).status_code == 200
    assert_problem(
        await client.get("/payments/not-a-uuid", headers=user.auth), 422, "validation-error"
    )


async def test_list_is_newest_first_and_cursor_paged(client, user, make_user) -> None:
    ids = []
    for amount in range(101, 108):
        r = await client.post(
            "/payments", json=payment_body(amount_minor=amount), headers=user.headers()
        )
        ids.append(r.json()["id"])
    await client.post("/payments", json=payment_body(), headers=make_user().headers())  # not mine
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        r = await client.get("/payments", params=params, headers=user.auth)
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [p["id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert pages == 3


async def test_list_bad_input(client, user) -> None:
    assert_problem(
        await client.get("/payments", params={"cursor": "!!"}, headers=user.auth),
        422,
        "invalid-cursor",
    )
    assert_problem(
        await client.get("/payments", params={"limit": 0}, headers=user.auth),
        422,
        "validation-error",
    )
    assert_problem(
        await client.get("/payments", params={"limit": 101}, headers=user.auth),
        422,
        "validation-error",
    )
    assert_problem(await client.get("/payments"), 401, "invalid-token")
    empty = await client.get("/payments", headers=user.auth)
    assert empty.json() == {"items": [], "next_cursor": None}
