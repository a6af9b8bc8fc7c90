"""The figures of one load step, the p99 targets, the capacity and what saturated first.

Pure code (no locust, no I/O): the runner fills `Step`s, `capacity()` picks the highest step that
held every target with zero errors, `saturation()` names the process or resource that gave out.
Requests are grouped by kind: `hot` reads (what every page polls), other `reads`, and `writes`
(everything that changes state; the sign-up and payments are writes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

#: p99 targets per kind of request, in ms (docs/load.md says why these)
TARGETS_MS: dict[str, float] = {"hot": 50.0, "read": 200.0, "write": 500.0}
#: the cached, per-page reads of the cabinet and the shop
HOT = frozenset(
    {"GET /mining/status", "GET /balance", "GET /nft/catalog", "GET /auth/me"}
)  # fmt: skip
#: a Python service process is single-threaded: this share of one core is saturated
CPU_SATURATED_PCT = 85.0
#: a consumer group this far behind at the end of a step is not keeping up
LAG_SATURATED = 50
#: connections this close to `max_connections` leave no room
DB_CONNECTIONS_SATURATED = 0.9


def kind(name: str) -> str:
    """`hot`, `read` or `write` for a request name such as `GET /balance`; `standin` for the
    customer's leg at a provider stand-in, `chain` for the time a flow takes to show (a sign-up
    until the account is active): their failures count, they are not requests to the gateway."""
    if name.startswith("STANDIN "):
        return "standin"
    if name.startswith("CHAIN "):
        return "chain"
    if name in HOT:
        return "hot"
    return "read" if name.startswith("GET ") else "write"


def percentile_of(histogram: Mapping[int, int], q: float) -> float:
    """The `q` percentile of a {rounded ms: count} histogram (locust's `response_times`),
    the smallest value with at least `q` of the requests at or below it; 0 when empty."""
    total = sum(histogram.values())
    if total == 0:
        return 0.0
    rank = q * total
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float(max(histogram))


@dataclass
class Group:
    """Requests of one kind (or name) in a step."""

    requests: int = 0
    failures: int = 0
    histogram: Counter[int] = field(default_factory=Counter)

    def add(self, requests: int, failures: int, histogram: Mapping[int, int]) -> None:
        self.requests += requests
        self.failures += failures
        self.histogram.update(histogram)

    def figures(self, seconds: float) -> dict[str, float]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "rps": self.requests / seconds if seconds else 0.0,
            "p50_ms": percentile_of(self.histogram, 0.50),
            "p99_ms": percentile_of(self.histogram, 0.99),
        }


@dataclass
class Step:
    """One step: `users` running for `seconds`, its requests per name, and the stack's state."""

    users: int
    seconds: float
    requests: dict[str, dict[str, float]] = field(default_factory=dict)
    kinds: dict[str, dict[str, float]] = field(default_factory=dict)
    total: dict[str, float] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    #: CPU % of one core per process label, over the step
    cpu: dict[str, float] = field(default_factory=dict)
    #: connections of the stack's database per application_name, and the server's limit
    db_connections: dict[str, int] = field(default_factory=dict)
    db_max_connections: int = 0
    #: consumer lag (end offset minus committed) per group at the end of the step
    lag: dict[str, int] = field(default_factory=dict)
    load_average: str = ""
    #: what the probes could not read (so an empty figure is not taken for zero)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_entries(
        cls, users: int, seconds: float, entries: Iterable[tuple[str, int, int, Mapping[int, int]]]
    ) -> Step:
        """From (name, requests, failures, histogram) per request name."""
        step = cls(users, seconds)
        groups: dict[str, Group] = {}
        total = Group()
        for name, requests, failures, histogram in entries:
            one = Group()
            one.add(requests, failures, histogram)
            step.requests[name] = one.figures(seconds)
            groups.setdefault(kind(name), Group()).add(requests, failures, histogram)
            if kind(name) in ("standin", "chain"):
                total.failures += failures
            else:
                total.add(requests, failures, histogram)
        step.kinds = {k: g.figures(seconds) for k, g in sorted(groups.items())}
        step.total = total.figures(seconds)
        return step

    @property
    def failures(self) -> int:
        return int(self.total.get("failures", 0))

    def misses(self, targets: Mapping[str, float] = TARGETS_MS) -> list[str]:
        """Why this step did not hold: each kind over its p99 target, and any failure."""
        out = [
            f"{k} p99 {f['p99_ms']:.0f} ms > {targets[k]:.0f} ms"
            for k, f in self.kinds.items()
            if k in targets and f["requests"] and f["p99_ms"] > targets[k]
        ]
        if self.failures:
            out.append(f"{self.failures} failed requests")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        return cls(**data)


@dataclass(frozen=True)
class Capacity:
    """The highest step that held, and the first that did not (with why)."""

    held_users: int | None
    held_rps: float | None
    first_miss_users: int | None
    reasons: list[str]


def capacity(steps: list[Step], targets: Mapping[str, float] = TARGETS_MS) -> Capacity:
    """Steps run in order of users; capacity is the last step before the first miss (a step that
    holds after one that did not is luck, not capacity)."""
    held: Step | None = None
    for step in steps:
        reasons = step.misses(targets)
        if reasons:
            return Capacity(
                held.users if held else None,
                held.total["rps"] if held else None,
                step.users,
                reasons,
            )
        held = step
    return Capacity(held.users if held else None, held.total["rps"] if held else None, None, [])


def saturation(step: Step, previous: Step | None = None) -> list[str]:
    """What gave out in `step`, worst first: processes at a core, the database's connection
    limit, consumer groups falling behind (growing since `previous`). Empty: nothing did, the
    limit is elsewhere (the load generator shares the machine; see its CPU)."""
    found: list[tuple[float, str]] = []
    for label, pct in step.cpu.items():
        if pct >= CPU_SATURATED_PCT:
            found.append((pct / 100, f"CPU: {label} at {pct:.0f}% of a core"))
    used = sum(step.db_connections.values())
    if step.db_max_connections and used >= DB_CONNECTIONS_SATURATED * step.db_max_connections:
        share = used / step.db_max_connections
        found.append((share, f"DB connections: {used}/{step.db_max_connections}"))
    for group, lag in step.lag.items():
        before = previous.lag.get(group, 0) if previous else 0
        if lag >= LAG_SATURATED and lag > before:
            found.append((1 + lag / 1000, f"consumer lag: {group} {lag} behind (was {before})"))
    return [text for _, text in sorted(found, key=lambda f: -f[0])]


def busiest(step: Step, n: int = 3) -> list[str]:
    """The `n` processes with the most CPU in the step, for the report when none saturated."""
    top = sorted(step.cpu.items(), key=lambda kv: -kv[1])[:n]
    return [f"{label} {pct:.0f}%" for label, pct in top]
