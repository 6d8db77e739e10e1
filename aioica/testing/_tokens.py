"""The fake ICA's credentials: API keys, Basic logins, the JWTs it mints, refreshes and checks."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ._dataset import Dataset
from ._faults import Counters
from ._wire import Problem

__all__ = ["TOKEN_OPS", "Tokens"]

#: The operations of the token endpoints (faults spare them unless told otherwise).
TOKEN_OPS = frozenset({"createJwtToken", "refreshJwtToken"})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    """The credential side of :class:`~aioica.testing.FakeICA` (a mixin)."""

    dataset: Dataset
    api_keys: set[str]
    users: dict[str, str]
    tenants: tuple[str, ...]
    jwt_ttl: float
    counters: Counters
    clock: Callable[[], float]
    _jwt_secret: bytes

    def mint_token(
        self,
        *,
        method: str = "apikey",
        subject: str = "",
        tenant: str = "",
        ttl: float | None = None,
    ) -> str:
        """A JWT as ``POST /api/tokens`` would mint it (``method``: ``"apikey"`` or ``"basic"``)."""
        ttl = self.jwt_ttl if ttl is None else ttl
        now = self.clock()
        integral = float(ttl).is_integer()
        claims = {
            "iss": "https://ica.illumina.com/fake",
            "aud": "ica",
            "sub": subject or self.dataset.owner_id,
            "iat": int(now) if integral else round(now, 3),
            "exp": int(now) + int(ttl) if integral else round(now + ttl, 3),
            "jti": str(uuid.uuid4()),
            "ica_auth_method": method,
            "tenant": tenant or self.tenants[0],
        }
        header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing = f"{header}.{payload}".encode()
        sig = hmac.new(self._jwt_secret, signing, hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url(sig)}"

    def verify_token(self, token: str) -> dict[str, Any]:
        """The claims of a JWT this fake minted; raises ``ValueError`` if invalid or expired."""
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError("malformed JWT")
        signing = f"{parts[0]}.{parts[1]}".encode()
        expected = hmac.new(self._jwt_secret, signing, hashlib.sha256).digest()
        try:
            valid = hmac.compare_digest(expected, _b64url_decode(parts[2]))
            claims = json.loads(_b64url_decode(parts[1]))
        except (ValueError, binascii.Error) as exc:
            raise ValueError("malformed JWT") from exc
        if not valid or not isinstance(claims, dict):
            raise ValueError("JWT signature does not verify")
        if float(claims.get("exp", 0)) <= self.clock():
            raise ValueError("JWT expired")
        return claims

    def _authenticate(self, headers: Mapping[str, str]) -> dict[str, Any]:
        authorization = headers.get("authorization")
        if authorization:
            scheme, _, credential = authorization.partition(" ")
            if scheme.lower() != "bearer":
                raise Problem(401, "Only Bearer JWTs or X-API-Key authenticate this endpoint")
            try:
                return self.verify_token(credential.strip())
            except ValueError as exc:
                raise Problem(401, f"Invalid JWT: {exc}") from None
        key = headers.get("x-api-key")
        if key is None:
            raise Problem(401, "Authentication required (X-API-Key or Bearer JWT)")
        if key not in self.api_keys:
            raise Problem(401, "Invalid API key")
        return {"ica_auth_method": "apikey"}

    def _tokens(self, op: str, headers: Mapping[str, str], query: Mapping[str, str]) -> bytes:
        authorization = headers.get("authorization", "")
        scheme, _, credential = authorization.partition(" ")
        if op == "refreshJwtToken":
            if scheme.lower() != "bearer":
                raise Problem(401, "A Bearer JWT is required to refresh")
            try:
                claims = self.verify_token(credential.strip())
            except ValueError as exc:
                raise Problem(401, f"Invalid JWT: {exc}") from None
            if claims.get("ica_auth_method") == "apikey":
                raise Problem(
                    400,
                    "A JWT created with an API key cannot be refreshed; request a new one",
                )
            token = self.mint_token(
                method="basic", subject=str(claims.get("sub", "")), tenant=str(claims["tenant"])
            )
            self.counters.tokens_refreshed += 1
            return json.dumps({"token": token}).encode()
        tenant = query.get("tenant") or ""
        if tenant and tenant not in self.tenants:
            raise Problem(401, f"No access to tenant {tenant}", {"tenant": tenant})
        if scheme.lower() == "basic":
            try:
                email, _, password = base64.b64decode(credential.strip()).decode().partition(":")
            except (ValueError, binascii.Error):
                raise Problem(401, "Malformed Basic credentials") from None
            if self.users.get(email) != password or not email:
                raise Problem(401, "Invalid e-mail address or password")
            token = self.mint_token(method="basic", subject=email, tenant=tenant)
        elif headers.get("x-api-key") in self.api_keys:
            token = self.mint_token(method="apikey", tenant=tenant)
        else:
            raise Problem(401, "An API key or Basic credentials are required")
        self.counters.tokens_minted += 1
        return json.dumps({"token": token}).encode()
