"""A fake dataset's JSON: each piece built the first time a request needs it, then cached."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from ._records import (
    BASE_MS,
    WORKFLOWS,
    AnalysisRecord,
    Project,
    SessionRecord,
    dumps,
    iso,
    stable_uuid,
)

__all__ = ["Rendering"]


class Rendering:
    """The JSON side of :class:`~aioica.testing.Dataset` (a mixin)."""

    seed: int
    inputs_per_session: int
    configurations_per_session: int
    cache_limit: int
    _json: dict[tuple[str, str], str]
    _workflows_v3: list[str]
    _workflows_v4: list[str]
    _pipelines: dict[str, str]
    _tenant_id: str
    _owner_id: str

    if TYPE_CHECKING:

        def _project(self, project: str) -> Project: ...

    # -- JSON pieces -------------------------------------------------------------------------

    def session_json(self, s: SessionRecord, version: int) -> str:
        """``WorkflowSessionV3`` (``version=3``) or ``WorkflowSessionV4`` JSON of ``s``."""
        key = (s.id, "v3" if version == 3 else "v4")
        cached = self._json.get(key)
        if cached is None:
            cached = self._session_v3(s) if version == 3 else self._session_v4(s)
            self._cache(key, cached)
        return cached

    def analysis_json(self, a: AnalysisRecord) -> str:
        """``WorkflowSessionAnalysisV4`` JSON of ``a``."""
        key = (a.id, "wsa")
        cached = self._json.get(key)
        if cached is None:
            cached = self._analysis(a)
            self._cache(key, cached)
        return cached

    def inputs_json(self, s: SessionRecord) -> str:
        """The whole ``WorkflowSessionInputList`` body of ``s``."""
        key = (s.id, "inputs")
        cached = self._json.get(key)
        if cached is None:
            cached = self._inputs(s)
            self._cache(key, cached)
        return cached

    def configurations_json(self, s: SessionRecord) -> str:
        """The whole ``WorkflowSessionConfigurationList`` body of ``s``."""
        key = (s.id, "configurations")
        cached = self._json.get(key)
        if cached is None:
            cached = self._configurations(s)
            self._cache(key, cached)
        return cached

    def _cache(self, key: tuple[str, str], value: str) -> None:
        if len(self._json) < self.cache_limit:
            self._json[key] = value

    def _build_catalogue(self) -> None:
        seed = self.seed
        created = iso(BASE_MS - 86_400_000 * 30)
        storage_id = stable_uuid("storage", seed)
        storage_v4 = {"id": storage_id, "name": "Small", "description": "1.2 TB"}
        storage_v3 = {
            "id": storage_id,
            "timeCreated": created,
            "timeModified": created,
            "ownerId": self._owner_id,
            "tenantId": self._tenant_id,
            "tenantName": "fake-tenant",
            "name": "Small",
            "description": "1.2 TB",
        }
        for code, name, pipelines in WORKFLOWS:
            wid = stable_uuid("workflow", seed, code)
            common: dict[str, Any] = {
                "id": wid,
                "code": code,
                "urn": f"urn:ilmn:ica:workflow:{wid}#{code}",
                "description": f"{name} workflow (auto-launched from BaseSpace)",
                "languageVersion": {
                    "id": stable_uuid("lang", seed),
                    "name": "22.10.6",
                    "language": "NEXTFLOW",
                },
                "workflowTags": {"technicalTags": ["basespace", code]},
            }
            self._workflows_v3.append(dumps({**common, "analysisStorage": storage_v3}))
            self._workflows_v4.append(dumps({**common, "analysisStorage": storage_v4}))
            for pcode in pipelines:
                pid = stable_uuid("pipeline", seed, pcode)
                self._pipelines[pcode] = dumps(
                    {
                        "id": pid,
                        "urn": f"urn:ilmn:ica:pipeline:{pid}#{pcode}",
                        "timeCreated": created,
                        "timeModified": created,
                        "owner": {"id": self._owner_id},
                        "tenant": {"id": self._tenant_id, "name": "fake-tenant"},
                        "code": pcode,
                        "description": f"{name} pipeline {pcode}",
                        "status": "RELEASED",
                        "statusAsString": "Released",
                        "language": "NEXTFLOW",
                        "pipelineTags": {"technicalTags": [code]},
                        "analysisStorage": storage_v4,
                        "proprietary": False,
                        "inputFormType": "JSON",
                    }
                )

    def _project_json(self, name: str) -> str:
        key = (name, "project")
        cached = self._json.get(key)
        if cached is not None:
            return cached
        p = self._project(name)
        seed = self.seed
        created = iso(BASE_MS - 86_400_000 * 60)
        base = {
            "timeCreated": created,
            "timeModified": created,
            "ownerId": self._owner_id,
            "tenantId": self._tenant_id,
        }
        region = {
            "id": stable_uuid("region", seed),
            **base,
            "code": "US",
            "country": {
                "id": stable_uuid("country", seed),
                **base,
                "code": "US",
                "name": "United States",
                "region": "us-east-1",
            },
            "cityName": "Virginia",
        }
        text = dumps(
            {
                "id": p.id,
                **base,
                "tenantName": "fake-tenant",
                "urn": f"urn:ilmn:ica:project:{p.id}#{p.name}",
                "name": p.name[:255] or "project",
                "active": True,
                "baseEnabled": False,
                "shortDescription": f"Fake ICA project {p.name}"[:4000],
                "region": region,
                "billingMode": "PROJECT",
                "dataSharingEnabled": False,
                "tags": {"technicalTags": [], "userTags": ["fake"]},
                "analysisPriority": "MEDIUM",
            }
        )
        self._json[key] = text
        return text

    def _session_common(self, s: SessionRecord) -> dict[str, Any]:
        return {
            "id": s.id,
            "timeCreated": iso(s.time_created),
            "userReference": s.user_reference,
            "startDate": None if s.start_date is None else iso(s.start_date),
            "endDate": None if s.end_date is None else iso(s.end_date),
            "summary": s.summary,
            "tags": {"technicalTags": list(s.technical_tags), "userTags": list(s.user_tags)},
        }

    def _session_v3(self, s: SessionRecord) -> str:
        d = self._session_common(s)
        d.update(
            ownerId=self._owner_id,
            tenantId=self._tenant_id,
            tenantName="fake-tenant",
            status=s.status_v3,
        )
        return dumps(d)[:-1] + ',"workflow":' + self._workflows_v3[s.workflow] + "}"

    def _session_v4(self, s: SessionRecord) -> str:
        d = self._session_common(s)
        d.update(
            owner={"id": self._owner_id},
            tenant={"id": self._tenant_id, "name": "fake-tenant"},
            status=s.status,
            application={"id": stable_uuid("app", self.seed), "name": "BaseSpace Sequence Hub"},
        )
        return dumps(d)[:-1] + ',"workflow":' + self._workflows_v4[s.workflow] + "}"

    def _analysis(self, a: AnalysisRecord) -> str:
        d = {
            "id": a.id,
            "timeCreated": iso(a.time_created),
            "timeModified": iso(a.time_modified),
            "owner": {"id": self._owner_id},
            "tenant": {"id": self._tenant_id, "name": "fake-tenant"},
            "reference": a.reference,
            "userReference": a.user_reference,
            "status": a.status,
            "startDate": None if a.start_date is None else iso(a.start_date),
            "endDate": None if a.end_date is None else iso(a.end_date),
            "summary": a.summary,
            "analysisStorage": {"id": stable_uuid("storage", self.seed), "name": "Small"},
            "analysisPriority": a.priority,
            "tags": {
                "technicalTags": list(a.technical_tags),
                "userTags": list(a.user_tags),
                "referenceTags": list(a.reference_tags),
            },
        }
        analysis = (
            dumps(d)[:-1]
            + ',"pipeline":'
            + self._pipelines[a.pipeline]
            + ',"workflowSession":'
            + self.session_json(a.session, 4)
            + "}"
        )
        return (
            '{"analysis":'
            + analysis
            + ',"project":'
            + self._project_json(a.session.project)
            + ',"workflowSessionId":"'
            + a.session.id
            + '"}'
        )

    def _inputs(self, s: SessionRecord) -> str:
        rng = random.Random(f"inputs/{self.seed}/{s.id}")
        items: list[dict[str, Any]] = []
        codes = ("fastqs", "reference", "sample_sheet", "panel", "annotations", "known_sites")
        for k in range(self.inputs_per_session):
            code = codes[k] if k < len(codes) else f"input_{k}"
            item: dict[str, Any] = {"code": code}
            if k % 3 == 2:
                item["analysisData"] = None
                item["externalData"] = [
                    {
                        "url": f"s3://fake-bucket/{s.run_id}/{code}/",
                        "type": "s3",
                        "mountPath": f"{code}/",
                    }
                ]
            else:
                data = []
                for n in range(1 + rng.randrange(3)):
                    folder = code == "fastqs" and n == 0
                    name = f"{s.run_id}_{code}_{n}" + ("" if folder else ".fastq.gz")
                    fmt = None
                    if not folder:
                        fmt = {
                            "id": stable_uuid("format", self.seed, "FASTQ"),
                            "timeCreated": iso(BASE_MS),
                            "timeModified": iso(BASE_MS),
                            "ownerId": self._owner_id,
                            "tenantId": self._tenant_id,
                            "code": "FASTQ",
                            "description": "FASTQ sequence reads",
                            "mimeType": "application/gzip",
                        }
                    data.append(
                        {
                            "dataId": ("fol." if folder else "fil.")
                            + f"{rng.getrandbits(128):032x}",
                            "format": fmt,
                            "name": name,
                            "dataType": "FOLDER" if folder else "FILE",
                            "mountPath": f"{code}/{name}",
                        }
                    )
                item["analysisData"] = data
                item["externalData"] = None if k % 2 else []
            items.append(item)
        return dumps({"items": items})

    def _configurations(self, s: SessionRecord) -> str:
        rng = random.Random(f"configurations/{self.seed}/{s.id}")
        base = [
            ("sample_ids", True, [f"S{n}" for n in range(1, 2 + rng.randrange(4))]),
            ("reference_genome", False, [s.reference_tags[0]]),
            ("enable_cnv", False, [rng.choice(["true", "false"])]),
            ("output_format", False, ["CRAM"]),
            ("qc_thresholds", True, ["coverage>=30", "mapq>=20"]),
        ]
        items = [
            {"name": n, "multiValue": mv, "values": v}
            for n, mv, v in base[: self.configurations_per_session]
        ]
        for extra in range(len(base), self.configurations_per_session):
            items.append({"name": f"option_{extra}", "multiValue": False, "values": [str(extra)]})
        return dumps({"items": items})
