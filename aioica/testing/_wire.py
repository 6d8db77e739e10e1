"""What every part of the fake ICA shares: ASGI types, the media types, problem answers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any

from .._wire import MEDIA_TYPE
from ._records import iso

__all__ = [
    "PROBLEM_JSON",
    "V3",
    "V3_JSON",
    "Message",
    "Problem",
    "Receive",
    "Scope",
    "Send",
    "send_body",
    "send_problem",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

V3_JSON = MEDIA_TYPE
V3 = V3_JSON.encode()
PROBLEM_JSON = b"application/problem+json"

# Problem titles in ICA's style (ICA's own codes are not published per status; these are stable).
TITLES = {
    400: "ICA_API_004",
    401: "ICA_API_001",
    403: "ICA_API_003",
    404: "ICA_API_005",
    405: "ICA_API_006",
    406: "ICA_API_007",
    415: "ICA_API_008",
    429: "ICA_API_009",
    500: "ICA_API_010",
    502: "ICA_API_011",
    503: "ICA_API_012",
}


class Problem(Exception):
    """An error answer: status, detail, ``parameters`` and extra headers."""

    def __init__(
        self,
        status: int,
        detail: str,
        parameters: Mapping[str, str] | None = None,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.parameters = dict(parameters or {})
        self.headers = list(headers)


async def send_body(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """A complete response with ``Content-Length``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_problem(
    scope: Scope, send: Send, problem: Problem, clock: Callable[[], float]
) -> None:
    """Answer with ``problem`` as ICA would: RFC 7807 JSON with an ICA-style title."""
    headers = {k: v for k, v in scope.get("headers", ())}
    host = headers.get(b"host", b"fake").decode("latin-1")
    raw = scope.get("raw_path") or scope.get("path", "/").encode()
    path = raw.split(b"?", 1)[0].decode("latin-1")
    code = TITLES.get(problem.status, f"ICA_API_{problem.status:03d}")
    body = {
        "type": f"https://ica.illumina.com/ica/rest/problems/{code}",
        "title": code,
        "status": problem.status,
        "detail": problem.detail,
        "instance": f"{scope.get('scheme', 'http')}://{host}{path}",
        "parameters": problem.parameters,
        "timestamp": iso(int(clock() * 1000)),
        "id": str(uuid.uuid4()),
    }
    await send_body(send, problem.status, json.dumps(body).encode(), PROBLEM_JSON, problem.headers)
