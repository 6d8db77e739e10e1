"""Realistic wire payloads shared by the request-shape and decoding tests."""

from __future__ import annotations

from typing import Any

SID = "0b0f3b5e-8a53-4cf5-9c1e-2d8f0f0a1b2c"
SID2 = "5c7c1c9a-1d2e-4f3a-8b4c-5d6e7f8a9b0c"
UID = "11111111-2222-4333-8444-555555555555"
TID = "66666666-7777-4888-9999-000000000000"
PID = "e4f3c2b1-0a9b-4c8d-8e7f-6a5b4c3d2e1f"


def session_v4(sid: str = SID, status: str = "IN_PROGRESS", **extra: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "timeCreated": "2025-03-01T10:15:30.123456789Z",
        "owner": {"id": UID},
        "tenant": {"id": TID, "name": "acme"},
        "userReference": "run-2025-03-01-A",
        "workflow": {
            "id": "0f0e0d0c-0b0a-4909-8807-060504030201",
            "code": "bclconvert-auto",
            "urn": "urn:ilmn:ica:workflow:0f0e0d0c#bclconvert",
            "description": "BaseSpace auto-launch",
            "languageVersion": {"id": UID, "name": "22.10", "language": "NEXTFLOW"},
            "workflowTags": {"technicalTags": ["auto"]},
            "analysisStorage": {"id": TID, "name": "Small", "description": None},
        },
        "status": status,
        "startDate": "2025-03-01T10:16:00+02:00",
        "endDate": None,
        "summary": "",
        "tags": {"technicalTags": ["bssh"], "userTags": ["lane1"]},
        "application": {"id": UID, "name": "ICA"},
        **extra,
    }


def session_v3(sid: str = SID, status: str = "INPROGRESS") -> dict[str, Any]:
    return {
        "id": sid,
        "timeCreated": "2025-03-01T10:15:30Z",
        "ownerId": UID,
        "tenantId": TID,
        "tenantName": "acme",
        "userReference": "run-A",
        "workflow": {
            "id": UID,
            "code": "wf",
            "urn": "urn:ilmn:ica:workflow:x",
            "description": "d",
            "analysisStorage": {
                "id": TID,
                "timeCreated": "2024-01-01T00:00:00.1Z",
                "timeModified": "2024-01-01T00:00:00.12Z",
                "ownerId": UID,
                "tenantId": TID,
                "name": "Small",
            },
        },
        "status": status,
        "tags": {"technicalTags": [], "userTags": []},
    }


def analysis(aid: str = UID, sid: str = SID, status: str = "SUCCEEDED") -> dict[str, Any]:
    return {
        "workflowSessionId": sid,
        "project": {
            "id": PID,
            "timeCreated": "2024-01-01T00:00:00Z",
            "timeModified": "2024-01-01T00:00:00Z",
            "ownerId": UID,
            "tenantId": TID,
            "name": "demo",
            "active": True,
            "billingMode": "PROJECT",
            "region": {
                "id": TID,
                "timeCreated": "2024-01-01T00:00:00Z",
                "timeModified": "2024-01-01T00:00:00Z",
                "ownerId": UID,
                "tenantId": TID,
                "code": "US",
                "cityName": "Portland",
                "country": {
                    "id": TID,
                    "timeCreated": "2024-01-01T00:00:00Z",
                    "timeModified": "2024-01-01T00:00:00Z",
                    "ownerId": UID,
                    "tenantId": TID,
                    "code": "US",
                    "name": "United States",
                    "region": "NA",
                },
            },
            "tags": {"technicalTags": [], "userTags": []},
        },
        "analysis": {
            "id": aid,
            "timeCreated": "2025-03-01T10:20:00Z",
            "timeModified": "2025-03-01T11:20:00.5-05:00",
            "owner": {"id": UID},
            "tenant": {"id": TID},
            "reference": "ref-1",
            "userReference": "uref-1",
            "pipeline": {
                "id": UID,
                "timeCreated": "2024-01-01T00:00:00Z",
                "timeModified": "2024-01-01T00:00:00Z",
                "owner": {"id": UID},
                "tenant": {"id": TID},
                "code": "dragen-germline",
                "description": "DRAGEN",
                "language": "CWL",
                "pipelineTags": {"technicalTags": []},
                "analysisStorage": {"id": TID, "name": "Small"},
            },
            "status": status,
            "tags": {"technicalTags": [], "userTags": [], "referenceTags": []},
        },
    }
