"""Wire vocabulary shared by the whole library: one copy of each constant."""

from __future__ import annotations

from typing import Final

__all__ = ["CREDENTIAL_HEADERS", "MEDIA_TYPE"]

#: ICA's v3 JSON media type: the ``Accept`` of every call and the ``Content-Type`` of bodies.
MEDIA_TYPE: Final = "application/vnd.illumina.v3+json"

#: Request headers that carry credentials (lower case): masked in error text and never sent on
#: a redirect to another origin.
CREDENTIAL_HEADERS: Final = ("x-api-key", "authorization", "proxy-authorization", "cookie")
