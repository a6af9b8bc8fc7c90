"""Access checks for `user`/`admin` routes: the gateway verifies access tokens itself.

Verification is `scifikpi_common.security.TokenVerifier` (EdDSA only, JWKS by `kid`, issuer,
audience, expiry), which remembers verified tokens until their expiry (at most a minute), so a
client sending the same token again costs a dict lookup instead of a signature check; services
behind the gateway verify the forwarded token again anyway.
"""

from __future__ import annotations

from scifikpi_common.errors import Forbidden, InvalidToken
from scifikpi_common.security import Principal, TokenVerifier

from gateway.routes import Access


def bearer_token(authorization: bytes | None) -> str:
    if not authorization:
        raise InvalidToken("An `Authorization: Bearer <token>` header is required.")
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("An `Authorization: Bearer <token>` header is required.")
    return token


class AccessGuard:
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    async def principal(self, access: Access, authorization: bytes | None) -> Principal | None:
        """The caller of a `user`/`admin` route; raises InvalidToken (401) or Forbidden (403)."""
        if access is Access.public:
            return None
        token = bearer_token(authorization)
        principal = await self._verifier.verify(token)
        if access is Access.admin and not principal.is_admin:
            raise Forbidden("This operation needs the admin role.")
        return principal
