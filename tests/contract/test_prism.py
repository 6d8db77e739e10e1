"""Contract tests: every operation against Prism serving the vendored ICA spec.

Prism (``tests/prism``, a pinned ``@stoplight/prism-cli``) mocks
``tests/spec/ica-workflow-sessions.openapi.yaml`` in dynamic mode: each answer is random
schema-valid data with extra properties and nulls, and each request is checked against the spec,
what is wrong being reported in an ``sl-violations`` response header (plus a 401/415/422 for
errors). These tests send a few hundred requests per operation through aioica and require:

* no ``sl-violations`` header and a 200 on any response (headers, content type, path, UUID
  path formats, security, body schema);
* what Prism does not check: query names are ones the spec declares, values arrive exactly as
  given (URL-unsafe cursors included) and path parameters cannot change the path;
* every random body decodes into the typed models, losing no key the server sent.

Prism lives in ``tests/prism/node_modules`` (``npm ci --prefix tests/prism``). Without it the
tests skip, loudly; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterator, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote
from uuid import UUID, uuid4

import anyio
import attrs
import httpx
import pytest
import yaml

import aioica
from aioica import (
    WorkflowSessionAnalysisPagedListV4,
    WorkflowSessionAnalysisV4,
    WorkflowSessionConfiguration,
    WorkflowSessionConfigurationList,
    WorkflowSessionInput,
    WorkflowSessionInputList,
    WorkflowSessionPagedListV3,
    WorkflowSessionPagedListV4,
    WorkflowSessionV3,
    WorkflowSessionV4,
)
from tests.support.net import free_port
from tests.support.paths import PRISM as PRISM_ROOT
from tests.support.paths import ROOT, SPEC_PATH
from tests.support.paths import TESTS as TESTS_DIR

pytestmark = pytest.mark.prism

SPEC = SPEC_PATH
PRISM_DIR = PRISM_ROOT
PRISM = PRISM_DIR / "node_modules" / ".bin" / ("prism.cmd" if sys.platform == "win32" else "prism")
INSTALL = "npm ci --prefix tests/prism --ignore-scripts --no-audit --no-fund"

V3 = "application/vnd.illumina.v3+json"
CALLS_PER_OPERATION = 240
ITERATIONS = 120
STARTUP_TIMEOUT = 60.0
# A guard against a hung server or a deadlock, not a performance assertion.
HANG_GUARD = 120.0


# -- the server -------------------------------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


def _answers(proc: subprocess.Popen[bytes], url: str) -> bool | None:
    """True once Prism answers, False if the process died (port taken?), None if not yet."""
    if proc.poll() is not None:
        return False
    try:
        response = httpx.get(
            f"{url}/api/projects/ready/workflowSessions/ready/inputs",
            headers={"Accept": V3, "X-API-Key": "probe"},
            timeout=2.0,
        )
    except httpx.TransportError:
        return None
    # Someone else may own the port we picked: only Prism answers this with a JSON list.
    try:
        body = response.json()
    except ValueError:
        return False
    return proc.poll() is None and response.status_code == 200 and "items" in body


def _start(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    for _attempt in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            str(PRISM),
            "mock",
            "--dynamic",
            # Random extra properties on every object: the decoder must keep or ignore them.
            "--json-schema-faker-fillProperties=true",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            str(SPEC),
        ]
        with log.open("ab") as out:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=TESTS_DIR,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        state = _answers(proc, url)
        while state is None and time.monotonic() < deadline:
            time.sleep(0.1)
            state = _answers(proc, url)
        if state:
            return proc, url
        _stop(proc)
        if state is None:
            break
        # The process exited: most likely the port was taken between probe and bind; retry.
    pytest.fail(f"Prism did not start ({' '.join(command)}); its log:\n{_tail(log)}")


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Prism mock of the vendored spec, on a free loopback port.

    Prism serves the spec's paths at the root: the spec's relative server ``/ica/rest`` is not
    a prefix Prism routes (``/ica/rest/api/...`` answers 404), so the base URL has no path.
    """
    if not os.access(PRISM, os.X_OK):
        reason = (
            f"PRISM IS NOT INSTALLED ({PRISM.relative_to(ROOT)} is missing): the contract "
            f"tests against the vendored ICA spec did NOT run. Install it with `{INSTALL}`."
        )
        if _in_ci():
            pytest.fail(f"{reason} CI is set, so this is an error, not a skip.", pytrace=False)
        pytest.skip(reason)
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    proc, url = _start(log)
    try:
        yield url
    finally:
        _stop(proc)


# -- what the spec declares -------------------------------------------------------------------


@functools.cache
def _spec() -> dict[str, Any]:
    with SPEC.open(encoding="utf-8") as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


def _declared_query(method: str, template: str) -> frozenset[str]:
    parameters = _spec()["paths"][template][method.lower()].get("parameters", [])
    return frozenset(p["name"] for p in parameters if p["in"] == "query")


def _body_properties() -> frozenset[str]:
    return frozenset(_spec()["components"]["schemas"]["AnalysisQueryParameters"]["properties"])


class Operation(NamedTuple):
    method: str
    template: str
    page: type[Any]
    item: type[Any]
    paged: bool
    uuid_session: bool


OPERATIONS = {
    "get_workflow_sessions": Operation(
        "GET",
        "/api/projects/{projectId}/workflowSessions",
        WorkflowSessionPagedListV3,
        WorkflowSessionV3,
        paged=True,
        uuid_session=False,
    ),
    "search_workflow_sessions": Operation(
        "POST",
        "/api/projects/{projectId}/workflowSessions:search",
        WorkflowSessionPagedListV4,
        WorkflowSessionV4,
        paged=True,
        uuid_session=False,
    ),
    "get_workflow_session_inputs": Operation(
        "GET",
        "/api/projects/{projectId}/workflowSessions/{workflowSessionId}/inputs",
        WorkflowSessionInputList,
        WorkflowSessionInput,
        paged=False,
        uuid_session=False,
    ),
    "get_workflow_session_configurations": Operation(
        "GET",
        "/api/projects/{projectId}/workflowSessions/{workflowSessionId}/configurations",
        WorkflowSessionConfigurationList,
        WorkflowSessionConfiguration,
        paged=False,
        uuid_session=False,
    ),
    "search_orchestrated_analyses": Operation(
        "POST",
        "/api/projects/{projectId}/workflowSessions/{workflowSessionId}/analyses:search",
        WorkflowSessionAnalysisPagedListV4,
        WorkflowSessionAnalysisV4,
        paged=True,
        uuid_session=True,
    ),
}

# -- recording every exchange -----------------------------------------------------------------


@attrs.frozen
class Exchange:
    method: str
    url: httpx.URL
    request_headers: httpx.Headers
    status: int
    violations: str | None

    def __str__(self) -> str:
        return f"{self.method} {self.url} -> {self.status}: sl-violations={self.violations}"


class Recording(httpx.Auth):
    """Wraps the session's auth and notes every response it sees, headers only.

    An auth flow is handed each response to each request it yields (token requests included),
    whatever transport the session picked, so nothing reaches aioica unrecorded.
    """

    def __init__(self, inner: httpx.Auth) -> None:
        self.inner = inner
        self.exchanges: list[Exchange] = []

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        # httpx closes this flow when a request is cancelled; the inner one must close too.
        async with aclosing(self.inner.async_auth_flow(request)) as flow:
            outgoing = await flow.__anext__()
            while True:
                response = yield outgoing
                self.exchanges.append(
                    Exchange(
                        outgoing.method,
                        outgoing.url,
                        outgoing.headers.copy(),
                        response.status_code,
                        response.headers.get("sl-violations"),
                    )
                )
                try:
                    outgoing = await flow.asend(response)
                except StopAsyncIteration:
                    return

    def bad(self) -> list[Exchange]:
        """Exchanges Prism objected to (a violation header or anything but 200)."""
        return [e for e in self.exchanges if e.violations is not None or e.status != 200]


def _session(url: str, auth: httpx.Auth) -> aioica.Session:
    # No retries: a request Prism refuses must show up as a failure, not be tried again.
    return aioica.Session(
        auth=auth,
        base_url=url,
        max_concurrency=16,
        timeout=30.0,
        retry=aioica.RetryPolicy.none(),
    )


def _report(exchanges: list[Exchange]) -> str:
    return "\n".join(str(e) for e in exchanges[:15])


# -- the parameter spread ---------------------------------------------------------------------

UNSAFE = "a b/c?d&e=f#g%h+i;j,k:l@m~n'o\"p<q>r[s]t{u}v|w\\x^y`z é中"
PROJECT_IDS = [
    "3f1c7a2e-0b6d-4e8a-9c5f-2d7e1b4a6c80",
    "project-1",
    UNSAFE,
    "a.b",
    "...",
    "%2F..%2F",
    "x" * 300,
]
SESSION_IDS = [
    "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e",
    "session 1/../inputs",
    UNSAFE,
    "%00",
    "ws.1",
]
TOKENS = [
    "page1",
    UNSAFE,
    "%2F%25%26",
    "eyJ0eXAiOiJjdXJzb3IifQ==",
    "+/=" * 100,
    "t" * 2000,
    "",
]
PAGE_SIZES: list[int | str] = [1, 7, 50, 1000, "25", " 100 "]
OFFSETS: list[int | str] = [0, 1, 1000, 199_999, "20"]
SESSION_SORTS = [
    "reference",
    "startDate desc",
    "userReference asc,status desc",
    "pipeline, workflow, endDate DESC",
]
ANALYSIS_SORTS = ["summary", "endDate asc", "reference desc, startDate", "status"]
STATUS_V3 = ["INPROGRESS", "AWAITINGINPUT", "FAILEDFINAL", "SUCCEEDED", "A_NEW_ONE"]
# The body's status items carry the spec's pattern: Prism answers a value outside it with 422.
# aioica sends such values unchecked (ICA adds statuses over time), so the spread stays inside.
STATUS_V4 = ["REQUESTED", "IN_PROGRESS", "AWAITING_INPUT", "FAILED_FINAL", "ABORTED", "SUCCEEDED"]
TEXTS = ["run-42", UNSAFE, "", "  padded  ", "ünïcödé"]


def _uuid_forms(rng: random.Random) -> UUID | str:
    value = UUID(int=rng.getrandbits(128), version=4)
    forms: list[UUID | str] = [
        value,
        str(value),
        str(value).upper(),
        f"{{{value}}}",
        value.hex,
        f"urn:uuid:{value}",
        f"  {value}\t",
    ]
    return rng.choice(forms)


def _paging(rng: random.Random, sorts: list[str]) -> dict[str, Any]:
    mode = rng.choice(["none", "size", "token", "offset", "offset+sort", "sort"])
    kwargs: dict[str, Any] = {}
    if mode != "none" and rng.random() < 0.8:
        kwargs["page_size"] = rng.choice(PAGE_SIZES)
    if mode == "token":
        kwargs["page_token"] = rng.choice(TOKENS)
    if mode.startswith("offset"):
        kwargs["page_offset"] = rng.choice(OFFSETS)
    if mode.endswith("sort"):
        kwargs["sort"] = rng.choice(sorts)
    return kwargs


def _body(rng: random.Random) -> aioica.AnalysisQueryParameters | dict[str, Any] | None:
    def some(values: list[str]) -> list[str] | None:
        return rng.sample(values, rng.randint(0, len(values))) if rng.random() < 0.5 else None

    fields: dict[str, Any] = {
        "reference": rng.choice(TEXTS) if rng.random() < 0.5 else None,
        "user_reference": rng.choice(TEXTS) if rng.random() < 0.5 else None,
        "status": some(STATUS_V4),
        "user_tags": some(TEXTS),
        "technical_tags": some(TEXTS),
        "reference_tags": some(TEXTS),
    }
    kind = rng.choice(["none", "model", "dict"])
    if kind == "none":
        return None
    if kind == "model":
        return aioica.AnalysisQueryParameters(**fields)
    wire = {
        "user_reference": "userReference",
        "user_tags": "userTags",
        "technical_tags": "technicalTags",
        "reference_tags": "referenceTags",
    }
    return {wire.get(k, k): v for k, v in fields.items() if v is not None}


def _case(name: str, rng: random.Random) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for one call of operation ``name``."""
    project = rng.choice(PROJECT_IDS)
    if name == "get_workflow_sessions":
        kwargs = _paging(rng, SESSION_SORTS)
        for key in ("reference", "userreference", "usertag", "technicaltag"):
            if rng.random() < 0.4:
                kwargs[key] = rng.choice(TEXTS)
        if rng.random() < 0.4:
            kwargs["status"] = rng.choice(STATUS_V3)
        return [project], kwargs
    if name == "search_workflow_sessions":
        kwargs = _paging(rng, SESSION_SORTS)
        kwargs["analysis_query_parameters"] = _body(rng)
        return [project], kwargs
    if name == "search_orchestrated_analyses":
        kwargs = _paging(rng, ANALYSIS_SORTS)
        kwargs["analysis_query_parameters"] = _body(rng)
        return [project, _uuid_forms(rng)], kwargs
    uuid = UUID(int=rng.getrandbits(128), version=4)
    return [project, rng.choice([uuid, str(uuid), *SESSION_IDS])], {}


_QUERY_NAMES = {
    "page_offset": "pageOffset",
    "page_token": "pageToken",
    "page_size": "pageSize",
    "sort": "sort",
    "reference": "reference",
    "userreference": "userreference",
    "status": "status",
    "usertag": "usertag",
    "technicaltag": "technicaltag",
}


def _expected_query(kwargs: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in kwargs.items():
        wire = _QUERY_NAMES.get(key)
        if wire is None or value is None or (key == "page_token" and value == ""):
            continue
        out[wire] = str(value).strip() if key in ("page_size", "page_offset") else value
    return out


def _expected_segments(op: Operation, args: list[Any]) -> list[str]:
    segments = op.template.split("/")
    segments[segments.index("{projectId}")] = args[0]
    if "{workflowSessionId}" in segments:
        session = args[1]
        if isinstance(session, UUID):
            expected = str(session)
        elif op.uuid_session:
            # The spec's `format: uuid`: aioica sends the canonical form of any UUID spelling.
            expected = str(UUID(session.strip()))
        else:
            expected = session
        segments[segments.index("{workflowSessionId}")] = expected
    return segments


def _lost_keys(raw: Any, back: Any, path: str = "$") -> list[str]:
    """Where a key the server sent (with a value) is missing after decode + ``to_dict``."""
    if isinstance(raw, dict):
        if not isinstance(back, dict):
            return [f"{path}: an object became {type(back).__name__}"]
        lost: list[str] = []
        for key, value in raw.items():
            if value is None:
                continue
            if key not in back:
                lost.append(f"{path}.{key}")
            else:
                lost += _lost_keys(value, back[key], f"{path}.{key}")
        return lost
    if isinstance(raw, list):
        if not isinstance(back, list) or len(back) != len(raw):
            return [f"{path}: a list of {len(raw)} became {back!r:.60}"]
        return [m for a, b in zip(raw, back, strict=True) for m in _lost_keys(a, b, f"{path}[]")]
    return []


def _check_exchange(
    op: Operation, args: list[Any], kwargs: dict[str, Any], result: aioica.ApiResponse[Any]
) -> None:
    """What Prism does not check about the request, and the decode of its answer."""
    request = result.http_response.request
    assert request.method == op.method
    raw_path = request.url.raw_path.decode("ascii").split("?")[0]
    # Each path parameter stays exactly one segment, whatever characters it holds.
    assert [unquote(s) for s in raw_path.split("/")] == _expected_segments(op, args)
    assert set(request.url.params) <= _declared_query(op.method, op.template)
    assert dict(request.url.params) == _expected_query(kwargs)
    assert len(request.url.params.multi_items()) == len(request.url.params)
    assert request.headers["accept"] == V3
    if op.method == "POST":
        assert request.headers["content-type"] == V3
        body = json.loads(request.content)
        assert isinstance(body, dict)
        assert set(body) <= _body_properties()
    else:
        assert not request.content

    page = result.data
    assert isinstance(page, op.page)
    assert all(isinstance(item, op.item) for item in page.items)
    raw = result.http_response.json()
    assert len(page.items) == len(raw.get("items") or [])
    assert _lost_keys(raw, aioica.to_dict(page)) == []


async def _call(
    ica: aioica.Session, name: str, args: list[Any], kwargs: dict[str, Any], *, plain: bool
) -> None:
    op = OPERATIONS[name]
    if plain:
        # The everyday spelling: `await ica.op(...)` gives the decoded page alone.
        page = await getattr(ica, name)(*args, **kwargs)
        assert isinstance(page, op.page)
        assert all(isinstance(item, op.item) for item in page.items)
        return
    result = await getattr(ica, f"{name}_with_http_info")(*args, **kwargs)
    _check_exchange(op, args, kwargs, result)


async def _run_all(calls: Sequence[Callable[[], Awaitable[None]]]) -> list[str]:
    """Run every call concurrently (the session bounds what is in flight); collect failures."""
    failures: list[str] = []

    async def one(index: int, call: Callable[[], Awaitable[None]]) -> None:
        try:
            await call()
        except Exception as exc:
            failures.append(f"call {index}: {type(exc).__name__}: {exc}"[:600])

    with anyio.fail_after(HANG_GUARD):
        async with anyio.create_task_group() as tg:
            for index, call in enumerate(calls):
                tg.start_soon(one, index, call)
    return failures


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(OPERATIONS))
async def test_operation_conforms_and_decodes(prism_url: str, name: str) -> None:
    """Hundreds of calls with a spread of arguments: Prism objects to none, all decode."""
    rng = random.Random(f"prism-{name}")
    cases = [_case(name, rng) for _ in range(CALLS_PER_OPERATION)]
    recording = Recording(aioica.ApiKeyAuth("prism-api-key"))
    async with _session(prism_url, recording) as ica:
        failures = await _run_all(
            [
                functools.partial(_call, ica, name, args, kwargs, plain=index % 5 == 0)
                for index, (args, kwargs) in enumerate(cases)
            ]
        )
        assert ica.requests_sent == CALLS_PER_OPERATION
    assert recording.bad() == [], _report(recording.bad())
    assert failures == [], "\n".join(failures[:10])
    assert len(recording.exchanges) == CALLS_PER_OPERATION
    assert {e.request_headers.get("x-api-key") for e in recording.exchanges} == {"prism-api-key"}


PAGED = [name for name, op in OPERATIONS.items() if op.paged]


@pytest.mark.anyio
@pytest.mark.parametrize("name", PAGED)
async def test_iteration_is_bounded(prism_url: str, name: str) -> None:
    """``async for`` over items and pages, cursor and offset mode, bounded by the test.

    The spec's ``x-faker`` makes Prism's ``nextPageToken`` one of ``"page1"``, ``""`` and null,
    so a cursor chain ends, or repeats ``"page1"``, which aioica refuses with
    :class:`aioica.PaginationError` rather than loop; offset paging sees a random
    ``totalItemCount``. Every page on the way must conform and decode.
    """
    op = OPERATIONS[name]
    sorts = ANALYSIS_SORTS if op.uuid_session else SESSION_SORTS
    recording = Recording(aioica.ApiKeyAuth("prism-api-key"))
    outcomes: dict[str, int] = {}
    refusals: list[tuple[bool, str]] = []
    rng = random.Random(f"prism-iterate-{name}")

    async def iterate(index: int) -> None:
        args: list[Any] = [rng.choice(PROJECT_IDS)]
        if op.uuid_session:
            args.append(_uuid_forms(rng))
        offset_mode = index % 2 == 1
        kwargs: dict[str, Any] = {
            "page_size": rng.choice([1, 2, 3, 50]),
            "prefetch": rng.choice([0, 1, 4]),
        }
        if offset_mode:
            kwargs["sort"] = rng.choice(sorts)
        try:
            if index % 4 < 2:
                limit = rng.choice([5, 25])
                items = [
                    item async for item in getattr(ica, name)(*args, max_items=limit, **kwargs)
                ]
                assert len(items) <= limit
                assert all(isinstance(item, op.item) for item in items)
            else:
                pages = 0
                # max_items also bounds offset mode's fan-out (Prism's totalItemCount is huge).
                paginator = getattr(ica, name)(*args, max_items=100, **kwargs)
                async with paginator.pages() as iterator:
                    async for page in iterator:
                        assert isinstance(page, op.page)
                        assert all(isinstance(item, op.item) for item in page.items)
                        pages += 1
                        if pages == 4:
                            break
            outcome = "ended"
        except aioica.PaginationError as exc:
            refusals.append((offset_mode, str(exc)))
            outcome = "repeated cursor"
        key = f"{'offset' if offset_mode else 'cursor'}: {outcome}"
        outcomes[key] = outcomes.get(key, 0) + 1

    async with _session(prism_url, recording) as ica:
        failures = await _run_all([functools.partial(iterate, i) for i in range(ITERATIONS)])
    # Cancelled requests sit in reference cycles: collect them now, so that any warning about
    # an unfinalised generator is raised inside this test.
    gc.collect()
    assert failures == [], "\n".join(failures[:10])
    assert recording.bad() == [], _report(recording.bad())
    assert sum(outcomes.values()) == ITERATIONS
    for offset_mode, message in refusals:
        assert not offset_mode
        assert "a second time" in message
    cursors = [e.url.params.get("pageToken") for e in recording.exchanges]
    # The chains went past their first page (a chance of well under 1e-6 that none does).
    assert "page1" in cursors, outcomes
    assert len(recording.exchanges) > ITERATIONS


class _WrongScheme(httpx.Auth):
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = "Basic dXNlcjpwYXNz"
        yield request


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("auth", "header", "absent"),
    [
        pytest.param(aioica.ApiKeyAuth("an-api-key"), "x-api-key", "authorization", id="api-key"),
        pytest.param(aioica.BearerAuth("a.jwt.token"), "authorization", "x-api-key", id="bearer"),
    ],
)
async def test_security_schemes(prism_url: str, auth: httpx.Auth, header: str, absent: str) -> None:
    """Both schemes the spec offers (ApiKeyAuth, JwtAuth) satisfy Prism on every operation."""
    recording = Recording(auth)
    rng = random.Random("prism-security")
    async with _session(prism_url, recording) as ica:
        calls = [
            functools.partial(_call, ica, name, *_case(name, rng), plain=False)
            for name in OPERATIONS
            for _ in range(10)
        ]
        failures = await _run_all(calls)
    assert failures == [], "\n".join(failures[:10])
    assert recording.bad() == [], _report(recording.bad())
    assert len(recording.exchanges) == len(calls)
    for exchange in recording.exchanges:
        assert header in exchange.request_headers
        assert absent not in exchange.request_headers


@pytest.mark.anyio
async def test_token_auth_mint_request_conforms(prism_url: str) -> None:
    """TokenAuth's ``POST /api/tokens`` satisfies Prism; Prism's random token is no JWT."""
    recording = Recording(aioica.TokenAuth("an-api-key"))
    async with _session(prism_url, recording) as ica:
        with pytest.raises(aioica.TokenError, match="not a JWT"):
            await ica.get_workflow_session_inputs("p", "s")
    assert [(e.method, e.url.path) for e in recording.exchanges] == [("POST", "/api/tokens")]
    assert recording.bad() == [], _report(recording.bad())
    assert recording.exchanges[0].request_headers["x-api-key"] == "an-api-key"


@pytest.mark.anyio
async def test_violations_are_detected(prism_url: str) -> None:
    """The recording sees a violation when there is one: the positive tests cannot pass
    vacuously."""
    recording = Recording(_WrongScheme())
    async with _session(prism_url, recording) as ica:
        with pytest.raises(aioica.AuthenticationError):
            await ica.search_workflow_sessions("p")
    [exchange] = recording.bad()
    assert exchange.status == 401
    assert exchange.violations is not None
    assert "Invalid security scheme" in exchange.violations


@pytest.mark.anyio
async def test_non_uuid_session_is_refused_before_sending(prism_url: str) -> None:
    """Prism answers 422 to a non-UUID analyses:search id; aioica never sends one."""
    recording = Recording(aioica.ApiKeyAuth("k"))
    async with _session(prism_url, recording) as ica:
        with pytest.raises(aioica.InvalidParameterError, match="UUID"):
            await ica.search_orchestrated_analyses("p", "not-a-uuid")
        assert ica.requests_sent == 0
    assert recording.exchanges == []


SEARCH = "/api/projects/p/workflowSessions:search"
ANALYSES = "/api/projects/p/workflowSessions/{}/analyses:search"


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "needle"),
    [
        pytest.param(
            SEARCH, {"Content-Type": V3}, b"{}", 401, "security scheme", id="no-credentials"
        ),
        pytest.param(
            ANALYSES.format("not-a-uuid"),
            {"Content-Type": V3, "X-API-Key": "k"},
            b"{}",
            422,
            'must match format "uuid"',
            id="session-id-not-uuid",
        ),
        pytest.param(
            SEARCH,
            {"Content-Type": "text/plain", "X-API-Key": "k"},
            b"{}",
            415,
            "Supported content types",
            id="content-type",
        ),
        pytest.param(
            ANALYSES.format(uuid4()),
            {"Content-Type": V3, "X-API-Key": "k"},
            b'{"status": "FAILED"}',
            422,
            "must be array",
            id="body-schema",
        ),
    ],
)
def test_prism_reports_violations(
    prism_url: str, path: str, headers: dict[str, str], body: bytes, status: int, needle: str
) -> None:
    """Negative controls, sent raw: Prism does report what the positive tests look for."""
    response = httpx.post(
        prism_url + path, headers={"Accept": V3, **headers}, content=body, timeout=10.0
    )
    assert response.status_code == status
    violations = json.loads(response.headers["sl-violations"])
    assert violations
    assert violations[0]["severity"] == "Error"
    assert needle in " ".join(v["message"] for v in violations)
