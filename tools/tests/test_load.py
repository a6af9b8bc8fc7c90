"""The pure parts of the load tool: figures of a step, the capacity decision, what saturated,
and the report it writes (no locust here: importing it would monkey-patch the test process)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from scifikpi_tools.load import probes, report
from scifikpi_tools.load.figures import (
    TARGETS_MS,
    Step,
    capacity,
    kind,
    percentile_of,
    saturation,
)


def _step(users: int, *, hot_ms: int = 10, write_ms: int = 100, failures: int = 0,
          standin_failures: int = 0, **resources: object) -> Step:  # fmt: skip
    """A step of `users` with 100 hot reads at `hot_ms` and 10 writes at `write_ms`."""
    entries = [
        ("GET /balance", 100, 0, {hot_ms: 100}),
        ("POST /nft/purchases", 10, failures, {write_ms: 10}),
        ("STANDIN pay at stripe", 5, standin_failures, {900: 5}),
    ]
    step = Step.from_entries(users, 10.0, entries)
    for name, value in resources.items():
        setattr(step, name, value)
    return step


def test_kinds_of_requests() -> None:
    assert kind("GET /mining/status") == "hot"
    assert kind("GET /history") == "read"
    assert kind("POST /auth/register") == "write"
    assert kind("STANDIN pay at yoomoney") == "standin"


def test_percentile_of_a_histogram() -> None:
    histogram = {1: 98, 40: 1, 300: 1}
    assert percentile_of(histogram, 0.5) == 1
    assert percentile_of(histogram, 0.99) == 40
    assert percentile_of(histogram, 1.0) == 300
    assert percentile_of({}, 0.99) == 0


def test_step_figures_group_by_kind_and_leave_the_standin_out_of_rates() -> None:
    step = _step(10, hot_ms=12, write_ms=250, standin_failures=1)
    assert step.kinds["hot"]["p99_ms"] == 12 and step.kinds["hot"]["rps"] == 10.0
    assert step.kinds["write"]["p50_ms"] == 250
    # 110 gateway requests in 10 s; the stand-in's 5 do not count, its failure does
    assert step.total["requests"] == 110 and step.total["rps"] == 11.0
    assert step.failures == 1


def test_capacity_is_the_last_step_before_the_first_miss() -> None:
    steps = [_step(10), _step(20), _step(40, hot_ms=80), _step(80)]
    cap = capacity(steps)
    assert cap.held_users == 20 and cap.first_miss_users == 40
    assert cap.held_rps == pytest.approx(11.0)
    assert cap.reasons == [f"hot p99 80 ms > {TARGETS_MS['hot']:.0f} ms"]


def test_one_error_fails_a_step_and_no_step_holding_is_said() -> None:
    cap = capacity([_step(10, failures=1), _step(20)])
    assert cap.held_users is None and cap.first_miss_users == 10
    assert cap.reasons == ["1 failed requests"]
    assert capacity([_step(10), _step(20)]).first_miss_users is None


def test_saturation_names_the_process_at_a_core_first() -> None:
    previous = _step(20, lag={"ledger": 10})
    step = _step(
        40, cpu={"gateway-api": 97.0, "ledger-worker": 60.0, "postgres (ledger-api)": 88.0},
        db_connections={"ledger-api": 20, "nft-api": 75}, db_max_connections=100,
        lag={"ledger": 400, "mining": 60},
    )  # fmt: skip
    found = saturation(step, previous)
    assert found[0] == "consumer lag: ledger 400 behind (was 10)"
    assert "CPU: gateway-api at 97% of a core" in found
    assert "CPU: postgres (ledger-api) at 88% of a core" in found
    assert "DB connections: 95/100" in found
    assert not any("ledger-worker" in f for f in found)
    # lag that shrinks is catching up, not saturated; idle processes are not either
    calm = _step(40, cpu={"gateway-api": 30.0}, lag={"ledger": 60})
    assert saturation(calm, _step(20, lag={"ledger": 500})) == []


def test_process_labels() -> None:
    assert probes.label(["/v/bin/python", "/v/bin/ledger-worker"]) == "ledger-worker"
    assert probes.label(["/v/bin/nft-relay"]) == "nft-relay"
    assert probes.label([sys.executable, "-m", "scifikpi_tools.standins.localstripe"]) == (
        "localstripe"
    )


def test_cpu_sampler_measures_this_process() -> None:
    import os
    import time

    sampler = probes.CpuSampler()
    sampler.start({os.getpid(): "me"})
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        pass
    used = sampler.stop()
    assert 50 < used["me"] <= 110


def test_the_report_holds_the_figures(tmp_path: Path) -> None:
    steps = [
        _step(10, cpu={"gateway-api": 20.0}),
        _step(20, hot_ms=75, cpu={"gateway-api": 96.0}, load_average="1.50 1.20 0.90"),
    ]
    convergence = {
        "ok": True, "seconds": 3.2, "limit_s": 90.0, "counts": {"users": 20, "purchases": 4},
        "pending": [], "ledger_ok": True, "ledger_output": '{"ok": true}',
    }  # fmt: skip
    verdict = report.summary(steps, convergence)
    assert verdict["capacity"]["users"] == 10
    assert verdict["saturated"] == ["CPU: gateway-api at 96% of a core"]
    page = report.write(tmp_path, steps, verdict, {"gateway_url": "http://127.0.0.1:1"})

    png = (tmp_path / "load.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    html = page.read_text()
    assert '<img src="load.png"' in html
    assert "capacity: 10 users, 11.0 req/s" in html and "gateway-api at 96%" in html
    assert "1.50 1.20 0.90" in html and "chain: converged in 3.2 s" in html
    data = json.loads((tmp_path / "report.json").read_text())
    assert [s["users"] for s in data["steps"]] == [10, 20]
    assert data["steps"][1]["kinds"]["hot"]["p99_ms"] == 75
    assert data["verdict"]["convergence"]["ledger_ok"] is True
    assert Step.from_dict(data["steps"][1]).kinds == steps[1].kinds


def test_the_text_says_when_the_chain_did_not_converge() -> None:
    convergence = {
        "ok": False, "seconds": 90.0, "limit_s": 90.0, "counts": {"users": 1},
        "pending": ["purchase p1 pending"], "ledger_ok": False, "ledger_output": "offenders: x",
    }  # fmt: skip
    out = report.text([_step(10)], report.summary([_step(10)], convergence))
    assert "DID NOT converge" in out and "pending: purchase p1 pending" in out
    assert "ledger-admin check: NOT clean" in out and "offenders: x" in out


def test_the_make_run_stack_from_its_env_file(tmp_path: Path) -> None:
    from scifikpi_tools.load.stack import running_stack

    env = tmp_path / "stack.env"
    env.write_text(
        "ENVIRONMENT=local\nDATABASE_URL='postgresql+asyncpg://postgres@127.0.0.1:5432/s'\n"
        "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9192\nNFT_PUBLIC_BASE_URL=http://127.0.0.1:8100/api/v1\n"
    )
    target = running_stack(env)
    assert target.gateway_url == "http://127.0.0.1:8100"
    assert (target.localstripe_url, target.yookassa_url) == (
        "http://127.0.0.1:8520", "http://127.0.0.1:8521",
    )  # fmt: skip
    assert target.database_url == "postgresql+asyncpg://postgres@127.0.0.1:5432/s"
    assert target.kafka_bootstrap_servers == "127.0.0.1:9192"
