"""One OpenAPI document for the whole public API, merged from every upstream's own document.

Each upstream spec is fetched lazily and reused for `openapi_cache_s`; only the operations the
route table exposes are kept, re-keyed under /api/v1. Components are merged: identical ones are
shared, a name that two services define differently is prefixed with the service name in each of
them (`auth_Problem`), and components no kept operation reaches are dropped (internal schemas
stay internal). An upstream that is down is left out and named in `info.description` and in
`x-scifikpi-missing-services`; the document still answers.
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import aiohttp
from scifikpi_common.logging import get_logger

from gateway.routes import API_PREFIX, Access, Route, Upstream

log = get_logger(__name__)

_TEMPLATE = re.compile(r"\{[^}]*\}")
_PARAM_NAME = re.compile(r"\{([^}:]*)(?::[^}]*)?\}")
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_REF = "#/components/"
BEARER_SCHEME = "HTTPBearer"
_BEARER_DEF = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "Access token from /auth/login",
}

Spec = dict[str, Any]


def _shape(path: str) -> str:
    return _TEMPLATE.sub("{}", path)


def _public_key(route: Route, upstream_key: str) -> str:
    """The public path, with the upstream's parameter names so operation parameters still match."""
    if route.upstream_path is None or route.upstream_path == route.path:
        return API_PREFIX + upstream_key
    names = iter(_PARAM_NAME.findall(upstream_key))
    return API_PREFIX + _TEMPLATE.sub(lambda _: "{" + next(names, "param") + "}", route.path)


def _walk_refs(node: Any, fn: Callable[[str], str | None]) -> None:
    """Calls `fn` on every `$ref` string; a non-None result replaces it."""
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            ref = cur.get("$ref")
            if isinstance(ref, str):
                new = fn(ref)
                if new is not None:
                    cur["$ref"] = new
            stack.extend(v for v in cur.values() if isinstance(v, dict | list))
        elif isinstance(cur, list):
            stack.extend(v for v in cur if isinstance(v, dict | list))


def _split_ref(ref: str) -> tuple[str, str] | None:
    if not ref.startswith(_REF):
        return None
    section, _, name = ref[len(_REF) :].partition("/")
    return (section, name) if name else None


def _select_paths(service: str, spec: Spec, routes: Iterable[Route]) -> dict[str, dict[str, Any]]:
    """The upstream operations that the route table exposes, keyed by public path."""
    by_shape = {_shape(key): key for key in spec.get("paths", {})}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        upstream_key = by_shape.get(_shape(route.target_path))
        if upstream_key is None:
            continue
        item = spec["paths"][upstream_key]
        public = paths.setdefault(_public_key(route, upstream_key), {})
        if "parameters" in item:
            public["parameters"] = copy.deepcopy(item["parameters"])
        for method in route.method_set:
            op = item.get(method.lower())
            if op is None:
                continue
            op = copy.deepcopy(op)
            if route.access is not Access.public:
                op.setdefault("security", [{BEARER_SCHEME: []}])
                op["x-access"] = route.access.value
            op.setdefault("tags", [service])
            public[method.lower()] = op
    return {k: v for k, v in paths.items() if any(m in v for m in _HTTP_METHODS)}


def _conflicts(components: Mapping[str, Spec]) -> dict[tuple[str, str], set[str]]:
    """(section, name) -> services whose definitions differ from another service's."""
    seen: dict[tuple[str, str], list[tuple[str, Any]]] = {}
    for service, comps in components.items():
        for section, entries in comps.items():
            for name, value in entries.items():
                seen.setdefault((section, name), []).append((service, value))
    out: dict[tuple[str, str], set[str]] = {}
    for key, defs in seen.items():
        first = defs[0][1]
        if any(value != first for _, value in defs[1:]):
            out[key] = {service for service, _ in defs}
    return out


def _rename_security(node: Spec, renames: Mapping[str, str]) -> None:
    for item in node.values():
        for method in _HTTP_METHODS:
            op = item.get(method) if isinstance(item, dict) else None
            for requirement in (op or {}).get("security", []):
                for old, new in renames.items():
                    if old in requirement:
                        requirement[new] = requirement.pop(old)


def _prune(paths: Spec, components: dict[str, dict[str, Any]]) -> None:
    """Drops components that no kept operation reaches (security schemes always stay)."""
    reached: set[tuple[str, str]] = set()
    queue: list[Any] = [paths]
    while queue:
        refs: list[str] = []
        _walk_refs(queue.pop(), refs.append)  # append returns None: nothing is rewritten
        found = [parts for ref in refs if (parts := _split_ref(ref))]
        for section, name in found:
            if (section, name) not in reached and name in components.get(section, {}):
                reached.add((section, name))
                queue.append(components[section][name])
    for section, entries in components.items():
        if section != "securitySchemes":
            for name in [n for n in entries if (section, n) not in reached]:
                del entries[name]


_DESCRIPTION = (
    "The public SciFiKPI API, served by the gateway under `/api/v1`. Errors are RFC 9457 "
    "`application/problem+json`. Any route may also answer 429 (rate limited, with "
    "`Retry-After`), 503 (a backing service is unavailable) or 504 (it did not answer in time)."
)


def merge_specs(
    specs: Mapping[str, Spec],
    routes: Sequence[Route],
    *,
    missing: Sequence[str] = (),
    title: str = "SciFiKPI API",
    version: str = "1.0.0",
    extra: Spec | None = None,
) -> Spec:
    """Merges upstream documents (ordered by service) into the public document.

    `extra` is the gateway's own document (health endpoints), kept with its paths as they are.
    """
    selected, components = _selected(specs, routes, extra)
    conflicts = _conflicts(components)
    for service, comps in components.items():
        _rename_conflicting(selected[service], comps, service, conflicts)
    sources = {**specs, "gateway": extra or {}}
    paths, merged, tags = _combined(selected, components, sources)
    if any(
        "security" in op for item in paths.values() for op in item.values() if isinstance(op, dict)
    ):
        merged.setdefault("securitySchemes", {}).setdefault(BEARER_SCHEME, _BEARER_DEF)
    _prune(paths, merged)

    description = _DESCRIPTION
    if missing:
        description += f"\n\n**Unavailable right now, so not listed:** {', '.join(missing)}."
    doc: Spec = {
        "openapi": max((s.get("openapi", "3.1.0") for s in specs.values()), default="3.1.0"),
        "info": {"title": title, "version": version, "description": description},
        "paths": dict(sorted(paths.items())),
        "components": {k: dict(sorted(v.items())) for k, v in merged.items() if v},
        "x-scifikpi-services": {name: "ok" for name in specs}
        | {name: "unavailable" for name in missing},
        "x-scifikpi-missing-services": list(missing),
    }
    if tags:
        doc["tags"] = list(tags.values())
    return doc


def _selected(
    specs: Mapping[str, Spec], routes: Sequence[Route], extra: Spec | None
) -> tuple[dict[str, Spec], dict[str, dict[str, dict[str, Any]]]]:
    """Per service: the exposed paths and a copy of its components (the gateway's own last)."""
    selected: dict[str, Spec] = {}
    components: dict[str, dict[str, dict[str, Any]]] = {}
    for service, spec in specs.items():
        service_routes = [r for r in routes if r.service == service]
        selected[service] = _select_paths(service, spec, service_routes)
        components[service] = copy.deepcopy(spec.get("components", {}))
    if extra:
        selected["gateway"] = copy.deepcopy(extra.get("paths", {}))
        components["gateway"] = copy.deepcopy(extra.get("components", {}))
    return selected, components


def _rename_conflicting(
    paths: Spec,
    comps: dict[str, dict[str, Any]],
    service: str,
    conflicts: Mapping[tuple[str, str], set[str]],
) -> None:
    """Prefixes with `service` each of its components another service defines differently, and
    every reference to it in its paths and components."""
    renames = {
        key: f"{service}_{key[1]}" for key, services in conflicts.items() if service in services
    }
    if not renames:
        return

    def rewrite(ref: str) -> str | None:
        parts = _split_ref(ref)
        return f"{_REF}{parts[0]}/{renames[parts]}" if parts in renames else None

    _walk_refs(paths, rewrite)
    _walk_refs(comps, rewrite)
    for (section, name), new in renames.items():
        comps[section][new] = comps[section].pop(name)
    _rename_security(
        paths,
        {name: new for (section, name), new in renames.items() if section == "securitySchemes"},
    )


def _combined(
    selected: Mapping[str, Spec],
    components: Mapping[str, dict[str, dict[str, Any]]],
    sources: Mapping[str, Spec],
) -> tuple[Spec, dict[str, dict[str, Any]], dict[str, Spec]]:
    """The paths, components and tags of every service in one document's worth of each."""
    paths: Spec = {}
    merged: dict[str, dict[str, Any]] = {}
    tags: dict[str, Spec] = {}
    for service, service_paths in selected.items():
        for key, item in service_paths.items():
            paths.setdefault(key, {}).update(item)
        for section, entries in components[service].items():
            merged.setdefault(section, {}).update(entries)
        for tag in sources[service].get("tags", []):
            tags.setdefault(tag["name"], tag)
    return paths, merged, tags


class OpenApiAggregator:
    """Fetches upstream documents (concurrently, cached) and merges them on demand."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        upstreams: Sequence[Upstream],
        urls: Mapping[str, str],
        routes: Sequence[Route],
        *,
        cache_s: float = 30.0,
        timeout_s: float = 3.0,
        gateway_spec: Callable[[], Spec] | None = None,
    ) -> None:
        services = {r.service for r in routes}
        self._session = session
        self._upstreams = [u for u in upstreams if u.name in services]
        self._urls = urls
        self._routes = routes
        self._cache_s = cache_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._gateway_spec = gateway_spec
        self._cache: dict[str, tuple[float, Spec | None]] = {}

    async def _fetch(self, upstream: Upstream) -> Spec | None:
        now = time.monotonic()
        cached = self._cache.get(upstream.name)
        # a failure is retried after a couple of seconds, a success reused for cache_s
        if cached and now - cached[0] < (
            self._cache_s if cached[1] is not None else min(self._cache_s, 2.0)
        ):
            return cached[1]
        url = self._urls[upstream.name] + upstream.openapi_path
        spec: Spec | None
        try:
            async with self._session.get(url, timeout=self._timeout) as resp:
                resp.raise_for_status()
                spec = await resp.json(content_type=None)
            if not isinstance(spec, dict) or "paths" not in spec:
                raise ValueError("not an OpenAPI document")
        except Exception as exc:
            log.warning("openapi_fetch_failed", upstream=upstream.name, error=repr(exc))
            spec = None
        self._cache[upstream.name] = (now, spec)
        return spec

    async def document(self) -> Spec:
        results = await asyncio.gather(*(self._fetch(u) for u in self._upstreams))
        specs = {u.name: s for u, s in zip(self._upstreams, results, strict=True) if s is not None}
        missing = [u.name for u, s in zip(self._upstreams, results, strict=True) if s is None]
        extra = self._gateway_spec() if self._gateway_spec else None
        return merge_specs(specs, self._routes, missing=missing, extra=extra)
