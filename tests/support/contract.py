"""Validation of responses against the vendored OpenAPI spec (openapi-core)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jsonschema
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse

from aioica.testing import V3_JSON, FakeICA

from .paths import SPEC_PATH
from .spec import json_schema

_JSON_TYPES = {V3_JSON: json.loads, "application/problem+json": json.loads}
SPEC = OpenAPI.from_file_path(
    str(SPEC_PATH), config=Config(extra_media_type_deserializers=_JSON_TYPES)
)
PROBLEM = jsonschema.Draft7Validator(
    json_schema("Problem"), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
)


def validate(response: httpx.Response) -> None:
    """Validate one response against the spec (raises on any mismatch)."""
    ctype = response.headers.get("content-type", "")
    if ctype.startswith("text/html"):
        assert response.status_code >= 500  # load-balancer pages are outside the contract
        return
    request = response.request
    url = request.url
    path = url.raw_path.split(b"?", 1)[0].decode()
    mock_request = MockRequest(
        f"{url.scheme}://{url.netloc.decode()}",
        request.method,
        path,
        args=dict(parse_qsl(url.query.decode())),
        headers=dict(request.headers),
        data=request.content,
        content_type=request.headers.get("content-type", "application/json"),
    )
    mock_response = MockResponse(
        response.content,
        response.status_code,
        headers=dict(response.headers),
        content_type=ctype,
    )
    try:
        SPEC.validate_response(mock_request, mock_response)
    except (PathNotFound, OperationNotFound):
        # Unknown paths and methods are not in the spec: their problem bodies still must be.
        assert response.status_code in (404, 405)
        assert ctype == "application/problem+json"
        PROBLEM.validate(response.json())
    if response.status_code >= 400:
        assert ctype == "application/problem+json"
    else:
        assert ctype == V3_JSON


def checked_client(fake: FakeICA, **kwargs: Any) -> httpx.AsyncClient:
    """An in-process client whose every response is validated against the spec."""
    seen: list[httpx.Response] = kwargs.pop("seen", [])

    async def hook(response: httpx.Response) -> None:
        await response.aread()
        validate(response)
        seen.append(response)

    return fake.http_client(event_hooks={"response": [hook]}, **kwargs)
