"""``aioica fake-server``: run the fake ICA on a TCP port until interrupted."""

from __future__ import annotations

import argparse
import sys

__all__ = ["build_parser", "fake_server_main"]


def build_parser(prog: str = "aioica fake-server") -> argparse.ArgumentParser:
    """The argument parser of ``aioica fake-server``."""
    from ._app import DEFAULT_API_KEY

    p = argparse.ArgumentParser(
        prog=prog, description="Serve a fake ICA (Project Workflow Session endpoints) locally."
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="TCP port, 0 for any (default 8765)")
    p.add_argument(
        "--project",
        action="append",
        help="project id to serve (repeatable; default demo-project)",
    )
    p.add_argument("--sessions", type=int, default=2000, help="workflow sessions per project")
    p.add_argument("--analyses", type=int, default=3, help="average analyses per session")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="random extra latency, up to")
    p.add_argument("--fail-rate", type=float, default=0.0, help="share of 500/502/503 answers")
    p.add_argument("--rate-429", type=float, default=0.0, help="share of 429 answers")
    p.add_argument("--budget", type=float, default=None, help="requests per second before 429")
    p.add_argument("--api-key", default=DEFAULT_API_KEY, help="the API key to accept")
    p.add_argument("--jwt-ttl", type=float, default=3600.0, help="lifetime of minted JWTs (s)")
    p.add_argument("--page-size", type=int, default=100, help="page size when none is asked")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and of the faults")
    p.add_argument(
        "--generation",
        type=int,
        default=0,
        help="serve the data moved this many steps forward (Dataset.advance; default 0)",
    )
    return p


def fake_server_main(argv: list[str] | None = None) -> int:
    """Run ``aioica fake-server`` with ``argv``; prints the base URL and key, serves until
    interrupted (Ctrl-C) and returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        import uvicorn

        from ._app import FakeICA
        from ._dataset import Dataset
        from ._faults import Faults
        from ._server import _bind, uvicorn_config
    except ImportError as exc:  # the `fake` extra is missing
        print(f"aioica fake-server needs the 'fake' extra: {exc}", file=sys.stderr)
        return 2
    projects = args.project or ["demo-project"]
    fake = FakeICA(
        Dataset(
            seed=args.seed,
            projects=projects,
            sessions=args.sessions,
            analyses=args.analyses,
            generation=args.generation,
        ),
        api_key=args.api_key,
        jwt_ttl=args.jwt_ttl,
        page_size_default=args.page_size,
        faults=Faults(
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            rate_5xx=args.fail_rate,
            rate_429=args.rate_429,
            budget_per_second=args.budget,
            seed=args.seed,
        ),
    )
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{sock.getsockname()[1]}{fake.base_path}"
    print(f"Fake ICA serving {len(projects)} project(s) at {url}")
    print(f"ICAV2_BASE_URL={url}")
    print(f"ICAV2_X_API_KEY={fake.api_key}")
    print(f"ICAV2_PROJECT_ID={projects[0]}")
    print("Press Ctrl-C to stop.", flush=True)
    server = uvicorn.Server(uvicorn_config(fake))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(fake_server_main())
