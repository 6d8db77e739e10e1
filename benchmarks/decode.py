"""Decode cost of one page of 1,000 items: aioica models vs raw dicts vs libica.

    python benchmarks/decode.py [--repeat N]

Measures CPU time (time.process_time) per page for json.loads + model construction, for a page
of 1,000 V4 workflow sessions and one of 1,000 orchestrated analyses. libica (pip install
libica) is measured in the same process when importable. Ratios are printed against libica.
Two more rows compare decoding with encoding back: ``from_dict`` of the parsed JSON (models
only, no ``json.loads``) and ``to_dict`` of the decoded page, now and as 0.1.0 did it (cattrs).

The last table decodes and encodes what one export of ``--export-sessions`` sessions reads from
the fake ICA (session pages of 100, then each session's inputs, configurations and analyses):
there ids and timestamps are mostly distinct, where the pages above repeat them on every item.
The two are interleaved for ``--rounds`` rounds; it prints the medians and the median of the
per-round ratios.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aioica
from aioica.models._converter import reference_converter
from tests.support.payloads import analysis, session_v4


def sessions_page(n: int = 1000, start: int = 0) -> bytes:
    items = [session_v4(str(uuid.UUID(int=start + i + 1, version=4))) for i in range(n)]
    return json.dumps({"items": items, "nextPageToken": "abc", "remainingRecords": 5}).encode()


def analyses_page(n: int = 1000, start: int = 0) -> bytes:
    items = [analysis(str(uuid.UUID(int=start + i + 1, version=4))) for i in range(n)]
    return json.dumps({"items": items, "nextPageToken": None}).encode()


def cpu_per_call(fn: Callable[[Any], Any], bodies: list[Any]) -> float:
    """Best CPU time of ``fn`` over distinct bodies (fresh ids each time, as real pages)."""
    fn(bodies[0])  # warm up: generated decoders, imports
    best = float("inf")
    for body in bodies[1:]:
        start = time.process_time()
        fn(body)
        best = min(best, time.process_time() - start)
    return best


def export_bodies(sessions: int) -> list[tuple[type[Any], Any]]:
    """The parsed bodies one export reads from the fake ICA, with the model each decodes to."""
    from aioica.testing import Dataset

    project = "demo-project"
    ds = Dataset(seed=0, projects=[project], sessions=sessions, analyses=3)
    rows = ds.sessions(project)
    out: list[tuple[type[Any], Any]] = []
    for i in range(0, len(rows), 100):
        items = [json.loads(ds.session_json(s, 4)) for s in rows[i : i + 100]]
        out.append((aioica.WorkflowSessionPagedListV4, {"items": items, "nextPageToken": "x"}))
    for s in rows:
        analyses = [json.loads(ds.analysis_json(a)) for a in ds.analyses(project, s.id)]
        out += [
            (aioica.WorkflowSessionInputList, json.loads(ds.inputs_json(s))),
            (aioica.WorkflowSessionConfigurationList, json.loads(ds.configurations_json(s))),
            (aioica.WorkflowSessionAnalysisPagedListV4, {"items": analyses}),
        ]
    return out


def export_round_trip(sessions: int, rounds: int) -> None:
    bodies = export_bodies(sessions)
    decoded = [aioica.from_dict(d, m) for m, d in bodies]
    assert [aioica.to_dict(x) for x in decoded] == [
        reference_converter.unstructure(x) for x in decoded
    ]
    times: dict[str, list[float]] = {"from_dict": [], "to_dict": []}
    gc.collect()
    gc.disable()  # a collection landing in one of the two would say nothing about either
    try:
        for _ in range(rounds):
            start = time.process_time()
            for model, data in bodies:
                aioica.from_dict(data, model)
            times["from_dict"].append(time.process_time() - start)
            start = time.process_time()
            for x in decoded:
                aioica.to_dict(x)
            times["to_dict"].append(time.process_time() - start)
    finally:
        gc.enable()
    ratios = [e / d for d, e in zip(times["from_dict"], times["to_dict"], strict=True)]
    label = f"one export, {sessions} sessions"
    print(f"\n{label:32} {'step':22} {'CPU ms (median)':>16}")
    for name, values in times.items():
        print(f"{label:32} {name:22} {statistics.median(values) * 1000:16.1f}")
    print(
        f"{label:32} {'to_dict / from_dict':22} {statistics.median(ratios):15.2f}x"
        f"  (per round {min(ratios):.2f}-{max(ratios):.2f}x, {len(bodies)} bodies)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--export-sessions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    starts = [k * 1_000_000 for k in range(args.repeat + 1)]
    pages = {
        "1,000 V4 sessions": (
            [sessions_page(start=s) for s in starts],
            aioica.WorkflowSessionPagedListV4,
            "WorkflowSessionPagedListV4",
        ),
        "1,000 orchestrated analyses": (
            [analyses_page(start=s) for s in starts],
            aioica.WorkflowSessionAnalysisPagedListV4,
            "WorkflowSessionAnalysisPagedListV4",
        ),
    }
    try:
        import libica.openapi.v3 as libica_v3
    except ImportError:
        libica_v3 = None
    print(f"{'page':32} {'client':22} {'CPU ms/page':>12} {'vs libica':>10}")
    for label, (bodies, model, libname) in pages.items():
        rows: list[tuple[str, float]] = [
            (
                "aioica models",
                cpu_per_call(lambda b, m=model: aioica.from_dict(json.loads(b), m), bodies),
            ),
            ("aioica raw=True", cpu_per_call(json.loads, bodies)),
        ]
        parsed = [json.loads(b) for b in bodies]
        decoded = [aioica.from_dict(d, model) for d in parsed]
        rows.append(
            ("from_dict (no json)", cpu_per_call(lambda d, m=model: aioica.from_dict(d, m), parsed))
        )
        rows.append(("to_dict of the page", cpu_per_call(aioica.to_dict, decoded)))
        # 0.1.0's to_dict: cattrs' generated unstructure functions (kept as the reference).
        cattrs_to_dict = reference_converter.unstructure
        rows.append(("to_dict, 0.1 (cattrs)", cpu_per_call(cattrs_to_dict, decoded)))
        libica_ms = None
        if libica_v3 is not None:
            cls = getattr(libica_v3, libname)
            libica_ms = cpu_per_call(lambda b, c=cls: c.from_json(b.decode()), bodies)
            rows.append(("libica 3 (pydantic)", libica_ms))
        for name, seconds in rows:
            ratio = f"{seconds / libica_ms:.2f}x" if libica_ms else "-"
            print(f"{label:32} {name:22} {seconds * 1000:12.1f} {ratio:>10}")
    export_round_trip(args.export_sessions, args.rounds)


if __name__ == "__main__":
    main()
