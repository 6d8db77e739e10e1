"""Decode cost of one page of 1,000 items: aioica models vs raw dicts vs libica.

    python benchmarks/decode.py [--repeat N]

Measures CPU time (time.process_time) per page for json.loads + model construction, for a page
of 1,000 V4 workflow sessions and one of 1,000 orchestrated analyses. libica (pip install
libica) is measured in the same process when importable. Ratios are printed against libica.
Two more rows compare decoding with encoding back: ``from_dict`` of the parsed JSON (models
only, no ``json.loads``) and ``to_dict`` of the decoded page, now and as 0.1.0 did it (cattrs).
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
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


if __name__ == "__main__":
    main()
