"""The shared FastAPI app: problem+json for every failure, 413, request ids, no tracebacks."""

from __future__ import annotations

import httpx
import pytest
from commontest_schema import outbox
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from scifikpi_common.app import UoW, create_service_app
from scifikpi_common.errors import Conflict
from scifikpi_common.settings import ServiceSettings
from scifikpi_common.testing.contracts import assert_problem
from sqlalchemy import text


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int


router = APIRouter()


@router.post("/things", status_code=201)
async def create_thing(thing: Thing) -> Thing:
    if thing.name == "taken":
        raise Conflict("That name is taken.", name=thing.name)
    if thing.name == "boom":
        raise RuntimeError("secret internal detail")
    return thing


class Settings(ServiceSettings):
    max_body_bytes: int = 256


@pytest.fixture
async def client():
    app = create_service_app(
        Settings(), title="t", description="d", routers=[router], check_broker=False
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


class TestProblems:
    async def test_created(self, client):
        r = await client.post("/things", json={"name": "a", "count": 1})
        assert r.status_code == 201 and r.headers["x-request-id"]

    async def test_malformed_json(self, client):
        r = await client.post(
            "/things", content=b'{"name": ', headers={"content-type": "application/json"}
        )
        assert_problem(r, 422, "validation-error")

    async def test_wrong_type_and_unknown_field(self, client):
        body = assert_problem(
            await client.post("/things", json={"name": "a", "count": "many", "x": 1}),
            422,
            "validation-error",
        )
        locs = {tuple(e["loc"]) for e in body["errors"]}
        assert ("body", "count") in locs and ("body", "x") in locs

    async def test_validation_error_does_not_echo_input(self, client):
        r = await client.post("/things", json={"name": "a", "count": "hunter2-password"})
        assert "hunter2" not in r.text

    async def test_oversized_body(self, client):
        r = await client.post("/things", json={"name": "a" * 1000, "count": 1})
        assert_problem(r, 413, "payload-too-large")

    async def test_oversized_chunked_body(self, client):
        async def chunks():
            for _ in range(10):
                yield b"x" * 100

        r = await client.post(
            "/things", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_problem(r, 413, "payload-too-large")

    async def test_domain_error_with_extension(self, client):
        body = assert_problem(
            await client.post("/things", json={"name": "taken", "count": 1}), 409, "conflict"
        )
        assert body["name"] == "taken" and body["instance"] == "/things"

    async def test_unexpected_error_is_a_generic_500(self, client):
        r = await client.post("/things", json={"name": "boom", "count": 1})
        body = assert_problem(r, 500, "internal-error")
        assert "secret internal detail" not in r.text and "Traceback" not in r.text
        assert body["detail"] == "The server failed to handle the request."

    async def test_unknown_route_and_method(self, client):
        assert_problem(await client.get("/nope"), 404, "not-found")
        assert_problem(await client.get("/things"), 405, "method-not-allowed")

    async def test_request_id_is_propagated(self, client):
        r = await client.get("/healthz", headers={"x-request-id": "abc-123"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "abc-123"

    async def test_metrics_exposed(self, client):
        await client.post("/things", json={"name": "a", "count": 1})
        text = (await client.get("/metrics")).text
        assert (
            'http_requests_total{method="POST",route="/things",service="service",status="201"}'
            in text
        )


db_router = APIRouter()


@db_router.get("/count")
async def count_things(uow: UoW) -> dict[str, int]:
    return {"count": (await uow.session.execute(text("SELECT count(*) FROM things"))).scalar_one()}


async def test_an_unreachable_database_is_a_retryable_problem_without_internals() -> None:
    """Every service with a database answers its outage with 503 + Retry-After, never a 500."""
    settings = Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none")
    app = create_service_app(
        settings,
        title="t",
        description="d",
        routers=[db_router],
        outbox=outbox,
        check_broker=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            response = await c.get("/count")
    body = assert_problem(response, 503, "upstream-unavailable")
    assert response.headers["retry-after"] == "5"
    assert "asyncpg" not in response.text and "127.0.0.1" not in response.text, body
