"""The vendored OpenAPI subset as JSON Schema, for generating and validating payloads."""

from __future__ import annotations

import functools
import uuid
from typing import Any

import yaml

from .paths import SPEC_PATH

# Response schema of each operation (operationId -> component name).
RESPONSES = {
    "getWorkflowSessions": "WorkflowSessionPagedListV3",
    "searchWorkflowSessions": "WorkflowSessionPagedListV4",
    "getWorkflowSessionInputs": "WorkflowSessionInputList",
    "getWorkflowSessionConfigurations": "WorkflowSessionConfigurationList",
    "searchOrchestratedAnalyses": "WorkflowSessionAnalysisPagedListV4",
    "createJwtToken": "Token",
    "refreshJwtToken": "Token",
}


@functools.cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return data


def json_schema(name: str) -> dict[str, Any]:
    """Component ``name`` as a self-contained JSON Schema (refs inlined, ``nullable`` mapped)."""
    components = spec()["components"]["schemas"]

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return convert(components[node["$ref"].rsplit("/", 1)[1]])
        out = {
            k: ({p: convert(sub) for p, sub in v.items()} if k == "properties" else convert(v))
            for k, v in node.items()
            if k not in ("nullable", "deprecated", "example", "description", "default")
            and not k.startswith("x-")
        }
        if node.get("nullable"):
            return {"anyOf": [out, {"type": "null"}]}
        return out

    result: dict[str, Any] = convert(components[name])
    return result


def random_instance(
    schema: dict[str, Any], rng: Any, *, depth: int = 0, extras: bool = True
) -> Any:
    """A random instance of a JSON Schema produced by :func:`json_schema`.

    Covers what the spec subset uses: objects (required keys always, optional keys at random,
    unknown keys added at random), arrays, enums, patterns of alternatives, uuid and date-time
    formats, min/max lengths, integers and booleans, and ``anyOf`` (nullables).
    """
    if "anyOf" in schema:
        return random_instance(rng.choice(schema["anyOf"]), rng, depth=depth, extras=extras)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        out: dict[str, Any] = {}
        required = set(schema.get("required", []))
        for name, sub in schema.get("properties", {}).items():
            if name in required or (depth < 6 and rng.random() < 0.6):
                out[name] = random_instance(sub, rng, depth=depth + 1, extras=extras)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for i in range(rng.randrange(3)):
                out[f"param{i}"] = random_instance(additional, rng, depth=depth + 1)
        elif extras and rng.random() < 0.3:
            out[f"x{rng.randrange(1000)}Unknown"] = rng.choice([1, "s", {"a": [1]}, True, [None]])
        return out
    if kind == "array":
        n = rng.randrange(0, 4 if depth < 4 else 2)
        return [
            random_instance(schema["items"], rng, depth=depth + 1, extras=extras) for _ in range(n)
        ]
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "uuid":
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if fmt == "date-time":
            frac = rng.choice(["", ".1", ".123", ".123456", ".123456789"])
            zone = rng.choice(["Z", "+00:00", "-05:30", "+09:00"])
            return (
                f"{rng.randrange(2000, 2030)}-{rng.randrange(1, 13):02d}-"
                f"{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:"
                f"{rng.randrange(60):02d}{frac}{zone}"
            )
        if fmt == "uri":
            return rng.choice(["about:blank", "https://ica.illumina.com/problems/x", "/ica/rest/x"])
        if "pattern" in schema:
            return rng.choice(schema["pattern"].split("|"))
        low = schema.get("minLength", 0)
        high = min(schema.get("maxLength", 24), low + 24)
        alphabet = "abcXYZ019 -_.:/é"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, max(low, high))))
    if kind == "integer":
        return rng.randrange(schema.get("minimum", -1000), 100000)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "number":
        return rng.random() * 100
    return None
