"""The benchmark's table and verdict: medians over rounds, ratios taken within each round.

A ratio is computed per round (direct and the proxy measured minutes apart at most, under the
same foreign load) and its median reported; one disturbed round does not decide.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from scifikpi_tools.bench.gateway.wrk import Result

THROUGHPUT_TARGET = 0.45
P99_TARGET = 3.0


@dataclass
class Measurement:
    """One wrk run against one target, with what it cost."""

    result: Result
    #: CPU of the proxy's processes (gateway, nginx master+worker) per request, µs
    proxy_us: float = 0.0
    #: CPU of the upstream per request, µs
    upstream_us: float = 0.0
    #: CPU of redis-server per request, µs (the Redis limiter's other half)
    redis_us: float = 0.0
    #: share of the machine's busy CPU spent by processes outside the benchmark, 0..1 per core
    foreign_cores: float = 0.0
    #: log lines the drained sink received per request
    lines_per_request: float = 0.0


def row(name: str, r: Result, extra: str = "") -> str:
    return (
        f"  {name:<19} {r.rps:>8,.0f} req/s  p50 {r.p50_ms:>6.2f} ms  p99 {r.p99_ms:>7.2f} ms"
        f"  errors {r.errors}{extra}"
    )


def round_line(name: str, m: Measurement, direct: Measurement | None) -> str:
    extra = f"  proxy {m.proxy_us:>4.0f} us/req" if m.proxy_us else " " * 19
    extra += f"  upstream {m.upstream_us:>4.0f} us/req  foreign {m.foreign_cores:.2f} cores"
    if direct is not None:
        extra += f"  {m.result.rps / direct.result.rps:.2f}x"
    return row(name, m.result, extra)


def table(names: list[str], rounds: list[dict[str, Measurement]]) -> list[str]:
    """Median row per target: req/s, p50, p99, errors (sum), proxy CPU/request, ratios."""
    head = (
        f"  {'target':<19} {'req/s':>8}  {'p50 ms':>7}  {'p99 ms':>7}  {'errors':>6}"
        f"  {'proxy CPU/req':>13}  {'req/s vs direct':>15}  {'p99 vs direct':>13}"
        f"  {'upstream CPU/req':>16}"
    )
    lines = [head, "  " + "-" * (len(head) - 2)]
    for name in names:
        ms = [r[name] for r in rounds]
        med = statistics.median
        rps = med(m.result.rps for m in ms)
        p50, p99 = med(m.result.p50_ms for m in ms), med(m.result.p99_ms for m in ms)
        errors = sum(m.result.errors for m in ms)
        cpu = f"{med(m.proxy_us for m in ms):.0f} us" if ms[0].proxy_us else "-"
        if name == "direct":
            ratio_t = ratio_p = "-"
        else:
            ratio_t = f"{med(r[name].result.rps / r['direct'].result.rps for r in rounds):.2f}x"
            ratio_p = (
                f"{med(r[name].result.p99_ms / r['direct'].result.p99_ms for r in rounds):.2f}x"
            )
        lines.append(
            f"  {name:<19} {rps:>8,.0f}  {p50:>7.2f}  {p99:>7.2f}  {errors:>6}"
            f"  {cpu:>13}  {ratio_t:>15}  {ratio_p:>13}"
            f"  {med(m.upstream_us for m in ms):>13.0f} us"
        )
    return lines


def _verdict(pairs: list[tuple[Result, Result]], label: str = "gateway") -> int:
    """Judges the median round by throughput ratio against issue 2's targets."""
    ranked = sorted(pairs, key=lambda p: p[1].rps / p[0].rps)
    d, g = ranked[(len(ranked) - 1) // 2]
    throughput, p99 = g.rps / d.rps, g.p99_ms / d.p99_ms
    ok_t, ok_p = throughput >= THROUGHPUT_TARGET, p99 <= P99_TARGET
    errors = sum(x.errors for pair in pairs for x in pair)
    mean = statistics.fmean(p[1].rps / p[0].rps for p in pairs)
    print(f"result for {label} (median round):")
    print(
        f"  throughput {label}/direct = {throughput:.2f}x (target >= {THROUGHPUT_TARGET}x)"
        f"  {'PASS' if ok_t else 'FAIL'}   [mean over rounds {mean:.2f}x]"
    )
    print(
        f"  p99 {label}/direct        = {p99:.2f}x (target <= {P99_TARGET}x)"
        f"  {'PASS' if ok_p else 'FAIL'}"
    )
    if errors:
        print(f"  {errors} failed requests (non-2xx or socket errors): FAIL")
    verdict = ok_t and ok_p and not errors
    print("PASS" if verdict else "FAIL")
    return 0 if verdict else 1
