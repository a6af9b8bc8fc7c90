"""The explicit route table: what the gateway exposes under /api/v1, and to whom.

Nothing is passed through by wildcard: a path that no entry matches answers 404 at the gateway,
so a service's internal routes (health, metrics, admin tools) are never reachable from outside.

Adding a service = one `Upstream` line plus its `Route` lines, e.g.::

    Upstream("payments", "http://127.0.0.1:8002"),
    Route("payments", "POST", "/payments", USER),
    Route("payments", "GET", "/payments/{payment_id}", USER),
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import quote

API_PREFIX = "/api/v1"


class Access(StrEnum):
    public = "public"
    user = "user"  # any valid access token
    admin = "admin"  # valid access token with role=admin


PUBLIC, USER, ADMIN = Access.public, Access.user, Access.admin

#: Rate-limit buckets; `auth` is the stricter one for credential endpoints.
DEFAULT_GROUP = "default"
AUTH_GROUP = "auth"
WEBHOOK_GROUP = "webhook"


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    default_url: str
    openapi_path: str = "/openapi.json"
    health_path: str = "/healthz"


@dataclass(frozen=True, slots=True)
class Route:
    """One public operation. `path` is relative to /api/v1 and may hold `{param}` segments or a
    trailing `{param:path}`; `upstream_path` defaults to `path` (the /api/v1 prefix stripped)."""

    service: str
    methods: str  # space-separated, e.g. "GET" or "GET HEAD"
    path: str
    access: Access = PUBLIC
    rate_group: str = DEFAULT_GROUP
    upstream_path: str | None = None

    @property
    def public_path(self) -> str:
        return API_PREFIX + self.path

    @property
    def target_path(self) -> str:
        return self.upstream_path or self.path

    @property
    def method_set(self) -> frozenset[str]:
        return frozenset(self.methods.upper().split())


UPSTREAMS: tuple[Upstream, ...] = (
    Upstream("auth", "http://127.0.0.1:8001"),
    Upstream("payments", "http://127.0.0.1:8002"),
    Upstream("mining", "http://127.0.0.1:8003"),
    Upstream("ledger", "http://127.0.0.1:8004"),
    Upstream("nft", "http://127.0.0.1:8005"),
    Upstream("analytics", "http://127.0.0.1:8006"),
)

ROUTES: tuple[Route, ...] = (
    Route("auth", "POST", "/auth/register", PUBLIC, AUTH_GROUP),
    Route("auth", "POST", "/auth/login", PUBLIC, AUTH_GROUP),
    Route("auth", "POST", "/auth/refresh", PUBLIC, AUTH_GROUP),
    Route("auth", "POST", "/auth/logout", PUBLIC),
    Route("auth", "GET", "/auth/me", USER),
    Route("auth", "GET", "/.well-known/jwks.json", PUBLIC),
    Route("payments", "POST GET", "/payments", USER),
    Route("payments", "GET", "/payments/{payment_id}", USER),
    # Provider callbacks: public, verified by the payments service (signature / IP + re-fetch).
    Route("payments", "POST", "/payments/webhooks/stripe", PUBLIC, WEBHOOK_GROUP),
    Route("payments", "POST", "/payments/webhooks/yoomoney", PUBLIC, WEBHOOK_GROUP),
    Route("payments", "POST", "/balance/topup", USER),
    Route("payments", "POST", "/admin/payments/{payment_id}/refund", ADMIN),
    Route("mining", "POST", "/mining/start", USER),
    Route("mining", "GET", "/mining/status", USER),
    Route("mining", "GET", "/mining/sessions", USER),
    Route("mining", "POST", "/mining/acceleration/quote", USER),
    Route("mining", "GET", "/mining/forecast", USER),
    Route("ledger", "GET", "/balance", USER),
    Route("ledger", "GET", "/history", USER),
    Route("ledger", "GET", "/admin/ledger/check", ADMIN),
    Route("nft", "GET", "/nft/catalog", PUBLIC),
    # TEP-64 metadata: public, the on-chain content points here
    Route("nft", "GET", "/nft/metadata/collection.json", PUBLIC),
    Route("nft", "GET", "/nft/metadata/items/{item_id}.json", PUBLIC),
    Route("nft", "POST GET", "/nft/purchases", USER),
    Route("nft", "GET", "/nft/purchases/{purchase_id}", USER),
    Route("nft", "GET", "/nft/mine", USER),
    Route("nft", "POST", "/nft/wallets/challenge", USER),
    Route("nft", "POST", "/nft/wallets/verify", USER),
    Route("nft", "GET", "/nft/wallets/me", USER),
    Route("nft", "POST", "/nft/{nft_id}/transfer", USER),
    Route("nft", "GET", "/nft/transfers/{transfer_id}", USER),
    Route("nft", "POST GET", "/admin/nft/catalog", ADMIN),
    Route("nft", "PATCH", "/admin/nft/catalog/{item_id}", ADMIN),
    Route("nft", "POST", "/admin/nft/catalog/{item_id}/retire", ADMIN),
    # Business figures, projected from every topic (JSON, or CSV on `Accept: text/csv`).
    Route("analytics", "GET", "/admin/analytics/summary", ADMIN),
    Route("analytics", "GET", "/admin/analytics/timeseries", ADMIN),
    Route("analytics", "GET", "/admin/analytics/funnel", ADMIN),
    Route("analytics", "GET", "/admin/analytics/nft/items", ADMIN),
)

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(:path)?\}")


def _compile(template: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _PARAM.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out) + r"\Z")


@dataclass(slots=True)
class RouteMatch:
    route: Route | None
    #: Encoded upstream path when the route renames it; None = the raw request path minus /api/v1.
    upstream_path: str | None = None
    allowed: frozenset[str] = frozenset()  # for 405 when the path exists with other methods


@dataclass(slots=True)
class _Compiled:
    route: Route
    methods: frozenset[str]
    pattern: re.Pattern[str] | None
    renamed: bool  # upstream_path differs from path


@dataclass
class RouteTable:
    """Matches a decoded request path against the table: exact paths by dict, templates by regex."""

    routes: Sequence[Route]
    _exact: dict[str, list[_Compiled]] = field(default_factory=dict, init=False)
    _templated: list[_Compiled] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        for route in self.routes:
            public = route.public_path
            renamed = route.upstream_path is not None and route.upstream_path != route.path
            if _PARAM.search(public):
                self._templated.append(
                    _Compiled(route, route.method_set, _compile(public), renamed)
                )
            else:
                self._exact.setdefault(public, []).append(
                    _Compiled(route, route.method_set, None, renamed)
                )

    def services(self) -> set[str]:
        return {r.service for r in self.routes}

    def match(self, method: str, path: str) -> RouteMatch:
        if "/." in path and _has_dot_segment(path):  # never let `..` reach an upstream
            return RouteMatch(None)
        exact = self._exact.get(path)
        if exact is not None:
            candidates = [(c, {}) for c in exact]
        else:
            candidates = []
            for c in self._templated:
                m = c.pattern.match(path) if c.pattern else None
                if m:
                    candidates.append((c, m.groupdict()))
        allowed: set[str] = set()
        for c, params in candidates:
            if method in c.methods:
                if not c.renamed:
                    return RouteMatch(c.route)
                path_params = {m.group(1) for m in _PARAM.finditer(c.route.path) if m.group(2)}
                quoted = {
                    k: quote(v, safe="/" if k in path_params else "") for k, v in params.items()
                }
                target = _PARAM.sub(lambda m, q=quoted: q[m.group(1)], c.route.target_path)
                return RouteMatch(c.route, target)
            allowed |= c.methods
        return RouteMatch(None, allowed=frozenset(allowed))


def _has_dot_segment(path: str) -> bool:
    return "/./" in path or "/../" in path or path.endswith(("/.", "/.."))


def routes_for(service: str, routes: Iterable[Route]) -> list[Route]:
    return [r for r in routes if r.service == service]
