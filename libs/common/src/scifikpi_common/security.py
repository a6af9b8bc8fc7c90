"""Access-token verification against the auth service's JWKS.

Every service (and the gateway) verifies tokens itself: signature (EdDSA only; `alg=none` and
HS* never), `kid` resolved from a cached JWKS that is re-fetched when an unknown `kid` appears
(key rotation) but at most once per `min_refresh_s`, issuer, audience and expiry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

import httpx
import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from scifikpi_common.errors import Forbidden, InvalidToken, UpstreamUnavailable
from scifikpi_common.logging import get_logger
from scifikpi_common.middleware import bind_user

ALGORITHMS = ["EdDSA"]
log = get_logger(__name__)

Role = Literal["user", "admin"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the access token says."""

    user_id: UUID
    role: Role
    status: str
    token_id: str | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_active(self) -> bool:
        return self.status == "active"


JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


def http_jwks_fetcher(url: str, client: httpx.AsyncClient | None = None) -> JwksFetcher:
    async def fetch() -> dict[str, Any]:
        if client is not None:
            response = await client.get(url, timeout=5.0)
        else:
            async with httpx.AsyncClient(timeout=5.0) as c:
                response = await c.get(url)
        response.raise_for_status()
        jwks: dict[str, Any] = response.json()
        return jwks

    return fetch


class JwksCache:
    """Public keys by `kid`; refreshes on an unknown `kid` (rate-limited) and after `ttl_s`."""

    def __init__(
        self, fetch: JwksFetcher, *, ttl_s: float = 300.0, min_refresh_s: float = 10.0
    ) -> None:
        self._fetch = fetch
        self._ttl_s = ttl_s
        self._min_refresh_s = min_refresh_s
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._fetch_failed = False
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> Any | None:
        now = time.monotonic()
        if kid in self._keys and now - self._fetched_at < self._ttl_s:
            return self._keys[kid]
        if now - self._fetched_at >= self._min_refresh_s or not self._keys:
            await self._refresh(now)
        if not self._keys and self._fetch_failed:
            # We cannot tell a forged token from a good one: answer 503, not a 401 that logs
            # every user out.
            raise UpstreamUnavailable(
                "The keys that verify access tokens are unavailable; try again shortly.",
                headers={"Retry-After": "5"},
            )
        return self._keys.get(kid)

    async def _refresh(self, requested_at: float) -> None:
        async with self._lock:
            if self._fetched_at >= requested_at:
                return  # another task refreshed while we waited
            try:
                jwks = await self._fetch()
            except Exception as exc:  # keep serving the keys we have
                log.warning("jwks_fetch_failed", error=repr(exc))
                self._fetch_failed = True
                self._fetched_at = time.monotonic() - self._ttl_s + self._min_refresh_s
                return
            keys: dict[str, Any] = {}
            for jwk in jwks.get("keys", []):
                if jwk.get("kid") and jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
                    keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="EdDSA").key
            self._keys = keys
            self._fetch_failed = False
            self._fetched_at = time.monotonic()


#: A verified token is remembered at most this long (and never past its expiry), so a key
#: dropped from the JWKS stops being honoured within a minute.
MAX_CACHE_S = 60.0


class TokenVerifier:
    """Verifies access tokens; remembers verified ones (bounded, until expiry or `MAX_CACHE_S`)
    because a client sends the same token many times and a signature check is the largest part
    of a short read (~80 µs of Ed25519 plus PyJWT's parsing)."""

    def __init__(
        self,
        keys: JwksCache,
        *,
        issuer: str,
        audience: str,
        leeway_s: int = 5,
        cache_size: int = 10_000,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._cache_size = cache_size
        self._cache: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None:
            if cached[1] > now:
                return cached[0]
            del self._cache[token]
        principal, expires_at = await self._verify(token)
        if self._cache_size:
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))  # oldest insertion first
            self._cache[token] = (principal, min(expires_at, now + MAX_CACHE_S))
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("The access token is malformed.") from exc
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken("The access token uses an algorithm that is not accepted.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("The access token has no key id.")
        key = await self._keys.key(kid)
        if key is None:
            raise InvalidToken("The access token was signed with an unknown key.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway_s,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("The access token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("The access token is invalid.") from exc
        try:
            user_id = UUID(claims["sub"])
        except (ValueError, TypeError) as exc:
            raise InvalidToken("The access token subject is invalid.") from exc
        role = claims.get("role")
        if role not in ("user", "admin"):
            raise InvalidToken("The access token has no valid role.")
        principal = Principal(
            user_id=user_id,
            role=role,
            status=str(claims.get("status", "")),
            token_id=claims.get("jti"),
        )
        return principal, float(claims["exp"])


_bearer = HTTPBearer(
    auto_error=False, bearerFormat="JWT", description="Access token from /auth/login"
)


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise InvalidToken("An `Authorization: Bearer <token>` header is required.")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(credentials.credentials)
    bind_user(str(principal.user_id))
    return principal


async def current_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("This operation needs the admin role.")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
CurrentAdmin = Annotated[Principal, Depends(current_admin)]
