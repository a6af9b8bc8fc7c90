"""Access checks for `user`/`admin` routes: the gateway verifies access tokens itself.

Verification is `scifikpi_common.security.TokenVerifier` (EdDSA only, JWKS by `kid`, issuer,
audience, expiry). A verified token is remembered until its expiry (at most `_MAX_CACHE_S`), so a
client sending the same token again costs a dict lookup instead of a signature check; services
behind the gateway verify the forwarded token again anyway.
"""

from __future__ import annotations

import base64
import time

import orjson
from scifikpi_common.errors import Forbidden, InvalidToken
from scifikpi_common.security import Principal, TokenVerifier

from gateway.routes import Access

_MAX_CACHE_S = 60.0


def bearer_token(authorization: bytes | None) -> str:
    if not authorization:
        raise InvalidToken("An `Authorization: Bearer <token>` header is required.")
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("An `Authorization: Bearer <token>` header is required.")
    return token


def _expiry(token: str) -> float:
    payload = token.split(".")[1]
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return float(claims["exp"])


class AccessGuard:
    def __init__(self, verifier: TokenVerifier, *, cache_size: int = 10_000) -> None:
        self._verifier = verifier
        self._cache_size = cache_size
        self._cache: dict[str, tuple[Principal, float]] = {}

    async def principal(self, access: Access, authorization: bytes | None) -> Principal | None:
        """The caller of a `user`/`admin` route; raises InvalidToken (401) or Forbidden (403)."""
        if access is Access.public:
            return None
        token = bearer_token(authorization)
        principal = await self._verify(token)
        if access is Access.admin and not principal.is_admin:
            raise Forbidden("This operation needs the admin role.")
        return principal

    async def _verify(self, token: str) -> Principal:
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None:
            if cached[1] > now:
                return cached[0]
            del self._cache[token]
        principal = await self._verifier.verify(token)
        if self._cache_size:
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))  # oldest insertion first
            self._cache[token] = (principal, min(_expiry(token), now + _MAX_CACHE_S))
        return principal
