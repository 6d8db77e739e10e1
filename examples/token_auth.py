"""Authenticate with short-lived JWTs instead of sending the API key on every request.

``aioica.TokenAuth`` mints a JWT at ``POST /api/tokens`` (from an API key, or from an e-mail and
password login), caches it, renews it ahead of its ``exp`` claim and renews once on a 401.
Renewal is single-flight: 50 concurrent requests wait for one mint, not 50.

    python examples/token_auth.py

With ICAV2_X_API_KEY and ICAV2_PROJECT_ID set, this talks to ICA; without credentials it starts
the embedded fake ICA (``pip install 'aioica[fake]'``).
"""

from __future__ import annotations

import datetime
import os

import anyio

import aioica


def expiry(auth: aioica.TokenAuth) -> str:
    if auth.expires_at is None:
        return "-"
    when = datetime.datetime.fromtimestamp(auth.expires_at, datetime.timezone.utc)
    return f"{when:%Y-%m-%d %H:%M:%S} UTC"


async def use(ica: aioica.Session, auth: aioica.TokenAuth, project_id: str) -> None:
    async def first_page() -> None:
        await ica.search_workflow_sessions(project_id, page_size=5)

    async with ica:
        # 20 concurrent requests, one token: the first request mints it, the others wait.
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(first_page)
        page = await ica.search_workflow_sessions(project_id, page_size=3)
    print(f"  {auth!r}: {len(page.items or [])} sessions on the first page")
    print(f"  tokens minted: {auth.mint_count}, valid until {expiry(auth)}")


async def main() -> None:
    key = os.environ.get("ICAV2_X_API_KEY")
    if key:
        print("TokenAuth from ICAV2_X_API_KEY:")
        auth = aioica.TokenAuth(key)
        # from_env() takes the base URL from ICAV2_BASE_URL / ICAV2_SERVER_URL when set.
        await use(aioica.Session.from_env(auth), auth, os.environ["ICAV2_PROJECT_ID"])
        return
    if os.environ.get("ICAV2_ACCESS_TOKEN"):
        print("ICAV2_ACCESS_TOKEN is already a JWT: use aioica.BearerAuth(token) (no renewal).")
        return
    from aioica.testing import Dataset, FakeICA, serve

    fake = FakeICA(Dataset(sessions=30), users={"alice@example.com": "correct horse"})
    async with serve(fake) as url:
        print(f"(no ICA credentials in the environment: using a fake ICA at {url})")
        print("TokenAuth from an API key:")
        auth = aioica.TokenAuth(fake.api_key)
        await use(aioica.Session(auth, base_url=url), auth, "demo-project")
        print("TokenAuth from an e-mail and password login:")
        auth = aioica.TokenAuth(username="alice@example.com", password="correct horse")
        await use(aioica.Session(auth, base_url=url), auth, "demo-project")
    print(f"the fake ICA minted {fake.counters.tokens_minted} tokens in all")


if __name__ == "__main__":
    anyio.run(main)
