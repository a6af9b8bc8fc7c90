"""POST /mining/start, GET /mining/status, GET /mining/sessions, quotes, forecast: through the
app in-process against real Postgres."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from _mining_helpers import DURATION_S, activated, deliver, outbox, session_row, shift_into_past
from mining.processes import complete_due_once

PROBLEM = "urn:scifikpi:problem:"


async def _start(client, keys, user):
    return await client.post("/mining/start", headers=keys.headers(user))


class TestStart:
    async def test_start_answers_the_session_and_emits_mining_started(
        self, client, keys, engine, settings
    ) -> None:
        user = uuid.uuid4()
        r = await _start(client, keys, user)
        assert r.status_code == 201, r.text
        body = r.json()
        rate = settings.mining_r_base_micro_per_hour  # no deposits known
        target = rate * DURATION_S // 3600
        assert body["status"] == "active"
        assert (body["duration_s"], body["skipped_s"], body["remaining_s"]) == (3600, 0, 3600)
        assert body["rate_micro_per_hour"] == rate
        assert body["rate_per_hour"] == f"{rate // 10**6}.{rate % 10**6:06d}"
        assert body["target_micro"] == target and body["target_points"].endswith(".000000")
        assert body["accrued_points"] == "0.000000"
        assert set(body) >= {"id", "started_at", "ends_at", "server_time"}
        [started] = await outbox(engine, "MiningStarted")
        assert started["session_id"] == body["id"] and started["target_points_micro"] == target

    async def test_a_second_start_while_one_runs_is_409(self, client, keys) -> None:
        user = uuid.uuid4()
        assert (await _start(client, keys, user)).status_code == 201
        r = await _start(client, keys, user)
        assert r.status_code == 409
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == PROBLEM + "mining-session-active"

    async def test_an_account_not_active_is_403(self, client, keys, factory) -> None:
        user = uuid.uuid4()
        r = await client.post("/mining/start", headers=keys.headers(user, status="pending_payment"))
        assert r.status_code == 403
        assert r.json()["type"] == PROBLEM + "account-not-active"
        # activation is one-way: the projection admits the same (stale) token
        await deliver(factory, activated(user))
        r = await client.post("/mining/start", headers=keys.headers(user, status="pending_payment"))
        assert r.status_code == 201

    async def test_fifty_parallel_starts_make_exactly_one_session(
        self, client, keys, engine
    ) -> None:
        user = uuid.uuid4()
        results = await asyncio.gather(*(_start(client, keys, user) for _ in range(50)))
        assert Counter(r.status_code for r in results) == {201: 1, 409: 49}
        async with engine.connect() as conn:
            count = (
                await conn.exec_driver_sql(
                    "SELECT count(*) FROM mining.sessions WHERE user_id = $1", (user,)
                )
            ).scalar_one()
        assert count == 1
        assert len(await outbox(engine, "MiningStarted")) == 1

    async def test_start_after_an_unsettled_end_completes_the_old_session_once(
        self, client, keys, engine
    ) -> None:
        user = uuid.uuid4()
        first = (await _start(client, keys, user)).json()
        await shift_into_past(engine, first["id"], DURATION_S + 5)
        assert (await _start(client, keys, user)).status_code == 201
        assert (await session_row(engine, first["id"])).status == "completed"
        [done] = await outbox(engine, "MiningCompleted")
        assert done["session_id"] == first["id"] and done["points_micro"] == first["target_micro"]

    async def test_routes_need_a_token(self, client) -> None:
        for method, path in (
            ("POST", "/mining/start"),
            ("GET", "/mining/status"),
            ("GET", "/mining/sessions"),
            ("POST", "/mining/acceleration/quote"),
            ("GET", "/mining/forecast"),
        ):
            r = await client.request(method, path, json={"seconds": 1})
            assert r.status_code == 401, path
            assert r.json()["type"] == PROBLEM + "invalid-token"


class TestStatus:
    async def test_idle(self, client, keys) -> None:
        body = (await client.get("/mining/status", headers=keys.headers(uuid.uuid4()))).json()
        assert set(body) == {"status", "server_time"} and body["status"] == "idle"

    async def test_active_session_counts_down(self, client, keys, engine) -> None:
        user = uuid.uuid4()
        sid = (await _start(client, keys, user)).json()["id"]
        await shift_into_past(engine, sid, 900)  # a quarter in
        body = (await client.get("/mining/status", headers=keys.headers(user))).json()
        assert body["status"] == "active" and body["id"] == sid
        assert 2690 <= body["remaining_s"] <= 2700
        assert body["target_micro"] // 4 <= body["accrued_micro"] < body["target_micro"] // 3

    async def test_a_due_session_reads_settled_without_writing(self, client, keys, engine) -> None:
        user = uuid.uuid4()
        sid = (await _start(client, keys, user)).json()["id"]
        await shift_into_past(engine, sid, DURATION_S + 1)
        before = await session_row(engine, sid)
        body = (await client.get("/mining/status", headers=keys.headers(user))).json()
        assert body["status"] == "completed"
        assert (body["remaining_s"], body["accrued_micro"]) == (0, body["target_micro"])
        assert body["accrued_points"] == body["target_points"]
        assert await session_row(engine, sid) == before  # still `active` in the table
        assert await outbox(engine, "MiningCompleted") == []


class TestSessions:
    async def test_history_newest_first_in_keyset_pages(self, client, keys, engine, factory):
        user, other = uuid.uuid4(), uuid.uuid4()
        ids = []
        for _ in range(5):
            sid = (await _start(client, keys, user)).json()["id"]
            ids.append(sid)
            await shift_into_past(engine, sid, 10 * DURATION_S * (6 - len(ids)))
            await complete_due_once(factory, batch_size=100)
        await _start(client, keys, other)
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            r = await client.get("/mining/sessions", params=params, headers=keys.headers(user))
            assert r.status_code == 200, r.text
            page = r.json()
            assert len(page["items"]) <= 2
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids[::-1]

    async def test_a_bad_cursor_is_422(self, client, keys) -> None:
        r = await client.get(
            "/mining/sessions", params={"cursor": "nope"}, headers=keys.headers(uuid.uuid4())
        )
        assert r.status_code == 422 and r.json()["type"] == PROBLEM + "invalid-cursor"


class TestQuote:
    async def test_quote_is_priced_stored_and_valid_for_the_ttl(self, client, keys, engine):
        user = uuid.uuid4()
        sid = (await _start(client, keys, user)).json()["id"]
        r = await client.post(
            "/mining/acceleration/quote", json={"seconds": 1800}, headers=keys.headers(user)
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert (body["session_id"], body["seconds"], body["currency"]) == (sid, 1800, "USD")
        assert body["price_minor"] == 50  # max(50, ceil(100 × 1800 / 3600))
        async with engine.connect() as conn:
            row = (
                await conn.exec_driver_sql(
                    "SELECT valid_until - created_at AS ttl, used_by_payment_id FROM mining.quotes"
                )
            ).one()
        assert row.ttl.total_seconds() == 900 and row.used_by_payment_id is None

    async def test_quote_validation_has_distinct_types(self, client, keys) -> None:
        user = uuid.uuid4()

        async def quote(seconds):
            return await client.post(
                "/mining/acceleration/quote",
                json={"seconds": seconds},
                headers=keys.headers(user),
            )

        r = await quote(60)
        assert (r.status_code, r.json()["type"]) == (422, PROBLEM + "no-active-mining-session")
        await _start(client, keys, user)
        r = await quote(DURATION_S + 1)
        assert (r.status_code, r.json()["type"]) == (
            422,
            PROBLEM + "acceleration-exceeds-remaining",
        )
        assert r.json()["remaining_s"] == DURATION_S
        for bad in (0, -5):
            r = await quote(bad)
            assert (r.status_code, r.json()["type"]) == (
                422,
                PROBLEM + "acceleration-seconds-invalid",
            )
        r = await quote("soon")
        assert (r.status_code, r.json()["type"]) == (422, PROBLEM + "validation-error")

    async def test_no_quote_for_a_session_past_its_end(self, client, keys, engine) -> None:
        user = uuid.uuid4()
        sid = (await _start(client, keys, user)).json()["id"]
        await shift_into_past(engine, sid, DURATION_S)
        r = await client.post(
            "/mining/acceleration/quote", json={"seconds": 1}, headers=keys.headers(user)
        )
        assert r.json()["type"] == PROBLEM + "no-active-mining-session"


class TestForecast:
    async def test_idle_estimate_and_an_extra_deposit(self, client, keys, settings):
        user = uuid.uuid4()
        r = await client.get("/mining/forecast", params={"days": 1}, headers=keys.headers(user))
        assert r.status_code == 200, r.text
        body = r.json()
        base = settings.mining_r_base_micro_per_hour
        assert body["current_session"] is None
        est = body["estimate"]
        assert (est["label"], est["days"], est["sessions"]) == ("estimate", 1, 24)
        assert est["rate_micro_per_hour"] == base
        assert est["points_micro"] == 24 * base
        assert "estimate" in est["label"] and "complete" in est["assumes"]
        richer = (
            await client.get(
                "/mining/forecast",
                params={"days": 1, "extra_deposit_minor": 5000},
                headers=keys.headers(user),
            )
        ).json()["estimate"]
        assert richer["rate_micro_per_hour"] == settings.mining_rate_micro_per_hour(5000)
        assert richer["points_micro"] > est["points_micro"]

    async def test_running_session_is_exact_and_delays_the_estimate(self, client, keys):
        user = uuid.uuid4()
        session = (await _start(client, keys, user)).json()
        body = (
            await client.get("/mining/forecast", params={"days": 1}, headers=keys.headers(user))
        ).json()
        current = body["current_session"]
        assert current["session_id"] == session["id"]
        assert current["points_at_end_micro"] == session["target_micro"]
        assert current["points_at_end"] == session["target_points"]
        est = body["estimate"]
        assert est["sessions"] == 23 and est["first_session_starts_at"] == current["ends_at"]
        assert (
            est["points_micro"]
            == int(est["current_session_remaining_points"].replace(".", ""))
            + 23 * session["target_micro"]
        )

    async def test_forecast_parameters_are_validated(self, client, keys) -> None:
        h = keys.headers(uuid.uuid4())
        for params in ({"days": 0}, {"days": 366}, {"days": 1, "extra_deposit_minor": -1}):
            r = await client.get("/mining/forecast", params=params, headers=h)
            assert r.status_code == 422, params
