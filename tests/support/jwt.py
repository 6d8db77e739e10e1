"""Unsigned JWTs for tests: aioica reads ``exp`` and never checks a signature."""

from __future__ import annotations

import base64
import json
from typing import Any

#: 2100-01-01T00:00:00Z: a token that never expires during a test.
FAR_FUTURE = 4_102_444_800


def b64url(raw: bytes) -> str:
    """Unpadded base64url, as in JWTs."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def make_jwt(
    exp: Any = FAR_FUTURE, *, alg: str = "none", signature: bytes = b"sig", **claims: Any
) -> str:
    """A JWT with ``exp`` (left out when ``None``) and ``claims``; deterministic for the same
    arguments."""
    payload = dict(claims)
    if exp is not None:
        payload["exp"] = exp
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(payload).encode())}.{b64url(signature)}"
