"""Access tokens for service tests: signed like auth signs them, with a fresh Ed25519 key whose
JWKS the app under test fetches in-process (`create_app(..., jwks_fetcher=signer.fetch)`)."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ISSUER = "scifikpi-auth"
AUDIENCE = "scifikpi"


@dataclass
class TokenSigner:
    private: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    kid: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:8]}")

    def jwks(self) -> dict[str, Any]:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "alg": "EdDSA", "x": x}]}

    async def fetch(self) -> dict[str, Any]:
        return self.jwks()

    def token(
        self, user_id: uuid.UUID, *, role: str = "user", status: str = "active", ttl_s: int = 600
    ) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "role": role,
            "status": status,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid})

    def headers(self, user_id: uuid.UUID, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, **claims)}"}
