"""The hot reads bench's pure helpers: where it points wrk, the verdict, the table."""

from __future__ import annotations

from scifikpi_tools.bench.hot_reads import (
    ENDPOINTS,
    Endpoint,
    Row,
    asyncpg_url,
    table,
    urls,
    verdict,
)


def _row(endpoint: str = "balance", via: str = "gateway", **kw: float) -> Row:
    values = {"rps": 800.0, "p50_ms": 10.0, "p99_ms": 30.0, "errors": 0, **kw}
    return Row(endpoint, via, "http://x", **values)  # type: ignore[arg-type]


def test_urls_go_under_the_api_prefix_through_the_gateway_only() -> None:
    got = urls(
        Endpoint("balance", "ledger", "/balance"),
        "http://127.0.0.1:8000",
        {"ledger": "http://127.0.0.1:8004"},
    )
    assert got == {
        "gateway": "http://127.0.0.1:8000/api/v1/balance",
        "direct": "http://127.0.0.1:8004/balance",
    }


def test_every_hot_read_of_the_issue_is_measured_next_to_jwks() -> None:
    assert {e.path for e in ENDPOINTS} == {
        "/.well-known/jwks.json",
        "/mining/status",
        "/balance",
        "/history",
        "/nft/catalog",
        "/auth/me",
    }


def test_a_gateway_row_within_every_target_passes() -> None:
    row = verdict(_row(rps=600.0, p99_ms=50.0), jwks_rps=1200.0)
    assert row.ratio == 0.5
    assert row.verdict == "PASS"


def test_each_missed_target_is_named() -> None:
    row = verdict(_row(rps=100.0, p99_ms=50.1, errors=3), jwks_rps=1000.0)
    assert row.verdict == "FAIL p99>50ms, errors, <0.5x jwks"
    assert verdict(_row(p99_ms=80.0), jwks_rps=1000.0).verdict == "FAIL p99>50ms"


def test_direct_rows_and_jwks_itself_get_a_ratio_but_no_verdict() -> None:
    direct = verdict(_row(via="direct", rps=500.0, p99_ms=900.0), jwks_rps=1000.0)
    jwks = verdict(_row(endpoint="jwks", rps=1000.0), jwks_rps=1000.0)
    assert (direct.ratio, direct.verdict) == (0.5, "-")
    assert (jwks.ratio, jwks.verdict) == (1.0, "-")


def test_no_jwks_throughput_fails_rather_than_divides_by_zero() -> None:
    row = verdict(_row(), jwks_rps=0.0)
    assert row.ratio is None
    assert row.verdict == "FAIL <0.5x jwks"


def test_the_table_has_one_line_per_row_under_its_header() -> None:
    rows = [verdict(_row(), 1000.0), verdict(_row(via="direct"), 1000.0)]
    lines = table(rows).splitlines()
    assert len(lines) == 4
    assert lines[0].split()[:3] == ["endpoint", "via", "req/s"]
    assert "PASS" in lines[2] and lines[3].rstrip().endswith("-")


def test_database_urls_get_the_asyncpg_driver() -> None:
    assert asyncpg_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert asyncpg_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert asyncpg_url("postgresql+asyncpg://u@h/db") == "postgresql+asyncpg://u@h/db"
