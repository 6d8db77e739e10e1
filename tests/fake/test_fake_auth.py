"""Auth, content negotiation and error problems of the fake ICA."""

from __future__ import annotations

import base64
import json

import anyio
import httpx
import pytest

from aioica.testing import V3_JSON, Dataset, FakeICA
from tests.support.contract import checked_client

WS = "/api/projects/demo-project/workflowSessions"


@pytest.fixture
def fake() -> FakeICA:
    return FakeICA(
        Dataset(sessions=5, analyses=1),
        api_key="key-1",
        api_keys=["key-2"],
        users={"ada@example.com": "s3cret:with:colons"},
        tenants=("lab", "clinic"),
    )


def _claims(token: str) -> dict[str, object]:
    header, payload, signature = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT"}
    assert signature
    claims: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * 3))
    return claims


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.anyio
async def test_api_keys(fake: FakeICA) -> None:
    async with checked_client(fake, authenticated=False) as c:
        assert (await c.get(WS, headers={"X-API-Key": "key-1"})).status_code == 200
        assert (await c.get(WS, headers={"X-API-Key": "key-2"})).status_code == 200
        wrong = await c.get(WS, headers={"X-API-Key": "key-3"})
        missing = await c.get(WS)
    assert wrong.status_code == missing.status_code == 401
    assert missing.json()["title"].startswith("ICA_API_")


@pytest.mark.anyio
async def test_jwt_from_api_key(fake: FakeICA) -> None:
    async with checked_client(fake, authenticated=False) as c:
        r = await c.post("/api/tokens", headers={"X-API-Key": "key-1"})
        assert r.status_code == 200
        assert r.headers["content-type"] == V3_JSON
        token = r.json()["token"]
        claims = _claims(token)
        assert claims["ica_auth_method"] == "apikey"
        assert {"exp", "iat", "sub"} <= set(claims)
        assert claims["exp"] == claims["iat"] + 3600  # type: ignore[operator]
        assert (await c.get(WS, headers=_bearer(token))).status_code == 200
        refused = await c.post("/api/tokens:refresh", headers=_bearer(token))
        assert refused.status_code in (400, 403)
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        assert (await c.get(WS, headers=_bearer(tampered))).status_code == 401
        assert (await c.get(WS, headers=_bearer("not.a.jwt"))).status_code == 401
        basic_here = await c.get(WS, auth=httpx.BasicAuth("ada@example.com", "s3cret:with:colons"))
        assert basic_here.status_code == 401
    assert fake.counters.tokens_minted == 1
    assert fake.counters.tokens_refreshed == 0


@pytest.mark.anyio
async def test_basic_login_refresh_and_tenant(fake: FakeICA) -> None:
    basic = httpx.BasicAuth("ada@example.com", "s3cret:with:colons")
    async with checked_client(fake, authenticated=False) as c:
        r = await c.post("/api/tokens", auth=basic, params={"tenant": "clinic"})
        token = r.json()["token"]
        claims = _claims(token)
        assert claims["ica_auth_method"] == "basic"
        assert claims["sub"] == "ada@example.com"
        assert claims["tenant"] == "clinic"
        r = await c.post("/api/tokens:refresh", headers=_bearer(token))
        assert r.status_code == 200
        fresh = r.json()["token"]
        assert fresh != token
        assert _claims(fresh)["tenant"] == "clinic"
        assert (await c.get(WS, headers=_bearer(fresh))).status_code == 200
        wrong = httpx.BasicAuth("ada@example.com", "nope")
        assert (await c.post("/api/tokens", auth=wrong)).status_code == 401
        other = await c.post("/api/tokens", auth=basic, params={"tenant": "elsewhere"})
        assert other.status_code == 401
        assert (await c.post("/api/tokens")).status_code == 401
        assert (await c.post("/api/tokens:refresh")).status_code == 401
    assert fake.counters.tokens_minted == 1
    assert fake.counters.tokens_refreshed == 1


@pytest.mark.anyio
async def test_jwt_expiry() -> None:
    fake = FakeICA(Dataset(sessions=2), jwt_ttl=0.2, users={"u@x.org": "p"})
    async with checked_client(fake, authenticated=False) as c:
        token = (await c.post("/api/tokens", headers={"X-API-Key": fake.api_key})).json()["token"]
        basic = httpx.BasicAuth("u@x.org", "p")
        login = (await c.post("/api/tokens", auth=basic)).json()["token"]
        claims = _claims(token)
        assert 0 < claims["exp"] - claims["iat"] < 1  # type: ignore[operator]
        assert (await c.get(WS, headers=_bearer(token))).status_code == 200
        await anyio.sleep(0.3)
        expired = await c.get(WS, headers=_bearer(token))
        assert expired.status_code == 401
        assert "expired" in expired.json()["detail"]
        assert (await c.post("/api/tokens:refresh", headers=_bearer(login))).status_code == 401


def test_jwt_expiry_with_injected_clock() -> None:
    now = [1_000_000.0]
    fake = FakeICA(Dataset(sessions=1), jwt_ttl=60, clock=lambda: now[0])
    token = fake.mint_token()
    assert fake.verify_token(token)["exp"] == 1_000_060
    now[0] += 61
    with pytest.raises(ValueError, match="expired"):
        fake.verify_token(token)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("accept", "ok"),
    [
        (V3_JSON, True),
        ("*/*", True),
        ("application/*", True),
        (f"application/problem+json, {V3_JSON};q=0.9", True),
        ("application/problem+json", False),
        ("text/html", False),
        (f"{V3_JSON};q=0", False),
    ],
)
async def test_content_negotiation(fake: FakeICA, accept: str, ok: bool) -> None:
    async with checked_client(fake, headers={"Accept": accept}) as c:
        r = await c.get(WS)
    assert r.status_code == (200 if ok else 400)
    strict = FakeICA(fake.dataset, api_key="key-1", not_acceptable_status=406)
    async with checked_client(strict, headers={"Accept": accept}) as c:
        assert (await c.get(WS)).status_code == (200 if ok else 406)


@pytest.mark.anyio
async def test_request_bodies(fake: FakeICA) -> None:
    async with checked_client(fake, headers={"X-API-Key": "key-1"}) as c:
        search = WS + ":search"
        for ctype in (V3_JSON, "application/json", "application/json; charset=utf-8"):
            r = await c.post(
                search, content=b'{"status":["SUCCEEDED"]}', headers={"Content-Type": ctype}
            )
            assert r.status_code == 200, ctype
        assert (await c.post(search)).status_code == 200  # no body: no filter
        r = await c.post(search, content=b"{}", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        r = await c.post(search, content=b"{}", headers={"Content-Type": "application/xml"})
        assert r.status_code == 415
        r = await c.post(search, content=b"{nope", headers={"Content-Type": V3_JSON})
        assert r.status_code == 400
        for bad in ([1], {"status": "SUCCEEDED"}, {"status": ["DONE"]}, {"userTags": [1]}):
            assert (await c.post(search, json=bad)).status_code == 400, bad


@pytest.mark.anyio
async def test_routing_problems(fake: FakeICA) -> None:
    sid = fake.dataset.session_ids()[0]
    async with checked_client(fake, headers={"X-API-Key": "key-1"}) as c:
        r = await c.delete(WS)
        assert r.status_code == 405
        assert r.headers["allow"] == "GET"
        assert (await c.get(WS + ":search")).status_code == 405
        assert (await c.get(f"{WS}/{sid}/analyses:search")).status_code == 405
        assert (await c.post("/api/tokens:refresh/x")).status_code == 404
        assert (await c.get("/api/projects/other/workflowSessions")).status_code == 404
        assert (await c.get(f"{WS}/{sid}x/inputs")).status_code == 404
        assert (await c.get(f"{WS}/%2E%2E/inputs")).status_code == 404
        assert (await c.get(f"{WS}/{sid}/outputs")).status_code == 404
        r = await c.get(f"{WS}/{sid}%2Finputs")
        assert r.status_code == 404  # an encoded slash stays part of the id
        assert (await c.get(f"{WS}/{sid}/inputs")).status_code == 200
        assert (
            await c.get(f"/api/projects/demo%2Dproject/workflowSessions/{sid}/inputs")
        ).is_success
        r = await c.get("http://fake/other/api/tokens")
        assert r.status_code == 404


@pytest.mark.anyio
async def test_tokens_are_exempt_from_faults(fake: FakeICA) -> None:
    fake.faults.push(503, 503)
    fake.faults.rate_429 = 1.0
    async with checked_client(fake, authenticated=False) as c:
        r = await c.post("/api/tokens", headers={"X-API-Key": "key-1"})
        assert r.status_code == 200
        assert len(fake.faults.script) == 2
        fake.faults.apply_to_tokens = True
        assert (await c.post("/api/tokens", headers={"X-API-Key": "key-1"})).status_code == 503
