"""The fake's dataset moving forward: ``Dataset.advance``, ``restore_session``, ``generation``."""

from __future__ import annotations

import httpx
import pytest

from aioica.testing import Dataset, FakeICA, serve_in_thread
from aioica.testing._advance import TERMINAL
from aioica.testing._cli import build_parser

P = "demo-project"


def snapshot(ds: Dataset) -> dict[str, tuple[str, int, str | None]]:
    return {
        s.id: (s.status, len(ds.analyses(P, s.id)), ds.session_json(s, 4)) for s in ds.sessions(P)
    }


def test_advance_moves_sessions_forward() -> None:
    ds = Dataset(seed=2, sessions=400, analyses=2)
    before = snapshot(ds)
    step = ds.advance()
    after = snapshot(ds)
    assert step.generation == ds.generation == 1
    progressed, added, removed = step.progressed[P], step.added[P], step.removed[P]
    assert len(progressed) > 20 and len(added) == 20 and len(removed) == 8
    assert set(added).isdisjoint(before)
    assert set(removed) <= set(before) and set(removed).isdisjoint(after)
    assert set(after) == (set(before) - set(removed)) | set(added)
    for sid in progressed:
        assert before[sid][0] not in TERMINAL
        if sid in after:
            assert after[sid][1] == before[sid][1] + 1  # gained an analysis
            if after[sid][0] in TERMINAL:
                assert after[sid][2] != before[sid][2]  # the listing item changed
            # A session still running may gain analyses with an identical listing item:
            # the reason a mirror fetches non-terminal sessions on every run.
    moved_to_terminal = [s for s in progressed if s in after and after[s][0] in TERMINAL]
    assert len(moved_to_terminal) > len(progressed) / 2
    for sid, old in before.items():
        if sid in after and sid not in progressed:
            assert after[sid] == old  # nothing else changes
    # The last analysis carries the session's state, as in a fresh dataset.
    for sid in moved_to_terminal:
        assert ds.analyses(P, sid)[-1].status == after[sid][0]
    # New sessions come last in the listing (creation order).
    assert [s.id for s in ds.sessions(P)][-len(added) :] == list(added)


def test_advance_is_deterministic_and_generation_applies_it() -> None:
    a, b = Dataset(seed=4, sessions=150), Dataset(seed=4, sessions=150)
    assert a.advance() == b.advance()
    assert snapshot(a) == snapshot(b)
    c = Dataset(seed=4, sessions=150, generation=2)
    a.advance()
    assert snapshot(a) == snapshot(c)
    assert build_parser().parse_args(["--generation", "3"]).generation == 3
    with pytest.raises(ValueError, match="non-negative"):
        Dataset(generation=-1)


def test_restore_session_puts_it_back_in_place() -> None:
    ds = Dataset(seed=6, sessions=100)
    order = ds.session_ids(P)
    sid = ds.advance().removed[P][0]
    assert ds.session(P, sid) is None
    ds.restore_session(P, sid)
    assert ds.session(P, sid) is not None
    ids = ds.session_ids(P)
    assert [i for i in ids if i in order] == [i for i in order if i in ids]
    with pytest.raises(KeyError):
        ds.restore_session(P, sid)


@pytest.mark.tcp
def test_advance_while_served_over_tcp() -> None:
    fake = FakeICA(Dataset(seed=1, sessions=60, analyses=1))
    headers = {"X-API-Key": fake.api_key, "Accept": "application/vnd.illumina.v3+json"}
    with serve_in_thread(fake) as url, httpx.Client(base_url=url, headers=headers) as client:

        def listing(**body: object) -> list[str]:
            r = client.post(f"/api/projects/{P}/workflowSessions:search?pageSize=1000", json=body)
            r.raise_for_status()
            return [item["id"] for item in r.json()["items"]]

        succeeded = listing(status=["SUCCEEDED"])  # a filtered selection the server caches
        step = fake.advance()
        assert listing() == fake.dataset.session_ids(P)
        assert set(step.added[P]) <= set(listing())
        now = listing(status=["SUCCEEDED"])
        assert now != succeeded
        assert now == [s.id for s in fake.dataset.sessions(P) if s.status == "SUCCEEDED"]
        gone = step.removed[P][0]
        r = client.get(f"/api/projects/{P}/workflowSessions/{gone}/inputs")
        assert r.status_code == 404
