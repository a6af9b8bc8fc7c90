"""Access tokens (EdDSA JWTs), their JWKS, and opaque refresh tokens.

Access tokens carry `kid` = the RFC 7638 thumbprint of the signing key, so verifiers pick the key
from the JWKS and follow a rotation: the new key signs, the previous public keys stay published
until the tokens they signed have expired.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from scifikpi_common.ids import new_id

from auth.settings import AuthSettings

ALGORITHM = "EdDSA"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The key as an RFC 8037 OKP JWK with `kid` = its RFC 7638 thumbprint."""
    x = _b64url(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    # RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True
    )
    kid = _b64url(hashlib.sha256(canonical.encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": ALGORITHM}


def load_private_key(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("AUTH_JWT_PRIVATE_KEY must be an Ed25519 private key (PKCS#8 PEM)")
    return key


def load_public_key(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("AUTH_JWT_PREVIOUS_PUBLIC_KEYS must hold Ed25519 public keys (PEM)")
    return key


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_in: int
    jti: str


class AccessTokenIssuer:
    """Signs access tokens with the current key and publishes current + previous public keys."""

    def __init__(
        self,
        private_key_pem: str,
        *,
        issuer: str,
        audience: str,
        ttl_s: int,
        previous_public_keys_pem: list[str] | tuple[str, ...] = (),
    ) -> None:
        self._private_key = load_private_key(private_key_pem)
        self._jwk = public_jwk(self._private_key.public_key())
        self.kid = self._jwk["kid"]
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s
        keys = [self._jwk]
        for pem in previous_public_keys_pem:
            jwk = public_jwk(load_public_key(pem))
            if all(k["kid"] != jwk["kid"] for k in keys):
                keys.append(jwk)
        self._jwks = {"keys": keys}

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> AccessTokenIssuer:
        return cls(
            settings.jwt_private_key.get_secret_value(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_s=settings.access_token_ttl_s,
            previous_public_keys_pem=settings.jwt_previous_public_keys,
        )

    def issue(self, *, user_id: UUID, role: str, status: str, now: datetime) -> IssuedAccessToken:
        jti = str(new_id())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "role": role,
            "status": status,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.ttl_s)).timestamp()),
            "jti": jti,
        }
        token = jwt.encode(
            claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"}
        )
        return IssuedAccessToken(token=token, expires_in=self.ttl_s, jti=jti)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(k) for k in self._jwks["keys"]]}

    async def fetch_jwks(self) -> dict[str, Any]:
        """A `JwksFetcher` for this process: the service verifies its own tokens without HTTP."""
        return self.jwks()


# --------------------------------------------------------------------------- refresh tokens


def new_refresh_token() -> tuple[str, bytes]:
    """A 256-bit opaque token for the client and the SHA-256 digest we store instead of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()
