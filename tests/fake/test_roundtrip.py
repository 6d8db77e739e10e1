"""The fake and aioica agree: every operation, and both token endpoints, over loopback TCP."""

from __future__ import annotations

import json

import pytest

import aioica
from aioica.testing import Dataset, FakeICA, serve

pytestmark = pytest.mark.tcp

P = "demo-project"


@pytest.mark.parametrize("auth_kind", ["api-key", "token-api-key", "token-basic"])
@pytest.mark.anyio
async def test_every_operation_round_trips_over_tcp(auth_kind: str) -> None:
    fake = FakeICA(Dataset(seed=31, sessions=45, analyses=3), jwt_ttl=0.25)
    fake.faults.latency_ms = 10  # the run outlives a few tokens
    ds = fake.dataset
    auth = {
        "api-key": aioica.ApiKeyAuth(fake.api_key),
        "token-api-key": aioica.TokenAuth(api_key=fake.api_key),
        "token-basic": aioica.TokenAuth(
            username="user@example.com", password="password", tenant="fake-tenant"
        ),
    }[auth_kind]
    async with serve(fake) as url:
        async with aioica.Session(auth=auth, base_url=url) as ica:
            v3 = [ws async for ws in ica.get_workflow_sessions(P, page_size=10)]
            assert [str(ws.id) for ws in v3] == ds.session_ids(P)
            assert all(ws.status in aioica.StatusV3.ALL for ws in v3)

            v4 = [ws async for ws in ica.search_workflow_sessions(P, page_size=10)]
            assert [str(ws.id) for ws in v4] == ds.session_ids(P)
            assert all(ws.status in aioica.StatusV4.ALL for ws in v4)
            for ws in v4[:6]:
                sid = str(ws.id)
                record = ds.session(P, sid)
                assert record is not None
                assert ws.user_reference == record.user_reference

                inputs = await ica.get_workflow_session_inputs(P, sid)
                want_inputs = aioica.from_dict(
                    json.loads(ds.inputs_json(record)), aioica.WorkflowSessionInputList
                )
                assert inputs == want_inputs

                configs = await ica.get_workflow_session_configurations(P, sid)
                want_configs = aioica.from_dict(
                    json.loads(ds.configurations_json(record)),
                    aioica.WorkflowSessionConfigurationList,
                )
                assert configs == want_configs

                analyses = [a async for a in ica.search_orchestrated_analyses(P, sid, page_size=1)]
                assert [str(a.analysis.id) for a in analyses if a.analysis] == ds.analysis_ids(
                    P, sid
                )
                assert all(str(a.workflow_session_id) == sid for a in analyses)

            # Filters and the search body reach the fake intact.
            target = v4[3]
            assert target.user_reference is not None
            found = await ica.search_workflow_sessions(
                P,
                analysis_query_parameters=aioica.AnalysisQueryParameters(
                    user_reference=target.user_reference
                ),
            )
            assert target.id in [ws.id for ws in found.items]
            got_v3 = await ica.get_workflow_sessions(P, userreference=target.user_reference)
            assert target.id in [ws.id for ws in got_v3.items]
    if isinstance(auth, aioica.TokenAuth):
        # The run outlives several 0.25 s tokens: login tokens are refreshed, API-key ones
        # (which ICA cannot refresh) are minted again.
        assert fake.counters.tokens_minted == auth.mint_count >= 1
        assert fake.counters.tokens_refreshed == auth.refresh_count
        if auth_kind == "token-basic":
            assert auth.refresh_count >= 1
        else:
            assert auth.mint_count >= 2 and auth.refresh_count == 0
