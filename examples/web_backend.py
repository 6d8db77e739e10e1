"""A web backend that keeps one aioica Session for its whole life (Starlette).

    python examples/web_backend.py            # a short in-process demo, then exit
    python examples/web_backend.py --serve    # serve on http://127.0.0.1:8000 (needs uvicorn)

Routes:

* ``GET /sessions?status=FAILED&limit=50``: workflow sessions, as JSON.
* ``GET /sessions/{id}/analyses``: one workflow session's orchestrated analyses, as JSON.
* ``GET /export``: every workflow session with its details, streamed as JSON Lines.

The Session is opened in the app's lifespan and shared by every request. Handlers ask for a
fail-fast retry policy, so that a 429 pause turns into a quick 503 with ``Retry-After`` instead
of a request hanging for a minute. A client that disconnects in the middle of ``/export`` costs
nothing afterwards: the export is dropped with the response, and its requests are cancelled.

With ICAV2_X_API_KEY (or ICAV2_ACCESS_TOKEN) and ICAV2_PROJECT_ID set, this talks to ICA;
without credentials it uses the embedded fake ICA (``pip install 'aioica[fake]'``).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
from collections.abc import AsyncIterator, Callable

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import aioica

# A request handler should answer quickly: one retry, and no waiting out a long 429 pause.
INTERACTIVE = aioica.RetryPolicy(max_attempts=2, backoff_cap=0.5, max_retry_after=2)
MAX_LIMIT = 1000


class JsonLines:
    """A response body: one JSON line per export record.

    When the client goes away, the server cancels the response or just drops its body. Either
    way nothing keeps running: a cancelled read closes the export, and a dropped body drops the
    export, which cancels its requests when it is garbage-collected. It is a plain async
    iterator rather than an async generator, so a body dropped half-way has nothing left to
    finalise (trio warns about async generators collected unfinished).
    """

    def __init__(self, export: aioica.Export) -> None:
        self._export = export

    def __aiter__(self) -> JsonLines:
        return self

    async def __anext__(self) -> str:
        try:
            record = await self._export.__anext__()
        except BaseException:
            # Cancelled (the client went away) or failed: stop now rather than whenever the
            # garbage collector gets to an exception's traceback that still holds the export.
            await self._export.aclose()
            raise
        return json.dumps(record.to_dict(), separators=(",", ":")) + "\n"


def create_app(open_session: Callable[[], aioica.Session], project_id: str) -> Starlette:
    """The app: ``open_session()`` makes the one Session its lifespan holds."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_session() as ica:
            app.state.ica = ica
            yield

    def ica_of(request: Request) -> aioica.Session:
        session: aioica.Session = request.app.state.ica
        return session

    async def sessions(request: Request) -> Response:
        try:
            limit = min(int(request.query_params.get("limit", "100")), MAX_LIMIT)
        except ValueError:
            return JSONResponse({"detail": "limit must be an integer"}, status_code=400)
        status = request.query_params.get("status")
        query = aioica.AnalysisQueryParameters(status=[status]) if status else None
        rows = (
            await ica_of(request)
            .search_workflow_sessions(
                project_id,
                analysis_query_parameters=query,
                max_items=max(limit, 1),
                retry=INTERACTIVE,
                raw=True,
            )
            .collect()
        )
        return JSONResponse(
            [
                {"id": r["id"], "status": r.get("status"), "reference": r.get("userReference")}
                for r in rows
            ]
        )

    async def analyses(request: Request) -> Response:
        found = (
            await ica_of(request)
            .search_orchestrated_analyses(
                project_id, request.path_params["session_id"], retry=INTERACTIVE, raw=True
            )
            .collect()
        )
        return JSONResponse(found)

    async def export(request: Request) -> Response:
        records = ica_of(request).export_workflow_sessions(project_id, raw=True)
        return StreamingResponse(JsonLines(records), media_type="application/x-ndjson")

    async def rate_limited(request: Request, exc: Exception) -> Response:
        wait = getattr(exc, "retry_after", None) or 1
        return JSONResponse(
            {"detail": "ICA is rate limiting; try again shortly"},
            status_code=503,
            headers={"Retry-After": str(max(1, round(wait)))},
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    async def invalid(request: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    return Starlette(
        routes=[
            Route("/sessions", sessions),
            Route("/sessions/{session_id}/analyses", analyses),
            Route("/export", export),
        ],
        lifespan=lifespan,
        exception_handlers={
            aioica.RateLimitError: rate_limited,
            aioica.NotFoundError: not_found,
            aioica.InvalidParameterError: invalid,
        },
    )


def app_from_environment() -> tuple[Starlette, str]:
    """The app for ICA when credentials are set, else for an in-process fake ICA."""
    if os.environ.get("ICAV2_X_API_KEY") or os.environ.get("ICAV2_ACCESS_TOKEN"):
        return create_app(aioica.Session.from_env, os.environ["ICAV2_PROJECT_ID"]), "ICA"
    from aioica.testing import Dataset, FakeICA, Faults

    fake = FakeICA(Dataset(sessions=300, analyses=3), faults=Faults(latency_ms=5))
    return create_app(fake.session, "demo-project"), "a fake ICA (in process)"


async def demo() -> None:
    """Start the app in process, call each route once, stop."""
    app, where = app_from_environment()
    print(f"web backend on {where}")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            listed = (await client.get("/sessions", params={"limit": 5})).json()
            print(f"GET /sessions?limit=5 -> {len(listed)} sessions")
            sid = listed[0]["id"]
            found = (await client.get(f"/sessions/{sid}/analyses")).json()
            print(f"GET /sessions/{sid}/analyses -> {len(found)} analyses")
            body = (await client.get("/export")).text
            print(f"GET /export -> {body.count(chr(10))} JSON lines")
            ica: aioica.Session = app.state.ica
            print(f"requests sent to ICA: {ica.requests_sent}")


if __name__ == "__main__":
    if "--serve" in sys.argv[1:]:
        import uvicorn

        application, where = app_from_environment()
        print(f"serving on http://127.0.0.1:8000 against {where}")
        # Everything imported so far lives as long as the process: out of the cyclic
        # collector's way, its full passes no longer stall the event loop for tens of ms
        # (see "Long-lived services" in the README).
        gc.collect()
        gc.freeze()
        uvicorn.run(application, host="127.0.0.1", port=8000)
    else:
        anyio.run(demo)
