"""The gateway benchmark's parsing and verdict (the load run itself is `make bench`, not a test)."""

from __future__ import annotations

import pytest
from scifikpi_tools.bench import gateway as bench

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8000/api/v1/.well-known/jwks.json
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.13ms    2.01ms  45.10ms   91.20%
    Req/Sec     6.66k   412.00     7.10k    80.00%
  Latency Distribution
     50%    7.13ms
     75%    7.60ms
     90%    8.40ms
     99%   16.41ms
  66560 requests in 10.00s, 19.01MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   6656.00
Transfer/sec:      1.90MB
"""


def test_parses_wrk_output(monkeypatch: pytest.MonkeyPatch) -> None:
    class Done:
        stdout = WRK_OUTPUT

    monkeypatch.setattr(bench.subprocess, "run", lambda *a, **k: Done())
    result = bench.run_wrk("http://x", duration_s=1, connections=1, threads=1)
    assert result == bench.Result(rps=6656.0, p50_ms=7.13, p99_ms=16.41, requests=66560, errors=3)


@pytest.mark.parametrize(("text", "ms"), [("850.00us", 0.85), ("7.13ms", 7.13), ("1.20s", 1200.0)])
def test_latency_units(text: str, ms: float) -> None:
    assert bench._ms(text) == pytest.approx(ms)


def test_verdict_judges_the_median_round(capsys: pytest.CaptureFixture[str]) -> None:
    def r(rps: float, p99: float) -> bench.Result:
        return bench.Result(rps=rps, p50_ms=1.0, p99_ms=p99, requests=1000, errors=0)

    pairs = [(r(1000, 10), r(200, 50)), (r(1000, 10), r(700, 20)), (r(1000, 10), r(800, 15))]
    assert bench._verdict(pairs) == 0  # median round: 0.70x, p99 2.0x
    assert "0.70x" in capsys.readouterr().out
    assert bench._verdict([(r(1000, 10), r(400, 20))]) == 1  # 0.40x < 0.45x
    assert bench._verdict([(r(1000, 10), r(900, 31))]) == 1  # p99 3.1x > 3x
